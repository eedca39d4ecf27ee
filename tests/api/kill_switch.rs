//! The kill switch and the outbox as an attacker meets them: a pause from another process
//! holds what is posted the moment it returns, and rows written straight into the database (the
//! switch, a delivery's address, a sent delivery put back) send nothing and trip the wire.

use std::time::{Duration, Instant};

use herald::domain::{Role, SubscriberEmail};
use serde_json::{json, Value};

use crate::cli::herald_with;
use crate::helpers::{spawn_app_with, test_postgres_database, TestApp};
use crate::smtp::SmtpSink;

const ADMIN: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// `count` confirmed subscribers, `customer0000@example.com` and on.
async fn confirmed_subscribers(app: &TestApp, count: usize) {
    let emails: Vec<SubscriberEmail> = (0..count)
        .map(|n| SubscriberEmail::parse(&format!("customer{n:04}@example.com")).unwrap())
        .collect();
    app.store.import_subscribers(&emails, true).await.unwrap();
}

/// Runs the `herald` command line against this app's database and key.
fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    herald_with(
        &app.data_dir,
        args,
        "",
        &[("HERALD_DATABASE_URL", app.database_url.as_str())],
    )
}

async fn open_notifying(app: &TestApp, name: &str) -> Value {
    app.open_incident(
        json!({"name": name, "status": "investigating", "impact": "major",
        "body": "We are looking into it.", "notify": true}),
    )
    .await
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_pause_from_the_cli_holds_an_update_posted_the_moment_it_returns() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    confirmed_subscribers(&app, 300).await;
    // The workers are idle and believe outbound is on when the pause lands.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (ok, out, err) = cli(&app, &["pause", "--reason", "drill"]);
    assert!(ok, "herald pause: {out}{err}");
    let incident = open_notifying(&app, "Posted right after the pause").await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.count(), 0, "nothing went out after the pause returned");
    let counts = app
        .delivery_counts(incident["update_id"].as_str().unwrap())
        .await;
    assert_eq!(
        counts["channels"]["email"]["sent"].as_i64().unwrap_or(0),
        0,
        "{counts}"
    );

    // Nothing was lost: a resume sends every message once.
    let r = app.api("/api/admin/v1/resume", json!({})).await;
    assert_eq!(r.status(), 200);
    let mails = sink.wait_for(300, Duration::from_secs(60)).await;
    let recipients: std::collections::HashSet<&str> =
        mails.iter().map(|m| m.rcpt.as_str()).collect();
    assert_eq!(recipients.len(), 300);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HERALD_TEST_DATABASE=postgres) and aiosmtpd; .ci/run runs it"]
async fn two_instances_on_postgres_hold_what_is_posted_after_a_third_process_pauses() {
    let database_url = test_postgres_database()
        .await
        .expect("this test needs HERALD_TEST_DATABASE=postgres");
    let sink = SmtpSink::start(&[]);
    let url = database_url.clone();
    let smtp = sink.url();
    let a = spawn_app_with(move |c| {
        c.database_url = url;
        c.smtp_url = smtp;
    })
    .await;
    let (url, smtp, key) = (
        database_url.clone(),
        sink.url(),
        a.data_dir.join("secret.key"),
    );
    let b = spawn_app_with(move |c| {
        c.database_url = url;
        c.smtp_url = smtp;
        c.secret_key_file = key.display().to_string();
    })
    .await;
    confirmed_subscribers(&a, 200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (ok, out, err) = cli(&a, &["pause", "--reason", "drill"]);
    assert!(ok, "herald pause: {out}{err}");
    open_notifying(&a, "Posted to A after the pause").await;
    open_notifying(&b, "Posted to B after the pause").await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.count(), 0, "neither instance sent after the pause");

    let r = b.api("/api/admin/v1/resume", json!({})).await;
    assert_eq!(r.status(), 200);
    sink.wait_for(400, Duration::from_secs(60)).await;
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_switch_turned_back_on_in_the_database_holds_everything_and_trips_the_wire() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    confirmed_subscribers(&app, 20).await;
    let r = app
        .api("/api/admin/v1/pause", json!({"reason": "spam seen"}))
        .await;
    assert_eq!(r.status(), 200);
    open_notifying(&app, "Queued while paused").await;

    // One UPDATE from a shell on the database host, as an attacker would release the queue.
    app.store
        .execute_admin("UPDATE outbound SET paused = FALSE, tripped_rule = '', reason = ''")
        .await
        .unwrap();
    app.wait_for_trip("kill switch").await;
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert!(
        mails.iter().all(|m| m.rcpt == ADMIN),
        "only the admins' alert went out: {:?}",
        mails.iter().map(|m| &m.rcpt).collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(sink.messages().iter().all(|m| m.rcpt == ADMIN));
    let rule = app
        .store
        .query_strings("SELECT tripped_rule FROM outbound")
        .await
        .unwrap();
    assert_eq!(rule, ["forged"]);
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_delivery_readdressed_in_the_database_is_not_sent_and_trips_the_wire() {
    // No mail server yet: the deliveries are queued and wait in the outbox.
    let mut sink = SmtpSink::stopped();
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    confirmed_subscribers(&app, 3).await;
    let incident = open_notifying(&app, "Real outage").await;
    let update_id = incident["update_id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while app.delivery_counts(&update_id).await["channels"]["email"]["pending"] != 3 {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    app.store
        .execute_admin(
            "UPDATE deliveries SET address = 'attacker@evil.example' \
             WHERE id = (SELECT MAX(id) FROM deliveries WHERE channel = 'email' AND state = 'pending')",
        )
        .await
        .unwrap();
    sink.launch();
    app.wait_for_trip("without a valid stamp").await;
    let mails = sink.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.rcpt != "attacker@evil.example"),
        "the re-addressed delivery went nowhere"
    );
    assert!(
        mails.iter().any(|m| m.rcpt == ADMIN) || sink.messages().iter().any(|m| m.rcpt == ADMIN),
        "the admins heard"
    );
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_sent_delivery_put_back_to_pending_is_not_sent_again_and_trips_the_wire() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    confirmed_subscribers(&app, 1).await;
    open_notifying(&app, "Real outage").await;
    sink.wait_for(1, Duration::from_secs(20)).await;
    // Wait until the send is recorded, then put it back in the queue.
    let started = Instant::now();
    while app
        .store
        .query_strings("SELECT state FROM deliveries WHERE channel = 'email'")
        .await
        .unwrap()
        != ["sent"]
    {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.store
        .execute_admin(
            "UPDATE deliveries SET state = 'pending', sent_at = NULL, message_id = NULL \
             WHERE channel = 'email'",
        )
        .await
        .unwrap();
    // Any later change wakes the workers; a quiet component edit will do.
    app.create_component("Wake").await;
    app.wait_for_trip("without a valid stamp").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to_customer = sink
        .messages()
        .iter()
        .filter(|m| m.rcpt == "customer0000@example.com")
        .count();
    assert_eq!(to_customer, 1, "the customer got the update once");
}
