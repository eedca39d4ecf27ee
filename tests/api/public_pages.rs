use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_front_page_shows_status_components_open_incidents_and_past_days() {
    let app = spawn_app().await;
    let html = app.get_text("/").await;
    assert!(html.contains("All Systems Operational"));
    assert!(html.contains("No incidents reported"));

    let db = app.create_component("Database").await;
    app.create_component("Website").await;
    let incident = app
        .open_incident(
            json!({"name": "Replica lag", "status": "identified", "impact": "minor",
            "body": "Reads may be **stale**.", "components": { db: "degraded_performance" }}),
        )
        .await;
    let html = app.get_text("/").await;
    assert!(
        html.contains("Minor Service Outage"),
        "indicator follows the incident"
    );
    assert!(html.contains("Replica lag"));
    assert!(
        html.contains("Reads may be <strong>stale</strong>."),
        "markdown is rendered"
    );
    assert!(html.contains("Degraded performance"));
    assert!(html.contains("Website"));
    let id = incident["id"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"/incidents/{id}\"")));
    assert!(
        html.contains("<time datetime=\""),
        "absolute timestamps for local-time.js"
    );
}

#[tokio::test]
async fn an_incident_page_shows_the_timeline_newest_first() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(json!({"name": "Login failures", "status": "investigating", "impact": "major", "body": "First look."}))
        .await;
    let id = incident["id"].as_str().unwrap();
    app.api(
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "monitoring", "body": "Fix deployed."}),
    )
    .await;
    let html = app.get_text(&format!("/incidents/{id}")).await;
    let newer = html.find("Fix deployed.").expect("second update shown");
    let older = html.find("First look.").expect("first update shown");
    assert!(newer < older, "newest update first");
    assert!(html.contains("Monitoring"));
    let r = app.get("/incidents/424242").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Not found"));
}

#[tokio::test]
async fn history_pages_through_every_past_incident() {
    let app = spawn_app().await;
    for n in 0..25 {
        app.open_incident(json!({"name": format!("Incident number {n:02}"), "status": "resolved", "impact": "minor",
            "body": "Short blip."}))
            .await;
    }
    let first = app.get_text("/history").await;
    assert!(first.contains("Incident number 24"));
    assert!(!first.contains("Incident number 04"));
    assert!(first.contains("href=\"/history?page=2\""));
    let second = app.get_text("/history?page=2").await;
    assert!(second.contains("Incident number 04"));
    assert!(second.contains("Page 2 of 2"));
    assert_eq!(app.get("/history?page=3").await.status(), 404);
    assert_eq!(app.get("/history?page=abc").await.status(), 404);
}

#[tokio::test]
async fn bodies_carry_etags_and_answer_304_when_unchanged() {
    let app = spawn_app().await;
    let r = app.get("/").await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.headers()["cache-control"], "public, no-cache");
    let r = app
        .http
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());

    app.create_component("API").await;
    let r = app
        .http
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a change gives a new ETag");
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn compressed_copies_are_served_to_clients_that_ask() {
    let app = spawn_app().await;
    let plain = reqwest::Client::new();
    for (accept, expected) in [
        ("br", Some("br")),
        ("gzip, deflate", Some("gzip")),
        ("br;q=0, gzip", Some("gzip")),
        ("identity", None),
    ] {
        let r = plain
            .get(app.url("/"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            expected,
            "{accept}"
        );
        assert_eq!(r.headers()["vary"], "Accept-Encoding");
    }
    let r = plain
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let mut html = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut html)
        .unwrap();
    assert!(html.contains("All Systems Operational"));
}

#[tokio::test]
async fn public_pages_are_hardened_and_never_set_cookies() {
    let app = spawn_app().await;
    let r = app.get("/").await;
    let h = r.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.get("set-cookie").is_none());
    assert_eq!(
        app.http.post(app.url("/")).send().await.unwrap().status(),
        405
    );
    let health = app.get_json("/healthz").await;
    assert_eq!(health["status"], "ok");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("herald_outbound_paused 0\n"), "{metrics}");
    assert!(
        metrics.contains("herald_deliveries{state=\"pending\"} 0\n"),
        "{metrics}"
    );
}
