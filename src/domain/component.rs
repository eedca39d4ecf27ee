//! Components: the parts of the service whose status customers see.

use chrono::{DateTime, Utc};

use super::choice::Choice;
use super::{parse_body, parse_name, FieldError, Invalid, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl Choice for ComponentStatus {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Operational, "operational", "Operational"),
        (
            Self::DegradedPerformance,
            "degraded_performance",
            "Degraded performance",
        ),
        (Self::PartialOutage, "partial_outage", "Partial outage"),
        (Self::MajorOutage, "major_outage", "Major outage"),
        (
            Self::UnderMaintenance,
            "under_maintenance",
            "Under maintenance",
        ),
    ];
}

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub position: i64,
    pub status: ComponentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether the public page and `/api/uptime.json` show its uptime history.
    pub show_uptime: bool,
    /// The stored row lacks Herald's stamp: written or edited outside Herald. Never shown in
    /// public; admins see it flagged.
    pub tampered: bool,
}

/// A validated new component.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentDraft {
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub position: i64,
    /// Whether the public page shows its uptime (true unless set otherwise after `parse`).
    pub show_uptime: bool,
}

impl ComponentDraft {
    pub fn parse(
        name: &str,
        description: Option<&str>,
        group: Option<&str>,
        position: Option<i64>,
    ) -> Result<Self, Invalid> {
        let mut problems = Problems::default();
        let name = problems.take(parse_name("name", name));
        let description =
            problems.take(parse_body("description", description.unwrap_or(""), false));
        if description
            .as_deref()
            .is_some_and(|d| d.chars().count() > 1000)
        {
            problems.add("description", "must be at most 1000 characters");
        }
        let group = match group.map(str::trim).filter(|g| !g.is_empty()) {
            Some(g) => problems.take(parse_name("group", g)).map(Some),
            None => Some(None),
        };
        let position = position.unwrap_or(0);
        if !(0..=10_000).contains(&position) {
            problems.add("position", "must be between 0 and 10000");
        }
        let draft = (|| {
            Some(ComponentDraft {
                name: name?,
                description: description?,
                group: group?,
                position,
                show_uptime: true,
            })
        })();
        problems.finish(draft)
    }
}

/// Parses a position typed into a form, where empty means "not given".
pub fn parse_position(raw: &str) -> Result<Option<i64>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| FieldError::new("position", "must be a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_name_the_choices() {
        for (status, code, _) in ComponentStatus::ALL {
            assert_eq!(ComponentStatus::parse("status", code).unwrap(), *status);
        }
        let e = ComponentStatus::parse("status", "down").unwrap_err();
        assert!(e.message.contains("major_outage"), "{}", e.message);
    }

    #[test]
    fn a_draft_reports_every_bad_field() {
        let e = ComponentDraft::parse("", None, Some("  "), Some(-1)).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "position"]);
        let ok = ComponentDraft::parse(" API ", Some("REST"), Some(" Core "), None).unwrap();
        assert_eq!(ok.group.as_deref(), Some("Core"));
    }
}
