//! Signing in and out, and enrolment: a new staff member sets a password through a one-time link.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{notice, render, Chrome, NoticeQuery};
use crate::security::{password, secret};
use crate::store::SESSION_ABSOLUTE;
use crate::web::auth::{
    cookie, session_cookie_name, set_cookie, AdminForm, Client, Fields, CSRF_REFUSED,
    PRE_SESSION_CSRF,
};
use crate::web::error::PageError;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    email: String,
}

#[derive(Template)]
#[template(path = "admin/enrol.html")]
struct EnrolPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    email: String,
    secret: String,
}

/// A page with a fresh pre-session CSRF token in both a cookie and the form.
fn with_csrf_cookie(
    state: &AppState,
    status: StatusCode,
    page: impl FnOnce(String) -> Response,
) -> Response {
    let csrf = secret::generate("");
    let mut response = page(csrf.clone());
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PRE_SESSION_CSRF, &csrf, 3600, state.config.is_https()),
    );
    response
}

/// Checks the pre-session CSRF token (cookie against form field).
fn check_pre_session_csrf(headers: &HeaderMap, fields: &Fields) -> Result<(), PageError> {
    let expected = cookie(headers, PRE_SESSION_CSRF).unwrap_or("");
    if expected.is_empty() || !secret::equal(expected, fields.get("csrf")) {
        return Err(PageError::Forbidden(CSRF_REFUSED.into()));
    }
    Ok(())
}

pub async fn login_page(State(state): State<AppState>, Query(q): Query<NoticeQuery>) -> Response {
    with_csrf_cookie(&state, StatusCode::OK, |csrf| {
        let page = LoginPage {
            chrome: None,
            notice: notice(q.notice.as_deref()),
            errors: vec![],
            csrf,
            email: String::new(),
        };
        render(StatusCode::OK, &page)
    })
}

/// The one message for every failed sign-in, so it reveals nothing about which part was wrong.
const LOGIN_FAILED: &str = "Email or password is incorrect.";

pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body)?;
    check_pre_session_csrf(&headers, &fields)?;
    let email = fields.get("email").trim().to_string();
    let found = state.store.staff_for_login(&email).await?;
    let (staff, hash) = match found {
        Some((staff, hash)) => (Some(staff), hash),
        None => (None, None),
    };
    let ok = password::verify(fields.get("password").to_string(), hash).await;
    let Some(staff) = staff.filter(|_| ok) else {
        tracing::info!(ip = %client.ip, "failed staff sign-in");
        return Ok(with_csrf_cookie(&state, StatusCode::UNAUTHORIZED, |csrf| {
            let page = LoginPage {
                chrome: None,
                notice: String::new(),
                errors: vec![LOGIN_FAILED.into()],
                csrf,
                email,
            };
            render(StatusCode::UNAUTHORIZED, &page)
        }));
    };
    let https = state.config.is_https();
    let name = session_cookie_name(https);
    let previous = cookie(&headers, name);
    let (session_secret, _) = state
        .store
        .create_session(staff.id, previous, &client.ip, &client.user_agent)
        .await?;
    tracing::info!(staff.id = staff.id, ip = %client.ip, "staff signed in");
    let mut response = Redirect::to("/admin").into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(name, &session_secret, SESSION_ABSOLUTE.num_seconds(), https),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(PRE_SESSION_CSRF, "", 0, https),
    );
    Ok(response)
}

pub async fn logout(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    state.store.end_session(&form.session.info.id_hash).await?;
    let https = state.config.is_https();
    let mut response = Redirect::to("/admin/login?notice=signed_out").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie_name(https), "", 0, https),
    );
    Ok(response)
}

const ENROLMENT_GONE: &str =
    "This enrolment link is invalid, used or expired. Ask an admin for a new one.";

pub async fn enrol_page(
    State(state): State<AppState>,
    Path(enrol_secret): Path<String>,
) -> Result<Response, PageError> {
    let staff = state
        .store
        .staff_by_enrolment(&enrol_secret)
        .await
        .map_err(|_| PageError::BadRequest(ENROLMENT_GONE.into()))?;
    Ok(with_csrf_cookie(&state, StatusCode::OK, |csrf| {
        let page = EnrolPage {
            chrome: None,
            notice: String::new(),
            errors: vec![],
            csrf,
            email: staff.email,
            secret: enrol_secret,
        };
        render(StatusCode::OK, &page)
    }))
}

pub async fn enrol(
    State(state): State<AppState>,
    Path(enrol_secret): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body)?;
    check_pre_session_csrf(&headers, &fields)?;
    let staff = state
        .store
        .staff_by_enrolment(&enrol_secret)
        .await
        .map_err(|_| PageError::BadRequest(ENROLMENT_GONE.into()))?;
    if let Err(e) =
        password::check_new_password(fields.get("password"), fields.get("password_confirm"))
    {
        let message = match e.field.as_str() {
            "password_confirm" => "The two passwords differ.".to_string(),
            _ => format!("The password {}.", e.message),
        };
        return Ok(with_csrf_cookie(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            |csrf| {
                let page = EnrolPage {
                    chrome: None,
                    notice: String::new(),
                    errors: vec![message],
                    csrf,
                    email: staff.email,
                    secret: enrol_secret,
                };
                render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            },
        ));
    }
    let hash = password::hash(fields.get("password").to_string()).await?;
    state
        .store
        .complete_enrolment(&enrol_secret, &hash)
        .await
        .map_err(|_| PageError::BadRequest(ENROLMENT_GONE.into()))?;
    tracing::info!(staff.id = staff.id, "staff member enrolled");
    Ok(Redirect::to("/admin/login?notice=enrolled").into_response())
}
