//! Who may read Herald's files: the data directory is its owner's only (0700), the SQLite
//! database and its `-wal`/`-shm` files too (0600). Made so when Herald creates them; a warning
//! at start names any that are more open.

use std::path::{Path, PathBuf};

/// Mode bits of a private directory and of a private file.
pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its missing parents) readable by its owner only, when it does not exist
/// yet; an existing directory is left as it is (the start-up check warns if it is open).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)?;
    restrict(dir, DIR_MODE)
}

/// Creates an empty file at `path`, readable and writable by its owner only, if nothing is
/// there yet. Returns whether it made one. SQLite gives the `-wal` and `-shm` files it makes
/// later the permissions of the database file, so this keeps all three private.
pub fn create_private_file(path: &Path) -> std::io::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        Ok(_) => {
            restrict(path, FILE_MODE)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sets `path`'s mode to exactly `mode` (the umask may have taken bits off, never added them).
pub fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The SQLite database file and the `-wal` and `-shm` files beside it.
pub fn database_files(database: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [database.to_path_buf(), with("-wal"), with("-shm")]
}

/// One sentence per path that exists and lets its group or others in: `dirs` should be 0700,
/// `files` 0600. Missing paths are skipped (the WAL comes and goes).
pub fn too_open(dirs: &[&Path], files: &[PathBuf]) -> Vec<String> {
    let mut warnings = Vec::new();
    let expected = dirs
        .iter()
        .map(|d| (d.to_path_buf(), DIR_MODE))
        .chain(files.iter().map(|f| (f.clone(), FILE_MODE)));
    for (path, want) in expected {
        let Some(mode) = mode_of(&path) else {
            continue;
        };
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "{} is mode {mode:04o}, readable beyond its owner; Herald keeps its data there: \
                 `chmod {want:o} {}`",
                path.display(),
                path.display()
            ));
        }
    }
    warnings
}

fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_and_files_are_private_and_open_ones_are_named() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("herald");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("herald.db");
        assert!(create_private_file(&db).unwrap());
        assert!(
            !create_private_file(&db).unwrap(),
            "an existing file is kept"
        );
        assert_eq!(mode(&db), 0o600);
        assert!(too_open(&[&dir], &database_files(&db)).is_empty());

        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let warnings = too_open(&[&dir], &database_files(&db));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("0755") && warnings[0].contains("chmod 700"));
        assert!(warnings[1].contains("herald.db") && warnings[1].contains("chmod 600"));
    }
}
