//! Incident templates: the name, text, status and components a new incident or update starts
//! from (Statuspage's incident templates), managed by responders.

use chrono::{DateTime, Utc};

use super::choice::Choice;
use super::component::ComponentStatus;
use super::incident::{IncidentKind, IncidentStatus};
use super::{parse_body, parse_name, Invalid, Problems};

/// A stored template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: i64,
    pub name: String,
    /// The incident name it gives a new incident.
    pub title: String,
    pub body: String,
    pub update_status: IncidentStatus,
    /// The components it names, each with the status it sets (`None`: named, left as it is).
    pub components: Vec<(i64, Option<ComponentStatus>)>,
    pub should_tweet: bool,
    pub should_send_notifications: bool,
    /// Statuspage's template group, kept as given.
    pub group_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated template, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDraft {
    pub name: String,
    pub title: String,
    pub body: String,
    pub update_status: IncidentStatus,
    pub components: Vec<(i64, Option<ComponentStatus>)>,
    pub should_tweet: bool,
    pub should_send_notifications: bool,
    pub group_id: Option<String>,
}

/// A template's fields as typed or sent; `components` pairs an id with its status ("" or
/// `None`: named, unchanged).
#[derive(Debug, Clone, Default)]
pub struct RawTemplate<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    /// Empty: investigating.
    pub update_status: &'a str,
    pub components: Vec<(&'a str, Option<&'a str>)>,
    pub should_tweet: bool,
    pub should_send_notifications: bool,
    pub group_id: Option<&'a str>,
}

impl TemplateDraft {
    pub fn parse(raw: &RawTemplate<'_>) -> Result<TemplateDraft, Invalid> {
        let mut problems = Problems::default();
        let name = problems.take(parse_name("name", raw.name));
        let title = problems.take(parse_name("title", raw.title));
        let body = problems.take(parse_body("body", raw.body, true));
        let update_status = if raw.update_status.trim().is_empty() {
            Some(IncidentStatus::Investigating)
        } else {
            problems.take(IncidentStatus::parse_for(
                IncidentKind::Incident,
                "update_status",
                raw.update_status,
            ))
        };
        let mut components = Vec::new();
        for (id, status) in &raw.components {
            let field = format!("components.{}", id.trim());
            let Ok(id) = id.trim().parse::<i64>() else {
                problems.add(&field, "is not a component id");
                continue;
            };
            match status.map(str::trim).filter(|s| !s.is_empty()) {
                None => components.push((id, None)),
                Some(s) => {
                    if let Some(s) = problems.take(ComponentStatus::parse(&field, s)) {
                        components.push((id, Some(s)));
                    }
                }
            }
        }
        components.sort_by_key(|(id, _)| *id);
        components.dedup_by_key(|(id, _)| *id);
        let group_id = match raw.group_id.map(str::trim).filter(|g| !g.is_empty()) {
            None => Some(None),
            Some(g) => problems.take(parse_name("group_id", g)).map(Some),
        };
        let draft = (|| {
            Some(TemplateDraft {
                name: name?,
                title: title?,
                body: body?,
                update_status: update_status?,
                components,
                should_tweet: raw.should_tweet,
                should_send_notifications: raw.should_send_notifications,
                group_id: group_id?,
            })
        })();
        problems.finish(draft)
    }
}

impl Template {
    /// The `{component id: status}` changes an update started from this template makes
    /// (components it names without a status change nothing).
    pub fn component_changes(&self) -> Vec<(String, String)> {
        self.components
            .iter()
            .filter_map(|(id, s)| s.map(|s| (id.to_string(), s.as_str().to_string())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_names_each_bad_field() {
        let raw = RawTemplate {
            name: "",
            title: "Email delayed",
            body: "",
            update_status: "in_progress",
            components: vec![("x", None), ("3", Some("down"))],
            ..RawTemplate::default()
        };
        let e = TemplateDraft::parse(&raw).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "body",
                "update_status",
                "components.x",
                "components.3"
            ]
        );
    }

    #[test]
    fn a_template_defaults_to_investigating_and_keeps_unchanged_components() {
        let raw = RawTemplate {
            name: "Mail",
            title: "Email delayed",
            body: "We are looking into it.",
            components: vec![("7", Some("major_outage")), ("3", Some(""))],
            ..RawTemplate::default()
        };
        let t = TemplateDraft::parse(&raw).unwrap();
        assert_eq!(t.update_status, IncidentStatus::Investigating);
        assert_eq!(
            t.components,
            [(3, None), (7, Some(ComponentStatus::MajorOutage))]
        );
    }
}
