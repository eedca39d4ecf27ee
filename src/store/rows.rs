//! Rows as the database returns them, and their conversion into domain types.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{
    AffectedComponent, Choice, Component, ComponentStatus, Impact, Incident, IncidentKind,
    IncidentStatus, IncidentUpdate, MaintenancePlan, Postmortem,
};
use crate::security::stamp::{ComponentText, IncidentText, Stamper, UpdateText};

fn stored<T: Choice>(raw: &str) -> Result<T, StoreError> {
    T::from_stored(raw).map_err(StoreError::Corrupt)
}

#[derive(sqlx::FromRow)]
pub struct ComponentRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub group_name: Option<String>,
    pub position: i64,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stamp: Option<String>,
    pub show_uptime: bool,
}

impl ComponentRow {
    pub fn text(&self) -> ComponentText<'_> {
        ComponentText {
            id: self.id,
            name: &self.name,
            description: &self.description,
            group: self.group_name.as_deref(),
            status: &self.status,
            show_uptime: self.show_uptime,
        }
    }

    /// The component, flagged as tampered when its stamp fails (without a stamper, never).
    pub fn into_component(self, stamper: Option<&Stamper>) -> Result<Component, StoreError> {
        let tampered = stamper
            .is_some_and(|s| !Stamper::verify(&s.component(&self.text()), self.stamp.as_deref()));
        let mut component = Component::try_from(self)?;
        component.tampered = tampered;
        Ok(component)
    }
}

impl TryFrom<ComponentRow> for Component {
    type Error = StoreError;
    fn try_from(r: ComponentRow) -> Result<Self, StoreError> {
        Ok(Component {
            tampered: false,
            status: stored(&r.status)?,
            id: r.id,
            name: r.name,
            description: r.description,
            group: r.group_name,
            position: r.position,
            created_at: r.created_at,
            updated_at: r.updated_at,
            show_uptime: r.show_uptime,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub impact: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    pub stamp: Option<String>,
    pub postmortem_body: Option<String>,
    pub postmortem_updated_at: Option<DateTime<Utc>>,
    pub postmortem_published_at: Option<DateTime<Utc>>,
    pub remind_prior_minutes: Option<i64>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub notify_at_start: bool,
    pub notify_at_end: bool,
    pub auto_start: bool,
    pub auto_end: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub schedule_sequence: i64,
}

impl IncidentRow {
    pub fn text(&self) -> IncidentText<'_> {
        IncidentText {
            id: self.id,
            kind: &self.kind,
            name: &self.name,
            status: &self.status,
            impact: &self.impact,
            scheduled_for_micros: self.scheduled_for.map(|t| t.timestamp_micros()),
            scheduled_until_micros: self.scheduled_until.map(|t| t.timestamp_micros()),
            postmortem: self.postmortem_body.as_deref().map(|body| {
                (
                    body,
                    self.postmortem_published_at.map(|t| t.timestamp_micros()),
                )
            }),
            cancelled_micros: self.cancelled_at.map(|t| t.timestamp_micros()),
        }
    }

    pub fn into_incident(self, stamper: Option<&Stamper>) -> Result<Incident, StoreError> {
        let tampered = stamper
            .is_some_and(|s| !Stamper::verify(&s.incident(&self.text()), self.stamp.as_deref()));
        Ok(Incident {
            tampered,
            id: self.id,
            kind: stored::<IncidentKind>(&self.kind)?,
            name: self.name,
            status: stored::<IncidentStatus>(&self.status)?,
            impact: stored::<Impact>(&self.impact)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            monitoring_at: self.monitoring_at,
            resolved_at: self.resolved_at,
            scheduled_for: self.scheduled_for,
            scheduled_until: self.scheduled_until,
            updates: Vec::new(),
            component_ids: Vec::new(),
            postmortem: self.postmortem_body.map(|body| Postmortem {
                body,
                updated_at: self.postmortem_updated_at.unwrap_or(self.updated_at),
                published_at: self.postmortem_published_at,
            }),
            plan: MaintenancePlan {
                remind_prior_minutes: self.remind_prior_minutes,
                reminded_at: self.reminded_at,
                notify_at_start: self.notify_at_start,
                notify_at_end: self.notify_at_end,
                auto_start: self.auto_start,
                auto_end: self.auto_end,
                cancelled_at: self.cancelled_at,
                schedule_sequence: self.schedule_sequence,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct UpdateRow {
    pub id: i64,
    pub incident_id: i64,
    pub status: String,
    pub body: String,
    pub display_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
    pub stamp: Option<String>,
    pub edited_at: Option<DateTime<Utc>>,
}

impl UpdateRow {
    /// Whether the update carries Herald's stamp, given its incident's name.
    fn genuine(&self, stamper: Option<&Stamper>, incident_name: &str) -> bool {
        stamper.is_none_or(|s| {
            let text = UpdateText {
                update_id: self.id,
                incident_id: self.incident_id,
                incident_name,
                status: &self.status,
                body: &self.body,
                custom_tweet: self.custom_tweet.as_deref(),
            };
            Stamper::verify(&s.update(&text), self.stamp.as_deref())
        })
    }
}

impl TryFrom<UpdateRow> for IncidentUpdate {
    type Error = StoreError;
    fn try_from(r: UpdateRow) -> Result<Self, StoreError> {
        Ok(IncidentUpdate {
            tampered: false,
            status: stored(&r.status)?,
            id: r.id,
            incident_id: r.incident_id,
            body: r.body,
            display_at: r.display_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            affected: Vec::new(),
            deliver_notifications: r.deliver_notifications,
            custom_tweet: r.custom_tweet,
            tweet_id: r.tweet_id,
            edited_at: r.edited_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AffectedRow {
    pub update_id: i64,
    pub component_id: i64,
    pub name: String,
    pub old_status: String,
    pub new_status: String,
}

impl TryFrom<AffectedRow> for (i64, AffectedComponent) {
    type Error = StoreError;
    fn try_from(r: AffectedRow) -> Result<Self, StoreError> {
        Ok((
            r.update_id,
            AffectedComponent {
                component_id: r.component_id,
                name: r.name,
                old_status: stored::<ComponentStatus>(&r.old_status)?,
                new_status: stored::<ComponentStatus>(&r.new_status)?,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub struct IncidentComponentRow {
    pub incident_id: i64,
    pub component_id: i64,
}

/// Joins the rows of the four incident tables into incidents with their timelines, flagging
/// every incident and update whose stamp fails under `stamper`.
pub fn assemble(
    incidents: Vec<IncidentRow>,
    updates: Vec<UpdateRow>,
    affected: Vec<AffectedRow>,
    links: Vec<IncidentComponentRow>,
    stamper: Option<&Stamper>,
) -> Result<Vec<Incident>, StoreError> {
    let names: HashMap<i64, String> = incidents.iter().map(|i| (i.id, i.name.clone())).collect();
    let mut affected_by_update: HashMap<i64, Vec<AffectedComponent>> = HashMap::new();
    for row in affected {
        let (update_id, a) = row.try_into()?;
        affected_by_update.entry(update_id).or_default().push(a);
    }
    let mut updates_by_incident: HashMap<i64, Vec<IncidentUpdate>> = HashMap::new();
    for row in updates {
        let name = names.get(&row.incident_id).map_or("", String::as_str);
        let genuine = row.genuine(stamper, name);
        let mut u = IncidentUpdate::try_from(row)?;
        u.tampered = !genuine;
        u.affected = affected_by_update.remove(&u.id).unwrap_or_default();
        updates_by_incident
            .entry(u.incident_id)
            .or_default()
            .push(u);
    }
    let mut components_by_incident: HashMap<i64, Vec<i64>> = HashMap::new();
    for link in links {
        components_by_incident
            .entry(link.incident_id)
            .or_default()
            .push(link.component_id);
    }
    incidents
        .into_iter()
        .map(|row| {
            let mut incident = row.into_incident(stamper)?;
            let mut updates = updates_by_incident.remove(&incident.id).unwrap_or_default();
            updates.sort_by(|a, b| b.display_at.cmp(&a.display_at).then(b.id.cmp(&a.id)));
            incident.updates = updates;
            incident.component_ids = components_by_incident
                .remove(&incident.id)
                .unwrap_or_default();
            Ok(incident)
        })
        .collect()
}
