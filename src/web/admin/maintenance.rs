//! A maintenance's Reschedule and Cancel forms on its admin page. Bad input or a maintenance
//! that can no longer change answers a short page saying why; nothing is changed.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::Id;
use crate::domain::{self, FieldError, Invalid, RemindPrior, Role};
use crate::store::Replan;
use crate::web::auth::AdminForm;
use crate::web::error::PageError;
use crate::web::AppState;

fn invalid(problems: Vec<FieldError>) -> PageError {
    PageError::Invalid(Invalid(problems))
}

pub async fn reschedule(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let f = &form.fields;
    let mut problems = Vec::new();
    let mut time = |field: &str| {
        let raw = f.get(field).trim();
        if raw.is_empty() {
            return None;
        }
        domain::parse_time(field, raw)
            .map_err(|e| problems.push(e))
            .ok()
    };
    let scheduled_for = time("scheduled_for");
    let scheduled_until = time("scheduled_until");
    let remind_prior_minutes = match RemindPrior::from_form("remind_prior", f.get("remind_prior")) {
        Ok(RemindPrior::Unset) => None,
        Ok(r) => Some(r.resolve(true, state.config.remind_prior_minutes)),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let replan = Replan {
        scheduled_for,
        scheduled_until,
        remind_prior_minutes,
        notify_at_start: None,
        notify_at_end: None,
    };
    state
        .reschedule_maintenance(&form.session.actor(), id, &replan, f.has("notify"))
        .await?;
    Ok(Redirect::to(&format!("/admin/incidents/{id}?notice=saved")).into_response())
}

pub async fn cancel(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    state
        .cancel_maintenance(&form.session.actor(), id, form.fields.has("notify"))
        .await?;
    Ok(Redirect::to(&format!("/admin/incidents/{id}?notice=published")).into_response())
}
