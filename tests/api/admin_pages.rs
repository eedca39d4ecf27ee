use herald::domain::{Role, StaffEmail};

use crate::helpers::{hidden_field, spawn_app};

const PASSWORD: &str = "correct horse battery staple";

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn session_cookie(r: &reqwest::Response) -> String {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with("herald_session="))
        .expect("session cookie set")
}

#[tokio::test]
async fn a_new_admin_enrols_through_the_one_time_link_and_signs_in() {
    let app = spawn_app().await;
    let added = app
        .store
        .add_staff(&StaffEmail::parse("Ops@Example.com").unwrap(), Role::Admin)
        .await
        .unwrap();
    let link = format!("/admin/enrol/{}", added.enrolment_secret);
    let page = app.get_text(&link).await;
    assert!(page.contains("ops@example.com"));

    let csrf = hidden_field(&page, "csrf");
    let r = app
        .http
        .post(app.url(&link))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", PASSWORD),
            ("password_confirm", "something else entirely"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("The two passwords differ."));
    assert_eq!(
        app.sign_in("ops@example.com", PASSWORD).await.status(),
        401,
        "no password was set"
    );

    let page = app.get_text(&link).await;
    let csrf = hidden_field(&page, "csrf");
    let r = app
        .http
        .post(app.url(&link))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/login?notice=enrolled");
    assert_eq!(app.get(&link).await.status(), 400, "the link works once");

    // The password alone opens nothing but two-factor set-up.
    let r = app.sign_in("OPS@example.com", PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin/2fa");
    let half_open = session_cookie(&r);
    assert!(
        half_open.contains("HttpOnly") && half_open.contains("SameSite=Strict"),
        "{half_open}"
    );
    for page in [
        "/admin",
        "/admin/components",
        "/admin/subscribers",
        "/admin/staff",
    ] {
        let r = app.get(page).await;
        assert_eq!(r.status(), 303, "{page} before two-factor set-up");
        assert_eq!(r.headers()["location"], "/admin/2fa", "{page}");
    }
    let setup = app.get_text("/admin/2fa").await;
    assert!(setup.contains("<svg role=\"img\""), "an inline QR code");
    assert!(setup.contains("otpauth://totp/"));
    let shown = setup
        .split("class=\"totp-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the secret in text");
    let seed = herald::security::totp::Seed::from_base32(shown).expect("base32 secret");
    assert_eq!(
        app.get_text("/admin/2fa").await,
        setup,
        "a reload shows the same secret"
    );

    let r = app
        .post_form("/admin/2fa", "/admin/2fa", &[("code", "000000")])
        .await;
    assert_eq!(r.status(), 422, "a wrong code is refused");
    app.remember_authenticator("ops@example.com", seed);
    let code = app.next_code("ops@example.com").await;
    let r = app
        .post_form("/admin/2fa", "/admin/2fa", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r);
    assert_ne!(
        cookie, half_open,
        "the session id changes once two-factor is done"
    );
    let codes_page = r.text().await.unwrap();
    let recovery: Vec<String> = codes_page
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split('<').next().map(str::to_string))
        .collect();
    assert_eq!(recovery.len(), 10, "{codes_page}");
    let rows: Vec<(String,)> = sqlx_recovery_hashes(&app).await;
    assert_eq!(rows.len(), 10);
    assert!(
        rows.iter()
            .all(|(h,)| !recovery.iter().any(|c| h.contains(c.as_str()))),
        "recovery codes are stored hashed"
    );

    // A recovery code signs in once; the same code again does not.
    app.post_form("/admin", "/admin/logout", &[]).await;
    let r = app
        .sign_in_with_code("ops@example.com", PASSWORD, &recovery[3])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin");
    app.post_form("/admin", "/admin/logout", &[]).await;
    let r = app
        .sign_in_with_code("ops@example.com", PASSWORD, &recovery[3])
        .await;
    assert_eq!(r.status(), 401, "a used recovery code");
    let r = app.sign_in("ops@example.com", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let dashboard = app.get("/admin").await;
    assert_eq!(dashboard.status(), 200);
    let csp = dashboard.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(dashboard.text().await.unwrap().contains("ops@example.com"));
}

#[tokio::test]
async fn sign_in_failures_all_look_the_same() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("ops@example.com", Role::Admin, PASSWORD)
        .await;
    let wrong_password = app.sign_in(&email, "not the password at all").await;
    assert_eq!(wrong_password.status(), 401);
    let a = wrong_password.text().await.unwrap();
    let unknown_user = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown_user.status(), 401);
    let b = unknown_user.text().await.unwrap();
    let wrong_code = app.sign_in_with_code(&email, PASSWORD, "123456").await;
    assert_eq!(wrong_code.status(), 401);
    let c = wrong_code.text().await.unwrap();
    let no_code = app.sign_in_with_code(&email, PASSWORD, "").await;
    assert_eq!(no_code.status(), 401);
    let d = no_code.text().await.unwrap();
    for page in [&a, &b, &c, &d] {
        assert!(
            page.contains("Email, password or code is incorrect."),
            "{page}"
        );
    }
    assert_eq!(app.get("/admin").await.status(), 303, "still signed out");
}

#[tokio::test]
async fn signing_in_again_rotates_the_session_and_signing_out_ends_it() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("ops@example.com", Role::Admin, PASSWORD)
        .await;
    let first = session_cookie(&app.sign_in(&email, PASSWORD).await);
    let second = session_cookie(&app.sign_in(&email, PASSWORD).await);
    assert_ne!(first, second);
    let old_value = first.split(';').next().unwrap().to_string();
    let stale = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = stale
        .get(app.url("/admin"))
        .header("cookie", &old_value)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the replaced session no longer works");

    let r = app.post_form("/admin", "/admin/logout", &[]).await;
    assert_eq!(r.status(), 303);
    let second_value = second.split(';').next().unwrap().to_string();
    let r = stale
        .get(app.url("/admin"))
        .header("cookie", &second_value)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a signed-out session cannot be replayed");
}

#[tokio::test]
async fn a_forged_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("ops@example.com", Role::Admin, PASSWORD)
        .await;
    app.sign_in(&email, PASSWORD).await;
    for csrf in [Some("forged"), None] {
        let mut form = vec![("name", "Sneaky")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let r = app
            .http
            .post(app.url("/admin/components"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    let r = app
        .http
        .post(app.url("/admin/login"))
        .form(&[("email", "ops@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the sign-in form is CSRF-checked too");
    assert!(app.store.components().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_responder_posts_an_incident_from_the_forms_and_the_public_page_shows_it() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("ops@example.com", Role::Responder, PASSWORD)
        .await;
    app.sign_in(&email, PASSWORD).await;
    let r = app
        .post_form(
            "/admin/components",
            "/admin/components",
            &[("name", "Payments"), ("group", "Core"), ("position", "2")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let component = app.store.components().await.unwrap().remove(0);
    assert_eq!(component.group.as_deref(), Some("Core"));
    let field = format!("component_{}", component.id);

    // Preview renders the markdown and saves nothing.
    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", "Card payments failing"),
                ("status", "investigating"),
                ("impact", "major"),
                ("body", "Some **cards** fail."),
                (&field, "partial_outage"),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Some <strong>cards</strong> fail."));
    assert!(app.store.incidents().await.unwrap().is_empty());

    // Bad input is shown back with the reason, and saves nothing.
    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", ""),
                ("status", "investigating"),
                ("impact", "major"),
                ("body", "x"),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("name: must not be empty"));
    assert!(app.store.incidents().await.unwrap().is_empty());

    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", "Card payments failing"),
                ("status", "investigating"),
                ("impact", "major"),
                ("body", "Some **cards** fail."),
                (&field, "partial_outage"),
                ("display_at", ""),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let incident_page = location.split('?').next().unwrap().to_string();
    let public = app.get_text("/").await;
    assert!(public.contains("Card payments failing"));
    assert!(public.contains("Partial outage"));

    let r = app
        .post_form(
            &incident_page,
            &format!("{incident_page}/updates"),
            &[
                ("status", "resolved"),
                ("body", "All good now."),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let public = app.get_text("/").await;
    assert!(public.contains("All Systems Operational"));
    assert!(!public.contains("Current incidents"));
}

#[tokio::test]
async fn a_viewer_can_read_but_not_post() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("viewer@example.com", Role::Viewer, PASSWORD)
        .await;
    app.sign_in(&email, PASSWORD).await;
    assert_eq!(app.get("/admin/components").await.status(), 200);
    let r = app
        .post_form(
            "/admin/components",
            "/admin/components",
            &[("name", "Nope")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.get("/admin/incidents/new").await.status(), 403);
    assert!(app.store.components().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_maintenance_is_scheduled_from_the_form() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("ops@example.com", Role::Responder, PASSWORD)
        .await;
    app.sign_in(&email, PASSWORD).await;
    let r = app
        .post_form(
            "/admin/maintenances/new",
            "/admin/maintenances",
            &[
                ("name", "Kernel upgrade"),
                ("body", "Rolling restarts."),
                (
                    "scheduled_for",
                    crate::helpers::ahead("2099-03-01T10:00").as_str(),
                ),
                (
                    "scheduled_until",
                    crate::helpers::ahead("2099-03-01T09:00").as_str(),
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("must be after scheduled_for"));
    let r = app
        .post_form(
            "/admin/maintenances/new",
            "/admin/maintenances",
            &[
                ("name", "Kernel upgrade"),
                ("body", "Rolling restarts."),
                (
                    "scheduled_for",
                    crate::helpers::ahead("2099-03-01T10:00").as_str(),
                ),
                (
                    "scheduled_until",
                    crate::helpers::ahead("2099-03-01T11:00").as_str(),
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let upcoming = app
        .get_json("/api/v2/scheduled-maintenances/upcoming.json")
        .await;
    assert_eq!(
        upcoming["scheduled_maintenances"][0]["scheduled_for"],
        crate::helpers::ahead("2099-03-01T10:00:00.000Z").as_str()
    );
}

/// The stored recovery code hashes (never the codes).
async fn sqlx_recovery_hashes(app: &crate::helpers::TestApp) -> Vec<(String,)> {
    app.store
        .query_strings("SELECT code_hash FROM recovery_codes")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s,))
        .collect()
}

#[tokio::test]
async fn a_malformed_id_in_an_admin_address_is_a_404_like_an_unknown_one() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("ops@example.com", Role::Admin, PASSWORD)
        .await;
    app.sign_in(&email, PASSWORD).await;
    for path in [
        "/admin/incidents/not-a-number",
        "/admin/incidents/99999",
        "/admin/components/abc",
        "/admin/updates/x/deliveries.json",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn signing_in_from_a_deep_link_lands_on_the_page_that_was_asked_for() {
    let app = spawn_app().await;
    let email = app
        .enrolled_staff("oncall@example.com", Role::Responder, PASSWORD)
        .await;
    let incident = app
        .open_incident(serde_json::json!({"name": "API errors", "impact": "minor",
            "status": "investigating", "body": "Looking."}))
        .await;
    let id = incident["id"].as_str().unwrap();
    let deep = format!("/admin/incidents/{id}?tab=updates");

    // Signed out, the link leads to the sign-in page, which remembers where it was going.
    let r = app.get(&deep).await;
    assert_eq!(r.status(), 303);
    let login = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        login,
        format!("/admin/login?next=%2Fadmin%2Fincidents%2F{id}%3Ftab%3Dupdates")
    );
    let page = app.get_text(&login).await;
    assert_eq!(hidden_field(&page, "next"), deep);

    // A wrong code keeps the destination for the next try.
    let csrf = hidden_field(&page, "csrf");
    let r = app
        .http
        .post(app.url("/admin/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("code", "000000"),
            ("next", deep.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let page = r.text().await.unwrap();
    assert_eq!(hidden_field(&page, "next"), deep);

    let code = app.next_code(&email).await;
    let csrf = hidden_field(&page, "csrf");
    let r = app
        .http
        .post(app.url("/admin/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("code", code.as_str()),
            ("next", deep.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], deep.as_str());
    assert_eq!(app.get(&deep).await.status(), 200);
}

#[tokio::test]
async fn sign_in_never_sends_anyone_off_the_admin() {
    let app = spawn_app().await;
    for next in [
        "https://evil.example/admin",
        "//evil.example/admin",
        "/\\evil.example",
        "/administrator-of-nothing",
        "/admin/\\\\evil.example",
        "/",
    ] {
        let query: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let page = app.get_text(&format!("/admin/login?next={query}")).await;
        assert_eq!(hidden_field(&page, "next"), "/admin", "{next}");
    }
    // Only a page read (GET) is returned to: a form posted without a session is not replayed.
    let r = app
        .http
        .post(app.url("/admin/incidents"))
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert!(
        !r.headers()
            .get("location")
            .is_some_and(|l| l.to_str().unwrap().contains("next=")),
        "{:?}",
        r.headers().get("location")
    );
}
