//! Reading lists through the admin API: incidents (searchable, by state) and subscribers (for
//! admins; every address read counts towards the tripwire's export rule, as on the admin pages).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::subscriber_json;
use crate::domain::{Incident, Role};
use crate::render::api::incident_value;
use crate::web::auth::ApiCaller;
use crate::web::error::ApiError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/v1/incidents", get(list_incidents))
        .route("/api/admin/v1/subscribers", get(list_subscribers))
        .route(
            "/api/admin/v1/subscribers/{id}",
            get(show_subscriber).delete(remove_subscriber),
        )
}

/// Largest page a list answers.
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Words that must all appear in the name or an update (case-insensitive).
    q: Option<String>,
    /// `all` (default), `unresolved`, `upcoming`, `active_maintenance`, `scheduled`.
    state: Option<String>,
    limit: Option<i64>,
    page: Option<i64>,
}

/// A page of a list: `limit` items from page `page` (1-based), bounded.
fn window(limit: Option<i64>, page: Option<i64>, default: i64) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(default);
    let page = page.unwrap_or(1);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid("limit", &format!("must be from 1 to {MAX_LIMIT}")));
    }
    if page < 1 {
        return Err(invalid("page", "must be 1 or more"));
    }
    Ok((limit, (page - 1) * limit))
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Invalid(crate::domain::Invalid(vec![
        crate::domain::FieldError::new(field, message),
    ]))
}

/// Whether every word of `q` appears in the incident's name or one of its updates.
pub fn incident_matches(incident: &Incident, q: &str) -> bool {
    let text = std::iter::once(incident.name.as_str())
        .chain(incident.updates.iter().map(|u| u.body.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    q.split_whitespace()
        .all(|word| text.contains(&word.to_lowercase()))
}

/// Whether an incident is in one of the list states Statuspage names.
pub fn incident_in_state(incident: &Incident, state: &str) -> Option<bool> {
    use crate::domain::IncidentKind::{Incident as Realtime, Maintenance};
    Some(match state {
        "all" => true,
        "unresolved" => incident.kind == Realtime && incident.is_open(),
        "upcoming" => incident.is_upcoming_maintenance() && incident.plan.cancelled_at.is_none(),
        "active_maintenance" => incident.is_active_maintenance(),
        "scheduled" => incident.kind == Maintenance,
        _ => return None,
    })
}

async fn list_incidents(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let (limit, offset) = window(query.limit, query.page, 100)?;
    let wanted = query.state.as_deref().unwrap_or("all");
    let q = query.q.as_deref().unwrap_or("");
    let components = state.store.components().await?;
    let mut chosen = Vec::new();
    for incident in state.store.incidents().await? {
        let Some(in_state) = incident_in_state(&incident, wanted) else {
            return Err(invalid(
                "state",
                "must be one of all, unresolved, upcoming, active_maintenance, scheduled",
            ));
        };
        if in_state && incident_matches(&incident, q) {
            chosen.push(incident);
        }
    }
    let incidents: Vec<serde_json::Value> = chosen
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|i| incident_value(&state.cache.site(), &components, i))
        .collect();
    Ok(Json(serde_json::json!({ "incidents": incidents, "total": chosen.len() })).into_response())
}

async fn list_subscribers(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    if query.state.is_some() {
        return Err(invalid("state", "is not a filter of subscribers"));
    }
    let (limit, offset) = window(query.limit, query.page, 100)?;
    let (found, total) = state
        .store
        .subscribers(query.q.as_deref().unwrap_or(""), limit, offset)
        .await?;
    state
        .screen_address_reads(&caller.actor(), found.len())
        .await?;
    let subscribers: Vec<serde_json::Value> = found.iter().map(subscriber_json).collect();
    Ok(Json(serde_json::json!({ "subscribers": subscribers, "total": total })).into_response())
}

async fn show_subscriber(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("subscriber"))?;
    let subscriber = state
        .store
        .subscriber(id)
        .await?
        .ok_or(ApiError::NotFound("subscriber"))?;
    state.screen_address_reads(&caller.actor(), 1).await?;
    Ok(Json(subscriber_json(&subscriber)).into_response())
}

async fn remove_subscriber(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("subscriber"))?;
    state.remove_subscriber(&caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
