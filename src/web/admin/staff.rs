//! Admins manage who can act: staff accounts (add, change role, disable, reset the second
//! factor, end their sessions) and admin API tokens (create, revoke, see last use). Every change
//! needs a fresh code (re-authentication), is screened by the tripwire and audited.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::Id;
use super::{notice, options, render, Chrome, NoticeQuery, Opt};
use crate::app::AppError;
use crate::domain::{parse_token_name, Choice, Role, StaffEmail};
use crate::store::{ApiTokenListing, Staff};
use crate::web::auth::{AdminForm, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

const ROLES: [Role; 3] = [Role::Viewer, Role::Responder, Role::Admin];

struct StaffRow {
    id: i64,
    email: String,
    role: &'static str,
    roles: Vec<Opt>,
    state: &'static str,
    is_self: bool,
}

impl StaffRow {
    fn of(s: &Staff, me: i64) -> StaffRow {
        let state = if s.disabled {
            "disabled"
        } else if !s.enrolled {
            "invited"
        } else if !s.two_factor {
            "two-factor not set up"
        } else {
            "active"
        };
        StaffRow {
            id: s.id,
            email: s.email.clone(),
            role: s.role.as_str(),
            roles: options(&ROLES, s.role.as_str()),
            state,
            is_self: s.id == me,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/staff.html")]
struct StaffPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    staff: Vec<StaffRow>,
    roles: Vec<Opt>,
    email: String,
    /// The one-time enrolment link of a member just added.
    invite: Option<(String, String)>,
}

async fn staff_page(
    state: &AppState,
    session: &StaffSession,
    status: StatusCode,
    notice: String,
    errors: Vec<String>,
    invite: Option<(String, String)>,
    email: String,
) -> Result<Response, PageError> {
    let staff = state.store.staff_list().await?;
    let page = StaffPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        staff: staff
            .iter()
            .map(|s| StaffRow::of(s, session.info.staff.id))
            .collect(),
        roles: options(&ROLES, Role::Responder.as_str()),
        email,
        invite,
    };
    Ok(render(status, &page))
}

pub async fn list(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    staff_page(
        &state,
        &session,
        StatusCode::OK,
        notice(q.notice.as_deref()),
        vec![],
        None,
        String::new(),
    )
    .await
}

/// The page's checks of every staff change: the admin role and a fresh code. The act itself
/// is screened by the tripwire.
fn admin_action(form: &AdminForm) -> Result<(), PageError> {
    form.session.require(Role::Admin)?;
    form.session.require_recent_auth("/admin/staff")?;
    Ok(())
}

pub async fn add(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    admin_action(&form)?;
    let raw_email = form.fields.get("email").trim().to_string();
    let role = Role::parse("role", form.fields.get("role"));
    let email = StaffEmail::parse(&raw_email);
    let (email, role) = match (email, role) {
        (Ok(email), Ok(role)) => (email, role),
        (email, role) => {
            let errors = [email.err(), role.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect();
            return staff_page(
                &state,
                &form.session,
                StatusCode::UNPROCESSABLE_ENTITY,
                String::new(),
                errors,
                None,
                raw_email,
            )
            .await;
        }
    };
    let added = match state.add_staff(&form.session.actor(), &email, role).await {
        Ok(added) => added,
        Err(AppError::Store(crate::store::StoreError::Conflict(message))) => {
            return staff_page(
                &state,
                &form.session,
                StatusCode::CONFLICT,
                String::new(),
                vec![message],
                None,
                raw_email,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let link = format!(
        "{}/admin/enrol/{}",
        state.config.public_url().trim_end_matches('/'),
        added.enrolment_secret
    );
    staff_page(
        &state,
        &form.session,
        StatusCode::OK,
        String::new(),
        vec![],
        Some((added.staff.email, link)),
        String::new(),
    )
    .await
}

pub async fn change_role(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    admin_action(&form)?;
    let role = Role::parse("role", form.fields.get("role"))
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    state.change_role(&form.session.actor(), id, role).await?;
    Ok(Redirect::to("/admin/staff?notice=saved").into_response())
}

pub async fn disable(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    admin_action(&form)?;
    state.disable_staff(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/staff?notice=saved").into_response())
}

/// For a lost phone: the member sets up a new authenticator at their next sign-in.
pub async fn reset_two_factor(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    admin_action(&form)?;
    state.reset_two_factor(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/staff?notice=saved").into_response())
}

pub async fn end_sessions(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    admin_action(&form)?;
    state.end_sessions(&form.session.actor(), id).await?;
    if id == form.session.info.staff.id {
        return Ok(Redirect::to("/admin/login?notice=signed_out_everywhere").into_response());
    }
    Ok(Redirect::to("/admin/staff?notice=saved").into_response())
}

struct TokenRow {
    id: i64,
    name: String,
    role: &'static str,
    created_at: String,
    created_by: String,
    last_used_at: String,
    last_used_ip: String,
    revoked: bool,
}

impl TokenRow {
    fn of(t: &ApiTokenListing) -> TokenRow {
        TokenRow {
            id: t.info.id,
            name: t.info.name.clone(),
            role: t.info.role.as_str(),
            created_at: crate::domain::rfc3339(&t.created_at),
            created_by: t.created_by.clone(),
            last_used_at: t
                .last_used_at
                .as_ref()
                .map(crate::domain::rfc3339)
                .unwrap_or_default(),
            last_used_ip: t.last_used_ip.clone().unwrap_or_default(),
            revoked: t.revoked_at.is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    tokens: Vec<TokenRow>,
    roles: Vec<Opt>,
    name: String,
    /// A token just created: (name, secret), shown once.
    created: Option<(String, String)>,
    /// For Statuspage's API under `/v1`: the base URL and this install's page id.
    api_base: String,
    page_id: String,
}

async fn tokens_page(
    state: &AppState,
    session: &StaffSession,
    status: StatusCode,
    notice: String,
    errors: Vec<String>,
    created: Option<(String, String)>,
    name: String,
) -> Result<Response, PageError> {
    let tokens = state.store.api_tokens().await?;
    let page = TokensPage {
        chrome: Chrome::of(session),
        notice,
        errors,
        tokens: tokens.iter().map(TokenRow::of).collect(),
        roles: options(&ROLES, Role::Responder.as_str()),
        name,
        created,
        api_base: state.cache.site().url.clone(),
        page_id: state.cache.site().page_id.clone(),
    };
    Ok(render(status, &page))
}

pub async fn tokens(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    tokens_page(
        &state,
        &session,
        StatusCode::OK,
        notice(q.notice.as_deref()),
        vec![],
        None,
        String::new(),
    )
    .await
}

pub async fn create_token(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    form.session.require_recent_auth("/admin/tokens")?;
    let raw_name = form.fields.get("name").trim().to_string();
    let (name, role) = match (
        parse_token_name(&raw_name),
        Role::parse("role", form.fields.get("role")),
    ) {
        (Ok(name), Ok(role)) => (name, role),
        (name, role) => {
            let errors = [name.err(), role.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect();
            return tokens_page(
                &state,
                &form.session,
                StatusCode::UNPROCESSABLE_ENTITY,
                String::new(),
                errors,
                None,
                raw_name,
            )
            .await;
        }
    };
    let (info, secret) = state
        .create_token(
            &form.session.actor(),
            &name,
            role,
            Some(form.session.info.staff.id),
        )
        .await?;
    tokens_page(
        &state,
        &form.session,
        StatusCode::OK,
        String::new(),
        vec![],
        Some((info.name, secret)),
        String::new(),
    )
    .await
}

/// Revoking is always allowed without a fresh code: taking access away is safe.
pub async fn revoke_token(
    State(state): State<AppState>,
    Id(id): Id,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    state.revoke_token(&form.session.actor(), id).await?;
    Ok(Redirect::to("/admin/tokens?notice=revoked").into_response())
}
