//! Edits to what was already published: an incident's name, impact and components, and an
//! update's text and display time. Every field is optional: only the fields given change.

use chrono::{DateTime, Utc};

use super::incident::parse_display_at;
use super::{parse_body, parse_name, FieldError, Impact, Invalid, Problems};

/// A validated change to an incident (or maintenance).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentEdit {
    pub name: Option<String>,
    /// Incidents only: a maintenance's impact is always `maintenance` (the store refuses it).
    pub impact: Option<Impact>,
    /// The whole new set of affected components (links), when given.
    pub component_ids: Option<Vec<i64>>,
}

/// The fields of an incident edit as typed or sent, `None` where not given.
#[derive(Debug, Clone, Default)]
pub struct RawIncidentEdit<'a> {
    pub name: Option<&'a str>,
    pub impact: Option<&'a str>,
    pub component_ids: Option<Vec<&'a str>>,
}

impl IncidentEdit {
    pub fn parse(raw: &RawIncidentEdit<'_>) -> Result<Self, Invalid> {
        let mut problems = Problems::default();
        let name = match raw.name {
            Some(n) => problems.take(parse_name("name", n)).map(Some),
            None => Some(None),
        };
        let impact = match raw.impact {
            Some(i) => problems
                .take(Impact::parse_for_incident("impact", i))
                .map(Some),
            None => Some(None),
        };
        let component_ids = match &raw.component_ids {
            None => Some(None),
            Some(ids) => {
                let mut parsed = Vec::new();
                for id in ids {
                    match id.trim().parse::<i64>() {
                        Ok(id) => parsed.push(id),
                        Err(_) => {
                            problems.add("components", format!("\"{id}\" is not a component id"))
                        }
                    }
                }
                parsed.sort_unstable();
                parsed.dedup();
                Some(Some(parsed))
            }
        };
        let edit = (|| {
            Some(IncidentEdit {
                name: name?,
                impact: impact?,
                component_ids: component_ids?,
            })
        })();
        problems.finish(edit)
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.impact.is_none() && self.component_ids.is_none()
    }
}

/// A validated change to a published update. It never notifies anyone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateEdit {
    pub body: Option<String>,
    pub display_at: Option<DateTime<Utc>>,
    /// `Some(None)` removes the update's own post text.
    pub custom_tweet: Option<Option<String>>,
}

/// The fields of an update edit as typed or sent, `None` where not given.
#[derive(Debug, Clone, Default)]
pub struct RawUpdateEdit<'a> {
    pub body: Option<&'a str>,
    pub display_at: Option<&'a str>,
    /// Empty removes it.
    pub custom_tweet: Option<&'a str>,
}

impl UpdateEdit {
    /// The same rules as a new update: a body that is not empty, a display time that is not
    /// in the future, a post X would accept.
    pub fn parse(raw: &RawUpdateEdit<'_>, now: DateTime<Utc>) -> Result<Self, Invalid> {
        let mut problems = Problems::default();
        let body = match raw.body {
            Some(b) => problems.take(parse_body("body", b, true)).map(Some),
            None => Some(None),
        };
        let display_at = match raw.display_at {
            Some(t) if t.trim().is_empty() => {
                problems.add("display_at", "must be a time");
                None
            }
            Some(t) => problems.take(parse_display_at(Some(t), now)),
            None => Some(None),
        };
        let custom_tweet = match raw.custom_tweet {
            None => Some(None),
            Some(t) => problems.take(parse_custom_tweet(t)).map(Some),
        };
        let edit = (|| {
            Some(UpdateEdit {
                body: body?,
                display_at: display_at?,
                custom_tweet: custom_tweet?,
            })
        })();
        problems.finish(edit)
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_none() && self.display_at.is_none() && self.custom_tweet.is_none()
    }
}

/// A responder's own post text: empty means none; otherwise X must accept it.
fn parse_custom_tweet(raw: &str) -> Result<Option<String>, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let length = super::tweet::parse_tweet(text);
    if length.valid {
        Ok(Some(text.to_string()))
    } else if length.weighted_length > super::tweet::MAX_WEIGHTED_LENGTH {
        Err(FieldError::new(
            "custom_tweet",
            format!(
                "is {} characters as X counts them; the limit is {}",
                length.weighted_length,
                super::tweet::MAX_WEIGHTED_LENGTH
            ),
        ))
    } else {
        Err(FieldError::new(
            "custom_tweet",
            "contains characters X does not accept",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_given_fields_change_and_each_bad_one_is_named() {
        let e = IncidentEdit::parse(&RawIncidentEdit {
            name: Some("  "),
            impact: Some("maintenance"),
            component_ids: Some(vec!["x"]),
        })
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "impact", "components"]);
        let ok = IncidentEdit::parse(&RawIncidentEdit {
            name: Some(" New name "),
            ..RawIncidentEdit::default()
        })
        .unwrap();
        assert_eq!(ok.name.as_deref(), Some("New name"));
        assert!(ok.impact.is_none() && ok.component_ids.is_none());
    }

    #[test]
    fn an_update_edit_keeps_the_rules_of_a_new_update() {
        let now = Utc::now();
        let later = super::super::rfc3339(&(now + chrono::Duration::hours(1)));
        let e = UpdateEdit::parse(
            &RawUpdateEdit {
                body: Some(""),
                display_at: Some(&later),
                custom_tweet: Some(&"x".repeat(300)),
            },
            now,
        )
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["body", "display_at", "custom_tweet"]);
        let ok = UpdateEdit::parse(
            &RawUpdateEdit {
                custom_tweet: Some(""),
                ..RawUpdateEdit::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(ok.custom_tweet, Some(None));
    }
}
