//! Webhook subscriptions end to end, against a real HTTP receiver on loopback: Statuspage's
//! payloads, Standard Webhooks signatures, Slack, Discord and Teams bodies, 410, retries, the
//! kill switch, and the refusal of private addresses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{spawn_app_with, TestApp};

/// One request the receiver took.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Answers to give, per path, before answering 200.
    scripted: Vec<(String, VecDeque<(u16, String)>)>,
    /// Paths that always answer this.
    fixed: Vec<(String, u16, String)>,
}

/// A webhook receiver on 127.0.0.1, recording what it gets.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    log: Arc<Mutex<Log>>,
}

async fn take(
    State(log): State<Arc<Mutex<Log>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut log = log.lock().unwrap();
    log.received.push(Received {
        path: path.clone(),
        headers,
        body: body.to_vec(),
    });
    if let Some((_, status, body)) = log.fixed.iter().find(|(p, _, _)| *p == path) {
        let status = StatusCode::from_u16(*status).unwrap();
        if status.is_redirection() {
            return (status, [("location", body.clone())], "").into_response();
        }
        return (status, body.clone()).into_response();
    }
    if let Some((_, queue)) = log.scripted.iter_mut().find(|(p, _)| *p == path) {
        if let Some((status, body)) = queue.pop_front() {
            return (StatusCode::from_u16(status).unwrap(), body).into_response();
        }
    }
    (StatusCode::OK, "ok").into_response()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = axum::Router::new()
            .route("/{path}", post(take))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn always(&self, path: &str, status: u16, body: &str) {
        self.log
            .lock()
            .unwrap()
            .fixed
            .push((path.into(), status, body.into()));
    }

    fn first(&self, path: &str, answers: &[(u16, &str)]) {
        self.log.lock().unwrap().scripted.push((
            path.into(),
            answers.iter().map(|(s, b)| (*s, b.to_string())).collect(),
        ));
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` received `n` requests.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "only {} of {n} requests reached /{path} in {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Herald allowed to call receivers on loopback (as `HERALD_WEBHOOK_ALLOW_NETWORKS` does for a
/// company's own network).
async fn app_for_loopback() -> TestApp {
    spawn_app_with(|c| c.webhook_allow_networks = "127.0.0.0/8".into()).await
}

async fn add_hook(app: &TestApp, body: Value) -> Value {
    let r = app.api("/api/admin/v1/webhooks", body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// Checks a Standard Webhooks signature with HMAC-SHA256 (the Python library checks it too,
/// in `the_standardwebhooks_library_verifies_herald_signatures`).
fn signature_ok(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        String::from_utf8_lossy(&r.body)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

#[tokio::test]
async fn a_webhook_gets_statuspage_payloads_signed_per_standard_webhooks() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    let api = app.create_component("API").await;
    let hook = add_hook(&app, json!({"url": receiver.url("generic")})).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!(hook["kind"], "webhook");
    assert_eq!(hook["test"]["ok"], true, "{hook}");
    assert_eq!(hook["active"], true);
    let test = &receiver.received("generic")[0];
    assert!(signature_ok(&secret, test));
    assert!(test.json()["page"]["id"].is_string());

    let incident = app
        .open_incident(json!({"name": "Checkout errors", "status": "investigating",
            "impact": "major", "body": "Payments **fail** for some cards.", "notify": true,
            "components": {api.clone(): "major_outage"}}))
        .await;
    let got = receiver
        .wait_for("generic", 3, Duration::from_secs(15))
        .await;
    let r = &got[1];
    assert!(signature_ok(&secret, r), "signature over id.timestamp.body");
    assert!(r.header("webhook-id").starts_with("msg_"));
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    // Statuspage's incident webhook, field for field.
    assert!(body["meta"]["unsubscribe"]
        .as_str()
        .unwrap()
        .contains("/webhooks/unsubscribe/"));
    assert!(body["meta"]["documentation"].is_string());
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["meta"]["generated_at"].as_str().unwrap())
            .is_ok()
    );
    assert!(body["page"]["id"].is_string());
    assert!(body["page"]["status_indicator"].is_string());
    assert!(body["page"]["status_description"].is_string());
    let i = &body["incident"];
    assert_eq!(i["id"], incident["id"]);
    assert_eq!(i["name"], "Checkout errors");
    assert_eq!(i["status"], "investigating");
    assert_eq!(i["impact"], "major");
    assert!(i["shortlink"].is_string() || i["shortlink"].is_null());
    for field in [
        "created_at",
        "updated_at",
        "monitoring_at",
        "resolved_at",
        "page_id",
    ] {
        assert!(i.get(field).is_some(), "incident.{field} missing: {i}");
    }
    let u = &i["incident_updates"][0];
    assert_eq!(u["body"], "Payments **fail** for some cards.");
    assert_eq!(u["status"], "investigating");
    for field in [
        "id",
        "incident_id",
        "created_at",
        "updated_at",
        "display_at",
        "affected_components",
    ] {
        assert!(
            u.get(field).is_some(),
            "incident_updates[0].{field} missing: {u}"
        );
    }
    assert_eq!(i["components"][0]["id"], api.as_str());
    assert_eq!(i["components"][0]["status"], "major_outage");
    // The same incident as /api/v2 shows it.
    let v2 = app.get_json("/api/v2/incidents.json").await;
    assert_eq!(v2["incidents"][0]["id"], i["id"]);
    assert_eq!(v2["incidents"][0]["incident_updates"][0]["id"], u["id"]);

    // Then Statuspage's component webhook for the status the update changed.
    let c = &got[2];
    assert!(signature_ok(&secret, c));
    assert_eq!(
        c.header("webhook-id"),
        format!("{}_c{api}", r.header("webhook-id"))
    );
    let body = c.json();
    assert!(body["meta"]["unsubscribe"].is_string());
    assert!(body["page"]["status_indicator"].is_string());
    let cu = &body["component_update"];
    assert_eq!(cu["component_id"], api.as_str());
    assert_eq!(cu["old_status"], "operational");
    assert_eq!(cu["new_status"], "major_outage");
    assert!(cu["id"].is_string() && cu["created_at"].is_string());
    assert_eq!(body["component"]["id"], api.as_str());
    assert_eq!(body["component"]["status"], "major_outage");
    assert_eq!(body["component"]["name"], "API");

    // Per-channel progress on the update.
    let update = incident["update_id"].as_str().unwrap().to_string();
    let counts = app.delivery_counts(&update).await;
    assert_eq!(counts["channels"]["webhook"]["sent"], 1, "{counts}");
}

#[tokio::test]
async fn slack_discord_and_teams_get_their_native_messages() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    for kind in ["slack", "discord", "teams"] {
        let hook = add_hook(&app, json!({"url": receiver.url(kind), "kind": kind})).await;
        assert_eq!(hook["kind"], kind);
        assert!(hook["secret"].is_null(), "chat webhooks have no secret");
        assert_eq!(hook["active"], true, "{hook}");
    }
    let long = "word ".repeat(2_000);
    app.open_incident(json!({"name": "Login is slow", "status": "identified",
        "impact": "critical", "body": format!("**Logins** take [long](https://example.com). {long}"),
        "notify": true}))
        .await;
    let slack = receiver.wait_for("slack", 2, Duration::from_secs(15)).await[1].json();
    assert!(slack["text"].as_str().unwrap().contains("Login is slow"));
    let blocks = slack["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    for b in blocks {
        if let Some(text) = b["text"]["text"].as_str() {
            assert!(text.chars().count() <= 3000, "section text over 3000");
        }
    }
    let all = slack.to_string();
    assert!(
        all.contains("*Logins*"),
        "Markdown bold becomes mrkdwn: {all}"
    );
    assert!(
        all.contains("<https://example.com") && all.contains("|long>"),
        "links become <url|text>: {all}"
    );

    let discord = receiver
        .wait_for("discord", 2, Duration::from_secs(15))
        .await[1]
        .json();
    let embed = &discord["embeds"][0];
    assert!(embed["title"].as_str().unwrap().contains("Login is slow"));
    assert!(embed["description"].as_str().unwrap().chars().count() <= 4096);
    assert!(embed["color"].is_u64());
    assert!(embed["url"].as_str().unwrap().contains("/incidents/"));
    assert_eq!(discord["allowed_mentions"]["parse"], json!([]));

    let teams = receiver.wait_for("teams", 2, Duration::from_secs(15)).await[1].clone();
    assert!(teams.body.len() < 28_000, "{} bytes", teams.body.len());
    let teams = teams.json();
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert!(attachment["content"]["body"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn a_410_unsubscribes_and_a_5xx_is_retried_until_it_is_taken() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    let gone = add_hook(&app, json!({"url": receiver.url("gone")})).await;
    add_hook(&app, json!({"url": receiver.url("flaky")})).await;
    receiver.always("gone", 410, "");
    receiver.first("flaky", &[(503, "busy"), (500, "oops")]);
    let incident = app
        .open_incident(json!({"name": "Retry me", "status": "investigating",
            "impact": "minor", "body": "Body.", "notify": true}))
        .await;
    receiver.wait_for("gone", 2, Duration::from_secs(15)).await;
    // 410: the subscription is removed at once.
    let start = Instant::now();
    loop {
        let list = app.api_get("/api/admin/v1/webhooks").await;
        let ids: Vec<&str> = list["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap())
            .collect();
        if !ids.contains(&gone["id"].as_str().unwrap()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the 410 did not unsubscribe"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 503, 500, then 200: delivered on the third try, with backoff in between.
    let got = receiver.wait_for("flaky", 4, Duration::from_secs(40)).await;
    assert_eq!(
        got[1].header("webhook-id"),
        got[3].header("webhook-id"),
        "a retry keeps its id"
    );
    let update = incident["update_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    loop {
        let counts = app.delivery_counts(&update).await;
        if counts["channels"]["webhook"]["sent"] == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{counts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_kill_switch_holds_webhooks_until_resumed() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    add_hook(&app, json!({"url": receiver.url("held"), "kind": "slack"})).await;
    let r = app
        .api("/api/admin/v1/pause", json!({"reason": "checking"}))
        .await;
    assert_eq!(r.status(), 200);
    app.open_incident(json!({"name": "Held", "status": "investigating",
        "impact": "minor", "body": "Body.", "notify": true}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received("held").len(), 1, "only the test delivery");
    // A test of a new subscription is refused while paused, and nothing is stored.
    let r = app.api("/api/admin/v1/webhooks/1/test", json!({})).await;
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
    app.api("/api/admin/v1/resume", json!({})).await;
    receiver.wait_for("held", 2, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn private_loopback_and_redirecting_receivers_are_refused() {
    let receiver = Receiver::start().await;
    // Without the allow setting: loopback (by address and by name), private ranges and the
    // cloud metadata address are refused, and a public sign-up stores nothing.
    let app = spawn_app_with(|_| {}).await;
    for url in [
        receiver.url("private"),
        receiver.url("private").replace("127.0.0.1", "localhost"),
        "http://10.1.2.3/hook".to_string(),
        "http://169.254.169.254/latest".to_string(),
        "http://[::1]:9/hook".to_string(),
        "http://100.64.0.1/hook".to_string(),
    ] {
        let hook = add_hook(&app, json!({"url": url})).await;
        assert_eq!(hook["test"]["ok"], false, "{url}: {hook}");
        assert_eq!(hook["active"], false, "{url}");
    }
    assert!(
        receiver.received("private").is_empty(),
        "nothing reached loopback"
    );
    let r = app
        .http
        .post(app.url("/subscribe/webhook"))
        .form(&[("url", receiver.url("private").as_str()), ("kind", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("not accepted"));
    // Only the admin's six (inactive) subscriptions exist.
    let list = app.api_get("/api/admin/v1/webhooks").await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 6);

    // With loopback allowed, a receiver that redirects elsewhere is not followed.
    let app = app_for_loopback().await;
    receiver.always("moved", 302, "http://10.0.0.1/");
    let hook = add_hook(&app, json!({"url": receiver.url("moved")})).await;
    assert_eq!(hook["test"]["ok"], false, "{hook}");
    assert_eq!(hook["active"], false);
    // And a bad URL is a clear error that stores nothing.
    let r = app
        .api(
            "/api/admin/v1/webhooks",
            json!({"url": "ftp://example.com/x"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .api(
            "/api/admin/v1/webhooks",
            json!({"url": "https://example.com/x", "kind": "fax"}),
        )
        .await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn a_public_sign_up_is_active_once_its_test_answers() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    let r = app
        .http
        .post(app.url("/subscribe/webhook"))
        .form(&[
            ("url", receiver.url("mine").as_str()),
            ("kind", ""),
            ("email", "ops@customer.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    assert!(page.contains("whsec_"), "the secret is shown once: {page}");
    let list = app.api_get("/api/admin/v1/webhooks").await;
    assert_eq!(list["webhooks"][0]["active"], true);
    assert_eq!(list["webhooks"][0]["owner"], "subscriber");
    // Its unsubscribe link removes it.
    app.open_incident(json!({"name": "Hello", "status": "investigating",
        "impact": "minor", "body": "Body.", "notify": true}))
        .await;
    let got = receiver.wait_for("mine", 2, Duration::from_secs(15)).await;
    let link = got[1].json()["meta"]["unsubscribe"]
        .as_str()
        .unwrap()
        .to_string();
    let path = link
        .split_once("/webhooks/")
        .map(|(_, p)| format!("/webhooks/{p}"))
        .unwrap();
    let r = app.http.post(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list = app.api_get("/api/admin/v1/webhooks").await;
    assert!(list["webhooks"].as_array().unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs python3 with the standardwebhooks package (pip install standardwebhooks); .ci/run runs it"]
async fn the_standardwebhooks_library_verifies_herald_signatures() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    let hook = add_hook(&app, json!({"url": receiver.url("lib")})).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    app.open_incident(json!({"name": "Signed", "status": "investigating",
        "impact": "minor", "body": "Ünïcode and \"quotes\".", "notify": true}))
        .await;
    let got = receiver.wait_for("lib", 2, Duration::from_secs(15)).await;
    for r in &got {
        let script = "import sys, json\nfrom standardwebhooks.webhooks import Webhook\n\
            secret, msg_id, ts, sig = sys.argv[1:5]\n\
            body = sys.stdin.buffer.read()\n\
            out = Webhook(secret).verify(body, {'webhook-id': msg_id, 'webhook-timestamp': ts, 'webhook-signature': sig})\n\
            print(json.dumps(out))\n";
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                script,
                &secret,
                &r.header("webhook-id"),
                &r.header("webhook-timestamp"),
                &r.header("webhook-signature"),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&r.body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "standardwebhooks refused Herald's signature: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And it refuses a body changed in transit.
    let r = &got[1];
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom standardwebhooks.webhooks import Webhook\nWebhook(sys.argv[1]).verify(b'{}', {'webhook-id': sys.argv[2], 'webhook-timestamp': sys.argv[3], 'webhook-signature': sys.argv[4]})",
            &secret,
            &r.header("webhook-id"),
            &r.header("webhook-timestamp"),
            &r.header("webhook-signature"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a changed body must fail");
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_subscription_that_keeps_failing_is_disabled_and_its_owner_told_by_email() {
    let receiver = Receiver::start().await;
    let sink = crate::smtp::SmtpSink::start(&[]);
    let app = spawn_app_with(|c| {
        c.webhook_allow_networks = "127.0.0.0/8".into();
        c.smtp_url = sink.url();
    })
    .await;
    let hook = add_hook(
        &app,
        json!({"url": receiver.url("broken"), "kind": "slack", "email": "ops@customer.example"}),
    )
    .await;
    assert_eq!(hook["active"], true);
    // Slack refuses the message itself: it will never be taken, so the subscription stops.
    receiver.always("broken", 400, "invalid_payload");
    app.open_incident(json!({"name": "Refused", "status": "investigating",
        "impact": "minor", "body": "Body.", "notify": true}))
        .await;
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    let notice = mails
        .iter()
        .find(|m| m.rcpt == "ops@customer.example")
        .expect("a notice to the subscription's email");
    let subject = notice.header("Subject").unwrap();
    assert!(
        subject.contains("webhook subscription was disabled"),
        "{subject}"
    );
    assert!(
        notice.text().contains("invalid_payload"),
        "{}",
        notice.text()
    );
    let list = app.api_get("/api/admin/v1/webhooks").await;
    let h = &list["webhooks"][0];
    assert_eq!(h["active"], false, "{h}");
    assert!(h["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("invalid_payload"));
    // A later update is not sent to it; a passing test turns it back on.
    app.open_incident(json!({"name": "Later", "status": "investigating",
        "impact": "minor", "body": "Body.", "notify": true}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.received("broken").len(),
        2,
        "the test and the refused one only"
    );
}

#[tokio::test]
async fn a_subscription_to_some_components_hears_only_of_those() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    let hook = add_hook(
        &app,
        json!({"url": receiver.url("api-only"), "kind": "discord", "components": [api.clone()]}),
    )
    .await;
    assert_eq!(hook["components"], json!([api.clone()]));
    add_hook(&app, json!({"url": receiver.url("all"), "kind": "discord"})).await;
    let other = app
        .open_incident(json!({"name": "Website slow", "status": "investigating",
            "impact": "minor", "body": "Body.", "notify": true,
            "components": {web.clone(): "degraded_performance"}}))
        .await;
    app.open_incident(json!({"name": "API down", "status": "investigating",
        "impact": "major", "body": "Body.", "notify": true,
        "components": {api.clone(): "major_outage"}}))
        .await;
    let all = receiver.wait_for("all", 3, Duration::from_secs(15)).await;
    let mine = receiver
        .wait_for("api-only", 2, Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mine_now = receiver.received("api-only");
    assert_eq!(mine_now.len(), 2, "the test and the API incident only");
    assert!(mine[1].json()["embeds"][0]["title"]
        .as_str()
        .unwrap()
        .contains("API down"));
    assert_eq!(all.len(), 3);
    let update = other["update_id"].as_str().unwrap().to_string();
    let counts = app.delivery_counts(&update).await;
    assert_eq!(counts["channels"]["discord"]["total"], 1, "{counts}");
    // A bad component id is a clear error that stores nothing.
    let r = app
        .api(
            "/api/admin/v1/webhooks",
            json!({"url": receiver.url("x"), "components": ["999"]}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let list = app.api_get("/api/admin/v1/webhooks").await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_fan_out_written_into_the_database_sends_nothing_and_trips_the_wire() {
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    add_hook(
        &app,
        json!({"url": receiver.url("forged"), "kind": "slack"}),
    )
    .await;
    // A quiet update: posted without notifications, so it went nowhere.
    let quiet = app
        .open_incident(json!({"name": "Quiet", "status": "investigating",
            "impact": "minor", "body": "Nobody was told.", "notify": false}))
        .await;
    let update = quiet["update_id"].as_str().unwrap();
    let incident = quiet["id"].as_str().unwrap();
    app.store
        .execute_admin(&format!(
            "INSERT INTO fanouts (update_id, incident_id, created_at, channel, remaining) \
             VALUES ({update}, {incident}, '2026-01-01T00:00:00Z', 'slack', 'email,x')"
        ))
        .await
        .unwrap();
    app.api("/api/admin/v1/pause", json!({"reason": "wake"}))
        .await;
    app.api("/api/admin/v1/resume", json!({})).await;
    let start = Instant::now();
    loop {
        let status = app.api_get("/api/admin/v1/status").await;
        if status["paused"] == true && status["reason"].as_str().unwrap_or("").contains("fan-out") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received("forged").len(),
        1,
        "only the test delivery"
    );
    let counts = app.delivery_counts(update).await;
    assert_eq!(counts["channels"], json!({}), "{counts}");
}

#[tokio::test]
async fn an_admin_adds_tests_and_removes_a_subscription_on_the_admin_pages() {
    use herald::domain::Role;
    let receiver = Receiver::start().await;
    let app = app_for_loopback().await;
    let admin = app
        .enrolled_staff(
            "admin@example.com",
            Role::Admin,
            "correct horse battery staple",
        )
        .await;
    app.sign_in(&admin, "correct horse battery staple").await;
    let url = receiver.url("ours");
    let r = app
        .post_form(
            "/admin/webhooks",
            "/admin/webhooks",
            &[
                ("url", url.as_str()),
                ("kind", ""),
                ("email", ""),
                ("company", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    assert!(page.contains("whsec_"), "the secret is shown once");
    assert!(page.contains("its test was accepted"), "{page}");
    assert!(page.contains("127.0.0.1") && page.contains("Active"));
    let list = app.api_get("/api/admin/v1/webhooks").await;
    assert_eq!(list["webhooks"][0]["owner"], "company");
    let id = list["webhooks"][0]["id"].as_str().unwrap().to_string();
    // A bad URL is shown as an error, and nothing is added.
    let r = app
        .post_form(
            "/admin/webhooks",
            "/admin/webhooks",
            &[("url", "gopher://x")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.api_get("/api/admin/v1/webhooks").await["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = app
        .post_form(
            "/admin/webhooks",
            &format!("/admin/webhooks/{id}/test"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        receiver.received("ours").len(),
        2,
        "the first test and this one"
    );
    let r = app
        .post_form(
            "/admin/webhooks",
            &format!("/admin/webhooks/{id}/remove"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(app.api_get("/api/admin/v1/webhooks").await["webhooks"]
        .as_array()
        .unwrap()
        .is_empty());
}
