//! The kill switch and delivery progress in the admin.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use super::Id;
use crate::app::AppError;
use crate::domain::Role;
use crate::store::DeliveryCounts;
use crate::web::auth::{AdminForm, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

/// Any responder may stop everything; stopping is always safe.
pub async fn pause(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let reason: String = form.fields.get("reason").trim().chars().take(500).collect();
    state.pause(&form.session.actor(), &reason).await?;
    Ok(Redirect::to("/admin?notice=paused").into_response())
}

/// Only an admin may let sending continue; after a tripwire, only with a fresh code.
pub async fn resume(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    let fresh_code = form.session.require_recent_auth("/admin#outbound").is_ok();
    match state.resume(&form.session.actor(), fresh_code).await {
        Ok(_) => Ok(Redirect::to("/admin?notice=resumed").into_response()),
        Err(AppError::NeedsFreshCode { .. }) => {
            Err(PageError::Reauthenticate("/admin#outbound".into()))
        }
        // Resuming from a new address tripped the wire again: stay paused.
        Err(AppError::Tripped(_)) => Ok(Redirect::to("/admin").into_response()),
        Err(e) => Err(e.into()),
    }
}

/// One channel's progress for an update, as the progress bars show it.
#[derive(serde::Serialize)]
pub struct ChannelProgress {
    pub channel: String,
    #[serde(flatten)]
    pub counts: DeliveryCounts,
    pub total: i64,
}

pub async fn progress(state: &AppState, update_id: i64) -> Result<Vec<ChannelProgress>, PageError> {
    Ok(state
        .store
        .delivery_counts(update_id)
        .await?
        .into_iter()
        .map(|(channel, counts)| {
            let total = counts.total();
            ChannelProgress {
                channel,
                total,
                counts,
            }
        })
        .collect())
}

pub async fn deliveries(
    State(state): State<AppState>,
    _session: StaffSession,
    Id(id): Id,
) -> Result<Response, PageError> {
    Ok(Json(progress(&state, id).await?).into_response())
}

pub async fn retry_dead(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    state
        .retry_dead_deliveries(&form.session.actor(), id)
        .await?;
    let incident = state.store.incident_of_update(id).await?;
    Ok(Redirect::to(&format!(
        "/admin/incidents/{}?notice=retried#update-{id}",
        incident.id
    ))
    .into_response())
}
