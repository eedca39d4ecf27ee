//! What customers see, edited straight in the database: never shown in public, flagged for the
//! admins, and the wire trips.

use herald::domain::Role;
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

const ADMIN: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Every public surface that shows incidents or components.
const SURFACES: &[&str] = &[
    "/",
    "/history",
    "/history.atom",
    "/history.rss",
    "/banner.js",
    "/api/v2/summary.json",
    "/api/v2/incidents.json",
    "/api/v2/components.json",
];

async fn public_text(app: &TestApp, incident_id: &str) -> String {
    let mut all = String::new();
    for path in SURFACES
        .iter()
        .map(|p| p.to_string())
        .chain([format!("/incidents/{incident_id}")])
    {
        let r = app.get(&path).await;
        if r.status() == 200 {
            all.push_str(&r.text().await.unwrap());
        }
    }
    all
}

#[tokio::test]
async fn an_update_edited_in_the_database_is_never_shown_in_public_and_trips_the_wire() {
    let app = spawn_app().await;
    app.enrolled_staff(ADMIN, Role::Admin, PASSWORD).await;
    let incident = app
        .open_incident(json!({"name": "Login errors", "status": "investigating",
            "impact": "major", "body": "We are on it."}))
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    assert!(public_text(&app, &id).await.contains("We are on it."));

    app.store
        .execute_admin(
            "UPDATE incident_updates SET body = 'Claim your refund at https://acme-refunds.example'",
        )
        .await
        .unwrap();
    // Any later change rebuilds the pages.
    app.create_component("Wake").await;

    let shown = public_text(&app, &id).await;
    assert!(
        !shown.contains("acme-refunds"),
        "the forged text is not shown"
    );
    assert!(
        !shown.contains("Login errors"),
        "an incident left with no genuine update is not shown at all"
    );
    app.wait_for_trip("no valid stamp").await;

    // The admins see it, flagged.
    app.sign_in(ADMIN, PASSWORD).await;
    let page = app.get_text(&format!("/admin/incidents/{id}")).await;
    assert!(page.contains("Not written by Herald"), "flagged for admins");
}

#[tokio::test]
async fn an_incident_or_component_edited_in_the_database_is_never_shown_in_public() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    let incident = app
        .open_incident(
            json!({"name": "Slow API", "status": "identified", "impact": "minor",
            "body": "Fix on its way.", "components": { api.clone(): "degraded_performance" }}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let before = public_text(&app, &id).await;
    assert!(before.contains("Slow API") && before.contains("API"));

    // An attacker renames the component and marks the incident resolved, to hide it.
    app.store
        .execute_admin(&format!(
            "UPDATE components SET name = 'Pay at evil.example' WHERE id = {api}; \
             UPDATE incidents SET status = 'resolved' WHERE id = {id}"
        ))
        .await
        .unwrap();
    app.create_component("Wake").await;

    let shown = public_text(&app, &id).await;
    assert!(
        !shown.contains("evil.example"),
        "the renamed component is hidden"
    );
    assert!(
        !shown.contains("Slow API"),
        "the edited incident is hidden, not shown resolved"
    );
    app.wait_for_trip("no valid stamp").await;
    let components = app.get_json("/api/v2/components.json").await;
    let names: Vec<&str> = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Wake"], "only genuine components are listed");
}

#[tokio::test]
async fn a_postmortem_edited_in_the_database_is_never_shown_in_public() {
    let app = spawn_app().await;
    let incident = app
        .open_incident(json!({"name": "Checkout outage", "status": "resolved",
            "impact": "major", "body": "Fixed."}))
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let put = app
        .http
        .put(app.url(&format!("/api/admin/v1/incidents/{id}/postmortem")))
        .bearer_auth(&app.token)
        .json(&json!({"body": "A config change overloaded the database."}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let r = app
        .api(
            &format!("/api/admin/v1/incidents/{id}/postmortem/publish"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(public_text(&app, &id)
        .await
        .contains("A config change overloaded the database."));

    // An attacker with a database shell rewrites the published postmortem.
    app.store
        .execute_admin(&format!(
            "UPDATE incidents SET postmortem_body = 'Reset your password at evil.example' \
             WHERE id = {id}"
        ))
        .await
        .unwrap();
    app.create_component("Wake").await;
    let shown = public_text(&app, &id).await;
    assert!(
        !shown.contains("evil.example"),
        "the rewritten postmortem is hidden"
    );
    assert!(
        !shown.contains("Checkout outage"),
        "the incident it was written into is hidden with it"
    );
    app.wait_for_trip("no valid stamp").await;
}

/// What an attacker with a database shell does first: drops the trigger that moves an
/// incident's revision when one of its updates changes, so no rebuild reads the row again.
async fn drop_the_update_revision_trigger(app: &TestApp) {
    let drop = if app.database_url.starts_with("postgres") {
        "DROP TRIGGER incident_updates_revision ON incident_updates"
    } else {
        "DROP TRIGGER incident_updates_changed"
    };
    app.store.execute_admin(drop).await.unwrap();
}

#[tokio::test]
async fn a_row_rewritten_behind_the_revision_triggers_is_found_by_the_sweep() {
    let app = crate::helpers::spawn_app_with(|c| c.page_sweep_seconds = 1).await;
    let incident = app
        .open_incident(json!({"name": "Login errors", "status": "investigating",
            "impact": "major", "body": "We are on it."}))
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    assert!(public_text(&app, &id).await.contains("We are on it."));

    // An attacker on the database host first drops the trigger that would move the incident's
    // revision, so a rebuild would not read the row again, then rewrites the update.
    drop_the_update_revision_trigger(&app).await;
    app.store
        .execute_admin("UPDATE incident_updates SET body = 'Claim your refund at https://acme-refunds.example'")
        .await
        .unwrap();
    // No change goes through Herald: the sweep alone finds it.
    app.wait_for_trip("no valid stamp").await;
    let shown = public_text(&app, &id).await;
    assert!(
        !shown.contains("acme-refunds"),
        "the forged text is not shown"
    );
    assert!(
        !shown.contains("Login errors"),
        "nor the incident, left with no genuine update"
    );
}

#[tokio::test]
async fn the_sweep_reads_every_chunk_of_a_long_history() {
    use herald::domain::{Impact, IncidentDraft, IncidentStatus, UpdateDraft};
    let app = crate::helpers::spawn_app_with(|c| c.page_sweep_seconds = 1).await;
    // More incidents than the sweep reads at once (500), written through the store so the
    // admin API's own limits do not get in the way; each carries Herald's stamp.
    let mut last = 0;
    for n in 0..1_201 {
        let draft = IncidentDraft {
            name: format!("Incident {n}"),
            impact: Impact::Minor,
            first: UpdateDraft {
                status: IncidentStatus::Resolved,
                body: format!("Fixed {n}."),
                components: Vec::new(),
                notify: false,
                channels: Vec::new(),
                custom_tweet: None,
                display_at: None,
            },
        };
        last = app
            .store
            .open_incident(&draft, ADMIN)
            .await
            .unwrap()
            .incident_id;
    }
    // The page watch finds the store's writes; wait until the pages have read them all, so
    // that only the sweep can find what follows.
    let started = std::time::Instant::now();
    loop {
        let r = app.get(&format!("/incidents/{last}")).await;
        if r.status() == 200 && r.text().await.unwrap().contains("Fixed 1200.") {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the pages never showed the history"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.settled().await;
    drop_the_update_revision_trigger(&app).await;
    // The newest incident: in the sweep's last chunk, read in order of id.
    app.store
        .execute_admin(&format!(
            "UPDATE incident_updates SET body = 'Claim your refund at https://acme-refunds.example' \
             WHERE incident_id = {last}"
        ))
        .await
        .unwrap();
    app.wait_for_trip("no valid stamp").await;
    let r = app.get(&format!("/incidents/{last}")).await;
    assert_eq!(r.status(), 404, "the incident, left with no genuine update");
    assert!(!app.get_text("/history").await.contains("acme-refunds"));
}
