//! Email fan-out against a real SMTP server (aiosmtpd). `.ci/run` runs these with
//! `cargo test -- --ignored` after installing aiosmtpd.

use std::time::Duration;

use serde_json::{json, Value};

use herald::domain::SubscriberEmail;

use crate::helpers::{spawn_app_with, TestApp};
use crate::smtp::{Received, SmtpSink};

const NEEDS_SMTP: &str = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it";

fn link(mail: &Received, path: &str) -> String {
    let text = mail.text();
    let start = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let begin = text[..start].rfind("http").unwrap();
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .unwrap()
        + start;
    text[begin..end].to_string()
}

async fn open_incident(app: &TestApp, name: &str) -> Value {
    app.open_incident(json!({"name": name, "status": "investigating", "impact": "major", "body": "We are on it.", "notify": true}))
        .await
}

async fn add_confirmed(app: &TestApp, emails: impl IntoIterator<Item = String>) {
    for email in emails {
        let r = app
            .api(
                "/api/admin/v1/subscribers",
                json!({"email": email, "confirmed": true}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_subscriber_confirms_hears_of_an_incident_and_unsubscribes_in_one_click() {
    let _ = NEEDS_SMTP;
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;

    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", "Reader@Example.COM")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your inbox"));
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    let confirmation = &mails[0];
    assert_eq!(
        confirmation.rcpt, "Reader@example.com",
        "domain lower-cased, local part kept"
    );
    assert!(confirmation
        .header("Subject")
        .unwrap()
        .contains("Confirm your subscription"));

    // Until confirmed the address receives nothing else.
    open_incident(&app, "Unheard incident").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.count(), 1);

    let confirm = link(confirmation, "/subscribe/confirm/");
    let r = app.http.get(&confirm).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Confirm your subscription"),
        "a GET shows the Confirm button"
    );
    let r = app.http.post(&confirm).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are subscribed"));

    let incident = open_incident(&app, "Database outage").await;
    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    let note = &mails[1];
    assert_eq!(note.rcpt, "Reader@example.com");
    assert_eq!(
        note.header("Subject").unwrap(),
        "[Acme Status] Investigating: Database outage"
    );
    assert!(note.header("Message-ID").unwrap().ends_with("@acme.test>"));
    assert!(note.header("Date").is_some());
    assert_eq!(
        note.header("From").unwrap(),
        "\"Acme Status\" <status@acme.test>"
    );
    assert!(note.header("List-Id").unwrap().contains("Acme Status"));
    assert_eq!(
        note.header("List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    let content_type = note.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    assert!(note.text().contains("text/plain") && note.text().contains("text/html"));
    let incident_url = format!(
        "{}/incidents/{}",
        app.address,
        incident["id"].as_str().unwrap()
    );
    assert!(
        note.text().contains(&incident_url),
        "links to the incident page"
    );

    let unsubscribe = note.header("List-Unsubscribe").unwrap();
    let unsubscribe = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    assert!(unsubscribe.starts_with(&format!("{}/unsubscribe/", app.address)));
    assert_eq!(
        app.http.get(unsubscribe).send().await.unwrap().status(),
        200,
        "GET only shows a button"
    );
    let r = app
        .http
        .post(unsubscribe)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Unsubscribed"));

    let id = incident["id"].as_str().unwrap();
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Fixed.", "notify": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.count(),
        2,
        "an unsubscribed address gets no further mail"
    );
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn signing_up_again_reveals_nothing_and_is_throttled() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    add_confirmed(&app, ["known@example.com".to_string()]).await;
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", "known@example.com")])
        .send()
        .await
        .unwrap();
    let known = r.text().await.unwrap();
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", "new@example.com")])
        .send()
        .await
        .unwrap();
    let new = r.text().await.unwrap();
    assert_eq!(
        known, new,
        "the answer does not tell whether an address was subscribed"
    );
    sink.wait_for(1, Duration::from_secs(10)).await;
    // A second sign-up while unconfirmed does not send a second mail straight away.
    app.http
        .post(app.url("/subscribe"))
        .form(&[("email", "new@example.com")])
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.count(), 1);
    assert!(
        sink.messages().iter().all(|m| m.rcpt == "new@example.com"),
        "the confirmed address got nothing"
    );

    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", "not an address")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let mut last = 0;
    for n in 0..12 {
        let r = app
            .http
            .post(app.url("/subscribe"))
            .form(&[("email", format!("p{n}@example.com"))])
            .send()
            .await
            .unwrap();
        last = r.status().as_u16();
    }
    assert_eq!(last, 429, "sign-ups from one address are throttled");
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_refused_recipient_is_dead_and_the_rest_arrive() {
    let sink = SmtpSink::start(&["bounce@example.com"]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    let mut emails: Vec<String> = (0..20).map(|n| format!("user{n}@example.com")).collect();
    emails.push("bounce@example.com".to_string());
    add_confirmed(&app, emails).await;
    let incident = open_incident(&app, "Partial outage").await;
    sink.wait_for(20, Duration::from_secs(20)).await;
    let update_id = incident["update_id"].as_str().unwrap();
    let mut counts = Value::Null;
    for _ in 0..50 {
        counts = app.delivery_counts(update_id).await;
        if counts["channels"]["email"]["dead"] == 1 && counts["channels"]["email"]["sent"] == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counts["channels"]["email"]["sent"], 20, "{counts}");
    assert_eq!(counts["channels"]["email"]["dead"], 1, "{counts}");
    assert!(sink
        .messages()
        .iter()
        .all(|m| m.rcpt != "bounce@example.com"));
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn mail_queued_while_the_server_is_down_arrives_when_it_comes_up() {
    let mut sink = SmtpSink::stopped();
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    add_confirmed(&app, (0..50).map(|n| format!("user{n}@example.com"))).await;
    let started = std::time::Instant::now();
    open_incident(&app, "Outage while mail is down").await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "posting never waits for delivery"
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    sink.launch();
    let mails = sink.wait_for(50, Duration::from_secs(60)).await;
    let mut rcpts: Vec<String> = mails.iter().map(|m| m.rcpt.clone()).collect();
    rcpts.sort();
    rcpts.dedup();
    assert_eq!(rcpts.len(), 50, "every subscriber got the message once");
    assert_eq!(mails.len(), 50);
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn pausing_stops_sending_within_a_second_and_resuming_sends_the_rest() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| {
        c.smtp_url = sink.url();
        c.smtp_concurrency = 1;
    })
    .await;
    let emails: Vec<SubscriberEmail> = (0..1500)
        .map(|n| SubscriberEmail::parse(&format!("user{n}@example.com")).unwrap())
        .collect();
    assert_eq!(
        app.store.import_subscribers(&emails, true).await.unwrap(),
        1500
    );
    open_incident(&app, "Big fan-out").await;
    sink.wait_for(50, Duration::from_secs(30)).await;
    let r = app
        .api(
            "/api/admin/v1/pause",
            json!({"reason": "checking a report"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_a_second = sink.count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.count(), after_a_second, "nothing is sent while paused");
    assert!(after_a_second < 1500, "the pause came before the end");
    let status = app.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], true);
    assert!(
        status["queue"]["pending"].as_i64().unwrap() > 0,
        "queued deliveries stay queued"
    );

    let r = app.api("/api/admin/v1/resume", json!({})).await;
    assert_eq!(r.status(), 200);
    let mails = sink.wait_for(1500, Duration::from_secs(120)).await;
    assert_eq!(mails.len(), 1500);
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn the_manage_link_narrows_what_a_subscriber_hears_about() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    let api = app.create_component("API").await;
    let web = app.create_component("Website").await;
    add_confirmed(&app, ["reader@example.com".to_string()]).await;
    open_incident(&app, "First").await;
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    let manage = link(&mails[0], "/subscribe/manage/");
    let page = app
        .http
        .get(&manage)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("reader@example.com") && page.contains("Website"));
    let r = app
        .http
        .post(&manage)
        .form(&[("scope", "some"), ("components", web.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Saved."));

    app.open_incident(
        json!({"name": "API only", "status": "investigating", "impact": "minor", "body": "x",
        "components": { api.clone(): "degraded_performance" }, "notify": true}),
    )
    .await;
    app.open_incident(
        json!({"name": "Website slow", "status": "investigating", "impact": "minor", "body": "x",
        "components": { web.clone(): "degraded_performance" }, "notify": true}),
    )
    .await;
    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let subjects: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.header("Subject").unwrap())
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(mails[1].header("Subject").unwrap().contains("Website slow"));
    let forged = manage.replace("/manage/1.", "/manage/2.");
    assert_eq!(
        app.http.get(&forged).send().await.unwrap().status(),
        404,
        "a changed id fails its signature"
    );
}

#[tokio::test]
#[ignore = "needs aiosmtpd and dkimpy (pip install aiosmtpd dkimpy pynacl); .ci/run runs it"]
async fn mail_as_sent_carries_a_dkim_signature_an_independent_verifier_accepts() {
    use crate::dkim::{Key, KeyForm, DOMAIN, SELECTOR};
    for form in [KeyForm::RsaPkcs1, KeyForm::Ed25519] {
        let key = Key::generate(form);
        let sink = SmtpSink::start(&[]);
        let app = spawn_app_with(|c| {
            c.smtp_url = sink.url();
            c.mail_from = format!("Acme Status <noreply@{DOMAIN}>");
            c.dkim_domain = DOMAIN.to_string();
            c.dkim_selector = SELECTOR.to_string();
            c.dkim_key_file = key.key_file().to_str().unwrap().to_string();
        })
        .await;
        add_confirmed(&app, ["reader@example.com".to_string()]).await;
        open_incident(&app, "Signed outage — ünïcode").await;
        let mail = sink.wait_for(1, Duration::from_secs(10)).await.remove(0);
        let signature = mail.header("DKIM-Signature").expect("signed");
        let signed: String = signature
            .split("h=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        for name in [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
        ] {
            assert!(
                signed
                    .to_lowercase()
                    .split(':')
                    .any(|h| h == name.to_lowercase()),
                "{name} not in h={signed}"
            );
        }
        assert_eq!(key.verify(mail.raw.as_bytes()), Ok(()), "{form:?}");
    }
}

/// Signs up `email` on the public form; the status and page.
async fn sign_up_as(app: &TestApp, email: &str) -> (u16, String) {
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[("email", email)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Waits (up to 10 s) until the app has asked its relay what it accepts.
async fn relay_known(app: &TestApp) {
    let started = std::time::Instant::now();
    while !app.relay.known() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the relay was never asked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn an_internationalised_address_is_taken_when_the_relay_announces_smtputf8() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    relay_known(&app).await;
    let (status, page) = sign_up_as(&app, "J\u{fc}rgen@B\u{fc}cher.example").await;
    assert_eq!(status, 200, "{page}");
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt, "J\u{fc}rgen@xn--bcher-kva.example");
    assert!(
        mail.header("X-Sink-Mail-Options")
            .unwrap_or_default()
            .contains("SMTPUTF8"),
        "MAIL FROM carried SMTPUTF8: {:?}",
        mail.header("X-Sink-Mail-Options")
    );
    assert!(mail
        .header("To")
        .unwrap()
        .contains("J\u{fc}rgen@xn--bcher-kva.example"));
    // The API and the import take it too; the same inbox in another case is one subscriber.
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "\u{e9}lodie@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn an_internationalised_address_is_refused_naming_why_when_the_relay_is_ascii_only() {
    let sink = SmtpSink::start_ascii_only();
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    relay_known(&app).await;
    let (status, page) = sign_up_as(&app, "J\u{fc}rgen@example.com").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("SMTPUTF8"), "{page}");
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "\u{e9}lodie@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("SMTPUTF8"));
    assert_eq!(app.store.subscriber_counts().await.unwrap(), (0, 0));
    // ASCII addresses are unaffected.
    let (status, _) = sign_up_as(&app, "reader@example.com").await;
    assert_eq!(status, 200);
    sink.wait_for(1, Duration::from_secs(10)).await;
}
