//! The `/api/v2` endpoints must read like Atlassian Statuspage's, field for field.

use serde_json::{json, Value};

use crate::helpers::spawn_app;

const PAGE_FIELDS: [&str; 5] = ["id", "name", "url", "time_zone", "updated_at"];
const COMPONENT_FIELDS: [&str; 12] = [
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
];
const INCIDENT_FIELDS: [&str; 14] = [
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
    "id",
];
const UPDATE_FIELDS: [&str; 11] = [
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
];

fn has_fields(value: &Value, fields: &[&str]) {
    for f in fields {
        assert!(value.get(f).is_some(), "field {f} missing from {value}");
    }
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn all_eight_endpoints_answer_in_statuspage_shape() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let r = app
        .api(
            "/api/admin/v1/components",
            json!({"name": "Web", "group": "Frontend", "description": "Dashboard"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    app.open_incident(
        json!({"name": "Errors", "status": "investigating", "impact": "critical", "body": "Down.",
        "components": { api.clone(): "major_outage" }}),
    )
    .await;
    app.api(
        "/api/admin/v1/maintenances",
        json!({"name": "DB upgrade", "body": "Planned.", "scheduled_for": crate::helpers::ahead("2099-01-01T00:00:00Z").as_str(),
               "scheduled_until": crate::helpers::ahead("2099-01-01T02:00:00Z").as_str(), "components": { api.clone(): "under_maintenance" }}),
    )
    .await;

    let endpoints = [
        (
            "/api/v2/summary.json",
            vec![
                "page",
                "components",
                "incidents",
                "scheduled_maintenances",
                "status",
            ],
        ),
        ("/api/v2/status.json", vec!["page", "status"]),
        ("/api/v2/components.json", vec!["page", "components"]),
        ("/api/v2/incidents.json", vec!["page", "incidents"]),
        (
            "/api/v2/incidents/unresolved.json",
            vec!["page", "incidents"],
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            vec!["page", "scheduled_maintenances"],
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            vec!["page", "scheduled_maintenances"],
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            vec!["page", "scheduled_maintenances"],
        ),
    ];
    for (path, keys) in endpoints {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "*",
            "{path} is CORS-open"
        );
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: Value = r.json().await.unwrap();
        let mut actual: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        actual.sort_unstable();
        let mut expected = keys.clone();
        expected.sort_unstable();
        assert_eq!(actual, expected, "{path}");
        has_fields(&body["page"], &PAGE_FIELDS);
        assert!(is_rfc3339(&body["page"]["updated_at"]));
    }

    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(
        summary["status"],
        json!({"indicator": "critical", "description": "Major Service Outage"})
    );
    let components = summary["components"].as_array().unwrap();
    for c in components {
        has_fields(c, &COMPONENT_FIELDS);
        let status = c["status"].as_str().unwrap();
        assert!(
            [
                "operational",
                "degraded_performance",
                "partial_outage",
                "major_outage",
                "under_maintenance"
            ]
            .contains(&status),
            "{status}"
        );
    }
    let group = components
        .iter()
        .find(|c| c["group"] == true)
        .expect("group entry");
    assert_eq!(group["name"], "Frontend");
    let web = components.iter().find(|c| c["name"] == "Web").unwrap();
    assert_eq!(web["group_id"], group["id"]);
    assert_eq!(group["components"], json!([web["id"]]));

    let incident = &summary["incidents"][0];
    has_fields(incident, &INCIDENT_FIELDS);
    assert_eq!(incident["impact"], "critical");
    assert!(is_rfc3339(&incident["created_at"]) && is_rfc3339(&incident["started_at"]));
    let update = &incident["incident_updates"][0];
    has_fields(update, &UPDATE_FIELDS);
    assert_eq!(
        update["affected_components"],
        json!([{"code": api, "name": "API", "old_status": "operational", "new_status": "major_outage"}])
    );

    let upcoming = app
        .get_json("/api/v2/scheduled-maintenances/upcoming.json")
        .await;
    let m = &upcoming["scheduled_maintenances"][0];
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["impact"], "maintenance");
    assert_eq!(
        m["scheduled_for"],
        crate::helpers::ahead("2099-01-01T00:00:00.000Z").as_str()
    );
    assert_eq!(
        m["scheduled_until"],
        crate::helpers::ahead("2099-01-01T02:00:00.000Z").as_str()
    );
    assert_eq!(summary["scheduled_maintenances"][0]["name"], "DB upgrade");
    assert!(app
        .get_json("/api/v2/scheduled-maintenances/active.json")
        .await["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(
        app.get_json("/api/v2/incidents.json").await["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i.get("scheduled_for").is_none()),
        "incidents are not maintenances"
    );
}

#[tokio::test]
async fn the_indicator_follows_components_when_no_incident_is_open() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    for (status, indicator) in [
        ("degraded_performance", "minor"),
        ("partial_outage", "major"),
        ("major_outage", "critical"),
    ] {
        let i = app
            .open_incident(
                json!({"name": "x", "status": "investigating", "impact": "none", "body": "x",
                "components": { api.clone(): status }}),
            )
            .await;
        let status_json = app.get_json("/api/v2/status.json").await;
        assert_eq!(status_json["status"]["indicator"], indicator, "{status}");
        let id = i["id"].as_str().unwrap();
        app.api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "ok"}),
        )
        .await;
    }
    let status_json = app.get_json("/api/v2/status.json").await;
    assert_eq!(
        status_json["status"],
        json!({"indicator": "none", "description": "All Systems Operational"})
    );
}
