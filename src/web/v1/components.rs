//! Components: list, create, get, patch, put (name, description, group, position, status),
//! delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::V1Caller;
use super::error::{V1Error, V1Result};
use super::form::{self, V1Body};
use super::{component_json, group_ids, numeric_id};
use crate::domain::{Choice, Component, ComponentDraft, ComponentStatus, Role};
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/pages/{page_id}/components",
            get(list_components).post(create_component),
        )
        .route(
            "/v1/pages/{page_id}/components/{component_id}",
            get(show_component)
                .patch(change_component)
                .put(change_component)
                .delete(delete_component),
        )
}

async fn list_components(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let groups = group_ids(&state).await?;
    let components = state.store.components().await?;
    Ok(Json(Value::Array(
        components
            .iter()
            .map(|c| component_json(&state, &groups, c))
            .collect(),
    )))
}

async fn find(state: &AppState, id: &str) -> V1Result<Component> {
    let id = numeric_id(id, "component")?;
    state
        .store
        .components()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| V1Error::not_found("component"))
}

/// The group a `group_id` names, by its name (what members carry); `""` or null: no group.
async fn group_name(state: &AppState, group_id: Option<String>) -> V1Result<Option<String>> {
    match group_id.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(id) => match state.store.component_group(id).await {
            Ok(group) => Ok(Some(group.name)),
            Err(crate::store::StoreError::NotFound(_)) => Err(V1Error::invalid(
                "group_id",
                "no component group has this id",
            )),
            Err(e) => Err(e.into()),
        },
    }
}

/// The status a body gives a component, if any.
fn status_of(component: &serde_json::Map<String, Value>) -> V1Result<Option<ComponentStatus>> {
    match form::text(component, "status")?.filter(|s| !s.trim().is_empty()) {
        Some(raw) => Ok(Some(ComponentStatus::parse("status", &raw)?)),
        None => Ok(None),
    }
}

async fn create_component(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    V1Body(body): V1Body,
) -> V1Result<Response> {
    caller.require(Role::Responder)?;
    let c = form::object(&body, "component")?;
    let status = status_of(c)?;
    let name = form::text(c, "name")?.unwrap_or_default();
    let description = form::text(c, "description")?;
    let group = group_name(&state, form::text(c, "group_id")?).await?;
    let position = form::int(c, "position")?;
    let mut draft =
        ComponentDraft::parse(&name, description.as_deref(), group.as_deref(), position)?;
    // Statuspage's `showcase`: whether the page shows the component's uptime.
    draft.show_uptime = form::flag(c, "showcase")?.unwrap_or(true);
    let mut component = state.create_component(&caller.actor(), &draft).await?;
    if let Some(status) = status.filter(|s| *s != component.status) {
        component = state
            .set_component_status(&caller.actor(), component.id, status)
            .await?;
    }
    let groups = group_ids(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(component_json(&state, &groups, &component)),
    )
        .into_response())
}

async fn show_component(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let component = find(&state, &id).await?;
    let groups = group_ids(&state).await?;
    Ok(Json(component_json(&state, &groups, &component)))
}

/// PATCH and PUT alike: the fields given change, the rest stay.
async fn change_component(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
    V1Body(body): V1Body,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let current = find(&state, &id).await?;
    let c = form::object(&body, "component")?;
    let status = status_of(c)?;
    let name = form::text(c, "name")?.unwrap_or_else(|| current.name.clone());
    let description = form::text(c, "description")?.unwrap_or_else(|| current.description.clone());
    let group = if c.contains_key("group_id") {
        group_name(&state, form::text(c, "group_id")?).await?
    } else {
        current.group.clone()
    };
    let position = form::int(c, "position")?.unwrap_or(current.position);
    let mut draft =
        ComponentDraft::parse(&name, Some(&description), group.as_deref(), Some(position))?;
    draft.show_uptime = form::flag(c, "showcase")?.unwrap_or(current.show_uptime);
    let unchanged = draft.name == current.name
        && draft.description == current.description
        && draft.group == current.group
        && draft.position == current.position
        && draft.show_uptime == current.show_uptime;
    let mut component = if unchanged {
        current.clone()
    } else {
        state
            .update_component(&caller.actor(), current.id, &draft)
            .await?
    };
    if let Some(status) = status.filter(|s| *s != current.status) {
        component = state
            .set_component_status(&caller.actor(), current.id, status)
            .await?;
    }
    let groups = group_ids(&state).await?;
    Ok(Json(component_json(&state, &groups, &component)))
}

/// Statuspage answers a component's deletion with 204 and no body. Admins only, as in the
/// admin API.
async fn delete_component(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<StatusCode> {
    caller.require(Role::Admin)?;
    let component = find(&state, &id).await?;
    state
        .delete_component(&caller.actor(), component.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
