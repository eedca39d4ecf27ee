//! `/maintenances.ics`: scheduled maintenance as an iCalendar feed (RFC 5545) that calendar
//! apps subscribe to. One event per maintenance to come or under way, keyed by a UID that never
//! changes, with `SEQUENCE` raised each time its window moves or it is cancelled; a cancelled
//! one stays, marked `STATUS:CANCELLED`, until its window would have ended, so subscribed
//! calendars drop it; a completed one stays a week as a record of what was done, then leaves.

use chrono::{DateTime, Duration, Utc};

use super::views::{IncidentView, Model};
use super::PagesBuilder;
use crate::domain::markdown::to_plain_text;
use crate::domain::{Incident, IncidentKind, IncidentStatus};

const CONTENT_TYPE: &str = "text/calendar; charset=utf-8";

/// How long a completed maintenance stays in the feed after its window.
const KEEP_COMPLETED: Duration = Duration::days(7);

/// How often subscribers are asked to fetch the feed again (RFC 7986 `REFRESH-INTERVAL`, and
/// Outlook's `X-PUBLISHED-TTL`).
const REFRESH: &str = "PT1H";

/// The alarm: an hour before the start.
const ALARM_BEFORE: &str = "-PT1H";

/// Longest content line, in octets, before it is folded (RFC 5545 §3.1).
const LINE_OCTETS: usize = 75;

pub fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    out.add(
        "/maintenances.ics",
        CONTENT_TYPE,
        calendar(m).into_bytes(),
        true,
    );
    Ok(())
}

/// Whether the feed carries this maintenance at `now`.
fn listed(i: &Incident, now: DateTime<Utc>) -> bool {
    let Some(until) = i.scheduled_until else {
        return false;
    };
    if i.kind != IncidentKind::Maintenance || i.scheduled_for.is_none() {
        return false;
    }
    if i.plan.cancelled_at.is_some() {
        return until > now;
    }
    match i.status {
        IncidentStatus::Completed => {
            until.max(i.resolved_at.unwrap_or(until)) + KEEP_COMPLETED > now
        }
        _ => true,
    }
}

fn calendar(m: &Model<'_>) -> String {
    let mut ics = Ics::default();
    ics.line("BEGIN", "VCALENDAR");
    ics.line("VERSION", "2.0");
    ics.line("PRODID", "-//Herald//Status page maintenance//EN");
    ics.line("CALSCALE", "GREGORIAN");
    ics.line("METHOD", "PUBLISH");
    ics.text("NAME", &m.site.name);
    ics.text("X-WR-CALNAME", &m.site.name);
    ics.text(
        "X-WR-CALDESC",
        &format!("Scheduled maintenance on {}", m.site.name),
    );
    ics.line("REFRESH-INTERVAL;VALUE=DURATION", REFRESH);
    ics.line("X-PUBLISHED-TTL", REFRESH);
    ics.line("URL", &m.site.url);

    let host = url::Url::parse(&m.site.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "herald".to_string());
    let mut events: Vec<(&Incident, &IncidentView)> = m
        .incidents
        .iter()
        .enumerate()
        .filter(|(_, i)| listed(i, m.now))
        .map(|(n, i)| (&**i, m.view(n)))
        .collect();
    events.sort_by_key(|(i, _)| (i.scheduled_for, i.id));
    for (i, view) in events {
        let (Some(start), Some(end)) = (i.scheduled_for, i.scheduled_until) else {
            continue;
        };
        let cancelled = i.plan.cancelled_at.is_some();
        ics.line("BEGIN", "VEVENT");
        ics.line("UID", &format!("maintenance-{}@{host}", i.id));
        // The feed's copy of the event was made when the maintenance last changed: a stamp
        // that moves with every fetch would make every fetch a new body.
        ics.line("DTSTAMP", &utc(&i.updated_at));
        ics.line("CREATED", &utc(&i.created_at));
        ics.line("LAST-MODIFIED", &utc(&i.updated_at));
        ics.line("SEQUENCE", &i.plan.schedule_sequence.to_string());
        ics.line("DTSTART", &utc(&start));
        ics.line("DTEND", &utc(&end));
        let summary = if cancelled {
            format!("Cancelled: {}", i.name)
        } else {
            i.name.clone()
        };
        ics.text("SUMMARY", &summary);
        ics.text("DESCRIPTION", &description(i, view));
        ics.line("URL", &view.url);
        ics.line("STATUS", if cancelled { "CANCELLED" } else { "CONFIRMED" });
        // Maintenance is something to know about, not time the subscriber is busy.
        ics.line("TRANSP", "TRANSPARENT");
        ics.line("CLASS", "PUBLIC");
        if !cancelled {
            ics.line("BEGIN", "VALARM");
            ics.line("ACTION", "DISPLAY");
            ics.line("TRIGGER", ALARM_BEFORE);
            ics.text(
                "DESCRIPTION",
                &format!("Scheduled maintenance in one hour: {}", i.name),
            );
            ics.line("END", "VALARM");
        }
        ics.line("END", "VEVENT");
    }
    ics.line("END", "VCALENDAR");
    ics.out
}

/// The latest update as plain text (paragraphs kept), the components and the incident's URL.
fn description(i: &Incident, view: &IncidentView) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(u) = i.latest_update() {
        let text = u
            .body
            .replace("\r\n", "\n")
            .split("\n\n")
            .map(to_plain_text)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        if !text.is_empty() {
            parts.push(text);
        }
    }
    if !view.components.is_empty() {
        parts.push(format!("Affected: {}", view.components.join(", ")));
    }
    parts.push(view.url.clone());
    parts.join("\n\n")
}

/// A date-time in UTC, RFC 5545's form 2 (`19980119T070000Z`).
fn utc(t: &DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// An iCalendar body being written: content lines folded, CRLF-terminated.
#[derive(Default)]
struct Ics {
    out: String,
}

impl Ics {
    /// A property whose value needs no escaping (keywords, dates, numbers, URIs).
    fn line(&mut self, name: &str, value: &str) {
        fold(&format!("{name}:{value}"), &mut self.out);
    }

    /// A property of value type TEXT.
    fn text(&mut self, name: &str, value: &str) {
        self.line(name, &escape_text(value));
    }
}

/// A TEXT value escaped as RFC 5545 §3.3.11 asks: backslash, semicolon and comma escaped, a
/// line break (CRLF, CR or LF) written `\n`; other control characters, which TEXT cannot hold,
/// are dropped.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded (RFC 5545 §3.1): no line longer than 75 octets, each
/// continuation starting with a space, never inside a UTF-8 character; CRLF after each. No
/// piece ends in white space either: some readers trim each physical line before unfolding.
pub fn fold(line: &str, out: &mut String) {
    let mut rest = line;
    let mut room = LINE_OCTETS;
    while rest.len() > room {
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let trimmed = rest[..cut].trim_end_matches([' ', '\t']).len();
        if trimmed > 0 {
            cut = trimmed;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space counts.
        room = LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Impact;

    fn maintenance(status: IncidentStatus, ends_in_hours: i64, now: DateTime<Utc>) -> Incident {
        let until = now + Duration::hours(ends_in_hours);
        Incident {
            id: 1,
            kind: IncidentKind::Maintenance,
            name: "Upgrade".into(),
            status,
            impact: Impact::Maintenance,
            created_at: now,
            updated_at: now,
            started_at: until - Duration::hours(1),
            monitoring_at: None,
            resolved_at: None,
            scheduled_for: Some(until - Duration::hours(1)),
            scheduled_until: Some(until),
            updates: vec![],
            component_ids: vec![],
            postmortem: None,
            plan: Default::default(),
            tampered: false,
        }
    }

    #[test]
    fn the_feed_keeps_what_is_ahead_and_lets_the_past_go() {
        let now = Utc::now();
        let days = |d: i64| d * 24;
        for status in [
            IncidentStatus::Scheduled,
            IncidentStatus::InProgress,
            IncidentStatus::Verifying,
        ] {
            assert!(listed(&maintenance(status, 2, now), now));
            // Overrunning its window, it is still under way.
            assert!(listed(&maintenance(status, -2, now), now));
        }
        let done = IncidentStatus::Completed;
        assert!(listed(&maintenance(done, -days(6), now), now));
        assert!(!listed(&maintenance(done, -days(8), now), now));

        let mut called_off = maintenance(done, 5, now);
        called_off.plan.cancelled_at = Some(now);
        assert!(listed(&called_off, now));
        let mut over = maintenance(done, -1, now);
        over.plan.cancelled_at = Some(now - Duration::hours(3));
        assert!(
            !listed(&over, now),
            "cancelled, it leaves once its window has passed"
        );

        let mut incident = maintenance(IncidentStatus::Investigating, 2, now);
        incident.kind = IncidentKind::Incident;
        assert!(!listed(&incident, now));
    }

    fn folded(line: &str) -> String {
        let mut out = String::new();
        fold(line, &mut out);
        out
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ng"
        );
        assert_eq!(escape_text("tab\there\u{7}"), "tab\there");
        assert_eq!(escape_text("Ünïcödé: ok"), "Ünïcödé: ok");
    }

    #[test]
    fn short_lines_are_left_alone() {
        assert_eq!(folded("SUMMARY:Upgrade"), "SUMMARY:Upgrade\r\n");
        let exactly = format!("SUMMARY:{}", "x".repeat(75 - 8));
        assert_eq!(folded(&exactly), format!("{exactly}\r\n"));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let line = format!(
            "SUMMARY:{}",
            "Wartung der Datenbank – Größe ändern ✓ ".repeat(6)
        );
        let out = folded(&line);
        assert!(out.ends_with("\r\n"));
        let lines: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(lines.len() > 3);
        for (n, l) in lines.iter().enumerate() {
            assert!(l.len() <= 75, "line {n} has {} octets", l.len());
            if n > 0 {
                assert!(l.starts_with(' '), "continuation {n} starts with a space");
            }
        }
        // Each piece is whole UTF-8 (it is a &str) and unfolding gives the line back.
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, line);
        // Some cut stepped back from the 75th octet rather than split a character.
        assert!(lines[..lines.len() - 1].iter().any(|l| l.len() < 75));
    }

    #[test]
    fn no_folded_piece_ends_in_white_space() {
        let line = format!("DESCRIPTION:{}", "word ".repeat(40));
        let out = folded(&line);
        let lines: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        for l in &lines[..lines.len() - 1] {
            assert!(!l.ends_with(' '), "{l:?}");
        }
        assert_eq!(out.trim_end_matches("\r\n").replace("\r\n ", ""), line);
        // A value of nothing but spaces still folds.
        let spaces = format!("X:{}", " ".repeat(200));
        assert_eq!(
            folded(&spaces)
                .trim_end_matches("\r\n")
                .replace("\r\n ", ""),
            spaces
        );
    }
}
