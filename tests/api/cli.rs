//! The `herald` command line, run as users run it.

use std::io::Write;
use std::process::{Command, Stdio};

fn herald(data: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    herald_with(data, args, stdin, &[])
}

/// `herald` with more environment variables set.
pub fn herald_with(
    data: &std::path::Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env("HERALD_DATA_DIR", data)
        .env("HERALD_PUBLIC_URL", "https://status.example.com")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn tweet_check_prints_the_weighted_length_as_json() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out, _) = herald(
        data.path(),
        &["tweet", "check"],
        "Down again? see example.com 😀\n",
    );
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"weighted_length": 42, "valid": true, "permillage": 150})
    );
    let (_, out, _) = herald(data.path(), &["tweet", "check"], &"界".repeat(141));
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["valid"], false, "141 CJK characters weigh 282");
}

#[test]
fn staff_add_and_token_create_print_their_secret_last() {
    let data = tempfile::tempdir().unwrap();
    assert!(herald(data.path(), &["migrate"], "").0);
    let (ok, out, _) = herald(
        data.path(),
        &["staff", "add", "ops@example.com", "--role", "admin"],
        "",
    );
    assert!(ok);
    assert!(out
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("https://status.example.com/admin/enrol/"));
    let (ok, out, _) = herald(
        data.path(),
        &["token", "create", "--name", "ci", "--role", "responder"],
        "",
    );
    assert!(ok);
    assert!(out.trim_end().lines().last().unwrap().starts_with("hrld_"));
    let (ok, _, err) = herald(
        data.path(),
        &["staff", "add", "ops@example.com", "--role", "admin"],
        "",
    );
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = herald(
        data.path(),
        &["token", "create", "--name", "x", "--role", "owner"],
        "",
    );
    assert!(!ok && err.contains("viewer, responder, admin"), "{err}");
}

#[test]
fn pause_resume_and_status_drive_the_kill_switch() {
    let data = tempfile::tempdir().unwrap();
    assert!(herald(data.path(), &["migrate"], "").0);
    let (ok, out, _) = herald(data.path(), &["pause", "--reason", "odd posts"], "");
    assert!(ok, "{out}");
    let (_, out, _) = herald(data.path(), &["status"], "");
    assert!(out.contains("outbound: PAUSED: odd posts"), "{out}");
    herald(data.path(), &["resume"], "");
    let (_, out, _) = herald(data.path(), &["status"], "");
    assert!(out.contains("outbound: sending"), "{out}");
}
