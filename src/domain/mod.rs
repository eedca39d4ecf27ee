//! Pure types and rules: what a component, incident, update and maintenance are, which values
//! they may take, and how the page's overall status follows from them. No IO lives here.

pub mod branding;
pub mod choice;
pub mod component;
pub mod edit;
pub mod incident;
pub mod links;
pub mod maintenance;
pub mod markdown;
pub mod staff;
pub mod status;
pub mod subscriber;
pub mod template;
pub mod text;
pub mod tweet;
pub mod uptime;

pub use choice::Choice;
pub use component::{Component, ComponentDraft, ComponentStatus};
pub use edit::{IncidentEdit, UpdateEdit};
pub use incident::resolve_channels;
pub use incident::{
    AffectedComponent, Impact, Incident, IncidentDraft, IncidentKind, IncidentStatus,
    IncidentUpdate, MaintenanceDraft, MaintenancePlan, Postmortem, UpdateDraft,
};
pub use maintenance::{MaintenanceOptions, RemindPrior};
pub use staff::{Role, StaffEmail};
pub use status::Indicator;
pub use subscriber::SubscriberEmail;
pub use template::{RawTemplate, Template, TemplateDraft};
pub use text::{check_bounded, check_text, TextShape};

use chrono::{DateTime, SubsecRound, Utc};

/// One invalid field of an input, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All the problems found in one input; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub Vec<FieldError>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// Collects field errors while an input is parsed.
#[derive(Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records the error of a parse and returns its value, if any.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// The parsed value when nothing was wrong; every problem otherwise.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Invalid> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ if self.0.is_empty() => Err(Invalid(vec![FieldError::new("input", "is invalid")])),
            _ => Err(Invalid(self.0)),
        }
    }
}

/// Longest incident or component name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest update body or description, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;

/// A required, trimmed, single-line text of bounded length, held to the input policy
/// ([`text`]).
pub(crate) fn parse_name(field: &str, raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    check_bounded(field, name, TextShape::Line, MAX_NAME_CHARS)?;
    Ok(name.to_string())
}

/// A trimmed multi-line text of bounded length, held to the input policy; `required` refuses
/// an empty one.
pub(crate) fn parse_body(field: &str, raw: &str, required: bool) -> Result<String, FieldError> {
    let body = text::normalise_newlines(raw.trim());
    if required && body.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    check_bounded(field, &body, TextShape::MultiLine, MAX_BODY_CHARS)?;
    Ok(body)
}

/// The earliest year a time given to Herald may fall in.
pub const MIN_YEAR: i32 = 2000;
/// The last year a time given to Herald may fall in.
pub const MAX_YEAR: i32 = 2100;

/// Parses an RFC 3339 time, or a browser's `datetime-local` value (taken as UTC).
pub fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    let t = read_time(raw.trim()).ok_or_else(|| {
        FieldError::new(
            field,
            "must be a time such as 2026-11-28T14:30:00Z (RFC 3339)",
        )
    })?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(&t)) {
        return Err(FieldError::new(
            field,
            format!("must fall between the years {MIN_YEAR} and {MAX_YEAR}"),
        ));
    }
    Ok(t)
}

fn read_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc).trunc_subsecs(3));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .into_iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(raw, format).ok())
        .map(|t| t.and_utc())
}

/// The current time at the precision both databases keep (milliseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Times are shown and served as RFC 3339 in UTC with milliseconds, like Statuspage.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Longest reason given for pausing outbound, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why outbound was paused: optional, trimmed, held to the input policy.
pub fn parse_pause_reason(raw: &str) -> Result<String, FieldError> {
    let reason = text::normalise_newlines(raw.trim());
    check_bounded("reason", &reason, TextShape::MultiLine, MAX_REASON_CHARS)?;
    Ok(reason)
}

/// An API token's name: a short label such as "pagerduty" or "deploy-bot".
pub fn parse_token_name(raw: &str) -> Result<String, FieldError> {
    let name = parse_name("name", raw)?;
    if name.chars().count() > 100 {
        return Err(FieldError::new("name", "must be at most 100 characters"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(parse_name("name", "  API  ").unwrap(), "API");
        assert!(parse_name("name", "   ").is_err());
        assert!(parse_name("name", &"x".repeat(201)).is_err());
        assert!(parse_name("name", "two\nlines").is_err());
        assert!(parse_name("name", "api\u{FFFF}").is_err());
        assert!(parse_name("name", "api\u{202E}").is_err());
    }

    #[test]
    fn bodies_refuse_controls_but_keep_lines() {
        assert_eq!(parse_body("body", " a\r\n\tb ", true).unwrap(), "a\n\tb");
        let e = parse_body("body", "nul\u{0}here", true).unwrap_err();
        assert_eq!(e.field, "body");
        assert!(e.message.contains("U+0000"));
    }

    #[test]
    fn times_accept_rfc3339_and_datetime_local() {
        let t = parse_time("display_at", "2026-11-28T14:30:00+01:00").unwrap();
        assert_eq!(rfc3339(&t), "2026-11-28T13:30:00.000Z");
        let t = parse_time("display_at", "2026-11-28T14:30").unwrap();
        assert_eq!(rfc3339(&t), "2026-11-28T14:30:00.000Z");
        let e = parse_time("display_at", "yesterday").unwrap_err();
        assert_eq!(e.field, "display_at");
        for out_of_range in [
            "0001-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "9999-01-01T00:00",
        ] {
            let e = parse_time("display_at", out_of_range).unwrap_err();
            assert!(e.message.contains("between the years"), "{out_of_range}");
        }
        assert!(parse_time("display_at", "2100-12-31T23:59:59Z").is_ok());
    }
}
