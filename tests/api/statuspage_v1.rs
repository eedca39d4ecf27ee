//! Statuspage's management API under `/v1`: the paths, bodies (JSON and bracket forms), status
//! codes, shapes and `{"error": …}` errors that scripts written for Statuspage rely on.

use herald::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// The install's page id, as `/v1/pages` gives it.
async fn page_id(app: &TestApp) -> String {
    let r = app
        .http
        .get(app.url("/v1/pages"))
        .header("Authorization", format!("OAuth {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pages: Value = r.json().await.unwrap();
    pages[0]["id"].as_str().unwrap().to_string()
}

/// One call to `/v1/pages/{page}{path}` with the harness's admin token.
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_as(app, &app.token, method, path, body).await
}

async fn call_as(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let page = page_id(app).await;
    let mut request = app
        .http
        .request(method, app.url(&format!("/v1/pages/{page}{path}")))
        .header("Authorization", format!("OAuth {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, value)
}

/// A form-encoded call, as `curl -d "incident[name]=…"` sends it.
async fn call_form(app: &TestApp, method: reqwest::Method, path: &str, form: &str) -> (u16, Value) {
    let page = page_id(app).await;
    let r = app
        .http
        .request(method, app.url(&format!("/v1/pages/{page}{path}")))
        .header("Authorization", format!("OAuth {}", app.token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

use reqwest::Method;

#[tokio::test]
async fn pages_answer_the_installs_one_page_and_refuse_any_other_page_id() {
    let app = spawn_app().await;
    let id = page_id(&app).await;
    let v2 = app.get_json("/api/v2/status.json").await;
    assert_eq!(v2["page"]["id"], id, "the same page id as /api/v2");
    let (status, page) = call(&app, Method::GET, "", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["id"], id);
    assert_eq!(page["name"], "Acme Status");
    assert_eq!(page["time_zone"], "Etc/UTC");

    for path in ["/v1/pages/nosuchpage", "/v1/pages/nosuchpage/components"] {
        let r = app
            .http
            .get(app.url(path))
            .header("Authorization", format!("OAuth {}", app.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("page"), "{body}");
    }
}

#[tokio::test]
async fn without_a_valid_token_every_call_is_401_and_a_viewer_cannot_write() {
    let app = spawn_app().await;
    let page = page_id(&app).await;
    let url = app.url(&format!("/v1/pages/{page}/components"));
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    let r = app
        .http
        .get(&url)
        .header("Authorization", "OAuth not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Herald's own Bearer scheme works here too.
    let r = app
        .http
        .get(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (_, viewer) = app
        .store
        .create_api_token("viewer", Role::Viewer, "tests")
        .await
        .unwrap();
    let (status, _) = call_as(&app, &viewer, Method::GET, "/components", None).await;
    assert_eq!(status, 200, "a viewer reads");
    let (status, body) = call_as(
        &app,
        &viewer,
        Method::POST,
        "/components",
        Some(json!({"component": {"name": "API"}})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("role"), "{body}");
    let (status, _) = call_as(&app, &viewer, Method::GET, "/subscribers", None).await;
    assert_eq!(status, 403, "subscriber addresses need an admin token");
    let (status, list) = call(&app, Method::GET, "/components", None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([]), "the viewer's create changed nothing");
}

#[tokio::test]
async fn components_are_created_read_changed_and_deleted_as_statuspage_does() {
    let app = spawn_app().await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/components",
        Some(json!({"component": {"name": "API", "description": "The public API", "status": "operational"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    for field in [
        "id",
        "page_id",
        "group_id",
        "created_at",
        "updated_at",
        "group",
        "name",
        "description",
        "position",
        "status",
        "showcase",
        "only_show_if_degraded",
        "automation_email",
        "start_date",
    ] {
        assert!(
            created.get(field).is_some(),
            "{field} missing from {created}"
        );
    }
    assert_eq!(created["name"], "API");
    assert_eq!(created["description"], "The public API");
    assert_eq!(created["status"], "operational");
    assert_eq!(created["page_id"], page_id(&app).await);

    let (status, got) = call(&app, Method::GET, &format!("/components/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "API");

    // A form body, as curl sends it.
    let (status, patched) = call_form(
        &app,
        Method::PATCH,
        &format!("/components/{id}"),
        "component%5Bname%5D=Public+API&component%5Bdescription%5D=Renamed",
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Public API");
    assert_eq!(patched["description"], "Renamed");
    let v2 = app.get_json("/api/v2/components.json").await;
    assert_eq!(v2["components"][0]["name"], "Public API", "public at once");

    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/components/{id}"),
        Some(json!({"component": {"name": ""}})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("name"), "{body}");
    let (status, body) = call(&app, Method::GET, "/components/999999", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, _) = call(&app, Method::GET, "/components/not-a-number", None).await;
    assert_eq!(status, 404);

    let (status, body) = call(&app, Method::DELETE, &format!("/components/{id}"), None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = call(&app, Method::GET, &format!("/components/{id}"), None).await;
    assert_eq!(status, 404);
    let actions = app
        .store
        .query_strings("SELECT action FROM audit_log ORDER BY id")
        .await
        .unwrap();
    for action in ["component.create", "component.update", "component.delete"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn groups_move_their_members_and_keep_their_id_through_a_rename() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    let (status, group) = call(
        &app,
        Method::POST,
        "/component-groups",
        Some(json!({"description": "Customer-facing", "component_group": {"name": "Frontend", "components": [api, web]}})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap().to_string();
    assert!(gid.starts_with('g') && gid.len() == 12, "{gid}");
    assert_eq!(group["name"], "Frontend");
    assert_eq!(group["description"], "Customer-facing");
    assert_eq!(group["components"], json!([api, web]));

    let (_, component) = call(&app, Method::GET, &format!("/components/{api}"), None).await;
    assert_eq!(component["group_id"], gid);
    let v2 = app.get_json("/api/v2/components.json").await;
    let public_group = v2["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == true)
        .cloned()
        .unwrap();
    assert_eq!(public_group["id"], gid, "/api/v2 and /v1 agree: {v2}");
    assert_eq!(public_group["name"], "Frontend");

    // Rename and drop a member, as a form.
    let (status, renamed) = call_form(
        &app,
        Method::PATCH,
        &format!("/component-groups/{gid}"),
        &format!("component_group%5Bname%5D=Web+tier&component_group%5Bcomponents%5D%5B%5D={web}"),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["id"], gid);
    assert_eq!(renamed["name"], "Web tier");
    assert_eq!(renamed["components"], json!([web]));
    let (_, api_now) = call(&app, Method::GET, &format!("/components/{api}"), None).await;
    assert_eq!(api_now["group_id"], Value::Null);
    let v2 = app.get_json("/api/v2/components.json").await;
    let names: Vec<&str> = v2["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Web tier"),
        "members re-stamped and shown: {names:?}"
    );
    assert!(
        names.contains(&"API") && names.contains(&"Website"),
        "{names:?}"
    );
    let renamed_public = v2["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == true)
        .cloned()
        .unwrap();
    assert_eq!(renamed_public["id"], gid, "a rename keeps the public id");

    let (status, list) = call(&app, Method::GET, "/component-groups", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, body) = call(
        &app,
        Method::POST,
        "/component-groups",
        Some(json!({"component_group": {"name": "Web tier"}})),
    )
    .await;
    assert_eq!(status, 422, "names are unique: {body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/component-groups",
        Some(json!({"component_group": {"name": "Ghosts", "components": ["999999"]}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = call(&app, Method::GET, "/component-groups/gnosuchgroup", None).await;
    assert_eq!(status, 404);

    let (status, deleted) = call(
        &app,
        Method::DELETE,
        &format!("/component-groups/{gid}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(deleted["name"], "Web tier");
    let (_, web_now) = call(&app, Method::GET, &format!("/components/{web}"), None).await;
    assert_eq!(web_now["group_id"], Value::Null, "members stay, ungrouped");
    let v2 = app.get_json("/api/v2/components.json").await;
    assert_eq!(v2["components"].as_array().unwrap().len(), 2, "{v2}");
}

#[tokio::test]
async fn a_realtime_incident_from_a_form_sets_its_components_and_reads_back() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    let form = format!(
        "incident%5Bname%5D=Database+down&incident%5Bstatus%5D=identified&incident%5Bbody%5D=We+found+it\
         &incident%5Bcomponents%5D%5B{api}%5D=major_outage&incident%5Bcomponent_ids%5D%5B%5D={web}\
         &incident%5Bdeliver_notifications%5D=false"
    );
    let (status, incident) = call_form(&app, Method::POST, "/incidents", &form).await;
    assert_eq!(status, 201, "{incident}");
    assert_eq!(incident["name"], "Database down");
    assert_eq!(incident["status"], "identified");
    assert_eq!(incident["impact"], "critical", "a major outage is critical");
    assert_eq!(incident["incident_updates"][0]["body"], "We found it");
    assert_eq!(
        incident["incident_updates"][0]["deliver_notifications"],
        false
    );
    let component_ids: Vec<&str> = incident["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(component_ids.contains(&api.as_str()) && component_ids.contains(&web.as_str()));
    for field in [
        "impact_override",
        "metadata",
        "postmortem_body",
        "postmortem_published_at",
        "scheduled_for",
        "scheduled_until",
        "scheduled_remind_prior",
        "shortlink",
    ] {
        assert!(
            incident.get(field).is_some(),
            "{field} missing from {incident}"
        );
    }
    let (_, api_now) = call(&app, Method::GET, &format!("/components/{api}"), None).await;
    assert_eq!(api_now["status"], "major_outage");
    let (_, web_now) = call(&app, Method::GET, &format!("/components/{web}"), None).await;
    assert_eq!(
        web_now["status"], "operational",
        "named by id only: unchanged"
    );

    let id = incident["id"].as_str().unwrap();
    let (status, got) = call(&app, Method::GET, &format!("/incidents/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "Database down");
    let (_, unresolved) = call(&app, Method::GET, "/incidents/unresolved", None).await;
    assert_eq!(unresolved.as_array().unwrap().len(), 1);
    assert_eq!(unresolved[0]["id"], id);
    let (status, _) = call(&app, Method::GET, "/incidents/424242", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn scheduled_and_backfilled_incidents_land_where_statuspage_lists_them() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let (status, maintenance) = call(
        &app,
        Method::POST,
        "/incidents",
        Some(json!({"incident": {
            "name": "Database upgrade",
            "status": "scheduled",
            "scheduled_for": crate::helpers::ahead("2099-01-01T10:00:00Z").as_str(),
            "scheduled_until": crate::helpers::ahead("2099-01-01T12:00:00Z").as_str(),
            "body": "We will upgrade the database.",
            "component_ids": [api],
            "deliver_notifications": false,
        }})),
    )
    .await;
    assert_eq!(status, 201, "{maintenance}");
    assert_eq!(maintenance["status"], "scheduled");
    assert_eq!(maintenance["impact"], "maintenance");
    assert_eq!(
        maintenance["scheduled_for"],
        crate::helpers::ahead("2099-01-01T10:00:00.000Z").as_str()
    );
    assert_eq!(
        maintenance["scheduled_until"],
        crate::helpers::ahead("2099-01-01T12:00:00.000Z").as_str()
    );
    let mid = maintenance["id"].as_str().unwrap();
    for path in ["/incidents/upcoming", "/incidents/scheduled"] {
        let (_, list) = call(&app, Method::GET, path, None).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{path}: {list}");
        assert_eq!(list[0]["id"], mid);
    }
    let (_, active) = call(&app, Method::GET, "/incidents/active_maintenance", None).await;
    assert_eq!(active, json!([]));

    let (status, backfilled) = call(
        &app,
        Method::POST,
        "/incidents",
        Some(json!({"incident": {
            "name": "Last month's outage",
            "backfilled": true,
            "backfill_date": "2024-03-05",
            "body": "Logins failed for an hour.",
            "impact_override": "major",
        }})),
    )
    .await;
    assert_eq!(status, 201, "{backfilled}");
    assert_eq!(backfilled["status"], "resolved");
    assert_eq!(backfilled["impact"], "major");
    assert!(
        backfilled["started_at"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-05"),
        "{backfilled}"
    );
    assert_eq!(
        backfilled["incident_updates"][0]["deliver_notifications"],
        false
    );
    let (_, unresolved) = call(&app, Method::GET, "/incidents/unresolved", None).await;
    assert_eq!(unresolved, json!([]), "a backfilled incident is over");

    let (status, body) = call(
        &app,
        Method::POST,
        "/incidents",
        Some(json!({"incident": {"name": "x", "scheduled_for": crate::helpers::ahead("2099-01-01T10:00:00Z").as_str(), "scheduled_until": crate::helpers::ahead("2098-01-01T10:00:00Z").as_str()}})),
    )
    .await;
    assert_eq!(status, 422, "ends before it starts: {body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/incidents",
        Some(json!({"incident": {"name": "x", "backfilled": true}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("backfill_date"));
}

#[tokio::test]
async fn the_incident_list_searches_with_q_and_pages_with_limit() {
    let app = spawn_app().await;
    for name in ["Login failures", "Slow search", "Login slowness"] {
        let (status, _) = call(
            &app,
            Method::POST,
            "/incidents",
            Some(json!({"incident": {"name": name, "body": format!("About {name}"), "deliver_notifications": false}})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (_, all) = call(&app, Method::GET, "/incidents", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, logins) = call(&app, Method::GET, "/incidents?q=login", None).await;
    let names: Vec<&str> = logins
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("Login")));
    let (_, by_body) = call(
        &app,
        Method::GET,
        "/incidents?q=about%20slow%20search",
        None,
    )
    .await;
    assert_eq!(by_body.as_array().unwrap().len(), 1);
    let (_, first) = call(&app, Method::GET, "/incidents?limit=2&page=1", None).await;
    let (_, second) = call(&app, Method::GET, "/incidents?limit=2&page=2", None).await;
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(second.as_array().unwrap().len(), 1);
    assert_ne!(first[0]["id"], second[0]["id"]);
    let (status, body) = call(&app, Method::GET, "/incidents?limit=zero", None).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn bad_incident_bodies_are_422_and_store_nothing() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"incident": {"name": ""}}), "name"),
        (
            json!({"incident": {"name": "x", "status": "exploded"}}),
            "status",
        ),
        (
            json!({"incident": {"name": "x", "components": {"1": "on_fire"}}}),
            "components",
        ),
        (
            json!({"incident": {"name": "x", "deliver_notifications": "perhaps"}}),
            "deliver_notifications",
        ),
        (
            json!({"incident": {"name": "x", "impact_override": "apocalyptic"}}),
            "impact",
        ),
        (json!({"incident": "just text"}), "incident"),
    ] {
        let (status, answer) = call(&app, Method::POST, "/incidents", Some(body.clone())).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{body} → {answer}"
        );
    }
    let page = page_id(&app).await;
    let r = app
        .http
        .post(app.url(&format!("/v1/pages/{page}/incidents")))
        .header("Authorization", format!("OAuth {}", app.token))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string());
    let (_, all) = call(&app, Method::GET, "/incidents", None).await;
    assert_eq!(all, json!([]));
}

#[tokio::test]
async fn subscribers_are_added_listed_read_and_removed() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/subscribers",
        Some(json!({"subscriber": {"email": "Ops@Example.com", "component_ids": [api], "skip_confirmation_notification": true}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["mode"], "email");
    assert_eq!(created["components"], json!([api]));
    let id = created["id"].as_str().unwrap().to_string();
    let email = created["email"].as_str().unwrap().to_string();
    assert_eq!(email.to_lowercase(), "ops@example.com");

    let (status, list) = call(&app, Method::GET, "/subscribers", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);
    let (_, found) = call(&app, Method::GET, "/subscribers?q=ops", None).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, none) = call(&app, Method::GET, "/subscribers?q=nobody", None).await;
    assert_eq!(none, json!([]));
    let (status, got) = call(&app, Method::GET, &format!("/subscribers/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["email"], email);

    let (status, body) = call(
        &app,
        Method::POST,
        "/subscribers",
        Some(json!({"subscriber": {"email": "not an address"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/subscribers",
        Some(json!({"subscriber": {"phone_number": "5555550100", "phone_country": "us"}})),
    )
    .await;
    assert_eq!(status, 422, "email only: {body}");

    let (status, removed) = call(&app, Method::DELETE, &format!("/subscribers/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(removed["id"], id);
    let (status, _) = call(&app, Method::GET, &format!("/subscribers/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, Method::DELETE, &format!("/subscribers/{id}"), None).await;
    assert_eq!(status, 404);
}

/// Runs `tests/statuspage/test_v1.py` against a live Herald: a client generated from
/// Statuspage's own OpenAPI description (the `atlassian-statuspage` package) drives `/v1`.
#[tokio::test]
#[ignore = "needs the generated Statuspage client (pip install -r tests/statuspage/requirements.txt); .ci/run runs it"]
async fn a_client_generated_from_statuspages_openapi_description_works_against_v1() {
    let app = spawn_app().await;
    let page = page_id(&app).await;
    let python = std::env::var("HERALD_STATUSPAGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/statuspage/test_v1.py", env!("CARGO_MANIFEST_DIR"));
    let (url, token) = (app.url("/v1"), app.token.clone());
    // The script runs off the runtime that serves Herald, which must keep answering it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(&script)
            .env("HERALD_V1_URL", url)
            .env("HERALD_V1_TOKEN", token)
            .env("HERALD_V1_PAGE", page)
            .output()
    })
    .await
    .expect("join")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
}

#[tokio::test]
async fn the_admins_tokens_page_shows_the_page_id_scripts_need() {
    let app = spawn_app().await;
    let id = page_id(&app).await;
    let admin = crate::browser::staff(&app, "admin@example.com", Role::Admin).await;
    let r = admin.get("/admin/tokens").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("<code class=\"page-id\">{id}</code>")),
        "{html}"
    );
    assert!(html.contains("/v1</code>"), "{html}");
}

#[tokio::test]
async fn reading_many_subscriber_addresses_through_v1_trips_the_export_rule() {
    let app = crate::helpers::spawn_app_with(|c| c.tripwire_export_rows = 2).await;
    for n in 0..3 {
        let (status, _) = call(
            &app,
            Method::POST,
            "/subscribers",
            Some(json!({"subscriber": {"email": format!("s{n}@example.com"), "skip_confirmation_notification": true}})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let before = app.api_get("/api/admin/v1/status").await;
    assert_eq!(before["paused"], false);
    let (status, list) = call(&app, Method::GET, "/subscribers", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 3);
    let after = app.api_get("/api/admin/v1/status").await;
    assert_eq!(after["paused"], true, "{after}");
}

async fn open(app: &TestApp, body: Value) -> Value {
    let (status, incident) = call(app, Method::POST, "/incidents", Some(body)).await;
    assert_eq!(status, 201, "{incident}");
    incident
}

#[tokio::test]
async fn patching_an_incident_edits_it_quietly_or_posts_an_update_when_given_a_status() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    let incident = open(
        &app,
        json!({"incident": {"name": "Slow APi", "body": "Looking.", "deliver_notifications": false}}),
    )
    .await;
    let id = incident["id"].as_str().unwrap().to_string();

    // A rename and a new impact: an edit, no new update, nobody told.
    let (status, edited) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{id}"),
        Some(json!({"incident": {"name": "Slow API", "impact_override": "major", "component_ids": [api]}})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["name"], "Slow API");
    assert_eq!(edited["impact"], "major");
    assert_eq!(edited["incident_updates"].as_array().unwrap().len(), 1);
    assert_eq!(edited["components"][0]["id"], api.as_str());
    let public = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(
        public["incidents"][0]["name"], "Slow API",
        "re-stamped and public"
    );

    // A status and body: a new update, with component statuses, sent as asked (form body).
    let (status, updated) = call_form(
        &app,
        Method::PUT,
        &format!("/incidents/{id}"),
        &format!(
            "incident%5Bstatus%5D=identified&incident%5Bbody%5D=Found+it&incident%5Bcomponents%5D%5B{web}%5D=degraded_performance\
             &incident%5Bdeliver_notifications%5D=false"
        ),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], "identified");
    let updates = updated["incident_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0]["body"], "Found it");
    assert_eq!(updates[0]["deliver_notifications"], false);
    let (_, web_now) = call(&app, Method::GET, &format!("/components/{web}"), None).await;
    assert_eq!(web_now["status"], "degraded_performance");

    // Components alone: their statuses change, no update is posted.
    let (status, direct) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{id}"),
        Some(json!({"incident": {"components": {api.clone(): "major_outage"}}})),
    )
    .await;
    assert_eq!(status, 200, "{direct}");
    assert_eq!(direct["incident_updates"].as_array().unwrap().len(), 2);
    let (_, api_now) = call(&app, Method::GET, &format!("/components/{api}"), None).await;
    assert_eq!(api_now["status"], "major_outage");

    // Bad input changes nothing, even with a good name beside it.
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{id}"),
        Some(json!({"incident": {"name": "Renamed", "status": "scheduled"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (_, same) = call(&app, Method::GET, &format!("/incidents/{id}"), None).await;
    assert_eq!(same["name"], "Slow API");

    let actions = app
        .store
        .query_strings("SELECT action FROM audit_log ORDER BY id")
        .await
        .unwrap();
    for action in ["incident.edit", "incident.update", "component.status"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn an_update_is_edited_in_place_and_an_incident_deleted_by_an_admin() {
    let app = spawn_app().await;
    let incident = open(
        &app,
        json!({"incident": {"name": "Outage", "body": "Typo hre.", "deliver_notifications": false}}),
    )
    .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let update = incident["incident_updates"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/incidents/{id}/incident_updates/{update}");
    let (status, edited) = call(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"incident_update": {"body": "Typo here."}})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["id"], update.as_str());
    assert_eq!(edited["body"], "Typo here.");
    let (_, got) = call(&app, Method::GET, &format!("/incidents/{id}"), None).await;
    assert_eq!(got["incident_updates"][0]["body"], "Typo here.");
    assert_eq!(got["incident_updates"].as_array().unwrap().len(), 1);
    let (status, body) = call(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"incident_update": {"body": "x", "deliver_notifications": true}})),
    )
    .await;
    assert_eq!(status, 422, "an edit is never sent: {body}");
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{id}/incident_updates/999999"),
        Some(json!({"incident_update": {"body": "x"}})),
    )
    .await;
    assert_eq!(status, 404);

    let (_, responder) = app
        .store
        .create_api_token("responder", Role::Responder, "tests")
        .await
        .unwrap();
    let (status, _) = call_as(
        &app,
        &responder,
        Method::DELETE,
        &format!("/incidents/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 403, "deleting an incident is an admin's");
    let (status, deleted) = call(&app, Method::DELETE, &format!("/incidents/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["name"], "Outage");
    let (status, _) = call(&app, Method::GET, &format!("/incidents/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_postmortem_is_drafted_published_reverted_and_deleted() {
    let app = spawn_app().await;
    let incident = open(
        &app,
        json!({"incident": {"name": "Outage", "status": "resolved", "body": "Fixed.", "deliver_notifications": false}}),
    )
    .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let path = format!("/incidents/{id}/postmortem");
    let (status, _) = call(&app, Method::GET, &path, None).await;
    assert_eq!(status, 404, "none yet");

    let (status, draft) = call(
        &app,
        Method::PUT,
        &path,
        Some(json!({"postmortem": {"body_draft": "A disk filled up."}})),
    )
    .await;
    assert_eq!(status, 200, "{draft}");
    assert_eq!(draft["body_draft"], "A disk filled up.");
    assert_eq!(draft["published_at"], Value::Null);
    let public = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(
        public["incidents"][0]["postmortem_body"],
        Value::Null,
        "a draft is not public"
    );

    let (status, published) = call(
        &app,
        Method::PUT,
        &format!("{path}/publish"),
        Some(json!({"postmortem": {"notify_subscribers": false, "notify_twitter": false}})),
    )
    .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["body"], "A disk filled up.");
    assert!(published["published_at"].is_string());
    let (_, read) = call(&app, Method::GET, &format!("/incidents/{id}"), None).await;
    assert_eq!(read["postmortem_body"], "A disk filled up.");
    assert!(read["postmortem_published_at"].is_string());

    let (status, reverted) = call(&app, Method::PUT, &format!("{path}/revert"), None).await;
    assert_eq!(status, 200, "{reverted}");
    assert_eq!(reverted["published_at"], Value::Null);
    let (status, body) = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = call(&app, Method::GET, &path, None).await;
    assert_eq!(status, 404);

    let (status, body) = call(
        &app,
        Method::PUT,
        &path,
        Some(json!({"postmortem": {"body_draft": ""}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn templates_are_created_and_listed_and_a_components_status_set_directly() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let (status, template) = call(
        &app,
        Method::POST,
        "/incident_templates",
        Some(json!({"template": {"name": "DB down", "title": "Database outage", "body": "The database is down.", "update_status": "identified", "component_ids": [api], "should_send_notifications": true}})),
    )
    .await;
    assert_eq!(status, 201, "{template}");
    assert_eq!(template["title"], "Database outage");
    assert_eq!(template["update_status"], "identified");
    assert_eq!(template["components"][0]["id"], api.as_str());
    let (status, list) = call(&app, Method::GET, "/incident_templates", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], template["id"]);
    let (status, body) = call(
        &app,
        Method::POST,
        "/incident_templates",
        Some(json!({"template": {"name": "x", "title": "", "body": "b"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // An incident started from the template takes what the body leaves out.
    let tid = template["id"].as_str().unwrap();
    let (status, incident) = call(
        &app,
        Method::POST,
        "/incidents",
        Some(json!({"incident": {"template_id": tid, "deliver_notifications": false}})),
    )
    .await;
    assert_eq!(status, 201, "{incident}");
    assert_eq!(incident["name"], "Database outage");
    assert_eq!(incident["status"], "identified");
    assert_eq!(
        incident["incident_updates"][0]["body"],
        "The database is down."
    );
    let (status, body) = call(
        &app,
        Method::POST,
        "/incidents",
        Some(json!({"incident": {"template_id": "424242"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("template_id"));

    let (status, component) = call(
        &app,
        Method::PATCH,
        &format!("/components/{api}"),
        Some(json!({"component": {"status": "partial_outage"}})),
    )
    .await;
    assert_eq!(status, 200, "{component}");
    assert_eq!(component["status"], "partial_outage");
    let v2 = app.get_json("/api/v2/components.json").await;
    assert_eq!(
        v2["components"][0]["status"], "partial_outage",
        "public at once"
    );
    let (status, made) = call(
        &app,
        Method::POST,
        "/components",
        Some(json!({"component": {"name": "Search", "status": "under_maintenance"}})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["status"], "under_maintenance");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/components/{api}"),
        Some(json!({"component": {"status": "melting"}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn a_maintenance_takes_its_reminder_and_notices_and_is_rescheduled_by_a_patch() {
    let app = spawn_app().await;
    let (status, m) = call_form(
        &app,
        Method::POST,
        "/incidents",
        &format!(
            "incident%5Bname%5D=Upgrade&incident%5Bstatus%5D=scheduled\
         &incident%5Bscheduled_for%5D={}&incident%5Bscheduled_until%5D={}\
         &incident%5Bscheduled_remind_prior%5D=30&incident%5Bdeliver_notifications%5D=false\
         &incident%5Bauto_transition_deliver_notifications_at_start%5D=true\
         &incident%5Bscheduled_auto_completed%5D=false",
            crate::helpers::ahead("2099-01-01T10:00:00Z"),
            crate::helpers::ahead("2099-01-01T11:00:00Z"),
        ),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["scheduled_remind_prior"], true);
    assert_eq!(m["scheduled_remind_prior_minutes"], 30);
    assert_eq!(m["auto_transition_deliver_notifications_at_start"], true);
    assert_eq!(m["auto_transition_deliver_notifications_at_end"], false);
    assert_eq!(m["scheduled_auto_completed"], false);
    assert_eq!(m["scheduled_auto_in_progress"], true);
    let id = m["id"].as_str().unwrap().to_string();

    let (status, moved) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{id}"),
        Some(json!({"incident": {"scheduled_for": crate::helpers::ahead("2099-01-02T10:00:00Z").as_str(), "scheduled_until": crate::helpers::ahead("2099-01-02T12:00:00Z").as_str(), "scheduled_remind_prior": false}})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved["scheduled_for"],
        crate::helpers::ahead("2099-01-02T10:00:00.000Z").as_str()
    );
    assert_eq!(
        moved["scheduled_until"],
        crate::helpers::ahead("2099-01-02T12:00:00.000Z").as_str()
    );
    assert_eq!(moved["scheduled_remind_prior"], false);
    assert_eq!(
        moved["incident_updates"].as_array().unwrap().len(),
        1,
        "a reschedule tells no one unless asked"
    );

    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{id}"),
        Some(json!({"incident": {"scheduled_until": crate::helpers::ahead("2098-01-01T00:00:00Z").as_str()}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let realtime = open(
        &app,
        json!({"incident": {"name": "Outage", "body": "b", "deliver_notifications": false}}),
    )
    .await;
    let rid = realtime["id"].as_str().unwrap();
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/incidents/{rid}"),
        Some(json!({"incident": {"scheduled_for": crate::helpers::ahead("2099-01-02T10:00:00Z").as_str()}})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
}
