//! `/badge.svg` and `/components/{id}/badge.svg`, read as XML the way an image viewer or a
//! screen reader would.

use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

/// What a badge says and shows: its text alternative (aria-label and title, which must agree),
/// its visible texts and the message's colour.
#[derive(Debug, PartialEq)]
struct Seen {
    alternative: String,
    texts: Vec<String>,
    colour: String,
}

fn read(svg: &str) -> Seen {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert_eq!(root.attribute("role"), Some("img"));
    assert_eq!(root.attribute("height"), Some("20"));
    let width: u32 = root.attribute("width").unwrap().parse().unwrap();
    let label = root.attribute("aria-label").unwrap().to_string();
    let title = root
        .children()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text())
        .unwrap();
    assert_eq!(title, label, "the title and the aria-label say the same");
    // Visible texts, not their shadows (hidden from assistive technology).
    let texts: Vec<String> = root
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("aria-hidden").is_none())
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    // The two halves: grey label, coloured message, side by side, filling the width.
    let rects: Vec<_> = root
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.parent().is_some_and(|p| p.has_tag_name("g")))
        .collect();
    assert_eq!(rects[0].attribute("fill"), Some("#555"));
    let left: u32 = rects[0].attribute("width").unwrap().parse().unwrap();
    let right: u32 = rects[1].attribute("width").unwrap().parse().unwrap();
    assert_eq!(rects[1].attribute("x"), Some(left.to_string().as_str()));
    assert_eq!(left + right, width);
    Seen {
        alternative: label,
        texts,
        colour: rects[1].attribute("fill").unwrap().to_string(),
    }
}

async fn badge(app: &TestApp, path: &str) -> Seen {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    read(&r.text().await.unwrap())
}

fn seen(label: &str, message: &str, colour: &str) -> Seen {
    Seen {
        alternative: format!("{label}: {message}"),
        texts: vec![label.to_string(), message.to_string()],
        colour: colour.to_string(),
    }
}

#[tokio::test]
async fn each_status_has_its_words_and_colour_on_both_badges() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let path = format!("/components/{api}/badge.svg");
    assert_eq!(badge(&app, &path).await, seen("API", "Operational", "#4c1"));
    assert_eq!(
        badge(&app, "/badge.svg").await,
        seen("Acme Status", "All Systems Operational", "#4c1")
    );

    let incident = app
        .open_incident(
            json!({"name": "Slow API", "status": "investigating", "impact": "none",
                              "body": "x", "components": { api.clone(): "degraded_performance" }}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let steps = [
        (
            "degraded_performance",
            "Degraded performance",
            "#dfb317",
            "Minor Service Outage",
        ),
        (
            "partial_outage",
            "Partial outage",
            "#fe7d37",
            "Partial System Outage",
        ),
        (
            "major_outage",
            "Major outage",
            "#e05d44",
            "Major Service Outage",
        ),
        (
            "under_maintenance",
            "Under maintenance",
            "#007ec6",
            "Service Under Maintenance",
        ),
    ];
    for (n, (status, label, colour, overall)) in steps.into_iter().enumerate() {
        if n > 0 {
            let r = app
                .api(
                    &format!("/api/admin/v1/incidents/{id}/updates"),
                    json!({"status": "identified", "body": "y", "components": { api.clone(): status }}),
                )
                .await;
            assert_eq!(r.status(), 201, "{status}");
        }
        assert_eq!(
            badge(&app, &path).await,
            seen("API", label, colour),
            "{status}"
        );
        assert_eq!(
            badge(&app, "/badge.svg").await,
            seen("Acme Status", overall, colour),
            "{status}"
        );
    }
}

#[tokio::test]
async fn badges_revalidate_with_their_etag() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let path = format!("/components/{api}/badge.svg");
    let r = app.get(&path).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let page_etag = app.get("/badge.svg").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let conditional = |path: String, etag: String| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&path))
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(conditional(path.clone(), etag.clone()).await, 304);
    assert_eq!(
        conditional("/badge.svg".into(), page_etag.clone()).await,
        304
    );

    // A change to another component leaves this badge's bytes, and so its ETag, alone.
    let web = app.create_component("Web").await;
    app.open_incident(
        json!({"name": "Web down", "status": "investigating", "impact": "major",
                             "body": "x", "components": { web: "major_outage" }}),
    )
    .await;
    assert_eq!(conditional(path.clone(), etag.clone()).await, 304);
    assert_eq!(conditional("/badge.svg".into(), page_etag).await, 200);

    app.open_incident(
        json!({"name": "API slow", "status": "investigating", "impact": "minor",
                             "body": "x", "components": { api: "degraded_performance" }}),
    )
    .await;
    assert_eq!(conditional(path, etag).await, 200);
}

#[tokio::test]
async fn an_unknown_component_has_no_badge() {
    let app = spawn_app().await;
    app.create_component("API").await;
    for path in [
        "/components/999999/badge.svg",
        "/components/abc/badge.svg",
        "/components//badge.svg",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg"));
    }
}

#[tokio::test]
async fn names_are_escaped_as_xml() {
    let app = spawn_app().await;
    let name = r#"R&D <"beta"> 'lab'"#;
    let id = app.create_component(name).await;
    let r = app.get(&format!("/components/{id}/badge.svg")).await;
    let svg = r.text().await.unwrap();
    assert!(!svg.contains("<\"beta\">") && !svg.contains("R&D"), "{svg}");
    // Escaped, the name reads back exactly as given.
    assert_eq!(read(&svg), seen(name, "Operational", "#4c1"));
}

#[tokio::test]
async fn a_longer_name_makes_a_wider_badge() {
    let app = spawn_app().await;
    let short = app.create_component("API").await;
    let long = app.create_component("Payments and billing API (EU)").await;
    let width = |svg: String| -> u32 {
        let doc = roxmltree::Document::parse(&svg).unwrap();
        doc.root_element()
            .attribute("width")
            .unwrap()
            .parse()
            .unwrap()
    };
    let a = width(
        app.get_text(&format!("/components/{short}/badge.svg"))
            .await,
    );
    let b = width(app.get_text(&format!("/components/{long}/badge.svg")).await);
    assert!(b > a + 100, "{a} vs {b}");
}
