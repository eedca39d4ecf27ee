//! Managing components: list, add, edit, delete.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::Id;
use super::{notice, render, Chrome, NoticeQuery};
use crate::domain::component::parse_position;
use crate::domain::{Choice, Component, ComponentDraft, ComponentStatus, Role};
use crate::web::auth::{AdminForm, Fields, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

struct Row {
    id: i64,
    name: String,
    description: String,
    group: String,
    position: i64,
    status: &'static str,
    status_label: &'static str,
    show_uptime: bool,
}

struct FormValues {
    name: String,
    description: String,
    group: String,
    position: String,
    show_uptime: bool,
}

impl Default for FormValues {
    fn default() -> Self {
        FormValues {
            name: String::new(),
            description: String::new(),
            group: String::new(),
            position: String::new(),
            // A new component shows its uptime unless told otherwise.
            show_uptime: true,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/components.html")]
struct ComponentsPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    components: Vec<Row>,
    groups: Vec<String>,
    form: FormValues,
    editing: bool,
    action: String,
    /// Every component status (code, label), for setting one directly.
    statuses: Vec<(&'static str, &'static str)>,
    can_post: bool,
}

async fn page(
    state: &AppState,
    session: &StaffSession,
    form: FormValues,
    editing: Option<i64>,
    notice: String,
    errors: Vec<String>,
) -> Result<ComponentsPage, PageError> {
    let components = state.store.components().await?;
    let mut groups: Vec<String> = components.iter().filter_map(|c| c.group.clone()).collect();
    groups.dedup();
    Ok(ComponentsPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        csrf: session.info.csrf_token.clone(),
        components: components.iter().map(row).collect(),
        groups,
        form,
        editing: editing.is_some(),
        action: editing.map_or("/admin/components".to_string(), |id| {
            format!("/admin/components/{id}")
        }),
        statuses: ComponentStatus::ALL
            .iter()
            .map(|(_, code, label)| (*code, *label))
            .collect(),
        can_post: session.info.staff.role.allows(Role::Responder),
    })
}

fn row(c: &Component) -> Row {
    Row {
        id: c.id,
        name: c.name.clone(),
        description: c.description.clone(),
        group: c.group.clone().unwrap_or_default(),
        position: c.position,
        status: c.status.as_str(),
        status_label: c.status.label(),
        show_uptime: c.show_uptime,
    }
}

fn values(fields: &Fields) -> FormValues {
    FormValues {
        name: fields.get("name").to_string(),
        description: fields.get("description").to_string(),
        group: fields.get("group").to_string(),
        position: fields.get("position").to_string(),
        show_uptime: shows_uptime(fields),
    }
}

/// The "Show uptime" checkbox: sent only when ticked.
fn shows_uptime(fields: &Fields) -> bool {
    fields.has("show_uptime")
}

fn parse(fields: &Fields) -> Result<ComponentDraft, Vec<String>> {
    let position = parse_position(fields.get("position")).map_err(|e| vec![e.to_string()])?;
    ComponentDraft::parse(
        fields.get("name"),
        Some(fields.get("description")),
        Some(fields.get("group")),
        position,
    )
    .map(|draft| ComponentDraft {
        show_uptime: shows_uptime(fields),
        ..draft
    })
    .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

pub async fn list(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let page = page(
        &state,
        &session,
        FormValues::default(),
        None,
        notice(q.notice.as_deref()),
        vec![],
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn create(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    match parse(&form.fields) {
        Ok(draft) => {
            state
                .create_component(&form.session.actor(), &draft)
                .await?;
            Ok(Redirect::to("/admin/components?notice=saved").into_response())
        }
        Err(errors) => {
            let page = page(
                &state,
                &form.session,
                values(&form.fields),
                None,
                String::new(),
                errors,
            )
            .await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub async fn edit(
    State(state): State<AppState>,
    session: StaffSession,
    Id(id): Id,
) -> Result<Response, PageError> {
    let components = state.store.components().await?;
    let c = components
        .iter()
        .find(|c| c.id == id)
        .ok_or(PageError::NotFound("component"))?;
    let values = FormValues {
        name: c.name.clone(),
        description: c.description.clone(),
        group: c.group.clone().unwrap_or_default(),
        position: c.position.to_string(),
        show_uptime: c.show_uptime,
    };
    let page = page(&state, &session, values, Some(id), String::new(), vec![]).await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    match parse(&form.fields) {
        Ok(draft) => {
            state
                .update_component(&form.session.actor(), id, &draft)
                .await?;
            Ok(Redirect::to("/admin/components?notice=saved").into_response())
        }
        Err(errors) => {
            let page = page(
                &state,
                &form.session,
                values(&form.fields),
                Some(id),
                String::new(),
                errors,
            )
            .await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    state.delete_component(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/components?notice=deleted").into_response())
}

/// Sets a component's status directly, outside any incident.
pub async fn set_status(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    match ComponentStatus::parse("status", form.fields.get("status")) {
        Ok(status) => {
            state
                .set_component_status(&form.session.actor(), id, status)
                .await?;
            Ok(Redirect::to("/admin/components?notice=saved").into_response())
        }
        Err(e) => {
            let page = page(
                &state,
                &form.session,
                FormValues::default(),
                None,
                String::new(),
                vec![e.to_string()],
            )
            .await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
