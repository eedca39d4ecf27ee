//! Incident templates: responders manage them through the admin API, bad ones are refused
//! naming the field, and new incidents and updates start from one with `template_id`, the
//! fields given in the body winning over the template's.

use herald::domain::Role;
use serde_json::{json, Value};

use crate::browser::staff;
use crate::helpers::{spawn_app, TestApp};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(&app.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

async fn create(app: &TestApp, body: Value) -> Value {
    let r = app.api("/api/admin/v1/templates", body).await;
    assert_eq!(r.status(), 201);
    r.json().await.expect("json")
}

fn error_fields(errors: &Value) -> Vec<String> {
    errors["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().unwrap().split(':').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn responders_create_read_change_and_delete_templates_and_each_act_is_audited() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let t = create(
        &app,
        json!({"name": "API down", "title": "API unavailable", "body": "We are investigating.",
               "update_status": "identified", "components": {api.clone(): "major_outage"},
               "should_send_notifications": true, "group_id": "outages"}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["title"], "API unavailable");
    assert_eq!(t["update_status"], "identified");
    assert_eq!(
        t["components"],
        json!([{"id": api, "status": "major_outage"}])
    );
    assert_eq!(t["should_send_notifications"], true);
    assert_eq!(t["should_tweet"], false);
    assert_eq!(t["group_id"], "outages");

    let listed = app.api_get("/api/admin/v1/templates").await;
    assert_eq!(listed["templates"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.api_get(&format!("/api/admin/v1/templates/{id}")).await,
        t
    );

    let r = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/admin/v1/templates/{id}"),
        Some(json!({"body": "We know the cause.", "components": [api.clone()]})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["body"], "We know the cause.");
    assert_eq!(changed["title"], "API unavailable", "fields not given stay");
    assert_eq!(changed["components"], json!([{"id": api, "status": null}]));

    let r = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/admin/v1/templates/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    let r = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/admin/v1/templates/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status(), 404);

    let actions = app
        .store
        .query_strings("SELECT action FROM audit_log WHERE action LIKE 'template.%' ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        actions,
        ["template.create", "template.update", "template.delete"]
    );
    let details = app
        .store
        .query_strings("SELECT detail FROM audit_log WHERE action = 'template.update'")
        .await
        .unwrap();
    let detail: Value = serde_json::from_str(&details[0]).unwrap();
    assert_eq!(detail["old"]["body"], "We are investigating.");
    assert_eq!(detail["new"]["body"], "We know the cause.");
}

#[tokio::test]
async fn a_bad_template_is_refused_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/templates",
            json!({"name": "X", "title": "T", "body": "B", "update_status": "on_fire"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&r.json().await.unwrap()), ["update_status"]);

    let r = app
        .api(
            "/api/admin/v1/templates",
            json!({"name": "X", "title": "T", "body": "B", "components": {"424242": "major_outage"}}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        error_fields(&r.json().await.unwrap()),
        ["components.424242"]
    );

    let r = app
        .api("/api/admin/v1/templates", json!({"name": "", "title": "T"}))
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&r.json().await.unwrap()), ["name", "body"]);

    let listed = app.api_get("/api/admin/v1/templates").await;
    assert_eq!(listed["templates"], json!([]));

    // A change that breaks a rule leaves the template as it was.
    let t = create(&app, json!({"name": "Ok", "title": "T", "body": "B"})).await;
    let id = t["id"].as_str().unwrap();
    let r = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/admin/v1/templates/{id}"),
        Some(json!({"title": "New", "components": {"424242": null}})),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.api_get(&format!("/api/admin/v1/templates/{id}")).await,
        t
    );
    let r = send(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/v1/templates/999999",
        Some(json!({"title": "New"})),
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn incidents_and_updates_start_from_a_template_and_the_body_overrides_it() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Web").await;
    let t = create(
        &app,
        json!({"name": "API down", "title": "API unavailable", "body": "We are investigating API errors.",
               "update_status": "identified", "components": {api.clone(): "major_outage", web.clone(): null}}),
    )
    .await;
    let tid = t["id"].as_str().unwrap().to_string();

    // Everything from the template.
    let incident = app
        .open_incident(json!({"template_id": tid, "impact": "major"}))
        .await;
    assert_eq!(incident["name"], "API unavailable");
    assert_eq!(incident["status"], "identified");
    assert_eq!(
        incident["incident_updates"][0]["body"],
        "We are investigating API errors."
    );
    assert_eq!(
        incident["incident_updates"][0]["deliver_notifications"],
        false
    );
    let components = app.api_get("/api/admin/v1/components").await;
    let status_of = |c: &Value, id: &str| {
        c["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&components, &api), "major_outage");
    assert_eq!(
        status_of(&components, &web),
        "operational",
        "named without a status: unchanged"
    );

    // The body's own fields win; the rest still come from the template.
    let incident = app
        .open_incident(
            json!({"template_id": tid, "impact": "minor", "name": "API errors in EU",
                              "status": "investigating"}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    assert_eq!(incident["name"], "API errors in EU");
    assert_eq!(incident["status"], "investigating");
    assert_eq!(
        incident["incident_updates"][0]["body"],
        "We are investigating API errors."
    );

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"template_id": tid, "body": "A fix is rolling out.", "components": {api.clone(): "degraded_performance"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let update: Value = r.json().await.unwrap();
    assert_eq!(update["status"], "identified", "from the template");
    assert_eq!(update["body"], "A fix is rolling out.", "from the body");
    let components = app.api_get("/api/admin/v1/components").await;
    assert_eq!(status_of(&components, &api), "degraded_performance");

    // An unknown template is refused naming template_id, and nothing is published.
    let before = app.get_json("/api/v2/incidents.json").await;
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"template_id": "999999", "impact": "minor"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&r.json().await.unwrap()), ["template_id"]);
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"template_id": "nope", "body": "x"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_fields(&r.json().await.unwrap()), ["template_id"]);
    assert_eq!(
        app.get_json("/api/v2/incidents.json").await["incidents"],
        before["incidents"]
    );
}

#[tokio::test]
async fn a_template_that_notifies_notifies_unless_the_body_says_otherwise() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "customer@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let t = create(
        &app,
        json!({"name": "Mail", "title": "Email delayed", "body": "Emails are delayed.",
               "should_send_notifications": true}),
    )
    .await;
    let tid = t["id"].as_str().unwrap();
    let loud = app
        .open_incident(json!({"template_id": tid, "impact": "minor"}))
        .await;
    assert_eq!(loud["incident_updates"][0]["deliver_notifications"], true);
    let quiet = app
        .open_incident(json!({"template_id": tid, "impact": "minor", "notify": false}))
        .await;
    assert_eq!(quiet["incident_updates"][0]["deliver_notifications"], false);
}

#[tokio::test]
async fn templates_are_managed_on_their_page_and_prefill_the_incident_forms() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let browser = staff(&app, "responder@example.com", Role::Responder).await;
    let list = browser.get("/admin").await.text().await.unwrap();
    assert!(
        list.contains("href=\"/admin/templates\""),
        "linked in the navigation"
    );

    let component = format!("component_{api}");
    let r = browser
        .post(
            "/admin/templates",
            "/admin/templates",
            &[
                ("name", "API down"),
                ("title", "API unavailable"),
                ("update_status", "identified"),
                ("body", "We are investigating API errors."),
                (&component, "major_outage"),
                ("should_send_notifications", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let listed = app.api_get("/api/admin/v1/templates").await;
    let t = &listed["templates"][0];
    assert_eq!(t["title"], "API unavailable");
    assert_eq!(
        t["components"],
        json!([{"id": api, "status": "major_outage"}])
    );
    let tid = t["id"].as_str().unwrap().to_string();

    // Choosing it fills the new-incident form.
    let form = browser
        .get(&format!("/admin/incidents/new?template={tid}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(form.contains("value=\"API unavailable\""), "{form}");
    assert!(form.contains(">We are investigating API errors.</textarea>"));
    assert!(form.contains("<option value=\"identified\" selected>"));
    assert!(form.contains("<option value=\"major_outage\" selected>"));
    assert!(form.contains("name=\"notify\" value=\"1\" checked"));
    assert!(
        form.contains("name=\"post_to_x\" value=\"1\">"),
        "X stays off"
    );
    let fresh = browser
        .get("/admin/incidents/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(fresh.contains("Start from template"));
    assert!(!fresh.contains("API unavailable\""));

    // And the update form of an incident.
    let incident = app
        .open_incident(
            json!({"name": "Other", "status": "investigating", "impact": "minor",
                              "body": "b", "notify": false}),
        )
        .await;
    let id = incident["id"].as_str().unwrap();
    let page = browser
        .get(&format!("/admin/incidents/{id}?template={tid}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(">We are investigating API errors.</textarea>"));
    let unknown = browser.get("/admin/incidents/new?template=999999").await;
    assert_eq!(unknown.status(), 200);
    assert!(unknown.text().await.unwrap().contains("no such template"));

    // Edit, then delete.
    let edit = format!("/admin/templates/{tid}");
    let r = browser
        .post(
            &edit,
            &edit,
            &[
                ("name", "API down"),
                ("title", "API errors"),
                ("update_status", "investigating"),
                ("body", "Looking."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let t = app.api_get(&format!("/api/admin/v1/templates/{tid}")).await;
    assert_eq!(t["title"], "API errors");
    assert_eq!(t["components"], json!([]));
    let r = browser
        .post(
            &edit,
            &edit,
            &[
                ("name", "API down"),
                ("title", "T"),
                ("update_status", "broken"),
                ("body", "b"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = browser.post(&edit, &format!("{edit}/delete"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.api_get("/api/admin/v1/templates").await["templates"],
        json!([])
    );

    // Viewers see the list but cannot change it.
    let viewer = staff(&app, "viewer@example.com", Role::Viewer).await;
    assert_eq!(viewer.get("/admin/templates").await.status(), 200);
    let r = viewer
        .post(
            "/admin/templates",
            "/admin/templates",
            &[("name", "x"), ("title", "x"), ("body", "x")],
        )
        .await;
    assert_eq!(r.status(), 403);
}
