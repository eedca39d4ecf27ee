//! The admin API's lists: incidents by state and words, subscribers for admins.

use herald::domain::Role;
use serde_json::json;

use crate::helpers::spawn_app;

fn in_hours(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339()
}

#[tokio::test]
async fn incidents_are_listed_by_state_and_found_by_their_words() {
    let app = spawn_app().await;
    let open = app
        .open_incident(json!({"name": "Checkout errors", "status": "investigating",
            "impact": "major", "body": "Card payments fail for some customers."}))
        .await;
    let closed = app
        .open_incident(json!({"name": "Slow search", "status": "resolved",
            "impact": "minor", "body": "Search was slow; fixed."}))
        .await;
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": "Database upgrade", "body": "Read-only for a while.",
                   "scheduled_for": in_hours(2), "scheduled_until": in_hours(3)}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let maintenance: serde_json::Value = r.json().await.unwrap();

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = app.api_get("/api/admin/v1/incidents").await;
    assert_eq!(all["total"], 3);
    let unresolved = app
        .api_get("/api/admin/v1/incidents?state=unresolved")
        .await;
    assert_eq!(ids(&unresolved), [open["id"].as_str().unwrap()]);
    let upcoming = app.api_get("/api/admin/v1/incidents?state=upcoming").await;
    assert_eq!(ids(&upcoming), [maintenance["id"].as_str().unwrap()]);
    // Words match the name or any update, in any case, all of them.
    let found = app.api_get("/api/admin/v1/incidents?q=SEARCH+fixed").await;
    assert_eq!(ids(&found), [closed["id"].as_str().unwrap()]);
    let none = app
        .api_get("/api/admin/v1/incidents?q=search+checkout")
        .await;
    assert!(ids(&none).is_empty());
    let paged = app.api_get("/api/admin/v1/incidents?limit=1&page=2").await;
    assert_eq!(ids(&paged).len(), 1);
    assert_eq!(paged["total"], 3);

    for bad in ["state=closed", "limit=0", "page=0", "color=red"] {
        let r = app
            .http
            .get(app.url(&format!("/api/admin/v1/incidents?{bad}")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 422 || r.status() == 400,
            "{bad}: {}",
            r.status()
        );
    }
}

#[tokio::test]
async fn admins_list_read_and_remove_subscribers_and_responders_cannot() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for email in ["ann@example.com", "bob@example.com"] {
        let r = app
            .api(
                "/api/admin/v1/subscribers",
                json!({"email": email, "confirmed": true}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let s: serde_json::Value = r.json().await.unwrap();
        ids.push(s["id"].as_str().unwrap().to_string());
    }
    let list = app.api_get("/api/admin/v1/subscribers?q=ann").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["subscribers"][0]["email"], "ann@example.com");
    let one = app
        .api_get(&format!("/api/admin/v1/subscribers/{}", ids[1]))
        .await;
    assert_eq!(one["email"], "bob@example.com");
    assert_eq!(one["confirmed"], true);

    let (_, responder) = app
        .store
        .create_api_token("bot", Role::Responder, "tests")
        .await
        .unwrap();
    let r = app
        .http
        .delete(app.url(&format!("/api/admin/v1/subscribers/{}", ids[0])))
        .bearer_auth(&responder)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let delete = |id: String| {
        app.http
            .delete(app.url(&format!("/api/admin/v1/subscribers/{id}")))
            .bearer_auth(&app.token)
            .send()
    };
    assert_eq!(delete(ids[0].clone()).await.unwrap().status(), 204);
    assert_eq!(delete(ids[0].clone()).await.unwrap().status(), 404);
    assert_eq!(delete("nope".into()).await.unwrap().status(), 404);
    let list = app.api_get("/api/admin/v1/subscribers").await;
    assert_eq!(list["total"], 1);
    let removed = app
        .store
        .audit_entries(
            &herald::store::AuditFilter {
                action: "subscriber.remove".into(),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target, format!("subscriber:{}", ids[0]));
}
