//! Connecting the company's X account: the three legs of OAuth 1.0a. An admin asks for a
//! request token (leg one), approves the app on X (leg two), and X sends the browser back to
//! the callback with a verifier, which Herald trades for the access token (leg three) and
//! stores sealed. The page then shows the connected @handle and a Disconnect button.
//!
//! The session cookie is SameSite=Strict, so the browser does not send it on X's cross-site
//! redirect: the callback answers with a page that moves on to `/admin/x/finish` from this
//! site, where the session is present and the request token must be one this admin started.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{notice, render, Chrome, NoticeQuery};
use crate::channels::x::RequestToken;
use crate::domain::Role;
use crate::web::auth::{AdminForm, StaffSession};
use crate::web::error::PageError;
use crate::web::AppState;

/// Sealing purpose of a request token's secret between leg one and the callback.
use crate::security::seal::purpose::X_REQUEST as REQUEST_PURPOSE;

#[derive(Template)]
#[template(path = "admin/x.html")]
struct XPage {
    chrome: Option<Chrome>,
    notice: String,
    errors: Vec<String>,
    configured: bool,
    account: Option<AccountView>,
    queued: i64,
}

struct AccountView {
    username: String,
    connected_at: String,
    connected_by: String,
    held_until: Option<String>,
    refused: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    session: StaffSession,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let account = state.store.x_account().await?;
    let now = crate::domain::now();
    let queued = state.store.x_queue_length().await?;
    let page = XPage {
        chrome: Chrome::of(&session),
        notice: x_notice(query.notice.as_deref()),
        errors: Vec::new(),
        configured: state.x.is_some(),
        account: account.map(|a| AccountView {
            username: a.username,
            connected_at: crate::domain::rfc3339(&a.connected_at),
            connected_by: a.connected_by,
            held_until: a
                .hold_until
                .filter(|u| *u > now)
                .map(|u| crate::domain::rfc3339(&u)),
            refused: a.refused_error,
        }),
        queued,
    };
    Ok(render(StatusCode::OK, &page))
}

fn x_notice(code: Option<&str>) -> String {
    match code {
        Some("connected") => {
            "The X account is connected. Updates with notifications are posted to it.".into()
        }
        Some("disconnected") => {
            "The X account is disconnected; posts still queued for it were cancelled.".into()
        }
        Some("denied") => "The app was not approved on X; nothing changed.".into(),
        other => notice(other),
    }
}

fn client(state: &AppState) -> Result<&crate::channels::x::XClient, PageError> {
    state.x.as_deref().ok_or_else(|| {
        PageError::BadRequest(
            "X is not configured: set HERALD_X_CONSUMER_KEY and HERALD_X_CONSUMER_SECRET and restart Herald".into(),
        )
    })
}

/// Leg one: a request token, then off to X to approve the app.
pub async fn connect(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    form.session.require_recent_auth("/admin/x")?;
    state
        .screen_privileged(&form.session.actor(), "connecting X")
        .await?;
    let x = client(&state)?;
    let callback = format!("{}/admin/x/callback", state.config.public_url());
    let request = x
        .request_token(&callback)
        .await
        .map_err(|e| PageError::BadRequest(format!("Could not start connecting to X: {e}")))?;
    let sealed = state
        .sealer
        .seal(REQUEST_PURPOSE, &request.secret)
        .map_err(|e| PageError::Internal(e.into()))?;
    state
        .store
        .save_x_connect_request(&request.token, &sealed, &form.session.author())
        .await?;
    Ok(Redirect::to(&x.authorize_url(&request.token)).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    oauth_token: Option<String>,
    oauth_verifier: Option<String>,
    denied: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/x_callback.html")]
struct CallbackPage {
    next: String,
}

/// X sends the browser here. No session cookie arrives on this cross-site redirect; a page of
/// this site moves on to `finish`, which is a same-site request.
pub async fn callback(Query(query): Query<CallbackQuery>) -> Response {
    let next = match (&query.oauth_token, &query.oauth_verifier, &query.denied) {
        (Some(token), Some(verifier), None) => format!(
            "/admin/x/finish?{}",
            serde_urlencoded::to_string([("oauth_token", token), ("oauth_verifier", verifier)])
                .unwrap_or_default()
        ),
        _ => "/admin/x?notice=denied".to_string(),
    };
    let mut response = render(StatusCode::OK, &CallbackPage { next });
    // The verifier is in this URL: keep it out of other sites' Referer headers.
    response.headers_mut().insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    response
}

#[derive(Deserialize)]
pub struct FinishQuery {
    oauth_token: String,
    oauth_verifier: String,
}

/// Leg three: the verifier for the access token, which is stored sealed.
pub async fn finish(
    State(state): State<AppState>,
    session: StaffSession,
    Query(query): Query<FinishQuery>,
) -> Result<Response, PageError> {
    session.require(Role::Admin)?;
    let x = client(&state)?;
    let (sealed, started_by) = state
        .store
        .take_x_connect_request(&query.oauth_token)
        .await?
        .ok_or_else(|| {
            PageError::BadRequest(
                "This connect link has expired or was already used. Start again from the X page."
                    .into(),
            )
        })?;
    if started_by != session.author() {
        return Err(PageError::Forbidden(
            "This X connection was started by someone else; start your own from the X page.".into(),
        ));
    }
    let secret = state
        .sealer
        .open(REQUEST_PURPOSE, &sealed)
        .map_err(|e| PageError::Internal(e.into()))?;
    let request = RequestToken {
        token: query.oauth_token,
        secret,
    };
    let connected = x
        .access_token(&request, &query.oauth_verifier)
        .await
        .map_err(|e| PageError::BadRequest(format!("X did not complete the connection: {e}")))?;
    state.connect_x(&session.actor(), connected).await?;
    Ok(Redirect::to("/admin/x?notice=connected").into_response())
}

/// The live counter under the post text: the same twitter-text rules the server enforces.
pub async fn tweet_length(form: AdminForm) -> Response {
    axum::Json(crate::domain::tweet::parse_tweet(form.fields.get("text"))).into_response()
}

pub async fn disconnect(
    State(state): State<AppState>,
    form: AdminForm,
) -> Result<Response, PageError> {
    form.session.require(Role::Admin)?;
    state.disconnect_x(&form.session.actor()).await?;
    Ok(Redirect::to("/admin/x?notice=disconnected").into_response())
}
