//! The master key lives outside the database (a file in the data directory, mode 0600, or
//! `HERALD_SECRET_KEY_FILE`), so a copy of the database alone yields nothing usable. Purpose
//! keys are derived from it with HMAC-SHA-256, one per use.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Reads an existing key file; `None` when there is none. Never creates one: every command
    /// but a first `serve`, `worker` or `migrate` must use the key the cluster already has.
    pub fn load(path: &Path) -> anyhow::Result<Option<MasterKey>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read the secret key file {}: {e}", path.display()),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| anyhow::anyhow!("the secret key file {} is damaged", path.display()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!("the secret key file {} must hold 32 bytes", path.display())
        })?;
        Ok(Some(MasterKey(key)))
    }

    /// Reads the key file, creating it (0600) with a fresh random key on first run.
    pub fn load_or_create(path: &Path) -> anyhow::Result<MasterKey> {
        if let Some(key) = Self::load(path)? {
            return Ok(key);
        }
        let key = MasterKey::generate();
        key.write_new(path)?;
        tracing::warn!(
            path = %path.display(),
            key.id = %key.id(),
            "created a new secret key; back it up: without it, links in sent emails stop working \
             and the sealed X token and staff two-factor seeds cannot be opened"
        );
        Ok(key)
    }

    /// A short public name of this key (12 hex digits), safe to print and log: derived on its
    /// own purpose, it tells keys apart without revealing anything usable about them.
    pub fn id(&self) -> String {
        hex::encode(&self.derive(KEY_ID_PURPOSE)[..6])
    }

    /// A fresh random key.
    pub fn generate() -> MasterKey {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    /// Writes the key to a file that must not exist yet, readable by its owner only.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::files::create_private_dir(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| {
            anyhow::anyhow!("cannot create the secret key file {}: {e}", path.display())
        })?;
        writeln!(file, "{}", URL_SAFE_NO_PAD.encode(self.0))?;
        file.sync_all()?;
        Ok(())
    }

    /// The key replaced by the last `herald secrets rotate`, kept so that links in emails sent
    /// before the rotation still work.
    pub fn load_previous(path: &Path) -> anyhow::Result<Option<MasterKey>> {
        let previous = Self::previous_path(path);
        Self::load(&previous)
    }

    pub fn previous_path(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(".previous");
        PathBuf::from(name)
    }

    /// The default location inside the data directory.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join("secret.key")
    }

    /// A key for one purpose, independent of every other purpose's key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_key());
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    #[cfg(test)]
    pub fn for_tests() -> MasterKey {
        MasterKey([7; 32])
    }

    #[cfg(test)]
    pub fn from_bytes(key: [u8; 32]) -> MasterKey {
        MasterKey(key)
    }
}

// HMAC accepts keys of any length; this cannot happen.
fn unreachable_key() -> HmacSha256 {
    HmacSha256::new_from_slice(&[0; 32]).expect("HMAC takes any key length")
}

/// Purposes of the two values the database keeps about the cluster's key.
const KEY_ID_PURPOSE: &str = "herald key id v1";
const KEY_CHECK_PURPOSE: &str = "herald key check v1";
const KEY_CHECK_LABEL: &[u8] = b"herald: this is the cluster's master key";

/// What the database records of the master key every instance must share: a check value (an
/// HMAC of a fixed label under a key derived from the master key, so it reveals nothing of the
/// key) and the key's public id, for messages. A process whose key does not match refuses to
/// start, rather than finding every stamp "forged" and tripping the wire for the whole cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub key_id: String,
    pub check_value: String,
}

impl KeyCheck {
    pub fn of(key: &MasterKey) -> KeyCheck {
        let mut mac = HmacSha256::new_from_slice(&key.derive(KEY_CHECK_PURPOSE))
            .unwrap_or_else(|_| unreachable_key());
        mac.update(KEY_CHECK_LABEL);
        KeyCheck {
            key_id: key.id(),
            check_value: hex::encode(mac.finalize().into_bytes()),
        }
    }

    /// True when `key` is the key this check was recorded for.
    pub fn matches(&self, key: &MasterKey) -> bool {
        super::secret::equal(&self.check_value, &KeyCheck::of(key).check_value)
    }
}

/// Signs links that act for a subscriber (confirm, manage, unsubscribe) without storing them:
/// `{id}.{expiry}.{mac}`, where the MAC covers the purpose too, so one kind cannot be used as
/// another.
const LINK_PURPOSE: &str = "herald subscriber links v1";

#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
    /// Keys of earlier master keys: links they signed still verify.
    older: Vec<[u8; 32]>,
}

impl LinkSigner {
    pub fn new(master: &MasterKey) -> LinkSigner {
        LinkSigner {
            key: master.derive(LINK_PURPOSE),
            older: Vec::new(),
        }
    }

    /// Also accepts links signed under `previous` (the key before a rotation).
    pub fn also_accepting(mut self, previous: Option<&MasterKey>) -> LinkSigner {
        self.older.extend(previous.map(|p| p.derive(LINK_PURPOSE)));
        self
    }

    fn mac(&self, purpose: &str, id: i64, expires: i64) -> String {
        Self::mac_with(&self.key, purpose, id, expires)
    }

    fn mac_with(key: &[u8; 32], purpose: &str, id: i64, expires: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable_key());
        mac.update(format!("{purpose}\n{id}\n{expires}").as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// A token for `purpose` and `id`, valid until `expires` (Unix seconds; 0 = forever).
    pub fn sign(&self, purpose: &str, id: i64, expires: i64) -> String {
        format!("{id}.{expires}.{}", self.mac(purpose, id, expires))
    }

    /// The id a token was signed for, if it is genuine, for this purpose and unexpired.
    pub fn verify(&self, purpose: &str, token: &str, now: i64) -> Option<i64> {
        let mut parts = token.splitn(3, '.');
        let (id_text, expires_text) = (parts.next()?, parts.next()?);
        let id: i64 = id_text.parse().ok()?;
        let expires: i64 = expires_text.parse().ok()?;
        // Only the form `sign` wrote: `042` or `+42` would otherwise verify as 42.
        if id.to_string() != id_text || expires.to_string() != expires_text {
            return None;
        }
        let mac = parts.next()?;
        let genuine = std::iter::once(&self.key)
            .chain(&self.older)
            .any(|key| super::secret::equal(mac, &Self::mac_with(key, purpose, id, expires)));
        if !genuine {
            return None;
        }
        (expires == 0 || now < expires).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_link_verifies_only_for_its_purpose_and_before_expiry() {
        let signer = LinkSigner::new(&MasterKey::for_tests());
        let token = signer.sign("confirm", 42, 1_000);
        assert_eq!(signer.verify("confirm", &token, 999), Some(42));
        assert_eq!(signer.verify("confirm", &token, 1_000), None, "expired");
        // Found by the tokens fuzz target: the numbers verify only as they were signed.
        for respelled in [
            format!("0{token}"),
            format!("+{token}"),
            token.replace(".1000.", ".01000."),
        ] {
            assert_eq!(
                signer.verify("confirm", &respelled, 999),
                None,
                "{respelled}"
            );
        }
        assert_eq!(
            signer.verify("unsubscribe", &token, 999),
            None,
            "wrong purpose"
        );
        let forged = token.replacen("42.", "43.", 1);
        assert_eq!(signer.verify("confirm", &forged, 999), None, "tampered id");
        assert_eq!(signer.verify("confirm", "garbage", 0), None);
    }

    #[test]
    fn links_signed_before_a_rotation_still_verify() {
        let old = MasterKey::from_bytes([1; 32]);
        let new = MasterKey::from_bytes([2; 32]);
        let token = LinkSigner::new(&old).sign("unsubscribe", 7, 0);
        assert_eq!(LinkSigner::new(&new).verify("unsubscribe", &token, 5), None);
        let rotated = LinkSigner::new(&new).also_accepting(Some(&old));
        assert_eq!(rotated.verify("unsubscribe", &token, 5), Some(7));
        let fresh = rotated.sign("unsubscribe", 7, 0);
        assert_eq!(
            LinkSigner::new(&new).verify("unsubscribe", &fresh, 5),
            Some(7)
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn a_key_check_matches_only_its_key_and_reveals_neither_key_nor_check() {
        let (a, b) = (
            MasterKey::from_bytes([1; 32]),
            MasterKey::from_bytes([2; 32]),
        );
        let check = KeyCheck::of(&a);
        assert!(check.matches(&a));
        assert!(!check.matches(&b));
        assert_eq!(check.key_id, a.id());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 12);
        assert!(!check.check_value.contains(&a.id()), "derived separately");
        assert!(!check.check_value.contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn loading_a_missing_key_file_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secret.key");
        assert!(MasterKey::load(&path).unwrap().is_none());
        assert!(!dir.path().join("sub").exists());
    }
}
