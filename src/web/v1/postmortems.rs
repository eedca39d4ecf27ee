//! An incident's postmortem: get, put (the draft), publish, revert, delete. Herald keeps one
//! text per postmortem: `body_draft` is it, and `body` is it once published.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::V1Caller;
use super::error::{V1Error, V1Result};
use super::form::{self, V1Body};
use super::numeric_id;
use crate::app::postmortems::PublishPostmortem;
use crate::domain::{self, rfc3339, Postmortem, Role};
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/pages/{page_id}/incidents/{incident_id}/postmortem",
            get(show_postmortem)
                .put(save_draft)
                .delete(delete_postmortem),
        )
        .route(
            "/v1/pages/{page_id}/incidents/{incident_id}/postmortem/publish",
            put(publish),
        )
        .route(
            "/v1/pages/{page_id}/incidents/{incident_id}/postmortem/revert",
            put(revert),
        )
}

fn postmortem_json(p: &Postmortem, notified: Option<(bool, bool)>) -> Value {
    let updated = rfc3339(&p.updated_at);
    let (subscribers, twitter) = notified.unwrap_or((false, false));
    json!({
        "preview_key": Value::Null,
        "body": p.is_published().then(|| p.body.clone()),
        "body_updated_at": p.is_published().then(|| updated.clone()),
        "body_draft": p.body,
        "body_draft_updated_at": updated,
        "published_at": p.published_at.as_ref().map(rfc3339),
        "notify_subscribers": subscribers,
        "notify_twitter": twitter,
        "custom_tweet": Value::Null,
        "created_at": rfc3339(&p.updated_at),
        "updated_at": rfc3339(&p.updated_at),
    })
}

async fn postmortem_of(state: &AppState, incident_id: &str) -> V1Result<(i64, Option<Postmortem>)> {
    let id = numeric_id(incident_id, "incident")?;
    let incident = state.store.incident(id).await?;
    Ok((id, incident.postmortem))
}

async fn show_postmortem(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, incident_id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    let (_, postmortem) = postmortem_of(&state, &incident_id).await?;
    let postmortem = postmortem.ok_or_else(|| V1Error::not_found("postmortem"))?;
    Ok(Json(postmortem_json(&postmortem, None)))
}

async fn save_draft(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, incident_id)): Path<(String, String)>,
    V1Body(body): V1Body,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let (id, _) = postmortem_of(&state, &incident_id).await?;
    let p = form::object(&body, "postmortem")?;
    let text = match form::text(p, "body_draft")? {
        Some(t) => t,
        None => form::text(p, "body")?.unwrap_or_default(),
    };
    let postmortem = state
        .save_postmortem_draft(&caller.actor(), id, &text)
        .await?;
    Ok(Json(postmortem_json(&postmortem, None)))
}

async fn publish(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, incident_id)): Path<(String, String)>,
    V1Body(body): V1Body,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let (id, _) = postmortem_of(&state, &incident_id).await?;
    let p = form::object(&body, "postmortem")?;
    let subscribers = form::flag(p, "notify_subscribers")?.unwrap_or(false);
    let twitter = form::flag(p, "notify_twitter")?.unwrap_or(false);
    let notify = subscribers || twitter;
    // Subscribers: every channel with an audience of its own; twitter: the connected X account.
    let channels = match (subscribers, twitter) {
        (false, false) => Vec::new(),
        (true, x) => domain::resolve_channels(true, None, x)?,
        (false, true) => domain::resolve_channels(true, Some(&["x"]), false)?,
    };
    let custom_tweet = form::text(p, "custom_tweet")?.filter(|t| !t.trim().is_empty());
    let outcome = state
        .publish_postmortem(
            &caller.actor(),
            id,
            &PublishPostmortem {
                notify,
                channels,
                custom_tweet,
            },
        )
        .await?;
    Ok(Json(postmortem_json(
        &outcome.postmortem,
        Some((subscribers, twitter)),
    )))
}

async fn revert(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, incident_id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Responder)?;
    let (id, _) = postmortem_of(&state, &incident_id).await?;
    let postmortem = state.revert_postmortem(&caller.actor(), id).await?;
    Ok(Json(postmortem_json(&postmortem, None)))
}

/// Statuspage answers a postmortem's deletion with 204.
async fn delete_postmortem(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, incident_id)): Path<(String, String)>,
) -> V1Result<StatusCode> {
    caller.require(Role::Responder)?;
    let (id, _) = postmortem_of(&state, &incident_id).await?;
    state.delete_postmortem(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
