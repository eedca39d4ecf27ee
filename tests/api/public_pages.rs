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
async fn history_pages_by_calendar_month_and_a_new_incident_leaves_older_months_alone() {
    use chrono::{Datelike, Months, Utc};
    let app = spawn_app().await;
    let now = Utc::now();
    let this_month = now.date_naive().with_day(1).unwrap();
    // One incident this month, two a month back, none two months back, one three months back.
    let months_back = [0u32, 1, 1, 3];
    for (n, back) in months_back.iter().enumerate() {
        let when = if *back == 0 {
            now - chrono::Duration::minutes(5)
        } else {
            (this_month - Months::new(*back))
                .and_hms_opt(12, n as u32, 0)
                .unwrap()
                .and_utc()
        };
        let r = app
            .api(
                "/api/admin/v1/incidents",
                json!({"name": format!("Incident number {n:02}"), "status": "resolved",
                       "impact": "minor", "body": "Short blip.", "notify": false,
                       "display_at": when.to_rfc3339()}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let label = |back: u32| (this_month - Months::new(back)).format("%B %Y").to_string();
    let first = app.get_text("/history").await;
    assert!(first.contains(&label(0)), "{first}");
    assert!(first.contains("Incident number 00"));
    assert!(!first.contains("Incident number 01"));
    assert!(first.contains("href=\"/history?page=2\""));
    assert!(first.contains("Page 1 of 4"));
    let second = app.get_text("/history?page=2").await;
    assert!(second.contains(&label(1)));
    assert!(second.contains("Incident number 01") && second.contains("Incident number 02"));
    let third = app.get_text("/history?page=3").await;
    assert!(
        third.contains(&format!("No incidents reported in {}", label(2))),
        "{third}"
    );
    let fourth = app.get_text("/history?page=4").await;
    assert!(fourth.contains("Incident number 03") && fourth.contains("Page 4 of 4"));
    assert!(!fourth.contains("rel=\"next\""));
    assert_eq!(app.get("/history?page=5").await.status(), 404);
    assert_eq!(app.get("/history?page=abc").await.status(), 404);

    // A new incident changes this month's page only: the older months keep their bytes and
    // their ETags.
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_string();
    let before: Vec<String> = {
        let mut tags = Vec::new();
        for page in 2..=4 {
            tags.push(etag(&app.get(&format!("/history?page={page}")).await));
        }
        tags
    };
    let first_before = etag(&app.get("/history").await);
    app.open_incident(json!({"name": "Incident number 04", "status": "resolved",
        "impact": "minor", "body": "Another blip."}))
        .await;
    assert_ne!(etag(&app.get("/history").await), first_before);
    for (n, page) in (2..=4).enumerate() {
        assert_eq!(
            etag(&app.get(&format!("/history?page={page}")).await),
            before[n]
        );
    }
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

#[tokio::test]
async fn a_page_with_many_components_keeps_the_front_page_light_and_gives_each_group_a_page() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for g in 0..3 {
        for n in 0..10 {
            let r = app
                .api(
                    "/api/admin/v1/components",
                    json!({"name": format!("Service {g}-{n}"), "group": format!("Region {g}"),
                           "description": format!("Description of service {g}-{n}")}),
                )
                .await;
            assert_eq!(r.status(), 201);
            ids.push(
                r.json::<serde_json::Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    app.open_incident(
        json!({"name": "Region 1 slow", "status": "investigating", "impact": "minor",
        "body": "Slow.", "components": { ids[12].clone(): "degraded_performance" }}),
    )
    .await;
    let home = app.get_text("/").await;
    // Every member by name and status, no bars, no descriptions, no pickers.
    for g in 0..3 {
        for n in 0..10 {
            assert!(home.contains(&format!("Service {g}-{n}")));
        }
    }
    assert!(home.contains("Degraded performance"));
    assert!(
        !home.contains("class=\"bars\""),
        "no uptime bars on a front page of 30 components"
    );
    assert!(!home.contains("Description of service"));
    assert!(!home.contains("type=\"checkbox\""));
    assert!(home.contains("href=\"/subscribe\""));
    // Each group links to its own page, which has the bars and the details of every member.
    let groups = app.get_json("/api/v2/components.json").await;
    let region1 = groups["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Region 1" && c["group"] == true)
        .expect("Region 1 in components.json")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let link = format!("href=\"/groups/{region1}\"");
    assert!(home.contains(&link), "{home}");
    let page = app.get_text(&format!("/groups/{region1}")).await;
    assert_eq!(
        page.matches("class=\"bars\"").count(),
        11,
        "the group's bars and each member's"
    );
    assert!(page.contains("Description of service 1-2") && page.contains("Degraded performance"));
    assert!(!page.contains("Service 0-1"));
    // The component pickers are on /subscribe, and its form signs up for the ones ticked.
    let subscribe = app.get_text("/subscribe").await;
    assert_eq!(
        subscribe.matches("type=\"checkbox\"").count(),
        60,
        "both forms, every component"
    );
    let r = app
        .http
        .post(app.url("/subscribe"))
        .form(&[
            ("email", "picky@example.com"),
            ("components", ids[3].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let (subscribers, _) = app.store.subscribers("picky", 10, 0).await.unwrap();
    let id = subscribers.first().expect("signed up").id;
    let picky = app.store.subscriber(id).await.unwrap().unwrap();
    assert!(!picky.all_components);
    assert_eq!(picky.component_ids, vec![ids[3].parse::<i64>().unwrap()]);
}

#[tokio::test]
async fn past_incidents_on_the_front_page_are_capped_and_point_to_the_history() {
    let app = spawn_app().await;
    for n in 0..35 {
        app.open_incident(
            json!({"name": format!("Blip number {n:02}"), "status": "resolved",
            "impact": "minor", "body": "Short blip.", "notify": false}),
        )
        .await;
    }
    let home = app.get_text("/").await;
    assert_eq!(
        home.matches("Blip number").count(),
        30,
        "at most 30 past incidents"
    );
    assert!(
        home.contains("Blip number 34") && !home.contains("Blip number 04"),
        "the newest"
    );
    assert!(home.contains("more incidents in these days than fit here"));
    let history = app.get_text("/history").await;
    assert_eq!(history.matches("Blip number").count(), 35);
}
