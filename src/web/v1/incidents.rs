//! Incidents: list (with `q`, `limit`, `page`), unresolved, upcoming, active maintenance,
//! scheduled, create (realtime, scheduled with `scheduled_for`/`scheduled_until`, or backfilled
//! with `backfilled` and `backfill_date`), get, patch and put (edits and new updates), delete;
//! and editing an incident update.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::auth::V1Caller;
use super::error::{V1Error, V1Result};
use super::form::{self, V1Body};
use super::{group_ids, incident_json, numeric_id};
use crate::domain::edit::{RawIncidentEdit, RawUpdateEdit};
use crate::domain::incident::RawUpdate;
use crate::domain::{
    self, Choice, ComponentStatus, Impact, Incident, IncidentDraft, IncidentEdit, IncidentKind,
    IncidentStatus, MaintenanceDraft, MaintenanceOptions, RemindPrior, Role, UpdateDraft,
    UpdateEdit,
};
use crate::render::api::update_value;
use crate::store::Replan;
use crate::web::api::lists::{incident_in_state, incident_matches};
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/pages/{page_id}/incidents",
            get(list_incidents).post(create_incident),
        )
        .route("/v1/pages/{page_id}/incidents/unresolved", get(unresolved))
        .route("/v1/pages/{page_id}/incidents/upcoming", get(upcoming))
        .route(
            "/v1/pages/{page_id}/incidents/active_maintenance",
            get(active_maintenance),
        )
        .route("/v1/pages/{page_id}/incidents/scheduled", get(scheduled))
        .route(
            "/v1/pages/{page_id}/incidents/{incident_id}",
            get(show_incident)
                .patch(change_incident)
                .put(change_incident)
                .delete(delete_incident),
        )
        .route(
            "/v1/pages/{page_id}/incidents/{incident_id}/incident_updates/{incident_update_id}",
            patch(change_update).put(change_update),
        )
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    limit: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// `limit` (or `per_page`) per page, 1 to 1000, default 100; `page` from 1.
fn paging(query: &ListQuery) -> V1Result<(usize, usize)> {
    let number = |field: &str, raw: &Option<String>, default: usize| -> V1Result<usize> {
        match raw.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => Ok(default),
            Some(r) => r
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| V1Error::invalid(field, "must be a whole number from 1")),
        }
    };
    let (field, raw) = if query.limit.is_some() {
        ("limit", &query.limit)
    } else {
        ("per_page", &query.per_page)
    };
    let limit = number(field, raw, 100)?.min(1000);
    let page = number("page", &query.page, 1)?;
    Ok((limit, page))
}

async fn answer(
    state: &AppState,
    keep: impl Fn(&Incident) -> bool,
    query: Option<&ListQuery>,
) -> V1Result<Json<Value>> {
    let groups = group_ids(state).await?;
    let components = state.store.components().await?;
    let mut incidents: Vec<Incident> = state
        .store
        .incidents()
        .await?
        .into_iter()
        .filter(|i| keep(i))
        .collect();
    if let Some(query) = query {
        if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            incidents.retain(|i| incident_matches(i, q));
        }
        let (limit, page) = paging(query)?;
        incidents = incidents
            .into_iter()
            .skip(limit.saturating_mul(page - 1))
            .take(limit)
            .collect();
    }
    Ok(Json(Value::Array(
        incidents
            .iter()
            .map(|i| incident_json(state, &groups, &components, i))
            .collect(),
    )))
}

async fn list_incidents(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    answer(&state, |_| true, Some(&query)).await
}

async fn unresolved(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    answer(&state, |i| in_state(i, "unresolved"), Some(&query)).await
}

async fn upcoming(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    answer(&state, |i| in_state(i, "upcoming"), Some(&query)).await
}

async fn active_maintenance(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    answer(&state, |i| in_state(i, "active_maintenance"), Some(&query)).await
}

async fn scheduled(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    answer(&state, |i| in_state(i, "scheduled"), Some(&query)).await
}

async fn show_incident(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let id = numeric_id(&id, "incident")?;
    Ok(Json(one(&state, id).await?))
}

/// `scheduled_remind_prior` as `RemindPrior::from_json` reads it: `true` (the page default),
/// `false` or 0 (none), or minutes; a form's text is read as a number or a flag.
fn remind_prior(map: &Map<String, Value>) -> V1Result<Option<RemindPrior>> {
    let value = match map.get("scheduled_remind_prior") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::Bool(form::flag(map, "scheduled_remind_prior")?.unwrap_or(false)),
        },
        Some(other) => other.clone(),
    };
    Ok(Some(RemindPrior::from_json(
        "scheduled_remind_prior",
        &value,
    )?))
}

/// A new maintenance's reminder, notices and automatic moves, defaults following `notify`.
fn maintenance_options(map: &Map<String, Value>, notify: bool) -> V1Result<MaintenanceOptions> {
    let d = MaintenanceOptions::defaults(notify);
    Ok(MaintenanceOptions {
        remind_prior: remind_prior(map)?.unwrap_or(d.remind_prior),
        notify_at_start: form::flag(map, "auto_transition_deliver_notifications_at_start")?
            .unwrap_or(d.notify_at_start),
        notify_at_end: form::flag(map, "auto_transition_deliver_notifications_at_end")?
            .unwrap_or(d.notify_at_end),
        auto_start: form::flag(map, "scheduled_auto_in_progress")?
            .or(form::flag(map, "auto_transition_to_maintenance_state")?)
            .unwrap_or(d.auto_start),
        auto_end: form::flag(map, "scheduled_auto_completed")?
            .or(form::flag(map, "auto_transition_to_operational_state")?)
            .unwrap_or(d.auto_end),
    })
}

/// The list states the admin API names too, so both APIs list alike.
fn in_state(i: &Incident, state: &str) -> bool {
    incident_in_state(i, state).unwrap_or(false)
}

pub(super) async fn one(state: &AppState, id: i64) -> V1Result<Value> {
    let incident = state.store.incident(id).await?;
    let groups = group_ids(state).await?;
    let components = state.store.components().await?;
    Ok(incident_json(state, &groups, &components, &incident))
}

/// The impact Statuspage derives from the worst component status named.
fn impact_of(statuses: &[ComponentStatus]) -> Impact {
    let worst = |s: &ComponentStatus| match s {
        ComponentStatus::MajorOutage => 3,
        ComponentStatus::PartialOutage => 2,
        ComponentStatus::DegradedPerformance => 1,
        _ => 0,
    };
    match statuses.iter().map(worst).max().unwrap_or(0) {
        3 => Impact::Critical,
        2 => Impact::Major,
        1 => Impact::Minor,
        _ => Impact::None,
    }
}

/// `backfill_date`: an RFC 3339 time, `YYYY-MM-DD` or Statuspage's `MM/DD/YYYY` (midnight UTC).
fn backfill_time(raw: &str) -> V1Result<String> {
    let raw = raw.trim();
    let date = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(raw, "%m/%d/%Y"));
    match date {
        Ok(d) => Ok(format!("{}T00:00:00Z", d.format("%Y-%m-%d"))),
        Err(_) => {
            domain::parse_time("backfill_date", raw)?;
            Ok(raw.to_string())
        }
    }
}

/// The components a body names: `components` `{id: status}` and `component_ids` `[id]`.
struct Named {
    statuses: Vec<(String, String)>,
    ids: Vec<String>,
}

fn named(incident: &Map<String, Value>) -> V1Result<Named> {
    Ok(Named {
        statuses: form::statuses(incident, "components")?.unwrap_or_default(),
        ids: form::ids(incident, "component_ids")?.unwrap_or_default(),
    })
}

async fn create_incident(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    V1Body(body): V1Body,
) -> V1Result<Response> {
    caller.require(Role::Responder)?;
    let incident = form::object(&body, "incident")?;
    // A template fills what the body leaves out: name (its title), status, body, component
    // statuses and whether subscribers are told.
    let template = match form::text(incident, "template_id")?.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(raw) => {
            let unknown = || V1Error::invalid("template_id", format!("there is no template {raw}"));
            let id: i64 = raw.trim().parse().map_err(|_| unknown())?;
            match state.store.template(id).await {
                Ok(t) => Some(t),
                Err(crate::store::StoreError::NotFound(_)) => return Err(unknown()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let name = form::text(incident, "name")?
        .filter(|n| !n.trim().is_empty() || template.is_none())
        .or_else(|| template.as_ref().map(|t| t.title.clone()))
        .unwrap_or_default();
    let status = form::text(incident, "status")?
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            template
                .as_ref()
                .map(|t| t.update_status.as_str().to_string())
        });
    let notify = match form::flag(incident, "deliver_notifications")? {
        Some(n) => n,
        None => template
            .as_ref()
            .is_none_or(|t| t.should_send_notifications),
    };
    let body_text = form::text(incident, "body")?
        .filter(|b| !b.trim().is_empty())
        .or_else(|| template.as_ref().map(|t| t.body.clone()));
    let scheduled_for = form::text(incident, "scheduled_for")?.filter(|s| !s.trim().is_empty());
    let scheduled_until = form::text(incident, "scheduled_until")?.filter(|s| !s.trim().is_empty());
    let backfilled = form::flag(incident, "backfilled")?.unwrap_or(false);
    let mut named = named(incident)?;
    if let Some(t) = &template {
        if !incident.contains_key("components") {
            named.statuses = t.component_changes();
        }
    }
    let now = domain::now();
    let actor = caller.actor();

    let maintenance = scheduled_for.is_some()
        || scheduled_until.is_some()
        || status.as_deref() == Some("scheduled");
    let published = if maintenance && !backfilled {
        if let Some(s) = status.as_deref().filter(|s| *s != "scheduled") {
            return Err(V1Error::invalid(
                "status",
                format!("a scheduled maintenance starts as scheduled, not {s}"),
            ));
        }
        let mut ids: Vec<&str> = named.ids.iter().map(String::as_str).collect();
        ids.extend(named.statuses.iter().map(|(id, _)| id.as_str()));
        ids.sort_unstable();
        ids.dedup();
        let body = body_text
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "Scheduled maintenance.".to_string());
        let options = maintenance_options(incident, notify)?;
        let mut draft = MaintenanceDraft::parse(
            &name,
            &body,
            scheduled_for.as_deref().unwrap_or(""),
            scheduled_until.as_deref().unwrap_or(""),
            &ids,
            notify,
            now,
        )?;
        draft.options = options;
        state.schedule_maintenance(&actor, &draft).await?
    } else {
        let status = if backfilled {
            IncidentStatus::Resolved
        } else {
            IncidentStatus::parse_for(
                IncidentKind::Incident,
                "status",
                status.as_deref().unwrap_or("investigating"),
            )?
        };
        let display_at = match form::text(incident, "backfill_date")? {
            Some(raw) if backfilled && !raw.trim().is_empty() => Some(backfill_time(&raw)?),
            _ if backfilled => {
                return Err(V1Error::invalid(
                    "backfill_date",
                    "a backfilled incident needs the date it happened",
                ))
            }
            _ => None,
        };
        // Components named by id only are linked with the status they have now.
        let current: HashMap<String, ComponentStatus> = state
            .store
            .components()
            .await?
            .into_iter()
            .map(|c| (c.id.to_string(), c.status))
            .collect();
        // A backfilled incident is history: it names components but moves none of them now.
        let mut pairs: Vec<(String, String)> = if backfilled {
            Vec::new()
        } else {
            named.statuses.clone()
        };
        let linked_only = named.ids.iter().chain(
            named
                .statuses
                .iter()
                .map(|(id, _)| id)
                .filter(|_| backfilled),
        );
        for id in linked_only {
            if !pairs.iter().any(|(named, _)| named == id) {
                let Some(status) = current.get(id) else {
                    return Err(V1Error::invalid(
                        &format!("component_ids.{id}"),
                        "no such component",
                    ));
                };
                pairs.push((id.clone(), status.as_str().to_string()));
            }
        }
        let impact = match form::text(incident, "impact_override")?.filter(|s| !s.is_empty()) {
            Some(raw) => raw,
            None => {
                let given: Vec<ComponentStatus> = named
                    .statuses
                    .iter()
                    .filter_map(|(_, s)| ComponentStatus::parse("status", s).ok())
                    .collect();
                impact_of(&given).as_str().to_string()
            }
        };
        let body = body_text
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| status.label().to_string());
        let raw = RawUpdate {
            status: status.as_str(),
            body: &body,
            components: pairs
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_str()))
                .collect(),
            notify: notify && !backfilled,
            post_to_x: notify && !backfilled,
            channels: None,
            tweet: None,
            display_at: display_at.as_deref(),
        };
        let draft = IncidentDraft::parse(&name, &impact, &raw, now)?;
        state.open_incident(&actor, &draft).await?
    };
    let json = one(&state, published.incident_id).await?;
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

/// PATCH and PUT alike. `name`, `impact_override` and `component_ids` edit the incident (no one
/// is told); `status` or `body` post a new update (sent per `deliver_notifications`, default
/// true), carrying `components` statuses; `components` alone set those statuses directly.
/// Everything is checked before anything changes.
async fn change_incident(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
    V1Body(body): V1Body,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let id = numeric_id(&id, "incident")?;
    let current = state.store.incident(id).await?;
    let incident = form::object(&body, "incident")?;
    let named = named(incident)?;
    let name = form::text(incident, "name")?;
    let impact = form::text(incident, "impact_override")?.filter(|s| !s.trim().is_empty());
    if impact.is_some() && current.kind == IncidentKind::Maintenance {
        return Err(V1Error::invalid(
            "impact_override",
            "a maintenance's impact is always maintenance",
        ));
    }
    let status = form::text(incident, "status")?.filter(|s| !s.trim().is_empty());
    let body_text = form::text(incident, "body")?.filter(|s| !s.trim().is_empty());
    let notify = form::flag(incident, "deliver_notifications")?.unwrap_or(true);
    // A maintenance's plan: its window, reminder and notices (told only when asked).
    let time = |field: &str| -> V1Result<Option<chrono::DateTime<chrono::Utc>>> {
        match form::text(incident, field)?.filter(|t| !t.trim().is_empty()) {
            None => Ok(None),
            Some(raw) => Ok(Some(domain::parse_time(field, &raw)?)),
        }
    };
    let replan = Replan {
        scheduled_for: time("scheduled_for")?,
        scheduled_until: time("scheduled_until")?,
        remind_prior_minutes: remind_prior(incident)?
            .map(|r| r.resolve(true, state.config.remind_prior_minutes)),
        notify_at_start: form::flag(incident, "auto_transition_deliver_notifications_at_start")?,
        notify_at_end: form::flag(incident, "auto_transition_deliver_notifications_at_end")?,
    };
    let replanned = replan.scheduled_for.is_some()
        || replan.scheduled_until.is_some()
        || replan.remind_prior_minutes.is_some()
        || replan.notify_at_start.is_some()
        || replan.notify_at_end.is_some();
    if replanned && current.kind != IncidentKind::Maintenance {
        return Err(V1Error::invalid(
            "scheduled_for",
            "only a scheduled maintenance has a window",
        ));
    }
    for fixed in ["scheduled_auto_in_progress", "scheduled_auto_completed"] {
        if form::flag(incident, fixed)?.is_some() {
            return Err(V1Error::invalid(
                fixed,
                "is chosen when the maintenance is scheduled",
            ));
        }
    }
    let tell_replan = form::flag(incident, "deliver_notifications")?.unwrap_or(false);

    // The affected set: `component_ids` when given, plus any component given a status.
    let mut linked: Option<Vec<String>> = form::ids(incident, "component_ids")?;
    if !named.statuses.is_empty() {
        let mut set =
            linked.unwrap_or_else(|| current.component_ids.iter().map(i64::to_string).collect());
        set.extend(named.statuses.iter().map(|(id, _)| id.clone()));
        linked = Some(set);
    }
    let edit = IncidentEdit::parse(&RawIncidentEdit {
        name: name.as_deref(),
        impact: impact.as_deref(),
        component_ids: linked
            .as_ref()
            .map(|ids| ids.iter().map(String::as_str).collect()),
    })?;
    let update = if status.is_some() || body_text.is_some() {
        let status = status.unwrap_or_else(|| current.status.as_str().to_string());
        let body = body_text.unwrap_or_else(|| {
            IncidentStatus::parse("status", &status)
                .map(|s| s.label().to_string())
                .unwrap_or_default()
        });
        let raw = RawUpdate {
            status: &status,
            body: &body,
            components: named
                .statuses
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_str()))
                .collect(),
            notify,
            post_to_x: notify,
            channels: None,
            tweet: None,
            display_at: None,
        };
        Some(UpdateDraft::parse(Some(current.kind), &raw, domain::now())?)
    } else {
        None
    };
    let direct: Vec<(i64, ComponentStatus)> = if update.is_none() {
        match domain::incident::parse_component_changes(
            named
                .statuses
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_str())),
        ) {
            Ok(changes) => changes,
            Err(errors) => return Err(domain::Invalid(errors).into()),
        }
    } else {
        Vec::new()
    };

    let actor = caller.actor();
    if !edit.is_empty() {
        state.edit_incident(&actor, id, &edit).await?;
    }
    if replanned {
        state
            .reschedule_maintenance(&actor, id, &replan, tell_replan)
            .await?;
    }
    if let Some(draft) = &update {
        state.post_update(&actor, id, draft).await?;
    }
    for (component, status) in direct {
        state
            .set_component_status(&actor, component, status)
            .await?;
    }
    Ok(Json(one(&state, id).await?))
}

/// Statuspage answers an incident's deletion with the incident as it was. Admins only.
async fn delete_incident(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Admin)?;
    let id = numeric_id(&id, "incident")?;
    let was = one(&state, id).await?;
    state.delete_incident(&caller.actor(), id).await?;
    Ok(Json(was))
}

/// Edits an update's `body`, `display_at` or `custom_tweet`. An edit is never sent again.
async fn change_update(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, incident_id, update_id)): Path<(String, String, String)>,
    V1Body(body): V1Body,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let incident_id = numeric_id(&incident_id, "incident")?;
    let update_id = numeric_id(&update_id, "incident update")?;
    let incident = state.store.incident(incident_id).await?;
    if !incident.updates.iter().any(|u| u.id == update_id) {
        return Err(V1Error::not_found("incident update"));
    }
    let u = form::object(&body, "incident_update")?;
    if form::flag(u, "deliver_notifications")? == Some(true)
        || form::flag(u, "wants_twitter_update")? == Some(true)
    {
        return Err(V1Error::invalid(
            "deliver_notifications",
            "an edited update is not sent again; post a new update to tell subscribers",
        ));
    }
    let text = form::text(u, "body")?;
    let display_at = form::text(u, "display_at")?;
    let tweet = form::text(u, "custom_tweet")?;
    let edit = UpdateEdit::parse(
        &RawUpdateEdit {
            body: text.as_deref(),
            display_at: display_at.as_deref(),
            custom_tweet: tweet.as_deref(),
        },
        domain::now(),
    )?;
    if !edit.is_empty() {
        state.edit_update(&caller.actor(), update_id, &edit).await?;
    }
    let incident = state.store.incident(incident_id).await?;
    let update = incident
        .updates
        .iter()
        .find(|u| u.id == update_id)
        .ok_or_else(|| V1Error::not_found("incident update"))?;
    Ok(Json(update_value(&incident, update)))
}
