//! Signing in and out, enrolment (a new staff member sets a password through a one-time link),
//! the second factor (TOTP set-up at first sign-in, recovery codes), re-authentication before
//! sensitive actions, and the account page with "sign out everywhere".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::{notice, render, Chrome, NoticeQuery};
use crate::app::Actor;
use crate::security::seal::purpose;
use crate::security::tripwire::{Rule, Trip};
use crate::security::{password, secret, totp};
use crate::store::{Found, SessionSummary, Staff, SESSION_ABSOLUTE};
use crate::web::auth::{
    cookie, session_cookie_name, set_cookie, AdminForm, AnySession, Client, Fields, StaffSession,
    CSRF_REFUSED, PRE_SESSION_CSRF,
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
    /// The admin page to go to once signed in.
    next: String,
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

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    notice: Option<String>,
    next: Option<String>,
}

pub async fn login_page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    with_csrf_cookie(&state, StatusCode::OK, |csrf| {
        let page = LoginPage {
            chrome: None,
            notice: notice(q.notice.as_deref()),
            errors: vec![],
            csrf,
            email: String::new(),
            next: safe_next(q.next.as_deref().unwrap_or("/admin")),
        };
        render(StatusCode::OK, &page)
    })
}

/// The one message for every failed sign-in, so it reveals nothing about which part was wrong.
const LOGIN_FAILED: &str = "Email, password or code is incorrect.";
/// Failures allowed per account, and per address, before each further one locks for longer.
const FREE_FAILURES_PER_ACCOUNT: i64 = 5;
const FREE_FAILURES_PER_IP: i64 = 20;

/// Checks a second factor: a TOTP code (each accepted once) or an unused recovery code.
/// Returns which it was.
async fn second_factor(
    state: &AppState,
    staff: &Staff,
    code: &str,
) -> Result<Option<&'static str>, PageError> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(None);
    }
    if totp::is_recovery_code(code) {
        let used = state
            .store
            .use_recovery_code(staff.id, &totp::recovery_digest(code))
            .await?;
        return Ok(used.then_some("recovery code"));
    }
    let Some((sealed, last_step)) = state.store.totp_seed(staff.id).await? else {
        return Ok(None);
    };
    let seed = state
        .sealer
        .open(&purpose::totp(staff.id), &sealed)
        .ok()
        .and_then(|text| totp::Seed::from_base32(&text))
        .ok_or_else(|| {
            PageError::Internal(anyhow::anyhow!(
                "the TOTP seed of staff {} does not open with this secret key",
                staff.id
            ))
        })?;
    let now = u64::try_from(crate::domain::now().timestamp()).unwrap_or(0);
    let Some(step) = seed.verify(code, now, u64::try_from(last_step).unwrap_or(0)) else {
        return Ok(None);
    };
    // Taken atomically: two sign-ins racing with one code cannot both win.
    let fresh = state
        .store
        .accept_totp_step(staff.id, i64::try_from(step).unwrap_or(i64::MAX))
        .await?;
    Ok(fresh.then_some("authenticator code"))
}

pub async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body)?;
    check_pre_session_csrf(&headers, &fields)?;
    let email = fields.get("email").trim().to_lowercase();
    let anonymous = Actor::anonymous(&client.ip, &client.user_agent);
    let account_key = format!("account:{email}");
    let ip_key = format!("ip:{}", client.ip);

    let next = safe_next(fields.get("next"));
    let failed_page = |status: StatusCode, message: String, email: String| {
        with_csrf_cookie(&state, status, |csrf| {
            let page = LoginPage {
                chrome: None,
                notice: String::new(),
                errors: vec![message],
                csrf,
                email,
                next: next.clone(),
            };
            render(status, &page)
        })
    };

    if let Some(until) = state
        .store
        .login_locked_until(&[&account_key, &ip_key])
        .await?
    {
        let wait = (until - crate::domain::now()).num_seconds().max(1);
        state
            .audit(
                &anonymous,
                "login.throttled",
                &format!("account:{email}"),
                json!({ "email": email, "wait_seconds": wait }),
            )
            .await;
        let mut response = failed_page(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins. Wait {wait} seconds and try again."),
            email,
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(response);
    }

    let found = state.store.staff_for_login(&email).await?;
    let (staff, hash) = match found {
        Some((staff, hash)) => (Some(staff), hash),
        None => (None, None),
    };
    let password_ok = password::verify(fields.get("password").to_string(), hash).await;
    let mut method = None;
    let mut reason = "unknown account or wrong password";
    if let Some(staff) = staff.as_ref().filter(|_| password_ok) {
        if staff.disabled {
            reason = "disabled account";
            let actor = Actor::staff(staff.id, &staff.email, &client.ip, &client.user_agent);
            let trip = Trip {
                rule: Rule::RevokedAccount,
                detail: format!(
                    "the disabled account {} signed in with its password",
                    staff.email
                ),
            };
            state.trip(&actor, &trip).await?;
        } else if staff.two_factor {
            method = second_factor(&state, staff, fields.get("code")).await?;
            reason = "wrong, used or missing second-factor code";
        } else {
            method = Some("password; two-factor set-up follows");
        }
    }
    let Some(staff) = staff.filter(|_| method.is_some()) else {
        state
            .store
            .record_login_failure(&account_key, FREE_FAILURES_PER_ACCOUNT)
            .await?;
        state
            .store
            .record_login_failure(&ip_key, FREE_FAILURES_PER_IP)
            .await?;
        tracing::info!(ip = %client.ip, "failed staff sign-in");
        state
            .audit(
                &anonymous,
                "login.failed",
                &format!("account:{email}"),
                json!({ "email": email, "reason": reason }),
            )
            .await;
        return Ok(failed_page(
            StatusCode::UNAUTHORIZED,
            LOGIN_FAILED.into(),
            email,
        ));
    };
    state.store.clear_login_failures(&account_key).await?;

    let https = state.config.is_https();
    let name = session_cookie_name(https);
    let previous = cookie(&headers, name);
    let pending = state
        .store
        .create_session(staff.id, previous, &client.ip, &client.user_agent)
        .await?;
    let (session_secret, to) = if staff.two_factor {
        let pending_hash = state.store.session_id_hash(&pending)?;
        (
            state.store.complete_mfa(&pending_hash).await?,
            next.as_str(),
        )
    } else {
        (pending, "/admin/2fa")
    };
    let actor = Actor::staff(staff.id, &staff.email, &client.ip, &client.user_agent);
    state
        .audit(
            &actor,
            "login.success",
            &actor.key,
            json!({ "with": method }),
        )
        .await;
    tracing::info!(staff.id = staff.id, ip = %client.ip, "staff signed in");
    let mut response = Redirect::to(to).into_response();
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

#[derive(Template)]
#[template(path = "admin/two_factor.html")]
struct TwoFactorPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    csrf: String,
    email: String,
    qr_svg: String,
    otpauth: String,
    secret: String,
}

/// The authenticator seed proposed to a member setting up two-factor, kept sealed until a code
/// from it confirms it (so reloading the page shows the same one).
async fn proposed_seed(state: &AppState, staff: &Staff) -> Result<totp::Seed, PageError> {
    let existing = state.store.totp_seed(staff.id).await?;
    if let Some(seed) = existing.and_then(|(sealed, _)| {
        state
            .sealer
            .open(&purpose::totp(staff.id), &sealed)
            .ok()
            .and_then(|t| totp::Seed::from_base32(&t))
    }) {
        return Ok(seed);
    }
    let seed = totp::Seed::generate();
    let sealed = state
        .sealer
        .seal(&purpose::totp(staff.id), &seed.base32())
        .map_err(|e| PageError::Internal(e.into()))?;
    state.store.propose_totp(staff.id, &sealed).await?;
    Ok(seed)
}

fn two_factor_page(
    state: &AppState,
    session: &AnySession,
    seed: &totp::Seed,
    errors: Vec<String>,
) -> Response {
    let otpauth = seed.otpauth_uri(&state.config.page_name, &session.info.staff.email);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = TwoFactorPage {
        chrome: None,
        notice: String::new(),
        errors,
        csrf: session.info.csrf_token.clone(),
        email: session.info.staff.email.clone(),
        qr_svg: totp::qr_svg(&otpauth).unwrap_or_default(),
        otpauth,
        secret: seed.grouped(),
    };
    render(status, &page)
}

/// Two-factor set-up, shown after the first sign-in with a password.
pub async fn two_factor_setup(
    State(state): State<AppState>,
    session: AnySession,
) -> Result<Response, PageError> {
    if session.info.staff.two_factor {
        return Ok(Redirect::to("/admin").into_response());
    }
    let seed = proposed_seed(&state, &session.info.staff).await?;
    Ok(two_factor_page(&state, &session, &seed, vec![]))
}

#[derive(Template)]
#[template(path = "admin/recovery_codes.html")]
struct RecoveryCodesPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    codes: Vec<String>,
}

/// Confirms the authenticator with its first code; shows the recovery codes once.
pub async fn two_factor_confirm(
    State(state): State<AppState>,
    session: AnySession,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body)?;
    if !secret::equal(fields.get("csrf"), &session.info.csrf_token) {
        return Err(PageError::Forbidden(CSRF_REFUSED.into()));
    }
    let staff = session.info.staff.clone();
    if staff.two_factor {
        return Ok(Redirect::to("/admin").into_response());
    }
    let seed = proposed_seed(&state, &staff).await?;
    let now = u64::try_from(crate::domain::now().timestamp()).unwrap_or(0);
    let Some(step) = seed.verify(fields.get("code"), now, 0) else {
        return Ok(two_factor_page(
            &state,
            &session,
            &seed,
            vec!["That code is not right. Check that your phone's clock is set automatically, and type the code your app shows now.".into()],
        ));
    };
    let codes = totp::recovery_codes();
    let digests: Vec<String> = codes.iter().map(|c| totp::recovery_digest(c)).collect();
    state
        .store
        .enable_totp(staff.id, i64::try_from(step).unwrap_or(i64::MAX), &digests)
        .await?;
    let new_secret = state.store.complete_mfa(&session.info.id_hash).await?;
    let actor = Actor::staff(
        staff.id,
        &staff.email,
        &session.client.ip,
        &session.client.user_agent,
    );
    // The address of the first full sign-in is this account's first known source.
    state.store.remember_source(&actor.key, &actor.ip).await?;
    state
        .audit(&actor, "2fa.enabled", &actor.key, json!({}))
        .await;
    let page = RecoveryCodesPage {
        chrome: None,
        notice: "Two-factor authentication is on.".into(),
        errors: vec![],
        codes,
    };
    let mut response = render(StatusCode::OK, &page);
    let https = state.config.is_https();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            session_cookie_name(https),
            &new_secret,
            SESSION_ABSOLUTE.num_seconds(),
            https,
        ),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "admin/reauth.html")]
struct ReauthPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    next: String,
}

/// Only same-site admin paths are followed after signing in or re-authenticating.
fn safe_next(next: &str) -> String {
    let path_ok = next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?");
    if path_ok && !next.contains('\\') && !next.chars().any(char::is_control) {
        next.to_string()
    } else {
        "/admin".to_string()
    }
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn reauth_page(session: StaffSession, Query(q): Query<NextQuery>) -> Response {
    let page = ReauthPage {
        chrome: Chrome::of(&session),
        notice: String::new(),
        errors: vec![],
        next: safe_next(q.next.as_deref().unwrap_or("/admin")),
    };
    render(StatusCode::OK, &page)
}

/// Gives the code again; sensitive actions are open for ten minutes.
pub async fn reauth(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    let next = safe_next(form.fields.get("next"));
    let actor = form.session.actor();
    let key = format!("account:{}", form.session.info.staff.email);
    if state.store.login_locked_until(&[&key]).await?.is_some() {
        return Err(PageError::TooMany(
            "Too many wrong codes. Wait a little and try again.".into(),
        ));
    }
    match second_factor(&state, &form.session.info.staff, form.fields.get("code")).await? {
        Some(method) => {
            state
                .store
                .mark_reauthenticated(&form.session.info.id_hash)
                .await?;
            state
                .audit(
                    &actor,
                    "reauth.success",
                    &actor.key,
                    json!({ "with": method }),
                )
                .await;
            Ok(Redirect::to(&next).into_response())
        }
        None => {
            state
                .store
                .record_login_failure(&key, FREE_FAILURES_PER_ACCOUNT)
                .await?;
            state
                .audit(&actor, "reauth.failed", &actor.key, json!({}))
                .await;
            let page = ReauthPage {
                chrome: Chrome::of(&form.session),
                notice: String::new(),
                errors: vec!["That code is not right, or was used already. Type the code your app shows now.".into()],
                next,
            };
            Ok(render(StatusCode::UNAUTHORIZED, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    sessions: Vec<SessionRow>,
    codes_left: i64,
}

struct SessionRow {
    current: bool,
    created_at: String,
    last_seen_at: String,
    ip: String,
    user_agent: String,
}

impl SessionRow {
    fn of(s: &SessionSummary, current: &str) -> SessionRow {
        SessionRow {
            current: s.id_hash == current,
            created_at: crate::domain::rfc3339(&s.created_at),
            last_seen_at: crate::domain::rfc3339(&s.last_seen_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
        }
    }
}

/// Where the member is signed in, their recovery codes, "sign out everywhere".
pub async fn account(
    State(state): State<AppState>,
    session: StaffSession,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let sessions = state.store.staff_sessions(session.info.staff.id).await?;
    let page = AccountPage {
        chrome: Chrome::of(&session),
        notice: notice(q.notice.as_deref()),
        errors: vec![],
        sessions: sessions
            .iter()
            .map(|s| SessionRow::of(s, &session.info.id_hash))
            .collect(),
        codes_left: state
            .store
            .recovery_codes_left(session.info.staff.id)
            .await?,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Ends every session of the member, this one included: a stolen cookie stops working.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    let ended = state
        .store
        .end_all_sessions(form.session.info.staff.id)
        .await?;
    let actor = form.session.actor();
    state
        .audit(
            &actor,
            "session.sign_out_everywhere",
            &actor.key,
            json!({ "sessions": ended }),
        )
        .await;
    let https = state.config.is_https();
    let mut response = Redirect::to("/admin/login?notice=signed_out_everywhere").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie_name(https), "", 0, https),
    );
    Ok(response)
}

/// New recovery codes replace the old ones (after re-authentication).
pub async fn new_recovery_codes(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require_recent_auth("/admin/account")?;
    let codes = totp::recovery_codes();
    let digests: Vec<String> = codes.iter().map(|c| totp::recovery_digest(c)).collect();
    state
        .store
        .replace_recovery_codes(form.session.info.staff.id, &digests)
        .await?;
    let actor = form.session.actor();
    state
        .audit(&actor, "2fa.recovery_codes_replaced", &actor.key, json!({}))
        .await;
    let page = RecoveryCodesPage {
        chrome: Chrome::of(&form.session),
        notice: "New recovery codes; the old ones no longer work.".into(),
        errors: vec![],
        codes,
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn logout(State(state): State<AppState>, form: AdminForm) -> Result<Response, PageError> {
    state.store.end_session(&form.session.info.id_hash).await?;
    let actor = form.session.actor();
    state.audit(&actor, "logout", &actor.key, json!({})).await;
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

/// The member an enrolment link is for. A link whose row was edited in the database trips the
/// wire and is refused like a used one.
async fn enrolling(
    state: &AppState,
    client: &Client,
    enrol_secret: &str,
) -> Result<Staff, PageError> {
    match state.store.staff_by_enrolment(enrol_secret).await? {
        Found::Genuine(staff) => Ok(staff),
        Found::Nothing => Err(PageError::BadRequest(ENROLMENT_GONE.into())),
        Found::Forged(detail) => {
            let actor = Actor::anonymous(&client.ip, &client.user_agent);
            state.trip_forged_credential(&actor, detail).await?;
            Err(PageError::BadRequest(ENROLMENT_GONE.into()))
        }
    }
}

pub async fn enrol_page(
    State(state): State<AppState>,
    client: Client,
    Path(enrol_secret): Path<String>,
) -> Result<Response, PageError> {
    let staff = enrolling(&state, &client, &enrol_secret).await?;
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
    client: Client,
    Path(enrol_secret): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = Fields::parse(&body)?;
    check_pre_session_csrf(&headers, &fields)?;
    let staff = enrolling(&state, &client, &enrol_secret).await?;
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
    let actor = Actor::staff(staff.id, &staff.email, "", "");
    state
        .audit(&actor, "staff.enrolled", &actor.key, json!({}))
        .await;
    Ok(Redirect::to("/admin/login?notice=enrolled").into_response())
}
