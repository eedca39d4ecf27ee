//! Managing subscribers: counts for every member; for admins the addresses (which count
//! towards the tripwire's export rule, page by page), import, export and adding confirmed
//! addresses; for responders adding an address that then confirms by mail.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::Id;
use super::{notice, render, Chrome};
use crate::app::AppError;
use crate::domain::subscriber::parse_list_with;
use crate::domain::{Choice, Role, SubscriberEmail};
use crate::render::views::TimeView;
use crate::store::StoreError;
use crate::web::auth::{AdminForm, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

const PAGE_SIZE: i64 = 50;

struct Row {
    id: i64,
    email: String,
    scope: &'static str,
    status: &'static str,
    since: TimeView,
}

#[derive(Template)]
#[template(path = "admin/subscribers.html")]
struct SubscribersPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    confirmed: i64,
    unconfirmed: i64,
    q: String,
    rows: Vec<Row>,
    page: i64,
    pages: i64,
    can_edit: bool,
    /// Admins only: the addresses, export, import and adding confirmed addresses.
    is_admin: bool,
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<i64>,
    notice: Option<String>,
}

async fn page(
    state: &AppState,
    session: &StaffSession,
    q: &str,
    page: i64,
    notice: String,
    errors: Vec<String>,
) -> Result<SubscribersPage, PageError> {
    let (confirmed, unconfirmed) = state.store.subscriber_counts().await?;
    let page = page.max(1);
    let is_admin = session.info.staff.role.allows(Role::Admin);
    // Addresses are for admins, and every page of them counts like an export of as many.
    let (subscribers, total) = if is_admin {
        let found = state
            .store
            .subscribers(q, PAGE_SIZE, (page - 1) * PAGE_SIZE)
            .await?;
        state
            .screen_address_reads(&session.actor(), found.0.len())
            .await?;
        found
    } else {
        (Vec::new(), 0)
    };
    Ok(SubscribersPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        csrf: session.info.csrf_token.clone(),
        confirmed,
        unconfirmed,
        q: if is_admin {
            q.to_string()
        } else {
            String::new()
        },
        rows: subscribers
            .iter()
            .map(|s| Row {
                id: s.id,
                email: s.email.clone(),
                scope: if s.all_components {
                    "Everything"
                } else {
                    "Some components"
                },
                status: if s.confirmed_at.is_some() {
                    "Confirmed"
                } else {
                    "Awaiting confirmation"
                },
                since: TimeView::new(&s.created_at),
            })
            .collect(),
        page,
        pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
        can_edit: session.info.staff.role.allows(Role::Responder),
        is_admin,
    })
}

/// The page's checks of every act that adds subscribers without a confirmation mail to each
/// (a confirmed address, an import): the admin role and a fresh code. A refusal is audited:
/// the form never offers these to other roles. The act itself is screened by the tripwire.
async fn skipping_opt_in(
    state: &AppState,
    session: &StaffSession,
    action: &str,
) -> Result<(), PageError> {
    if let Err(refused) = session.require(Role::Admin) {
        state
            .audit(
                &session.actor(),
                "subscriber.refused",
                "subscribers",
                serde_json::json!({ "action": action, "role": session.info.staff.role.as_str() }),
            )
            .await;
        return Err(refused);
    }
    session.require_recent_auth("/admin/subscribers")?;
    Ok(())
}

pub async fn list(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let view = page(
        &state,
        &session,
        q.q.as_deref().unwrap_or(""),
        q.page.unwrap_or(1),
        notice(q.notice.as_deref()),
        vec![],
    )
    .await?;
    Ok(render(StatusCode::OK, &view))
}

pub async fn add(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    let confirmed = form.fields.has("confirmed");
    if confirmed {
        skipping_opt_in(&state, &form.session, "adding a confirmed subscriber").await?;
    }
    let result = match SubscriberEmail::parse_with(
        form.fields.get("email"),
        state.relay.takes_international(),
    ) {
        Err(e) => Err(e.to_string()),
        Ok(email) => match state
            .add_subscriber(&form.session.actor(), &email, None, confirmed)
            .await
        {
            Ok(_) => Ok(()),
            Err(AppError::Store(StoreError::Conflict(m))) => Err(m),
            Err(e) => return Err(e.into()),
        },
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/subscribers?notice=saved").into_response()),
        Err(message) => {
            let view = page(&state, &form.session, "", 1, String::new(), vec![message]).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &view))
        }
    }
}

pub async fn import(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    skipping_opt_in(&state, &form.session, "importing subscribers").await?;
    let (emails, problems) =
        parse_list_with(form.fields.get("list"), state.relay.takes_international());
    if !problems.is_empty() {
        let errors = problems
            .iter()
            .take(20)
            .map(|(line, p)| format!("line {line}: {p}"))
            .collect();
        let view = page(&state, &form.session, "", 1, String::new(), errors).await?;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &view));
    }
    state
        .import_subscribers(&form.session.actor(), &emails, form.fields.has("confirmed"))
        .await?;
    Ok(Redirect::to("/admin/subscribers?notice=imported").into_response())
}

/// CSV of every subscriber. Admins only: a mass export is what an intruder would want.
pub async fn export(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    session.require_recent_auth("/admin/subscribers/export.csv")?;
    let actor = session.actor();
    state
        .screen_privileged(&actor, "exporting subscribers")
        .await?;
    let (confirmed, unconfirmed) = state.store.subscriber_counts().await?;
    let rows = usize::try_from(confirmed + unconfirmed).unwrap_or(0);
    state.screen_address_reads(&actor, rows).await?;
    state
        .audit(
            &actor,
            "subscribers.export",
            "subscribers",
            serde_json::json!({ "rows": rows }),
        )
        .await;
    let mut csv = String::from("email,confirmed,created_at\r\n");
    let mut offset = 0;
    loop {
        let (batch, _) = state.store.subscribers("", 1000, offset).await?;
        if batch.is_empty() {
            break;
        }
        for s in &batch {
            let email = if s.email.contains([',', '"']) {
                format!("\"{}\"", s.email.replace('"', "\"\""))
            } else {
                s.email.clone()
            };
            csv.push_str(&format!(
                "{email},{},{}\r\n",
                s.confirmed_at.is_some(),
                crate::domain::rfc3339(&s.created_at)
            ));
        }
        offset += 1000;
    }
    tracing::warn!(staff.id = session.info.staff.id, "subscriber list exported");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"subscribers.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Responder)?;
    state.remove_subscriber(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/subscribers?notice=deleted").into_response())
}
