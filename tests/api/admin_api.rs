use serde_json::{json, Value};

use crate::helpers::spawn_app;
use herald::domain::{Choice, Role};

#[tokio::test]
async fn a_script_opens_updates_and_resolves_an_incident() {
    let app = spawn_app().await;
    let api_id = app.create_component("API").await;
    let created = app
        .open_incident(json!({
            "name": "Elevated error rates",
            "status": "investigating",
            "impact": "major",
            "body": "We are looking into it.",
            "components": { api_id.clone(): "partial_outage" },
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["update_id"].as_str().is_some(), "{created}");
    assert_eq!(created["status"], "investigating");
    assert_eq!(created["impact"], "major");

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "identified", "body": "A bad deploy; rolling back."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let update: Value = r.json().await.unwrap();
    assert_eq!(update["status"], "identified");
    assert_eq!(update["incident_id"], id.as_str());

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Fixed."}),
        )
        .await;
    assert_eq!(r.status(), 201);

    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["incidents"].as_array().unwrap().len(), 0);
    assert_eq!(summary["status"]["indicator"], "none");
    // Resolving put the component the incident held back to operational.
    assert_eq!(summary["components"][0]["status"], "operational");
    let incidents = app.get_json("/api/v2/incidents.json").await;
    let incident = &incidents["incidents"][0];
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["incident_updates"].as_array().unwrap().len(), 3);
    assert!(incident["resolved_at"].is_string());
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_with_401() {
    let app = spawn_app().await;
    let body = json!({"name": "X"});
    let r = app
        .http
        .post(app.url("/api/admin/v1/components"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let errors: Value = r.json().await.unwrap();
    assert!(errors["errors"][0].as_str().unwrap().contains("token"));
    let r = app
        .api_as("hrld_not-a-real-token", "/api/admin/v1/components", body)
        .await;
    assert_eq!(r.status(), 401);
    assert!(app.store.components().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_viewer_token_cannot_post() {
    let app = spawn_app().await;
    let (_, viewer) = app
        .store
        .create_api_token("dash", Role::Viewer, "tests")
        .await
        .unwrap();
    let r = app
        .api_as(&viewer, "/api/admin/v1/components", json!({"name": "API"}))
        .await;
    assert_eq!(r.status(), 403);
    assert!(app.store.components().await.unwrap().is_empty());
    let r = app
        .http
        .get(app.url("/api/admin/v1/components"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn malformed_json_is_a_400_and_a_wrong_shape_a_422_naming_the_field() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/api/admin/v1/incidents"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(r#"{"name": "Outage", "status": "investigating", "impact": "minor", "body": 42}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let errors: Value = r.json().await.unwrap();
    let message = errors["errors"][0].as_str().unwrap();
    assert!(message.contains("body"), "{message}");

    let r = app
        .http
        .post(app.url("/api/admin/v1/incidents"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Outage", "status": "investigating"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let errors: Value = r.json().await.unwrap();
    assert!(
        errors["errors"][0].as_str().unwrap().contains("impact"),
        "{errors}"
    );

    let r = app
        .api(
            "/api/admin/v1/components",
            json!({"name": "API", "colour": "red"}),
        )
        .await;
    assert_eq!(r.status(), 422, "unknown fields are refused, not ignored");
    assert!(app.store.incidents().await.unwrap().is_empty());
}

#[tokio::test]
async fn invalid_values_are_a_422_listing_every_problem_and_change_nothing() {
    let app = spawn_app().await;
    let api_id = app.create_component("API").await;
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "  ", "status": "exploding", "impact": "huge", "body": "x",
                   "components": { api_id.clone(): "on_fire" }}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let errors: Value = r.json().await.unwrap();
    let text = errors["errors"].to_string();
    for field in ["name", "status", "impact", &format!("components.{api_id}")] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    assert!(
        text.contains("investigating"),
        "the accepted values are named: {text}"
    );

    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Outage", "status": "investigating", "impact": "minor", "body": "x",
                   "components": {"999": "major_outage"}}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("components.999"));

    let huge = "x".repeat(20_001);
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Outage", "status": "investigating", "impact": "minor", "body": huge}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("body: must be at most"));

    let too_big = "x".repeat(300 * 1024);
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Outage", "status": "investigating", "impact": "minor", "body": too_big}),
        )
        .await;
    assert_eq!(r.status(), 413);

    assert!(app.store.incidents().await.unwrap().is_empty());
    assert_eq!(
        app.store.components().await.unwrap()[0].status.as_str(),
        "operational"
    );
}

#[tokio::test]
async fn an_update_with_a_maintenance_status_is_refused_on_an_incident() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(
            json!({"name": "Outage", "status": "investigating", "impact": "minor", "body": "x"}),
        )
        .await;
    let id = incident["id"].as_str().unwrap();
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "in_progress", "body": "y"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("status"));
    let r = app
        .api(
            "/api/admin/v1/incidents/9999/updates",
            json!({"status": "resolved", "body": "y"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        app.store
            .incident(id.parse().unwrap())
            .await
            .unwrap()
            .updates
            .len(),
        1
    );
}

#[tokio::test]
async fn a_backdated_update_keeps_its_display_time_and_a_future_one_is_refused() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(
            json!({"name": "Outage", "status": "investigating", "impact": "minor", "body": "x",
                              "display_at": "2026-01-05T10:00:00Z"}),
        )
        .await;
    assert_eq!(incident["started_at"], "2026-01-05T10:00:00.000Z");
    assert_eq!(
        incident["incident_updates"][0]["display_at"],
        "2026-01-05T10:00:00.000Z"
    );
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Outage", "status": "investigating", "impact": "minor", "body": "x",
                   "display_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("display_at"));
}

#[tokio::test]
async fn resolving_one_incident_gives_a_shared_component_back_to_the_one_still_open() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    app.open_incident(
        json!({"name": "Major", "status": "identified", "impact": "major", "body": "x",
        "components": { api.clone(): "partial_outage" }}),
    )
    .await;
    let minor = app
        .open_incident(
            json!({"name": "Minor", "status": "investigating", "impact": "minor", "body": "x",
            "components": { api.clone(): "degraded_performance" }}),
        )
        .await;
    let id = minor["id"].as_str().unwrap();
    app.api(
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "resolved", "body": "ok"}),
    )
    .await;
    let components = app.get_json("/api/v2/components.json").await;
    assert_eq!(
        components["components"][0]["status"], "partial_outage",
        "the open major incident still holds it"
    );
}
