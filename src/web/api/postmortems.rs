//! `/api/admin/v1/incidents/{id}/postmortem`: read, write (draft), publish, revert to a draft
//! and delete an incident's postmortem. Viewers read; responders do the rest.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::super::auth::{ApiCaller, ApiJson, ApiJsonOrEmpty};
use super::super::error::ApiError;
use super::super::AppState;
use crate::app::postmortems::PublishPostmortem;
use crate::domain::{self, Incident, Invalid, Role};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/admin/v1/incidents/{id}/postmortem",
            get(show).put(save).delete(remove),
        )
        .route(
            "/api/admin/v1/incidents/{id}/postmortem/publish",
            post(publish),
        )
        .route(
            "/api/admin/v1/incidents/{id}/postmortem/revert",
            post(revert),
        )
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound("incident"))
}

/// The postmortem as staff see it: the draft too. `status` is `none`, `draft` or `published`.
fn postmortem_json(i: &Incident) -> serde_json::Value {
    let p = i.postmortem.as_ref();
    json!({
        "incident_id": i.id.to_string(),
        "status": match p {
            None => "none",
            Some(p) if p.is_published() => "published",
            Some(_) => "draft",
        },
        "body": p.map(|p| p.body.clone()),
        "updated_at": p.map(|p| domain::rfc3339(&p.updated_at)),
        "published_at": p.and_then(|p| p.published_at.as_ref().map(domain::rfc3339)),
        "incident_status": domain::Choice::as_str(i.status),
    })
}

async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let incident = state.store.incident(parse_id(&id)?).await?;
    Ok(Json(postmortem_json(&incident)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Draft {
    body: String,
}

async fn save(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Draft>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id)?;
    state
        .save_postmortem_draft(&caller.actor(), id, &body.body)
        .await?;
    let incident = state.store.incident(id).await?;
    Ok(Json(postmortem_json(&incident)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Publish {
    /// Tell subscribers with an update of status `postmortem` carrying the text.
    #[serde(default)]
    notify: bool,
    /// With `notify`, the channels by name; default every subscriber channel, plus X per
    /// `post_to_x`.
    channels: Option<Vec<String>>,
    /// With `notify`, post to X too. Default true, unless `channels` names the channels.
    post_to_x: Option<bool>,
    /// The post on X instead of the composed one (`tweet` is accepted too).
    #[serde(alias = "tweet")]
    custom_tweet: Option<String>,
}

async fn publish(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJsonOrEmpty(body): ApiJsonOrEmpty<Publish>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id)?;
    let asked: Option<Vec<&str>> = body
        .channels
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    let channels = domain::resolve_channels(
        body.notify,
        asked.as_deref(),
        body.post_to_x.unwrap_or(body.channels.is_none()),
    )
    .map_err(|e| ApiError::Invalid(Invalid(vec![e])))?;
    let how = PublishPostmortem {
        notify: body.notify,
        channels,
        custom_tweet: body.custom_tweet,
    };
    let outcome = state.publish_postmortem(&caller.actor(), id, &how).await?;
    let incident = state.store.incident(id).await?;
    let mut json = postmortem_json(&incident);
    json["update_id"] = outcome
        .update
        .map_or(serde_json::Value::Null, |p| p.update_id.to_string().into());
    Ok(Json(json).into_response())
}

async fn revert(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id)?;
    state.revert_postmortem(&caller.actor(), id).await?;
    let incident = state.store.incident(id).await?;
    Ok(Json(postmortem_json(&incident)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    state
        .delete_postmortem(&caller.actor(), parse_id(&id)?)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
