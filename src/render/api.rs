//! The Statuspage-compatible JSON API (`/api/v2/*.json`), field for field, so tools written for
//! Atlassian Statuspage read Herald unchanged. Ids are strings, times RFC 3339.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::views::{worst_status, Model};
use super::{PagesBuilder, Site};
use crate::domain::{rfc3339, Choice, Component, Incident, IncidentKind, IncidentUpdate};

const JSON: &str = "application/json";

/// How many past incidents (and maintenances) the list endpoints return, as Statuspage does.
const LIST_LIMIT: usize = 50;

#[derive(Serialize)]
struct Page<'a> {
    id: &'a str,
    name: &'a str,
    url: &'a str,
    time_zone: &'static str,
    updated_at: String,
}

#[derive(Serialize)]
struct Status {
    indicator: &'static str,
    description: &'static str,
}

#[derive(Serialize, Clone)]
struct ComponentJson {
    id: String,
    name: String,
    status: &'static str,
    created_at: String,
    updated_at: String,
    position: i64,
    description: Option<String>,
    showcase: bool,
    start_date: Option<String>,
    group_id: Option<String>,
    page_id: String,
    group: bool,
    only_show_if_degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<String>>,
}

#[derive(Serialize)]
struct AffectedJson {
    code: String,
    name: String,
    old_status: &'static str,
    new_status: &'static str,
}

#[derive(Serialize)]
struct UpdateJson {
    id: String,
    status: &'static str,
    body: String,
    incident_id: String,
    created_at: String,
    updated_at: String,
    display_at: String,
    affected_components: Option<Vec<AffectedJson>>,
    deliver_notifications: bool,
    custom_tweet: Option<String>,
    tweet_id: Option<String>,
}

#[derive(Serialize)]
struct IncidentJson {
    id: String,
    name: String,
    status: &'static str,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    impact: &'static str,
    shortlink: String,
    started_at: String,
    page_id: String,
    incident_updates: Vec<UpdateJson>,
    components: Vec<ComponentJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<Option<String>>,
    /// The published postmortem (Markdown) or null; a draft is never shown.
    postmortem_body: Option<String>,
    postmortem_body_last_updated_at: Option<String>,
    postmortem_published_at: Option<String>,
}

/// Builds the JSON objects once per render and serialises each endpoint from them.
struct Api<'a> {
    page: Page<'a>,
    status: Status,
    components: Vec<ComponentJson>,
    m: &'a Model<'a>,
}

/// A component group's id: its row's (kept through renames), else the one it will get.
pub(crate) fn group_id(ids: Option<&HashMap<String, String>>, name: &str) -> String {
    ids.and_then(|ids| ids.get(name).cloned())
        .unwrap_or_else(|| crate::store::group_id_for(name))
}

/// The `page` object every JSON body starts with.
fn page<'a>(m: &'a Model<'a>) -> Page<'a> {
    let updated_at = m
        .components
        .iter()
        .map(|c| c.updated_at)
        .chain(m.incidents.iter().map(|i| i.updated_at))
        .max()
        .unwrap_or(m.now);
    page_at(m, updated_at)
}

/// The `page` object, updated at `updated_at`.
fn page_at<'a>(m: &'a Model<'a>, updated_at: DateTime<Utc>) -> Page<'a> {
    Page {
        id: &m.site.page_id,
        name: &m.site.name,
        url: &m.site.url,
        time_zone: "Etc/UTC",
        updated_at: rfc3339(&updated_at),
    }
}

/// The `page` object, updated at `updated_at`, for the JSON bodies outside `/api/v2`.
pub(crate) fn page_value_at(m: &Model<'_>, updated_at: DateTime<Utc>) -> serde_json::Value {
    serde_json::to_value(page_at(m, updated_at)).unwrap_or_default()
}

impl<'a> Api<'a> {
    fn new(m: &'a Model<'a>) -> Api<'a> {
        Api {
            page: page(m),
            status: Status {
                indicator: m.indicator.as_str(),
                description: m.indicator.description(),
            },
            components: Self::components(m),
            m,
        }
    }

    /// Components with their groups, each group first and listing its members, as Statuspage does.
    fn components(m: &Model<'_>) -> Vec<ComponentJson> {
        let mut out: Vec<ComponentJson> = Vec::new();
        let mut position = 0;
        for (n, c) in m.components.iter().enumerate() {
            if let Some(group) = &c.group {
                let new_group = n == 0 || m.components[n - 1].group.as_ref() != Some(group);
                if new_group {
                    let members: Vec<&Component> = m
                        .components
                        .iter()
                        .filter(|x| x.group.as_ref() == Some(group))
                        .collect();
                    position += 1;
                    let worst = worst_status(members.iter().map(|x| x.status));
                    out.push(ComponentJson {
                        id: group_id(Some(m.group_ids), group),
                        name: group.clone(),
                        status: worst.as_str(),
                        created_at: rfc3339(
                            &members
                                .iter()
                                .map(|x| x.created_at)
                                .min()
                                .unwrap_or(c.created_at),
                        ),
                        updated_at: rfc3339(
                            &members
                                .iter()
                                .map(|x| x.updated_at)
                                .max()
                                .unwrap_or(c.updated_at),
                        ),
                        position,
                        description: None,
                        showcase: false,
                        start_date: None,
                        group_id: None,
                        page_id: m.site.page_id.clone(),
                        group: true,
                        only_show_if_degraded: false,
                        components: Some(members.iter().map(|x| x.id.to_string()).collect()),
                    });
                }
            }
            position += 1;
            let mut json = component_json(c, &m.site.page_id, Some(m.group_ids));
            json.position = position;
            out.push(json);
        }
        out
    }

    fn incidents(&self, keep: impl Fn(&Incident) -> bool) -> Vec<IncidentJson> {
        self.m
            .incidents
            .iter()
            .filter(|i| keep(i))
            .take(LIST_LIMIT)
            .map(|i| incident_json(self.m.site, self.m.components, i, Some(self.m.group_ids)))
            .collect()
    }
}

fn incident_json(
    site: &Site,
    components: &[Component],
    i: &Incident,
    group_ids: Option<&HashMap<String, String>>,
) -> IncidentJson {
    let maintenance = i.kind == IncidentKind::Maintenance;
    IncidentJson {
        id: i.id.to_string(),
        name: i.name.clone(),
        status: i.status.as_str(),
        created_at: rfc3339(&i.created_at),
        updated_at: rfc3339(&i.updated_at),
        monitoring_at: i.monitoring_at.as_ref().map(rfc3339),
        resolved_at: i.resolved_at.as_ref().map(rfc3339),
        impact: i.impact.as_str(),
        shortlink: format!("{}/incidents/{}", site.url, i.id),
        started_at: rfc3339(&i.started_at),
        page_id: site.page_id.clone(),
        incident_updates: i.updates.iter().map(|u| update_json(i, u)).collect(),
        components: i
            .component_ids
            .iter()
            .filter_map(|id| components.iter().find(|c| c.id == *id))
            .map(|c| component_json(c, &site.page_id, group_ids))
            .collect(),
        scheduled_for: maintenance.then(|| i.scheduled_for.as_ref().map(rfc3339)),
        scheduled_until: maintenance.then(|| i.scheduled_until.as_ref().map(rfc3339)),
        postmortem_body: i.published_postmortem().map(|p| p.body.clone()),
        postmortem_body_last_updated_at: i.published_postmortem().map(|p| rfc3339(&p.updated_at)),
        postmortem_published_at: i
            .published_postmortem()
            .and_then(|p| p.published_at.as_ref().map(rfc3339)),
    }
}

fn update_json(i: &Incident, u: &IncidentUpdate) -> UpdateJson {
    UpdateJson {
        id: u.id.to_string(),
        status: u.status.as_str(),
        body: u.body.clone(),
        incident_id: i.id.to_string(),
        created_at: rfc3339(&u.created_at),
        updated_at: rfc3339(&u.updated_at),
        display_at: rfc3339(&u.display_at),
        affected_components: (!u.affected.is_empty()).then(|| {
            u.affected
                .iter()
                .map(|a| AffectedJson {
                    code: a.component_id.to_string(),
                    name: a.name.clone(),
                    old_status: a.old_status.as_str(),
                    new_status: a.new_status.as_str(),
                })
                .collect()
        }),
        deliver_notifications: u.deliver_notifications,
        custom_tweet: u.custom_tweet.clone(),
        tweet_id: u.tweet_id.clone(),
    }
}

/// One incident or maintenance as the JSON API shows it (the admin API answers with this too).
pub fn incident_value(site: &Site, components: &[Component], i: &Incident) -> serde_json::Value {
    serde_json::to_value(incident_json(site, components, i, None)).unwrap_or_default()
}

/// One update as the JSON API shows it.
pub fn update_value(i: &Incident, u: &IncidentUpdate) -> serde_json::Value {
    serde_json::to_value(update_json(i, u)).unwrap_or_default()
}

/// One component as the JSON API shows it.
pub fn component_value(site: &Site, c: &Component) -> serde_json::Value {
    serde_json::to_value(component_json(c, &site.page_id, None)).unwrap_or_default()
}

fn component_json(
    c: &Component,
    page_id: &str,
    group_ids: Option<&HashMap<String, String>>,
) -> ComponentJson {
    ComponentJson {
        id: c.id.to_string(),
        name: c.name.clone(),
        status: c.status.as_str(),
        created_at: rfc3339(&c.created_at),
        updated_at: rfc3339(&c.updated_at),
        position: c.position,
        description: (!c.description.is_empty()).then(|| c.description.clone()),
        // Statuspage's "show uptime" switch.
        showcase: c.show_uptime,
        start_date: None,
        group_id: c.group.as_deref().map(|g| group_id(group_ids, g)),
        page_id: page_id.to_string(),
        group: false,
        only_show_if_degraded: false,
        components: None,
    }
}

pub(crate) fn render(m: &Model<'_>, out: &mut PagesBuilder<'_>) -> anyhow::Result<()> {
    let api = Api::new(m);
    let is_incident = |i: &Incident| i.kind == IncidentKind::Incident;
    let is_maintenance = |i: &Incident| i.kind == IncidentKind::Maintenance;
    let mut upcoming: Vec<&Incident> = m
        .incidents
        .iter()
        .filter(|i| i.is_upcoming_maintenance())
        .map(|i| &**i)
        .collect();
    upcoming.sort_by_key(|i| i.scheduled_for);
    let upcoming: Vec<IncidentJson> = upcoming
        .into_iter()
        .map(|i| incident_json(m.site, m.components, i, Some(m.group_ids)))
        .collect();

    let mut add = |path: &str, value: serde_json::Value| -> anyhow::Result<()> {
        out.add(path, JSON, serde_json::to_vec(&value)?, true);
        Ok(())
    };
    let page = serde_json::to_value(&api.page)?;
    let status = serde_json::to_value(&api.status)?;
    let components = serde_json::to_value(&api.components)?;
    let unresolved = serde_json::to_value(api.incidents(|i| is_incident(i) && i.is_open()))?;
    let active = serde_json::to_value(api.incidents(Incident::is_active_maintenance))?;
    let upcoming = serde_json::to_value(upcoming)?;
    let mut summary_maintenances: Vec<serde_json::Value> =
        active.as_array().cloned().unwrap_or_default();
    summary_maintenances.extend(upcoming.as_array().cloned().unwrap_or_default());

    use serde_json::json;
    add(
        "/api/v2/summary.json",
        json!({"page": page, "components": components, "incidents": unresolved,
               "scheduled_maintenances": summary_maintenances, "status": status}),
    )?;
    add(
        "/api/v2/status.json",
        json!({"page": page, "status": status}),
    )?;
    add(
        "/api/v2/components.json",
        json!({"page": page, "components": components}),
    )?;
    add(
        "/api/v2/incidents.json",
        json!({"page": page, "incidents": api.incidents(is_incident)}),
    )?;
    add(
        "/api/v2/incidents/unresolved.json",
        json!({"page": page, "incidents": unresolved}),
    )?;
    add(
        "/api/v2/scheduled-maintenances.json",
        json!({"page": page, "scheduled_maintenances": api.incidents(is_maintenance)}),
    )?;
    add(
        "/api/v2/scheduled-maintenances/upcoming.json",
        json!({"page": page, "scheduled_maintenances": upcoming}),
    )?;
    add(
        "/api/v2/scheduled-maintenances/active.json",
        json!({"page": page, "scheduled_maintenances": active}),
    )?;
    Ok(())
}
