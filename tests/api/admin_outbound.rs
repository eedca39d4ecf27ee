use herald::domain::Role;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn a_responder_pauses_everything_and_only_an_admin_resumes() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("oncall@example.com", Role::Responder, PASSWORD)
        .await;
    app.sign_in(&email, PASSWORD).await;
    let r = app
        .post_form("/admin", "/admin/pause", &[("reason", "Suspicious posts")])
        .await;
    assert_eq!(r.status(), 303);
    let state = app.store.outbound_state().await.unwrap();
    assert!(state.paused);
    assert_eq!(state.reason, "Suspicious posts");
    assert_eq!(state.changed_by, "staff:oncall@example.com");
    let page = app.get_text("/admin/components").await;
    assert!(
        page.contains("Outbound sending is paused."),
        "every admin page shows it"
    );

    let r = app.post_form("/admin", "/admin/resume", &[]).await;
    assert_eq!(r.status(), 403);
    assert!(app.store.outbound_state().await.unwrap().paused);
    let r = app.api("/api/admin/v1/resume", json!({})).await;
    assert_eq!(r.status(), 200, "the admin token may resume");
    assert!(!app.store.outbound_state().await.unwrap().paused);
}

#[tokio::test]
async fn the_status_endpoint_reports_the_pause_and_its_reason() {
    let app = spawn_app().await;
    let r = app
        .api("/api/admin/v1/pause", json!({"reason": "incident"}))
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["paused"], true);
    let status = app.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], true);
    assert_eq!(status["reason"], "incident");
}

#[tokio::test]
async fn publishing_with_notify_queues_one_delivery_per_confirmed_subscriber_of_the_components() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    for (email, components, confirmed) in [
        ("all@example.com", None, true),
        ("api@example.com", Some(vec![api.clone()]), true),
        ("web@example.com", Some(vec![web.clone()]), true),
        ("unconfirmed@example.com", None, false),
    ] {
        let mut body = json!({"email": email, "confirmed": confirmed});
        if let Some(c) = components {
            body["components"] = json!(c);
        }
        assert_eq!(
            app.api("/api/admin/v1/subscribers", body).await.status(),
            201
        );
    }
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "all@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = app
        .api("/api/admin/v1/subscribers", json!({"email": "bad address"}))
        .await;
    assert_eq!(r.status(), 422);

    app.api("/api/admin/v1/pause", json!({})).await;
    let incident = app
        .open_incident(
            json!({"name": "API errors", "status": "investigating", "impact": "minor", "body": "x",
            "components": { api.clone(): "partial_outage" }, "notify": true}),
        )
        .await;
    let update_id = incident["update_id"].as_str().unwrap();
    // The kill switch holds the fan-out too: nothing is written to the outbox while paused.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let counts = app.delivery_counts(update_id).await;
    assert_eq!(counts["expanding"], true, "{counts}");
    assert_eq!(counts["channels"], json!({}), "{counts}");

    // With no mail server configured, what the resume queues stays pending.
    app.api("/api/admin/v1/resume", json!({})).await;
    let started = std::time::Instant::now();
    let counts = loop {
        let counts = app.delivery_counts(update_id).await;
        if counts["expanding"] == false {
            break counts;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{counts}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        counts["channels"]["email"]["total"], 2,
        "all@ and api@, not web@ nor the unconfirmed: {counts}"
    );
    assert_eq!(counts["channels"]["email"]["pending"], 2);

    let quiet = app
        .open_incident(
            json!({"name": "Quiet", "status": "investigating", "impact": "minor", "body": "x"}),
        )
        .await;
    let update_id = quiet["update_id"].as_str().unwrap();
    let counts = app.delivery_counts(update_id).await;
    assert_eq!(counts["channels"], json!({}), "notify off queues nothing");
}

#[tokio::test]
async fn only_admins_export_subscribers() {
    let app = spawn_app().await;
    app.api(
        "/api/admin/v1/subscribers",
        json!({"email": "a@example.com", "confirmed": true}),
    )
    .await;
    let responder = app
        .enrolled_staff("r@example.com", Role::Responder, PASSWORD)
        .await;
    app.sign_in(&responder, PASSWORD).await;
    assert_eq!(app.get("/admin/subscribers/export.csv").await.status(), 403);
    let page = app.get_text("/admin/subscribers?q=a%40").await;
    assert!(
        page.contains("1 confirmed"),
        "counts, but addresses are for admins"
    );
    assert!(!page.contains("a@example.com"));
    let admin = app
        .enrolled_staff("boss@example.com", Role::Admin, PASSWORD)
        .await;
    app.sign_in(&admin, PASSWORD).await;
    let r = app.get("/admin/subscribers/export.csv").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text()
            .await
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap(),
        "a@example.com"
    );
}
