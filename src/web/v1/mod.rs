//! Statuspage's management API (`/v1/pages/{page_id}/…`), so scripts, monitoring integrations
//! and infrastructure code written against Statuspage move to Herald by changing the base URL.
//! Same paths, parameters (JSON or `incident[name]`-style forms), field names, status codes
//! and `{"error": "…"}` errors; `Authorization: OAuth <token>` with Herald's API tokens and
//! their roles. Every change goes through the same acts as the admin pages and admin API.

mod auth;
mod components;
mod error;
/// The bracket-named form bodies Statuspage's API takes, read into JSON.
pub mod form;
mod groups;
mod incidents;
mod pages;
mod postmortems;
mod subscribers;
mod templates;

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use super::AppState;
use crate::domain::{rfc3339, Component, Incident, IncidentKind};
use crate::render::api::{component_value, incident_value};
use crate::store::{group_id_for, ComponentGroup, Subscriber};
use error::{V1Error, V1Result};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(pages::routes())
        .merge(components::routes())
        .merge(groups::routes())
        .merge(incidents::routes())
        .merge(postmortems::routes())
        .merge(templates::routes())
        .merge(subscribers::routes())
        .route_layer(middleware::from_fn_with_state(state, known_page))
}

/// `/v1/pages/{page_id}/…` names this install's page, or answers 404 before anything else.
async fn known_page(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let page = request.uri().path().split('/').nth(3).map(str::to_string);
    match page {
        Some(page) if page != state.cache.site().page_id => {
            V1Error::not_found("page").into_response()
        }
        _ => next.run(request).await,
    }
}

/// Group ids by group name: the table's id where the group has a row, else the id it will get.
async fn group_ids(state: &AppState) -> V1Result<HashMap<String, String>> {
    Ok(state
        .store
        .component_group_ids()
        .await?
        .into_iter()
        .collect())
}

fn group_id_of(groups: &HashMap<String, String>, name: &str) -> String {
    groups
        .get(name)
        .cloned()
        .unwrap_or_else(|| group_id_for(name))
}

/// A component as Statuspage's management API shows it.
fn component_json(state: &AppState, groups: &HashMap<String, String>, c: &Component) -> Value {
    let mut v = component_value(&state.cache.site(), c);
    v["group_id"] = c
        .group
        .as_deref()
        .map_or(Value::Null, |g| Value::String(group_id_of(groups, g)));
    v["description"] = Value::String(c.description.clone());
    v["automation_email"] = Value::Null;
    v
}

fn group_json(state: &AppState, g: &ComponentGroup) -> Value {
    json!({
        "id": g.id,
        "page_id": state.cache.site().page_id,
        "name": g.name,
        "description": g.description,
        "components": g.component_ids.iter().map(i64::to_string).collect::<Vec<_>>(),
        "position": g.position,
        "created_at": rfc3339(&g.created_at),
        "updated_at": rfc3339(&g.updated_at),
    })
}

/// An incident (or maintenance) as the management API shows it: the public fields of
/// `/api/v2` and those only its staff see.
fn incident_json(
    state: &AppState,
    groups: &HashMap<String, String>,
    components: &[Component],
    i: &Incident,
) -> Value {
    let mut v = incident_value(&state.cache.site(), components, i);
    let maintenance = i.kind == IncidentKind::Maintenance;
    if let Some(list) = v["components"].as_array_mut() {
        for c in list.iter_mut() {
            let id = c["id"].as_str().and_then(|id| id.parse::<i64>().ok());
            if let Some(found) = id.and_then(|id| components.iter().find(|x| x.id == id)) {
                *c = component_json(state, groups, found);
            }
        }
    }
    let when = |t: &Option<chrono::DateTime<chrono::Utc>>| t.as_ref().map(rfc3339);
    let postmortem = i.postmortem.as_ref();
    let fields = json!({
        "impact_override": Value::Null,
        "metadata": {},
        "postmortem_body": postmortem.filter(|p| p.is_published()).map(|p| p.body.clone()),
        "postmortem_body_last_updated_at": postmortem.map(|p| rfc3339(&p.updated_at)),
        "postmortem_ignored": false,
        "postmortem_notified_subscribers": false,
        "postmortem_notified_twitter": false,
        "postmortem_published_at": postmortem.and_then(|p| when(&p.published_at)),
        "scheduled_for": when(&i.scheduled_for),
        "scheduled_until": when(&i.scheduled_until),
        "scheduled_remind_prior": maintenance && i.plan.remind_prior_minutes.is_some(),
        "scheduled_remind_prior_minutes": i.plan.remind_prior_minutes,
        "scheduled_reminded_at": when(&i.plan.reminded_at),
        "cancelled_at": when(&i.plan.cancelled_at),
        "reminder_intervals": i.plan.remind_prior_minutes.map(|m| format!("[{}]", m / 60)),
        "scheduled_auto_in_progress": maintenance && i.plan.auto_start,
        "scheduled_auto_completed": maintenance && i.plan.auto_end,
        "auto_transition_to_maintenance_state": maintenance && i.plan.auto_start,
        "auto_transition_to_operational_state": maintenance && i.plan.auto_end,
        "auto_transition_deliver_notifications_at_start": maintenance && i.plan.notify_at_start,
        "auto_transition_deliver_notifications_at_end": maintenance && i.plan.notify_at_end,
    });
    if let (Value::Object(target), Value::Object(extra)) = (&mut v, fields) {
        target.extend(extra);
    }
    v
}

fn subscriber_json(all_components: &[Component], s: &Subscriber) -> Value {
    let components: Vec<String> = if s.all_components {
        all_components.iter().map(|c| c.id.to_string()).collect()
    } else {
        s.component_ids.iter().map(i64::to_string).collect()
    };
    json!({
        "id": s.id.to_string(),
        "mode": "email",
        "email": s.email,
        "endpoint": Value::Null,
        "phone_number": Value::Null,
        "phone_country": Value::Null,
        "display_phone_number": Value::Null,
        "obfuscated_channel_name": Value::Null,
        "workspace_name": Value::Null,
        "skip_confirmation_notification": false,
        "quarantined_at": Value::Null,
        "purge_at": Value::Null,
        "components": components,
        "page_access_user_id": Value::Null,
        "created_at": rfc3339(&s.created_at),
        "confirmed": s.confirmed_at.is_some(),
    })
}

/// An id in a path: Herald's ids are numbers, so anything else names nothing.
fn numeric_id(raw: &str, what: &str) -> V1Result<i64> {
    raw.parse().map_err(|_| V1Error::not_found(what))
}
