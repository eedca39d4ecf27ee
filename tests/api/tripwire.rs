//! The tripwire as an attacker and an honest responder meet it, with the production defaults:
//! links hidden by encoding trip it and nothing goes out; a real incident with a maintenance
//! running meanwhile never trips it; a spam run does, before its second wave; a resume starts
//! a fresh window; and the preview (API `dry_run` and the admin page) says beforehand.

use std::time::Duration;

use herald::config::Config;
use herald::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::smtp::{Received, SmtpSink};

const PASSWORD: &str = "correct horse battery staple";
const ADMIN: &str = "admin@acme.example";
/// http, so the test client keeps the admin session cookie (https would make it Secure).
const PUBLIC_URL: &str = "http://status.acme.example";

/// An app at `PUBLIC_URL` with the production tripwire settings (the harness relaxes them so
/// that ordinary tests never trip), sending mail to `smtp_url` when given.
async fn production_app(smtp_url: Option<String>) -> TestApp {
    let app = spawn_app_with(|c| {
        let d = Config::default();
        c.public_url = PUBLIC_URL.into();
        c.tripwire_burst_updates = d.tripwire_burst_updates;
        c.tripwire_burst_minutes = d.tripwire_burst_minutes;
        c.tripwire_burst_per_incident = d.tripwire_burst_per_incident;
        c.tripwire_burst_incidents = d.tripwire_burst_incidents;
        c.tripwire_allowed_domains = d.tripwire_allowed_domains;
        if let Some(url) = smtp_url {
            c.smtp_url = url;
        }
    })
    .await;
    // Alerts go to the admins, and outside the pause: a trip always mails this address.
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    app
}

async fn subscribe(app: &TestApp, email: &str) {
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": email, "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

async fn open_notifying(app: &TestApp, name: &str, body: &str) -> String {
    let incident = app
        .open_incident(
            json!({"name": name, "status": "investigating", "impact": "major",
                              "body": body, "notify": true}),
        )
        .await;
    incident["id"].as_str().expect("id").to_string()
}

async fn post_notifying(app: &TestApp, incident: &str, status: &str, body: &str) -> Value {
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{incident}/updates"),
            json!({"status": status, "body": body, "notify": true}),
        )
        .await;
    assert_eq!(
        r.status(),
        201,
        "the update is published even when it trips"
    );
    r.json().await.expect("json")
}

async fn outbound(app: &TestApp) -> Value {
    app.api_get("/api/admin/v1/status").await
}

fn to(mails: &[Received], rcpt: &str) -> usize {
    mails.iter().filter(|m| m.rcpt == rcpt).count()
}

/// Waits for the admin's tripwire alert (alerts are sent while outbound is paused), then a
/// little longer, so that anything the pause failed to hold would have arrived too.
async fn alert_then_quiet(sink: &SmtpSink) -> Vec<Received> {
    let start = std::time::Instant::now();
    while to(&sink.messages(), ADMIN) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no tripwire alert reached the admin"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sink.messages()
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn every_encoded_link_mailto_and_foreign_image_trips_the_wire_and_nothing_is_delivered() {
    let attacks = [
        "Refunds: [claim here](https&#58;//evil&#46;com/a)",
        "Refunds: [claim here](https:\\/\\/evil\\.com/b)",
        "Refunds: <a href=\"https&#x3a;//evil&#x2e;com/c\">claim here</a>",
        "Refunds: [claim here](//evil&#46;com/d)",
        "Refunds: [write to us](mailto:refunds@evil.com)",
        "Our new logo: <img src=\"https://evil.com/logo.png\">",
    ];
    for body in attacks {
        let sink = SmtpSink::start(&[]);
        let app = production_app(Some(sink.url())).await;
        subscribe(&app, "customer@customer.example").await;
        open_notifying(&app, "Refunds for the outage", body).await;

        let status = outbound(&app).await;
        assert_eq!(status["paused"], true, "{body}: {status}");
        let reason = status["reason"].as_str().unwrap_or("");
        assert!(
            reason.contains("Link to a domain not on the allow-list"),
            "{body}: {reason}"
        );
        assert!(reason.contains("evil.com"), "{body}: {reason}");
        let mails = alert_then_quiet(&sink).await;
        assert_eq!(
            to(&mails, "customer@customer.example"),
            0,
            "{body}: nothing reaches the customer"
        );
    }
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn links_to_the_public_urls_own_domain_and_its_subdomains_do_not_trip() {
    let sink = SmtpSink::start(&[]);
    let app = production_app(Some(sink.url())).await;
    subscribe(&app, "customer@customer.example").await;
    open_notifying(
        &app,
        "Elevated errors",
        "Follow [the status page](http://status.acme.example/) and read \
         [the runbook](https://docs.acme.example/outages). Our site: https://www.acme.example/ \
         and [acme.example](https://acme.example/). Questions: \
         [support](mailto:support@acme.example). See also [the history](/history).",
    )
    .await;
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(to(&mails, "customer@customer.example"), 1);
    let html = &mails[0].text();
    assert!(
        html.contains("https://docs.acme.example/outages"),
        "sent as linked"
    );
    assert_eq!(outbound(&app).await["paused"], false);
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn an_honest_incident_with_a_maintenance_meanwhile_never_trips_and_everyone_gets_every_notice(
) {
    let sink = SmtpSink::start(&[]);
    let app = production_app(Some(sink.url())).await;
    let customers = [
        "ann@customer.example",
        "bob@customer.example",
        "cy@customer.example",
    ];
    for c in customers {
        subscribe(&app, c).await;
    }
    let db = app.create_component("Database").await;
    let soon = |secs: i64| (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Database upgrade", "body": "Read-only for a few seconds.",
                   "scheduled_for": soon(3), "scheduled_until": soon(7),
                   "components": { db.clone(): "under_maintenance" }, "notify": true}),
        )
        .await;
    assert_eq!(r.status(), 201);

    // Open, eight updates, resolve: posted far faster than the two minutes apart a real
    // incident would, which only makes the test harder; the maintenance starts and ends
    // (the scheduler's own notices) in between.
    let incident = open_notifying(
        &app,
        "Elevated API errors",
        "We are investigating. Runbook: https://docs.acme.example/api",
    )
    .await;
    for n in 1..=8 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let status = if n < 4 { "identified" } else { "monitoring" };
        post_notifying(
            &app,
            &incident,
            status,
            &format!(
                "Update {n}: error rates are falling. Details on https://status.acme.example/"
            ),
        )
        .await;
    }
    post_notifying(&app, &incident, "resolved", "Resolved.").await;
    let maintenance_done = async {
        for _ in 0..200 {
            let all = app.get_json("/api/v2/scheduled-maintenances.json").await;
            if all["scheduled_maintenances"][0]["status"] == "completed" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the maintenance never completed");
    };
    maintenance_done.await;

    // 10 incident notices and 3 maintenance notices (scheduled, started, completed) each.
    let mails = sink
        .wait_for(13 * customers.len(), Duration::from_secs(30))
        .await;
    for c in customers {
        assert_eq!(to(&mails, c), 13, "{c} gets every notice");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(to(&sink.messages(), ADMIN), 0, "no tripwire alert");
    let status = outbound(&app).await;
    assert_eq!(status["paused"], false, "{status}");
    let trips = app
        .store
        .query_strings("SELECT action FROM audit_log WHERE action = 'tripwire.tripped'")
        .await
        .unwrap();
    assert!(trips.is_empty(), "the wire never tripped");
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_spam_run_of_notifying_posts_trips_before_its_second_wave() {
    let sink = SmtpSink::start(&[]);
    let app = production_app(Some(sink.url())).await;
    let customers = ["ann@customer.example", "bob@customer.example"];
    for c in customers {
        subscribe(&app, c).await;
    }
    // The first wave: ten posts to one incident in seconds, as many as a real incident might.
    let incident = open_notifying(&app, "Claim your refund", "Spam 1").await;
    for n in 2..=10 {
        post_notifying(&app, &incident, "identified", &format!("Spam {n}")).await;
    }
    let mails = sink.wait_for(20, Duration::from_secs(20)).await;
    assert_eq!(to(&mails, customers[0]), 10);
    assert_eq!(outbound(&app).await["paused"], false);

    // The second wave: its first post trips the wire; none of it reaches anyone.
    for n in 11..=20 {
        post_notifying(&app, &incident, "identified", &format!("Spam {n}")).await;
    }
    let status = outbound(&app).await;
    assert_eq!(status["paused"], true);
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("11 notifying posts to one incident within 10 minutes"),
        "{status}"
    );
    let mails = alert_then_quiet(&sink).await;
    for c in customers {
        assert_eq!(to(&mails, c), 10, "{c} gets nothing of the second wave");
    }
    let alert = mails.iter().find(|m| m.rcpt == ADMIN).unwrap();
    assert!(alert
        .header("Subject")
        .unwrap()
        .contains("Burst of notifying updates"));
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_run_of_new_notifying_incidents_trips_at_the_fourth() {
    let sink = SmtpSink::start(&[]);
    let app = production_app(Some(sink.url())).await;
    subscribe(&app, "ann@customer.example").await;
    for n in 1..=3 {
        open_notifying(&app, &format!("Refund {n}"), "Spam").await;
    }
    sink.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(outbound(&app).await["paused"], false);

    open_notifying(&app, "Refund 4", "Spam").await;
    let status = outbound(&app).await;
    assert_eq!(status["paused"], true);
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("4 new notifying incidents within 10 minutes"),
        "{status}"
    );
    let mails = alert_then_quiet(&sink).await;
    assert_eq!(to(&mails, "ann@customer.example"), 3);
}

/// Trips the burst rule with eleven notifying posts to one incident; returns the incident.
async fn trip_the_burst_rule(app: &TestApp) -> String {
    let incident = open_notifying(app, "Elevated errors", "Investigating.").await;
    for n in 2..=11 {
        post_notifying(app, &incident, "identified", &format!("Update {n}")).await;
    }
    let status = outbound(app).await;
    assert_eq!(status["paused"], true);
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("Burst of notifying updates"),
        "{status}"
    );
    incident
}

async fn trips_recorded(app: &TestApp) -> usize {
    app.store
        .query_strings("SELECT action FROM audit_log WHERE action = 'tripwire.tripped'")
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn after_a_burst_trip_an_admins_resume_lets_the_next_update_of_the_incident_through() {
    let app = production_app(None).await;
    let incident = trip_the_burst_rule(&app).await;
    assert_eq!(trips_recorded(&app).await, 1);

    // The admin checks, signs in with a fresh code and resumes from the dashboard.
    assert_eq!(app.sign_in(ADMIN, PASSWORD).await.status(), 303);
    let r = app.post_form("/admin", "/admin/resume", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(outbound(&app).await["paused"], false);

    // The same incident goes on: the resume vouched for the eleven before.
    for n in 12..=14 {
        post_notifying(&app, &incident, "monitoring", &format!("Update {n}")).await;
        let status = outbound(&app).await;
        assert_eq!(status["paused"], false, "update {n}: {status}");
    }
    assert_eq!(trips_recorded(&app).await, 1, "no second trip");
}

#[tokio::test]
async fn a_resume_from_the_command_line_starts_a_fresh_window_too() {
    let app = production_app(None).await;
    let incident = trip_the_burst_rule(&app).await;
    let (ok, out, err) = crate::cli::herald_with(
        &app.data_dir,
        &["resume"],
        "",
        &[("HERALD_DATABASE_URL", app.database_url.as_str())],
    );
    assert!(ok, "{out}{err}");
    post_notifying(&app, &incident, "monitoring", "Update 12").await;
    assert_eq!(outbound(&app).await["paused"], false);
    assert_eq!(trips_recorded(&app).await, 1);
}

async fn dry_run(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.api(path, body).await;
    assert_eq!(r.status(), 200, "a dry run answers 200");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["dry_run"], true);
    answer
}

async fn nothing_stored_sent_or_tripped(app: &TestApp, incidents: usize) {
    let all = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(all["incidents"].as_array().unwrap().len(), incidents);
    assert_eq!(outbound(app).await["paused"], false);
    assert_eq!(trips_recorded(app).await, 0);
    let (pending, sending) = app.store.queue_depth().await.unwrap();
    assert_eq!((pending, sending), (0, 0), "nothing queued to send");
}

#[tokio::test]
async fn a_dry_run_says_a_foreign_link_would_trip_and_stores_sends_and_trips_nothing() {
    let app = production_app(None).await;
    subscribe(&app, "ann@customer.example").await;
    let answer = dry_run(
        &app,
        "/api/admin/v1/incidents",
        json!({"name": "Refunds", "status": "investigating", "impact": "minor", "notify": true,
               "body": "Claim at [our partner](https&#58;//evil&#46;com/a).", "dry_run": true}),
    )
    .await;
    assert_eq!(answer["would_trip"], true, "{answer}");
    let reason = &answer["reasons"][0];
    assert_eq!(reason["rule"], "link-domain", "{answer}");
    assert!(
        reason["detail"].as_str().unwrap().contains("evil.com"),
        "{answer}"
    );
    assert!(
        answer["body_html"]
            .as_str()
            .unwrap()
            .contains("href=\"https://evil.com/a\""),
        "the HTML as customers would get it: {answer}"
    );
    nothing_stored_sent_or_tripped(&app, 0).await;

    // Fixed, it would pass.
    let answer = dry_run(
        &app,
        "/api/admin/v1/incidents",
        json!({"name": "Refunds", "status": "investigating", "impact": "minor", "notify": true,
               "body": "Claim at [our help centre](https://help.acme.example/refunds).",
               "dry_run": true}),
    )
    .await;
    assert_eq!(answer["would_trip"], false, "{answer}");
    assert_eq!(answer["reasons"], json!([]));
    nothing_stored_sent_or_tripped(&app, 0).await;
}

#[tokio::test]
async fn a_dry_run_says_a_burst_would_trip_and_stores_sends_and_trips_nothing() {
    let app = production_app(None).await;
    let incident = open_notifying(&app, "Elevated errors", "Investigating.").await;
    for n in 2..=10 {
        post_notifying(&app, &incident, "identified", &format!("Update {n}")).await;
    }
    let path = format!("/api/admin/v1/incidents/{incident}/updates");
    let answer = dry_run(
        &app,
        &path,
        json!({"status": "monitoring", "body": "Update 11", "notify": true, "dry_run": true}),
    )
    .await;
    assert_eq!(answer["would_trip"], true, "{answer}");
    assert_eq!(answer["reasons"][0]["rule"], "burst");
    assert!(
        answer["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("11 notifying posts to one incident"),
        "{answer}"
    );
    // A quiet update sends nothing, so nothing about it could trip.
    let quiet = dry_run(
        &app,
        &path,
        json!({"status": "monitoring", "body": "Update 11", "notify": false, "dry_run": true}),
    )
    .await;
    assert_eq!(quiet["would_trip"], false);

    let shown = app
        .api_get(&format!("/api/admin/v1/incidents/{incident}"))
        .await;
    assert_eq!(shown["incident_updates"].as_array().unwrap().len(), 10);
    assert_eq!(outbound(&app).await["paused"], false);
    assert_eq!(trips_recorded(&app).await, 0);
}

#[tokio::test]
async fn the_admin_preview_warns_that_publishing_would_trip_and_why() {
    let app = production_app(None).await;
    assert_eq!(app.sign_in(ADMIN, PASSWORD).await.status(), 303);
    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", "Refunds"),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", "Write to [refunds](mailto:refunds@evil.com)."),
                ("notify", "1"),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Publishing this would trip the tripwire"),
        "{page}"
    );
    assert!(page.contains("Link to a domain not on the allow-list"));
    assert!(page.contains("evil.com"));
    nothing_stored_sent_or_tripped(&app, 0).await;

    // On an incident's page, the update form warns of a burst the same way.
    let incident = open_notifying(&app, "Elevated errors", "Investigating.").await;
    for n in 2..=10 {
        post_notifying(&app, &incident, "identified", &format!("Update {n}")).await;
    }
    let page_path = format!("/admin/incidents/{incident}");
    let r = app
        .post_form(
            &page_path,
            &format!("{page_path}/updates"),
            &[
                ("status", "monitoring"),
                ("body", "Update 11, see https://docs.acme.example/x"),
                ("notify", "1"),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Burst of notifying updates"), "{page}");
    assert!(page.contains("11 notifying posts to one incident"));
    assert!(!page.contains("Link to a domain not on the allow-list"));
    assert_eq!(outbound(&app).await["paused"], false);
    assert_eq!(trips_recorded(&app).await, 0);
}
