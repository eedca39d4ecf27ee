//! Staff security, written as attacks: what a stolen password, a stolen cookie, a stolen
//! database or a hijacked account can and cannot do.

use std::net::Ipv4Addr;
use std::time::Duration;

use herald::domain::Role;
use serde_json::{json, Value};

use crate::browser::{staff, Browser, PASSWORD};
use crate::helpers::{hidden_field, spawn_app, spawn_app_with, TestApp};
use crate::smtp::SmtpSink;

const ADMIN: &str = "admin@example.com";

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Outbound is paused, for a reason that mentions `why`.
async fn assert_paused_because(app: &TestApp, why: &str) {
    let status = app.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        status["reason"].as_str().unwrap_or("").contains(why),
        "{status}"
    );
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.store
        .query_strings("SELECT action FROM audit_log ORDER BY id")
        .await
        .unwrap()
}

#[tokio::test]
async fn brute_force_against_one_account_hits_the_throttle_even_with_the_right_password() {
    let app = spawn_app().await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    let attacker = Browser::new(&app);
    for i in 0..5 {
        let r = attacker
            .sign_in_with(ADMIN, &format!("guess number {i} here"), "000000")
            .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    // The sixth failure locks the account for 2 s, the next for 4 s, and so on.
    let r = attacker
        .sign_in_with(ADMIN, "guess number 6 here", "000000")
        .await;
    assert_eq!(r.status(), 401);
    let code = app.next_code(ADMIN).await;
    let r = attacker.sign_in_with(ADMIN, PASSWORD, &code).await;
    assert_eq!(
        r.status(),
        429,
        "locked even with the right password and code"
    );
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    // An unknown account is throttled the same way, so the lock reveals nothing.
    for _ in 0..6 {
        attacker
            .sign_in_with("nobody@example.com", "x-x-x-x-x-x-x", "")
            .await;
    }
    let r = attacker
        .sign_in_with("nobody@example.com", "x-x-x-x-x-x-x", "")
        .await;
    assert_eq!(r.status(), 429);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = attacker.sign_in(&app, ADMIN).await;
    assert_eq!(r.status(), 303, "the lock runs out; the owner gets in");
    let actions = audit_actions(&app).await;
    assert!(actions.iter().filter(|a| *a == "login.failed").count() >= 6);
    assert!(actions.contains(&"login.throttled".to_string()));
    assert!(actions.contains(&"login.success".to_string()));
}

#[tokio::test]
async fn many_accounts_from_one_address_hit_the_address_throttle() {
    let app = spawn_app().await;
    let attacker = Browser::new(&app);
    // Twenty failures are free per address (an office behind one NAT); then it locks.
    for i in 0..21 {
        let r = attacker
            .sign_in_with(&format!("user{i}@example.com"), "password-spraying", "")
            .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = attacker
        .sign_in_with("fresh@example.com", "password-spraying", "")
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn a_replayed_totp_code_is_refused() {
    let app = spawn_app().await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    let code = app.next_code(ADMIN).await;
    let owner = Browser::new(&app);
    assert_eq!(
        owner.sign_in_with(ADMIN, PASSWORD, &code).await.status(),
        303
    );
    // Someone who watched the code being typed, with the password too:
    let thief = Browser::new(&app);
    let r = thief.sign_in_with(ADMIN, PASSWORD, &code).await;
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Email, password or code is incorrect."));
    assert_eq!(thief.get("/admin").await.status(), 303);
}

#[tokio::test]
async fn a_stolen_session_cookie_stops_working_after_sign_out_everywhere() {
    let app = spawn_app().await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    let laptop = Browser::new(&app);
    let signed_in = laptop.sign_in(&app, ADMIN).await;
    assert_eq!(signed_in.status(), 303);
    // The thief copies the laptop's cookie into a browser of their own.
    let cookie = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("herald_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let phone = Browser::new(&app);
    assert_eq!(phone.sign_in(&app, ADMIN).await.status(), 303);
    let page = laptop.get("/admin/account").await.text().await.unwrap();
    assert_eq!(
        page.matches("<tr>").count(),
        3,
        "header and two sessions: {page}"
    );
    let thief = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let stolen = |path: &str| thief.get(app.url(path)).header("cookie", &cookie).send();
    assert_eq!(
        stolen("/admin").await.unwrap().status(),
        200,
        "the cookie works"
    );

    let r = phone
        .post("/admin/account", "/admin/account/sign-out-everywhere", &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/login?notice=signed_out_everywhere");
    let r = stolen("/admin").await.unwrap();
    assert_eq!(r.status(), 303, "the stolen cookie is dead");
    assert_eq!(location(&r), "/admin/login");
    assert_eq!(laptop.get("/admin").await.status(), 303);
    assert!(audit_actions(&app)
        .await
        .contains(&"session.sign_out_everywhere".to_string()));
}

#[tokio::test]
async fn a_forged_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let r = admin
        .http
        .post(app.url("/admin/components"))
        .form(&[("csrf", "forged"), ("name", "Injected")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .http
        .post(app.url("/admin/staff"))
        .form(&[("email", "evil@example.com"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no token at all");
    assert!(app.store.components().await.unwrap().is_empty());
    assert_eq!(app.store.staff_count().await.unwrap(), 1);
}

#[tokio::test]
async fn a_responder_cannot_add_staff_make_tokens_or_export_subscribers() {
    let app = spawn_app().await;
    let responder = staff(&app, "resp@example.com", Role::Responder).await;
    responder.reauthenticate(&app, "resp@example.com").await;
    let r = responder
        .post(
            "/admin",
            "/admin/staff",
            &[("email", "accomplice@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = responder
        .post(
            "/admin",
            "/admin/tokens",
            &[("name", "exfil"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        responder
            .get("/admin/subscribers/export.csv")
            .await
            .status(),
        403
    );
    assert_eq!(responder.get("/admin/audit").await.status(), 403);
    assert_eq!(app.store.staff_count().await.unwrap(), 1);
    assert!(
        app.store.api_tokens().await.unwrap().len() == 1,
        "only the harness's"
    );

    // The API enforces the same roles for tokens.
    let (_, token) = app
        .store
        .create_api_token("responder-bot", Role::Responder, "tests")
        .await
        .unwrap();
    let r = app
        .api_as(
            &token,
            "/api/admin/v1/subscribers",
            json!({"email": "x@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 403);
}

/// Every admin page and API route, with the least role it needs.
const PAGE_ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/admin", Role::Viewer),
    ("GET", "/admin/components", Role::Viewer),
    ("POST", "/admin/components", Role::Responder),
    ("GET", "/admin/components/{id}", Role::Viewer),
    ("POST", "/admin/components/{id}", Role::Responder),
    ("POST", "/admin/components/{id}/delete", Role::Responder),
    ("GET", "/admin/incidents/new", Role::Responder),
    ("POST", "/admin/incidents", Role::Responder),
    ("GET", "/admin/incidents/{id}", Role::Viewer),
    ("POST", "/admin/incidents/{id}/updates", Role::Responder),
    ("GET", "/admin/maintenances/new", Role::Responder),
    ("POST", "/admin/maintenances", Role::Responder),
    (
        "POST",
        "/admin/maintenances/{id}/reschedule",
        Role::Responder,
    ),
    ("POST", "/admin/maintenances/{id}/cancel", Role::Responder),
    ("POST", "/admin/pause", Role::Responder),
    ("POST", "/admin/resume", Role::Admin),
    ("GET", "/admin/breach", Role::Admin),
    ("POST", "/admin/breach/preview", Role::Admin),
    ("POST", "/admin/breach/start", Role::Admin),
    ("POST", "/admin/breach/end", Role::Admin),
    ("GET", "/admin/updates/{id}/deliveries.json", Role::Viewer),
    ("POST", "/admin/updates/{id}/retry", Role::Responder),
    ("GET", "/admin/subscribers", Role::Viewer),
    ("POST", "/admin/subscribers", Role::Responder),
    ("POST", "/admin/subscribers/import", Role::Admin),
    ("GET", "/admin/subscribers/export.csv", Role::Admin),
    ("POST", "/admin/subscribers/{id}/delete", Role::Responder),
    ("GET", "/admin/x", Role::Viewer),
    ("POST", "/admin/x/connect", Role::Admin),
    ("GET", "/admin/x/finish", Role::Admin),
    ("POST", "/admin/x/disconnect", Role::Admin),
    ("GET", "/admin/webhooks", Role::Viewer),
    ("POST", "/admin/webhooks", Role::Admin),
    ("POST", "/admin/webhooks/{id}/test", Role::Admin),
    ("POST", "/admin/webhooks/{id}/remove", Role::Admin),
    ("POST", "/admin/tweet-length", Role::Viewer),
    ("GET", "/admin/reauth", Role::Viewer),
    ("POST", "/admin/reauth", Role::Viewer),
    ("GET", "/admin/account", Role::Viewer),
    ("POST", "/admin/account/recovery-codes", Role::Viewer),
    ("GET", "/admin/staff", Role::Admin),
    ("POST", "/admin/staff", Role::Admin),
    ("POST", "/admin/staff/{id}/role", Role::Admin),
    ("POST", "/admin/staff/{id}/disable", Role::Admin),
    ("POST", "/admin/staff/{id}/reset-2fa", Role::Admin),
    ("POST", "/admin/staff/{id}/sign-out", Role::Admin),
    ("GET", "/admin/tokens", Role::Admin),
    ("POST", "/admin/tokens", Role::Admin),
    ("POST", "/admin/tokens/{id}/revoke", Role::Admin),
    ("GET", "/admin/audit", Role::Admin),
    ("GET", "/admin/branding", Role::Admin),
    ("POST", "/admin/branding", Role::Admin),
    ("POST", "/admin/components/{id}/status", Role::Responder),
    ("GET", "/admin/incidents/{id}/edit", Role::Responder),
    ("POST", "/admin/incidents/{id}/edit", Role::Responder),
    ("POST", "/admin/incidents/{id}/delete", Role::Admin),
    ("GET", "/admin/updates/{id}/edit", Role::Responder),
    ("POST", "/admin/updates/{id}/edit", Role::Responder),
    ("POST", "/admin/updates/{id}/delete", Role::Responder),
    ("GET", "/admin/incidents/{id}/postmortem", Role::Viewer),
    ("POST", "/admin/incidents/{id}/postmortem", Role::Responder),
    ("GET", "/admin/templates", Role::Viewer),
    ("POST", "/admin/templates", Role::Responder),
    ("GET", "/admin/templates/{id}", Role::Viewer),
    ("POST", "/admin/templates/{id}", Role::Responder),
    ("POST", "/admin/templates/{id}/delete", Role::Responder),
];

/// Routes outside the role matrix: before a session exists, or ending it.
const UNGATED: &[&str] = &[
    "/admin/login",
    "/admin/enrol/{secret}",
    "/admin/x/callback",
    "/admin/2fa",
    "/admin/logout",
    "/admin/account/sign-out-everywhere",
];

const API_ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/api/admin/v1/components", Role::Viewer),
    ("POST", "/api/admin/v1/components", Role::Responder),
    ("POST", "/api/admin/v1/incidents", Role::Responder),
    ("GET", "/api/admin/v1/incidents/{id}", Role::Viewer),
    (
        "POST",
        "/api/admin/v1/incidents/{id}/updates",
        Role::Responder,
    ),
    ("POST", "/api/admin/v1/maintenances", Role::Responder),
    ("GET", "/api/admin/v1/maintenances/{id}", Role::Viewer),
    ("PATCH", "/api/admin/v1/maintenances/{id}", Role::Responder),
    (
        "POST",
        "/api/admin/v1/maintenances/{id}/cancel",
        Role::Responder,
    ),
    ("POST", "/api/admin/v1/subscribers", Role::Admin),
    ("GET", "/api/admin/v1/updates/{id}/deliveries", Role::Viewer),
    ("POST", "/api/admin/v1/pause", Role::Responder),
    ("POST", "/api/admin/v1/resume", Role::Admin),
    ("GET", "/api/admin/v1/status", Role::Viewer),
    ("GET", "/api/admin/v1/webhooks", Role::Admin),
    ("POST", "/api/admin/v1/webhooks", Role::Admin),
    ("POST", "/api/admin/v1/webhooks/{id}/test", Role::Admin),
    ("POST", "/api/admin/v1/breach", Role::Admin),
    ("DELETE", "/api/admin/v1/webhooks/{id}", Role::Admin),
    ("DELETE", "/api/admin/v1/breach", Role::Admin),
    ("GET", "/api/admin/v1/incidents", Role::Viewer),
    ("GET", "/api/admin/v1/subscribers", Role::Admin),
    ("GET", "/api/admin/v1/subscribers/{id}", Role::Admin),
    ("DELETE", "/api/admin/v1/subscribers/{id}", Role::Admin),
    ("PATCH", "/api/admin/v1/incidents/{id}", Role::Responder),
    ("DELETE", "/api/admin/v1/incidents/{id}", Role::Admin),
    (
        "PATCH",
        "/api/admin/v1/incidents/{id}/updates/{update_id}",
        Role::Responder,
    ),
    (
        "DELETE",
        "/api/admin/v1/incidents/{id}/updates/{update_id}",
        Role::Responder,
    ),
    ("PATCH", "/api/admin/v1/components/{id}", Role::Responder),
    ("DELETE", "/api/admin/v1/components/{id}", Role::Admin),
    (
        "GET",
        "/api/admin/v1/incidents/{id}/postmortem",
        Role::Viewer,
    ),
    (
        "PUT",
        "/api/admin/v1/incidents/{id}/postmortem",
        Role::Responder,
    ),
    (
        "POST",
        "/api/admin/v1/incidents/{id}/postmortem/publish",
        Role::Responder,
    ),
    (
        "POST",
        "/api/admin/v1/incidents/{id}/postmortem/revert",
        Role::Responder,
    ),
    (
        "DELETE",
        "/api/admin/v1/incidents/{id}/postmortem",
        Role::Responder,
    ),
    ("GET", "/api/admin/v1/templates", Role::Viewer),
    ("POST", "/api/admin/v1/templates", Role::Responder),
    ("GET", "/api/admin/v1/templates/{id}", Role::Viewer),
    ("PATCH", "/api/admin/v1/templates/{id}", Role::Responder),
    ("DELETE", "/api/admin/v1/templates/{id}", Role::Responder),
    ("GET", "/api/admin/v1/branding", Role::Admin),
    ("PATCH", "/api/admin/v1/branding", Role::Admin),
    ("DELETE", "/api/admin/v1/branding", Role::Admin),
];

/// `(method, path)` of every route a router source file declares.
fn declared_routes(source: &str) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap().to_string();
        let call = chunk.split(".route(").next().unwrap();
        let call = &call[..call.find("\n        .").unwrap_or(call.len())];
        for (method, marker) in [
            ("GET", "get("),
            ("POST", "post("),
            ("PUT", "put("),
            ("PATCH", "patch("),
            ("DELETE", "delete("),
        ] {
            if call.contains(marker) {
                routes.push((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn the_role_matrix_covers_every_declared_route() {
    let root = env!("CARGO_MANIFEST_DIR");
    let pages = std::fs::read_to_string(format!("{root}/src/web/admin/mod.rs")).unwrap();
    let mut declared = declared_routes(&pages);
    // Every file of the admin API declares its own routes.
    for entry in std::fs::read_dir(format!("{root}/src/web/api")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        declared.extend(declared_routes(&source));
    }
    assert!(declared.len() > 40, "{declared:?}");
    for (method, path) in &declared {
        let covered = PAGE_ROUTES
            .iter()
            .chain(API_ROUTES)
            .any(|(m, p, _)| m == method && p == path)
            || UNGATED.contains(&path.as_str());
        assert!(covered, "{method} {path} is missing from the role matrix");
    }
}

fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

#[tokio::test]
async fn every_page_and_api_route_enforces_its_role() {
    let app = spawn_app().await;
    let incident = app.open_incident(json!({"name": "Seed", "status": "investigating", "impact": "minor", "body": "b", "notify": false})).await;
    let id = incident["id"].as_str().unwrap().to_string();
    let update_id = incident["update_id"].as_str().unwrap().to_string();
    // Postmortems are published on closed incidents only.
    let closed = app.open_incident(json!({"name": "Closed", "status": "resolved", "impact": "minor", "body": "b", "notify": false})).await;
    let closed_id = closed["id"].as_str().unwrap().to_string();
    let new_template = || async {
        let r = app
            .api(
                "/api/admin/v1/templates",
                json!({"name": "T", "title": "T", "body": "b"}),
            )
            .await;
        let t: Value = r.json().await.unwrap();
        t["id"].as_str().unwrap().to_string()
    };
    let template_id = new_template().await;

    for (role, email) in [
        (Role::Viewer, "viewer@example.com"),
        (Role::Responder, "responder@example.com"),
        (Role::Admin, "admin@example.com"),
    ] {
        let browser = staff(&app, email, role).await;
        for (method, path, needed) in PAGE_ROUTES {
            let target = match *path {
                "/admin/updates/{id}/deliveries.json"
                | "/admin/updates/{id}/retry"
                | "/admin/updates/{id}/edit"
                | "/admin/updates/{id}/delete" => concrete(path, &update_id),
                "/admin/x/finish" => format!("{path}?oauth_token=t&oauth_verifier=v"),
                "/admin/staff/{id}/role"
                | "/admin/staff/{id}/disable"
                | "/admin/staff/{id}/reset-2fa"
                | "/admin/staff/{id}/sign-out"
                | "/admin/tokens/{id}/revoke"
                | "/admin/templates/{id}/delete" => concrete(path, "999999"),
                "/admin/templates/{id}" => concrete(path, &template_id),
                _ => concrete(path, &id),
            };
            let status = if *method == "GET" {
                browser.get(&target).await.status()
            } else {
                browser.post("/admin", &target, &[]).await.status()
            };
            if role.allows(*needed) {
                assert_ne!(status, 403, "{method} {target} as {role:?}");
                assert_ne!(status, 500, "{method} {target} as {role:?}");
            } else {
                assert_eq!(status, 403, "{method} {target} as {role:?}");
            }
        }
    }

    // Made after the page routes ran, which remove a webhook and a subscriber by the ids
    // they try.
    let subscriber: serde_json::Value = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "matrix@example.com", "confirmed": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    let subscriber_id = subscriber["id"].as_str().unwrap().to_string();
    let hook: serde_json::Value = app
        .api(
            "/api/admin/v1/webhooks",
            json!({"url": "http://192.0.2.1/matrix"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook_id = hook["id"].as_str().unwrap().to_string();
    for role in [Role::Viewer, Role::Responder, Role::Admin] {
        let (_, token) = app
            .store
            .create_api_token(&format!("{role:?}").to_lowercase(), role, "tests")
            .await
            .unwrap();
        for (n, (method, path, needed)) in API_ROUTES.iter().enumerate() {
            let target = match (*method, *path) {
                ("GET", "/api/admin/v1/updates/{id}/deliveries") => concrete(path, &update_id),
                (_, "/api/admin/v1/subscribers/{id}") => concrete(path, &subscriber_id),
                (_, "/api/admin/v1/webhooks/{id}") | (_, "/api/admin/v1/webhooks/{id}/test") => {
                    concrete(path, &hook_id)
                }
                // What is deleted is made afresh each time.
                ("DELETE", "/api/admin/v1/incidents/{id}")
                | ("DELETE", "/api/admin/v1/incidents/{id}/updates/{update_id}") => {
                    let fresh = app.open_incident(json!({"name": "Doomed", "status": "investigating", "impact": "minor", "body": "b"})).await;
                    let fresh_id = fresh["id"].as_str().unwrap();
                    let r = app
                        .api(
                            &format!("/api/admin/v1/incidents/{fresh_id}/updates"),
                            json!({"status": "identified", "body": "b2"}),
                        )
                        .await;
                    let second: serde_json::Value = r.json().await.unwrap();
                    concrete(path, fresh_id).replace("{update_id}", second["id"].as_str().unwrap())
                }
                (_, "/api/admin/v1/components/{id}") => {
                    concrete(path, &app.create_component(&format!("M{n}{role:?}")).await)
                }
                // A maintenance of its own each time: a cancel succeeds once.
                (_, p) if p.starts_with("/api/admin/v1/maintenances/") => {
                    let m: serde_json::Value = app
                        .api("/api/admin/v1/maintenances", json!({"name": "M", "body": "b", "scheduled_for": crate::helpers::ahead("2099-01-01T10:00:00Z").as_str(), "scheduled_until": crate::helpers::ahead("2099-01-01T11:00:00Z").as_str()}))
                        .await
                        .json()
                        .await
                        .unwrap();
                    concrete(path, m["id"].as_str().unwrap())
                }
                (_, p) if p.contains("/postmortem") => concrete(path, &closed_id),
                // Each allowed DELETE removes a template of its own.
                ("DELETE", "/api/admin/v1/templates/{id}") => concrete(path, &new_template().await),
                (_, "/api/admin/v1/templates/{id}") => concrete(path, &template_id),
                _ => concrete(path, &id).replace("{update_id}", &update_id),
            };
            let body = match *path {
                "/api/admin/v1/components" => json!({"name": format!("C{n}{role:?}")}),
                "/api/admin/v1/incidents" => {
                    json!({"name": "Matrix", "status": "investigating", "impact": "minor", "body": "b", "notify": false})
                }
                "/api/admin/v1/incidents/{id}/updates" => {
                    json!({"status": "identified", "body": "b", "notify": false})
                }
                "/api/admin/v1/maintenances" => {
                    json!({"name": "M", "body": "b", "scheduled_for": crate::helpers::ahead("2099-01-01T10:00:00Z").as_str(), "scheduled_until": crate::helpers::ahead("2099-01-01T11:00:00Z").as_str()})
                }
                "/api/admin/v1/subscribers" => {
                    json!({"email": format!("s{n}{role:?}@example.com"), "confirmed": true})
                }
                // A documentation address: refused at once, stored inactive.
                "/api/admin/v1/webhooks" => json!({"url": "http://192.0.2.1/hook"}),
                "/api/admin/v1/breach" => {
                    json!({"title": "Matrix", "statement": "s", "dry_run": true})
                }
                "/api/admin/v1/incidents/{id}" => json!({"name": "Renamed"}),
                "/api/admin/v1/incidents/{id}/updates/{update_id}" => json!({"body": "Edited"}),
                "/api/admin/v1/components/{id}" => json!({"status": "degraded_performance"}),
                "/api/admin/v1/incidents/{id}/postmortem" => json!({"body": "What happened."}),
                "/api/admin/v1/templates" | "/api/admin/v1/templates/{id}" => {
                    json!({"name": "T", "title": "T", "body": "b"})
                }
                "/api/admin/v1/maintenances/{id}" => {
                    json!({"scheduled_until": crate::helpers::ahead("2099-01-01T12:00:00Z").as_str()})
                }
                _ => json!({}),
            };
            let request = match *method {
                "GET" => app.http.get(app.url(&target)),
                "DELETE" => app.http.delete(app.url(&target)),
                other => app
                    .http
                    .request(other.parse().unwrap(), app.url(&target))
                    .json(&body),
            };
            let response = request.bearer_auth(&token).send().await.unwrap();
            let status = response.status();
            let said = response.text().await.unwrap_or_default();
            // Ending breach mode when none is open is a 404 (no open breach), not a refusal.
            let nothing_to_end = *method == "DELETE" && *path == "/api/admin/v1/breach";
            if role.allows(*needed) {
                assert!(
                    status.is_success() || (nothing_to_end && status == 404),
                    "{method} {target} as {role:?}: {status} {said}"
                );
            } else {
                assert_eq!(status, 403, "{method} {target} as {role:?}");
            }
        }
    }
}

#[tokio::test]
async fn sensitive_actions_need_a_code_from_the_last_ten_minutes() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    // Make the sign-in's own re-authentication stale.
    app.store
        .execute_admin("UPDATE sessions SET reauth_at = NULL")
        .await
        .unwrap();
    let r = admin
        .post(
            "/admin/staff",
            "/admin/staff",
            &[("email", "new@example.com"), ("role", "responder")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/admin/reauth?next=%2Fadmin%2Fstaff");
    assert_eq!(
        app.store.staff_count().await.unwrap(),
        1,
        "nothing added yet"
    );
    let r = admin.get("/admin/subscribers/export.csv").await;
    assert_eq!(
        location(&r),
        "/admin/reauth?next=%2Fadmin%2Fsubscribers%2Fexport.csv"
    );

    // A wrong code does not open them.
    let r = admin
        .post(
            "/admin/reauth",
            "/admin/reauth",
            &[("code", "000000"), ("next", "/admin/staff")],
        )
        .await;
    assert_eq!(r.status(), 401);
    admin.reauthenticate(&app, ADMIN).await;
    let r = admin
        .post(
            "/admin/staff",
            "/admin/staff",
            &[("email", "new@example.com"), ("role", "responder")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("/admin/enrol/"),
        "the enrolment link is shown once"
    );
    assert_eq!(app.store.staff_count().await.unwrap(), 2);
    // An off-site "next" is not followed.
    let code = app.next_code(ADMIN).await;
    let r = admin
        .post(
            "/admin/reauth",
            "/admin/reauth",
            &[("code", &code), ("next", "//evil.example.com/")],
        )
        .await;
    assert_eq!(location(&r), "/admin");
}

#[tokio::test]
async fn changing_a_role_ends_the_members_sessions() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let member = staff(&app, "member@example.com", Role::Responder).await;
    assert_eq!(member.get("/admin/incidents/new").await.status(), 200);
    admin.reauthenticate(&app, ADMIN).await;
    let id = app
        .store
        .staff_list()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.email == "member@example.com")
        .unwrap()
        .id;
    let r = admin
        .post(
            "/admin/staff",
            &format!("/admin/staff/{id}/role"),
            &[("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        member.get("/admin").await.status(),
        303,
        "signed out by the change"
    );
    assert_eq!(
        member.sign_in(&app, "member@example.com").await.status(),
        303
    );
    assert_eq!(member.get("/admin/incidents/new").await.status(), 403);
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_revocable_and_show_their_last_use() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    admin.reauthenticate(&app, ADMIN).await;
    let r = admin
        .post(
            "/admin/tokens",
            "/admin/tokens",
            &[("name", "pagerduty"), ("role", "responder")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let token = page
        .split("class=\"new-token\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    assert!(token.starts_with("hrld_"));
    let stored = app
        .store
        .query_strings("SELECT token_hash FROM api_tokens")
        .await
        .unwrap();
    assert!(
        !stored.iter().any(|h| h.contains(&token)),
        "only a hash is stored"
    );

    let r = app
        .api_as(
            &token,
            "/api/admin/v1/components",
            json!({"name": "Via token"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let listing = admin.get("/admin/tokens").await.text().await.unwrap();
    assert!(!listing.contains(&token), "never shown again");
    assert!(listing.contains("from 127.0.0.1"), "last use and address");

    let id = app
        .store
        .api_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.info.name == "pagerduty")
        .unwrap()
        .info
        .id;
    let r = admin
        .post("/admin/tokens", &format!("/admin/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .api_as(&token, "/api/admin/v1/components", json!({"name": "After"}))
        .await;
    assert_eq!(r.status(), 401);
    let actions = audit_actions(&app).await;
    for action in ["token.create", "component.create", "token.revoke"] {
        assert!(
            actions.contains(&action.to_string()),
            "{action} in {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_copy_of_the_database_yields_no_usable_secret() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    // An X account connected, as the connect flow stores it.
    let x_token = "1234-XTOKENPLAINTEXT000000000000";
    let x_secret = "XSECRETPLAINTEXT00000000000000000";
    connect_x_sealed(&app, x_token, x_secret).await;
    let (_, api_token) = app
        .store
        .create_api_token("bot", Role::Admin, "tests")
        .await
        .unwrap();
    admin.get("/admin").await;
    let seed_text = {
        let id = app.store.staff_list().await.unwrap()[0].id;
        let (sealed, _) = app.store.totp_seed(id).await.unwrap().unwrap();
        app.sealer
            .open(&herald::security::seal::purpose::totp(id), &sealed)
            .unwrap()
    };

    // The thief's copy: every database file (SQLite with its WAL), or a pg_dump-like text dump.
    let copy: Vec<u8> = if app.database_url.starts_with("postgres") {
        let mut dump = Vec::new();
        for sql in [
            "SELECT concat_ws('|', token_sealed, secret_sealed) FROM x_account",
            "SELECT concat_ws('|', email, password_hash, totp_sealed) FROM staff",
            "SELECT token_hash FROM api_tokens",
            "SELECT code_hash FROM recovery_codes",
            "SELECT id_hash FROM sessions",
        ] {
            for row in app.store.query_strings(sql).await.unwrap() {
                dump.extend_from_slice(row.as_bytes());
                dump.push(b'\n');
            }
        }
        dump
    } else {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(&app.data_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != "secret.key" {
                bytes.extend(std::fs::read(&path).unwrap());
            }
        }
        bytes
    };
    let contains = |needle: &str| copy.windows(needle.len()).any(|w| w == needle.as_bytes());
    for (what, secret) in [
        ("X token", x_token),
        ("X token secret", x_secret),
        ("TOTP seed", seed_text.as_str()),
        ("API token", api_token.as_str()),
        ("staff password", PASSWORD),
    ] {
        assert!(!contains(secret), "the copy holds the {what} in clear");
    }
    assert!(contains("v1."), "sealed values are there, sealed");

    // Without the key file, the sealed values do not open.
    let other_key = herald::security::keys::MasterKey::load_or_create(
        &tempfile::tempdir().unwrap().path().join("k"),
    )
    .unwrap();
    let thief = herald::security::seal::Sealer::new(&other_key);
    let account = app.store.x_account().await.unwrap().unwrap();
    assert!(thief
        .open(
            herald::security::seal::purpose::X_TOKEN,
            &account.token_sealed
        )
        .is_err());
    // Hashes from the copy are not credentials: a token hash is not a token, nor a session id
    // hash a session cookie.
    let hash = app
        .store
        .query_strings("SELECT token_hash FROM api_tokens WHERE name = 'bot'")
        .await
        .unwrap()
        .remove(0);
    let r = app
        .api_as(&hash, "/api/admin/v1/components", json!({"name": "x"}))
        .await;
    assert_eq!(r.status(), 401);
    for id_hash in app
        .store
        .query_strings("SELECT id_hash FROM sessions")
        .await
        .unwrap()
    {
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/admin"))
            .header("cookie", format!("herald_session={id_hash}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "a session hash is not a cookie");
    }
}

/// Stores a connected X account the way the connect flow does: token and secret sealed.
async fn connect_x_sealed(app: &TestApp, token: &str, secret: &str) {
    use herald::security::seal::purpose;
    let seal = |purpose: &str, value: &str| app.sealer.seal(purpose, value).unwrap();
    app.store
        .connect_x(
            "1234",
            "acme",
            &seal(purpose::X_TOKEN, token),
            &seal(purpose::X_SECRET, secret),
            "tests",
        )
        .await
        .unwrap();
}

fn herald_cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    crate::cli::herald_with(
        &app.data_dir,
        args,
        "",
        &[("HERALD_DATABASE_URL", app.database_url.as_str())],
    )
}

#[tokio::test]
async fn a_tampered_audit_log_is_found_by_herald_audit_verify() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    for name in ["One", "Two", "Three"] {
        admin
            .post("/admin/components", "/admin/components", &[("name", name)])
            .await;
    }
    admin.post("/admin", "/admin/logout", &[]).await;
    let entries = audit_actions(&app).await;
    assert!(entries.len() >= 5, "{entries:?}");

    let (ok, out, err) = herald_cli(&app, &["audit", "verify"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("intact"), "{out}");

    // The admin page shows and filters it.
    let admin = Browser::new(&app);
    admin.sign_in(&app, ADMIN).await;
    let page = admin
        .get("/admin/audit?action=component")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("component.create").count(), 3, "{page}");
    assert!(!page.contains("login.success"));
    let page = admin
        .get("/admin/audit?verify=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("The chain is intact"), "{page}");

    // Someone with database access rewrites what entry 3 says.
    app.store
        .execute_admin("UPDATE audit_log SET detail = '{\"name\":\"Nothing to see\"}' WHERE id = 3")
        .await
        .unwrap();
    let (ok, _, err) = herald_cli(&app, &["audit", "verify"]);
    assert!(!ok);
    assert!(err.contains("entry 3"), "{err}");
    let page = admin
        .get("/admin/audit?verify=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("The chain is broken: entry 3"), "{page}");
}

#[tokio::test]
async fn removed_and_reordered_audit_entries_are_named_and_a_cut_tail_is_caught_by_the_head() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    for name in ["One", "Two", "Three", "Four"] {
        admin
            .post("/admin/components", "/admin/components", &[("name", name)])
            .await;
    }
    assert!(herald_cli(&app, &["audit", "verify"]).0);

    // Swap the contents of entries 3 and 4.
    app.store
        .execute_admin(
            "UPDATE audit_log SET id = -1 WHERE id = 3; UPDATE audit_log SET id = 3 WHERE id = 4; \
             UPDATE audit_log SET id = 4 WHERE id = -1",
        )
        .await
        .unwrap();
    let (ok, _, err) = herald_cli(&app, &["audit", "verify"]);
    assert!(!ok);
    assert!(err.contains("entry 3"), "{err}");
    app.store
        .execute_admin(
            "UPDATE audit_log SET id = -1 WHERE id = 3; UPDATE audit_log SET id = 3 WHERE id = 4; \
             UPDATE audit_log SET id = 4 WHERE id = -1",
        )
        .await
        .unwrap();
    assert!(herald_cli(&app, &["audit", "verify"]).0, "swapped back");

    app.store
        .execute_admin("DELETE FROM audit_log WHERE id = 2")
        .await
        .unwrap();
    let (ok, _, err) = herald_cli(&app, &["audit", "verify"]);
    assert!(!ok);
    assert!(err.contains("entry 3"), "the one after the gap: {err}");

    // Cutting the newest entries and fixing the head up passes the chain check, but not the
    // head recorded earlier.
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    admin
        .post("/admin/components", "/admin/components", &[("name", "A")])
        .await;
    let (_, out, _) = herald_cli(&app, &["audit", "verify"]);
    let head = out.trim().rsplit(' ').next().unwrap().to_string();
    let count: i64 = head.split(':').next().unwrap().parse().unwrap();
    app.store
        .execute_admin(&format!(
            "DELETE FROM audit_log WHERE id = {count}; \
             UPDATE audit_head SET entries = {}, last_hash = (SELECT hash FROM audit_log WHERE id = {})",
            count - 1,
            count - 1
        ))
        .await
        .unwrap();
    assert!(herald_cli(&app, &["audit", "verify"]).0);
    let (ok, _, err) = herald_cli(&app, &["audit", "verify", "--expect-head", &head]);
    assert!(!ok);
    assert!(err.contains(&format!("entry {count}")), "{err}");
}

async fn open_notifying(app: &TestApp, name: &str, body: &str) -> Value {
    app.open_incident(json!({"name": name, "status": "investigating", "impact": "major", "body": body, "notify": true}))
        .await
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

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_burst_of_posts_trips_the_wire_pauses_outbound_and_alerts_the_admins() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| {
        c.smtp_url = sink.url();
        c.tripwire_burst_updates = 3;
        c.tripwire_burst_minutes = 10;
    })
    .await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    subscribe(&app, "customer@example.com").await;
    for i in 1..=3 {
        open_notifying(&app, &format!("Incident {i}"), "We are on it.").await;
    }
    sink.wait_for(3, Duration::from_secs(20)).await;

    // The fourth in ten minutes: the account may be hijacked.
    let fourth = open_notifying(&app, "Claim your refund", "Spam.").await;
    assert!(fourth["id"].is_string(), "the page still shows it");
    let mails = sink.wait_for(4, Duration::from_secs(20)).await;
    let alert = mails
        .iter()
        .find(|m| m.rcpt == ADMIN)
        .expect("the admin is alerted by email");
    assert!(alert
        .header("Subject")
        .unwrap()
        .contains("Burst of notifying updates"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to_customer = sink
        .messages()
        .iter()
        .filter(|m| m.rcpt == "customer@example.com")
        .count();
    assert_eq!(to_customer, 3, "the fourth update is held back");
    let status = app.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], true);

    // The red banner names the rule; the API cannot resume; an admin with a fresh code can.
    let dashboard = admin.get("/admin").await.text().await.unwrap();
    assert!(dashboard.contains("Tripwire: outbound sending is paused."));
    assert!(dashboard.contains("Burst of notifying updates"));
    let r = app.api("/api/admin/v1/resume", json!({})).await;
    assert_eq!(r.status(), 403);
    app.store
        .execute_admin("UPDATE sessions SET reauth_at = NULL")
        .await
        .unwrap();
    let r = admin.post("/admin", "/admin/resume", &[]).await;
    assert_eq!(location(&r), "/admin/reauth?next=%2Fadmin%23outbound");
    admin.reauthenticate(&app, ADMIN).await;
    let r = admin.post("/admin", "/admin/resume", &[]).await;
    assert_eq!(r.status(), 303);
    sink.wait_for(5, Duration::from_secs(20)).await;
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&"tripwire.tripped".to_string()));
    assert!(actions.contains(&"outbound.resume".to_string()));
}

#[tokio::test]
async fn a_link_to_a_foreign_domain_in_an_update_trips_the_wire() {
    let app = spawn_app_with(|c| c.tripwire_allowed_domains = "acme.test".into()).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    open_notifying(&app, "Outage", "Details at https://docs.acme.test/outage").await;
    assert_eq!(app.api_get("/api/admin/v1/status").await["paused"], false);
    // A quiet update (no notification) sends nothing, so it is not screened.
    app.open_incident(json!({"name": "Internal", "status": "investigating", "impact": "none", "body": "See https://elsewhere.com/notes", "notify": false}))
        .await;
    assert_eq!(app.api_get("/api/admin/v1/status").await["paused"], false);
    open_notifying(
        &app,
        "Refunds",
        "Claim at http://acme-refunds.com/claim now",
    )
    .await;
    assert_paused_because(&app, "acme-refunds.com").await;
    let alerts = app
        .store
        .query_strings("SELECT subject FROM alerts")
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].contains("Link to a domain not on the allow-list"));
}

#[tokio::test]
async fn a_large_export_and_a_new_address_on_a_privileged_action_trip_the_wire() {
    let app = spawn_app_with(|c| c.tripwire_export_rows = 2).await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    for n in 0..3 {
        subscribe(&app, &format!("s{n}@example.com")).await;
    }
    admin.reauthenticate(&app, ADMIN).await;
    let r = admin.get("/admin/subscribers/export.csv").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().lines().count(), 4);
    assert_paused_because(&app, "Large subscriber export").await;

    // Resumed; then the same admin, from an address never seen for the account, adds staff.
    admin.post("/admin", "/admin/resume", &[]).await;
    assert_eq!(app.api_get("/api/admin/v1/status").await["paused"], false);
    let elsewhere = Browser::from_address(&app, Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(elsewhere.sign_in(&app, ADMIN).await.status(), 303);
    let r = elsewhere
        .post(
            "/admin/staff",
            "/admin/staff",
            &[("email", "accomplice@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_paused_because(&app, "127.0.0.2").await;
}

#[tokio::test]
async fn a_disabled_or_demoted_account_reaching_for_its_old_powers_trips_the_wire() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let other = staff(&app, "second@example.com", Role::Admin).await;
    drop(other);
    let id_of = |email: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .staff_list()
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.email == email)
                .unwrap()
                .id
        }
    };
    let second = id_of("second@example.com").await;
    admin.reauthenticate(&app, ADMIN).await;
    admin
        .post(
            "/admin/staff",
            &format!("/admin/staff/{second}/role"),
            &[("role", "responder")],
        )
        .await;
    // The demoted member (or whoever holds their account) tries to add staff.
    let demoted = Browser::new(&app);
    assert_eq!(
        demoted.sign_in(&app, "second@example.com").await.status(),
        303
    );
    let r = demoted.get("/admin/staff").await;
    assert_eq!(r.status(), 403);
    for _ in 0..50 {
        if app.api_get("/api/admin/v1/status").await["paused"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_paused_because(&app, "demoted").await;

    // Resume, disable the account; its password still works but signing in trips the wire.
    admin.post("/admin", "/admin/resume", &[]).await;
    admin
        .post(
            "/admin/staff",
            &format!("/admin/staff/{second}/disable"),
            &[],
        )
        .await;
    assert_eq!(
        demoted.get("/admin").await.status(),
        303,
        "signed out at once"
    );
    let r = demoted.sign_in(&app, "second@example.com").await;
    assert_eq!(r.status(), 401);
    assert_paused_because(&app, "disabled").await;
}

#[tokio::test]
async fn first_sign_in_requires_two_factor_before_any_admin_page() {
    let app = spawn_app().await;
    app.enrolled_staff_without_2fa(ADMIN, Role::Admin, PASSWORD)
        .await;
    let browser = Browser::new(&app);
    let r = browser.sign_in_with(ADMIN, PASSWORD, "").await;
    assert_eq!(location(&r), "/admin/2fa");
    for path in [
        "/admin",
        "/admin/staff",
        "/admin/tokens",
        "/admin/audit",
        "/admin/account",
    ] {
        assert_eq!(location(&browser.get(path).await), "/admin/2fa", "{path}");
    }
    let r = browser
        .post("/admin/2fa", "/admin/components", &[("name", "x")])
        .await;
    assert_eq!(location(&r), "/admin/2fa", "no action either");
    assert!(app.store.components().await.unwrap().is_empty());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let r = admin.get("/admin").await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().contains_key("referrer-policy"));
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>"),
        "no inline script on admin pages"
    );

    for path in ["/", "/api/v2/summary.json", "/banner.js", "/admin/login"] {
        let r = app.get(path).await;
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(r.headers().contains_key("referrer-policy"), "{path}");
    }
    let r = app.get("/").await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let r = app.get("/api/v2/summary.json").await;
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(!r.headers().contains_key("set-cookie"));
}

#[tokio::test]
async fn herald_secrets_rotate_reseals_everything_under_a_new_key() {
    let app = spawn_app().await;
    staff(&app, ADMIN, Role::Admin).await;
    let x_token = "1234-ROTATEDTOKEN0000000000000";
    connect_x_sealed(&app, x_token, "secret").await;
    let key_path = app.data_dir.join("secret.key");
    let old_key = std::fs::read_to_string(&key_path).unwrap();
    let incident = app.open_incident(json!({"name": "Before", "status": "investigating", "impact": "minor", "body": "b", "notify": false})).await;
    let update_id: i64 = incident["update_id"].as_str().unwrap().parse().unwrap();

    let (ok, out, err) = herald_cli(&app, &["secrets", "rotate"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Re-sealed 4 secrets"),
        "X token, X secret, one TOTP seed, the digest key: {out}"
    );
    let new_key = std::fs::read_to_string(&key_path).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(
        std::fs::read_to_string(app.data_dir.join("secret.key.previous")).unwrap(),
        old_key,
        "the old key is kept for links in emails already sent"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let new_sealer = herald::security::seal::Sealer::new(
        &herald::security::keys::MasterKey::load_or_create(&key_path).unwrap(),
    );
    let account = app.store.x_account().await.unwrap().unwrap();
    assert_eq!(
        new_sealer
            .open(
                herald::security::seal::purpose::X_TOKEN,
                &account.token_sealed
            )
            .unwrap(),
        x_token
    );
    assert!(
        app.sealer
            .open(
                herald::security::seal::purpose::X_TOKEN,
                &account.token_sealed
            )
            .is_err(),
        "the old key no longer opens it"
    );
    let id = app.store.staff_list().await.unwrap()[0].id;
    let (seed, _) = app.store.totp_seed(id).await.unwrap().unwrap();
    assert!(new_sealer
        .open(&herald::security::seal::purpose::totp(id), &seed)
        .is_ok());
    let (ok, out, err) = herald_cli(&app, &["audit", "verify"]);
    assert!(ok, "the chain is re-keyed: {out}{err}");
    // Updates are re-stamped: a restarted Herald (new key) still sends them.
    let restarted = herald::store::Store::connect(&app.database_url)
        .await
        .unwrap()
        .with_stamper(herald::security::stamp::Stamper::new(
            &herald::security::keys::MasterKey::load_or_create(&key_path).unwrap(),
        ));
    assert!(restarted.update_stamp_ok(update_id).await.unwrap());
    assert!(
        !app.store.update_stamp_ok(update_id).await.unwrap(),
        "not under the old key"
    );
    assert!(audit_actions(&app)
        .await
        .contains(&"secrets.rotate".to_string()));
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(|c| c.trusted_proxies = "127.0.0.1".into()).await;
    let attempt = |forwarded: &'static str| {
        let app = &app;
        async move {
            let page = app.get_text("/admin/login").await;
            let csrf = hidden_field(&page, "csrf");
            app.http
                .post(app.url("/admin/login"))
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "x@example.com"),
                    ("password", "wrong-wrong-wrong"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The address throttle counts the client behind the proxy, not the proxy.
    for _ in 0..21 {
        attempt("198.51.100.1, 203.0.113.9").await;
    }
    // Herald's own entries (made at start) carry no address.
    let ips = app
        .store
        .query_strings("SELECT DISTINCT ip FROM audit_log WHERE ip <> ''")
        .await
        .unwrap();
    assert_eq!(
        ips,
        vec!["203.0.113.9".to_string()],
        "the right-most untrusted hop"
    );
    let keys = app
        .store
        .query_strings("SELECT key FROM login_throttle ORDER BY key")
        .await
        .unwrap();
    assert!(keys.contains(&"ip:203.0.113.9".to_string()), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("127.0.0.1")), "{keys:?}");

    // Without trusted proxies the header is only the client's claim, and ignored.
    let app = spawn_app().await;
    let page = app.get_text("/admin/login").await;
    let csrf = hidden_field(&page, "csrf");
    app.http
        .post(app.url("/admin/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "x@example.com"),
            ("password", "nope-nope-nope"),
        ])
        .send()
        .await
        .unwrap();
    // Herald's own entries (made at start) carry no address.
    let ips = app
        .store
        .query_strings("SELECT DISTINCT ip FROM audit_log WHERE ip <> ''")
        .await
        .unwrap();
    assert_eq!(ips, vec!["127.0.0.1".to_string()]);
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn an_update_written_straight_into_the_database_is_never_sent_and_trips_the_wire() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    subscribe(&app, "customer@example.com").await;
    open_notifying(&app, "Real outage", "We are on it.").await;
    sink.wait_for(1, Duration::from_secs(20)).await;

    // Someone with write access to the database host (but not the key file) queues spam: a
    // new update copying a genuine one's stamp, and its fan-out.
    app.store
        .execute_admin(
            "INSERT INTO incident_updates (incident_id, status, body, display_at, created_at, \
             updated_at, deliver_notifications, author, stamp) \
             SELECT incident_id, status, 'Claim your refund at https://acme-refunds.com', \
             display_at, created_at, updated_at, deliver_notifications, author, stamp \
             FROM incident_updates WHERE id = (SELECT MAX(id) FROM incident_updates); \
             INSERT INTO fanouts (update_id, incident_id, created_at) \
             SELECT id, incident_id, created_at FROM incident_updates \
             WHERE id = (SELECT MAX(id) FROM incident_updates)",
        )
        .await
        .unwrap();
    // Wake the workers as any later change would.
    app.api("/api/admin/v1/pause", json!({})).await;
    app.api("/api/admin/v1/resume", json!({})).await;

    let mails = sink.wait_for(2, Duration::from_secs(20)).await;
    let alert = mails
        .iter()
        .find(|m| m.rcpt == ADMIN)
        .expect("admins are alerted");
    assert!(
        alert
            .header("Subject")
            .unwrap()
            .contains("Outbound message not written"),
        "{:?}",
        alert.header("Subject")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to_customer: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| m.rcpt == "customer@example.com")
        .collect();
    assert_eq!(to_customer.len(), 1, "the forged update never went out");
    assert!(!to_customer[0].text().contains("acme-refunds"));
    assert_paused_because(&app, "no valid stamp").await;
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes_and_twelve_hours_in_all() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    assert_eq!(admin.get("/admin").await.status(), 200);
    let back =
        |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
    // Idle: nothing for 31 minutes.
    let sql = format!(
        "UPDATE sessions SET last_seen_at = '{}'",
        back(31).replace("+00:00", "Z")
    );
    app.store.execute_admin(&sql).await.unwrap();
    assert_eq!(
        location(&admin.get("/admin").await),
        "/admin/login",
        "idle too long"
    );

    // Busy all day: the absolute limit still ends it.
    assert_eq!(admin.sign_in(&app, ADMIN).await.status(), 303);
    assert_eq!(admin.get("/admin").await.status(), 200);
    let sql = format!(
        "UPDATE sessions SET expires_at = '{}'",
        back(1).replace("+00:00", "Z")
    );
    app.store.execute_admin(&sql).await.unwrap();
    assert_eq!(
        location(&admin.get("/admin").await),
        "/admin/login",
        "past 12 hours"
    );
}

/// Every route of Statuspage's API under `/v1`, with the least role its token needs.
const V1_ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/v1/pages", Role::Viewer),
    ("GET", "/v1/pages/{page_id}", Role::Viewer),
    ("GET", "/v1/pages/{page_id}/components", Role::Viewer),
    ("POST", "/v1/pages/{page_id}/components", Role::Responder),
    (
        "GET",
        "/v1/pages/{page_id}/components/{component_id}",
        Role::Viewer,
    ),
    (
        "PATCH",
        "/v1/pages/{page_id}/components/{component_id}",
        Role::Responder,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/components/{component_id}",
        Role::Responder,
    ),
    (
        "DELETE",
        "/v1/pages/{page_id}/components/{component_id}",
        Role::Admin,
    ),
    ("GET", "/v1/pages/{page_id}/component-groups", Role::Viewer),
    (
        "POST",
        "/v1/pages/{page_id}/component-groups",
        Role::Responder,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/component-groups/{id}",
        Role::Viewer,
    ),
    (
        "PATCH",
        "/v1/pages/{page_id}/component-groups/{id}",
        Role::Responder,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/component-groups/{id}",
        Role::Responder,
    ),
    (
        "DELETE",
        "/v1/pages/{page_id}/component-groups/{id}",
        Role::Responder,
    ),
    ("GET", "/v1/pages/{page_id}/incidents", Role::Viewer),
    ("POST", "/v1/pages/{page_id}/incidents", Role::Responder),
    (
        "GET",
        "/v1/pages/{page_id}/incidents/unresolved",
        Role::Viewer,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/incidents/upcoming",
        Role::Viewer,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/incidents/active_maintenance",
        Role::Viewer,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/incidents/scheduled",
        Role::Viewer,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/incidents/{incident_id}",
        Role::Viewer,
    ),
    (
        "PATCH",
        "/v1/pages/{page_id}/incidents/{incident_id}",
        Role::Responder,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/incidents/{incident_id}",
        Role::Responder,
    ),
    (
        "PATCH",
        "/v1/pages/{page_id}/incidents/{incident_id}/incident_updates/{incident_update_id}",
        Role::Responder,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/incidents/{incident_id}/incident_updates/{incident_update_id}",
        Role::Responder,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/incidents/{incident_id}/postmortem",
        Role::Responder,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/incidents/{incident_id}/postmortem",
        Role::Viewer,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/incidents/{incident_id}/postmortem/publish",
        Role::Responder,
    ),
    (
        "PUT",
        "/v1/pages/{page_id}/incidents/{incident_id}/postmortem/revert",
        Role::Responder,
    ),
    (
        "DELETE",
        "/v1/pages/{page_id}/incidents/{incident_id}/postmortem",
        Role::Responder,
    ),
    (
        "GET",
        "/v1/pages/{page_id}/incident_templates",
        Role::Viewer,
    ),
    (
        "POST",
        "/v1/pages/{page_id}/incident_templates",
        Role::Responder,
    ),
    (
        "DELETE",
        "/v1/pages/{page_id}/incidents/{incident_id}",
        Role::Admin,
    ),
    ("GET", "/v1/pages/{page_id}/subscribers", Role::Admin),
    ("POST", "/v1/pages/{page_id}/subscribers", Role::Admin),
    (
        "GET",
        "/v1/pages/{page_id}/subscribers/{subscriber_id}",
        Role::Admin,
    ),
    (
        "DELETE",
        "/v1/pages/{page_id}/subscribers/{subscriber_id}",
        Role::Admin,
    ),
];

#[test]
fn the_v1_role_matrix_covers_every_declared_route() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut declared = Vec::new();
    for entry in std::fs::read_dir(format!("{root}/src/web/v1")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        declared.extend(declared_routes(&source));
    }
    assert!(declared.len() >= V1_ROUTES.len(), "{declared:?}");
    for (method, path) in &declared {
        let covered = V1_ROUTES.iter().any(|(m, p, _)| m == method && p == path);
        assert!(
            covered,
            "{method} {path} is missing from the /v1 role matrix"
        );
    }
}

#[tokio::test]
async fn every_v1_route_enforces_its_tokens_role() {
    let app = spawn_app().await;
    let page: Value = app
        .http
        .get(app.url("/v1/pages"))
        .header("Authorization", format!("OAuth {}", app.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = page[0]["id"].as_str().unwrap().to_string();
    for role in [Role::Viewer, Role::Responder, Role::Admin] {
        // Fresh objects for each token, since the allowed ones delete theirs.
        let admin = |path: String, method: reqwest::Method, body: Value| {
            app.http
                .request(method, app.url(&format!("/v1/pages/{page}{path}")))
                .header("Authorization", format!("OAuth {}", app.token))
                .json(&body)
                .send()
        };
        let incident: Value = admin(
            "/incidents".into(),
            reqwest::Method::POST,
            json!({"incident": {"name": "Seed", "status": "resolved", "body": "b", "deliver_notifications": false}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let update = incident["incident_updates"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let incident = incident["id"].as_str().unwrap().to_string();
        let r = admin(
            format!("/incidents/{incident}/postmortem"),
            reqwest::Method::PUT,
            json!({"postmortem": {"body_draft": "What happened."}}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let component = app.create_component(&format!("Matrix {role:?}")).await;
        let subscriber: Value = app
            .api(
                "/api/admin/v1/subscribers",
                json!({"email": format!("matrix-{role:?}@example.com"), "confirmed": true}),
            )
            .await
            .json()
            .await
            .unwrap();
        let subscriber = subscriber["id"].as_str().unwrap().to_string();
        let group: Value = app
            .http
            .post(app.url(&format!("/v1/pages/{page}/component-groups")))
            .header("Authorization", format!("OAuth {}", app.token))
            .json(&json!({"component_group": {"name": format!("Matrix group {role:?}")}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let group = group["id"].as_str().unwrap().to_string();
        let (_, token) = app
            .store
            .create_api_token(&format!("v1-{role:?}").to_lowercase(), role, "tests")
            .await
            .unwrap();
        for (n, (method, path, needed)) in V1_ROUTES.iter().enumerate() {
            let target = path
                .replace("{page_id}", &page)
                .replace("{component_id}", &component)
                .replace("{incident_id}", &incident)
                .replace("{incident_update_id}", &update)
                .replace("{subscriber_id}", &subscriber)
                .replace("{id}", &group);
            let body = match *path {
                "/v1/pages/{page_id}/components" => {
                    json!({"component": {"name": format!("C{n}{role:?}")}})
                }
                "/v1/pages/{page_id}/component-groups" => {
                    json!({"component_group": {"name": format!("G{n}{role:?}")}})
                }
                "/v1/pages/{page_id}/incidents" => {
                    json!({"incident": {"name": "Matrix", "body": "b", "deliver_notifications": false}})
                }
                "/v1/pages/{page_id}/incidents/{incident_id}/postmortem" => {
                    json!({"postmortem": {"body_draft": format!("Draft {n}")}})
                }
                "/v1/pages/{page_id}/incident_templates" => {
                    json!({"template": {"name": format!("T{n}{role:?}"), "title": "t", "body": "b"}})
                }
                "/v1/pages/{page_id}/subscribers" => {
                    json!({"subscriber": {"email": format!("s{n}{role:?}@example.com"), "skip_confirmation_notification": true}})
                }
                _ => json!({}),
            };
            let method_value = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = app
                .http
                .request(method_value, app.url(&target))
                .header("Authorization", format!("OAuth {token}"));
            if *method != "GET" && *method != "DELETE" {
                request = request.json(&body);
            }
            let status = request.send().await.unwrap().status();
            if role.allows(*needed) {
                assert_ne!(status, 403, "{method} {target} as {role:?}");
                assert_ne!(status, 401, "{method} {target} as {role:?}");
                assert!(
                    status.is_success(),
                    "{method} {target} as {role:?}: {status}"
                );
            } else {
                assert_eq!(status, 403, "{method} {target} as {role:?}");
            }
        }
    }
}
