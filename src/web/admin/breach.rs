//! Breach mode in the admin (`/admin/breach`): write the statement, preview exactly what goes
//! out and to how many recipients, start it with a fresh two-factor code, and end it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{render, Chrome, NoticeQuery};
use crate::app::breach::BreachPreview;
use crate::app::AppError;
use crate::domain::Role;
use crate::store::{Breach, StoreError};
use crate::web::auth::{AdminForm, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

/// Where a member is sent back to after giving their code again.
const BACK_TO: &str = "/admin/breach";

#[derive(Template)]
#[template(path = "admin/breach.html")]
struct BreachPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    /// The open breach, if any.
    open: Option<OpenView>,
    title: String,
    statement: String,
    preview: Option<PreviewView>,
}

struct OpenView {
    title: String,
    incident_id: i64,
    started_at: String,
    started_by: String,
}

struct PreviewView {
    html: String,
    x_text: String,
    /// (channel label, recipients)
    channels: Vec<(&'static str, i64)>,
}

impl From<BreachPreview> for PreviewView {
    fn from(p: BreachPreview) -> Self {
        PreviewView {
            html: p.html,
            x_text: p.x_text,
            channels: p
                .channels
                .iter()
                .map(|c| {
                    let label = crate::channels::info(c.channel).map_or(c.channel, |i| i.label);
                    (label, c.recipients)
                })
                .collect(),
        }
    }
}

fn open_view(b: Breach) -> OpenView {
    OpenView {
        title: b.title,
        incident_id: b.incident_id,
        started_at: crate::domain::rfc3339(&b.started_at),
        started_by: b.started_by,
    }
}

fn breach_notice(code: Option<&str>) -> String {
    match code {
        Some("started") => {
            "Breach mode is on: outbound is paused, the statement is pinned and going out on every channel."
        }
        Some("ended") => {
            "Breach mode ended: the statement is no longer pinned. Outbound stays paused until an admin resumes."
        }
        _ => "",
    }
    .to_string()
}

async fn page(
    state: &AppState,
    session: &StaffSession,
    notice: String,
    errors: Vec<String>,
    title: String,
    statement: String,
    preview: Option<PreviewView>,
) -> Result<Response, PageError> {
    let open = state
        .store
        .open_breach()
        .await?
        .filter(|b| b.genuine)
        .map(open_view);
    let page = BreachPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        open,
        title,
        statement,
        preview,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

/// The breach page: admins only, and only with a fresh code, so the statement is written
/// within the window in which starting is allowed.
pub async fn show(
    State(state): State<AppState>,
    session: StaffSession,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    session.require_recent_auth(BACK_TO)?;
    let notice = breach_notice(query.notice.as_deref());
    page(
        &state,
        &session,
        notice,
        Vec::new(),
        String::new(),
        String::new(),
        None,
    )
    .await
}

fn field_errors(e: AppError) -> Result<Vec<String>, PageError> {
    match e {
        AppError::Store(StoreError::Invalid(invalid)) => {
            Ok(invalid.0.iter().map(ToString::to_string).collect())
        }
        AppError::Store(StoreError::Conflict(message)) => Ok(vec![message]),
        other => Err(other.into()),
    }
}

/// Shows exactly what starting would send, changing nothing.
pub async fn preview(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    let title = form.fields.get("title").to_string();
    let statement = form.fields.get("statement").to_string();
    let (preview, errors) = match state.preview_breach(&title, &statement).await {
        Ok(p) => (Some(p.into()), Vec::new()),
        Err(e) => (None, field_errors(e)?),
    };
    page(
        &state,
        &form.session,
        String::new(),
        errors,
        title,
        statement,
        preview,
    )
    .await
}

/// Starts breach mode; needs a fresh two-factor code, like resuming after a trip.
pub async fn start(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    form.session.require_recent_auth(BACK_TO)?;
    let title = form.fields.get("title").to_string();
    let statement = form.fields.get("statement").to_string();
    match state
        .start_breach(&form.session.actor(), &title, &statement)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/breach?notice=started").into_response()),
        Err(e) => {
            let errors = field_errors(e)?;
            page(
                &state,
                &form.session,
                String::new(),
                errors,
                title,
                statement,
                None,
            )
            .await
        }
    }
}

/// Ends breach mode; needs a fresh two-factor code too. Outbound stays paused.
pub async fn end(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    form.session.require_recent_auth(BACK_TO)?;
    state.end_breach(&form.session.actor()).await?;
    Ok(Redirect::to("/admin/breach?notice=ended").into_response())
}
