//! Component groups: list, create, get, patch, put, delete. A group's id stays the same across
//! renames and is the `group_id` its members show here and in `/api/v2`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::auth::V1Caller;
use super::error::{V1Error, V1Result};
use super::form::{self, V1Body};
use super::group_json;
use crate::domain::{FieldError, Invalid, Role};
use crate::store::GroupChange;
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/pages/{page_id}/component-groups",
            get(list_groups).post(create_group),
        )
        .route(
            "/v1/pages/{page_id}/component-groups/{id}",
            get(show_group)
                .patch(change_group)
                .put(change_group)
                .delete(delete_group),
        )
}

/// What a body asks for: `{"description": …, "component_group": {"name", "components"}}`
/// (the description is accepted inside `component_group` too).
fn parse_change(body: &Value) -> V1Result<GroupChange> {
    let group = form::object(body, "component_group")?;
    let top = body.as_object().cloned().unwrap_or_else(Map::new);
    let mut problems = Vec::new();
    let name = match form::text(group, "name")? {
        Some(raw) => match crate::domain::ComponentDraft::parse(&raw, None, None, None) {
            Ok(draft) => Some(draft.name),
            Err(Invalid(errors)) => {
                problems.extend(errors);
                None
            }
        },
        None => None,
    };
    let description = match form::text(group, "description")? {
        Some(d) => Some(d),
        None => form::text(&top, "description")?,
    };
    if let Some(Err(e)) = description.as_deref().map(|d| {
        crate::domain::check_bounded(
            "description",
            d.trim(),
            crate::domain::TextShape::MultiLine,
            1000,
        )
    }) {
        problems.push(e);
    }
    let component_ids = match form::ids(group, "components")? {
        Some(raw) => {
            let mut ids = Vec::new();
            for id in raw {
                match id.parse::<i64>() {
                    Ok(id) => ids.push(id),
                    Err(_) => problems.push(FieldError::new(
                        "components",
                        format!("\"{id}\" is not a component id"),
                    )),
                }
            }
            Some(ids)
        }
        None => None,
    };
    if !problems.is_empty() {
        return Err(Invalid(problems).into());
    }
    Ok(GroupChange {
        name,
        description: description.map(|d| d.trim().to_string()),
        component_ids,
    })
}

async fn list_groups(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let groups = state.store.component_groups().await?;
    Ok(Json(Value::Array(
        groups.iter().map(|g| group_json(&state, g)).collect(),
    )))
}

async fn create_group(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    V1Body(body): V1Body,
) -> V1Result<Response> {
    caller.require(Role::Responder)?;
    let change = parse_change(&body)?;
    let Some(name) = change.name else {
        return Err(V1Error::invalid("name", "must not be empty"));
    };
    let group = state
        .create_component_group(
            &caller.actor(),
            &name,
            change.description.as_deref().unwrap_or(""),
            change.component_ids.as_deref().unwrap_or(&[]),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(group_json(&state, &group))).into_response())
}

async fn show_group(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let group = state.store.component_group(&id).await?;
    Ok(Json(group_json(&state, &group)))
}

async fn change_group(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
    V1Body(body): V1Body,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    // Unknown group: 404 before the body is judged.
    state.store.component_group(&id).await?;
    let change = parse_change(&body)?;
    let group = state
        .update_component_group(&caller.actor(), &id, &change)
        .await?;
    Ok(Json(group_json(&state, &group)))
}

/// Statuspage answers a group's deletion with the group as it was.
async fn delete_group(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let group = state.delete_component_group(&caller.actor(), &id).await?;
    Ok(Json(group_json(&state, &group)))
}
