//! `/api/admin/v1` edits: `PATCH` and `DELETE` on incidents, their updates and components.
//! Responders edit; only admins delete incidents and components. Edits notify nobody.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::super::auth::{ApiCaller, ApiJson};
use super::super::error::ApiError;
use super::super::AppState;
use crate::domain::edit::{RawIncidentEdit, RawUpdateEdit};
use crate::domain::{
    self, Choice, ComponentDraft, ComponentStatus, FieldError, IncidentEdit, Invalid, Role,
    UpdateEdit,
};
use crate::render::api::{component_value, incident_value, update_value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/admin/v1/incidents/{id}",
            patch(edit_incident).delete(delete_incident),
        )
        .route(
            "/api/admin/v1/incidents/{id}/updates/{update_id}",
            patch(edit_update).delete(delete_update),
        )
        .route(
            "/api/admin/v1/components/{id}",
            patch(edit_component).delete(delete_component),
        )
}

fn id(raw: &str, what: &'static str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(what))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentChange {
    name: Option<String>,
    impact: Option<String>,
    /// The whole new set of affected components, as ids (strings, as the API gives them, or
    /// numbers).
    component_ids: Option<Vec<Value>>,
}

async fn edit_incident(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<IncidentChange>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = id(&raw_id, "incident")?;
    let ids: Option<Vec<String>> = body.component_ids.as_ref().map(|ids| {
        ids.iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            })
            .collect()
    });
    let edit = IncidentEdit::parse(&RawIncidentEdit {
        name: body.name.as_deref(),
        impact: body.impact.as_deref(),
        component_ids: ids
            .as_ref()
            .map(|ids| ids.iter().map(String::as_str).collect()),
    })?;
    state.edit_incident(&caller.actor(), id, &edit).await?;
    let incident = state.store.incident(id).await?;
    let components = state.store.components().await?;
    Ok(Json(incident_value(&state.cache.site(), &components, &incident)).into_response())
}

async fn delete_incident(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let id = id(&raw_id, "incident")?;
    state.delete_incident(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateChange {
    body: Option<String>,
    display_at: Option<String>,
    /// Empty removes it (`tweet` is accepted too).
    #[serde(alias = "tweet")]
    custom_tweet: Option<String>,
}

/// The update `update_id` of incident `id`: 404 when either is unknown or the update belongs
/// to another incident.
async fn update_of(
    state: &AppState,
    raw_id: &str,
    raw_update_id: &str,
) -> Result<(i64, i64), ApiError> {
    let incident_id = id(raw_id, "incident")?;
    let update_id = id(raw_update_id, "update")?;
    if state.store.incident_id_of_update(update_id).await? != incident_id {
        return Err(ApiError::NotFound("update"));
    }
    Ok((incident_id, update_id))
}

async fn edit_update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((raw_id, raw_update_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateChange>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let (incident_id, update_id) = update_of(&state, &raw_id, &raw_update_id).await?;
    let edit = UpdateEdit::parse(
        &RawUpdateEdit {
            body: body.body.as_deref(),
            display_at: body.display_at.as_deref(),
            custom_tweet: body.custom_tweet.as_deref(),
        },
        domain::now(),
    )?;
    state.edit_update(&caller.actor(), update_id, &edit).await?;
    let incident = state.store.incident(incident_id).await?;
    let update = incident
        .updates
        .iter()
        .find(|u| u.id == update_id)
        .ok_or(ApiError::NotFound("update"))?;
    Ok(Json(update_value(&incident, update)).into_response())
}

async fn delete_update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((raw_id, raw_update_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let (_, update_id) = update_of(&state, &raw_id, &raw_update_id).await?;
    state.delete_update(&caller.actor(), update_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentChange {
    name: Option<String>,
    description: Option<String>,
    /// Empty takes the component out of its group.
    group: Option<String>,
    position: Option<i64>,
    /// Set directly, outside any incident.
    status: Option<String>,
    /// Whether the public page shows its uptime.
    show_uptime: Option<bool>,
}

async fn edit_component(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(raw_id): Path<String>,
    ApiJson(body): ApiJson<ComponentChange>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = id(&raw_id, "component")?;
    let current = state
        .store
        .components()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(ApiError::NotFound("component"))?;
    // Every field is checked before anything changes.
    let mut problems: Vec<FieldError> = Vec::new();
    let status = match body.status.as_deref() {
        Some(raw) => match ComponentStatus::parse("status", raw) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(e);
                None
            }
        },
        None => None,
    };
    let described = body.name.is_some()
        || body.description.is_some()
        || body.group.is_some()
        || body.position.is_some()
        || body.show_uptime.is_some_and(|s| s != current.show_uptime);
    let draft = match ComponentDraft::parse(
        body.name.as_deref().unwrap_or(&current.name),
        Some(body.description.as_deref().unwrap_or(&current.description)),
        body.group.as_deref().or(current.group.as_deref()),
        Some(body.position.unwrap_or(current.position)),
    ) {
        Ok(d) => Some(ComponentDraft {
            show_uptime: body.show_uptime.unwrap_or(current.show_uptime),
            ..d
        }),
        Err(Invalid(e)) => {
            problems.extend(e);
            None
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::Invalid(Invalid(problems)));
    }
    let actor = caller.actor();
    let mut component = current;
    if let (true, Some(draft)) = (described, draft) {
        component = state.update_component(&actor, id, &draft).await?;
    }
    if let Some(status) = status.filter(|s| *s != component.status) {
        component = state.set_component_status(&actor, id, status).await?;
    }
    Ok(Json(component_value(&state.cache.site(), &component)).into_response())
}

async fn delete_component(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let id = id(&raw_id, "component")?;
    state.delete_component(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
