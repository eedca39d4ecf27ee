//! The admin API (`/api/admin/v1`): what the admin pages do, for scripts and monitoring.
//! Bearer-token authentication, JSON in and out, errors as `{"errors": [...]}`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::{ApiCaller, ApiJson};
use super::error::ApiError;
use super::AppState;
use crate::domain::incident::RawUpdate;
use crate::domain::{self, ComponentDraft, IncidentDraft, MaintenanceDraft, Role, UpdateDraft};
use crate::render::api::{component_value, incident_value, update_value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/admin/v1/components",
            get(list_components).post(create_component),
        )
        .route("/api/admin/v1/incidents", post(open_incident))
        .route("/api/admin/v1/incidents/{id}", get(show_incident))
        .route("/api/admin/v1/incidents/{id}/updates", post(post_update))
        .route("/api/admin/v1/maintenances", post(schedule_maintenance))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComponent {
    name: String,
    description: Option<String>,
    group: Option<String>,
    position: Option<i64>,
}

async fn list_components(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let site = state.cache.site();
    let components: Vec<_> = state
        .store
        .components()
        .await?
        .iter()
        .map(|c| component_value(site, c))
        .collect();
    Ok(Json(serde_json::json!({ "components": components })).into_response())
}

async fn create_component(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewComponent>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let draft = ComponentDraft::parse(
        &body.name,
        body.description.as_deref(),
        body.group.as_deref(),
        body.position,
    )?;
    let component = state.store.create_component(&draft).await?;
    state.cache.refresh().await;
    Ok((
        StatusCode::CREATED,
        Json(component_value(state.cache.site(), &component)),
    )
        .into_response())
}

/// The fields every update takes, at the top level of both incident and update bodies.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUpdate {
    status: String,
    body: String,
    #[serde(default)]
    components: BTreeMap<String, String>,
    #[serde(default)]
    notify: bool,
    tweet: Option<String>,
    display_at: Option<String>,
}

impl NewUpdate {
    fn raw(&self) -> RawUpdate<'_> {
        RawUpdate {
            status: &self.status,
            body: &self.body,
            components: self
                .components
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            notify: self.notify,
            tweet: self.tweet.as_deref(),
            display_at: self.display_at.as_deref(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewIncident {
    name: String,
    impact: String,
    status: String,
    body: String,
    #[serde(default)]
    components: BTreeMap<String, String>,
    #[serde(default)]
    notify: bool,
    tweet: Option<String>,
    display_at: Option<String>,
}

impl NewIncident {
    fn first_update(&self) -> RawUpdate<'_> {
        RawUpdate {
            status: &self.status,
            body: &self.body,
            components: self
                .components
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            notify: self.notify,
            tweet: self.tweet.as_deref(),
            display_at: self.display_at.as_deref(),
        }
    }
}

async fn open_incident(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewIncident>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let draft = IncidentDraft::parse(
        &body.name,
        &body.impact,
        &body.first_update(),
        domain::now(),
    )?;
    let published = state.store.open_incident(&draft, &caller.author()).await?;
    state.cache.refresh().await;
    let mut json = incident_json(&state, published.incident_id).await?;
    json["update_id"] = serde_json::Value::String(published.update_id.to_string());
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn show_incident(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(incident_json(&state, parse_id(&id)?).await?).into_response())
}

async fn post_update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewUpdate>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id)?;
    let draft = UpdateDraft::parse(None, &body.raw(), domain::now())?;
    let published = state
        .store
        .post_update(id, &draft, &caller.author())
        .await?;
    state.cache.refresh().await;
    let incident = state.store.incident(id).await?;
    let update = incident
        .updates
        .iter()
        .find(|u| u.id == published.update_id)
        .ok_or(ApiError::NotFound("update"))?;
    Ok((StatusCode::CREATED, Json(update_value(&incident, update))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMaintenance {
    name: String,
    body: String,
    scheduled_for: String,
    scheduled_until: String,
    /// Statuspage-style `{id: status}`; the status given is what the component shows while the
    /// window is in progress (under_maintenance is the usual choice).
    #[serde(default)]
    components: BTreeMap<String, String>,
    #[serde(default)]
    notify: bool,
}

async fn schedule_maintenance(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewMaintenance>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let ids: Vec<&str> = body.components.keys().map(String::as_str).collect();
    let draft = MaintenanceDraft::parse(
        &body.name,
        &body.body,
        &body.scheduled_for,
        &body.scheduled_until,
        &ids,
        body.notify,
        domain::now(),
    )?;
    let published = state
        .store
        .schedule_maintenance(&draft, &caller.author())
        .await?;
    state.cache.refresh().await;
    let mut json = incident_json(&state, published.incident_id).await?;
    json["update_id"] = serde_json::Value::String(published.update_id.to_string());
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn incident_json(state: &AppState, id: i64) -> Result<serde_json::Value, ApiError> {
    let incident = state.store.incident(id).await?;
    let components = state.store.components().await?;
    Ok(incident_value(state.cache.site(), &components, &incident))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("incident"))
}
