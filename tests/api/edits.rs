//! Editing what was published, through the admin API: renames, update edits, deletions and a
//! component's status set outside any incident. Each shows on every public surface at once, is
//! audited with the old and the new text, notifies nobody, and bad input changes nothing.

use std::time::Duration;

use herald::domain::Role;
use serde_json::{json, Value};

use crate::browser::staff;
use crate::helpers::{spawn_app, TestApp};

async fn send(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    send_as(app, &app.token, method, path, body).await
}

async fn send_as(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// The audit details of `action`, oldest first.
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

async fn count(app: &TestApp, table: &str) -> i64 {
    app.store
        .query_strings(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await
        .unwrap()[0]
        .parse()
        .unwrap()
}

async fn errors(r: reqwest::Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["errors"].to_string()
}

/// Opens a quiet incident with a first update and returns (incident id, update id).
async fn quiet_incident(
    app: &TestApp,
    name: &str,
    body: &str,
    components: Value,
) -> (String, String) {
    let created = app
        .open_incident(
            json!({"name": name, "status": "investigating", "impact": "minor",
                              "body": body, "components": components}),
        )
        .await;
    (
        created["id"].as_str().unwrap().to_string(),
        created["update_id"].as_str().unwrap().to_string(),
    )
}

async fn post_update(app: &TestApp, incident: &str, status: &str, body: &str) -> String {
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{incident}/updates"),
            json!({"status": status, "body": body}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let update: Value = r.json().await.unwrap();
    update["id"].as_str().unwrap().to_string()
}

fn v2_incident<'a>(incidents: &'a Value, id: &str) -> Option<&'a Value> {
    incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
}

#[tokio::test]
async fn a_rename_shows_on_every_public_surface_and_is_audited_with_old_and_new() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let (id, _) = quiet_incident(&app, "Elevated errors", "Looking into it.", json!({})).await;
    post_update(&app, &id, "identified", "A bad deploy.").await;

    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{id}"),
        Some(json!({"name": "Login failures", "impact": "critical", "component_ids": [api]})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["name"], "Login failures");
    assert_eq!(answer["impact"], "critical");

    let front = app.get_text("/").await;
    assert!(front.contains("Login failures"), "{front}");
    assert!(!front.contains("Elevated errors"));
    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert!(page.contains("Login failures"));
    // The updates were re-stamped under the new name, so they are still shown.
    assert!(
        page.contains("Looking into it.") && page.contains("A bad deploy."),
        "{page}"
    );
    let incidents = app.get_json("/api/v2/incidents.json").await;
    let incident = v2_incident(&incidents, &id).expect("listed");
    assert_eq!(incident["name"], "Login failures");
    assert_eq!(incident["impact"], "critical");
    assert_eq!(incident["incident_updates"].as_array().unwrap().len(), 2);
    assert_eq!(incident["components"][0]["id"], api.as_str(), "{incident}");
    let atom = app.get_text("/history.atom").await;
    assert!(atom.contains("Login failures") && !atom.contains("Elevated errors"));

    let audit = audit_details(&app, "incident.edit").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["old"]["name"], "Elevated errors");
    assert_eq!(audit[0]["new"]["name"], "Login failures");
    assert_eq!(audit[0]["old"]["impact"], "minor");
    assert_eq!(audit[0]["new"]["impact"], "critical");
}

/// Waits until the update's audience is written into the outbox.
async fn expanded(app: &TestApp, update: &str) -> Value {
    for _ in 0..200 {
        let counts = app.delivery_counts(update).await;
        if counts["expanding"] == false && counts["channels"]["email"]["total"] == 1 {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the fan-out never finished");
}

#[tokio::test]
async fn an_edited_update_says_so_on_the_page_and_notifies_nobody() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "customer@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created = app
        .open_incident(
            json!({"name": "Slow checkout", "status": "investigating", "impact": "minor",
                              "body": "Checkout is slwo.", "notify": true}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let update = created["update_id"].as_str().unwrap().to_string();
    let before_counts = expanded(&app, &update).await;
    let (deliveries, fanouts) = (
        count(&app, "deliveries").await,
        count(&app, "fanouts").await,
    );
    let before = app.get_json("/api/v2/incidents.json").await;
    let before_updated =
        v2_incident(&before, &id).unwrap()["incident_updates"][0]["updated_at"].clone();

    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{id}/updates/{update}"),
        Some(json!({"body": "Checkout is slow."})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["body"], "Checkout is slow.");

    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert!(
        page.contains("Checkout is slow.") && !page.contains("slwo"),
        "{page}"
    );
    assert!(page.contains("Edited <time datetime="), "{page}");
    let after = app.get_json("/api/v2/incidents.json").await;
    let u = &v2_incident(&after, &id).unwrap()["incident_updates"][0];
    assert_eq!(u["body"], "Checkout is slow.");
    assert_ne!(u["updated_at"], before_updated, "updated_at moved");

    let audit = audit_details(&app, "update.edit").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["old"]["body"], "Checkout is slwo.");
    assert_eq!(audit[0]["new"]["body"], "Checkout is slow.");

    // Nothing new is queued for anyone, now or after the worker has had a look.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&app, "deliveries").await, deliveries);
    assert_eq!(count(&app, "fanouts").await, fanouts);
    let after_counts = app.delivery_counts(&update).await;
    assert_eq!(
        after_counts["channels"]["email"]["total"],
        before_counts["channels"]["email"]["total"]
    );
}

#[tokio::test]
async fn an_edit_linking_off_the_allow_list_trips_the_wire_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, update) = quiet_incident(&app, "Refunds", "We will refund you.", json!({})).await;
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{id}/updates/{update}"),
        Some(json!({"body": "Claim here: [refund](https://evil.com/claim)"})),
    )
    .await;
    assert_eq!(r.status(), 403);
    let status = app.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        status["reason"].as_str().unwrap().contains("evil.com"),
        "{status}"
    );
    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert!(page.contains("We will refund you.") && !page.contains("evil.com"));
    assert!(!page.contains("Edited"));
    assert!(audit_details(&app, "update.edit").await.is_empty());

    // A name reaches the page too.
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{id}"),
        Some(json!({"name": "Refunds at evil.com"})),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(!app.get_text("/").await.contains("evil.com"));
}

#[tokio::test]
async fn deleting_an_update_refuses_the_only_one_and_the_incident_follows_the_rest() {
    let app = spawn_app().await;
    let (id, first) = quiet_incident(&app, "Queue delays", "Delays.", json!({})).await;
    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}/updates/{first}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(errors(r).await.contains("delete the incident instead"));

    post_update(&app, &id, "identified", "Found it.").await;
    let resolved = post_update(&app, &id, "resolved", "Fixed, we think.").await;
    let incidents = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(v2_incident(&incidents, &id).unwrap()["status"], "resolved");

    // Another incident's update is not found under this one.
    let (other, _) = quiet_incident(&app, "Other", "Other.", json!({})).await;
    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{other}/updates/{resolved}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}/updates/999999"),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);

    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}/updates/{resolved}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    let incidents = app.get_json("/api/v2/incidents.json").await;
    let incident = v2_incident(&incidents, &id).unwrap();
    assert_eq!(incident["status"], "identified", "{incident}");
    assert!(incident["resolved_at"].is_null(), "{incident}");
    assert_eq!(incident["incident_updates"].as_array().unwrap().len(), 2);
    let unresolved = app.get_json("/api/v2/incidents/unresolved.json").await;
    assert!(v2_incident(&unresolved, &id).is_some(), "open again");
    assert!(!app
        .get_text(&format!("/incidents/{id}"))
        .await
        .contains("Fixed, we think."));

    let audit = audit_details(&app, "update.delete").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["body"], "Fixed, we think.");
    assert_eq!(audit[0]["status"], "resolved");
}

#[tokio::test]
async fn deleting_a_notifying_update_cancels_what_it_still_had_queued() {
    let app = spawn_app().await;
    app.api(
        "/api/admin/v1/subscribers",
        json!({"email": "customer@example.com", "confirmed": true}),
    )
    .await;
    // Paused: what the update would send stays queued.
    assert_eq!(
        app.api("/api/admin/v1/pause", json!({})).await.status(),
        200
    );
    let (id, _) = quiet_incident(&app, "Outage", "Down.", json!({})).await;
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "identified", "body": "Sent by mistake.", "notify": true}),
        )
        .await;
    let update: Value = r.json().await.unwrap();
    let update = update["id"].as_str().unwrap().to_string();
    assert_eq!(count(&app, "fanouts").await, 1);
    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}/updates/{update}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(count(&app, "fanouts").await, 0, "nothing left to send");
    assert_eq!(
        app.api("/api/admin/v1/resume", json!({})).await.status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&app, "deliveries").await,
        0,
        "nothing went out after the resume"
    );
}

#[tokio::test]
async fn only_an_admin_deletes_an_incident_and_its_components_recover() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Web").await;
    let (id, _) = quiet_incident(
        &app,
        "Everything is down",
        "Down.",
        json!({api.clone(): "major_outage", web.clone(): "major_outage"}),
    )
    .await;
    // Another open incident holds Web in a partial outage.
    quiet_incident(
        &app,
        "Web is slow",
        "Slow.",
        json!({web.clone(): "partial_outage"}),
    )
    .await;

    let (_, responder) = app
        .store
        .create_api_token("responder", Role::Responder, "tests")
        .await
        .unwrap();
    let r = send_as(
        &app,
        &responder,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.get(&format!("/incidents/{id}")).await.status(),
        200,
        "still there"
    );

    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.get(&format!("/incidents/{id}")).await.status(), 404);
    let incidents = app.get_json("/api/v2/incidents.json").await;
    assert!(v2_incident(&incidents, &id).is_none());
    let summary = app.get_json("/api/v2/summary.json").await;
    let status_of = |cid: &str| {
        summary["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == cid)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&api), "operational");
    assert_eq!(
        status_of(&web),
        "partial_outage",
        "held by the other incident"
    );

    let audit = audit_details(&app, "incident.delete").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["name"], "Everything is down");
    assert_eq!(audit[0]["updates"][0]["body"], "Down.");
    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/incidents/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_component_status_set_outside_any_incident_shows_at_once() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/components/{api}"),
        Some(json!({"status": "degraded_performance", "description": "The REST API"})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], "degraded_performance");
    assert_eq!(answer["description"], "The REST API");

    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["components"][0]["status"], "degraded_performance");
    assert_eq!(summary["status"]["indicator"], "minor");
    let front = app.get_text("/").await;
    assert!(front.contains("status-degraded_performance"), "{front}");
    let audit = audit_details(&app, "component.status").await;
    assert_eq!(
        audit,
        [json!({"old": "operational", "new": "degraded_performance"})]
    );

    let r = send(
        &app,
        "DELETE",
        &format!("/api/admin/v1/components/{api}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert!(app.get_json("/api/v2/components.json").await["components"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn bad_edits_name_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let (id, update) = quiet_incident(&app, "Original", "Original body.", json!({})).await;
    let incident_path = format!("/api/admin/v1/incidents/{id}");
    let update_path = format!("{incident_path}/updates/{update}");

    for path in [
        "/api/admin/v1/incidents/999999",
        "/api/admin/v1/incidents/abc",
    ] {
        let r = send(&app, "PATCH", path, Some(json!({"name": "X"}))).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = send(
        &app,
        "PATCH",
        "/api/admin/v1/components/999999",
        Some(json!({"status": "major_outage"})),
    )
    .await;
    assert_eq!(r.status(), 404);
    let r = send(
        &app,
        "PATCH",
        &format!("{incident_path}/updates/999999"),
        Some(json!({"body": "x"})),
    )
    .await;
    assert_eq!(r.status(), 404);

    let cases = [
        (incident_path.as_str(), json!({"name": "  "}), "name"),
        (incident_path.as_str(), json!({"impact": "huge"}), "impact"),
        (
            incident_path.as_str(),
            json!({"component_ids": ["999999"]}),
            "components",
        ),
        (
            incident_path.as_str(),
            json!({"name": "Fine", "component_ids": [api.clone(), "999999"]}),
            "components",
        ),
        (update_path.as_str(), json!({"body": ""}), "body"),
        (
            update_path.as_str(),
            json!({"display_at": "2999-01-01T00:00:00Z"}),
            "display_at",
        ),
        (
            update_path.as_str(),
            json!({"display_at": "yesterday"}),
            "display_at",
        ),
    ];
    for (path, body, field) in cases {
        let r = send(&app, "PATCH", path, Some(body.clone())).await;
        assert_eq!(r.status(), 422, "{body}");
        let e = errors(r).await;
        assert!(e.contains(&format!("{field}:")), "{body}: {e}");
    }
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/components/{api}"),
        Some(json!({"status": "down", "name": "Renamed"})),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(errors(r).await.contains("status:"));
    let r = send(&app, "PATCH", &incident_path, Some(json!({"title": "x"}))).await;
    assert_eq!(r.status(), 422, "unknown fields are refused");

    // A maintenance's impact stays "maintenance".
    let m = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "DB upgrade", "body": "b", "scheduled_for": crate::helpers::ahead("2099-01-01T10:00:00Z").as_str(),
                   "scheduled_until": crate::helpers::ahead("2099-01-01T11:00:00Z").as_str()}),
        )
        .await;
    let m: Value = m.json().await.unwrap();
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{}", m["id"].as_str().unwrap()),
        Some(json!({"impact": "major"})),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(errors(r).await.contains("impact:"));

    let incident = app.api_get(&incident_path).await;
    assert_eq!(incident["name"], "Original");
    assert_eq!(incident["impact"], "minor");
    assert!(
        incident["components"].as_array().unwrap().is_empty(),
        "{incident}"
    );
    assert_eq!(incident["incident_updates"][0]["body"], "Original body.");
    let components = app.get_json("/api/v2/components.json").await;
    assert_eq!(components["components"][0]["name"], "API");
    assert_eq!(components["components"][0]["status"], "operational");
    for action in [
        "incident.edit",
        "update.edit",
        "component.status",
        "component.update",
    ] {
        assert!(audit_details(&app, action).await.is_empty(), "{action}");
    }
}

#[tokio::test]
async fn moving_an_update_in_time_keeps_the_incident_start_at_its_first_update() {
    let app = spawn_app().await;
    let created = app
        .open_incident(
            json!({"name": "Backfilled", "status": "investigating", "impact": "minor",
                              "body": "Began.", "display_at": "2026-01-01T10:00:00Z"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let update = created["update_id"].as_str().unwrap().to_string();
    post_update(&app, &id, "identified", "Found.").await;
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{id}/updates/{update}"),
        Some(json!({"display_at": "2026-01-01T09:30:00Z"})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let incidents = app.get_json("/api/v2/incidents.json").await;
    let incident = v2_incident(&incidents, &id).unwrap();
    assert_eq!(
        incident["started_at"], "2026-01-01T09:30:00.000Z",
        "{incident}"
    );
    assert_eq!(incident["status"], "identified");
    let audit = audit_details(&app, "update.edit").await;
    assert_eq!(audit[0]["old"]["display_at"], "2026-01-01T10:00:00.000Z");
    assert_eq!(audit[0]["new"]["display_at"], "2026-01-01T09:30:00.000Z");
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn staff_edit_and_delete_from_the_admin_pages() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let (id, first) = quiet_incident(&app, "Slow search", "Search is slwo.", json!({})).await;
    let second = post_update(&app, &id, "identified", "An index is missing.").await;
    let responder = staff(&app, "responder@example.com", Role::Responder).await;

    let page = responder
        .get(&format!("/admin/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/admin/updates/{first}/edit")),
        "{page}"
    );
    assert!(page.contains(&format!("/admin/incidents/{id}/edit")));
    let edit_page = format!("/admin/updates/{first}/edit");
    let form = responder.get(&edit_page).await.text().await.unwrap();
    assert!(form.contains("Search is slwo."));
    let shown_time = hidden_value(&form, "display_at");
    let r = responder
        .post(
            &edit_page,
            &edit_page,
            &[
                ("body", "Search is slow."),
                ("display_at", &shown_time),
                ("custom_tweet", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(&format!("/admin/incidents/{id}")));
    let public = app.get_text(&format!("/incidents/{id}")).await;
    assert!(
        public.contains("Search is slow.") && public.contains("Edited"),
        "{public}"
    );
    let audit = audit_details(&app, "update.edit").await;
    assert_eq!(
        audit[0]["old"]["display_at"], audit[0]["new"]["display_at"],
        "the time was left as shown"
    );

    // Rename and link the component.
    let edit_incident = format!("/admin/incidents/{id}/edit");
    let r = responder
        .post(
            &edit_incident,
            &edit_incident,
            &[
                ("name", "Search outage"),
                ("impact", "major"),
                ("components_shown", "1"),
                ("components", &api),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let incident = app.api_get(&format!("/api/admin/v1/incidents/{id}")).await;
    assert_eq!(incident["name"], "Search outage");
    assert_eq!(incident["components"][0]["id"], api.as_str());

    // A component's status, straight from the list.
    let r = responder
        .post(
            "/admin/components",
            &format!("/admin/components/{api}/status"),
            &[("status", "major_outage")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["components"][0]["status"], "major_outage");

    // Deleting needs the box ticked.
    let delete_update = format!("/admin/updates/{second}/delete");
    let r = responder
        .post(
            &format!("/admin/updates/{second}/edit"),
            &delete_update,
            &[],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(app
        .get_text(&format!("/incidents/{id}"))
        .await
        .contains("An index is missing."));
    let r = responder
        .post(
            &format!("/admin/updates/{second}/edit"),
            &delete_update,
            &[("confirm", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(!app
        .get_text(&format!("/incidents/{id}"))
        .await
        .contains("An index is missing."));

    // Only an admin deletes the incident.
    let r = responder
        .post(
            &edit_incident,
            &format!("/admin/incidents/{id}/delete"),
            &[("confirm", "1")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let admin = staff(&app, "admin@example.com", Role::Admin).await;
    let r = admin
        .post(
            &edit_incident,
            &format!("/admin/incidents/{id}/delete"),
            &[("confirm", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&format!("/incidents/{id}")).await.status(), 404);
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(
        summary["components"][0]["status"], "operational",
        "the incident held it"
    );
}

/// The value of the first input named `name`.
fn hidden_value(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap();
    let rest = &html[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end].to_string()
}

#[tokio::test]
async fn an_incident_changed_in_the_database_is_not_made_genuine_by_an_edit() {
    let app = spawn_app().await;
    let (id, first) = quiet_incident(&app, "Honest name", "Honest body.", json!({})).await;
    post_update(&app, &id, "identified", "Second.").await;
    app.store
        .execute_admin(&format!(
            "UPDATE incidents SET name = 'Claim your refund at refunds.example.com' WHERE id = {id}"
        ))
        .await
        .unwrap();
    let incident_path = format!("/api/admin/v1/incidents/{id}");
    for (method, path, body) in [
        (
            "PATCH",
            incident_path.clone(),
            Some(json!({"impact": "major"})),
        ),
        (
            "PATCH",
            format!("{incident_path}/updates/{first}"),
            Some(json!({"body": "Edited."})),
        ),
        ("DELETE", format!("{incident_path}/updates/{first}"), None),
    ] {
        let r = send(&app, method, &path, body).await;
        assert_eq!(r.status(), 409, "{method} {path}");
    }
    // Any change rebuilds the public pages: the incident stays hidden.
    app.create_component("Wake").await;
    assert_eq!(
        app.get(&format!("/incidents/{id}")).await.status(),
        404,
        "still hidden"
    );
    assert!(!app.get_text("/").await.contains("refund"));
    assert!(audit_details(&app, "incident.edit").await.is_empty());
    // An admin can still remove it.
    let r = send(&app, "DELETE", &incident_path, None).await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_component_changed_in_the_database_gets_no_status_and_stays_hidden() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    app.store
        .execute_admin(&format!(
            "UPDATE components SET name = 'Pay at evil.example' WHERE id = {api}"
        ))
        .await
        .unwrap();
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/components/{api}"),
        Some(json!({"status": "major_outage"})),
    )
    .await;
    assert_eq!(r.status(), 409);
    app.create_component("Wake").await;
    let components = app.get_json("/api/v2/components.json").await;
    assert_eq!(
        components["components"].as_array().unwrap().len(),
        1,
        "{components}"
    );
    assert_eq!(components["components"][0]["name"], "Wake");
    assert!(audit_details(&app, "component.status").await.is_empty());
}

#[tokio::test]
async fn a_change_remakes_only_the_pages_it_touches_and_a_component_rename_every_page_naming_it() {
    let app = spawn_app().await;
    let db = app.create_component("Database").await;
    let (first, _) = quiet_incident(
        &app,
        "Slow queries",
        "Looking.",
        json!({ db.clone(): "degraded_performance" }),
    )
    .await;
    post_update(&app, &first, "resolved", "Fixed.").await;
    let (second, _) = quiet_incident(&app, "Login errors", "Looking.", json!({})).await;
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_string();
    let first_page = etag(&app.get(&format!("/incidents/{first}")).await);
    let second_page = etag(&app.get(&format!("/incidents/{second}")).await);

    // An update to the second incident leaves the first one's page as it was.
    post_update(&app, &second, "identified", "A bad certificate.").await;
    assert_eq!(
        etag(&app.get(&format!("/incidents/{first}")).await),
        first_page
    );
    let r = app.get(&format!("/incidents/{second}")).await;
    assert_ne!(etag(&r), second_page);
    assert!(r.text().await.unwrap().contains("A bad certificate."));

    // An edit of the first one's old update remakes its page.
    let update_id = app
        .store
        .incident(first.parse().unwrap())
        .await
        .unwrap()
        .updates[0]
        .id;
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/incidents/{first}/updates/{update_id}"),
        Some(json!({"body": "Fixed by an index."})),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let page = app.get_text(&format!("/incidents/{first}")).await;
    assert!(page.contains("Fixed by an index."), "{page}");

    // Renaming the component remakes the page that lists it.
    let r = send(
        &app,
        "PATCH",
        &format!("/api/admin/v1/components/{db}"),
        Some(json!({"name": "Primary database"})),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let page = app.get_text(&format!("/incidents/{first}")).await;
    assert!(page.contains("Affects: Primary database"), "{page}");

    // A row changed in the database directly is read again (its revision moved) and, carrying
    // no valid stamp, held back from the page.
    app.store
        .execute_admin(&format!(
            "UPDATE incident_updates SET body = 'Forged text.' WHERE id = {update_id}"
        ))
        .await
        .unwrap();
    // A change through Herald wakes the page cache; it reads the forged row with it.
    post_update(&app, &second, "monitoring", "Watching.").await;
    let page = app.get_text(&format!("/incidents/{first}")).await;
    assert!(!page.contains("Forged text."), "{page}");
}
