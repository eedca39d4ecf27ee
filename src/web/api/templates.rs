//! `/api/admin/v1/templates`: incident templates. Viewers read them; responders create, change
//! and remove them. `template_id` on a new incident or update starts it from one (see `mod.rs`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::super::auth::{ApiCaller, ApiJson};
use super::super::error::ApiError;
use super::super::AppState;
use crate::domain::{self, Choice, RawTemplate, Role, Template, TemplateDraft};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/templates", get(list).post(create))
        .route(
            "/api/admin/v1/templates/{id}",
            get(show).patch(update).delete(remove),
        )
}

pub fn template_json(t: &Template) -> serde_json::Value {
    json!({
        "id": t.id.to_string(),
        "name": t.name,
        "title": t.title,
        "body": t.body,
        "update_status": t.update_status.as_str(),
        "components": t.components.iter().map(|(id, s)| json!({
            "id": id.to_string(),
            "status": s.map(|s| s.as_str()),
        })).collect::<Vec<_>>(),
        "should_tweet": t.should_tweet,
        "should_send_notifications": t.should_send_notifications,
        "group_id": t.group_id,
        "created_at": domain::rfc3339(&t.created_at),
        "updated_at": domain::rfc3339(&t.updated_at),
    })
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("template"))
}

/// The components a template names: `{id: status}` (null: named, unchanged) or a list of ids.
#[derive(Deserialize)]
#[serde(untagged)]
enum ComponentsIn {
    Statuses(BTreeMap<String, Option<String>>),
    Ids(Vec<serde_json::Value>),
}

impl ComponentsIn {
    fn pairs(&self) -> Vec<(String, Option<String>)> {
        match self {
            ComponentsIn::Statuses(map) => {
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            ComponentsIn::Ids(ids) => ids
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => (s.clone(), None),
                    other => (other.to_string(), None),
                })
                .collect(),
        }
    }
}

/// A template's fields; on `PATCH` every one is optional and only those given change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateIn {
    name: Option<String>,
    title: Option<String>,
    body: Option<String>,
    update_status: Option<String>,
    components: Option<ComponentsIn>,
    should_tweet: Option<bool>,
    should_send_notifications: Option<bool>,
    group_id: Option<String>,
}

impl TemplateIn {
    /// Parses the template these fields make on top of `base` (a new one: nothing).
    fn draft(&self, base: Option<&Template>) -> Result<TemplateDraft, ApiError> {
        let pick = |given: &Option<String>, old: Option<&str>| -> String {
            given
                .clone()
                .or_else(|| old.map(str::to_string))
                .unwrap_or_default()
        };
        let name = pick(&self.name, base.map(|t| t.name.as_str()));
        let title = pick(&self.title, base.map(|t| t.title.as_str()));
        let body = pick(&self.body, base.map(|t| t.body.as_str()));
        let update_status = pick(&self.update_status, base.map(|t| t.update_status.as_str()));
        let components: Vec<(String, Option<String>)> = match (&self.components, base) {
            (Some(c), _) => c.pairs(),
            (None, Some(t)) => t
                .components
                .iter()
                .map(|(id, s)| (id.to_string(), s.map(|s| s.as_str().to_string())))
                .collect(),
            (None, None) => Vec::new(),
        };
        let group_id = self
            .group_id
            .clone()
            .or_else(|| base.and_then(|t| t.group_id.clone()));
        let raw = RawTemplate {
            name: &name,
            title: &title,
            body: &body,
            update_status: &update_status,
            components: components
                .iter()
                .map(|(id, s)| (id.as_str(), s.as_deref()))
                .collect(),
            should_tweet: self
                .should_tweet
                .unwrap_or(base.is_some_and(|t| t.should_tweet)),
            should_send_notifications: self
                .should_send_notifications
                .unwrap_or(base.is_some_and(|t| t.should_send_notifications)),
            group_id: group_id.as_deref(),
        };
        Ok(TemplateDraft::parse(&raw)?)
    }
}

async fn list(State(state): State<AppState>, caller: ApiCaller) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let templates: Vec<_> = state
        .store
        .templates()
        .await?
        .iter()
        .map(template_json)
        .collect();
    Ok(Json(json!({ "templates": templates })).into_response())
}

async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<TemplateIn>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let draft = body.draft(None)?;
    let template = state.create_template(&caller.actor(), &draft).await?;
    Ok((StatusCode::CREATED, Json(template_json(&template))).into_response())
}

async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let template = state.store.template(parse_id(&id)?).await?;
    Ok(Json(template_json(&template)).into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TemplateIn>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id)?;
    let current = state.store.template(id).await?;
    let draft = body.draft(Some(&current))?;
    let template = state.update_template(&caller.actor(), id, &draft).await?;
    Ok(Json(template_json(&template)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    state
        .delete_template(&caller.actor(), parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
