use std::io::Write;

use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_banner_is_empty_when_all_is_well_and_names_an_open_incident() {
    let app = spawn_app().await;
    let banner = app.get_json("/banner.json").await;
    assert_eq!(banner["active"], json!([]));
    assert_eq!(banner["page"]["name"], "Acme Status");

    let incident = app
        .open_incident(json!({"name": "Checkout errors", "status": "investigating", "impact": "major", "body": "x"}))
        .await;
    let r = app.get("/banner.json").await;
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let banner: Value = r.json().await.unwrap();
    let item = &banner["active"][0];
    assert_eq!(item["name"], "Checkout errors");
    assert_eq!(item["status_label"], "Investigating");
    assert_eq!(
        item["url"],
        format!(
            "{}/incidents/{}",
            app.address,
            incident["id"].as_str().unwrap()
        )
    );
    let first_key = item["key"].as_str().unwrap().to_string();

    let id = incident["id"].as_str().unwrap();
    app.api(
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "identified", "body": "y"}),
    )
    .await;
    let banner = app.get_json("/banner.json").await;
    assert_ne!(
        banner["active"][0]["key"],
        first_key.as_str(),
        "a new update brings a dismissed banner back"
    );
}

#[tokio::test]
async fn banner_js_inlines_the_data_safely_and_stays_tiny() {
    let app = spawn_app().await;
    app.open_incident(json!({"name": "</script><script>alert(1)</script>", "status": "investigating", "impact": "minor", "body": "x"}))
        .await;
    let r = app.get("/banner.js").await;
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let script = r.text().await.unwrap();
    assert!(
        !script.contains("/*HERALD_DATA*/null"),
        "the data replaced the placeholder"
    );
    assert!(
        !script.contains("</script><script>alert(1)"),
        "inlined data cannot end a script element"
    );
    assert!(
        script.contains(r"\u003c/script>\u003cscript>alert(1)"),
        "the name is inlined, escaped"
    );
    assert!(script.contains("attachShadow"), "drawn in a shadow root");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(script.as_bytes()).unwrap();
    let size = gz.finish().unwrap().len();
    assert!(size < 3 * 1024, "banner.js is {size} bytes gzipped");
}

#[tokio::test]
async fn feeds_are_well_formed_with_one_entry_per_update() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(json!({"name": "Slow <search> & more", "status": "investigating", "impact": "minor", "body": "Looking *now*."}))
        .await;
    let id = incident["id"].as_str().unwrap();
    app.api(
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "resolved", "body": "Done."}),
    )
    .await;

    let r = app.get("/history.atom").await;
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    let atom = r.text().await.unwrap();
    let doc = roxmltree::Document::parse(&atom).expect("Atom is well-formed XML");
    let feed = doc.root_element();
    assert_eq!(feed.tag_name().name(), "feed");
    assert_eq!(
        feed.tag_name().namespace(),
        Some("http://www.w3.org/2005/Atom")
    );
    for required in ["id", "title", "updated"] {
        assert!(
            feed.children().any(|n| n.tag_name().name() == required),
            "feed/{required}"
        );
    }
    let entries: Vec<_> = feed
        .children()
        .filter(|n| n.tag_name().name() == "entry")
        .collect();
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        for required in ["id", "title", "updated", "link", "content"] {
            assert!(
                entry.children().any(|n| n.tag_name().name() == required),
                "entry/{required}"
            );
        }
    }
    let title = entries[0]
        .children()
        .find(|n| n.tag_name().name() == "title")
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(title, "Slow <search> & more [Resolved]");

    let rss = app.get_text("/history.rss").await;
    let doc = roxmltree::Document::parse(&rss).expect("RSS is well-formed XML");
    assert_eq!(doc.root_element().attribute("version"), Some("2.0"));
    let items: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "item")
        .collect();
    assert_eq!(items.len(), 2);
    let pub_date = items[0]
        .children()
        .find(|n| n.tag_name().name() == "pubDate")
        .unwrap()
        .text()
        .unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc2822(pub_date).is_ok(),
        "{pub_date}"
    );
}
