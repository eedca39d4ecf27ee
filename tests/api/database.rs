//! The database as several instances share it: changes heard across instances (PostgreSQL's
//! LISTEN/NOTIFY), a listener that comes back after its connection is cut, a pool too small to
//! share that still never deadlocks, and database URLs that fail at start with a hint.
//! Tests needing two instances return early on SQLite, which serves one.

use std::time::{Duration, Instant};

use herald::domain::SubscriberEmail;
use herald::store::{Change, ChangeListener};
use serde_json::{json, Value};

use crate::cli::herald_with;
use crate::helpers::{spawn_app, spawn_app_with, test_postgres_database, TestApp};

/// Two instances on one fresh PostgreSQL database, or `None` when the suite runs on SQLite.
async fn two_instances() -> Option<(TestApp, TestApp, String)> {
    let url = test_postgres_database().await?;
    let a = spawn_app_with(|c| c.database_url = url.clone()).await;
    // One cluster, one master key: the second opens the first one's sealed digest key.
    let key = a.data_dir.join("secret.key").display().to_string();
    let b = spawn_app_with(|c| {
        c.database_url = url.clone();
        c.secret_key_file = key;
    })
    .await;
    Some((a, b, url))
}

/// Polls `app`'s public summary until `check` holds, failing after `within`.
async fn summary_shows(app: &TestApp, within: Duration, check: impl Fn(&Value) -> bool) {
    let started = Instant::now();
    loop {
        let summary = app.get_json("/api/v2/summary.json").await;
        if check(&summary) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "not shown within {within:?}: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn shows_incident(name: &'static str) -> impl Fn(&Value) -> bool {
    move |summary| {
        summary["incidents"]
            .as_array()
            .is_some_and(|list| list.iter().any(|i| i["name"] == name))
    }
}

/// Backends of this database's change listeners, as PostgreSQL sees them.
async fn listeners(admin: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'herald-listener'",
    )
    .fetch_one(admin)
    .await
    .unwrap()
}

async fn wait_for_listeners(admin: &sqlx::PgPool, n: i64) {
    let started = Instant::now();
    while listeners(admin).await != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{n} listeners did not connect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_change(changes: &mut ChangeListener) -> Change {
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("a change within 5 s")
}

#[tokio::test]
async fn an_update_posted_on_one_instance_shows_on_the_other_within_a_second() {
    let Some((a, b, _)) = two_instances().await else {
        return;
    };
    summary_shows(&b, Duration::from_secs(1), |s| {
        s["incidents"].as_array().is_some_and(|l| l.is_empty())
    })
    .await;
    let incident = a
        .open_incident(
            json!({"name": "Database failover", "status": "investigating",
            "impact": "major", "body": "Writes are failing over to the standby."}),
        )
        .await;
    summary_shows(
        &b,
        Duration::from_secs(1),
        shows_incident("Database failover"),
    )
    .await;

    let r = a
        .api(
            &format!(
                "/api/admin/v1/incidents/{}/updates",
                incident["id"].as_str().unwrap()
            ),
            json!({"status": "resolved", "body": "Writes are back on the primary."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    summary_shows(&b, Duration::from_secs(1), |s| {
        s["incidents"].as_array().is_some_and(|l| l.is_empty())
            && s["status"]["indicator"] == "none"
    })
    .await;
}

#[tokio::test]
async fn every_committed_change_is_announced_to_listeners() {
    let app = spawn_app().await;
    let Some(mut changes) = app.store.listen_for_changes() else {
        return;
    };
    assert_eq!(
        next_change(&mut changes).await,
        Change::Missed,
        "connecting"
    );

    app.create_component("API").await;
    assert_eq!(next_change(&mut changes).await, Change::Pages);

    app.store
        .set_outbound_paused(true, "drill", "tests")
        .await
        .unwrap();
    assert_eq!(next_change(&mut changes).await, Change::Switch);

    let email = SubscriberEmail::parse("reader@example.com").unwrap();
    app.store.sign_up(&email, None).await.unwrap();
    assert_eq!(next_change(&mut changes).await, Change::Deliveries);
}

#[tokio::test]
async fn a_listener_cut_off_reconnects_and_catches_up_on_what_it_missed() {
    let Some((a, b, url)) = two_instances().await else {
        return;
    };
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    wait_for_listeners(&admin, 2).await;

    // Cut both listeners off, and change something before they can be back.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'herald-listener'",
    )
    .execute(&admin)
    .await
    .unwrap();
    a.open_incident(
        json!({"name": "While nobody listened", "status": "investigating",
        "impact": "minor", "body": "x"}),
    )
    .await;
    summary_shows(
        &b,
        Duration::from_secs(5),
        shows_incident("While nobody listened"),
    )
    .await;

    // Listening again: the next change arrives as fast as ever.
    wait_for_listeners(&admin, 2).await;
    a.open_incident(
        json!({"name": "After the reconnect", "status": "investigating",
        "impact": "minor", "body": "y"}),
    )
    .await;
    summary_shows(
        &b,
        Duration::from_secs(1),
        shows_incident("After the reconnect"),
    )
    .await;
    admin.close().await;
}

#[tokio::test]
async fn one_database_connection_serves_the_handlers_and_the_workers_without_deadlock() {
    let app = spawn_app_with(|c| {
        c.database_max_connections = 1;
        c.database_acquire_timeout = 20;
    })
    .await;
    let emails: Vec<SubscriberEmail> = (0..300)
        .map(|n| SubscriberEmail::parse(&format!("reader{n}@example.com")).unwrap())
        .collect();
    app.store.import_subscribers(&emails, true).await.unwrap();

    // Handlers, the fan-out expander, the page rebuilds and the kill-switch poll all queue for
    // the one connection at once.
    let posts = (0..12).map(|n| {
        app.open_incident(
            json!({"name": format!("Incident {n}"), "status": "investigating",
            "impact": "minor", "body": "x", "notify": true}),
        )
    });
    let incidents = futures_util::future::join_all(posts).await;
    let started = Instant::now();
    for incident in &incidents {
        let update_id = incident["update_id"].as_str().unwrap();
        loop {
            let counts = app.delivery_counts(update_id).await;
            if counts["channels"]["email"]["total"] == 300 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "fan-out stuck: {counts}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["incidents"].as_array().unwrap().len(), 12);
}

#[test]
fn an_unreachable_database_fails_at_start_with_a_hint_and_no_password() {
    let data = tempfile::tempdir().unwrap();
    // Port 1 on the loopback: nothing listens there.
    let (ok, _, err) = herald_with(
        data.path(),
        &["migrate"],
        "",
        &[(
            "HERALD_DATABASE_URL",
            "postgres://herald:s3cret@127.0.0.1:1/herald",
        )],
    );
    assert!(!ok);
    assert!(err.contains("HERALD_DATABASE_URL"), "{err}");
    assert!(err.contains("is PostgreSQL running"), "{err}");
    assert!(!err.contains("s3cret"), "the password is not shown: {err}");

    let (ok, _, err) = herald_with(
        data.path(),
        &["migrate"],
        "",
        &[("HERALD_DATABASE_URL", "mysql://127.0.0.1/herald")],
    );
    assert!(!ok);
    assert!(
        err.contains("must start with sqlite:// or postgres://"),
        "{err}"
    );

    let (ok, _, err) = herald_with(
        data.path(),
        &["migrate"],
        "",
        &[("HERALD_DATABASE_MAX_CONNECTIONS", "0")],
    );
    assert!(!ok);
    assert!(err.contains("HERALD_DATABASE_MAX_CONNECTIONS"), "{err}");
}

#[test]
fn a_missing_postgres_database_is_named_at_start() {
    if std::env::var("HERALD_TEST_DATABASE").as_deref() != Ok("postgres") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (ok, _, err) = herald_with(
        data.path(),
        &["migrate"],
        "",
        &[(
            "HERALD_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/herald_no_such_database",
        )],
    );
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("createdb"), "{err}");
}
