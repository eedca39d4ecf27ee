//! `GET /v1/pages` (the one page of this install) and `GET /v1/pages/{page_id}`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::V1Caller;
use super::error::V1Result;
use crate::domain::{rfc3339, Role};
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/pages", get(list_pages))
        .route("/v1/pages/{page_id}", get(show_page))
}

async fn page_json(state: &AppState) -> V1Result<Value> {
    let site = state.cache.site();
    let components = state.store.components().await?;
    let incidents = state.store.incidents().await?;
    let created = components
        .iter()
        .map(|c| c.created_at)
        .chain(incidents.iter().map(|i| i.created_at))
        .min()
        .unwrap_or_else(crate::domain::now);
    let updated = components
        .iter()
        .map(|c| c.updated_at)
        .chain(incidents.iter().map(|i| i.updated_at))
        .max()
        .unwrap_or(created);
    let host = url::Url::parse(&site.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    Ok(json!({
        "id": site.page_id,
        "created_at": rfc3339(&created),
        "updated_at": rfc3339(&updated),
        "name": site.name,
        "page_description": "",
        "headline": "",
        "branding": "basic",
        "subdomain": Value::Null,
        "domain": host,
        "url": site.url,
        "support_url": Value::Null,
        "hidden_from_search": false,
        "allow_page_subscribers": true,
        "allow_incident_subscribers": false,
        "allow_email_subscribers": true,
        "allow_sms_subscribers": false,
        "allow_rss_atom_feeds": true,
        "allow_webhook_subscribers": true,
        "notifications_from_email": state.config.mail_from,
        "notifications_email_footer": Value::Null,
        "activity_score": 0,
        "twitter_username": Value::Null,
        "viewers_must_be_team_members": false,
        "ip_restrictions": Value::Null,
        "city": Value::Null,
        "state": Value::Null,
        "country": Value::Null,
        "time_zone": "Etc/UTC",
    }))
}

async fn list_pages(State(state): State<AppState>, caller: V1Caller) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    Ok(Json(Value::Array(vec![page_json(&state).await?])))
}

async fn show_page(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Viewer)?;
    Ok(Json(page_json(&state).await?))
}
