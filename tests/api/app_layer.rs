//! One act, one rule, every surface: the same act made from the admin pages, the admin API,
//! the command line or the scheduler is screened, stored and audited the same way.

use std::time::Duration;

use herald::config::Config;
use herald::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery staple";
const ADMIN: &str = "admin@acme.example";
const PHISHING: &str = "Refunds: [claim here](https://evil.com/refund).";

/// An app with the production link rule: only the public URL's own domain may be linked.
async fn app_with_the_link_rule() -> TestApp {
    let app = spawn_app_with(|c| {
        c.public_url = "http://status.acme.example".into();
        c.tripwire_allowed_domains = Config::default().tripwire_allowed_domains;
    })
    .await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    app
}

async fn column(app: &TestApp, sql: &str) -> Vec<String> {
    app.store.query_strings(sql).await.unwrap()
}

async fn actors_of(app: &TestApp, action: &str) -> Vec<String> {
    column(
        app,
        &format!("SELECT actor FROM audit_log WHERE action = '{action}' ORDER BY id"),
    )
    .await
}

async fn details_of(app: &TestApp, action: &str) -> Vec<Value> {
    column(
        app,
        &format!("SELECT detail FROM audit_log WHERE action = '{action}' ORDER BY id"),
    )
    .await
    .iter()
    .map(|d| serde_json::from_str(d).unwrap())
    .collect()
}

/// The link rule tripped once, outbound is paused by it, and the post was still published
/// and audited as the act of `actor`.
async fn assert_tripped_by_the_link(app: &TestApp, actor: &str) {
    let state = app.store.outbound_state().await.unwrap();
    assert!(state.paused, "{state:?}");
    assert_eq!(state.tripped_rule, "link-domain", "{state:?}");
    assert!(state.reason.contains("evil.com"), "{state:?}");
    assert_eq!(actors_of(app, "tripwire.tripped").await, vec![actor]);
    assert_eq!(actors_of(app, "incident.open").await, vec![actor]);
    let published = &details_of(app, "incident.open").await[0];
    assert_eq!(published["notify"], true);
    assert_eq!(published["body"], PHISHING);
}

#[tokio::test]
async fn a_notifying_post_with_a_foreign_link_trips_the_wire_from_the_admin_pages_and_the_admin_api_alike(
) {
    // From the admin pages.
    let app = app_with_the_link_rule().await;
    assert_eq!(app.sign_in(ADMIN, PASSWORD).await.status(), 303);
    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", "Refunds"),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", PHISHING),
                ("notify", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_tripped_by_the_link(&app, &format!("staff:{ADMIN}")).await;

    // From the admin API, on another Herald.
    let app = app_with_the_link_rule().await;
    let incident = app
        .open_incident(
            json!({"name": "Refunds", "status": "investigating", "impact": "minor",
                              "body": PHISHING, "notify": true}),
        )
        .await;
    assert!(incident["id"].is_string(), "{incident}");
    assert_tripped_by_the_link(&app, "token:tests").await;
}

fn cli(app: &TestApp, args: &[&str]) -> String {
    let (ok, out, err) = crate::cli::herald_with(
        &app.data_dir,
        args,
        "",
        &[("HERALD_DATABASE_URL", app.database_url.as_str())],
    );
    assert!(ok, "{out}{err}");
    out
}

#[tokio::test]
async fn herald_pause_and_the_apis_pause_are_one_act_with_one_audit_and_one_stored_state() {
    let app = spawn_app_with(|_| {}).await;
    let out = cli(&app, &["pause", "--reason", "drill"]);
    assert!(out.starts_with("database: "), "{out}");
    let by_cli = app.store.outbound_state().await.unwrap();

    cli(&app, &["resume"]);
    let vouched_by_cli = app.store.vouched_at().await.unwrap();
    assert!(
        vouched_by_cli.is_some(),
        "a resume vouches for what came before"
    );

    let r = app
        .api("/api/admin/v1/pause", json!({"reason": "drill"}))
        .await;
    assert_eq!(r.status(), 200);
    let by_api = app.store.outbound_state().await.unwrap();

    let r = app.api("/api/admin/v1/resume", json!({})).await;
    assert_eq!(r.status(), 200);
    assert!(app.store.vouched_at().await.unwrap() > vouched_by_cli);

    // The same stored state, each naming who paused.
    for (state, by) in [(&by_cli, "cli"), (&by_api, "token:tests")] {
        assert!(state.paused && state.genuine, "{state:?}");
        assert_eq!(state.reason, "drill");
        assert_eq!(state.tripped_rule, "");
        assert_eq!(state.changed_by, by);
    }
    assert!(!app.store.outbound_state().await.unwrap().paused);

    // The same audit entries, each naming who acted.
    assert_eq!(
        actors_of(&app, "outbound.pause").await,
        ["cli", "token:tests"]
    );
    assert_eq!(
        actors_of(&app, "outbound.resume").await,
        ["cli", "token:tests"]
    );
    let pauses = details_of(&app, "outbound.pause").await;
    assert_eq!(pauses[0], pauses[1]);
    assert_eq!(pauses[0], json!({"reason": "drill"}));
    let resumes = details_of(&app, "outbound.resume").await;
    assert_eq!(resumes[0]["was_paused_by"], "cli");
    assert_eq!(resumes[1]["was_paused_by"], "token:tests");
    for r in &resumes {
        assert_eq!(r["reason"], "drill");
        assert_eq!(r["tripped_rule"], "");
    }
}

#[tokio::test]
async fn a_maintenance_the_scheduler_moves_on_is_audited_as_the_schedulers_act() {
    let app = spawn_app_with(|_| {}).await;
    let soon = |secs| (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Database upgrade", "body": "Brief read-only period.",
                   "scheduled_for": soon(2), "scheduled_until": soon(4)}),
        )
        .await;
    assert_eq!(r.status(), 201);
    for _ in 0..100 {
        if actors_of(&app, "maintenance.advance").await.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        actors_of(&app, "maintenance.advance").await,
        ["herald (scheduler)", "herald (scheduler)"]
    );
    assert_eq!(
        actors_of(&app, "maintenance.schedule").await,
        ["token:tests"]
    );
}
