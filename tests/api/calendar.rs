//! `/maintenances.ics`, read back by calendar parsers that are not Herald's: the `ical` crate
//! here, and Python's `icalendar` package where it is installed.

use chrono::{DateTime, Duration, Timelike, Utc};
use ical::parser::ical::component::{IcalCalendar, IcalEvent};
use ical::property::Property;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// Longer than a content line, and not ASCII: folding must not split a character.
const LONG_NAME: &str = "Wartung des Datenbank-Clusters in Zürich – Größenänderung, Phase 2 ✓";
/// Every character a TEXT value escapes.
const BODY: &str =
    "Writes pause; reads continue, mostly.\n\nFiles under C:\\data move to the new disks.";

/// Whole seconds `days` days from now, as iCalendar and RFC 3339 write it.
fn at(days: i64, hours: i64) -> DateTime<Utc> {
    (Utc::now() + Duration::days(days) + Duration::hours(hours))
        .with_nanosecond(0)
        .unwrap()
}

fn ics_time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

async fn schedule(app: &TestApp, name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let db = app.create_component("Database").await;
    let r = app
        .api(
            "/api/admin/v1/maintenances",
            json!({"name": name, "body": BODY,
                   "scheduled_for": start.to_rfc3339(), "scheduled_until": end.to_rfc3339(),
                   "components": { db: "under_maintenance" }}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

async fn reschedule(app: &TestApp, id: &str, body: Value) {
    let r = app
        .http
        .patch(app.url(&format!("/api/admin/v1/maintenances/{id}")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn fetch(app: &TestApp) -> (reqwest::header::HeaderMap, String) {
    let r = app.get("/maintenances.ics").await;
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    (headers, r.text().await.unwrap())
}

/// The calendar as the `ical` crate reads it; also checks the lines as RFC 5545 writes them.
fn parse(body: &str) -> IcalCalendar {
    assert!(body.ends_with("\r\n"), "the last line ends with CRLF");
    for line in body.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "bare line break in {line:?}"
        );
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let mut calendars: Vec<IcalCalendar> = ical::IcalParser::new(body.as_bytes())
        .collect::<Result<_, _>>()
        .expect("a calendar the ical crate reads");
    assert_eq!(calendars.len(), 1);
    calendars.remove(0)
}

fn value<'a>(properties: &'a [Property], name: &str) -> &'a str {
    let found: Vec<&Property> = properties.iter().filter(|p| p.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one {name}");
    found[0].value.as_deref().unwrap_or("")
}

fn event<'a>(calendar: &'a IcalCalendar, uid: &str) -> &'a IcalEvent {
    calendar
        .events
        .iter()
        .find(|e| value(&e.properties, "UID") == uid)
        .unwrap_or_else(|| panic!("no event {uid}"))
}

/// TEXT as RFC 5545 §3.3.11 reads it (the `ical` crate leaves values as written).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn an_upcoming_maintenance_is_one_event_with_an_alarm_an_hour_before() {
    let app = spawn_app().await;
    let (start, end) = (at(2, 0), at(2, 2));
    let id = schedule(&app, LONG_NAME, start, end).await;
    // An incident is not a maintenance: it stays out.
    app.open_incident(json!({"name": "Checkout errors", "status": "investigating", "impact": "minor", "body": "x"}))
        .await;

    let (headers, body) = fetch(&app).await;
    assert_eq!(headers["content-type"], "text/calendar; charset=utf-8");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(headers.contains_key("etag"));

    let calendar = parse(&body);
    let p = &calendar.properties;
    assert_eq!(value(p, "VERSION"), "2.0");
    assert!(!value(p, "PRODID").is_empty());
    assert_eq!(value(p, "CALSCALE"), "GREGORIAN");
    assert_eq!(value(p, "METHOD"), "PUBLISH");
    assert_eq!(value(p, "X-WR-CALNAME"), "Acme Status");
    assert_eq!(value(p, "REFRESH-INTERVAL"), "PT1H");
    assert_eq!(value(p, "X-PUBLISHED-TTL"), "PT1H");
    assert_eq!(calendar.events.len(), 1, "{body}");

    let uid = format!("maintenance-{id}@127.0.0.1");
    let e = &event(&calendar, &uid).properties;
    assert_eq!(value(e, "DTSTART"), ics_time(start));
    assert_eq!(value(e, "DTEND"), ics_time(end));
    assert_eq!(value(e, "SEQUENCE"), "0");
    assert_eq!(value(e, "STATUS"), "CONFIRMED");
    assert_eq!(
        value(e, "SUMMARY"),
        "Wartung des Datenbank-Clusters in Zürich – Größenänderung\\, Phase 2 ✓"
    );
    assert_eq!(unescape(value(e, "SUMMARY")), LONG_NAME);
    let url = format!("{}/incidents/{id}", app.address);
    assert_eq!(value(e, "URL"), url);
    assert_eq!(
        unescape(value(e, "DESCRIPTION")),
        format!(
            "Writes pause; reads continue, mostly.\n\nFiles under C:\\data move to the new disks.\n\n\
             Affected: Database\n\n{url}"
        )
    );
    assert!(value(e, "DESCRIPTION")
        .contains("pause\\; reads continue\\, mostly.\\n\\nFiles under C:\\\\data"));
    for stamp in ["DTSTAMP", "LAST-MODIFIED"] {
        let v = value(e, stamp);
        assert!(v.len() == 16 && v.ends_with('Z'), "{stamp}:{v}");
    }
    // The long name really was folded, and unfolds whole.
    assert!(body.contains("\r\n "), "some line is folded");

    let event = event(&calendar, &uid);
    assert_eq!(event.alarms.len(), 1);
    let alarm = &event.alarms[0].properties;
    assert_eq!(value(alarm, "ACTION"), "DISPLAY");
    assert_eq!(value(alarm, "TRIGGER"), "-PT1H");
    assert!(unescape(value(alarm, "DESCRIPTION")).contains(LONG_NAME));
}

#[tokio::test]
async fn rescheduling_raises_the_sequence_and_keeps_the_uid() {
    let app = spawn_app().await;
    let id = schedule(&app, "Database upgrade", at(2, 0), at(2, 2)).await;
    let uid = format!("maintenance-{id}@127.0.0.1");
    let r = app.get("/maintenances.ics").await;
    let first_etag = r.headers()["etag"].to_str().unwrap().to_string();

    let (start, end) = (at(3, 0), at(3, 4));
    reschedule(
        &app,
        &id,
        json!({"scheduled_for": start.to_rfc3339(), "scheduled_until": end.to_rfc3339()}),
    )
    .await;
    let (headers, body) = fetch(&app).await;
    assert_ne!(
        headers["etag"],
        first_etag.as_str(),
        "a new body, a new ETag"
    );
    let calendar = parse(&body);
    assert_eq!(calendar.events.len(), 1);
    let e = &event(&calendar, &uid).properties;
    assert_eq!(value(e, "SEQUENCE"), "1");
    assert_eq!(value(e, "DTSTART"), ics_time(start));
    assert_eq!(value(e, "DTEND"), ics_time(end));

    // Only the end moves: a change of the event all the same.
    let later = at(3, 5);
    reschedule(&app, &id, json!({"scheduled_until": later.to_rfc3339()})).await;
    let calendar = parse(&fetch(&app).await.1);
    let e = &event(&calendar, &uid).properties;
    assert_eq!(value(e, "SEQUENCE"), "2");
    assert_eq!(value(e, "DTEND"), ics_time(later));

    // A new reminder moves nothing in the calendar: the sequence stays.
    reschedule(&app, &id, json!({"scheduled_remind_prior": 30})).await;
    let calendar = parse(&fetch(&app).await.1);
    assert_eq!(value(&event(&calendar, &uid).properties, "SEQUENCE"), "2");

    // Unchanged, it is not sent again.
    let r = app.get("/maintenances.ics").await;
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .http
        .get(app.url("/maintenances.ics"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[tokio::test]
async fn a_cancelled_maintenance_is_marked_cancelled_so_calendars_drop_it() {
    let app = spawn_app().await;
    let kept = schedule(&app, "Network maintenance", at(1, 0), at(1, 1)).await;
    let id = schedule(&app, "Database upgrade", at(2, 0), at(2, 2)).await;
    let r = app
        .api(
            &format!("/api/admin/v1/maintenances/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let calendar = parse(&fetch(&app).await.1);
    assert_eq!(
        calendar.events.len(),
        2,
        "cancelled, it stays until its window ends"
    );
    let cancelled = event(&calendar, &format!("maintenance-{id}@127.0.0.1"));
    let e = &cancelled.properties;
    assert_eq!(value(e, "STATUS"), "CANCELLED");
    assert_eq!(
        value(e, "SEQUENCE"),
        "1",
        "cancelling is a change of the event"
    );
    assert_eq!(value(e, "SUMMARY"), "Cancelled: Database upgrade");
    assert!(
        cancelled.alarms.is_empty(),
        "no alarm for what will not happen"
    );
    assert!(unescape(value(e, "DESCRIPTION")).contains("cancelled"));

    let other = event(&calendar, &format!("maintenance-{kept}@127.0.0.1"));
    assert_eq!(value(&other.properties, "STATUS"), "CONFIRMED");
    assert_eq!(value(&other.properties, "SEQUENCE"), "0");
    assert_eq!(other.alarms.len(), 1);
    // Soonest first.
    assert_eq!(
        value(&calendar.events[0].properties, "UID"),
        format!("maintenance-{kept}@127.0.0.1")
    );
}

#[tokio::test]
async fn the_page_links_the_calendar_from_its_maintenance_section() {
    let app = spawn_app().await;
    schedule(&app, "Database upgrade", at(2, 0), at(2, 2)).await;
    let page = app.get_text("/").await;
    assert!(page.contains(r#"<a href="/maintenances.ics" type="text/calendar">Subscribe to the maintenance calendar</a>"#));
    // With nothing scheduled the calendar is empty, not missing.
    let empty = spawn_app().await;
    let calendar = parse(&fetch(&empty).await.1);
    assert!(calendar.events.is_empty());
    assert_eq!(value(&calendar.properties, "METHOD"), "PUBLISH");
}

/// Python's `icalendar` reads the feed: every escape undone, every fold joined, the alarm's
/// trigger a real duration.
#[tokio::test]
#[ignore = "needs python3 with the icalendar package (pip install icalendar); CI installs it"]
async fn python_icalendar_reads_the_feed_as_written() {
    let app = spawn_app().await;
    let id = schedule(&app, LONG_NAME, at(2, 0), at(2, 2)).await;
    let cancelled = schedule(&app, "Old; plan, dropped \\ now", at(3, 0), at(3, 1)).await;
    reschedule(
        &app,
        &id,
        json!({"scheduled_for": at(4, 0).to_rfc3339(), "scheduled_until": at(4, 3).to_rfc3339()}),
    )
    .await;
    let r = app
        .api(
            &format!("/api/admin/v1/maintenances/{cancelled}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, body) = fetch(&app).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("maintenances.ics");
    std::fs::write(&file, &body).unwrap();
    let script = r#"
import json, sys
import icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
events = []
for e in cal.walk('VEVENT'):
    alarms = [{'action': str(a['ACTION']), 'trigger': a.decoded('TRIGGER').total_seconds()}
              for a in e.walk('VALARM')]
    events.append({'uid': str(e['UID']), 'summary': str(e['SUMMARY']),
                   'description': str(e['DESCRIPTION']), 'sequence': int(e['SEQUENCE']),
                   'status': str(e['STATUS']), 'start': e.decoded('DTSTART').isoformat(),
                   'end': e.decoded('DTEND').isoformat(), 'alarms': alarms})
print(json.dumps({'name': str(cal['X-WR-CALNAME']), 'method': str(cal['METHOD']),
                  'events': events}))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["name"], "Acme Status");
    assert_eq!(read["method"], "PUBLISH");
    let events = read["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let find = |id: &str| {
        events
            .iter()
            .find(|e| e["uid"] == format!("maintenance-{id}@127.0.0.1"))
            .unwrap()
    };
    let moved = find(&id);
    assert_eq!(moved["summary"], LONG_NAME);
    assert_eq!(moved["sequence"], 1);
    assert_eq!(moved["status"], "CONFIRMED");
    assert!(moved["start"].as_str().unwrap().ends_with("+00:00"));
    assert!(moved["description"]
        .as_str()
        .unwrap()
        .starts_with("Writes pause; reads continue, mostly.\n\nFiles under C:\\data move"));
    assert_eq!(
        moved["alarms"],
        json!([{"action": "DISPLAY", "trigger": -3600.0}])
    );
    let dropped = find(&cancelled);
    assert_eq!(dropped["summary"], "Cancelled: Old; plan, dropped \\ now");
    assert_eq!(dropped["status"], "CANCELLED");
    assert_eq!(dropped["sequence"], 1);
    assert_eq!(dropped["alarms"], json!([]));
}
