//! A page that is always fresh and clear: caching headers, the front page's sections, folded
//! quiet days and groups that open when a member is affected.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

const REVALIDATE: &str = "public, no-cache";
const BRIEF: &str = "public, max-age=5";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn cache_control(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.get(path).await;
    let value = r.headers()["cache-control"].to_str().unwrap().to_string();
    (r.status().as_u16(), value)
}

/// The value of `attribute` on the first tag that contains `marker`.
fn attribute_of(html: &str, marker: &str, attribute: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()];
    let start = tag.find(&format!("{attribute}=\"")).unwrap() + attribute.len() + 2;
    tag[start..start + tag[start..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn pages_revalidate_on_every_load_and_data_is_cached_for_seconds() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(json!({"name": "Slow logins", "status": "investigating",
            "impact": "minor", "body": "Looking."}))
        .await;
    let id = incident["id"].as_str().unwrap();
    for path in [
        "/".to_string(),
        "/history".to_string(),
        format!("/incidents/{id}"),
        "/incidents/424242".to_string(),
        "/static/style.css".to_string(),
        "/static/live.js".to_string(),
    ] {
        let (_, value) = cache_control(&app, &path).await;
        assert_eq!(value, REVALIDATE, "{path}");
    }
    for path in [
        "/api/v2/summary.json",
        "/api/v2/incidents.json",
        "/banner.js",
        "/banner.json",
        "/history.atom",
        "/history.rss",
    ] {
        let (status, value) = cache_control(&app, path).await;
        assert_eq!((status, value.as_str()), (200, BRIEF), "{path}");
    }

    // A 304 says the same, so a CDN keeps following the policy.
    let r = app.get("/").await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = app
        .http
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["cache-control"], REVALIDATE);
}

#[tokio::test]
async fn pages_link_assets_under_hashed_names_that_are_cached_for_good() {
    let app = spawn_app().await;
    let html = app.get_text("/").await;
    for (marker, attribute, plain) in [
        ("rel=\"stylesheet\"", "href", "/static/style.css"),
        ("rel=\"icon\"", "href", "/static/icon.svg"),
        ("/static/live.", "src", "/static/live.js"),
        ("/static/local-time.", "src", "/static/local-time.js"),
    ] {
        let hashed = attribute_of(&html, marker, attribute);
        assert_ne!(hashed, plain);
        let r = app.get(&hashed).await;
        assert_eq!(r.status(), 200, "{hashed}");
        assert_eq!(r.headers()["cache-control"], IMMUTABLE, "{hashed}");
        let bytes = r.bytes().await.unwrap();
        let same = app.get(plain).await.bytes().await.unwrap();
        assert_eq!(bytes, same, "{hashed} serves {plain}");
    }
    // live.js runs before local-time.js, so it sees the regions as served.
    let html = app.get_text("/").await;
    assert!(html.find("/static/live.").unwrap() < html.find("/static/local-time.").unwrap());
}

#[tokio::test]
async fn a_reload_right_after_a_change_shows_the_new_state() {
    let app = spawn_app().await;
    let db = app.create_component("Database").await;
    let incident = app
        .open_incident(
            json!({"name": "Replica lag", "status": "identified", "impact": "major",
            "body": "Reads are stale.", "components": { db.clone(): "partial_outage" }}),
        )
        .await;
    let id = incident["id"].as_str().unwrap();
    let r = app.get("/").await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(r.text().await.unwrap().contains("Partial System Outage"));

    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Caught up.", "components": { db: "operational" }}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // A browser reloading revalidates with the ETag it holds: once the pages show the change
    // (they follow the commit by milliseconds), it gets the new page.
    let r = app
        .http
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("All Systems Operational"), "{html}");
    assert!(!html.contains("Partial System Outage"));
}

#[tokio::test]
async fn an_open_incident_and_a_running_maintenance_appear_once_on_the_front_page() {
    let app = spawn_app().await;
    let web = app.create_component("Website").await;
    let incident = app
        .open_incident(json!({"name": "Checkout errors", "status": "investigating",
            "impact": "major", "body": "Payments fail."}))
        .await;
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Search reindex", "body": "Partial results.",
                "scheduled_for": (Utc::now() - Duration::minutes(5)).to_rfc3339(),
                "scheduled_until": (Utc::now() + Duration::hours(1)).to_rfc3339(),
                "components": { web: "under_maintenance" }}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let mut html = String::new();
    for _ in 0..50 {
        html = app.get_text("/").await;
        if html.contains("Maintenance in progress") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(html.contains("Current incidents"));
    assert!(html.contains("Maintenance in progress"), "{html}");
    assert_eq!(html.matches("Checkout errors").count(), 1, "{html}");
    assert_eq!(html.matches("Search reindex").count(), 1, "{html}");

    // Once resolved it moves to its day under "Past incidents", still once.
    let id = incident["id"].as_str().unwrap();
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/updates"),
            json!({"status": "resolved", "body": "Fixed."}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let html = app.get_text("/").await;
    assert!(!html.contains("Current incidents"));
    assert_eq!(html.matches("Checkout errors").count(), 1, "{html}");
    let past = &html[html.find("Past incidents").unwrap()..];
    assert!(past.contains("Checkout errors"));
}

#[tokio::test]
async fn runs_of_days_without_incidents_fold_into_one_line() {
    let app = spawn_app().await;
    let today = Utc::now().date_naive();
    let day = |back: i64| {
        (today - Duration::days(back))
            .format("%Y-%m-%d")
            .to_string()
    };

    let html = app.get_text("/").await;
    assert_eq!(html.matches("No incidents reported").count(), 1, "{html}");
    assert!(
        html.contains(&format!(
            "No incidents reported <time datetime=\"{}\">",
            day(13)
        )),
        "{html}"
    );
    assert!(html.contains(&format!("– <time datetime=\"{}\">", day(0))));

    // A resolved incident three days ago splits the fortnight into two quiet runs.
    let when = (Utc::now() - Duration::days(3)).to_rfc3339();
    app.open_incident(
        json!({"name": "Old blip", "status": "resolved", "impact": "minor",
        "body": "Short.", "display_at": when}),
    )
    .await;
    let html = app.get_text("/").await;
    assert_eq!(html.matches("No incidents reported").count(), 2, "{html}");
    assert!(html.contains(&format!(
        "No incidents reported <time datetime=\"{}\">",
        day(2)
    )));
    assert!(html.contains(&format!("<h3><time datetime=\"{}\">", day(3))));
    assert!(html.contains(&format!(
        "No incidents reported <time datetime=\"{}\">",
        day(13)
    )));
    assert!(html.contains(&format!("– <time datetime=\"{}\">", day(4))));
    assert!(html.contains("Old blip"));
}

#[tokio::test]
async fn a_group_opens_by_itself_when_a_member_is_affected() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["Website", "Public API"] {
        let r = app
            .api(
                "/api/admin/v1/components",
                json!({"name": name, "group": "Public"}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let body: serde_json::Value = r.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let html = app.get_text("/").await;
    assert!(html.contains("<details data-group=\"Public\">"), "{html}");
    assert!(html.contains("2 components"));

    app.open_incident(
        json!({"name": "API errors", "status": "investigating", "impact": "major",
        "body": "Errors.", "components": { ids[1].clone(): "major_outage" }}),
    )
    .await;
    let html = app.get_text("/").await;
    assert!(
        html.contains("<details data-group=\"Public\" open>"),
        "{html}"
    );
    let group = &html[html.find("data-group=\"Public\"").unwrap()..];
    let group = &group[..group.find("</details>").unwrap()];
    assert!(group.contains("Major outage"));
    assert!(group.contains("Public API"));
}
