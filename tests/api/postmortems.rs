//! Postmortems: a draft stays with staff; publishing puts it on the incident page, the feeds
//! and `/api/v2`, and (when asked) sends it to subscribers as a `postmortem` update; reverting
//! and deleting take it back out. The text is screened like any post.

use std::time::{Duration, Instant};

use herald::domain::Role;
use serde_json::{json, Value};

use crate::browser::staff;
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::smtp::SmtpSink;

const SECRET_CAUSE: &str = "a full disk on db-2";

async fn put_draft(app: &TestApp, id: &str, body: &str) -> reqwest::Response {
    app.http
        .put(app.url(&format!("/api/admin/v1/incidents/{id}/postmortem")))
        .bearer_auth(&app.token)
        .json(&json!({ "body": body }))
        .send()
        .await
        .expect("PUT")
}

async fn delete_postmortem(app: &TestApp, id: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/api/admin/v1/incidents/{id}/postmortem")))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("DELETE")
}

async fn publish(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.api(
        &format!("/api/admin/v1/incidents/{id}/postmortem/publish"),
        body,
    )
    .await
}

/// Opens an incident without notifying anyone and resolves it; returns its id.
async fn resolved_incident(app: &TestApp, name: &str) -> String {
    let incident = app
        .open_incident(
            json!({"name": name, "status": "investigating", "impact": "major",
                              "body": "Sign-ins fail.", "notify": false}),
        )
        .await;
    let id = incident["id"].as_str().expect("id").to_string();
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Sign-ins work again.", "notify": false}),
        )
        .await;
    assert_eq!(r.status(), 201);
    id
}

/// The incident as `/api/v2/incidents.json` shows it.
async fn public_json(app: &TestApp, id: &str) -> Value {
    let all = app.get_json("/api/v2/incidents.json").await;
    all["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
        .expect("the incident is public")
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.store
        .query_strings("SELECT action FROM audit_log WHERE action LIKE 'postmortem.%' ORDER BY id")
        .await
        .expect("audit")
}

/// Whether the postmortem's text (or its link, on `/`) is anywhere the public reads.
async fn public_sees(app: &TestApp, id: &str) -> [bool; 5] {
    let page = app.get_text(&format!("/incidents/{id}")).await;
    let index = app.get_text("/").await;
    let atom = app.get_text("/history.atom").await;
    let rss = app.get_text("/history.rss").await;
    let json = public_json(app, id).await;
    [
        page.contains(SECRET_CAUSE) && page.contains("id=\"postmortem\""),
        index.contains(&format!("/incidents/{id}#postmortem")),
        atom.contains(SECRET_CAUSE) && atom.contains("Postmortem: Sign-in failures"),
        rss.contains(SECRET_CAUSE),
        json["postmortem_body"].is_string(),
    ]
}

#[tokio::test]
async fn a_draft_is_private_publishing_shows_it_everywhere_and_revert_and_delete_take_it_back() {
    let app = spawn_app().await;
    let id = resolved_incident(&app, "Sign-in failures").await;
    let text = format!("## What happened\n\nThe cause was {SECRET_CAUSE}.");

    let r = put_draft(&app, &id, &text).await;
    assert_eq!(r.status(), 200);
    let draft: Value = r.json().await.unwrap();
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["body"], text.as_str());
    assert_eq!(
        public_sees(&app, &id).await,
        [false; 5],
        "a draft is private"
    );
    let json = public_json(&app, &id).await;
    assert_eq!(json["postmortem_body"], Value::Null);
    assert_eq!(json["postmortem_published_at"], Value::Null);
    assert_eq!(json["status"], "resolved");

    let r = publish(&app, &id, json!({})).await;
    assert_eq!(r.status(), 200);
    let published: Value = r.json().await.unwrap();
    assert_eq!(published["status"], "published");
    assert_eq!(published["update_id"], Value::Null);
    assert_eq!(
        public_sees(&app, &id).await,
        [true; 5],
        "published everywhere"
    );
    let json = public_json(&app, &id).await;
    assert_eq!(json["postmortem_body"], text.as_str());
    assert!(json["postmortem_published_at"].is_string(), "{json}");
    assert_eq!(json["status"], "postmortem");
    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert!(
        page.contains("<strong>What happened</strong>"),
        "rendered Markdown, its heading kept below the page's: {page}"
    );

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/postmortem/revert"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let reverted: Value = r.json().await.unwrap();
    assert_eq!(reverted["status"], "draft");
    assert_eq!(reverted["body"], text.as_str(), "the draft is kept");
    assert_eq!(
        public_sees(&app, &id).await,
        [false; 5],
        "reverted: private again"
    );
    assert_eq!(public_json(&app, &id).await["status"], "resolved");

    assert_eq!(publish(&app, &id, json!({})).await.status(), 200);
    let r = delete_postmortem(&app, &id).await;
    assert_eq!(r.status(), 204);
    assert_eq!(public_sees(&app, &id).await, [false; 5], "deleted");
    let json = public_json(&app, &id).await;
    assert_eq!(json["status"], "resolved");
    assert_eq!(json["postmortem_published_at"], Value::Null);
    let gone = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(gone["status"], "none");
    assert_eq!(gone["body"], Value::Null);
    assert_eq!(delete_postmortem(&app, &id).await.status(), 404);

    assert_eq!(
        audit_actions(&app).await,
        [
            "postmortem.save",
            "postmortem.publish",
            "postmortem.revert",
            "postmortem.publish",
            "postmortem.delete"
        ]
    );
}

#[tokio::test]
async fn saving_a_published_postmortem_changes_the_public_text_and_audits_old_and_new() {
    let app = spawn_app().await;
    let id = resolved_incident(&app, "Sign-in failures").await;
    assert_eq!(put_draft(&app, &id, "First words.").await.status(), 200);
    assert_eq!(publish(&app, &id, json!({})).await.status(), 200);
    let published_at = public_json(&app, &id).await["postmortem_published_at"].clone();

    assert_eq!(put_draft(&app, &id, "Better words.").await.status(), 200);
    let json = public_json(&app, &id).await;
    assert_eq!(json["postmortem_body"], "Better words.");
    assert_eq!(json["postmortem_published_at"], published_at);
    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert!(page.contains("Better words.") && !page.contains("First words."));

    let details = app
        .store
        .query_strings("SELECT detail FROM audit_log WHERE action = 'postmortem.save' ORDER BY id")
        .await
        .unwrap();
    let last: Value = serde_json::from_str(details.last().unwrap()).unwrap();
    assert_eq!(last["old"], "First words.");
    assert_eq!(last["new"], "Better words.");
    assert_eq!(last["published"], true);
}

/// The update ids of an incident, as the admin API shows them.
async fn update_ids(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let incident = app.api_get(&format!("/api/admin/v1/incidents/{id}")).await;
    incident["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_string(),
                u["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until the update's audience is written into the outbox; returns the counts.
async fn settled_counts(app: &TestApp, update_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let counts = app.delivery_counts(update_id).await;
        if counts["expanding"] == false {
            return counts;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{counts}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn publishing_quietly_sends_nothing_and_publishing_with_notify_reaches_the_subscriber() {
    let app = spawn_app().await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "customer@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = resolved_incident(&app, "Sign-in failures").await;
    let before = update_ids(&app, &id).await;
    assert_eq!(
        put_draft(&app, &id, &format!("It was {SECRET_CAUSE}."))
            .await
            .status(),
        200
    );

    let r = publish(&app, &id, json!({"notify": false})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        update_ids(&app, &id).await,
        before,
        "no update, so nothing to send"
    );
    for (update, _) in &before {
        let counts = settled_counts(&app, update).await;
        assert_eq!(counts["channels"], json!({}), "{counts}");
    }

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/postmortem/revert"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let too_long = "x".repeat(300);
    let r = publish(&app, &id, json!({"notify": true, "custom_tweet": too_long})).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        update_ids(&app, &id).await,
        before,
        "a refused publish posts nothing"
    );
    assert_eq!(public_json(&app, &id).await["postmortem_body"], Value::Null);
    let r = publish(&app, &id, json!({"notify": true, "channels": ["email"]})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let update_id = body["update_id"]
        .as_str()
        .expect("an update carries it")
        .to_string();
    let after = update_ids(&app, &id).await;
    assert_eq!(after.len(), before.len() + 1);
    assert!(
        after.contains(&(update_id.clone(), "postmortem".to_string())),
        "{after:?}"
    );
    let counts = settled_counts(&app, &update_id).await;
    assert_eq!(counts["channels"]["email"]["total"], 1, "{counts}");

    // The page shows the text once, in its section; the update links to it.
    let page = app.get_text(&format!("/incidents/{id}")).await;
    assert_eq!(page.matches(SECRET_CAUSE).count(), 1, "{page}");
    assert!(page.contains("read the postmortem"));
    // The feeds carry it once too, as the postmortem's own entry.
    let atom = app.get_text("/history.atom").await;
    assert_eq!(atom.matches("Postmortem: Sign-in failures").count(), 1);
    assert!(!atom.contains("Sign-in failures [Postmortem]"));

    // Withdrawn, the update that carried it leaves the public timeline and JSON too.
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/postmortem/revert"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let json = public_json(&app, &id).await;
    let statuses: Vec<&str> = json["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["resolved", "investigating"]);
    assert!(!app
        .get_text(&format!("/incidents/{id}"))
        .await
        .contains(SECRET_CAUSE));
}

#[tokio::test]
async fn an_open_incidents_postmortem_may_be_drafted_but_not_published() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(
            json!({"name": "Slow pages", "status": "identified", "impact": "minor",
                              "body": "Pages are slow.", "notify": false}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    assert_eq!(put_draft(&app, &id, "Early notes.").await.status(), 200);

    let r = publish(&app, &id, json!({})).await;
    assert_eq!(r.status(), 422);
    let errors: Value = r.json().await.unwrap();
    assert!(
        errors["errors"][0].as_str().unwrap().starts_with("status:"),
        "{errors}"
    );
    let json = public_json(&app, &id).await;
    assert_eq!(json["status"], "identified");
    assert_eq!(json["postmortem_body"], Value::Null);
    let pm = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(pm["status"], "draft");

    // Bad input changes nothing either.
    assert_eq!(put_draft(&app, &id, "   ").await.status(), 422);
    assert_eq!(put_draft(&app, "999999", "Words.").await.status(), 404);
    assert_eq!(publish(&app, "999999", json!({})).await.status(), 404);
    let r = publish(&app, &id, json!({"notify": true, "channels": ["pigeon"]})).await;
    assert_eq!(r.status(), 422);
    let pm = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(pm["body"], "Early notes.");
    // Without a draft there is nothing to publish.
    let other = resolved_incident(&app, "Other").await;
    assert_eq!(publish(&app, &other, json!({})).await.status(), 404);
}

#[tokio::test]
async fn a_postmortem_linking_to_a_foreign_domain_trips_the_wire_and_is_not_saved() {
    let app = spawn_app().await;
    let id = resolved_incident(&app, "Sign-in failures").await;
    assert_eq!(put_draft(&app, &id, "Honest words.").await.status(), 200);

    let r = put_draft(
        &app,
        &id,
        "Claim your refund at [our partner](https://evil.com/refund).",
    )
    .await;
    assert_eq!(r.status(), 403);
    let status = app.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        status["reason"].as_str().unwrap().contains("evil.com"),
        "{status}"
    );
    let pm = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(pm["body"], "Honest words.", "nothing changed");
    assert_eq!(pm["status"], "draft");
    assert_eq!(audit_actions(&app).await, ["postmortem.save"]);
}

#[tokio::test]
async fn a_responder_drafts_previews_publishes_and_reverts_on_the_admin_page() {
    let app = spawn_app().await;
    let id = resolved_incident(&app, "Sign-in failures").await;
    let browser = staff(&app, "responder@example.com", Role::Responder).await;
    let page_path = format!("/admin/incidents/{id}/postmortem");
    let incident_page = browser
        .get(&format!("/admin/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        incident_page.contains(&page_path),
        "the incident page links to its postmortem"
    );

    let text = format!("It was **{SECRET_CAUSE}**.");
    let r = browser
        .post(
            &page_path,
            &page_path,
            &[("action", "preview"), ("body", &text)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let preview = r.text().await.unwrap();
    assert!(
        preview.contains(&format!("<strong>{SECRET_CAUSE}</strong>")),
        "{preview}"
    );
    let pm = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(pm["status"], "none", "a preview saves nothing");

    let r = browser
        .post(
            &page_path,
            &page_path,
            &[("action", "save"), ("body", &text)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(!app
        .get_text(&format!("/incidents/{id}"))
        .await
        .contains(SECRET_CAUSE));

    let r = browser
        .post(
            &page_path,
            &page_path,
            &[
                ("action", "publish"),
                ("body", &text),
                ("channels_shown", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let public = app.get_text(&format!("/incidents/{id}")).await;
    assert!(
        public.contains(&format!("<strong>{SECRET_CAUSE}</strong>")),
        "{public}"
    );
    let shown = browser.get(&page_path).await.text().await.unwrap();
    assert!(shown.contains("Revert to draft"));

    let r = browser
        .post(&page_path, &page_path, &[("action", "revert")])
        .await;
    assert_eq!(r.status(), 303);
    assert!(!app
        .get_text(&format!("/incidents/{id}"))
        .await
        .contains(SECRET_CAUSE));
    let r = browser
        .post(&page_path, &page_path, &[("action", "delete")])
        .await;
    assert_eq!(r.status(), 303);
    let pm = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(pm["status"], "none");

    // A viewer reads the page but cannot act.
    let viewer = staff(&app, "viewer@example.com", Role::Viewer).await;
    assert_eq!(viewer.get(&page_path).await.status(), 200);
    let r = viewer
        .post(&page_path, &page_path, &[("action", "save"), ("body", "x")])
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn publishing_an_open_incidents_postmortem_on_the_admin_page_keeps_the_saved_draft() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(
            json!({"name": "Slow pages", "status": "identified", "impact": "minor",
                              "body": "Pages are slow.", "notify": false}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    assert_eq!(put_draft(&app, &id, "Saved words.").await.status(), 200);
    let browser = staff(&app, "responder@example.com", Role::Responder).await;
    let page_path = format!("/admin/incidents/{id}/postmortem");
    let r = browser
        .post(
            &page_path,
            &page_path,
            &[("action", "publish"), ("body", "New words.")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("still open"));
    let pm = app
        .api_get(&format!("/api/admin/v1/incidents/{id}/postmortem"))
        .await;
    assert_eq!(pm["body"], "Saved words.");
}

#[tokio::test]
#[ignore = "needs aiosmtpd (pip install aiosmtpd); .ci/run runs it"]
async fn a_subscriber_receives_a_postmortem_published_with_notify_and_nothing_when_quiet() {
    let sink = SmtpSink::start(&[]);
    let app = spawn_app_with(|c| c.smtp_url = sink.url()).await;
    let r = app
        .api(
            "/api/admin/v1/subscribers",
            json!({"email": "customer@example.com", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = resolved_incident(&app, "Sign-in failures").await;
    assert_eq!(
        put_draft(&app, &id, &format!("It was {SECRET_CAUSE}."))
            .await
            .status(),
        200
    );

    assert_eq!(publish(&app, &id, json!({})).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.count(), 0, "a quiet publish sends nothing");

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/postmortem/revert"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        publish(&app, &id, json!({"notify": true})).await.status(),
        200
    );
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails[0].rcpt, "customer@example.com");
    assert!(
        mails[0].text().contains(SECRET_CAUSE),
        "{}",
        mails[0].text()
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.count(), 1, "exactly one mail");
}
