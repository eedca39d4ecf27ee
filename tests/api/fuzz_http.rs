//! Hostile request bodies against the running app: structure-aware mutations of valid requests
//! sent to the write endpoints of the admin API, Statuspage's `/v1`, the admin forms and the
//! public sign-up, on SQLite here and on PostgreSQL when the suite runs there. Every one must get
//! a clear answer: never a 5xx, an error a person can read (no Rust type names), and when
//! refused, nothing stored. Runs for `HERALD_FUZZ_SECONDS` (default 3) per test;
//! `HERALD_FUZZ_SEED` replays a run.

use std::time::{Duration, Instant};

use herald::domain::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{ahead, hidden_field, spawn_app, TestApp};

const PASSWORD: &str = "correct horse battery staple";

fn budget() -> Duration {
    let seconds = std::env::var("HERALD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(seconds)
}

fn rng() -> (StdRng, u64) {
    let seed = std::env::var("HERALD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    (StdRng::seed_from_u64(seed), seed)
}

/// What the store holds that a refused request must leave alone.
async fn fingerprint(app: &TestApp) -> String {
    let components = app.store.components().await.expect("components");
    let incidents = app.store.incidents().await.expect("incidents");
    let subscribers = app.store.subscriber_counts().await.expect("subscribers");
    let templates = app.store.templates().await.expect("templates");
    let hooks = app.store.hooks().await.expect("hooks");
    format!(
        "{components:?}\n{incidents:?}\n{subscribers:?}\n{}\n{}",
        templates.len(),
        hooks.len()
    )
}

const STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "a\u{1}b",
    "line\u{B}tab",
    "\u{1B}[31mred",
    "\u{85}",
    "\u{202E}evil",
    "zero\u{200B}width",
    "\u{FEFF}",
    "\u{FFFE}",
    "\u{FFFF}",
    "\u{10FFFF}",
    "\u{1F600}",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "\"quoted\"@example.com",
    "üser@bücher.example",
    "SUB@EXAMPLE.COM",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-13-45T25:61:00Z",
    "1999-12-31T23:59:59-01:00",
    "-1",
    "99999999999999999999",
    "major_outage",
    "operational",
    "resolved",
    "investigating",
    "critical",
    "none",
    "true",
    "null",
];

fn hostile_value(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..14) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(-1),
        3 => json!(1e300),
        4 => json!(u64::MAX),
        5 => json!(i64::MIN),
        6 => json!([]),
        7 => json!({}),
        8 => {
            let n = [300, 5_000, 70_000][rng.gen_range(0..3)];
            json!("x".repeat(n))
        }
        9 => {
            let mut v = json!("deep");
            for _ in 0..rng.gen_range(10..200) {
                v = json!([v]);
            }
            v
        }
        10 => json!([STRINGS[rng.gen_range(0..STRINGS.len())]]),
        _ => json!(STRINGS[rng.gen_range(0..STRINGS.len())]),
    }
}

/// One structure-aware change: a field replaced, added or removed, somewhere in the value.
fn mutate_value(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(map) if !map.is_empty() && rng.gen_bool(0.8) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.gen_range(0..keys.len())].clone();
            match rng.gen_range(0..6) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert("unexpected_field".into(), hostile_value(rng));
                }
                2 | 3 => {
                    if let Some(inner) = map.get_mut(&key) {
                        mutate_value(inner, rng);
                    }
                }
                _ => {
                    map.insert(key, hostile_value(rng));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.gen_range(0..items.len());
            mutate_value(&mut items[at], rng);
        }
        Value::String(s) if rng.gen_bool(0.5) => {
            let extra = STRINGS[rng.gen_range(0..STRINGS.len())];
            let at = s
                .char_indices()
                .map(|(i, _)| i)
                .nth(rng.gen_range(0..=s.chars().count().max(1) - 1))
                .unwrap_or(s.len());
            s.insert_str(at, extra);
        }
        other => *other = hostile_value(rng),
    }
}

/// The body as bytes: usually the mutated JSON, sometimes cut short or with a stray byte.
fn body_bytes(value: &Value, rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).expect("serialise");
    match rng.gen_range(0..10) {
        0 if !bytes.is_empty() => bytes.truncate(rng.gen_range(0..bytes.len())),
        1 => {
            let at = rng.gen_range(0..=bytes.len());
            bytes.insert(at, rng.gen());
        }
        2 => bytes = serde_json::to_vec(&json!([value])).expect("serialise"),
        _ => {}
    }
    bytes
}

fn assert_readable_error(context: &str, text: &str) {
    for internal in [
        "struct ", "enum ", "panicked", "::", "sqlx", "SQLSTATE", "Rust",
    ] {
        assert!(
            !text.contains(internal),
            "{context}: the error shows {internal:?}: {text}"
        );
    }
}

/// How many requests a run sent and how many were refused; checks each answer.
#[derive(Default)]
struct Tally {
    sent: usize,
    refused: usize,
}

impl Tally {
    /// Never a 5xx; a refusal reads plainly (as JSON when `json`) and leaves the store as it was.
    /// `request` and `body` say what was sent, for the failure message.
    #[allow(clippy::too_many_arguments)]
    async fn check(
        &mut self,
        app: &TestApp,
        before: &str,
        response: reqwest::Response,
        request: &str,
        body: &[u8],
        seed: u64,
        json: bool,
    ) {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let sent: String = String::from_utf8_lossy(body).chars().take(300).collect();
        let context = format!("{request} with {sent:?} (HERALD_FUZZ_SEED={seed})");
        let (context, text) = (context.as_str(), text.as_str());
        assert!(
            status.as_u16() < 500,
            "{context}: answered {status}: {text}"
        );
        self.sent += 1;
        if status.is_client_error() {
            self.refused += 1;
            assert_readable_error(context, text);
            if json {
                assert!(
                    serde_json::from_str::<Value>(text).is_ok(),
                    "{context}: the refusal is not JSON: {text}"
                );
            }
            assert_eq!(
                fingerprint(app).await,
                before,
                "{context}: refused with {status} but the store changed"
            );
        }
    }

    fn finish(&self, what: &str, seed: u64) {
        eprintln!(
            "fuzz_http {what}: {} requests, {} refused (HERALD_FUZZ_SEED={seed})",
            self.sent, self.refused
        );
        assert!(
            self.sent > 0 && self.refused > 0,
            "the run sent nothing hostile"
        );
    }
}

struct Call {
    method: Method,
    path: String,
    body: Value,
    /// `/v1` takes `Authorization: OAuth`; the admin API a bearer token.
    statuspage: bool,
}

#[tokio::test]
async fn mutated_api_bodies_get_a_clear_answer_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let component = app.create_component("API").await;
    let incident = app
        .open_incident(
            json!({"name": "Outage", "status": "investigating", "impact": "minor",
            "body": "Looking into it", "components": {&component: "partial_outage"}}),
        )
        .await;
    let incident_id = incident["id"].as_str().expect("id").to_string();
    let update_id = incident["incident_updates"][0]["id"]
        .as_str()
        .or_else(|| incident["updates"][0]["id"].as_str())
        .unwrap_or("1")
        .to_string();
    let pages: Value = app
        .http
        .get(app.url("/v1/pages"))
        .header("Authorization", format!("OAuth {}", app.token))
        .send()
        .await
        .expect("pages")
        .json()
        .await
        .expect("json");
    let page = pages[0]["id"].as_str().expect("page id").to_string();
    let start = ahead("2099-03-01T02:00:00Z");
    let end = ahead("2099-03-01T04:00:00Z");

    let admin = |method: Method, path: String, body: Value| Call {
        method,
        path,
        body,
        statuspage: false,
    };
    let calls = vec![
        admin(
            Method::POST,
            "/api/admin/v1/components".into(),
            json!({"name": "DB", "description": "Primary", "group": "Core", "position": 2}),
        ),
        admin(
            Method::POST,
            "/api/admin/v1/incidents".into(),
            json!({"name": "Errors", "status": "investigating", "impact": "major",
                "body": "Errors on checkout", "components": {&component: "major_outage"},
                "notify": false}),
        ),
        admin(
            Method::POST,
            format!("/api/admin/v1/incidents/{incident_id}/updates"),
            json!({"status": "identified", "body": "Found it",
                "components": {&component: "degraded_performance"}, "notify": false}),
        ),
        admin(
            Method::PATCH,
            format!("/api/admin/v1/incidents/{incident_id}"),
            json!({"name": "Checkout errors", "impact": "critical"}),
        ),
        admin(
            Method::PATCH,
            format!("/api/admin/v1/incidents/{incident_id}/updates/{update_id}"),
            json!({"body": "Edited", "display_at": "2026-01-01T00:00:00Z"}),
        ),
        admin(
            Method::PATCH,
            format!("/api/admin/v1/components/{component}"),
            json!({"status": "degraded_performance", "name": "API v2"}),
        ),
        admin(
            Method::POST,
            "/api/admin/v1/maintenances".into(),
            json!({"name": "Upgrade", "body": "Planned", "scheduled_for": start,
                "scheduled_until": end, "components": {&component: "under_maintenance"}}),
        ),
        admin(
            Method::POST,
            "/api/admin/v1/subscribers".into(),
            json!({"email": "someone@example.com", "components": [&component]}),
        ),
        admin(
            Method::POST,
            "/api/admin/v1/templates".into(),
            json!({"name": "DB slow", "title": "Database", "body": "Slow queries",
                "update_status": "investigating"}),
        ),
        admin(
            Method::POST,
            "/api/admin/v1/pause".into(),
            json!({"reason": "Checking a report"}),
        ),
        Call {
            method: Method::POST,
            path: format!("/v1/pages/{page}/incidents"),
            body: json!({"incident": {"name": "From a script", "status": "investigating",
                "body": "Scripted", "components": {&component: "major_outage"},
                "component_ids": [&component], "deliver_notifications": false}}),
            statuspage: true,
        },
        Call {
            method: Method::POST,
            path: format!("/v1/pages/{page}/components"),
            body: json!({"component": {"name": "Search", "description": "d",
                "status": "operational"}}),
            statuspage: true,
        },
        Call {
            method: Method::POST,
            path: format!("/v1/pages/{page}/subscribers"),
            body: json!({"subscriber": {"email": "script@example.com"}}),
            statuspage: true,
        },
    ];

    let (mut rng, seed) = rng();
    let deadline = Instant::now() + budget();
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let call = &calls[rng.gen_range(0..calls.len())];
        let mut body = call.body.clone();
        for _ in 0..rng.gen_range(1..=3) {
            mutate_value(&mut body, &mut rng);
        }
        let bytes = body_bytes(&body, &mut rng);
        let content_type = match rng.gen_range(0..12) {
            0 => "text/plain",
            1 => "application/json; charset=utf-8",
            2 => "application/x-www-form-urlencoded",
            _ => "application/json",
        };
        let before = fingerprint(&app).await;
        let auth = if call.statuspage {
            format!("OAuth {}", app.token)
        } else {
            format!("Bearer {}", app.token)
        };
        let r = app
            .http
            .request(call.method.clone(), app.url(&call.path))
            .header("Authorization", auth)
            .header("Content-Type", content_type)
            .body(bytes.clone())
            .send()
            .await
            .expect("send");
        let request = format!("{} {}", call.method, call.path);
        tally
            .check(&app, &before, r, &request, &bytes, seed, true)
            .await;
    }
    tally.finish("api", seed);
}

/// One form field changed the way a hostile browser might: a value replaced by an awkward
/// string, a field dropped or repeated, or the encoded body cut short.
fn mutate_form(fields: &mut Vec<(String, String)>, rng: &mut StdRng) {
    if fields.is_empty() {
        return;
    }
    let at = rng.gen_range(0..fields.len());
    match rng.gen_range(0..6) {
        0 if fields[at].0 != "csrf" => {
            fields.remove(at);
        }
        1 => {
            let copy = fields[at].clone();
            fields.push(copy);
        }
        2 => {
            let n = [300, 5_000, 70_000][rng.gen_range(0..3)];
            fields[at].1 = "y".repeat(n);
        }
        _ if fields[at].0 != "csrf" => {
            let s = STRINGS[rng.gen_range(0..STRINGS.len())];
            if rng.gen_bool(0.5) {
                fields[at].1 = s.to_string();
            } else {
                fields[at].1.push_str(s);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn mutated_admin_and_sign_up_forms_get_a_clear_answer_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let component = app.create_component("API").await;
    let email = app
        .enrolled_staff("fuzz@example.com", Role::Admin, PASSWORD)
        .await;
    let r = app.sign_in(&email, PASSWORD).await;
    assert!(r.status().is_redirection(), "sign in: {}", r.status());
    let page = app.get_text("/admin/incidents/new").await;
    let csrf = hidden_field(&page, "csrf");
    let start = ahead("2099-03-01T02:00");
    let end = ahead("2099-03-01T04:00");
    let field = |k: &str, v: &str| (k.to_string(), v.to_string());
    let component_field = format!("component_{component}");
    let forms: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "/admin/incidents",
            vec![
                field("csrf", &csrf),
                field("name", "Errors"),
                field("impact", "major"),
                field("status", "investigating"),
                field("body", "Errors on checkout"),
                field(&component_field, "major_outage"),
                field("display_at", ""),
            ],
        ),
        (
            "/admin/components",
            vec![
                field("csrf", &csrf),
                field("name", "Search"),
                field("description", "Finds things"),
                field("group", "Core"),
                field("position", "3"),
            ],
        ),
        (
            "/admin/maintenances",
            vec![
                field("csrf", &csrf),
                field("name", "Upgrade"),
                field("body", "Planned work"),
                field("scheduled_for", &start),
                field("scheduled_until", &end),
                field("components", &component),
            ],
        ),
        (
            "/subscribe",
            vec![
                field("email", "reader@example.com"),
                field("components", &component),
            ],
        ),
    ];

    let (mut rng, seed) = rng();
    let deadline = Instant::now() + budget();
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let (path, fields) = &forms[rng.gen_range(0..forms.len())];
        let mut fields = fields.clone();
        for _ in 0..rng.gen_range(1..=3) {
            mutate_form(&mut fields, &mut rng);
        }
        let mut body = serde_urlencoded::to_string(&fields)
            .expect("encode")
            .into_bytes();
        if rng.gen_bool(0.1) {
            // Bytes no browser would send: invalid percent-escapes and UTF-8.
            let at = rng.gen_range(0..=body.len());
            let junk: &[u8] = [&b"%"[..], b"%G1", b"\xff", b"%C3", b"&&=="][rng.gen_range(0..5)];
            body.splice(at..at, junk.iter().copied());
        }
        let before = fingerprint(&app).await;
        let r = app
            .http
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .expect("send");
        let request = format!("POST {path}");
        tally
            .check(&app, &before, r, &request, &body, seed, false)
            .await;
    }
    tally.finish("forms", seed);
}
