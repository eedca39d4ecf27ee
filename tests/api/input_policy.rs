//! The input policy on every surface: hostile text is refused with 422 naming the field and
//! nothing stored, on SQLite and PostgreSQL alike; API bodies are read strictly; and whatever is
//! accepted still renders as well-formed XML, valid JSON and HTML that parses without error.

use std::cell::RefCell;

use html5ever::tokenizer::{
    BufferQueue, ParseError, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// Characters the issue found breaking feeds or PostgreSQL, in a body.
const HOSTILE_IN_BODIES: [char; 7] = [
    '\u{0}', '\u{1}', '\u{B}', '\u{1B}', '\u{85}', '\u{FFFE}', '\u{FFFF}',
];

/// What a name additionally may not hold: look-alike and reordering characters.
const HOSTILE_IN_NAMES: [char; 6] = [
    '\u{FFFF}', '\u{202E}', '\u{2067}', '\u{200B}', '\u{FEFF}', '\n',
];

async fn errors_of(r: reqwest::Response) -> String {
    let body: Value = r.json().await.expect("JSON errors");
    body["errors"].to_string()
}

async fn incident_count(app: &TestApp) -> usize {
    app.store.incidents().await.expect("incidents").len()
}

fn incident(name: &str, body: &str) -> Value {
    json!({"name": name, "status": "investigating", "impact": "minor", "body": body})
}

#[tokio::test]
async fn hostile_text_is_refused_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    for c in HOSTILE_IN_BODIES {
        let r = app
            .api(
                "/api/admin/v1/incidents",
                incident("Outage", &format!("before{c}after")),
            )
            .await;
        assert_eq!(r.status(), 422, "U+{:04X} in a body", u32::from(c));
        let errors = errors_of(r).await;
        assert!(errors.contains("body:"), "{errors}");
        assert!(!errors.contains("struct"), "{errors}");

        let r = app
            .api(
                "/api/admin/v1/components",
                json!({"name": "DB", "description": format!("d{c}d")}),
            )
            .await;
        assert_eq!(r.status(), 422, "U+{:04X} in a description", u32::from(c));
        assert!(errors_of(r).await.contains("description"));

        let mut with_tweet = incident("Outage", "Looking into it.");
        with_tweet["tweet"] = json!(format!("We are{c}on it"));
        let r = app.api("/api/admin/v1/incidents", with_tweet).await;
        assert_eq!(r.status(), 422, "U+{:04X} in a post text", u32::from(c));
        // Named as sent (`tweet`) or as stored (`custom_tweet`).
        assert!(errors_of(r).await.contains("tweet"));

        let r = app
            .api("/api/admin/v1/pause", json!({"reason": format!("r{c}r")}))
            .await;
        assert_eq!(r.status(), 422, "U+{:04X} in a pause reason", u32::from(c));
        assert!(errors_of(r).await.contains("reason"));

        let r = app
            .api(
                "/api/admin/v1/templates",
                json!({"name": "T", "title": "Outage", "body": format!("b{c}b")}),
            )
            .await;
        assert_eq!(r.status(), 422, "U+{:04X} in a template", u32::from(c));
        assert!(errors_of(r).await.contains("body"));
    }
    for c in HOSTILE_IN_NAMES {
        let r = app
            .api(
                "/api/admin/v1/incidents",
                incident(&format!("Out{c}age"), "Looking into it."),
            )
            .await;
        assert_eq!(r.status(), 422, "U+{:04X} in a name", u32::from(c));
        assert!(errors_of(r).await.contains("name:"));
        let r = app
            .api(
                "/api/admin/v1/components",
                json!({"name": format!("pay{c}ments")}),
            )
            .await;
        assert_eq!(
            r.status(),
            422,
            "U+{:04X} in a component name",
            u32::from(c)
        );
    }
    // Times outside 2000..2100, and a maintenance years ahead.
    let mut ancient = incident("Outage", "Looking into it.");
    ancient["display_at"] = json!("0001-01-01T00:00:00Z");
    let r = app.api("/api/admin/v1/incidents", ancient).await;
    assert_eq!(r.status(), 422);
    assert!(errors_of(r).await.contains("display_at"));
    for (start, end) in [
        ("9999-01-01T10:00:00Z", "9999-01-01T12:00:00Z"),
        ("2095-01-01T10:00:00Z", "2095-01-01T12:00:00Z"),
    ] {
        let r = app
            .api(
                "/api/admin/v1/maintenances",
                json!({"name": "Upgrade", "body": "Planned.", "scheduled_for": start,
                       "scheduled_until": end, "components": {&api: "under_maintenance"}}),
            )
            .await;
        assert_eq!(r.status(), 422, "{start}");
        assert!(errors_of(r).await.contains("scheduled_for"));
    }

    assert_eq!(incident_count(&app).await, 0, "nothing refused was stored");
    assert_eq!(app.store.components().await.unwrap().len(), 1);
    assert!(!app.store.outbound_state().await.unwrap().paused);
    let templates = app.api_get("/api/admin/v1/templates").await;
    assert_eq!(templates["templates"].as_array().map(Vec::len), Some(0));

    // The same text without the offending character is taken.
    let r = app
        .api(
            "/api/admin/v1/incidents",
            incident("Outage in Zürich 🚀", "Line one\n\tline two, عربي"),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn api_bodies_are_read_strictly() {
    let app = spawn_app().await;
    let send = |content_type: &'static str, body: &'static str| {
        app.http
            .post(app.url("/api/admin/v1/components"))
            .bearer_auth(&app.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/json",
    ] {
        let r = send(content_type, r#"{"name": "API"}"#).await.unwrap();
        assert_eq!(r.status(), 415, "{content_type}");
    }
    for body in [r#"["API", null, null, null]"#, r#""API""#, "42", "null"] {
        let r = send("application/json", body).await.unwrap();
        assert_eq!(r.status(), 422, "{body}");
        let errors = errors_of(r).await;
        assert!(errors.contains("must be a JSON object"), "{errors}");
        assert!(
            !errors.contains("struct") && !errors.contains("NewComponent"),
            "{errors}"
        );
    }
    let r = send("application/json", r#"{"name": "API", "colour": "red"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let errors = errors_of(r).await;
    assert!(errors.contains("colour: is not a field here"), "{errors}");
    let r = send("application/json", r#"{"name": 7}"#).await.unwrap();
    assert_eq!(r.status(), 422);
    let errors = errors_of(r).await;
    assert!(
        errors.contains("name:") && !errors.contains("String"),
        "{errors}"
    );
    let r = send("application/json; charset=utf-8", r#"{"name": "API"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "a charset parameter is fine");
    assert_eq!(app.store.components().await.unwrap().len(), 1);

    // An empty body is still "nothing to say" where every field is optional.
    let r = app
        .http
        .post(app.url("/api/admin/v1/pause"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Unknown ids are 404, not empty data.
    let r = app
        .http
        .get(app.url("/api/admin/v1/updates/987654/deliveries"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_are_413_on_the_api_and_the_admin_pages() {
    let app = spawn_app_with(|c| c.max_body_bytes = 16 * 1024).await;
    let big = "x".repeat(64 * 1024);
    let r = app
        .api("/api/admin/v1/incidents", incident("Outage", &big))
        .await;
    assert_eq!(r.status(), 413);
    let pages = app
        .http
        .get(app.url("/v1/pages"))
        .header("Authorization", format!("OAuth {}", app.token))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let page = pages[0]["id"].as_str().expect("page id").to_string();
    let r = app
        .http
        .post(app.url(&format!("/v1/pages/{page}/incidents")))
        .header("Authorization", format!("OAuth {}", app.token))
        .header("content-type", "application/json")
        .body(json!({"incident": {"name": big}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    app.enrolled_staff(
        "admin@example.com",
        herald::domain::Role::Admin,
        "correct horse battery",
    )
    .await;
    let r = app
        .sign_in("admin@example.com", "correct horse battery")
        .await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", "Outage"),
                ("status", "investigating"),
                ("impact", "minor"),
                ("body", &big),
            ],
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(incident_count(&app).await, 0);
}

/// Parse errors the HTML tokenizer reports, exact (control and noncharacters included).
struct Errors(RefCell<Vec<String>>);

impl TokenSink for Errors {
    type Handle = ();
    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        if let ParseError(e) = token {
            self.0.borrow_mut().push(e.into_owned());
        }
        TokenSinkResult::Continue
    }
}

fn html_errors(html: &str) -> Vec<String> {
    let tokenizer = Tokenizer::new(
        Errors(RefCell::new(Vec::new())),
        TokenizerOpts {
            exact_errors: true,
            ..TokenizerOpts::default()
        },
    );
    let queue = BufferQueue::default();
    queue.push_back(html.into());
    let _ = tokenizer.feed(&queue);
    tokenizer.end();
    let errors = tokenizer.sink.0.borrow().clone();
    errors
}

/// Every public surface that shows an incident: XML parses, JSON parses, HTML has no error.
async fn assert_surfaces_are_well_formed(app: &TestApp, incident_id: &str, context: &str) {
    for path in ["/history.atom", "/history.rss", "/badge.svg"] {
        let xml = app.get_text(path).await;
        if let Err(e) = roxmltree::Document::parse(&xml) {
            panic!("{path} is not well-formed XML ({e}) after {context}");
        }
    }
    for path in ["/api/v2/summary.json", "/api/v2/incidents.json"] {
        let text = app.get_text(path).await;
        if let Err(e) = serde_json::from_str::<Value>(&text) {
            panic!("{path} is not JSON ({e}) after {context}");
        }
    }
    for path in [
        "/".to_string(),
        format!("/incidents/{incident_id}"),
        "/history".into(),
    ] {
        let html = app.get_text(&path).await;
        let errors = html_errors(&html);
        assert!(
            errors.is_empty(),
            "{path} has HTML parse errors after {context}: {errors:?}"
        );
    }
}

#[tokio::test]
async fn feeds_parse_after_a_hostile_body() {
    let app = spawn_app().await;
    let body = "Mis-nested: <table><tr><td>a</td></tr>stray text<p>x</table> ]]> &amp; & < \
                <![CDATA[ x ]]> <!-- --> \u{202E}reversed\u{202C} \u{200D} 𝔘𝔫𝔦 \t tab\n\
                <script>alert(1)</script> <svg onload=alert(1)>";
    let created = app
        .open_incident(incident("Quotes \" ' & <b>tags</b> ]]>", body))
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_surfaces_are_well_formed(&app, &id, "a hostile body").await;
    // Its text arrives intact in the JSON.
    let summary = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(
        summary["incidents"][0]["name"],
        "Quotes \" ' & <b>tags</b> ]]>"
    );
}

/// Text drawn from everywhere in Unicode, weighted towards what breaks XML and HTML.
fn hostile_text() -> impl Strategy<Value = String> {
    let interesting = prop_oneof![
        4 => any::<char>(),
        2 => (0u32..0x20).prop_map(|u| char::from_u32(u).unwrap_or('\0')),
        1 => (0x7Fu32..0xA0).prop_map(|u| char::from_u32(u).unwrap_or('\0')),
        1 => prop::sample::select(vec![
            '\u{FFFE}', '\u{FFFF}', '\u{FDD0}', '\u{1FFFE}', '\u{10FFFF}', '\u{202E}',
            '\u{2066}', '\u{200B}', '\u{FEFF}', '\u{D7FF}', '\u{E000}', '\u{FFFD}',
        ]),
        2 => prop::sample::select(vec!['<', '>', '&', '"', '\'', ']', '\n', '\r', ' ', ';']),
        3 => prop::char::range('a', 'z'),
    ];
    prop::collection::vec(interesting, 1..24).prop_map(|chars| chars.into_iter().collect())
}

#[tokio::test]
async fn random_unicode_is_refused_or_renders_well_formed_everywhere() {
    let app = spawn_app().await;
    // A modest number of cases: each one is a publish and a dozen page reads.
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    let strategy = (hostile_text(), hostile_text());
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..24 {
        let (name, body) = strategy
            .new_tree(&mut runner)
            .expect("a random case")
            .current();
        let before = incident_count(&app).await;
        let r = app
            .api("/api/admin/v1/incidents", incident(&name, &body))
            .await;
        let context = format!("name {name:?} and body {body:?}");
        match r.status().as_u16() {
            201 => {
                accepted += 1;
                let created: Value = r.json().await.expect("json");
                let id = created["id"].as_str().expect("id").to_string();
                assert_surfaces_are_well_formed(&app, &id, &context).await;
                let incidents = app.get_json("/api/v2/incidents.json").await;
                let shown = incidents["incidents"]
                    .as_array()
                    .expect("incidents")
                    .iter()
                    .any(|i| i["id"] == created["id"]);
                assert!(
                    shown,
                    "accepted incident missing from /api/v2 after {context}"
                );
            }
            422 => {
                refused += 1;
                let errors = errors_of(r).await;
                assert!(
                    errors.contains("name:") || errors.contains("body:"),
                    "{errors} for {context}"
                );
                assert_eq!(
                    incident_count(&app).await,
                    before,
                    "stored after 422: {context}"
                );
            }
            other => panic!("{other} for {context}"),
        }
    }
    // Both outcomes were exercised (with this weighting, some of each is near-certain).
    assert_eq!(accepted + refused, 24);
}
