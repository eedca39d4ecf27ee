use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::spawn_app;

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

async fn wait_for_status(app: &crate::helpers::TestApp, id: &str, status: &str) -> Value {
    for _ in 0..100 {
        let all = app.get_json("/api/v2/scheduled-maintenances.json").await;
        if let Some(m) = all["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
        {
            if m["status"] == status {
                return m.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("maintenance {id} never reached {status}");
}

#[tokio::test]
async fn a_maintenance_window_starts_and_completes_on_its_own() {
    let app = spawn_app().await;
    let db = app.create_component("Database").await;
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Database upgrade", "body": "Brief read-only period.",
                   "scheduled_for": in_secs(2), "scheduled_until": in_secs(4),
                   "components": { db.clone(): "under_maintenance" }}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "scheduled");
    assert!(app.get_text("/").await.contains("Scheduled maintenance"));

    let m = wait_for_status(&app, &id, "in_progress").await;
    assert_eq!(m["incident_updates"][0]["status"], "in_progress");
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["status"]["indicator"], "maintenance");
    assert_eq!(summary["components"][0]["status"], "under_maintenance");
    let banner = app.get_json("/banner.json").await;
    assert_eq!(banner["active"][0]["kind"], "maintenance");

    let m = wait_for_status(&app, &id, "completed").await;
    assert_eq!(m["incident_updates"].as_array().unwrap().len(), 3);
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["status"]["indicator"], "none");
    assert_eq!(summary["components"][0]["status"], "operational");
    assert!(app.get_json("/banner.json").await["active"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_maintenance_that_ends_before_it_starts_is_refused() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Backwards", "body": "x", "scheduled_for": in_secs(7200), "scheduled_until": in_secs(3600)}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("scheduled_until: must be after scheduled_for"));
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Bad time", "body": "x", "scheduled_for": "tomorrow", "scheduled_until": in_secs(3600)}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(app.store.incidents().await.unwrap().is_empty());
}
