//! Posting to X against the fake X API (tests/x/fake_x.py), which checks every OAuth 1.0a
//! signature with oauthlib, refuses replayed nonces and answers with X's status codes and
//! bodies. `.ci/run` runs these with `cargo test -- --ignored` after installing oauthlib.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use herald::domain::Role;

use crate::fake_x::{FakeX, Tweet, USERNAME};
use crate::helpers::{spawn_app_with, TestApp};
use crate::smtp::SmtpSink;

const ADMIN: &str = "admin@acme.test";
const PASSWORD: &str = "correct horse battery staple";

async fn spawn_with_x(fake: &FakeX, smtp: Option<&SmtpSink>) -> TestApp {
    let base = fake.base_url();
    let smtp_url = smtp.map(|s| s.url());
    spawn_app_with(move |c| {
        c.x_consumer_key = crate::fake_x::CONSUMER_KEY.into();
        c.x_consumer_secret = crate::fake_x::CONSUMER_SECRET.into();
        c.x_api_base = base;
        if let Some(url) = smtp_url {
            c.smtp_url = url;
        }
    })
    .await
}

/// An admin connects the account through the three OAuth legs, as in a browser.
async fn connect(app: &TestApp) {
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    assert_eq!(app.sign_in(ADMIN, PASSWORD).await.status(), 303);
    connect_signed_in(app).await;
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn open(app: &TestApp, body: Value) -> Value {
    app.open_incident(body).await
}

fn update_ids(incident: &Value) -> Vec<String> {
    incident["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

async fn post_update(app: &TestApp, incident_id: &str, body: Value) -> reqwest::Response {
    app.api(
        &format!("/api/admin/v1/incidents/{incident_id}/updates"),
        body,
    )
    .await
}

/// Waits until an update's X delivery reaches `state`; returns the deliveries JSON.
async fn wait_x_state(app: &TestApp, update_id: &str, state: &str, timeout: Duration) -> Value {
    let start = Instant::now();
    loop {
        let counts = app.delivery_counts(update_id).await;
        if counts["channels"]["x"][state].as_i64().unwrap_or(0) >= 1 {
            return counts;
        }
        assert!(
            start.elapsed() < timeout,
            "X delivery never became {state}: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn connecting_stores_the_token_sealed_and_shows_the_handle() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    connect(&app).await;

    let page = app.get_text("/admin/x").await;
    assert!(page.contains(&format!("@{USERNAME}")), "{page}");
    assert!(page.contains("Disconnect"));
    let tokens = fake.tokens().await;
    assert_eq!(tokens.len(), 1);
    let account = app.store.x_account().await.unwrap().expect("connected");
    assert_eq!(account.username, USERNAME);
    // Sealed, and never rendered back.
    for secret in [&tokens[0].token, &tokens[0].secret] {
        assert!(!account.token_sealed.contains(secret.as_str()));
        assert!(!account.secret_sealed.contains(secret.as_str()));
        assert!(!page.contains(secret.as_str()));
    }
    assert!(account.token_sealed.starts_with("v1."));
    // Every OAuth request carried a signature oauthlib accepted.
    let refused: Vec<_> = fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r.status >= 400)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");

    // A used request token cannot be replayed through the finish URL.
    let r = app
        .http
        .get(app.url("/admin/x/finish?oauth_token=nope&oauth_verifier=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Disconnect forgets the account.
    let r = app.post_form("/admin/x", "/admin/x/disconnect", &[]).await;
    assert_eq!(r.status(), 303);
    assert!(app.store.x_account().await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn denying_the_app_on_x_changes_nothing() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    app.sign_in(ADMIN, PASSWORD).await;
    fake.deny_next_authorize().await;
    let r = app.post_form("/admin/x", "/admin/x/connect", &[]).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain.get(location(&r)).send().await.unwrap();
    let page = app
        .http
        .get(location(&r))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/admin/x?notice=denied"), "{page}");
    assert!(app.store.x_account().await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn an_incident_posts_as_one_thread_with_its_tweet_ids_in_the_api() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    connect(&app).await;

    let incident = open(
        &app,
        json!({"name": "Checkout errors", "status": "investigating", "impact": "major",
               "body": "Some **payments** fail. We are looking into it.", "notify": true}),
    )
    .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let first = fake.wait_for_tweets(1, Duration::from_secs(10)).await;
    let link = app.url(&format!("/incidents/{id}"));
    assert_eq!(
        first[0].text,
        format!(
            "Investigating: Checkout errors — Some payments fail. We are looking into it. {link}"
        )
    );
    assert_eq!(first[0].in_reply_to_tweet_id, None);

    let r = post_update(
        &app,
        &id,
        json!({"status": "identified", "body": "A bad deploy; rolling back.", "notify": true}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post_update(&app, &id, json!({"status": "resolved", "body": "All fixed.", "notify": true,
                                          "custom_tweet": "Checkout works again. Sorry for the trouble! 🙏"})).await;
    assert_eq!(r.status(), 201);
    let tweets: Vec<Tweet> = fake.wait_for_tweets(3, Duration::from_secs(10)).await;
    assert_eq!(
        tweets[1].in_reply_to_tweet_id.as_deref(),
        Some(tweets[0].id.as_str())
    );
    assert!(tweets[1]
        .text
        .starts_with("Identified: Checkout errors — A bad deploy"));
    assert_eq!(
        tweets[2].in_reply_to_tweet_id.as_deref(),
        Some(tweets[1].id.as_str())
    );
    assert_eq!(
        tweets[2].text,
        "Checkout works again. Sorry for the trouble! 🙏"
    );

    // An update without notifications is not posted; one with notify but X off neither.
    post_update(
        &app,
        &id,
        json!({"status": "resolved", "body": "Postmortem to follow.", "notify": false}),
    )
    .await;
    post_update(&app, &id, json!({"status": "resolved", "body": "Postmortem published.", "notify": true, "post_to_x": false})).await;

    // The ids are on the updates, in the Statuspage JSON.
    let start = Instant::now();
    let json = loop {
        let json = app.get_json("/api/v2/incidents.json").await;
        let with_ids = json["incidents"][0]["incident_updates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["tweet_id"].is_string())
            .count();
        if with_ids == 3 || start.elapsed() > Duration::from_secs(5) {
            break json;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let updates = json["incidents"][0]["incident_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 5);
    // Newest first, as Statuspage orders them.
    let ids: Vec<Option<&str>> = updates.iter().map(|u| u["tweet_id"].as_str()).collect();
    assert_eq!(
        ids,
        vec![
            None,
            None,
            Some(tweets[2].id.as_str()),
            Some(tweets[1].id.as_str()),
            Some(tweets[0].id.as_str())
        ]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.tweets().await.len(), 3);
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn an_over_length_custom_post_is_refused_before_anything_is_saved() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    connect(&app).await;
    // 141 CJK characters weigh 282.
    let long = "障".repeat(141);
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Slow", "status": "investigating", "impact": "minor", "body": "Slow.",
                   "notify": true, "custom_tweet": long}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    let error = body["errors"][0].as_str().unwrap();
    assert!(
        error.starts_with("custom_tweet: is 282 characters as X counts them"),
        "{body}"
    );
    assert!(app.get_json("/api/v2/incidents.json").await["incidents"]
        .as_array()
        .unwrap()
        .is_empty());

    // The admin form says the same and keeps what was typed.
    let r = app
        .post_form(
            "/admin/incidents/new",
            "/admin/incidents",
            &[
                ("name", "Slow"),
                ("impact", "minor"),
                ("status", "investigating"),
                ("body", "Slow."),
                ("notify", "1"),
                ("post_to_x", "1"),
                ("custom_tweet", &long),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("282 characters as X counts them"), "{page}");
    assert!(page.contains(&long));
    // Exactly 280 is accepted, and a link counts 23 whatever its length.
    let fits = format!(
        "{} https://example.com/{}",
        "a".repeat(256),
        "x".repeat(100)
    );
    let r = app
        .api(
            "/api/admin/v1/incidents",
            json!({"name": "Slow", "status": "investigating", "impact": "minor", "body": "Slow.",
                   "notify": true, "custom_tweet": fits}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let tweets = fake.wait_for_tweets(1, Duration::from_secs(10)).await;
    assert_eq!(tweets[0].text, fits);
    // The live counter in the form uses the same rules.
    let page = app.get_text("/admin/incidents/new").await;
    let csrf = crate::helpers::hidden_field(&page, "csrf");
    let counted: Value = app
        .http
        .post(app.url("/admin/tweet-length"))
        .form(&[("csrf", csrf.as_str()), ("text", long.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counted["weighted_length"], 282);
    assert_eq!(counted["valid"], false);
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn a_rate_limit_holds_every_post_until_the_reset() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    connect(&app).await;
    fake.script(json!([{"status": 429, "reset_in": 3}])).await;
    let started = Instant::now();
    let a = open(&app, json!({"name": "API latency", "status": "investigating", "impact": "minor", "body": "Slow API.", "notify": true})).await;
    let b = open(&app, json!({"name": "Login trouble", "status": "investigating", "impact": "minor", "body": "Some logins fail.", "notify": true})).await;
    let tweets = fake.wait_for_tweets(2, Duration::from_secs(15)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "posted before the reset"
    );
    assert!(tweets[0].text.contains("API latency") && tweets[1].text.contains("Login trouble"));
    // Herald never knocked again before the reset.
    let requests = fake.requests().await;
    assert!(requests.iter().all(|r| !r.early), "{requests:?}");
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/2/tweets" && r.status == 429)
            .count(),
        1
    );
    for incident in [a, b] {
        let update = &update_ids(&incident)[0];
        let counts = app.delivery_counts(update).await;
        assert_eq!(counts["channels"]["x"]["sent"], 1, "{counts}");
    }
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn server_errors_are_retried_and_duplicates_are_dead_with_xs_message() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    connect(&app).await;
    fake.script(json!([{"status": 503}])).await;
    let a = open(&app, json!({"name": "Search down", "status": "investigating", "impact": "major", "body": "Search fails.", "notify": true, "custom_tweet": "Search is down; we are on it."})).await;
    let update = &update_ids(&a)[0];
    let counts = wait_x_state(&app, update, "sent", Duration::from_secs(20)).await;
    assert_eq!(counts["channels"]["x"]["sent"], 1);
    assert_eq!(fake.tweets().await.len(), 1);

    // The same text again: X refuses duplicates for good; its words are kept.
    let b = open(&app, json!({"name": "Search down again", "status": "investigating", "impact": "major", "body": "Search fails.", "notify": true, "custom_tweet": "Search is down; we are on it."})).await;
    let update = &update_ids(&b)[0];
    let counts = wait_x_state(&app, update, "dead", Duration::from_secs(10)).await;
    let error = counts["errors"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("403") && error.contains("duplicate content"),
        "{counts}"
    );
    // Later posts are not held up by the dead one.
    open(&app, json!({"name": "Search slow", "status": "investigating", "impact": "minor", "body": "Search is slow.", "notify": true})).await;
    fake.wait_for_tweets(2, Duration::from_secs(10)).await;
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib and aiosmtpd; .ci/run runs it"]
async fn a_revoked_token_stops_posting_and_alerts_the_admins_by_email() {
    let fake = FakeX::start();
    let sink = SmtpSink::start(&[]);
    let app = spawn_with_x(&fake, Some(&sink)).await;
    connect(&app).await;
    let token = fake.tokens().await[0].token.clone();
    fake.revoke(&token).await;
    // Even with outbound paused, the alert reaches the admins.
    app.api("/api/admin/v1/pause", json!({"reason": "checking"}))
        .await;
    app.api("/api/admin/v1/resume", json!({})).await;

    let a = open(&app, json!({"name": "Outage", "status": "investigating", "impact": "critical", "body": "Down.", "notify": true})).await;
    let update = &update_ids(&a)[0];
    // The refused post is not lost: it waits, with every later one, for a reconnect.
    wait_x_state(&app, update, "pending", Duration::from_secs(10)).await;
    let mail = sink.wait_for(1, Duration::from_secs(10)).await;
    let alert = mail
        .iter()
        .find(|m| m.rcpt == ADMIN)
        .expect("an alert to the admin");
    assert!(alert
        .header("Subject")
        .unwrap()
        .contains("Reconnect the X account"));
    assert!(alert.text().contains("/admin/x"));
    let page = app.get_text("/admin/x").await;
    assert!(page.contains("X refused this account"), "{page}");
    assert!(
        page.contains("401"),
        "the refusal's reason is shown: {page}"
    );
    assert_eq!(
        app.delivery_counts(update).await["channels"]["x"]["pending"],
        1
    );

    // Later posts wait for a reconnect instead of failing.
    let b = open(&app, json!({"name": "Outage 2", "status": "investigating", "impact": "critical", "body": "Down again.", "notify": true})).await;
    let later = &update_ids(&b)[0];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.delivery_counts(later).await["channels"]["x"]["pending"],
        1
    );
    assert!(fake.tweets().await.is_empty());
    // Reconnecting (a new token: the old one was revoked) sends what waited.
    connect_signed_in(&app).await;
    let tweets = fake.wait_for_tweets(2, Duration::from_secs(20)).await;
    assert!(tweets[0].text.contains("Outage"), "in order: {tweets:?}");
    assert!(tweets[1].text.contains("Outage 2"), "in order: {tweets:?}");
}

/// The three connect legs for an admin already signed in, as a browser makes them.
pub async fn connect_signed_in(app: &TestApp) {
    // Leg one: Herald asks X for a request token and sends the browser to X.
    let r = app.post_form("/admin/x", "/admin/x/connect", &[]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let authorize = location(&r);
    assert!(
        authorize.contains("/oauth/authorize?oauth_token="),
        "{authorize}"
    );
    // Leg two: the admin approves the app on X, which redirects back with a verifier.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain.get(&authorize).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let callback = location(&r);
    assert!(
        callback.starts_with(&app.url("/admin/x/callback?")),
        "{callback}"
    );
    // The callback page moves on to a same-site URL (the session cookie is SameSite=Strict).
    let page = app
        .http
        .get(&callback)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("url=").expect("meta refresh") + 4;
    let end = page[start..].find('"').unwrap() + start;
    let finish = page[start..end].replace("&#38;", "&").replace("&amp;", "&");
    assert!(finish.starts_with("/admin/x/finish?"), "{finish}");
    // Leg three: the verifier is traded for the access token.
    let r = app.http.get(app.url(&finish)).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/admin/x?notice=connected");
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn the_kill_switch_holds_x_posts_until_resumed() {
    let fake = FakeX::start();
    let app = spawn_with_x(&fake, None).await;
    connect(&app).await;
    let r = app
        .api("/api/admin/v1/pause", json!({"reason": "suspicious posts"}))
        .await;
    assert_eq!(r.status(), 200);
    let a = open(&app, json!({"name": "Held", "status": "investigating", "impact": "minor", "body": "Held back.", "notify": true})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(fake.tweets().await.is_empty());
    // Nothing is lost: the update's fan-out waits for the resume.
    let counts = app.delivery_counts(&update_ids(&a)[0]).await;
    assert_eq!(counts["expanding"], true, "{counts}");
    app.api("/api/admin/v1/resume", json!({})).await;
    let tweets = fake.wait_for_tweets(1, Duration::from_secs(10)).await;
    assert!(tweets[0].text.contains("Held"));
}

/// Runs the `herald` binary against `data`, with the fake X configured.
fn herald_cli(
    data: &std::path::Path,
    fake: &FakeX,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let base = fake.base_url();
    crate::cli::herald_with(
        data,
        args,
        stdin,
        &[
            ("HERALD_X_CONSUMER_KEY", crate::fake_x::CONSUMER_KEY),
            ("HERALD_X_CONSUMER_SECRET", crate::fake_x::CONSUMER_SECRET),
            ("HERALD_X_API_BASE", base.as_str()),
        ],
    )
}

#[tokio::test]
#[ignore = "needs python3 with oauthlib; .ci/run runs it"]
async fn herald_x_connect_takes_a_token_on_stdin_and_the_database_never_holds_it_in_clear() {
    let token = "1234-PLAINTEXTTOKEN0123456789";
    let secret = "PLAINTEXTSECRET0123456789abcdef";
    let fake = FakeX::start_with_token(token, secret);
    let data = tempfile::tempdir().unwrap();
    let (ok, _, err) = herald_cli(data.path(), &fake, &["migrate"], "");
    assert!(ok, "{err}");

    // A token X does not know is refused, and nothing is stored.
    let (ok, _, err) = herald_cli(data.path(), &fake, &["x", "connect"], "wrong\nwrong\n");
    assert!(!ok);
    assert!(err.contains("X did not accept the token"), "{err}");
    let (_, out, _) = herald_cli(data.path(), &fake, &["x", "status"], "");
    assert!(out.contains("not connected"), "{out}");

    let (ok, out, err) = herald_cli(
        data.path(),
        &fake,
        &["x", "connect"],
        &format!("{token}\n{secret}\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains(&format!("Connected @{USERNAME}")), "{out}");
    let (_, out, _) = herald_cli(data.path(), &fake, &["x", "status"], "");
    assert!(out.contains(&format!("@{USERNAME}")), "{out}");

    // Every file Herald keeps, apart from the key file, is free of the token and its secret.
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "secret.key" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for needle in [token, secret] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} holds {needle} in clear",
                path.display()
            );
        }
    }
    // Without the key file, the copy cannot post: the sealed token does not open.
    std::fs::remove_file(data.path().join("secret.key")).unwrap();
    let (_, out, _) = herald_cli(data.path(), &fake, &["x", "status"], "");
    assert!(out.contains(&format!("@{USERNAME}")), "{out}");
    let key =
        herald::security::keys::MasterKey::load_or_create(&data.path().join("secret.key")).unwrap();
    let store = herald::store::Store::connect(&format!(
        "sqlite://{}",
        data.path().join("herald.db").display()
    ))
    .await
    .unwrap();
    let account = store.x_account().await.unwrap().unwrap();
    let sealer = herald::security::seal::Sealer::new(&key);
    assert!(sealer
        .open(
            herald::security::seal::purpose::X_TOKEN,
            &account.token_sealed
        )
        .is_err());
}
