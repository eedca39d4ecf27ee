//! The templates page: list, create, edit and delete incident templates; and what the
//! new-incident and update forms need to start from one (`?template=ID`, no script needed).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{notice, options, render, Chrome, Id, NoticeQuery, Opt};
use crate::app::AppError;
use crate::domain::{
    Choice, Component, ComponentStatus, IncidentStatus, RawTemplate, Role, Template, TemplateDraft,
};
use crate::store::StoreError;
use crate::web::auth::{AdminForm, Fields, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

/// A template in the list.
struct Row {
    id: i64,
    name: String,
    title: String,
    status_label: &'static str,
    components: String,
}

/// A component's select in the template form: not named, named unchanged, or a status.
struct ComponentChoice {
    id: i64,
    name: String,
    /// "" (not named), "unchanged", or a status code.
    chosen: String,
    options: Vec<Opt>,
}

const STATUSES: [ComponentStatus; 5] = [
    ComponentStatus::Operational,
    ComponentStatus::DegradedPerformance,
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
    ComponentStatus::UnderMaintenance,
];

/// The template form, as typed (re-shown when something is wrong) or as stored.
struct Form {
    name: String,
    title: String,
    body: String,
    statuses: Vec<Opt>,
    components: Vec<ComponentChoice>,
    should_send_notifications: bool,
    should_tweet: bool,
    group_id: String,
}

impl Form {
    fn new(fields: &Fields, components: &[Component]) -> Form {
        let status = fields.get("update_status");
        let mut statuses = IncidentStatus::FOR_INCIDENTS.to_vec();
        statuses.push(IncidentStatus::Postmortem);
        Form {
            name: fields.get("name").to_string(),
            title: fields.get("title").to_string(),
            body: fields.get("body").to_string(),
            statuses: options(
                &statuses,
                if status.is_empty() {
                    "investigating"
                } else {
                    status
                },
            ),
            components: components
                .iter()
                .map(|c| {
                    let chosen = fields.get(&format!("component_{}", c.id)).to_string();
                    ComponentChoice {
                        id: c.id,
                        name: c.name.clone(),
                        options: options(&STATUSES, &chosen),
                        chosen,
                    }
                })
                .collect(),
            should_send_notifications: fields.has("should_send_notifications"),
            should_tweet: fields.has("should_tweet"),
            group_id: fields.get("group_id").to_string(),
        }
    }

    /// The form's fields for a stored template.
    fn fields_of(t: &Template) -> Fields {
        let mut f = vec![
            ("name".to_string(), t.name.clone()),
            ("title".to_string(), t.title.clone()),
            ("body".to_string(), t.body.clone()),
            (
                "update_status".to_string(),
                t.update_status.as_str().to_string(),
            ),
            (
                "group_id".to_string(),
                t.group_id.clone().unwrap_or_default(),
            ),
        ];
        for (id, status) in &t.components {
            f.push((
                format!("component_{id}"),
                status.map_or("unchanged", |s| s.as_str()).to_string(),
            ));
        }
        if t.should_send_notifications {
            f.push(("should_send_notifications".into(), "1".into()));
        }
        if t.should_tweet {
            f.push(("should_tweet".into(), "1".into()));
        }
        Fields(f)
    }

    fn parse(fields: &Fields) -> Result<TemplateDraft, crate::domain::Invalid> {
        let components: Vec<(&str, Option<&str>)> = fields
            .with_prefix("component_")
            .map(|(id, s)| (id, (s != "unchanged").then_some(s)))
            .collect();
        TemplateDraft::parse(&RawTemplate {
            name: fields.get("name"),
            title: fields.get("title"),
            body: fields.get("body"),
            update_status: fields.get("update_status"),
            components,
            should_tweet: fields.has("should_tweet"),
            should_send_notifications: fields.has("should_send_notifications"),
            group_id: Some(fields.get("group_id")),
        })
    }
}

#[derive(askama::Template)]
#[template(path = "admin/templates.html")]
struct TemplatesPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    templates: Vec<Row>,
    can_post: bool,
    /// Editing this template (`None`: the form adds one).
    editing: Option<i64>,
    form: Form,
}

async fn templates_page(
    state: &AppState,
    session: &StaffSession,
    editing: Option<i64>,
    fields: &Fields,
    notice: String,
    errors: Vec<String>,
) -> Result<TemplatesPage, PageError> {
    let components = state.store.components().await?;
    let templates = state.store.templates().await?;
    let names = |t: &Template| {
        t.components
            .iter()
            .filter_map(|(id, s)| {
                let c = components.iter().find(|c| c.id == *id)?;
                Some(match s {
                    Some(s) => format!("{}: {}", c.name, s.label()),
                    None => c.name.clone(),
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(TemplatesPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        csrf: session.info.csrf_token.clone(),
        templates: templates
            .iter()
            .map(|t| Row {
                id: t.id,
                name: t.name.clone(),
                title: t.title.clone(),
                status_label: t.update_status.label(),
                components: names(t),
            })
            .collect(),
        can_post: session.info.staff.role.allows(Role::Responder),
        editing,
        form: Form::new(fields, &components),
    })
}

pub async fn list(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let page = templates_page(
        &state,
        &session,
        None,
        &Fields::default(),
        notice(q.notice.as_deref()),
        vec![],
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

pub async fn edit(
    State(state): State<AppState>,
    session: StaffSession,
    Id(id): Id,
) -> Result<Response, PageError> {
    let template = state.store.template(id).await?;
    let page = templates_page(
        &state,
        &session,
        Some(id),
        &Form::fields_of(&template),
        String::new(),
        vec![],
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

/// A change the store refused as invalid is shown again with its messages.
fn messages(e: AppError) -> Result<Vec<String>, PageError> {
    match e {
        AppError::Store(StoreError::Invalid(invalid)) => {
            Ok(invalid.0.iter().map(ToString::to_string).collect())
        }
        other => Err(other.into()),
    }
}

async fn save(
    state: &AppState,
    form: &AdminForm,
    editing: Option<i64>,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let actor = form.session.actor();
    let errors = match Form::parse(&form.fields) {
        Ok(draft) => {
            let saved = match editing {
                Some(id) => state.update_template(&actor, id, &draft).await.map(|_| ()),
                None => state.create_template(&actor, &draft).await.map(|_| ()),
            };
            match saved {
                Ok(()) => return Ok(Redirect::to("/admin/templates?notice=saved").into_response()),
                Err(e) => messages(e)?,
            }
        }
        Err(invalid) => invalid.0.iter().map(ToString::to_string).collect(),
    };
    let page = templates_page(
        state,
        &form.session,
        editing,
        &form.fields,
        String::new(),
        errors,
    )
    .await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn create(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    save(&state, &form, None).await
}

pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    // An unknown template is a 404, not a form error.
    state.store.template(id).await?;
    save(&state, &form, Some(id)).await
}

pub async fn delete(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    state.delete_template(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/templates?notice=deleted").into_response())
}

/// One choice of the "Start from template" select.
pub struct TemplateChoice {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

/// `?template=ID` on the new-incident and incident pages.
#[derive(serde::Deserialize)]
pub struct PickTemplate {
    pub template: Option<String>,
}

/// The templates to offer, `chosen` selected.
pub async fn choices(state: &AppState, chosen: &str) -> Result<Vec<TemplateChoice>, PageError> {
    Ok(state
        .store
        .templates()
        .await?
        .into_iter()
        .map(|t| TemplateChoice {
            selected: t.id.to_string() == chosen,
            id: t.id,
            name: t.name,
        })
        .collect())
}

/// The new-incident or update form's fields, filled from template `raw` (none: empty). An
/// unknown template fills nothing and says so.
pub async fn prefill(
    state: &AppState,
    raw: Option<&str>,
) -> Result<(Fields, Vec<String>), PageError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok((Fields::default(), Vec::new()));
    };
    let found = match raw.parse::<i64>() {
        Ok(id) => match state.store.template(id).await {
            Ok(t) => Some(t),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let Some(t) = found else {
        return Ok((
            Fields::default(),
            vec!["template: there is no such template".to_string()],
        ));
    };
    // A form filled from a template counts as one already shown: its boxes say what the
    // template says, rather than the fresh form's defaults.
    let mut f = vec![
        ("csrf".to_string(), String::new()),
        ("template".to_string(), t.id.to_string()),
        ("name".to_string(), t.title.clone()),
        ("status".to_string(), t.update_status.as_str().to_string()),
        ("body".to_string(), t.body.clone()),
    ];
    for (id, status) in t.component_changes() {
        f.push((format!("component_{id}"), status));
    }
    if t.should_send_notifications {
        f.push(("notify".into(), "1".into()));
    }
    if t.should_tweet {
        f.push(("post_to_x".into(), "1".into()));
    }
    Ok((Fields(f), Vec::new()))
}
