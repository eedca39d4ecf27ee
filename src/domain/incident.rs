//! Incidents, scheduled maintenances and their timeline of updates.
//!
//! A maintenance is an incident of another kind, as in Statuspage: it has the same timeline of
//! updates, plus a window (`scheduled_for` .. `scheduled_until`) that moves it along by itself.

use chrono::{DateTime, Duration, Utc};

use super::choice::Choice;
use super::component::ComponentStatus;
use super::{parse_body, parse_name, parse_time, FieldError, Invalid, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentKind {
    Incident,
    Maintenance,
}

impl Choice for IncidentKind {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Incident, "incident", "Incident"),
        (Self::Maintenance, "maintenance", "Scheduled maintenance"),
    ];
}

/// The status of an incident (investigating..postmortem) or a maintenance (scheduled..completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl Choice for IncidentStatus {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Investigating, "investigating", "Investigating"),
        (Self::Identified, "identified", "Identified"),
        (Self::Monitoring, "monitoring", "Monitoring"),
        (Self::Resolved, "resolved", "Resolved"),
        (Self::Postmortem, "postmortem", "Postmortem"),
        (Self::Scheduled, "scheduled", "Scheduled"),
        (Self::InProgress, "in_progress", "In progress"),
        (Self::Verifying, "verifying", "Verifying"),
        (Self::Completed, "completed", "Completed"),
    ];
}

impl IncidentStatus {
    /// Statuses a responder may set on an incident.
    pub const FOR_INCIDENTS: [IncidentStatus; 4] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
    ];
    /// Statuses a responder may set on a maintenance.
    pub const FOR_MAINTENANCES: [IncidentStatus; 4] = [
        Self::Scheduled,
        Self::InProgress,
        Self::Verifying,
        Self::Completed,
    ];

    /// True once the incident or maintenance is over.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Resolved | Self::Postmortem | Self::Completed)
    }

    /// Parses a status and checks it belongs to this kind of event.
    pub fn parse_for(kind: IncidentKind, field: &str, raw: &str) -> Result<Self, FieldError> {
        let allowed: &[IncidentStatus] = match kind {
            IncidentKind::Incident => &[
                Self::Investigating,
                Self::Identified,
                Self::Monitoring,
                Self::Resolved,
                Self::Postmortem,
            ],
            IncidentKind::Maintenance => &Self::FOR_MAINTENANCES,
        };
        let expected = || {
            let codes: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            format!("expected one of {}", codes.join(", "))
        };
        match Self::parse(field, raw) {
            Ok(status) if allowed.contains(&status) => Ok(status),
            Ok(_) => Err(FieldError::new(
                field,
                format!(
                    "\"{}\" is not a status for this {}; {}",
                    raw.trim(),
                    kind.label().to_lowercase(),
                    expected()
                ),
            )),
            Err(_) => Err(FieldError::new(
                field,
                format!("unknown value \"{}\"; {}", raw.trim(), expected()),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impact {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Choice for Impact {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::None, "none", "None"),
        (Self::Minor, "minor", "Minor"),
        (Self::Major, "major", "Major"),
        (Self::Critical, "critical", "Critical"),
        (Self::Maintenance, "maintenance", "Maintenance"),
    ];
}

impl Impact {
    /// Impacts a responder may give an incident.
    pub const FOR_INCIDENTS: [Impact; 4] = [Self::None, Self::Minor, Self::Major, Self::Critical];

    pub fn parse_for_incident(field: &str, raw: &str) -> Result<Self, FieldError> {
        match Self::parse(field, raw) {
            Ok(Impact::Maintenance) | Err(_) => Err(FieldError::new(
                field,
                format!(
                    "unknown value \"{}\"; expected one of none, minor, major, critical",
                    raw.trim()
                ),
            )),
            Ok(impact) => Ok(impact),
        }
    }
}

/// A component whose status an update changed.
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedComponent {
    pub component_id: i64,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentUpdate {
    pub id: i64,
    pub incident_id: i64,
    pub status: IncidentStatus,
    pub body: String,
    pub display_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub affected: Vec<AffectedComponent>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
    /// When the update was last edited after it was posted (the page says so).
    pub edited_at: Option<DateTime<Utc>>,
    /// The stored row lacks Herald's stamp (see `Incident::tampered`).
    pub tampered: bool,
}

/// An incident's postmortem: a draft until it is published.
#[derive(Debug, Clone, PartialEq)]
pub struct Postmortem {
    pub body: String,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

impl Postmortem {
    pub fn is_published(&self) -> bool {
        self.published_at.is_some()
    }
}

/// How a maintenance moves along by itself and whom it tells (meaningless on incidents).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MaintenancePlan {
    /// Subscribers are reminded this many minutes before the start (None: no reminder).
    pub remind_prior_minutes: Option<i64>,
    /// When the reminder was queued.
    pub reminded_at: Option<DateTime<Utc>>,
    /// The automatic start update goes out to subscribers.
    pub notify_at_start: bool,
    /// The automatic end update goes out to subscribers.
    pub notify_at_end: bool,
    /// The scheduler starts it at `scheduled_for`.
    pub auto_start: bool,
    /// The scheduler completes it at `scheduled_until`.
    pub auto_end: bool,
    /// When it was called off before it ran.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Raised each time its window moves and when it is cancelled: the calendar feed's
    /// `SEQUENCE`, which tells subscribed calendars that the event changed.
    pub schedule_sequence: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub kind: IncidentKind,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it began, as displayed: the display time of its first update.
    pub started_at: DateTime<Utc>,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    /// Newest first, by display time.
    pub updates: Vec<IncidentUpdate>,
    /// Every component named by the incident or any of its updates.
    pub component_ids: Vec<i64>,
    /// Its postmortem, draft or published.
    pub postmortem: Option<Postmortem>,
    /// A maintenance's reminders, automatic moves and cancellation.
    pub plan: MaintenancePlan,
    /// The stored row lacks Herald's stamp: written or edited outside Herald. Never shown in
    /// public, never sent; admins see it flagged.
    pub tampered: bool,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        !self.status.is_closed()
    }

    /// The status label customers see, e.g. "Identified" or "In progress".
    pub fn status_label(&self) -> &'static str {
        self.status.label()
    }

    /// The postmortem customers may read: a published one.
    pub fn published_postmortem(&self) -> Option<&Postmortem> {
        self.postmortem.as_ref().filter(|p| p.is_published())
    }

    pub fn latest_update(&self) -> Option<&IncidentUpdate> {
        self.updates.first()
    }

    /// A maintenance that has not started yet.
    pub fn is_upcoming_maintenance(&self) -> bool {
        self.kind == IncidentKind::Maintenance && self.status == IncidentStatus::Scheduled
    }

    /// A maintenance under way (in progress or being verified).
    pub fn is_active_maintenance(&self) -> bool {
        self.kind == IncidentKind::Maintenance
            && matches!(
                self.status,
                IncidentStatus::InProgress | IncidentStatus::Verifying
            )
    }
}

/// Component changes requested by an update: (component id, new status).
pub type ComponentChanges = Vec<(i64, ComponentStatus)>;

/// Parses `{component id: status}` pairs as given by a form or the API.
pub fn parse_component_changes<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ComponentChanges, Vec<FieldError>> {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for (id, status) in pairs {
        let field = format!("components.{id}");
        match (
            id.trim().parse::<i64>(),
            ComponentStatus::parse(&field, status),
        ) {
            (Ok(id), Ok(status)) => changes.push((id, status)),
            (Err(_), _) => errors.push(FieldError::new(field, "is not a component id")),
            (_, Err(e)) => errors.push(e),
        }
    }
    if errors.is_empty() {
        changes.sort_by_key(|(id, _)| *id);
        changes.dedup_by_key(|(id, _)| *id);
        Ok(changes)
    } else {
        Err(errors)
    }
}

/// How far in the future a display time may be (clock skew between browsers and the server).
const DISPLAY_AT_SLACK: Duration = Duration::minutes(5);

pub(crate) fn parse_display_at(
    raw: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => {
            let t = parse_time("display_at", raw)?;
            if t > now + DISPLAY_AT_SLACK {
                Err(FieldError::new("display_at", "must not be in the future"))
            } else {
                Ok(Some(t))
            }
        }
    }
}

/// What a responder may say in one update, shared by incidents and their later updates.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateDraft {
    pub status: IncidentStatus,
    pub body: String,
    pub components: ComponentChanges,
    pub notify: bool,
    /// The channels it goes out on (empty without `notify`), in the order their fan-outs are
    /// written: the connected account first, then webhooks, then email.
    pub channels: Vec<&'static str>,
    pub custom_tweet: Option<String>,
    pub display_at: Option<DateTime<Utc>>,
}

impl UpdateDraft {
    /// Whether the update goes out on this channel.
    pub fn sends_on(&self, channel: &str) -> bool {
        self.channels.contains(&channel)
    }

    /// Whether the update is posted to the connected X account.
    pub fn post_to_x(&self) -> bool {
        self.sends_on(crate::channels::names::X)
    }
}

/// The channels an update goes out on: with `notify`, the ones asked for (by name, or every
/// subscriber channel when none are named), plus X when `post_to_x`. Unknown names are errors.
pub fn resolve_channels(
    notify: bool,
    asked: Option<&[&str]>,
    post_to_x: bool,
) -> Result<Vec<&'static str>, FieldError> {
    use crate::channels::{Audience, REGISTRY};
    if !notify {
        return Ok(Vec::new());
    }
    let mut chosen: Vec<&'static crate::channels::ChannelInfo> = Vec::new();
    match asked {
        Some(names) => {
            for name in names {
                let name = name.trim();
                match REGISTRY.iter().find(|c| c.name == name) {
                    Some(c) => chosen.push(c),
                    None => {
                        return Err(FieldError::new(
                            "channels",
                            format!(
                                "\"{name}\" is not a channel; the channels are {}",
                                REGISTRY
                                    .iter()
                                    .map(|c| c.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ))
                    }
                }
            }
        }
        None => chosen.extend(REGISTRY.iter().filter(|c| c.audience != Audience::Account)),
    }
    if post_to_x {
        chosen.extend(
            REGISTRY
                .iter()
                .filter(|c| c.name == crate::channels::names::X),
        );
    }
    let rank = |c: &crate::channels::ChannelInfo| match c.audience {
        Audience::Account => 0,
        Audience::Hooks(_) => 1,
        Audience::Subscribers => 2,
    };
    chosen.sort_by_key(|c| (rank(c), c.name));
    chosen.dedup_by_key(|c| c.name);
    Ok(chosen.into_iter().map(|c| c.name).collect())
}

/// Raw fields of an update, as typed by a person or sent by a script.
#[derive(Debug, Default, Clone)]
pub struct RawUpdate<'a> {
    pub status: &'a str,
    pub body: &'a str,
    pub components: Vec<(&'a str, &'a str)>,
    pub notify: bool,
    /// Also post to X (the API's `post_to_x`; adds "x" to the channels).
    pub post_to_x: bool,
    /// The channels by name (`None`: every subscriber channel).
    pub channels: Option<Vec<&'a str>>,
    /// The responder's own post text, instead of the composed one.
    pub tweet: Option<&'a str>,
    pub display_at: Option<&'a str>,
}

impl UpdateDraft {
    /// Parses an update; with no `kind`, any status is accepted here and the store checks it
    /// against the incident's kind.
    pub fn parse(
        kind: Option<IncidentKind>,
        raw: &RawUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        let mut problems = Problems::default();
        let draft = Self::parse_into(kind, raw, now, &mut problems);
        problems.finish(draft)
    }

    fn parse_into(
        kind: Option<IncidentKind>,
        raw: &RawUpdate<'_>,
        now: DateTime<Utc>,
        problems: &mut Problems,
    ) -> Option<Self> {
        let status = problems.take(match kind {
            Some(kind) => IncidentStatus::parse_for(kind, "status", raw.status),
            None => IncidentStatus::parse("status", raw.status),
        });
        let body = problems.take(parse_body("body", raw.body, true));
        let components = match parse_component_changes(raw.components.iter().copied()) {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in errors {
                    problems.add(&e.field, e.message);
                }
                None
            }
        };
        let custom_tweet = match raw.tweet.map(str::trim).filter(|t| !t.is_empty()) {
            None => Some(None),
            Some(t) => {
                let length = super::tweet::parse_tweet(t);
                if let Err(e) = super::check_text("custom_tweet", t, super::TextShape::MultiLine) {
                    problems.add(&e.field, e.message);
                    None
                } else if length.valid {
                    Some(Some(t.to_string()))
                } else if length.weighted_length > super::tweet::MAX_WEIGHTED_LENGTH {
                    problems.add(
                        "custom_tweet",
                        format!(
                            "is {} characters as X counts them (each link counts as 23, most \
                             non-Latin characters and emoji as 2); the limit is {}",
                            length.weighted_length,
                            super::tweet::MAX_WEIGHTED_LENGTH
                        ),
                    );
                    None
                } else {
                    problems.add("custom_tweet", "contains characters X does not accept");
                    None
                }
            }
        };
        let display_at = problems.take(parse_display_at(raw.display_at, now));
        let channels = problems.take(resolve_channels(
            raw.notify,
            raw.channels.as_deref(),
            raw.post_to_x,
        ));
        Some(UpdateDraft {
            status: status?,
            body: body?,
            components: components?,
            notify: raw.notify,
            channels: channels?,
            custom_tweet: custom_tweet?,
            display_at: display_at?,
        })
    }
}

/// A validated new incident with its first update.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentDraft {
    pub name: String,
    pub impact: Impact,
    pub first: UpdateDraft,
}

impl IncidentDraft {
    pub fn parse(
        name: &str,
        impact: &str,
        first: &RawUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        let mut problems = Problems::default();
        let name = problems.take(parse_name("name", name));
        let impact = problems.take(Impact::parse_for_incident("impact", impact));
        let first =
            UpdateDraft::parse_into(Some(IncidentKind::Incident), first, now, &mut problems);
        let draft = (|| {
            Some(IncidentDraft {
                name: name?,
                impact: impact?,
                first: first?,
            })
        })();
        problems.finish(draft)
    }
}

/// A validated new maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceDraft {
    pub name: String,
    pub body: String,
    pub scheduled_for: DateTime<Utc>,
    pub scheduled_until: DateTime<Utc>,
    pub component_ids: Vec<i64>,
    pub notify: bool,
    /// Reminder, notices at start and end, automatic moves (defaults follow `notify`).
    pub options: super::MaintenanceOptions,
}

impl MaintenanceDraft {
    pub fn parse(
        name: &str,
        body: &str,
        scheduled_for: &str,
        scheduled_until: &str,
        component_ids: &[&str],
        notify: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, Invalid> {
        let mut problems = Problems::default();
        let name = problems.take(parse_name("name", name));
        let body = problems.take(parse_body("body", body, true));
        let start = problems.take(parse_time("scheduled_for", scheduled_for));
        let end = problems.take(parse_time("scheduled_until", scheduled_until));
        if let (Some(start), Some(end)) = (start, end) {
            super::maintenance::check_window(&mut problems, start, end, now);
        }
        let mut ids = Vec::new();
        for raw in component_ids {
            match raw.trim().parse::<i64>() {
                Ok(id) => ids.push(id),
                Err(_) => problems.add("components", format!("\"{raw}\" is not a component id")),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let draft = (|| {
            Some(MaintenanceDraft {
                name: name?,
                body: body?,
                scheduled_for: start?,
                scheduled_until: end?,
                component_ids: ids,
                notify,
                options: super::MaintenanceOptions::defaults(notify),
            })
        })();
        problems.finish(draft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(status: &'a str, body: &'a str) -> RawUpdate<'a> {
        RawUpdate {
            status,
            body,
            ..RawUpdate::default()
        }
    }

    #[test]
    fn an_incident_draft_names_each_bad_field() {
        let now = Utc::now();
        let e = IncidentDraft::parse("", "huge", &raw("broken", ""), now).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "impact", "status", "body"]);
    }

    #[test]
    fn maintenance_statuses_are_refused_on_incidents() {
        let e =
            IncidentStatus::parse_for(IncidentKind::Incident, "status", "in_progress").unwrap_err();
        assert!(e.message.contains("investigating"), "{}", e.message);
        assert!(
            IncidentStatus::parse_for(IncidentKind::Maintenance, "status", "verifying").is_ok()
        );
    }

    #[test]
    fn display_times_in_the_future_are_refused() {
        let now = Utc::now();
        let mut r = raw("investigating", "x");
        let later = super::super::rfc3339(&(now + Duration::hours(1)));
        r.display_at = Some(&later);
        let e = UpdateDraft::parse(Some(IncidentKind::Incident), &r, now).unwrap_err();
        assert_eq!(e.0[0].field, "display_at");
    }

    #[test]
    fn a_maintenance_must_end_after_it_starts() {
        let now = Utc::now();
        let e = MaintenanceDraft::parse(
            "DB upgrade",
            "body",
            "2030-01-02T00:00:00Z",
            "2030-01-01T00:00:00Z",
            &[],
            false,
            now,
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "scheduled_until");
    }

    #[test]
    fn component_changes_name_the_bad_entry() {
        let e = parse_component_changes([("7", "down")]).unwrap_err();
        assert_eq!(e[0].field, "components.7");
        let ok = parse_component_changes([("7", "major_outage"), ("3", "operational")]).unwrap();
        assert_eq!(ok[0].0, 3);
    }
}
