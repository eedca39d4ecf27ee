//! Branding: configured, overridden by an admin, refused when bad, ignored when forged in the
//! database; served under the same strict content security policy; carried by the emails.

use std::time::{Duration, Instant};

use base64::Engine;
use herald::config::Config;
use herald::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

/// A real 16×16 PNG.
const PNG_HEX: &str = "89504e470d0a1a0a0000000d49484452000000100000001008060000001ff3ff61000000194944415478da63e04a3bf49f12cc306ac0a801a3060c170300313e311f86f9f0df0000000049454e44ae426082";
const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect width="40" height="10" fill="#0a66c2"/></svg>"##;
const DARK_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect width="40" height="10" fill="#ffffff"/></svg>"##;
/// The public pages' policy, exactly as before branding existed.
const PUBLIC_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
const ADMIN: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery staple";

pub fn png() -> Vec<u8> {
    hex::decode(PNG_HEX).unwrap()
}

/// Branding files in a directory that outlives the app's start.
pub struct BrandFiles {
    pub dir: tempfile::TempDir,
}

impl BrandFiles {
    pub fn new() -> BrandFiles {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("logo.svg"), SVG).unwrap();
        std::fs::write(dir.path().join("logo-dark.svg"), DARK_SVG).unwrap();
        std::fs::write(dir.path().join("logo.png"), png()).unwrap();
        std::fs::write(dir.path().join("favicon.png"), png()).unwrap();
        std::fs::write(
            dir.path().join("extra.css"),
            ".overall { letter-spacing: .01em; }\n",
        )
        .unwrap();
        BrandFiles { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// Every branding setting, as the environment would give them.
    pub fn configure(&self, c: &mut Config) {
        c.page_name = "Acme Cloud".into();
        c.logo_file = self.path("logo.svg");
        c.logo_dark_file = self.path("logo-dark.svg");
        c.favicon_file = self.path("favicon.png");
        c.accent_color = "#ff6600".into();
        c.header_links =
            "Acme=https://acme.example, Support=https://help.acme.example/status".into();
        c.footer_text = "© Acme Inc. · Status of the Acme platform".into();
        c.extra_css_file = self.path("extra.css");
    }
}

/// The value of `attr` on the first tag in `html` that contains `marker`.
fn attr_near(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in page"));
    let tag_start = html[..=at].rfind('<').unwrap();
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()];
    let key = format!("{attr}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    tag[start..start + tag[start..].find('"').unwrap()].to_string()
}

async fn patch_branding(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .patch(app.url("/api/admin/v1/branding"))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn configured_branding_shows_on_every_public_surface_under_the_same_policy() {
    let files = BrandFiles::new();
    let app = spawn_app_with(|c| files.configure(c)).await;
    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    assert_eq!(
        home.headers()["content-security-policy"],
        PUBLIC_CSP,
        "the policy stays as strict as before"
    );
    let html = home.text().await.unwrap();
    assert!(
        html.contains("<span>Acme Cloud</span>"),
        "the name in the header"
    );
    assert!(html.contains("<title>Acme Cloud"), "and in the title");
    assert!(html.contains("href=\"https://acme.example/\">Acme</a>"));
    assert!(html.contains("href=\"https://help.acme.example/status\">Support</a>"));
    assert!(html.contains("© Acme Inc. · Status of the Acme platform"));
    assert!(!html.contains("style="), "no inline style anywhere");

    // Light and dark logos through <picture>, each under its content-hashed path.
    let logo = attr_near(&html, "<img src=\"/brand/logo-", "src");
    let dark = attr_near(&html, "prefers-color-scheme: dark", "srcset");
    assert!(logo.ends_with(".svg") && dark.starts_with("/brand/logo-dark-"));
    let favicon = attr_near(&html, "rel=\"icon\"", "href");
    assert!(favicon.starts_with("/brand/favicon-") && favicon.ends_with(".png"));
    assert_eq!(attr_near(&html, "rel=\"icon\"", "type"), "image/png");
    let theme = attr_near(&html, "/brand/theme-", "href");
    let extra = attr_near(&html, "/brand/extra-", "href");

    // Every asset: immutable caching, an ETag that answers 304.
    for (path, content_type) in [
        (&logo, "image/svg+xml"),
        (&dark, "image/svg+xml"),
        (&favicon, "image/png"),
        (&theme, "text/css; charset=utf-8"),
        (&extra, "text/css; charset=utf-8"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{path}"
        );
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let again = app
            .http
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    // An SVG opened by itself runs nothing.
    let svg = app.get(&logo).await;
    assert_eq!(svg.headers()["content-security-policy"], SVG_CSP);
    assert_eq!(svg.text().await.unwrap(), SVG);
    // The accent colour, as custom properties; links in a readable shade of it.
    let css = app.get_text(&theme).await;
    assert!(css.contains("--accent: #ff6600"), "{css}");
    assert!(css.contains("prefers-color-scheme: dark"), "{css}");
    assert!(app.get(&theme.replace("theme-", "theme-0")).await.status() == 404);

    // The name everywhere else.
    let summary = app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["page"]["name"], "Acme Cloud");
    assert!(app.get_text("/history.atom").await.contains("Acme Cloud"));
    assert!(app.get_text("/history.rss").await.contains("Acme Cloud"));
    assert!(app
        .get_text("/history")
        .await
        .contains("<span>Acme Cloud</span>"));
    let banner = app.get_json("/banner.json").await;
    assert_eq!(banner["page"]["name"], "Acme Cloud");
    assert_eq!(banner["page"]["accent"], "#ff6600");
    assert_eq!(
        banner["page"]["logo"],
        format!("{}{favicon}", app.address),
        "the banner shows the favicon, absolute"
    );
    assert!(app
        .get_text("/banner.js")
        .await
        .contains("\"accent\":\"#ff6600\""));
}

#[tokio::test]
async fn an_admin_overrides_the_branding_through_the_api_audited_and_can_go_back() {
    let files = BrandFiles::new();
    let app = spawn_app_with(|c| files.configure(c)).await;
    let png64 = base64::engine::general_purpose::STANDARD.encode(png());
    let r = patch_branding(
        &app,
        json!({
            "page_name": "Acme Status",
            "accent_color": "#0A66C2",
            "header_links": "Home=https://acme.example/home",
            "footer_text": "Acme GmbH",
            "logo": format!("data:image/png;base64,{png64}"),
        }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["page_name"], "Acme Status");
    assert_eq!(body["accent_color"], "#0a66c2");
    assert_eq!(
        body["overridden"],
        json!([
            "page_name",
            "accent_color",
            "header_links",
            "footer_text",
            "logo"
        ])
    );
    let logo = body["logo"].as_str().unwrap().to_string();
    assert!(logo.starts_with(&format!("{}/brand/logo-", app.address)) && logo.ends_with(".png"));
    assert!(
        body["logo_dark"].is_null(),
        "the configured dark logo belonged to the configured logo"
    );

    let html = app.get_text("/").await;
    assert!(html.contains("<span>Acme Status</span>"));
    assert!(html.contains("href=\"https://acme.example/home\">Home</a>"));
    assert!(
        !html.contains("help.acme.example"),
        "the links were replaced"
    );
    assert!(html.contains("Acme GmbH"));
    let r = app.http.get(&logo).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), png());
    assert_eq!(
        app.get_json("/api/v2/status.json").await["page"]["name"],
        "Acme Status"
    );
    assert_eq!(
        app.get_json("/banner.json").await["page"]["accent"],
        "#0a66c2"
    );
    let shown = app.api_get("/api/admin/v1/branding").await;
    assert_eq!(shown["footer_text"], "Acme GmbH");

    let actions = app
        .store
        .query_strings("SELECT action FROM audit_log WHERE action LIKE 'branding.%'")
        .await
        .unwrap();
    assert_eq!(actions, ["branding.update"]);

    // Back to the configuration.
    let r = app
        .http
        .delete(app.url("/api/admin/v1/branding"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = app.get_text("/").await;
    assert!(html.contains("<span>Acme Cloud</span>"));
    assert!(html.contains("help.acme.example"));
    assert!(app.http.get(&logo).send().await.unwrap().status() == 404);
}

#[tokio::test]
async fn a_bad_value_or_upload_is_refused_with_its_reason_and_changes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let before = app.get_text("/").await;
    for (body, field, says) in [
        (
            json!({"page_name": "New", "accent_color": "orange"}),
            "accent_color",
            "#rrggbb",
        ),
        (
            json!({"header_links": "Pay=javascript:alert(1)"}),
            "header_links",
            "https://",
        ),
        (
            json!({"header_links": "Login=https://user:pw@acme.example"}),
            "header_links",
            "user name",
        ),
        (
            json!({"footer_text": "two\nlines"}),
            "footer_text",
            "one line",
        ),
        (
            json!({"logo": base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00")}),
            "logo",
            "neither a PNG nor an SVG",
        ),
        (
            json!({"favicon": base64::engine::general_purpose::STANDARD.encode(SVG.replace("<rect", "<script>alert(1)</script><rect"))}),
            "favicon",
            "script",
        ),
        (json!({"logo": "not base64!"}), "logo", "base64"),
        (json!({"colour": "#000000"}), "colour", "unknown field"),
    ] {
        let r = patch_branding(&app, body.clone()).await;
        assert_eq!(r.status(), 422, "{body}");
        let errors: Value = r.json().await.unwrap();
        let text = errors.to_string();
        assert!(
            text.contains(field) && text.contains(says),
            "{body}: {text}"
        );
    }
    assert_eq!(app.get_text("/").await, before, "nothing changed");
    assert_eq!(
        app.store
            .query_strings("SELECT updated_by FROM branding")
            .await
            .unwrap(),
        Vec::<String>::new()
    );
    let too_big = base64::engine::general_purpose::STANDARD.encode(vec![b' '; 300 * 1024]);
    let r = patch_branding(&app, json!({ "logo": too_big })).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at most 256 KiB"));
}

/// A multipart form as a browser sends it.
fn multipart(boundary: &str, fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .into_bytes(),
        );
    }
    for (name, filename, bytes) in files {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").into_bytes());
    body
}

#[tokio::test]
async fn the_admin_branding_page_uploads_a_logo_and_refuses_a_bad_file() {
    let app = spawn_app_with(|_| {}).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    app.sign_in(ADMIN, PASSWORD).await;
    let page = app.get_text("/admin/branding").await;
    let csrf = crate::helpers::hidden_field(&page, "csrf");
    let post = |body: Vec<u8>| {
        app.http
            .post(app.url("/admin/branding"))
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(body)
            .send()
    };

    let bad = multipart(
        "b0undary",
        &[
            ("csrf", &csrf),
            ("page_name", "Renamed"),
            ("footer_text", ""),
        ],
        &[("logo", "logo.gif", b"GIF89a\x01\x00\x01\x00")],
    );
    let r = post(bad).await.unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Nothing was saved")
            && text.contains("Logo: the file is neither a PNG nor an SVG"),
        "{text}"
    );
    assert!(
        !app.get_text("/").await.contains("Renamed"),
        "nothing changed"
    );

    let good = multipart(
        "b0undary",
        &[
            ("csrf", &csrf),
            ("page_name", "Renamed"),
            ("accent_color", "#123456"),
        ],
        &[("logo", "logo.svg", SVG.as_bytes()), ("favicon", "", b"")],
    );
    let r = post(good).await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let html = app.get_text("/").await;
    assert!(html.contains("<span>Renamed</span>"));
    let logo = attr_near(&html, "<img src=\"/brand/logo-", "src");
    assert_eq!(app.get_text(&logo).await, SVG);
    assert!(
        !html.contains("rel=\"icon\" href=\"/brand/"),
        "no favicon was chosen"
    );

    let wrong_csrf = multipart("b0undary", &[("csrf", "nope"), ("page_name", "Evil")], &[]);
    assert_eq!(post(wrong_csrf).await.unwrap().status(), 403);
    assert!(!app.get_text("/").await.contains("Evil"));
    let audit = app
        .store
        .query_strings("SELECT actor FROM audit_log WHERE action = 'branding.update'")
        .await
        .unwrap();
    assert_eq!(audit, [format!("staff:{ADMIN}")]);
}

#[tokio::test]
async fn a_branding_row_forged_in_the_database_is_ignored_and_trips_the_wire() {
    let files = BrandFiles::new();
    let app = spawn_app_with(|c| files.configure(c)).await;
    let r = patch_branding(
        &app,
        json!({"header_links": "Home=https://acme.example/home"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(app
        .get_text("/")
        .await
        .contains("https://acme.example/home"));

    // Someone with a database shell swaps the header link for a phishing page.
    app.store
        .execute_admin(
            "UPDATE branding SET header_links = 'Sign in=https://acme-login.example/', \
             page_name = 'Acme Support'",
        )
        .await
        .unwrap();
    app.create_component("Wake").await;
    let html = app.get_text("/").await;
    assert!(
        !html.contains("acme-login.example"),
        "the forged link is not shown"
    );
    assert!(!html.contains("Acme Support"));
    assert!(
        html.contains("help.acme.example") && html.contains("<span>Acme Cloud</span>"),
        "the configured branding shows instead"
    );
    assert!(!app.get_text("/banner.js").await.contains("Acme Support"));
    app.wait_for_trip("no valid stamp").await;
    assert!(app.api_get("/api/admin/v1/branding").await["overridden"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_branding_row_inserted_in_the_database_is_ignored_and_trips_the_wire() {
    let app = spawn_app_with(|_| {}).await;
    app.store
        .execute_admin(
            "INSERT INTO branding (id, page_name, header_links, updated_at, updated_by) \
             VALUES (1, 'Acme Support', 'Verify=https://acme-verify.example/', \
             '2026-01-01T00:00:00Z', 'staff:admin@example.com')",
        )
        .await
        .unwrap();
    app.create_component("Wake").await;
    let html = app.get_text("/").await;
    assert!(!html.contains("acme-verify.example") && html.contains("<span>Acme Status</span>"));
    app.wait_for_trip("no valid stamp").await;
}

/// The decoded text of each part of a MIME message, with its content type.
pub fn mime_parts(raw: &str) -> Vec<(String, String)> {
    let header = |head: &str, name: &str| -> String {
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let content_type = header(head, "Content-Type");
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .expect("a multipart message");
    body.split(&format!("--{boundary}"))
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|part| {
            let part = part.trim_start_matches("\r\n");
            let (head, content) = part.split_once("\r\n\r\n").unwrap();
            let content = content.trim_end_matches("\r\n");
            let decoded = match header(head, "Content-Transfer-Encoding")
                .to_lowercase()
                .as_str()
            {
                "base64" => String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(content.replace("\r\n", ""))
                        .unwrap(),
                )
                .unwrap(),
                "quoted-printable" => decode_qp(content),
                _ => content.to_string(),
            };
            (header(head, "Content-Type"), decoded)
        })
        .collect()
}

fn decode_qp(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn emails_list_components_carry_the_impact_and_branding_and_read_as_plain_text() {
    let files = BrandFiles::new();
    let sink = crate::smtp::SmtpSink::start(&[]);
    let app = spawn_app_with(|c| {
        files.configure(c);
        c.logo_file = files.path("logo.png");
        c.logo_dark_file = String::new();
        c.smtp_url = sink.url();
        c.public_url = "https://status.acme.example".into();
    })
    .await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "reader@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    app.open_incident(json!({
        "name": "Elevated API errors", "status": "investigating", "impact": "major", "notify": true,
        "body": "We see **elevated errors**.\n\n- Requests *fail*\n- See [the docs](https://example.com/docs)",
        "components": { api.clone(): "major_outage", web.clone(): "degraded_performance" },
    }))
    .await;
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    let parts = mime_parts(&mails[0].raw);
    let text = &parts
        .iter()
        .find(|(t, _)| t.starts_with("text/plain"))
        .unwrap()
        .1;
    let html = &parts
        .iter()
        .find(|(t, _)| t.starts_with("text/html"))
        .unwrap()
        .1;

    assert!(
        text.starts_with("Acme Cloud\r\n") || text.starts_with("Acme Cloud\n"),
        "{text}"
    );
    assert!(
        text.contains("Incident: Elevated API errors (major impact)"),
        "{text}"
    );
    assert!(text.contains("Affected components:"), "{text}");
    assert!(
        text.contains("- API: Major outage") && text.contains("- Website: Degraded performance"),
        "{text}"
    );
    assert!(text.contains("We see elevated errors."), "{text}");
    assert!(
        text.contains("- See the docs (https://example.com/docs)"),
        "{text}"
    );
    assert!(
        !text.contains("**") && !text.contains("](") && !text.contains('<'),
        "no Markdown or HTML: {text}"
    );

    assert!(
        html.contains("Major impact") && html.contains("background:#b3261e"),
        "the impact band, in words and colour"
    );
    assert!(
        html.contains(
            "API: <strong class=\"st-major_outage\" style=\"color:#8b0000\">Major outage</strong>"
        ),
        "{html}"
    );
    assert!(html.contains("<strong>elevated errors</strong>"));
    assert!(
        html.contains("border-top:4px solid #ff6600"),
        "the accent colour"
    );
    let logo = attr_near(
        html,
        "<img src=\"https://status.acme.example/brand/logo-",
        "src",
    );
    assert!(
        logo.ends_with(".png"),
        "the logo as an absolute https URL: {logo}"
    );
    assert_eq!(attr_near(html, "<img src=", "alt"), "Acme Cloud");
    let path = logo.trim_start_matches("https://status.acme.example");
    assert_eq!(
        app.get(path).await.status(),
        200,
        "the logo is served there"
    );

    // The confirmation mail has the same look.
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", "new@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    let confirm = mails.iter().find(|m| m.rcpt == "new@example.com").unwrap();
    let parts = mime_parts(&confirm.raw);
    let html = &parts
        .iter()
        .find(|(t, _)| t.starts_with("text/html"))
        .unwrap()
        .1;
    assert!(html.contains("Confirm your subscription to Acme Cloud"));
    assert!(html.contains("border-top:4px solid #ff6600") && html.contains(&logo));
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HERALD_TEST_DATABASE=postgres); .ci/run runs it"]
async fn a_branding_change_shows_on_every_instance_on_postgres() {
    let a = spawn_app_with(|_| {}).await;
    assert!(
        a.database_url.starts_with("postgres"),
        "this test needs HERALD_TEST_DATABASE=postgres"
    );
    let key = herald::security::keys::MasterKey::default_path(&a.data_dir);
    let b = spawn_app_with(|c| {
        c.database_url = a.database_url.clone();
        c.secret_key_file = key.display().to_string();
    })
    .await;
    let r = patch_branding(&a, json!({"page_name": "Acme Everywhere"})).await;
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    while !b
        .get_text("/")
        .await
        .contains("<span>Acme Everywhere</span>")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the other instance never showed the change"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
