//! A maintenance's plan in the admin API: `PATCH /api/admin/v1/maintenances/{id}` reschedules
//! it and changes its reminder and notices, `POST /api/admin/v1/maintenances/{id}/cancel` calls
//! it off. Responders and above; both are audited by the act.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{incident_json, parse_id};
use crate::domain::{self, FieldError, Incident, Invalid, MaintenanceOptions, RemindPrior, Role};
use crate::store::Replan;
use crate::web::auth::{ApiCaller, ApiJson};
use crate::web::error::ApiError;
use crate::web::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/admin/v1/maintenances/{id}",
            patch(reschedule).get(show),
        )
        .route("/api/admin/v1/maintenances/{id}/cancel", post(cancel))
}

/// The options of a new maintenance as the admin API takes them (Statuspage's names).
#[derive(Default)]
pub(super) struct OptionsBody {
    /// `true` (the page default), `false`/0 (none) or minutes.
    pub scheduled_remind_prior: Option<Value>,
    pub auto_transition_deliver_notifications_at_start: Option<bool>,
    pub auto_transition_deliver_notifications_at_end: Option<bool>,
    pub scheduled_auto_in_progress: Option<bool>,
    pub scheduled_auto_completed: Option<bool>,
}

impl OptionsBody {
    /// The options for a maintenance that notifies (or not), defaults filled in.
    pub fn options(&self, notify: bool) -> Result<MaintenanceOptions, Invalid> {
        let d = MaintenanceOptions::defaults(notify);
        let remind_prior = match &self.scheduled_remind_prior {
            None => d.remind_prior,
            Some(v) => {
                RemindPrior::from_json("scheduled_remind_prior", v).map_err(|e| Invalid(vec![e]))?
            }
        };
        Ok(MaintenanceOptions {
            remind_prior,
            notify_at_start: self
                .auto_transition_deliver_notifications_at_start
                .unwrap_or(d.notify_at_start),
            notify_at_end: self
                .auto_transition_deliver_notifications_at_end
                .unwrap_or(d.notify_at_end),
            auto_start: self.scheduled_auto_in_progress.unwrap_or(d.auto_start),
            auto_end: self.scheduled_auto_completed.unwrap_or(d.auto_end),
        })
    }
}

/// Adds a maintenance's plan to its JSON (Statuspage's field names where it has them).
pub(super) fn add_plan(json: &mut Value, incident: &Incident) {
    let plan = &incident.plan;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| domain::rfc3339(&t));
    let fields = json!({
        "scheduled_remind_prior": plan.remind_prior_minutes.is_some(),
        "scheduled_remind_prior_minutes": plan.remind_prior_minutes,
        "scheduled_reminded_at": time(plan.reminded_at),
        "auto_transition_deliver_notifications_at_start": plan.notify_at_start,
        "auto_transition_deliver_notifications_at_end": plan.notify_at_end,
        "scheduled_auto_in_progress": plan.auto_start,
        "scheduled_auto_completed": plan.auto_end,
        "cancelled_at": time(plan.cancelled_at),
    });
    if let (Some(out), Value::Object(fields)) = (json.as_object_mut(), fields) {
        out.extend(fields);
    }
}

/// A maintenance with its plan.
pub(super) async fn maintenance_json(state: &AppState, id: i64) -> Result<Value, ApiError> {
    let mut json = incident_json(state, id).await?;
    let incident = state.store.incident(id).await?;
    add_plan(&mut json, &incident);
    Ok(json)
}

async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let id = parse_id(&id)?;
    if state.store.incident(id).await?.kind != domain::IncidentKind::Maintenance {
        return Err(ApiError::NotFound("maintenance"));
    }
    Ok(Json(maintenance_json(&state, id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RescheduleBody {
    scheduled_for: Option<String>,
    scheduled_until: Option<String>,
    #[serde(default)]
    notify: bool,
    scheduled_remind_prior: Option<Value>,
    auto_transition_deliver_notifications_at_start: Option<bool>,
    auto_transition_deliver_notifications_at_end: Option<bool>,
}

async fn reschedule(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RescheduleBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id).map_err(|_| ApiError::NotFound("maintenance"))?;
    let mut problems: Vec<FieldError> = Vec::new();
    let mut time = |field: &str, raw: &Option<String>| match raw {
        None => None,
        Some(raw) => domain::parse_time(field, raw)
            .map_err(|e| problems.push(e))
            .ok(),
    };
    let scheduled_for = time("scheduled_for", &body.scheduled_for);
    let scheduled_until = time("scheduled_until", &body.scheduled_until);
    let remind_prior_minutes = match &body.scheduled_remind_prior {
        None => None,
        Some(v) => match RemindPrior::from_json("scheduled_remind_prior", v) {
            Ok(r) => Some(r.resolve(true, state.config.remind_prior_minutes)),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(ApiError::Invalid(Invalid(problems)));
    }
    let replan = Replan {
        scheduled_for,
        scheduled_until,
        remind_prior_minutes,
        notify_at_start: body.auto_transition_deliver_notifications_at_start,
        notify_at_end: body.auto_transition_deliver_notifications_at_end,
    };
    let outcome = state
        .reschedule_maintenance(&caller.actor(), id, &replan, body.notify)
        .await?;
    let mut json = maintenance_json(&state, id).await?;
    json["update_id"] = outcome
        .update_id
        .map_or(Value::Null, |u| Value::String(u.to_string()));
    Ok(Json(json).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    notify: bool,
}

async fn cancel(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Responder)?;
    let id = parse_id(&id).map_err(|_| ApiError::NotFound("maintenance"))?;
    let published = state
        .cancel_maintenance(&caller.actor(), id, body.notify)
        .await?;
    let mut json = maintenance_json(&state, id).await?;
    json["update_id"] = Value::String(published.update_id.to_string());
    Ok(Json(json).into_response())
}
