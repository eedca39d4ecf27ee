//! Breach mode in the admin API: `POST /api/admin/v1/breach` starts it (or, with `dry_run`,
//! answers what it would send), `DELETE` ends it. Admin tokens only; both are audited by the act.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::app::breach::BreachPreview;
use crate::domain::{self, Role};
use crate::store::Breach;
use crate::web::auth::{ApiCaller, ApiJson};
use crate::web::error::ApiError;
use crate::web::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBody {
    title: String,
    statement: String,
    #[serde(default)]
    dry_run: bool,
}

fn preview_json(p: &BreachPreview) -> serde_json::Value {
    json!({
        "title": p.title,
        "html": p.html,
        "x_text": p.x_text,
        "channels": p.channels.iter().map(|c| json!({
            "channel": c.channel,
            "recipients": c.recipients,
        })).collect::<Vec<_>>(),
    })
}

fn breach_json(b: &Breach) -> serde_json::Value {
    json!({
        "id": b.id,
        "incident_id": b.incident_id.to_string(),
        "update_id": b.update_id.to_string(),
        "title": b.title,
        "started_at": domain::rfc3339(&b.started_at),
        "started_by": b.started_by,
        "ended_at": b.ended_at.as_ref().map(domain::rfc3339),
        "ended_by": b.ended_by,
    })
}

/// Starts breach mode (201 with the breach), or with `dry_run` answers what it would send.
pub(super) async fn start(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let preview = state.preview_breach(&body.title, &body.statement).await?;
    if body.dry_run {
        return Ok(Json(preview_json(&preview)).into_response());
    }
    let breach = state
        .start_breach(&caller.actor(), &body.title, &body.statement)
        .await?;
    let mut answer = breach_json(&breach);
    answer["channels"] = preview_json(&preview)["channels"].clone();
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Ends breach mode; 404 when it was not on. Outbound stays paused.
pub(super) async fn end(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    match state.end_breach(&caller.actor()).await? {
        Some(b) => Ok(Json(breach_json(&b)).into_response()),
        None => Err(ApiError::NotFound("open breach")),
    }
}
