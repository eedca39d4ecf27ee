//! Uptime history: every status change lands in the component's history, `/api/uptime.json`
//! reports what a scripted history says, the page's bars say the same, a row forged in the
//! database is ignored and trips the wire, and a component can hide its uptime.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> Value {
    let r = app
        .http
        .request(method.clone(), app.url(path))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    send(app, reqwest::Method::POST, path, body).await
}

async fn patch(app: &TestApp, path: &str, body: Value) -> Value {
    send(app, reqwest::Method::PATCH, path, body).await
}

/// (status, update id) of each history row of a component, oldest first.
async fn history(app: &TestApp, component: &str) -> Vec<(String, Option<String>, String)> {
    let rows = app
        .store
        .query_strings(&format!(
            "SELECT l.status || '|' || COALESCE(CAST(l.update_id AS TEXT), '') || '|' || CAST(l.at AS TEXT) \
             FROM component_status_log l WHERE l.component_id = {component} ORDER BY l.at, l.id"
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            let mut parts = r.splitn(3, '|');
            let status = parts.next().unwrap().to_string();
            let update = parts.next().unwrap();
            let at = parts.next().unwrap().to_string();
            (status, (!update.is_empty()).then(|| update.to_string()), at)
        })
        .collect()
}

/// The newest history row of every component says what the component's status is.
async fn assert_history_ends_in_the_current_status(app: &TestApp) {
    let rows = app
        .store
        .query_strings(
            "SELECT CAST(c.id AS TEXT) || ' ' || c.status || ' ' || COALESCE((SELECT l.status \
             FROM component_status_log l WHERE l.component_id = c.id ORDER BY l.at DESC, l.id DESC \
             LIMIT 1), 'nothing') FROM components c",
        )
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let parts: Vec<&str> = row.split(' ').collect();
        assert_eq!(parts[1], parts[2], "component {}: {row}", parts[0]);
    }
}

fn statuses(rows: &[(String, Option<String>, String)]) -> Vec<&str> {
    rows.iter().map(|(s, _, _)| s.as_str()).collect()
}

#[tokio::test]
async fn every_status_change_is_written_to_the_history_and_it_ends_in_the_current_status() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    assert_eq!(statuses(&history(&app, &api).await), ["operational"]);
    assert_history_ends_in_the_current_status(&app).await;

    // Publish: at the update's display time, tied to the update.
    let incident = app
        .open_incident(
            json!({"name": "Errors", "status": "investigating", "impact": "major",
            "body": "Looking.", "components": {api.clone(): "major_outage"}}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let first = incident["update_id"].as_str().unwrap().to_string();
    let rows = history(&app, &api).await;
    assert_eq!(statuses(&rows), ["operational", "major_outage"]);
    assert_eq!(rows[1].1.as_deref(), Some(first.as_str()));
    assert_history_ends_in_the_current_status(&app).await;

    // Resolving: the component follows back to operational.
    post(
        &app,
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "resolved", "body": "Fixed."}),
    )
    .await;
    assert_eq!(
        statuses(&history(&app, &api).await),
        ["operational", "major_outage", "operational"]
    );
    assert_history_ends_in_the_current_status(&app).await;

    // Editing the first update's display time moves its row with it.
    let earlier = (Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    patch(
        &app,
        &format!("/api/admin/v1/incidents/{id}/updates/{first}"),
        json!({ "display_at": earlier }),
    )
    .await;
    let rows = history(&app, &api).await;
    let moved = rows
        .iter()
        .find(|(_, u, _)| u.as_deref() == Some(first.as_str()))
        .unwrap();
    assert_eq!(moved.0, "major_outage");
    // Now the oldest row: three hours back, before the component's creation.
    assert_eq!(rows[0].1.as_deref(), Some(first.as_str()), "{rows:?}");
    assert_history_ends_in_the_current_status(&app).await;

    // Set directly, outside any incident.
    patch(
        &app,
        &format!("/api/admin/v1/components/{api}"),
        json!({"status": "degraded_performance"}),
    )
    .await;
    assert_eq!(
        statuses(&history(&app, &api).await).last(),
        Some(&"degraded_performance")
    );
    assert_history_ends_in_the_current_status(&app).await;

    // Deleting an open incident returns the component to operational: written too.
    let other = app
        .open_incident(
            json!({"name": "Slow", "status": "investigating", "impact": "minor",
            "body": "Slow.", "components": {api.clone(): "partial_outage"}}),
        )
        .await;
    assert_eq!(
        statuses(&history(&app, &api).await).last(),
        Some(&"partial_outage")
    );
    let other_id = other["id"].as_str().unwrap();
    let r = app
        .http
        .delete(app.url(&format!("/api/admin/v1/incidents/{other_id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let rows = history(&app, &api).await;
    assert_eq!(statuses(&rows).last(), Some(&"operational"));
    // The deleted incident's row stays (customers saw it), without its update.
    assert!(rows
        .iter()
        .any(|(s, u, _)| s == "partial_outage" && u.is_none()));
    assert_history_ends_in_the_current_status(&app).await;

    // A backdated update published after later changes still leaves the current status last.
    let backdated = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    app.open_incident(
        json!({"name": "Earlier", "status": "investigating", "impact": "major",
        "body": "Earlier.", "display_at": backdated, "components": {api.clone(): "major_outage"}}),
    )
    .await;
    assert_eq!(
        statuses(&history(&app, &api).await).last(),
        Some(&"major_outage")
    );
    assert_history_ends_in_the_current_status(&app).await;
}

fn day(back: u64) -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_sub_days(Days::new(back))
        .unwrap()
}

fn at(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    date.and_hms_opt(h, m, 0).unwrap().and_utc()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A's outage three days ago (an hour major, an hour partial, from 10:00); B's half-hour
/// either side of the midnight two days ago. Returns (A's id, B's id, A's incident, B's).
async fn scripted_history(app: &TestApp) -> (String, String, String, String) {
    let a = app.create_component("API").await;
    let b = app.create_component("Website").await;
    let d3 = day(3);
    let incident = app
        .open_incident(json!({"name": "API errors", "status": "investigating", "impact": "major",
            "body": "Errors.", "display_at": iso(at(d3, 10, 0)), "components": {a.clone(): "major_outage"}}))
        .await;
    let ia = incident["id"].as_str().unwrap().to_string();
    post(
        app,
        &format!("/api/admin/v1/incidents/{ia}/updates"),
        json!({"status": "identified", "body": "Some errors.", "display_at": iso(at(d3, 11, 0)),
               "components": {a.clone(): "partial_outage"}}),
    )
    .await;
    post(
        app,
        &format!("/api/admin/v1/incidents/{ia}/updates"),
        json!({"status": "resolved", "body": "Fixed.", "display_at": iso(at(d3, 12, 0))}),
    )
    .await;
    let incident = app
        .open_incident(json!({"name": "Website down", "status": "investigating", "impact": "critical",
            "body": "Down.", "display_at": iso(at(day(2), 23, 30)), "components": {b.clone(): "major_outage"}}))
        .await;
    let ib = incident["id"].as_str().unwrap().to_string();
    post(
        app,
        &format!("/api/admin/v1/incidents/{ib}/updates"),
        json!({"status": "resolved", "body": "Up.", "display_at": iso(at(day(1), 0, 30))}),
    )
    .await;
    (a, b, ia, ib)
}

fn component<'a>(uptime: &'a Value, id: &str) -> &'a Value {
    uptime["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no component {id} in {uptime}"))
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-3
}

#[tokio::test]
async fn uptime_json_reports_a_scripted_history() {
    let app = spawn_app().await;
    let (a, b, ia, ib) = scripted_history(&app).await;
    let r = app.get("/api/uptime.json").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "*",
        "open to other sites, like /api/v2"
    );
    let uptime: Value = r.json().await.unwrap();
    assert_eq!(uptime["page"]["name"], "Acme Status");

    let api = component(&uptime, &a);
    assert_eq!(api["name"], "API");
    let days = api["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    assert_eq!(days[89]["date"], day(0).format("%Y-%m-%d").to_string());
    assert_eq!(days[0]["date"], day(89).format("%Y-%m-%d").to_string());
    // Before its first recorded status there is no data.
    for d in &days[..86] {
        assert!(d["uptime_percent"].is_null(), "{d}");
        assert_eq!(d["major_outage_minutes"], 0);
    }
    let d3 = &days[86];
    assert_eq!(d3["date"], day(3).format("%Y-%m-%d").to_string());
    assert_eq!(d3["major_outage_minutes"], 60);
    assert_eq!(d3["partial_outage_minutes"], 60);
    // Counted from 10:00, its first recorded status: 840 minutes.
    assert!(
        close(&d3["uptime_percent"], 100.0 * (1.0 - 78.0 / 840.0)),
        "{d3}"
    );
    assert_eq!(d3["incident_ids"], json!([ia]));
    assert!(close(&days[87]["uptime_percent"], 100.0));
    assert_eq!(days[87]["incident_ids"], json!([]));
    assert!(close(&days[88]["uptime_percent"], 100.0));
    // Today may hold the moment between the backdated updates' publication (a minute at most).
    assert!(days[89]["major_outage_minutes"].as_i64().unwrap() <= 1);
    // From 10:00 three days ago until now, 78 weighted minutes down (a minute more at most).
    let counted = (Utc::now() - at(day(3), 10, 0)).num_minutes() as f64;
    let total = api["uptime_percent"].as_f64().unwrap();
    assert!(
        (total - 100.0 * (1.0 - 78.0 / counted)).abs() < 0.05,
        "{total}"
    );

    let web = component(&uptime, &b);
    let days = web["days"].as_array().unwrap();
    assert_eq!(days[87]["major_outage_minutes"], 30);
    assert_eq!(days[88]["major_outage_minutes"], 30);
    assert_eq!(days[87]["incident_ids"], json!([ib]));
    assert_eq!(days[88]["incident_ids"], json!([ib]));
    // 23:30 to midnight counted on its first day.
    assert!(close(&days[87]["uptime_percent"], 0.0));
    assert!(close(
        &days[88]["uptime_percent"],
        100.0 * (1.0 - 30.0 / 1440.0)
    ));
    assert_eq!(uptime["groups"], json!([]));
}

#[tokio::test]
async fn a_group_reports_the_mean_of_its_members() {
    let app = spawn_app().await;
    let (a, b, ..) = scripted_history(&app).await;
    for id in [&a, &b] {
        patch(
            &app,
            &format!("/api/admin/v1/components/{id}"),
            json!({"group": "Core"}),
        )
        .await;
    }
    let uptime = app.get_json("/api/uptime.json").await;
    let groups = uptime["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let core = &groups[0];
    assert_eq!(core["name"], "Core");
    assert_eq!(core["component_ids"], json!([a, b]));
    let summary = app.get_json("/api/v2/components.json").await;
    assert!(summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == core["id"] && c["group"] == true));
    let days = core["days"].as_array().unwrap();
    // Three days ago only A existed (from 10:00): the group is A.
    assert_eq!(days[86]["major_outage_minutes"], 60);
    assert_eq!(days[86]["partial_outage_minutes"], 60);
    // Two days ago B (from 23:30) was down for 30 minutes while A was up: half down for those
    // minutes, never wholly; A counted all day.
    assert_eq!(days[87]["major_outage_minutes"], 0);
    assert_eq!(days[87]["partial_outage_minutes"], 30);
    assert!(close(
        &days[87]["uptime_percent"],
        100.0 * (1.0 - 15.0 / 1440.0)
    ));
}

/// The labels of the bars titled `name` on the page, with the link of each (if any), and the
/// total shown under them.
fn bars(page: &str, name: &str) -> (Vec<(String, Option<String>)>, String) {
    let marker = format!("aria-label=\"{name}: uptime each day over the last 90 days\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no bars for {name}"))
        + marker.len();
    let end = start + page[start..].find("</div>").unwrap();
    let mut out = Vec::new();
    for bar in page[start..end]
        .split('<')
        .filter(|b| b.starts_with("a ") || b.starts_with("span "))
    {
        let label = bar.split("aria-label=\"").nth(1).unwrap();
        let label = label[..label.find('"').unwrap()].to_string();
        let href = bar
            .split("href=\"")
            .nth(1)
            .map(|h| h[..h.find('"').unwrap()].to_string());
        out.push((label, href));
    }
    let total = page[end..].split("class=\"uptime-total\">").nth(1).unwrap();
    (out, total[..total.find('<').unwrap()].to_string())
}

fn minutes_text(m: i64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[tokio::test]
async fn the_bars_on_the_page_say_what_uptime_json_says() {
    let app = spawn_app().await;
    let (a, b, ..) = scripted_history(&app).await;
    // The page and the JSON from one render: a render at the next minute (the safety sweep)
    // between the two reads would count one more minute into the JSON than into the page.
    let (mut page, mut uptime) = (String::new(), Value::Null);
    for _ in 0..5 {
        page = app.get_text("/").await;
        uptime = app.get_json("/api/uptime.json").await;
        if app.get_text("/").await == page {
            break;
        }
    }
    for (id, name) in [(&a, "API"), (&b, "Website")] {
        let json = component(&uptime, id);
        let (bars, total) = bars(&page, name);
        let days = json["days"].as_array().unwrap();
        assert_eq!(bars.len(), days.len());
        for ((label, href), d) in bars.iter().zip(days) {
            let date = NaiveDate::parse_from_str(d["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            assert!(
                label.starts_with(&date.format("%-d %b %Y: ").to_string()),
                "{label} for {d}"
            );
            let (major, partial) = (
                d["major_outage_minutes"].as_i64().unwrap(),
                d["partial_outage_minutes"].as_i64().unwrap(),
            );
            if d["uptime_percent"].is_null() {
                assert!(label.ends_with("no data"), "{label}");
            } else if major == 0 && partial == 0 {
                assert!(label.contains("no downtime"), "{label}");
            } else {
                if major > 0 {
                    assert!(
                        label.contains(&format!("{} major outage", minutes_text(major))),
                        "{label}"
                    );
                }
                if partial > 0 {
                    assert!(
                        label.contains(&format!("{} partial outage", minutes_text(partial))),
                        "{label}"
                    );
                }
                let shown: f64 = label
                    .split(", ")
                    .last()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap_or_else(|_| {
                        label
                            .rsplit(", ")
                            .next()
                            .unwrap()
                            .split(' ')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap()
                    });
                let exact = d["uptime_percent"].as_f64().unwrap();
                assert!(
                    shown <= exact + 1e-9 && exact - shown < 0.01,
                    "{label} vs {exact}"
                );
            }
            match d["incident_ids"].as_array().unwrap().as_slice() {
                [] => assert!(href.is_none(), "{label}"),
                [one] => {
                    assert_eq!(
                        href.as_deref(),
                        Some(format!("/incidents/{}", one.as_str().unwrap()).as_str())
                    );
                    assert!(label.contains(". Incident: "), "{label}");
                }
                _ => assert!(href.as_deref().unwrap().starts_with("/history")),
            }
        }
        let exact = json["uptime_percent"].as_f64().unwrap();
        let shown: f64 = total.strip_suffix(" % uptime").unwrap().parse().unwrap();
        assert!(
            shown <= exact + 1e-9 && exact - shown < 0.01,
            "{total} vs {exact}"
        );
    }
}

#[tokio::test]
async fn a_history_row_forged_in_the_database_is_ignored_and_trips_the_wire() {
    let app = spawn_app().await;
    let (a, ..) = scripted_history(&app).await;
    let before = app.get_json("/api/uptime.json").await;
    // "It was down all day yesterday", and "the outage three days ago never happened".
    let yesterday = at(day(1), 0, 0);
    let sql_time = if app.database_url.starts_with("postgres") {
        format!("'{}'", iso(yesterday))
    } else {
        format!("'{}'", yesterday.to_rfc3339())
    };
    app.store
        .execute_admin(&format!(
            "INSERT INTO component_status_log (component_id, status, at, stamp) \
             VALUES ({a}, 'major_outage', {sql_time}, 'forged')"
        ))
        .await
        .unwrap();
    app.store
        .execute_admin(&format!(
            "UPDATE component_status_log SET status = 'operational' \
             WHERE component_id = {a} AND status = 'major_outage'"
        ))
        .await
        .unwrap();
    // Any later change rebuilds the pages.
    app.create_component("Wake").await;
    app.wait_for_trip("no valid stamp").await;
    let after = app.get_json("/api/uptime.json").await;
    let days = |v: &Value| component(v, &a)["days"].clone();
    let (before, after) = (days(&before), days(&after));
    assert_eq!(
        after[88]["major_outage_minutes"], 0,
        "the forged row is left out"
    );
    // The edited row is left out too: the hour from 10:00 three days ago now has no data
    // rather than "operational".
    assert_eq!(before[86]["major_outage_minutes"], 60);
    assert_eq!(after[86]["major_outage_minutes"], 0);
    assert_eq!(after[86]["partial_outage_minutes"], 60);
    assert!(after[86]["uptime_percent"].as_f64().unwrap() < 100.0);
}

#[tokio::test]
async fn a_component_can_hide_its_uptime_on_every_surface() {
    let app = spawn_app().await;
    let (a, b, ..) = scripted_history(&app).await;
    let answer = patch(
        &app,
        &format!("/api/admin/v1/components/{a}"),
        json!({"show_uptime": false}),
    )
    .await;
    assert_eq!(answer["showcase"], false);
    let page = app.get_text("/").await;
    assert!(!page.contains("API: uptime each day"), "bars hidden");
    assert!(page.contains("Website: uptime each day"));
    // Still shown as a component: its stamp covers the switch, and holds.
    assert!(page.contains(">API</span>"));
    let uptime = app.get_json("/api/uptime.json").await;
    let ids: Vec<&Value> = uptime["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, [&json!(b)]);
    let v2 = app.get_json("/api/v2/components.json").await;
    let shown = |id: &str| {
        v2["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["showcase"]
            .clone()
    };
    assert_eq!(shown(&a), false);
    assert_eq!(shown(&b), true);

    // An edit that leaves the switch alone keeps it off.
    patch(
        &app,
        &format!("/api/admin/v1/components/{a}"),
        json!({"description": "REST"}),
    )
    .await;
    let listed = app.api_get("/api/admin/v1/components").await;
    assert!(listed["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == a && c["showcase"] == false));

    // Statuspage's `showcase` turns it back on; a bad value is refused and changes nothing.
    let pages = app
        .http
        .get(app.url("/v1/pages"))
        .header("Authorization", format!("OAuth {}", app.token))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let page_id = pages[0]["id"].as_str().unwrap().to_string();
    let v1 = |body: Value| {
        app.http
            .patch(app.url(&format!("/v1/pages/{page_id}/components/{a}")))
            .header("Authorization", format!("OAuth {}", app.token))
            .json(&body)
            .send()
    };
    let r = v1(json!({"component": {"showcase": "maybe"}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(!app.get_text("/").await.contains("API: uptime each day"));
    let r = v1(json!({"component": {"showcase": true}})).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["showcase"], true);
    assert!(app.get_text("/").await.contains("API: uptime each day"));

    // A new one can start hidden; the switch is audited.
    let r = app
        .api(
            "/api/admin/v1/components",
            json!({"name": "Internal", "show_uptime": false}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["showcase"], false);
    let audit = app
        .store
        .query_strings("SELECT detail FROM audit_log WHERE action = 'component.update'")
        .await
        .unwrap();
    assert!(
        audit.iter().any(|d| d.contains("\"show_uptime\":false")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn the_upgrade_rebuilds_the_history_from_what_the_database_held() {
    let app = spawn_app().await;
    let (a, b, ..) = scripted_history(&app).await;
    patch(
        &app,
        &format!("/api/admin/v1/components/{b}"),
        json!({"status": "degraded_performance"}),
    )
    .await;
    let before = app.get_json("/api/uptime.json").await;

    // As a database from before the history existed: no rows; then the migration's backfill,
    // and a restart, which stamps what it wrote (once).
    app.store
        .execute_admin("DELETE FROM component_status_log")
        .await
        .unwrap();
    let file = if app.database_url.starts_with("postgres") {
        include_str!("../../migrations/postgres/0014_uptime.sql")
    } else {
        include_str!("../../migrations/sqlite/0014_uptime.sql")
    };
    let backfill = &file[file.find("INSERT INTO component_status_log").unwrap()..];
    app.store.execute_admin(backfill).await.unwrap();
    let (dir, url) = (app.data_dir.clone(), app.database_url.clone());
    let restarted = crate::helpers::spawn_app_with(move |c| {
        c.data_dir = dir;
        c.database_url = url;
    })
    .await;

    // Created operational, each update's change at its display time, then the status set
    // directly: the same past days, every row genuine.
    let rebuilt = history(&restarted, &a).await;
    assert_eq!(
        statuses(&rebuilt),
        [
            "major_outage",
            "partial_outage",
            "operational",
            "operational"
        ]
    );
    assert_eq!(
        statuses(&history(&restarted, &b).await).last(),
        Some(&"degraded_performance")
    );
    assert_history_ends_in_the_current_status(&restarted).await;
    let after = restarted.get_json("/api/uptime.json").await;
    for id in [&a, &b] {
        let (old, new) = (component(&before, id), component(&after, id));
        assert_eq!(
            old["days"].as_array().unwrap()[..89],
            new["days"].as_array().unwrap()[..89]
        );
    }
    let status = restarted.api_get("/api/admin/v1/status").await;
    assert_eq!(status["paused"], false, "nothing looked forged: {status}");
    let adopted = restarted
        .store
        .query_strings("SELECT detail FROM audit_log WHERE action = 'status_log.adopt'")
        .await
        .unwrap();
    assert_eq!(adopted.len(), 1, "{adopted:?}");
}

#[tokio::test]
async fn the_admin_components_page_switches_uptime_off_and_on() {
    let app = spawn_app().await;
    let admin = app
        .enrolled_staff(
            "admin@example.com",
            herald::domain::Role::Admin,
            "correct horse battery staple",
        )
        .await;
    let r = app.sign_in(&admin, "correct horse battery staple").await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let form = app.get_text("/admin/components").await;
    assert!(
        form.contains("name=\"show_uptime\" value=\"on\" checked"),
        "on for a new one"
    );
    // A form without the box ticked: hidden.
    let r = app
        .post_form(
            "/admin/components",
            "/admin/components",
            &[("name", "Billing"), ("position", "")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let id = app.api_get("/api/admin/v1/components").await["components"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(app.get_text("/admin/components").await.contains("Hidden"));
    assert!(!app.get_text("/").await.contains("Billing: uptime each day"));
    // Edited with the box ticked: shown.
    let r = app
        .post_form(
            &format!("/admin/components/{id}"),
            &format!("/admin/components/{id}"),
            &[
                ("name", "Billing"),
                ("position", "0"),
                ("show_uptime", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert!(app.get_text("/").await.contains("Billing: uptime each day"));
}

/// The uptime document is made from the status history, the components and the incidents open
/// in its window: an update that changes none of them (a new text on an open incident) leaves
/// it as it was, with its ETag, so its megabytes are not made and compressed again; a status
/// change remakes it, and its `page.updated_at` says when.
#[tokio::test]
async fn an_update_that_moves_no_status_keeps_uptime_json_and_a_status_change_remakes_it() {
    let app = spawn_app().await;
    let api = app.create_component("API").await;
    // Affected, but left operational: no downtime, so the numbers do not move with the minute.
    let incident = app
        .open_incident(
            json!({"name": "Slow logins", "status": "investigating", "impact": "minor",
            "body": "Looking.", "components": {api.clone(): "operational"}}),
        )
        .await;
    let id = incident["id"].as_str().unwrap().to_string();
    let etag = |r: &reqwest::Response| r.headers()["etag"].to_str().unwrap().to_string();
    let first = app.get("/api/uptime.json").await;
    let first_etag = etag(&first);
    let first: Value = first.json().await.unwrap();
    let today = component(&first, &api)["days"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["incident_ids"], json!([id.clone()]), "{first}");

    post(
        &app,
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "identified", "body": "A slow replica.", "notify": false}),
    )
    .await;
    let summary = app.get_text("/api/v2/summary.json").await;
    assert!(summary.contains("identified"), "{summary}");
    let kept = app.get("/api/uptime.json").await;
    assert_eq!(
        etag(&kept),
        first_etag,
        "an update that moved no status remade uptime.json"
    );

    let before = Utc::now() - chrono::Duration::seconds(1);
    post(
        &app,
        &format!("/api/admin/v1/incidents/{id}/updates"),
        json!({"status": "identified", "body": "Failing over.", "notify": false,
               "components": {api.clone(): "major_outage"}}),
    )
    .await;
    let after = Utc::now() + chrono::Duration::seconds(1);
    let remade = app.get("/api/uptime.json").await;
    assert_ne!(
        etag(&remade),
        first_etag,
        "a status change left uptime.json as it was"
    );
    let remade: Value = remade.json().await.unwrap();
    let changed_at: DateTime<Utc> = remade["page"]["updated_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(before <= changed_at && changed_at <= after, "{remade}");
    let was: DateTime<Utc> = first["page"]["updated_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(was < changed_at, "{first}");
}
