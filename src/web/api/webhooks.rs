//! `/api/admin/v1/webhooks`: admins add, list, test and remove webhook subscriptions (generic,
//! Slack, Discord, Teams). A new generic webhook's signing secret is shown once, in the answer
//! to the `POST` that created it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::super::auth::{ApiCaller, ApiJson};
use super::super::error::ApiError;
use super::super::AppState;
use crate::app::hooks::HookRequest;
use crate::domain::{self, FieldError, Invalid, Role};
use crate::store::HookRow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/webhooks", get(list_hooks).post(add_hook))
        .route("/api/admin/v1/webhooks/{id}", delete(remove_hook))
        .route("/api/admin/v1/webhooks/{id}/test", post(test_hook))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHook {
    url: String,
    kind: Option<String>,
    email: Option<String>,
    components: Option<Vec<String>>,
    /// The company's own channel rather than a customer's (default true for admins).
    #[serde(default = "company")]
    company: bool,
}

fn company() -> bool {
    true
}

fn hook_json(h: &HookRow, components: &[i64]) -> serde_json::Value {
    json!({
        "id": h.id.to_string(),
        "kind": h.kind,
        "host": h.host,
        "email": h.email,
        "owner": h.owner,
        "components": if h.all_components { serde_json::Value::Null } else {
            serde_json::Value::from(components.iter().map(i64::to_string).collect::<Vec<_>>())
        },
        "active": h.activated_at.is_some() && h.disabled_at.is_none(),
        "created_at": domain::rfc3339(&h.created_at),
        "activated_at": h.activated_at.as_ref().map(domain::rfc3339),
        "disabled_at": h.disabled_at.as_ref().map(domain::rfc3339),
        "disabled_reason": h.disabled_reason,
        "failures": h.failures,
        "last_error": h.last_error,
        "last_success_at": h.last_success_at.as_ref().map(domain::rfc3339),
    })
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .map_err(|_| ApiError::NotFound("webhook"))
}

async fn add_hook(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<NewHook>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let mut ids = Vec::new();
    for raw in body.components.iter().flatten() {
        ids.push(raw.trim().parse::<i64>().map_err(|_| {
            ApiError::Invalid(Invalid(vec![FieldError::new(
                "components",
                format!("\"{raw}\" is not a component id"),
            )]))
        })?);
    }
    let added = state
        .add_hook(
            &caller.actor(),
            &HookRequest {
                url: &body.url,
                kind: body.kind.as_deref(),
                email: body.email.as_deref(),
                components: body.components.is_some().then_some(ids.as_slice()),
                company: body.company,
                public: false,
            },
        )
        .await?;
    let mut answer = hook_json(&added.hook, &ids);
    answer["secret"] = json!(added.secret);
    answer["test"] = test_json(&added.test);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

fn test_json(
    result: &Result<crate::channels::Receipt, crate::channels::SendError>,
) -> serde_json::Value {
    match result {
        Ok(receipt) => json!({ "ok": true, "answer": receipt }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

async fn list_hooks(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let mut out = Vec::new();
    for h in state.store.hooks().await? {
        let components = state.store.hook_components(h.id).await?;
        out.push(hook_json(&h, &components));
    }
    Ok(Json(json!({ "webhooks": out })).into_response())
}

async fn remove_hook(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let id = parse_id(&id)?;
    if state.remove_hook(&caller.actor(), id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("webhook"))
    }
}

async fn test_hook(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let id = parse_id(&id)?;
    let result = state.test_hook(&caller.actor(), id).await?;
    let hook = state
        .store
        .hook(id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    let components = state.store.hook_components(id).await?;
    let mut answer = hook_json(&hook, &components);
    answer["test"] = test_json(&result);
    Ok(Json(answer).into_response())
}
