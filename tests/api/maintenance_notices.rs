//! Maintenance notices: the reminder before a maintenance starts, the notices at its automatic
//! start and end, and rescheduling or cancelling it (issue 13, part 4).
//!
//! The reminder's time is kept in whole minutes (`scheduled_remind_prior`, the page default
//! `HERALD_REMIND_PRIOR_MINUTES`). Tests that need time to pass drive the store's scheduler
//! steps with a `now` of their own; the real-SMTP test schedules its maintenance inside the
//! reminder's lead, so the reminder is due at once, and the start and end follow in seconds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::smtp::SmtpSink;

fn at(secs: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(secs)
}

fn in_secs(secs: i64) -> String {
    at(secs).to_rfc3339()
}

async fn schedule(app: &TestApp, body: Value) -> Value {
    let r = app.api("/api/admin/v1/maintenances", body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn patch(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.http
        .patch(app.url(&format!("/api/admin/v1/maintenances/{id}")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn cancel(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.api(&format!("/api/admin/v1/maintenances/{id}/cancel"), body)
        .await
}

async fn add_subscriber(app: &TestApp, email: &str, components: Option<Vec<&str>>) {
    let mut body = json!({"email": email, "confirmed": true});
    if let Some(c) = components {
        body["components"] = json!(c);
    }
    let r = app.api("/api/admin/v1/subscribers", body).await;
    assert_eq!(r.status(), 201);
}

async fn audit_details(app: &TestApp, action: &str) -> Vec<Value> {
    app.store
        .query_strings(&format!(
            "SELECT detail FROM audit_log WHERE action = '{action}' ORDER BY id"
        ))
        .await
        .unwrap()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Deliveries of an update on one channel, once its fan-out is fully written.
async fn queued(app: &TestApp, update_id: &str, channel: &str) -> i64 {
    for _ in 0..100 {
        let counts = app.delivery_counts(update_id).await;
        if counts["expanding"] == false {
            return counts["channels"][channel]["total"].as_i64().unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the fan-out of update {update_id} never finished");
}

/// A maintenance as the admin API reads it from the store (the public pages refresh after an
/// act; these tests also move the scheduler's steps by hand, which no act follows).
async fn read(app: &TestApp, id: &str) -> Value {
    app.api_get(&format!("/api/admin/v1/maintenances/{id}"))
        .await
}

/// A maintenance as `/api/v2` shows it.
async fn v2_maintenance(app: &TestApp, id: &str) -> Value {
    let all = app.get_json("/api/v2/scheduled-maintenances.json").await;
    all["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("maintenance {id} is not in /api/v2"))
}

#[tokio::test]
async fn the_options_are_stored_and_echoed_and_default_from_notify() {
    let app = spawn_app().await;
    let m = schedule(
        &app,
        json!({"name": "Disk swap", "body": "b", "scheduled_for": in_secs(7200),
               "scheduled_until": in_secs(10800), "notify": true,
               "scheduled_remind_prior": 15,
               "auto_transition_deliver_notifications_at_start": false,
               "scheduled_auto_completed": false}),
    )
    .await;
    assert_eq!(m["scheduled_remind_prior"], true);
    assert_eq!(m["scheduled_remind_prior_minutes"], 15);
    assert_eq!(m["scheduled_reminded_at"], Value::Null);
    assert_eq!(m["auto_transition_deliver_notifications_at_start"], false);
    assert_eq!(m["auto_transition_deliver_notifications_at_end"], true);
    assert_eq!(m["scheduled_auto_in_progress"], true);
    assert_eq!(m["scheduled_auto_completed"], false);
    let id = m["id"].as_str().unwrap();
    let stored = read(&app, id).await;
    assert_eq!(stored["scheduled_remind_prior_minutes"], 15);
    assert_eq!(stored["scheduled_auto_completed"], false);

    // Nothing said: a notifying maintenance is reminded at the page default (60) and tells
    // subscribers at start and end; a quiet one does neither.
    let loud = schedule(
        &app,
        json!({"name": "Loud", "body": "b", "scheduled_for": in_secs(7200),
               "scheduled_until": in_secs(10800), "notify": true}),
    )
    .await;
    assert_eq!(loud["scheduled_remind_prior_minutes"], 60);
    assert_eq!(loud["auto_transition_deliver_notifications_at_start"], true);
    assert_eq!(loud["auto_transition_deliver_notifications_at_end"], true);
    let quiet = schedule(
        &app,
        json!({"name": "Quiet", "body": "b", "scheduled_for": in_secs(7200),
               "scheduled_until": in_secs(10800)}),
    )
    .await;
    assert_eq!(quiet["scheduled_remind_prior"], false);
    assert_eq!(quiet["scheduled_remind_prior_minutes"], Value::Null);
    assert_eq!(
        quiet["auto_transition_deliver_notifications_at_start"],
        false
    );
    // `true` asks for the page default even without notify; `false` and 0 for none.
    let asked = schedule(
        &app,
        json!({"name": "Asked", "body": "b", "scheduled_for": in_secs(7200),
               "scheduled_until": in_secs(10800), "scheduled_remind_prior": true}),
    )
    .await;
    assert_eq!(asked["scheduled_remind_prior_minutes"], 60);
    let off = schedule(
        &app,
        json!({"name": "Off", "body": "b", "scheduled_for": in_secs(7200),
               "scheduled_until": in_secs(10800), "notify": true, "scheduled_remind_prior": 0}),
    )
    .await;
    assert_eq!(off["scheduled_remind_prior_minutes"], Value::Null);

    // Bad values are named and nothing is scheduled.
    let before = app.get_json("/api/v2/scheduled-maintenances.json").await
        ["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .len();
    for bad in [json!(-5), json!("soon"), json!(1.5), json!(50000)] {
        let r = app
            .api(
                "/api/admin/v1/maintenances",
                json!({"name": "Bad", "body": "b", "scheduled_for": in_secs(7200),
                       "scheduled_until": in_secs(10800), "scheduled_remind_prior": bad}),
            )
            .await;
        assert_eq!(r.status(), 422, "{bad}");
        assert!(r.text().await.unwrap().contains("scheduled_remind_prior"));
    }
    let after = app.get_json("/api/v2/scheduled-maintenances.json").await["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
}

#[tokio::test]
async fn the_reminder_is_queued_once_when_due_for_the_subscribers_who_follow_it() {
    let app = spawn_app().await;
    let db = app.create_component("Database").await;
    let web = app.create_component("Web").await;
    add_subscriber(&app, "all@example.com", None).await;
    add_subscriber(&app, "db@example.com", Some(vec![&db])).await;
    add_subscriber(&app, "web@example.com", Some(vec![&web])).await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "pending@example.com", "confirmed": false}),
        )
        .await;
    assert_eq!(r.status(), 201);

    let start = at(7200);
    let m = schedule(
        &app,
        json!({"name": "Database upgrade", "body": "Read-only for a while.",
               "scheduled_for": start.to_rfc3339(), "scheduled_until": in_secs(10800),
               "components": {db.clone(): "under_maintenance"},
               "scheduled_remind_prior": 30}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    let first = m["update_id"].as_str().unwrap().to_string();

    // The scheduler wakes for the reminder, before the start.
    let next = app.store.next_maintenance_change().await.unwrap().unwrap();
    let due = start - chrono::Duration::minutes(30);
    assert!((next - due).num_seconds().abs() <= 1, "{next} vs {due}");

    // Not yet due: nothing.
    assert!(app
        .store
        .queue_due_reminders(due - chrono::Duration::minutes(1))
        .await
        .unwrap()
        .is_empty());
    // Due: once, however often the scheduler (of however many instances) looks.
    let later = due + chrono::Duration::seconds(1);
    let queued_now = app.store.queue_due_reminders(later).await.unwrap();
    assert_eq!(queued_now.len(), 1);
    assert_eq!(queued_now[0].update_id.to_string(), first);
    assert!(app
        .store
        .queue_due_reminders(later)
        .await
        .unwrap()
        .is_empty());
    // One reminder each to the confirmed subscribers who follow the database.
    assert_eq!(queued(&app, &first, "reminder").await, 2);
    assert_eq!(queued(&app, &first, "email").await, 0);
    assert!(read(&app, &id).await["scheduled_reminded_at"].is_string());
    // The scheduler no longer wakes for it.
    let next = app.store.next_maintenance_change().await.unwrap().unwrap();
    assert!(next > due + chrono::Duration::minutes(29));
}

#[tokio::test]
async fn the_scheduler_follows_the_plan_for_start_and_end() {
    let app = spawn_app().await;
    add_subscriber(&app, "all@example.com", None).await;
    // Notifying, but quiet at the start; never completed by the scheduler.
    let m = schedule(
        &app,
        json!({"name": "Plan", "body": "b", "scheduled_for": in_secs(3600),
               "scheduled_until": in_secs(7200), "notify": true,
               "scheduled_remind_prior": false,
               "auto_transition_deliver_notifications_at_start": false,
               "scheduled_auto_completed": false}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    // A maintenance the scheduler never starts.
    let manual = schedule(
        &app,
        json!({"name": "Manual", "body": "b", "scheduled_for": in_secs(60),
               "scheduled_until": in_secs(120), "scheduled_auto_in_progress": false}),
    )
    .await;
    let manual_id = manual["id"].as_str().unwrap().to_string();

    let published = app.store.advance_maintenances(at(3700)).await.unwrap();
    assert_eq!(published.len(), 1, "only Plan starts");
    let start_update = published[0].update_id.to_string();
    let v2 = read(&app, &id).await;
    assert_eq!(v2["status"], "in_progress");
    assert_eq!(v2["incident_updates"][0]["deliver_notifications"], false);
    assert_eq!(queued(&app, &start_update, "email").await, 0);
    assert_eq!(read(&app, &manual_id).await["status"], "scheduled");

    // Past both ends: neither is moved again.
    assert!(app
        .store
        .advance_maintenances(at(8000))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(read(&app, &id).await["status"], "in_progress");
    // And the scheduler does not wake for edges it will not act on.
    assert_eq!(app.store.next_maintenance_change().await.unwrap(), None);
}

#[tokio::test]
async fn a_reschedule_is_validated_audited_and_tells_nobody_unless_asked() {
    let app = spawn_app().await;
    add_subscriber(&app, "all@example.com", None).await;
    let m = schedule(
        &app,
        json!({"name": "Network work", "body": "b", "scheduled_for": in_secs(7200),
               "scheduled_until": in_secs(10800)}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    let incident = app.open_incident(json!({"name": "Not a maintenance", "status": "investigating", "impact": "minor", "body": "b"})).await;

    // Unknown, or not a maintenance: 404.
    let r = patch(&app, "999999", json!({"scheduled_until": in_secs(20000)})).await;
    assert_eq!(r.status(), 404);
    let r = patch(
        &app,
        incident["id"].as_str().unwrap(),
        json!({"scheduled_until": in_secs(20000)}),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Bad input: 422 naming the field, nothing changed.
    for (body, field) in [
        (json!({"scheduled_for": "tomorrow"}), "scheduled_for"),
        (json!({"scheduled_until": in_secs(3600)}), "scheduled_until"),
        (
            json!({"scheduled_for": in_secs(-7200), "scheduled_until": in_secs(-3600)}),
            "scheduled_until",
        ),
        (
            json!({"scheduled_remind_prior": "x"}),
            "scheduled_remind_prior",
        ),
    ] {
        let r = patch(&app, &id, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
        assert!(r.text().await.unwrap().contains(field), "{body}");
    }
    assert_eq!(read(&app, &id).await["scheduled_for"], m["scheduled_for"]);

    // Quietly: the window moves, no update is posted, nothing is queued.
    let (new_for, new_until) = (at(14400), at(18000));
    let r = patch(
        &app,
        &id,
        json!({"scheduled_for": new_for.to_rfc3339(), "scheduled_until": new_until.to_rfc3339()}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["update_id"], Value::Null);
    let v2 = read(&app, &id).await;
    let shown: DateTime<Utc> = v2["scheduled_for"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown.timestamp(), new_for.timestamp());
    assert_eq!(v2["incident_updates"].as_array().unwrap().len(), 1);
    assert_eq!(v2["status"], "scheduled");
    let counts = app.delivery_counts(m["update_id"].as_str().unwrap()).await;
    assert_eq!(counts["channels"], json!({}));
    let audit = audit_details(&app, "maintenance.reschedule").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["old"]["scheduled_for"], m["scheduled_for"]);
    assert_eq!(audit[0]["new"]["scheduled_for"], v2["scheduled_for"]);
    assert_eq!(audit[0]["notify"], false);

    // Asked to notify: an update says so and goes to the subscriber.
    let r = patch(
        &app,
        &id,
        json!({"scheduled_until": in_secs(21600), "notify": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let update = body["update_id"].as_str().unwrap().to_string();
    let v2 = read(&app, &id).await;
    assert_eq!(v2["incident_updates"].as_array().unwrap().len(), 2);
    assert!(v2["incident_updates"][0]["body"]
        .as_str()
        .unwrap()
        .starts_with("Rescheduled: now from "));
    assert_eq!(v2["incident_updates"][0]["status"], "scheduled");
    assert_eq!(queued(&app, &update, "email").await, 1);

    // Once started, only the end can move; once completed, nothing.
    app.store.advance_maintenances(at(14500)).await.unwrap();
    assert_eq!(read(&app, &id).await["status"], "in_progress");
    let r = patch(&app, &id, json!({"scheduled_for": in_secs(15000)})).await;
    assert_eq!(r.status(), 409);
    let r = patch(&app, &id, json!({"scheduled_until": in_secs(30000)})).await;
    assert_eq!(r.status(), 200);
    app.store.advance_maintenances(at(30001)).await.unwrap();
    assert_eq!(read(&app, &id).await["status"], "completed");
    let r = patch(&app, &id, json!({"scheduled_until": in_secs(40000)})).await;
    assert_eq!(r.status(), 409);
    assert_eq!(audit_details(&app, "maintenance.reschedule").await.len(), 3);
}

#[tokio::test]
async fn a_maintenance_announced_inside_its_reminder_window_is_not_reminded_again() {
    let app = spawn_app().await;
    add_subscriber(&app, "all@example.com", None).await;
    // Announced to subscribers 20 minutes ahead, with the page's 60-minute reminder: they
    // were just told, so a "reminder" a second later would only be noise.
    let start = at(1200);
    let told = schedule(
        &app,
        json!({"name": "Told", "body": "b", "scheduled_for": start.to_rfc3339(),
               "scheduled_until": in_secs(3600), "notify": true}),
    )
    .await;
    assert_eq!(told["scheduled_remind_prior"], true);
    // The same window scheduled quietly: the reminder is the first they hear of it.
    let quiet = schedule(
        &app,
        json!({"name": "Quiet", "body": "b", "scheduled_for": start.to_rfc3339(),
               "scheduled_until": in_secs(3600), "scheduled_remind_prior": 60}),
    )
    .await;
    // Whether this call or the running scheduler gets there first, the quiet one is reminded.
    app.store
        .queue_due_reminders(chrono::Utc::now())
        .await
        .unwrap();
    let quiet_id = quiet["id"].as_str().unwrap();
    assert!(read(&app, quiet_id).await["scheduled_reminded_at"].is_string());
    let told_id = told["id"].as_str().unwrap();
    assert_eq!(
        read(&app, told_id).await["scheduled_reminded_at"],
        Value::Null
    );
    let first = told["update_id"].as_str().unwrap().to_string();
    assert_eq!(queued(&app, &first, "reminder").await, 0);
    // Nor does the scheduler wake for it.
    let next = app.store.next_maintenance_change().await.unwrap().unwrap();
    assert!(next >= start - chrono::Duration::seconds(1), "{next}");
}

#[tokio::test]
async fn moving_the_start_puts_a_sent_reminder_ahead_again() {
    let app = spawn_app().await;
    add_subscriber(&app, "all@example.com", None).await;
    let start = at(3600);
    let m = schedule(
        &app,
        json!({"name": "Reminded", "body": "b", "scheduled_for": start.to_rfc3339(),
               "scheduled_until": in_secs(7200), "scheduled_remind_prior": 30}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    let first = m["update_id"].as_str().unwrap().to_string();
    let due = start - chrono::Duration::minutes(30);
    assert_eq!(app.store.queue_due_reminders(due).await.unwrap().len(), 1);
    assert_eq!(queued(&app, &first, "reminder").await, 1);

    // A day later: the reminder is ahead again, and will go out again.
    let moved = start + chrono::Duration::days(1);
    let r = patch(
        &app,
        &id,
        json!({"scheduled_for": moved.to_rfc3339(),
               "scheduled_until": (moved + chrono::Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scheduled_reminded_at"], Value::Null);
    assert_eq!(queued(&app, &first, "reminder").await, 0);
    assert!(app.store.queue_due_reminders(due).await.unwrap().is_empty());
    let again = moved - chrono::Duration::minutes(30);
    assert_eq!(app.store.queue_due_reminders(again).await.unwrap().len(), 1);
    assert_eq!(queued(&app, &first, "reminder").await, 1);
}

#[tokio::test]
async fn a_cancelled_maintenance_completes_says_so_and_frees_its_components() {
    let app = spawn_app().await;
    add_subscriber(&app, "all@example.com", None).await;
    let db = app.create_component("Database").await;
    let m = schedule(
        &app,
        json!({"name": "Database upgrade", "body": "b", "scheduled_for": in_secs(3600),
               "scheduled_until": in_secs(7200), "components": {db.clone(): "under_maintenance"}}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    app.store.advance_maintenances(at(3700)).await.unwrap();
    let components = app.api_get("/api/admin/v1/components").await;
    assert_eq!(components["components"][0]["status"], "under_maintenance");

    let r = cancel(&app, "999999", json!({})).await;
    assert_eq!(r.status(), 404);
    let r = cancel(&app, &id, json!({"notify": "yes"})).await;
    assert_eq!(r.status(), 422);

    let r = cancel(&app, &id, json!({})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["cancelled_at"].is_string());
    let update = body["update_id"].as_str().unwrap().to_string();
    let v2 = v2_maintenance(&app, &id).await;
    assert_eq!(v2["status"], "completed");
    // (Listed by display time: the start this test moved by hand is dated an hour ahead.)
    let last = v2["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == update.as_str())
        .unwrap();
    assert_eq!(last["body"], "This maintenance has been cancelled.");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["deliver_notifications"], false);
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["components"][0]["status"], "operational");
    assert_eq!(summary["status"]["indicator"], "none");
    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert!(page.contains("Cancelled"), "{page}");
    // Quiet: nothing queued.
    assert_eq!(app.delivery_counts(&update).await["channels"], json!({}));
    let audit = audit_details(&app, "maintenance.cancel").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["notify"], false);

    // Cancelled or completed: 409, and nothing more is posted.
    let r = cancel(&app, &id, json!({})).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        read(&app, &id).await["incident_updates"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The scheduler leaves it alone.
    assert!(app
        .store
        .advance_maintenances(at(9000))
        .await
        .unwrap()
        .is_empty());

    // Cancelled with notify before it starts: subscribers hear of it, and its reminder is moot.
    let start = at(3600);
    let m = schedule(
        &app,
        json!({"name": "Called off", "body": "b", "scheduled_for": start.to_rfc3339(),
               "scheduled_until": in_secs(7200), "scheduled_remind_prior": 60}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    let r = cancel(&app, &id, json!({"notify": true})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        queued(&app, body["update_id"].as_str().unwrap(), "email").await,
        1
    );
    assert!(app
        .store
        .queue_due_reminders(start)
        .await
        .unwrap()
        .is_empty());
}

/// The acceptance test: three confirmed subscribers, a maintenance a few seconds ahead
/// inside its reminder's lead, notifying at start and end: exactly one reminder per subscriber,
/// then one start and one end notice each. On PostgreSQL two Herald instances share the
/// database and both run the scheduler and the outbox.
#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn each_subscriber_gets_one_reminder_then_one_start_and_one_end_notice() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    let postgres = app.database_url.starts_with("postgres");
    let second = if postgres {
        let url = app.database_url.clone();
        let smtp = sink.url();
        let key = app.data_dir.join("secret.key");
        Some(
            spawn_app_with(move |c| {
                c.database_url = url;
                c.smtp_url = smtp;
                c.secret_key_file = key.to_string_lossy().into_owned();
            })
            .await,
        )
    } else {
        None
    };
    let subscribers = ["ann@example.com", "bob@example.com", "cy@example.com"];
    for email in subscribers {
        add_subscriber(&app, email, None).await;
    }
    // Scheduled quietly (no "scheduled" notice), reminded a minute before: the reminder is due
    // as soon as the scheduler looks; it starts in 8 s and ends 4 s later.
    let m = schedule(
        &app,
        json!({"name": "Router swap", "body": "The edge routers are replaced.",
               "scheduled_for": in_secs(8), "scheduled_until": in_secs(12),
               "scheduled_remind_prior": 1,
               "auto_transition_deliver_notifications_at_start": true,
               "auto_transition_deliver_notifications_at_end": true}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();

    let mails = sink.wait_for(9, Duration::from_secs(40)).await;
    // A little longer, in case anything would come twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = if sink.count() > mails.len() {
        sink.messages()
    } else {
        mails
    };
    assert_eq!(
        mails.len(),
        9,
        "three messages for each of three subscribers"
    );
    for email in subscribers {
        let subjects: Vec<String> = mails
            .iter()
            .filter(|m| m.rcpt == email)
            .map(|m| m.header("Subject").unwrap_or_default())
            .collect();
        let count = |needle: &str| subjects.iter().filter(|s| s.contains(needle)).count();
        assert_eq!(
            count("Reminder: Router swap starts at"),
            1,
            "{email}: {subjects:?}"
        );
        assert_eq!(
            count("In progress: Router swap"),
            1,
            "{email}: {subjects:?}"
        );
        assert_eq!(count("Completed: Router swap"), 1, "{email}: {subjects:?}");
    }
    let reminder = mails
        .iter()
        .find(|m| m.header("Subject").unwrap_or_default().contains("Reminder"))
        .unwrap();
    assert!(reminder.text().contains("The edge routers are replaced."));
    assert_eq!(read(&app, &id).await["status"], "completed");
    assert_eq!(v2_maintenance(&app, &id).await["status"], "completed");
    // One instance's scheduler queued the reminder, once; and it says so in the audit log.
    let reminded = audit_details(&app, "maintenance.remind").await;
    assert_eq!(reminded.len(), 1, "{reminded:?}");
    assert_eq!(
        reminded[0]["update"]
            .as_i64()
            .map(|u| u.to_string())
            .as_deref(),
        m["update_id"].as_str()
    );
    drop(second);
}

#[tokio::test]
async fn the_admin_pages_schedule_with_options_reschedule_and_cancel() {
    let app = spawn_app().await;
    let browser =
        crate::browser::staff(&app, "ops@example.com", herald::domain::Role::Responder).await;
    let form = browser
        .get("/admin/maintenances/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains("name=\"remind_prior\""));
    assert!(form.contains("name=\"notify_at_start\" value=\"1\" checked"));
    let r = browser
        .post(
            "/admin/maintenances/new",
            "/admin/maintenances",
            &[
                ("name", "Kernel upgrade"),
                ("body", "Rolling restarts."),
                (
                    "scheduled_for",
                    crate::helpers::ahead("2099-03-01T10:00").as_str(),
                ),
                (
                    "scheduled_until",
                    crate::helpers::ahead("2099-03-01T11:00").as_str(),
                ),
                ("notify", "1"),
                ("remind_prior", "soon"),
                ("auto_start", "1"),
                ("auto_end", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("remind_prior"));
    let r = browser
        .post(
            "/admin/maintenances/new",
            "/admin/maintenances",
            &[
                ("name", "Kernel upgrade"),
                ("body", "Rolling restarts."),
                (
                    "scheduled_for",
                    crate::helpers::ahead("2099-03-01T10:00").as_str(),
                ),
                (
                    "scheduled_until",
                    crate::helpers::ahead("2099-03-01T11:00").as_str(),
                ),
                ("notify", "1"),
                ("remind_prior", "20"),
                ("notify_at_end", "1"),
                ("auto_start", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = r.headers()["location"].to_str().unwrap().to_string();
    let id = page
        .trim_start_matches("/admin/incidents/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let m = read(&app, &id).await;
    assert_eq!(m["scheduled_remind_prior_minutes"], 20);
    assert_eq!(m["auto_transition_deliver_notifications_at_start"], false);
    assert_eq!(m["auto_transition_deliver_notifications_at_end"], true);
    assert_eq!(m["scheduled_auto_in_progress"], true);
    assert_eq!(m["scheduled_auto_completed"], false);

    let admin_page = format!("/admin/incidents/{id}");
    let html = browser.get(&admin_page).await.text().await.unwrap();
    assert!(html.contains(&format!("/admin/maintenances/{id}/reschedule")));
    assert!(html.contains(&format!("/admin/maintenances/{id}/cancel")));
    let r = browser
        .post(
            &admin_page,
            &format!("/admin/maintenances/{id}/reschedule"),
            &[
                (
                    "scheduled_for",
                    crate::helpers::ahead("2099-03-02T10:00").as_str(),
                ),
                (
                    "scheduled_until",
                    crate::helpers::ahead("2099-03-02T09:00").as_str(),
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = browser
        .post(
            &admin_page,
            &format!("/admin/maintenances/{id}/reschedule"),
            &[
                (
                    "scheduled_for",
                    crate::helpers::ahead("2099-03-02T10:00").as_str(),
                ),
                (
                    "scheduled_until",
                    crate::helpers::ahead("2099-03-02T12:00").as_str(),
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        read(&app, &id).await["scheduled_for"],
        crate::helpers::ahead("2099-03-02T10:00:00.000Z").as_str()
    );
    assert_eq!(audit_details(&app, "maintenance.reschedule").await.len(), 1);

    let r = browser
        .post(
            &admin_page,
            &format!("/admin/maintenances/{id}/cancel"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(read(&app, &id).await["cancelled_at"].is_string());
    let public = app.get_text(&format!("/incidents/{id}")).await;
    assert!(public.contains("Cancelled"));
    // Completed: the forms are gone.
    let html = browser.get(&admin_page).await.text().await.unwrap();
    assert!(!html.contains(&format!("/admin/maintenances/{id}/cancel")));
}
