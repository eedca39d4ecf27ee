//! Incident templates: list and create (`{"template": {name, title, body, group_id,
//! update_status, should_tweet, should_send_notifications, component_ids}}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::V1Caller;
use super::error::V1Result;
use super::form::{self, V1Body};
use super::{component_json, group_ids};
use crate::domain::template::{RawTemplate, Template, TemplateDraft};
use crate::domain::{Choice, Component, Role};
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/pages/{page_id}/incident_templates",
        get(list_templates).post(create_template),
    )
}

fn template_json(
    state: &AppState,
    groups: &std::collections::HashMap<String, String>,
    components: &[Component],
    t: &Template,
) -> Value {
    let named: Vec<Value> = t
        .components
        .iter()
        .filter_map(|(id, _)| components.iter().find(|c| c.id == *id))
        .map(|c| component_json(state, groups, c))
        .collect();
    json!({
        "id": t.id.to_string(),
        "components": named,
        "name": t.name,
        "title": t.title,
        "body": t.body,
        "group_id": t.group_id,
        "update_status": t.update_status.as_str(),
        "should_tweet": t.should_tweet,
        "should_send_notifications": t.should_send_notifications,
    })
}

async fn list_templates(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let templates = state.store.templates().await?;
    let components = state.store.components().await?;
    let groups = group_ids(&state).await?;
    Ok(Json(Value::Array(
        templates
            .iter()
            .map(|t| template_json(&state, &groups, &components, t))
            .collect(),
    )))
}

async fn create_template(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    V1Body(body): V1Body,
) -> V1Result<Response> {
    caller.require(Role::Responder)?;
    let t = form::object(&body, "template")?;
    let name = form::text(t, "name")?.unwrap_or_default();
    let title = form::text(t, "title")?.unwrap_or_default();
    let text = form::text(t, "body")?.unwrap_or_default();
    let update_status = form::text(t, "update_status")?.unwrap_or_default();
    let group_id = form::text(t, "group_id")?;
    let ids = form::ids(t, "component_ids")?.unwrap_or_default();
    let draft = TemplateDraft::parse(&RawTemplate {
        name: &name,
        title: &title,
        body: &text,
        update_status: &update_status,
        components: ids.iter().map(|id| (id.as_str(), None)).collect(),
        should_tweet: form::flag(t, "should_tweet")?.unwrap_or(false),
        should_send_notifications: form::flag(t, "should_send_notifications")?.unwrap_or(false),
        group_id: group_id.as_deref(),
    })?;
    let template = state.create_template(&caller.actor(), &draft).await?;
    let components = state.store.components().await?;
    let groups = group_ids(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(template_json(&state, &groups, &components, &template)),
    )
        .into_response())
}
