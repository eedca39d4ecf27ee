//! Subscribers (email): list, create, get, delete. Addresses are customers' personal data, so
//! every call here needs an admin token, as the admin API's and the export's do, and every
//! address read counts towards the tripwire's export rule.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::auth::V1Caller;
use super::error::{V1Error, V1Result};
use super::form::{self, V1Body};
use super::{numeric_id, subscriber_json};
use crate::domain::{FieldError, Invalid, Role, SubscriberEmail};
use crate::store::Subscriber;
use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/pages/{page_id}/subscribers",
            get(list_subscribers).post(create_subscriber),
        )
        .route(
            "/v1/pages/{page_id}/subscribers/{subscriber_id}",
            get(show_subscriber).delete(delete_subscriber),
        )
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    state: Option<String>,
    limit: Option<String>,
    page: Option<String>,
}

async fn list_subscribers(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Admin)?;
    let number = |field: &str, raw: &Option<String>, default: i64, least: i64| -> V1Result<i64> {
        match raw.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => Ok(default),
            Some(r) => r
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= least)
                .ok_or_else(|| {
                    V1Error::invalid(field, format!("must be a whole number from {least}"))
                }),
        }
    };
    let limit = number("limit", &query.limit, 100, 1)?.min(1000);
    // Statuspage counts subscriber pages from 0.
    let page = number("page", &query.page, 0, 0)?;
    // Herald's subscribers are all email subscribers.
    if query
        .kind
        .as_deref()
        .is_some_and(|k| !k.is_empty() && k != "email")
    {
        return Ok(Json(Value::Array(Vec::new())));
    }
    // Statuspage's states: active (confirmed), unconfirmed, or all; active by default.
    let state_wanted = query.state.as_deref().map(str::trim).unwrap_or("active");
    let keep: fn(&Subscriber) -> bool = match state_wanted {
        "" | "active" => |s| s.confirmed_at.is_some(),
        "unconfirmed" => |s| s.confirmed_at.is_none(),
        "all" => |_| true,
        _ => return Ok(Json(Value::Array(Vec::new()))),
    };
    let (rows, _) = state
        .store
        .subscribers(
            query.q.as_deref().unwrap_or(""),
            limit,
            limit.saturating_mul(page),
        )
        .await?;
    let components = state.store.components().await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if !keep(&row) {
            continue;
        }
        if let Some(s) = state.store.subscriber(row.id).await? {
            out.push(subscriber_json(&components, &s));
        }
    }
    // Every address shown counts towards the tripwire's export rule, as on the admin pages.
    state
        .screen_address_reads(&caller.actor(), out.len())
        .await?;
    Ok(Json(Value::Array(out)))
}

async fn find(state: &AppState, id: &str) -> V1Result<Subscriber> {
    let id = numeric_id(id, "subscriber")?;
    state
        .store
        .subscriber(id)
        .await?
        .ok_or_else(|| V1Error::not_found("subscriber"))
}

async fn create_subscriber(
    State(state): State<AppState>,
    caller: V1Caller,
    Path(_page_id): Path<String>,
    V1Body(body): V1Body,
) -> V1Result<Response> {
    caller.require(Role::Admin)?;
    let s = form::object(&body, "subscriber")?;
    for other in ["endpoint", "phone_number", "page_access_user"] {
        if form::text(s, other)?.is_some_and(|v| !v.trim().is_empty()) {
            return Err(V1Error::invalid(
                other,
                "Herald's subscribers are email subscribers; give an email",
            ));
        }
    }
    let email = SubscriberEmail::parse_with(
        &form::text(s, "email")?.unwrap_or_default(),
        state.relay.takes_international(),
    )
    .map_err(|e| Invalid(vec![e]))?;
    let confirmed = form::flag(s, "skip_confirmation_notification")?.unwrap_or(false);
    let ids = match form::ids(s, "component_ids")? {
        None => None,
        Some(raw) => {
            let mut ids = Vec::new();
            let mut problems = Vec::new();
            for id in raw {
                match id.parse::<i64>() {
                    Ok(id) => ids.push(id),
                    Err(_) => problems.push(FieldError::new(
                        "component_ids",
                        format!("\"{id}\" is not a component id"),
                    )),
                }
            }
            if !problems.is_empty() {
                return Err(Invalid(problems).into());
            }
            Some(ids)
        }
    };
    let subscriber = state
        .add_subscriber(&caller.actor(), &email, ids.as_deref(), confirmed)
        .await?;
    let subscriber = state
        .store
        .subscriber(subscriber.id)
        .await?
        .unwrap_or(subscriber);
    let components = state.store.components().await?;
    let mut json = subscriber_json(&components, &subscriber);
    json["skip_confirmation_notification"] = Value::Bool(confirmed);
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

async fn show_subscriber(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Admin)?;
    let subscriber = find(&state, &id).await?;
    state.screen_address_reads(&caller.actor(), 1).await?;
    let components = state.store.components().await?;
    Ok(Json(subscriber_json(&components, &subscriber)))
}

/// Statuspage unsubscribes and answers with the subscriber as it was.
async fn delete_subscriber(
    State(state): State<AppState>,
    caller: V1Caller,
    Path((_page_id, id)): Path<(String, String)>,
) -> V1Result<Json<Value>> {
    caller.require(Role::Admin)?;
    let subscriber = find(&state, &id).await?;
    state
        .remove_subscriber(&caller.actor(), subscriber.id)
        .await?;
    let components = state.store.components().await?;
    Ok(Json(subscriber_json(&components, &subscriber)))
}
