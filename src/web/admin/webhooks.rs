//! Webhook subscriptions in the admin: every subscription (customers' and the company's own
//! Slack, Discord, Teams and webhook channels) with its state, and, for admins, adding one (its
//! test is sent at once; a generic webhook's secret is shown once), testing and removing.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{notice, render, Chrome, NoticeQuery};
use crate::app::hooks::HookRequest;
use crate::domain::Role;
use crate::web::auth::{AdminForm, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct HooksPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    /// After adding a generic webhook: its secret, shown this once.
    secret: Option<String>,
    hooks: Vec<HookView>,
}

struct HookView {
    id: i64,
    kind: String,
    host: String,
    owner: String,
    email: String,
    state: &'static str,
    detail: String,
    created_at: String,
}

async fn hooks(state: &AppState) -> Result<Vec<HookView>, PageError> {
    Ok(state
        .store
        .hooks()
        .await?
        .into_iter()
        .map(|h| {
            let (label, detail) = if let Some(reason) = &h.disabled_reason {
                ("Disabled", reason.clone())
            } else if h.activated_at.is_none() {
                (
                    "Waiting for a passing test",
                    h.last_error.clone().unwrap_or_default(),
                )
            } else if h.failures > 0 {
                (
                    "Failing",
                    format!(
                        "{} failures in a row; the last: {}",
                        h.failures,
                        h.last_error.clone().unwrap_or_default()
                    ),
                )
            } else {
                ("Active", String::new())
            };
            HookView {
                id: h.id,
                kind: h.kind,
                host: h.host,
                owner: h.owner,
                email: h.email.unwrap_or_default(),
                state: label,
                detail,
                created_at: crate::domain::rfc3339(&h.created_at),
            }
        })
        .collect())
}

fn hooks_notice(code: Option<&str>) -> String {
    match code {
        Some("tested") => "The test was accepted: the subscription is active.".into(),
        Some("removed") => "The subscription is removed; nothing more is sent to it.".into(),
        other => notice(other),
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: StaffSession,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let page = HooksPage {
        chrome: Chrome::of(&session),
        notice: hooks_notice(query.notice.as_deref()),
        errors: Vec::new(),
        secret: None,
        hooks: hooks(&state).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn add(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    let request = HookRequest {
        url: form.fields.get("url"),
        kind: Some(form.fields.get("kind")),
        email: Some(form.fields.get("email")),
        components: None,
        company: form.fields.has("company"),
        public: false,
    };
    let (status, notice, errors, secret) = match state
        .add_hook(&form.session.actor(), &request)
        .await
    {
        Ok(added) => {
            let notice = match &added.test {
                Ok(_) => "Added, and its test was accepted: it receives every update from now on."
                    .to_string(),
                Err(e) => format!(
                    "Added, but its test was not accepted ({e}); it stays off until a test passes."
                ),
            };
            (StatusCode::CREATED, notice, Vec::new(), added.secret)
        }
        Err(crate::app::AppError::Store(crate::store::StoreError::Invalid(invalid))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            String::new(),
            invalid
                .0
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect(),
            None,
        ),
        Err(e) => return Err(e.into()),
    };
    let page = HooksPage {
        chrome: Chrome::of(&form.session),
        notice,
        errors,
        secret,
        hooks: hooks(&state).await?,
    };
    Ok(render(status, &page))
}

pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    match state.test_hook(&form.session.actor(), id).await? {
        Ok(_) => Ok(Redirect::to("/admin/webhooks?notice=tested").into_response()),
        Err(e) => {
            let page = HooksPage {
                chrome: Chrome::of(&form.session),
                notice: String::new(),
                errors: vec![format!("The test was not accepted: {e}")],
                secret: None,
                hooks: hooks(&state).await?,
            };
            Ok(render(StatusCode::OK, &page))
        }
    }
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    state.remove_hook(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/webhooks?notice=removed").into_response())
}
