//! The command line never guesses, and one key serves one cluster: a command run in the wrong
//! place, or with a mistyped database URL, stops and creates nothing; every command that acts
//! says which database it acted on; a process whose master key is not the cluster's refuses to
//! start and changes nothing, while the cluster goes on sending.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald::domain::SubscriberEmail;
use herald::security::keys::MasterKey;
use herald::store::{AuditFilter, Schema, Store};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, test_postgres_database, TestApp};
use crate::smtp::SmtpSink;

/// Runs `herald ARGS` in `dir` with only `env` set (nothing inherited from the test, so no
/// setting points anywhere by accident). Gives up after 30 s: a command that should refuse to
/// start but serves instead fails the test rather than hanging it.
fn herald_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("out"), logs.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`herald {}` was still running after 30 s: {}",
                args.join(" "),
                std::fs::read_to_string(&err_path).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.success(),
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap(),
    )
}

/// A `herald serve` that started; killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `herald serve` and waits until it answers `/healthz`.
async fn serve(dir: &Path, env: &[(&str, &str)]) -> Serving {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .env("HERALD_BIND", &bind)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if reqwest::get(format!("http://{bind}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Serving(child);
        }
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "herald serve stopped: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "herald serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file and directory under `dir`, for "nothing was created".
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        found.push(path.display().to_string());
        if path.is_dir() {
            found.extend(tree(&path));
        }
    }
    found.sort();
    found
}

fn text_of(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn the_cli_in_an_empty_directory_names_where_it_looked_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("herald-data").join("herald.db");
    for args in [
        &["pause", "--reason", "spam"][..],
        &["status"],
        &["resume"],
        &["token", "create", "--name", "ci", "--role", "admin"],
        &["staff", "add", "ops@example.com", "--role", "admin"],
        &["subscribers", "import", "list.txt", "--confirmed"],
        &["audit", "verify"],
        &["secrets", "rotate"],
        &["x", "status"],
    ] {
        std::fs::write(dir.path().join("list.txt"), "a@example.com\n").unwrap();
        let (ok, out, err) = herald_in(dir.path(), args, &[]);
        std::fs::remove_file(dir.path().join("list.txt")).unwrap();
        let command = args.join(" ");
        assert!(!ok, "`herald {command}` succeeded: {out}");
        assert!(
            !out.contains("PAUSED") && !out.contains("sending"),
            "`herald {command}` claims a state: {out}"
        );
        assert!(
            err.contains(&format!("no Herald database at {}", expected.display())),
            "`herald {command}` names the path it looked at: {err}"
        );
        for hint in ["the default", "HERALD_DATA_DIR", "HERALD_DATABASE_URL"] {
            assert!(err.contains(hint), "`herald {command}`: {hint}: {err}");
        }
        assert_eq!(
            tree(dir.path()),
            Vec::<String>::new(),
            "`herald {command}` created nothing: no data directory, database or key"
        );
    }
}

#[test]
fn a_mistyped_sqlite_url_is_reported_and_no_directory_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such").join("dir");
    let url = format!("sqlite://{}/herald.db", missing.display());
    let data = dir.path().join("data").display().to_string();
    let env = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data.as_str()),
        ("HERALD_BIND", "127.0.0.1:0"),
    ];
    for args in [
        &["pause"][..],
        &["status"],
        &["serve"],
        &["worker"],
        &["migrate"],
    ] {
        let (ok, out, err) = herald_in(dir.path(), args, &env);
        let command = args.join(" ");
        assert!(!ok, "`herald {command}` succeeded: {out}");
        assert!(
            err.contains(&missing.display().to_string()),
            "`herald {command}` names the path: {err}"
        );
        assert!(
            err.contains("HERALD_DATABASE_URL"),
            "`herald {command}` names the setting: {err}"
        );
        assert_eq!(
            tree(dir.path()),
            Vec::<String>::new(),
            "`herald {command}` made no directory, database or key"
        );
    }
}

#[tokio::test]
async fn a_database_without_heralds_tables_or_behind_on_migrations_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let url = match test_postgres_database().await {
        Some(url) => url,
        None => format!("sqlite://{}/other.db", dir.path().display()),
    };
    // Another program's database (or an empty one).
    let other = Store::connect(&url).await.unwrap();
    let data = dir.path().join("data").display().to_string();
    let env = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data.as_str()),
    ];
    for args in [
        &["pause"][..],
        &["status"],
        &["staff", "add", "a@example.com"],
    ] {
        let (ok, out, err) = herald_in(dir.path(), args, &env);
        assert!(!ok, "{out}");
        assert!(err.contains("has no Herald tables"), "{err}");
        assert!(err.contains("HERALD_DATABASE_URL"), "{err}");
    }
    assert_eq!(
        other.schema().await.unwrap(),
        Schema::Empty,
        "no tables made"
    );
    assert!(!dir.path().join("data").exists(), "no key made");

    // Herald's database, one migration short (an older Herald's): the CLI does not migrate it.
    let (ok, _, err) = herald_in(dir.path(), &["migrate"], &env);
    assert!(ok, "{err}");
    other
        .execute_admin(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .await
        .unwrap();
    let (ok, _, err) = herald_in(dir.path(), &["pause"], &env);
    assert!(!ok);
    assert!(err.contains("Run `herald migrate`"), "{err}");
    assert!(matches!(
        other.schema().await.unwrap(),
        Schema::Behind { .. }
    ));
    other.close().await;
}

#[tokio::test]
async fn every_command_that_acts_and_status_name_the_database_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (url, expected) = match test_postgres_database().await {
        Some(url) => {
            let name = url.rsplit('/').next().unwrap().to_string();
            (
                url.replacen("postgres://postgres@", "postgres://postgres:s3cret@", 1),
                format!("database: postgres 127.0.0.1:5432/{name} (user postgres)"),
            )
        }
        None => (
            String::new(),
            format!("database: sqlite {}", data.join("herald.db").display()),
        ),
    };
    std::fs::write(dir.path().join("list.txt"), "reader@example.com\n").unwrap();
    let data = data.display().to_string();
    let env = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data.as_str()),
    ];
    for args in [
        &["migrate"][..],
        &["staff", "add", "ops@example.com", "--role", "admin"],
        &["token", "create", "--name", "ci", "--role", "responder"],
        &["subscribers", "import", "list.txt", "--confirmed"],
        &["pause", "--reason", "drill"],
        &["status"],
        &["resume"],
        &["staff", "reset2fa", "ops@example.com"],
        &["x", "disconnect"],
        &["secrets", "rotate"],
    ] {
        let (ok, out, err) = herald_in(dir.path(), args, &env);
        let command = args.join(" ");
        assert!(ok, "`herald {command}`: {err}");
        assert_eq!(
            out.lines().filter(|l| *l == expected).count(),
            1,
            "`herald {command}` says once which database it acted on: {out}"
        );
        assert!(
            !out.contains("s3cret") && !err.contains("s3cret"),
            "`herald {command}` never shows the password: {out}{err}"
        );
    }
}

/// The id of the key in `path`.
fn key_id(path: &Path) -> String {
    MasterKey::load(path).unwrap().unwrap().id()
}

/// Starts processes next to `app` on its database that must refuse: one with another key
/// file, one with none at all, as `serve`, `worker`, `migrate` and CLI commands. Checks each
/// names both key ids (or the missing file) and leaves every key file as it was.
fn second_instances_refuse(app: &TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let ours = app.data_dir.join("secret.key");
    let (our_key, expected) = (std::fs::read_to_string(&ours).unwrap(), key_id(&ours));
    let other = dir.path().join("other.key");
    MasterKey::generate().write_new(&other).unwrap();
    let other_key = std::fs::read_to_string(&other).unwrap();
    let theirs = key_id(&other);
    let (other, with_key, without_key) = (
        other.display().to_string(),
        dir.path().join("b").display().to_string(),
        dir.path().join("c").display().to_string(),
    );
    let with_other_key = [
        ("HERALD_DATABASE_URL", app.database_url.as_str()),
        ("HERALD_DATA_DIR", with_key.as_str()),
        ("HERALD_SECRET_KEY_FILE", other.as_str()),
        ("HERALD_BIND", "127.0.0.1:0"),
    ];
    let with_no_key = [
        ("HERALD_DATABASE_URL", app.database_url.as_str()),
        ("HERALD_DATA_DIR", without_key.as_str()),
        ("HERALD_BIND", "127.0.0.1:0"),
    ];
    for args in [
        &["serve"][..],
        &["worker"],
        &["migrate"],
        &["pause", "--reason", "wrong key"],
        &["token", "create", "--name", "x", "--role", "admin"],
    ] {
        let command = args.join(" ");
        let (ok, out, err) = herald_in(dir.path(), args, &with_other_key);
        assert!(!ok, "`herald {command}` with another key started: {out}");
        assert!(
            err.contains(&format!("expects the master key with id {expected}"))
                && err.contains(&format!("holds the key with id {theirs}")),
            "`herald {command}` names both keys: {err}"
        );
        assert!(
            err.contains("HERALD_SECRET_KEY_FILE"),
            "how to fix it: {err}"
        );

        let (ok, out, err) = herald_in(dir.path(), args, &with_no_key);
        assert!(!ok, "`herald {command}` without a key started: {out}");
        assert!(
            err.contains(&format!("expects the master key with id {expected}"))
                && err.contains("there is no key file"),
            "`herald {command}` names the key it needs: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&ours).unwrap(), our_key);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), other_key);
    assert_eq!(
        tree(dir.path()),
        vec![dir.path().join("other.key").display().to_string()],
        "no key file or data directory was made beside"
    );
}

async fn tripwire_entries(app: &TestApp) -> usize {
    app.store
        .audit_entries(
            &AuditFilter {
                action: "tripwire".into(),
                ..AuditFilter::default()
            },
            100,
        )
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_second_instance_with_another_key_or_none_refuses_to_start_and_changes_nothing() {
    let app = spawn_app().await;
    second_instances_refuse(&app);

    let state = app.store.outbound_state().await.unwrap();
    assert!(!state.paused, "outbound is not paused: {state:?}");
    assert_eq!(tripwire_entries(&app).await, 0, "the wire did not trip");
    // The first instance still posts, and its update is stamped as genuine.
    let incident = app
        .open_incident(json!({"name": "Still here", "status": "investigating",
            "impact": "minor", "body": "All is well.", "notify": true}))
        .await;
    let update_id: i64 = incident["update_id"].as_str().unwrap().parse().unwrap();
    assert!(app.store.update_stamp_ok(update_id).await.unwrap());
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn the_cluster_keeps_sending_after_an_instance_with_another_key_was_refused() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    app.store
        .import_subscribers(
            &[SubscriberEmail::parse("reader@example.com").unwrap()],
            true,
        )
        .await
        .unwrap();
    second_instances_refuse(&app);

    app.open_incident(
        json!({"name": "After the refusal", "status": "investigating",
        "impact": "major", "body": "Delivered as ever.", "notify": true}),
    )
    .await;
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].rcpt, "reader@example.com");
    assert!(mails[0].text().contains("After the refusal"));
    assert!(!app.store.outbound_state().await.unwrap().paused);
    assert_eq!(tripwire_entries(&app).await, 0, "the wire did not trip");
}

#[tokio::test]
async fn after_secrets_rotate_the_new_key_starts_and_the_old_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = test_postgres_database().await.unwrap_or_default();
    let data_text = data.display().to_string();
    let env = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data_text.as_str()),
    ];
    let (ok, _, err) = herald_in(dir.path(), &["migrate"], &env);
    assert!(ok, "{err}");
    let (ok, _, err) = herald_in(dir.path(), &["staff", "add", "ops@example.com"], &env);
    assert!(ok, "{err}");
    let old_key = text_of(&data, "secret.key");
    let old_id = key_id(&data.join("secret.key"));
    std::fs::write(dir.path().join("old.key"), &old_key).unwrap();

    let (ok, out, err) = herald_in(dir.path(), &["secrets", "rotate"], &env);
    assert!(ok, "{err}");
    let new_id = key_id(&data.join("secret.key"));
    assert_ne!(new_id, old_id);
    assert!(out.contains(&new_id), "{out}");

    // Restarted with the new key: it starts, and the CLI works with it.
    drop(serve(dir.path(), &env).await);
    let (ok, out, err) = herald_in(dir.path(), &["audit", "verify"], &env);
    assert!(ok && out.contains("intact"), "{out}{err}");

    // An instance left on the old key refuses, naming both.
    let old = dir.path().join("old.key").display().to_string();
    let with_old_key = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data_text.as_str()),
        ("HERALD_SECRET_KEY_FILE", old.as_str()),
        ("HERALD_BIND", "127.0.0.1:0"),
    ];
    for args in [&["serve"][..], &["pause"]] {
        let (ok, _, err) = herald_in(dir.path(), args, &with_old_key);
        assert!(!ok, "`herald {}` started with the old key", args.join(" "));
        assert!(
            err.contains(&format!("expects the master key with id {new_id}"))
                && err.contains(&format!("holds the key with id {old_id}")),
            "{err}"
        );
    }
    assert_eq!(text_of(dir.path(), "old.key"), old_key);
    let (_, out, _) = herald_in(dir.path(), &["status"], &env);
    assert!(out.contains("outbound: sending"), "{out}");
}

#[tokio::test]
async fn a_database_from_before_key_checks_takes_only_the_key_its_audit_log_was_signed_with() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Empty: the default SQLite file in the data directory.
    let url = test_postgres_database().await.unwrap_or_default();
    let data_text = data.display().to_string();
    let env = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data_text.as_str()),
    ];
    let (ok, _, err) = herald_in(dir.path(), &["migrate"], &env);
    assert!(ok, "{err}");
    let (ok, _, err) = herald_in(dir.path(), &["staff", "add", "ops@example.com"], &env);
    assert!(ok, "{err}");
    // From here on, the database by name, whatever the data directory.
    let url = if url.is_empty() {
        format!("sqlite://{}/herald.db", data.display())
    } else {
        url
    };
    let env = [
        ("HERALD_DATABASE_URL", url.as_str()),
        ("HERALD_DATA_DIR", data_text.as_str()),
    ];
    // As an older Herald left it: signed audit entries, no key check.
    let store = Store::connect(&url).await.unwrap();
    store.execute_admin("DELETE FROM key_check").await.unwrap();
    assert!(store.key_check().await.unwrap().is_none());

    let other = dir.path().join("other.key");
    MasterKey::generate().write_new(&other).unwrap();
    let (other, elsewhere) = (
        other.display().to_string(),
        dir.path().join("elsewhere").display().to_string(),
    );
    let (ok, _, err) = herald_in(
        dir.path(),
        &["migrate"],
        &[
            ("HERALD_DATABASE_URL", url.as_str()),
            ("HERALD_DATA_DIR", data_text.as_str()),
            ("HERALD_SECRET_KEY_FILE", other.as_str()),
        ],
    );
    assert!(!ok);
    assert!(err.contains("its audit log does not verify"), "{err}");
    let (ok, _, err) = herald_in(
        dir.path(),
        &["migrate"],
        &[
            ("HERALD_DATABASE_URL", url.as_str()),
            ("HERALD_DATA_DIR", elsewhere.as_str()),
        ],
    );
    assert!(!ok);
    assert!(err.contains("there is no key file"), "{err}");
    assert!(
        !dir.path().join("elsewhere").exists(),
        "no key was made for it"
    );
    assert!(
        store.key_check().await.unwrap().is_none(),
        "neither was recorded"
    );

    let (ok, _, err) = herald_in(dir.path(), &["migrate"], &env);
    assert!(ok, "{err}");
    assert_eq!(
        store.key_check().await.unwrap().unwrap().key_id,
        key_id(&data.join("secret.key")),
        "the key that signed the audit log is recorded"
    );
    store.close().await;
}
