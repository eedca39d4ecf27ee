//! Editing what was published: an incident's name, impact and components, an update's text and
//! display time, and deleting either (an incident only by admins, after a confirmation box).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{options, render, Chrome, Id, Opt};
use crate::app::AppError;
use crate::domain::edit::{RawIncidentEdit, RawUpdateEdit};
use crate::domain::{
    self, Choice, Impact, Incident, IncidentEdit, IncidentKind, IncidentUpdate, Role, UpdateEdit,
};
use crate::store::StoreError;
use crate::web::auth::{AdminForm, Fields, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

/// A component's box in the edit form.
struct ComponentBox {
    id: i64,
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "admin/incident_edit.html")]
struct IncidentEditPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    id: i64,
    kind_label: &'static str,
    name: String,
    /// None for a maintenance, whose impact does not change.
    impacts: Option<Vec<Opt>>,
    components: Vec<ComponentBox>,
    can_delete: bool,
}

/// Messages for a refused edit; anything else is the page's error.
fn messages(e: AppError) -> Result<Vec<String>, PageError> {
    match e {
        AppError::Store(StoreError::Invalid(invalid)) => {
            Ok(invalid.0.iter().map(ToString::to_string).collect())
        }
        AppError::Store(StoreError::Conflict(message)) | AppError::Tripped(message) => {
            Ok(vec![message])
        }
        other => Err(other.into()),
    }
}

async fn incident_edit_page(
    state: &AppState,
    session: &StaffSession,
    incident: &Incident,
    fields: Option<&Fields>,
    errors: Vec<String>,
) -> Result<IncidentEditPage, PageError> {
    let components = state.store.components().await?;
    let chosen: Vec<String> = match fields {
        Some(f) => f.all("components").iter().map(|s| s.to_string()).collect(),
        None => incident.component_ids.iter().map(i64::to_string).collect(),
    };
    let impact = fields.map_or(incident.impact.as_str(), |f| f.get("impact"));
    Ok(IncidentEditPage {
        chrome: Chrome::of(session),
        notice: String::new(),
        errors,
        csrf: session.info.csrf_token.clone(),
        id: incident.id,
        kind_label: incident.kind.label(),
        name: fields.map_or(incident.name.clone(), |f| f.get("name").to_string()),
        impacts: (incident.kind == IncidentKind::Incident)
            .then(|| options(&Impact::FOR_INCIDENTS, impact)),
        components: components
            .iter()
            .map(|c| ComponentBox {
                id: c.id,
                name: c.name.clone(),
                checked: chosen.contains(&c.id.to_string()),
            })
            .collect(),
        can_delete: session.info.staff.role.allows(Role::Admin),
    })
}

pub async fn edit_incident_page(
    State(state): State<AppState>,
    session: StaffSession,
    Id(id): Id,
) -> Result<Response, PageError> {
    session.require(Role::Responder)?;
    let incident = state.store.incident(id).await?;
    let page = incident_edit_page(&state, &session, &incident, None, vec![]).await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn edit_incident(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let incident = state.store.incident(id).await?;
    let f = &form.fields;
    let raw = RawIncidentEdit {
        name: Some(f.get("name")),
        impact: (incident.kind == IncidentKind::Incident).then(|| f.get("impact")),
        // The boxes are always shown, so none ticked means no components.
        component_ids: f.has("components_shown").then(|| f.all("components")),
    };
    let errors = match IncidentEdit::parse(&raw) {
        Ok(edit) => match state.edit_incident(&form.session.actor(), id, &edit).await {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/admin/incidents/{id}?notice=saved")).into_response()
                )
            }
            Err(e) => messages(e)?,
        },
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    };
    let page = incident_edit_page(&state, &form.session, &incident, Some(f), errors).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn delete_incident(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    let errors = if form.fields.has("confirm") {
        match state.delete_incident(&form.session.actor(), id).await {
            Ok(_) => return Ok(Redirect::to("/admin?notice=deleted").into_response()),
            Err(e) => messages(e)?,
        }
    } else {
        vec!["Tick the box to confirm that the incident and its whole timeline go.".to_string()]
    };
    let incident = state.store.incident(id).await?;
    let page = incident_edit_page(&state, &form.session, &incident, None, errors).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[derive(Template)]
#[template(path = "admin/update_edit.html")]
struct UpdateEditPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    update_id: i64,
    incident_id: i64,
    incident_name: String,
    status_label: &'static str,
    body: String,
    /// As a `datetime-local` value, in UTC.
    display_at: String,
    custom_tweet: String,
    /// The incident's only update cannot be deleted.
    can_delete: bool,
}

/// A time as a `datetime-local` field shows it (UTC, to the second).
fn form_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

async fn update_edit_page(
    state: &AppState,
    session: &StaffSession,
    update_id: i64,
    fields: Option<&Fields>,
    errors: Vec<String>,
) -> Result<UpdateEditPage, PageError> {
    let incident = state.store.incident_of_update(update_id).await?;
    let update: &IncidentUpdate = incident
        .updates
        .iter()
        .find(|u| u.id == update_id)
        .ok_or(PageError::NotFound("update"))?;
    let current_time = form_time(&update.display_at);
    Ok(UpdateEditPage {
        chrome: Chrome::of(session),
        notice: String::new(),
        errors,
        csrf: session.info.csrf_token.clone(),
        update_id,
        incident_id: incident.id,
        incident_name: incident.name.clone(),
        status_label: update.status.label(),
        body: fields.map_or(update.body.clone(), |f| f.get("body").to_string()),
        display_at: fields.map_or(current_time, |f| f.get("display_at").to_string()),
        custom_tweet: fields.map_or(update.custom_tweet.clone().unwrap_or_default(), |f| {
            f.get("custom_tweet").to_string()
        }),
        can_delete: incident.updates.len() > 1,
    })
}

pub async fn edit_update_page(
    State(state): State<AppState>,
    session: StaffSession,
    Id(id): Id,
) -> Result<Response, PageError> {
    session.require(Role::Responder)?;
    let page = update_edit_page(&state, &session, id, None, vec![]).await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn edit_update(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let f = &form.fields;
    let incident = state.store.incident_of_update(id).await?;
    let incident_id = incident.id;
    // The form shows the time to the second: sent back as shown, it has not moved.
    let shown = incident
        .updates
        .iter()
        .find(|u| u.id == id)
        .map(|u| form_time(&u.display_at));
    let display_at = f.get("display_at").trim();
    let raw = RawUpdateEdit {
        body: Some(f.get("body")),
        display_at: (!display_at.is_empty() && Some(display_at) != shown.as_deref())
            .then_some(display_at),
        custom_tweet: Some(f.get("custom_tweet")),
    };
    let errors = match UpdateEdit::parse(&raw, domain::now()) {
        Ok(edit) => match state.edit_update(&form.session.actor(), id, &edit).await {
            Ok(_) => {
                let to = format!("/admin/incidents/{incident_id}?notice=saved#update-{id}");
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => messages(e)?,
        },
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    };
    let page = update_edit_page(&state, &form.session, id, Some(f), errors).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn delete_update(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let incident_id = state.store.incident_id_of_update(id).await?;
    let errors = if form.fields.has("confirm") {
        match state.delete_update(&form.session.actor(), id).await {
            Ok(_) => {
                let to = format!("/admin/incidents/{incident_id}?notice=deleted");
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => messages(e)?,
        }
    } else {
        vec!["Tick the box to confirm that the update goes.".to_string()]
    };
    let page = update_edit_page(&state, &form.session, id, None, errors).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
