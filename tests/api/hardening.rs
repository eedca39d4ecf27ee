//! Hardened public edges: `/metrics` behind a viewer token and answered from memory, no HTML
//! page that can be framed, private file modes, and confirmation links that a GET cannot use.

use herald::domain::Role;
use herald::notify::compose::purpose;
use herald::security::keys::{LinkSigner, MasterKey};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn metrics_with(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn metrics_need_a_viewer_token_and_answer_without_the_database() {
    let app = spawn_app().await;
    assert_eq!(metrics_with(&app, None).await.status(), 401);
    assert_eq!(metrics_with(&app, Some("not-a-token")).await.status(), 401);

    let (_, viewer) = app
        .store
        .create_api_token("prometheus", Role::Viewer, "tests")
        .await
        .unwrap();
    let r = metrics_with(&app, Some(&viewer)).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("herald_subscribers{state=\"confirmed\"} 0"),
        "{body}"
    );
    assert!(body.contains("herald_outbound_paused 0"), "{body}");

    // With the database gone, a scrape still answers from memory.
    app.store.close().await;
    let r = metrics_with(&app, Some(&viewer)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("herald_deliveries"));
    assert_eq!(metrics_with(&app, None).await.status(), 401);
}

fn assert_not_frameable(path: &str, response: &reqwest::Response) {
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    assert_eq!(
        headers.get("x-frame-options").map(|v| v.to_str().unwrap()),
        Some("DENY"),
        "{path}"
    );
}

#[tokio::test]
async fn no_html_page_can_be_framed_and_scripts_json_and_feeds_are_left_alone() {
    let app = spawn_app().await;
    app.create_component("API").await;
    let incident = app
        .open_incident(json!({"name": "Slow API", "status": "investigating", "impact": "minor", "body": "Looking."}))
        .await;
    let incident_page = format!("/incidents/{}", incident["id"].as_str().unwrap());
    let html_pages = [
        "/",
        "/history",
        incident_page.as_str(),
        "/no-such-page",
        "/subscribe/confirm/not-a-token",
        "/unsubscribe/not-a-token",
        "/subscribe/manage/not-a-token",
        "/admin/login",
    ];
    for path in html_pages {
        let r = app.get(path).await;
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert_not_frameable(path, &r);
        // The 304 of a cached page keeps them too.
        if let Some(etag) = r.headers().get("etag") {
            let again = app
                .http
                .get(app.url(path))
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap();
            if again.status() == 304 {
                assert_not_frameable(path, &again);
            }
        }
    }
    // A page a form answers with (a refused sign-up).
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", "not an address")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_not_frameable("POST /subscribe", &r);

    for path in ["/banner.js", "/api/v2/summary.json", "/history.atom"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            !r.headers().contains_key("x-frame-options"),
            "{path} is embeddable"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // A data directory Herald has to make (the test's temporary one may be more open).
    let app = spawn_app_with(|c| c.data_dir = c.data_dir.join("herald")).await;
    let data_dir = app.data_dir.join("herald");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&data_dir.join("secret.key")), 0o600);
    if app.database_url.starts_with("sqlite") {
        let db = data_dir.join("herald.db");
        assert_eq!(mode(&db), 0o600, "the database");
        for suffix in ["-wal", "-shm"] {
            let companion = data_dir.join(format!("herald.db{suffix}"));
            if companion.exists() {
                assert_eq!(mode(&companion), 0o600, "{suffix}");
            }
        }
    }
}

#[tokio::test]
async fn a_get_on_a_confirmation_link_confirms_nothing_and_the_button_post_does() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "reader@example.com", "confirmed": false}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id: i64 = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let key = MasterKey::load(&app.data_dir.join("secret.key"))
        .unwrap()
        .unwrap();
    let expires = chrono::Utc::now().timestamp() + 3600;
    let token = LinkSigner::new(&key).sign(purpose::CONFIRM, id, expires);
    let link = format!("/subscribe/confirm/{token}");

    let r = app.get(&link).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(page.contains(&format!("action=\"{link}\"")), "{page}");
    assert!(!page.contains("List-Unsubscribe"), "{page}");
    app.get(&link).await;
    let subscriber = app.store.subscriber(id).await.unwrap().unwrap();
    assert!(subscriber.confirmed_at.is_none(), "a GET confirmed it");

    let r = app.http.post(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are subscribed"));
    let subscriber = app.store.subscriber(id).await.unwrap().unwrap();
    assert!(subscriber.confirmed_at.is_some());

    // A tampered link confirms nothing either way.
    let r = app
        .http
        .post(app.url("/subscribe/confirm/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

async fn subscriber_total(app: &TestApp) -> i64 {
    let (confirmed, unconfirmed) = app.store.subscriber_counts().await.unwrap();
    confirmed + unconfirmed
}

async fn sign_up(app: &TestApp, form: &[(&str, &str)]) -> (u16, String) {
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn addresses_the_mailer_cannot_send_to_are_refused_everywhere_with_the_reason() {
    let app = spawn_app().await;
    for (address, reason) in [
        ("üser@example.com", "SMTPUTF8"),
        ("\"a b\"@example.com", "quoted"),
        ("user\u{202E}moc@example.com", "direction-changing"),
        ("us\u{1}er@example.com", "control"),
    ] {
        let (status, page) = sign_up(&app, &[("email", address)]).await;
        assert_eq!(status, 422, "{address}");
        assert!(page.contains(reason), "{address}: {page}");
        let r = app
            .api("/api/admin/v1/subscribers", json!({"email": address}))
            .await;
        assert_eq!(r.status(), 422, "{address}");
        assert!(r.text().await.unwrap().contains(reason), "{address}");
    }
    assert_eq!(subscriber_total(&app).await, 0, "nothing was stored");

    // An internationalised domain is kept in the ASCII form every relay accepts.
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "user@Bücher.example"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let stored: serde_json::Value = r.json().await.unwrap();
    assert_eq!(stored["email"], "user@xn--bcher-kva.example");
}

#[tokio::test]
async fn an_address_differing_only_in_case_is_the_same_subscriber() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "sub1@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "SUB1@EXAMPLE.COM"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already subscribed"));
    let (status, _) = sign_up(&app, &[("email", "SUB1@EXAMPLE.COM")]).await;
    assert_eq!(status, 200, "the same answer as for any address");
    assert_eq!(subscriber_total(&app).await, 1);
    let (confirmed, _) = app.store.subscriber_counts().await.unwrap();
    assert_eq!(confirmed, 1, "the confirmed subscriber is left as it was");
    // The database itself refuses a second row in another case, so two sign-ups racing past
    // the lookup cannot both land.
    let refused = app
        .store
        .execute_admin(
            "INSERT INTO subscribers (email, all_components, created_at) \
             VALUES ('Sub1@Example.com', TRUE, '2026-12-07T00:00:00Z')",
        )
        .await;
    assert!(refused.is_err(), "a second row in another case was stored");
    assert_eq!(subscriber_total(&app).await, 1);
}

#[tokio::test]
async fn unknown_components_are_refused_at_sign_up_and_on_the_manage_page() {
    let app = spawn_app().await;
    let known = app.create_component("API").await;
    let (status, page) = sign_up(
        &app,
        &[("email", "reader@example.com"), ("components", "987654")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("unknown component"), "{page}");
    assert_eq!(subscriber_total(&app).await, 0);

    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "reader@example.com", "confirmed": true, "components": [known]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id: i64 = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let key = MasterKey::load(&app.data_dir.join("secret.key"))
        .unwrap()
        .unwrap();
    let token = LinkSigner::new(&key).sign(purpose::MANAGE, id, 0);
    let r = app
        .http
        .post(app.url(&format!("/subscribe/manage/{token}")))
        .form(&[("scope", "some"), ("components", "987654")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let subscriber = app.store.subscriber(id).await.unwrap().unwrap();
    assert_eq!(
        subscriber.component_ids,
        [known.parse::<i64>().unwrap()],
        "the choice is unchanged"
    );
}
