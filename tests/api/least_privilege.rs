//! Least privilege, written as attacks: rows written straight into the database (a minted
//! token or session, an edited role) grant nothing; a member's tokens lose what the member
//! loses; adding subscribers without double opt-in and reading their addresses are admin acts
//! on every surface.

use chrono::SecondsFormat;
use herald::domain::{Role, SubscriberEmail};
use herald::security::secret;
use herald::store::Store;
use serde_json::{json, Value};

use crate::browser::{session_cookie, staff, Browser, PASSWORD};
use crate::helpers::{hidden_field, spawn_app, spawn_app_with, test_postgres_database, TestApp};

const ADMIN: &str = "admin@example.com";

/// Status of GET `path` with only this session cookie, from a client that keeps none.
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::StatusCode {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", format!("herald_session={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
}

/// Another Herald on the same database and data directory (a restart, or a second instance).
async fn restart(app: &TestApp) -> TestApp {
    let (dir, url) = (app.data_dir.clone(), app.database_url.clone());
    spawn_app_with(move |c| {
        c.data_dir = dir;
        c.database_url = url;
    })
    .await
}

async fn staff_id(app: &TestApp, email: &str) -> i64 {
    app.store
        .staff_list()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.email == email)
        .unwrap()
        .id
}

async fn outbound(app: &TestApp) -> Value {
    app.api_get("/api/admin/v1/status").await
}

async fn assert_paused_because(app: &TestApp, why: &str) {
    let status = outbound(app).await;
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        status["reason"].as_str().unwrap_or("").contains(why),
        "{status}"
    );
}

async fn audit_details(app: &TestApp, action: &str) -> Vec<String> {
    app.store
        .query_strings(&format!(
            "SELECT detail FROM audit_log WHERE action = '{action}' ORDER BY id"
        ))
        .await
        .unwrap()
}

/// A time as Herald stores it, for rows written with SQL.
fn sql_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// Status of reading the outbound state with `token`.
async fn status_as(app: &TestApp, token: &str) -> reqwest::StatusCode {
    app.http
        .get(app.url("/api/admin/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn add_component(app: &TestApp, token: &str, name: &str) -> reqwest::StatusCode {
    app.api_as(token, "/api/admin/v1/components", json!({ "name": name }))
        .await
        .status()
}

#[tokio::test]
async fn a_minted_token_row_never_authenticates() {
    let app = spawn_app().await;
    // Someone with write access to the database, not the key file, mints a token of their
    // choosing: as the old unkeyed hash, and shaped like a keyed one.
    let chosen = "hrld_chosen-by-the-attacker-0000000000000000000";
    let now = sql_time(chrono::Utc::now());
    for (name, hash) in [
        ("minted", secret::digest(chosen)),
        ("minted-keyed", format!("k1.{}", secret::digest(chosen))),
    ] {
        app.store
            .execute_admin(&format!(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) \
                 VALUES ('{name}', 'admin', '{hash}', '{now}', 'cli')"
            ))
            .await
            .unwrap();
    }
    assert_eq!(add_component(&app, chosen, "Spam").await, 401);
    let r = app
        .api_as(
            chosen,
            "/api/admin/v1/incidents",
            json!({"name": "Refunds", "status": "investigating", "impact": "minor", "body": "https://acme-refunds.com", "notify": true}),
        )
        .await;
    assert_eq!(r.status(), 401);
    // A restart does not take the row for one written before hashes were keyed.
    let restarted = restart(&app).await;
    assert_eq!(add_component(&restarted, chosen, "Spam").await, 401);
    assert!(app.store.components().await.unwrap().is_empty());
    let incidents = app
        .store
        .query_strings("SELECT name FROM incidents")
        .await
        .unwrap();
    assert!(incidents.is_empty(), "{incidents:?}");
}

#[tokio::test]
async fn a_minted_session_row_never_opens_the_admin() {
    let app = spawn_app().await;
    staff(&app, ADMIN, Role::Admin).await;
    let admin_id = staff_id(&app, ADMIN).await;
    let tokens_before = app.store.api_tokens().await.unwrap().len();
    let cookie = "minted-session-cookie-chosen-by-the-attacker";
    let now = chrono::Utc::now();
    for id_hash in [
        secret::digest(cookie),
        format!("k1.{}", secret::digest(cookie)),
    ] {
        // Second factor given and re-authenticated just now, on the admin's account.
        app.store
            .execute_admin(&format!(
                "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at, \
                 expires_at, ip, user_agent, mfa_at, reauth_at) VALUES ('{id_hash}', {admin_id}, \
                 'csrf', '{t}', '{t}', '{later}', '127.0.0.1', 'x', '{t}', '{t}')",
                t = sql_time(now),
                later = sql_time(now + chrono::Duration::hours(1)),
            ))
            .await
            .unwrap();
    }
    for path in [
        "/admin",
        "/admin/staff",
        "/admin/tokens",
        "/admin/subscribers",
    ] {
        assert_eq!(get_with_cookie(&app, path, cookie).await, 303, "{path}");
    }
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/admin/tokens"))
        .header("cookie", format!("herald_session={cookie}"))
        .form(&[("csrf", "csrf"), ("name", "exfil"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/login");
    assert_eq!(app.store.api_tokens().await.unwrap().len(), tokens_before);
    let restarted = restart(&app).await;
    assert_eq!(get_with_cookie(&restarted, "/admin", cookie).await, 303);
}

#[tokio::test]
async fn a_token_whose_role_was_edited_to_admin_is_refused_and_trips_the_wire() {
    let app = spawn_app().await;
    let (_, token) = app
        .store
        .create_api_token("viewer-bot", Role::Viewer, "tests")
        .await
        .unwrap();
    assert_eq!(
        status_as(&app, &token).await,
        200,
        "a genuine viewer token reads"
    );
    app.store
        .execute_admin("UPDATE api_tokens SET role = 'admin' WHERE name = 'viewer-bot'")
        .await
        .unwrap();
    let r = app
        .api_as(
            &token,
            "/api/admin/v1/subscribers",
            json!({"email": "planted@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(status_as(&app, &token).await, 401);
    assert_eq!(app.store.subscriber_counts().await.unwrap(), (0, 0));
    assert_paused_because(&app, "edited in the database").await;
    // With the role put back it reads again; a revocation undone in the database does not.
    app.store
        .execute_admin("UPDATE api_tokens SET role = 'viewer' WHERE name = 'viewer-bot'")
        .await
        .unwrap();
    assert_eq!(status_as(&app, &token).await, 200);
    let id = app.store.api_tokens().await.unwrap()[0].info.id;
    app.store.revoke_api_token(id).await.unwrap();
    app.store
        .execute_admin("UPDATE api_tokens SET revoked_at = NULL WHERE name = 'viewer-bot'")
        .await
        .unwrap();
    assert_eq!(status_as(&app, &token).await, 401);
}

#[tokio::test]
async fn a_session_pointed_at_an_admin_in_the_database_opens_nothing_and_trips_the_wire() {
    let app = spawn_app().await;
    staff(&app, ADMIN, Role::Admin).await;
    let viewer = Browser::new(&app);
    app.enrolled_staff("viewer@example.com", Role::Viewer, PASSWORD)
        .await;
    let cookie = viewer.signed_in_cookie(&app, "viewer@example.com").await;
    assert_eq!(get_with_cookie(&app, "/admin", &cookie).await, 200);
    assert_eq!(get_with_cookie(&app, "/admin/staff", &cookie).await, 403);
    let (admin_id, viewer_id) = (
        staff_id(&app, ADMIN).await,
        staff_id(&app, "viewer@example.com").await,
    );
    app.store
        .execute_admin(&format!(
            "UPDATE sessions SET staff_id = {admin_id} WHERE staff_id = {viewer_id}"
        ))
        .await
        .unwrap();
    assert_eq!(get_with_cookie(&app, "/admin/staff", &cookie).await, 303);
    assert_eq!(get_with_cookie(&app, "/admin", &cookie).await, 303);
    assert_paused_because(&app, "edited in the database").await;
}

#[tokio::test]
async fn a_half_open_session_given_two_factor_times_in_the_database_stays_half_open() {
    let app = spawn_app().await;
    // A member's password (stolen) before they set up two-factor, and then the second
    // factor written into the session row.
    let thief = Browser::new(&app);
    let page = thief.get("/admin/login").await.text().await.unwrap();
    let csrf = hidden_field(&page, "csrf");
    let half = app
        .enrolled_staff_without_2fa("new@example.com", Role::Admin, PASSWORD)
        .await;
    let r = thief
        .http
        .post(app.url("/admin/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "new@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin/2fa");
    let cookie = session_cookie(&r);
    let now = sql_time(chrono::Utc::now());
    app.store
        .execute_admin(&format!(
            "UPDATE sessions SET mfa_at = '{now}', reauth_at = '{now}' WHERE staff_id = {half}"
        ))
        .await
        .unwrap();
    assert_eq!(get_with_cookie(&app, "/admin/staff", &cookie).await, 303);
    assert_paused_because(&app, "edited in the database").await;
}

#[tokio::test]
async fn sessions_tokens_links_and_codes_from_before_the_upgrade_keep_working() {
    // A database as an earlier Herald left it: unkeyed SHA-256 hashes, no digest key.
    let dir = tempfile::tempdir().unwrap();
    let url = match test_postgres_database().await {
        Some(url) => url,
        None => format!("sqlite://{}", dir.path().join("old.db").display()),
    };
    let old = Store::connect(&url).await.unwrap();
    old.migrate().await.unwrap();
    let (cookie, token, link, code) = (
        "old-session-cookie",
        "hrld_old-token",
        "old-enrolment-link",
        "abcd-efgh-ijkl-mnop",
    );
    let now = chrono::Utc::now();
    let (t, later) = (sql_time(now), sql_time(now + chrono::Duration::hours(1)));
    let password = herald::security::password::hash(PASSWORD.to_string())
        .await
        .unwrap();
    old.execute_admin(&format!(
        "INSERT INTO staff (email, role, password_hash, created_at, totp_enabled_at) \
         VALUES ('{ADMIN}', 'admin', '{password}', '{t}', '{t}'); \
         INSERT INTO staff (email, role, created_at) VALUES ('new@example.com', 'viewer', '{t}')"
    ))
    .await
    .unwrap();
    let ids = old
        .query_strings("SELECT CAST(id AS TEXT) FROM staff ORDER BY id")
        .await
        .unwrap();
    let (admin, newcomer) = (&ids[0], &ids[1]);
    old.execute_admin(&format!(
        "INSERT INTO sessions (id_hash, staff_id, csrf_token, created_at, last_seen_at, \
         expires_at, ip, user_agent, mfa_at, reauth_at) VALUES ('{}', {admin}, 'csrf', '{t}', \
         '{t}', '{later}', '127.0.0.1', 'x', '{t}', '{t}'); \
         INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) \
         VALUES ('old-bot', 'responder', '{}', '{t}', 'cli'); \
         INSERT INTO enrolments (token_hash, staff_id, created_at, expires_at) \
         VALUES ('{}', {newcomer}, '{t}', '{later}'); \
         INSERT INTO recovery_codes (staff_id, code_hash) VALUES ({admin}, '{}')",
        secret::digest(cookie),
        secret::digest(token),
        secret::digest(link),
        herald::security::totp::recovery_digest(code),
    ))
    .await
    .unwrap();
    old.close().await;

    // The new Herald starts on it: the hashes are keyed once, and every secret still works.
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let app = spawn_app_with({
        let (url, data_dir) = (url.clone(), data_dir.clone());
        move |c| {
            c.database_url = url;
            c.data_dir = data_dir;
        }
    })
    .await;
    assert_eq!(get_with_cookie(&app, "/admin", cookie).await, 200);
    assert_eq!(add_component(&app, token, "Via old token").await, 201);
    assert_eq!(app.get(&format!("/admin/enrol/{link}")).await.status(), 200);
    let stored = app
        .store
        .query_strings(
            "SELECT token_hash FROM api_tokens UNION ALL SELECT id_hash FROM sessions \
             UNION ALL SELECT token_hash FROM enrolments UNION ALL SELECT code_hash FROM recovery_codes",
        )
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.starts_with("k1.")), "{stored:?}");
    let upgrades = audit_details(&app, "secrets.keyed_hashes").await;
    assert_eq!(upgrades.len(), 1, "recorded once");
    let upgrade: Value = serde_json::from_str(&upgrades[0]).unwrap();
    assert_eq!(
        upgrade,
        json!({"api_tokens": 1, "sessions": 1, "enrolments": 1, "recovery_codes": 1})
    );

    // Started again: nothing is re-keyed twice, and the old secrets still work.
    let again = spawn_app_with(move |c| {
        c.database_url = url;
        c.data_dir = data_dir;
    })
    .await;
    assert_eq!(audit_details(&again, "secrets.keyed_hashes").await.len(), 1);
    assert_eq!(get_with_cookie(&again, "/admin", cookie).await, 200);
    assert_eq!(add_component(&again, token, "Again").await, 201);
    let r = again.sign_in_with_code(ADMIN, PASSWORD, code).await;
    assert_eq!(r.status(), 303, "the old recovery code signs in");
    assert_eq!(r.headers()["location"], "/admin");
}

#[tokio::test]
async fn tokens_and_sessions_keep_working_after_herald_secrets_rotate() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let cookie = admin.signed_in_cookie(&app, ADMIN).await;
    let token = admin.create_token("deploy", "responder").await;
    assert_eq!(add_component(&app, &token, "Before").await, 201);

    let (ok, out, err) = crate::cli::herald_with(
        &app.data_dir,
        &["secrets", "rotate"],
        "",
        &[("HERALD_DATABASE_URL", app.database_url.as_str())],
    );
    assert!(ok, "{out}{err}");

    // Restarted with the new key file.
    let restarted = restart(&app).await;
    assert_eq!(
        get_with_cookie(&restarted, "/admin/tokens", &cookie).await,
        200
    );
    assert_eq!(add_component(&restarted, &token, "After").await, 201);
    assert_eq!(add_component(&restarted, &app.token, "Harness").await, 201);
    assert_eq!(outbound(&restarted).await["paused"], false);
}

#[tokio::test]
async fn a_disabled_members_token_stops_working() {
    let app = spawn_app().await;
    let leaving = staff(&app, "leaving@example.com", Role::Admin).await;
    let token = leaving.create_token("their-bot", "admin").await;
    assert_eq!(add_component(&app, &token, "While employed").await, 201);
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let id = staff_id(&app, "leaving@example.com").await;
    let r = admin
        .post("/admin/staff", &format!("/admin/staff/{id}/disable"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(add_component(&app, &token, "After leaving").await, 401);
    let listed = app.store.api_tokens().await.unwrap();
    let theirs = listed.iter().find(|t| t.info.name == "their-bot").unwrap();
    assert!(theirs.revoked_at.is_some(), "revoked, and shown so");
    let details = audit_details(&app, "staff.disable").await;
    assert!(details[0].contains("their-bot"), "{details:?}");
    assert!(details[0].contains("revoked"), "{details:?}");
    // A token made on the command line has no maker to lose: it keeps working.
    assert_eq!(add_component(&app, &app.token, "Harness").await, 201);
}

#[tokio::test]
async fn a_demoted_admins_token_can_no_longer_do_admin_acts() {
    let app = spawn_app().await;
    let demoted = staff(&app, "demoted@example.com", Role::Admin).await;
    let token = demoted.create_token("their-bot", "admin").await;
    let subscriber = |n: u32| json!({"email": format!("s{n}@example.com"), "confirmed": true});
    let r = app
        .api_as(&token, "/api/admin/v1/subscribers", subscriber(1))
        .await;
    assert_eq!(
        r.status(),
        201,
        "an admin token adds a confirmed subscriber"
    );

    let admin = staff(&app, ADMIN, Role::Admin).await;
    let id = staff_id(&app, "demoted@example.com").await;
    admin.reauthenticate(&app, ADMIN).await;
    let r = admin
        .post(
            "/admin/staff",
            &format!("/admin/staff/{id}/role"),
            &[("role", "responder")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app
        .api_as(&token, "/api/admin/v1/subscribers", subscriber(2))
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.store.subscriber_counts().await.unwrap().0, 1);
    assert_eq!(
        add_component(&app, &token, "Still a responder").await,
        201,
        "narrowed to the new role, not revoked"
    );
    let details = audit_details(&app, "staff.role").await;
    let last = details.last().unwrap();
    assert!(
        last.contains("their-bot") && last.contains("responder"),
        "{last}"
    );

    // At use time too: the token never has more than its maker's role now.
    app.store
        .execute_admin(&format!("UPDATE staff SET role = 'viewer' WHERE id = {id}"))
        .await
        .unwrap();
    assert_eq!(add_component(&app, &token, "As a viewer").await, 403);
}

#[tokio::test]
async fn a_responder_cannot_import_confirmed_subscribers_or_add_a_confirmed_one() {
    let app = spawn_app().await;
    let responder = staff(&app, "responder@example.com", Role::Responder).await;
    let page = responder
        .get("/admin/subscribers")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("name=\"confirmed\""), "not offered");
    assert!(!page.contains("/admin/subscribers/import"), "not offered");

    let r = responder
        .post(
            "/admin/subscribers",
            "/admin/subscribers/import",
            &[
                ("list", "victim1@example.com\nvictim2@example.com"),
                ("confirmed", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = responder
        .post(
            "/admin/subscribers",
            "/admin/subscribers",
            &[("email", "victim3@example.com"), ("confirmed", "1")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .api_as(
            &app.store
                .create_api_token("responder-bot", Role::Responder, "tests")
                .await
                .unwrap()
                .1,
            "/api/admin/v1/subscribers",
            json!({"email": "victim4@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.store.subscriber_counts().await.unwrap(),
        (0, 0),
        "nothing stored"
    );
    assert_eq!(audit_details(&app, "subscriber.refused").await.len(), 2);

    // An address that confirms by mail is still theirs to add.
    let r = responder
        .post(
            "/admin/subscribers",
            "/admin/subscribers",
            &[("email", "asked@example.com")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.store.subscriber_counts().await.unwrap().0, 0);
}

#[tokio::test]
async fn an_admin_adds_confirmed_subscribers_only_with_a_fresh_code() {
    let app = spawn_app().await;
    let admin = staff(&app, ADMIN, Role::Admin).await;
    app.store
        .execute_admin("UPDATE sessions SET reauth_at = NULL")
        .await
        .unwrap();
    let r = admin
        .post(
            "/admin/subscribers",
            "/admin/subscribers/import",
            &[("list", "a@example.com\nb@example.com"), ("confirmed", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/admin/reauth"));
    let r = admin
        .post(
            "/admin/subscribers",
            "/admin/subscribers",
            &[("email", "c@example.com"), ("confirmed", "1")],
        )
        .await;
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/admin/reauth"));
    assert_eq!(app.store.subscriber_counts().await.unwrap(), (0, 0));

    admin.reauthenticate(&app, ADMIN).await;
    let r = admin
        .post(
            "/admin/subscribers",
            "/admin/subscribers/import",
            &[("list", "a@example.com\nb@example.com"), ("confirmed", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = admin
        .post(
            "/admin/subscribers",
            "/admin/subscribers",
            &[("email", "c@example.com"), ("confirmed", "1")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.store.subscriber_counts().await.unwrap().0, 3);
    assert_eq!(audit_details(&app, "subscriber.import").await.len(), 1);
    assert!(audit_details(&app, "subscriber.add").await[0].contains("\"confirmed\":true"));
}

#[tokio::test]
async fn viewers_and_responders_see_counts_but_no_addresses() {
    let app = spawn_app().await;
    app.api(
        "/api/admin/v1/subscribers",
        json!({"email": "private@example.com", "confirmed": true}),
    )
    .await;
    for (email, role) in [
        ("viewer@example.com", Role::Viewer),
        ("responder@example.com", Role::Responder),
    ] {
        let browser = staff(&app, email, role).await;
        for path in [
            "/admin/subscribers",
            "/admin/subscribers?page=1",
            "/admin/subscribers?q=private",
        ] {
            let r = browser.get(path).await;
            assert_eq!(r.status(), 200, "{path}");
            let page = r.text().await.unwrap();
            assert!(page.contains("1 confirmed"), "{path}");
            assert!(!page.contains("private@example.com"), "{path} as {role:?}");
        }
        assert_eq!(
            browser.get("/admin/subscribers/export.csv").await.status(),
            403
        );
    }
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let page = admin.get("/admin/subscribers").await.text().await.unwrap();
    assert!(page.contains("private@example.com"));
}

#[tokio::test]
async fn an_admin_paging_through_addresses_trips_the_export_rule() {
    let app = spawn_app_with(|c| c.tripwire_export_rows = 60).await;
    let emails: Vec<SubscriberEmail> = (0..70)
        .map(|n| SubscriberEmail::parse(&format!("s{n:02}@example.com")).unwrap())
        .collect();
    app.store.import_subscribers(&emails, true).await.unwrap();
    let admin = staff(&app, ADMIN, Role::Admin).await;
    let first = admin.get("/admin/subscribers").await.text().await.unwrap();
    assert!(first.contains("Page 1 of 2"), "50 addresses a page");
    assert_eq!(
        outbound(&app).await["paused"],
        false,
        "50 is under the limit"
    );
    admin.get("/admin/subscribers?page=2").await;
    assert_paused_because(&app, "Large subscriber export").await;
    assert_paused_because(&app, "70 subscriber addresses").await;
}
