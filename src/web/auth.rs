//! Who is asking: staff sessions (cookie) for the admin pages, bearer tokens for the admin API,
//! and the CSRF check that every admin form passes through.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};

use super::error::{ApiError, PageError};
use super::AppState;
use crate::domain::{Choice, Role};
use crate::security::secret;
use crate::store::{ApiTokenInfo, SessionInfo};

/// The session cookie. With https it carries the `__Host-` prefix, which browsers only accept
/// when Secure, host-only and Path=/, so a sibling subdomain cannot plant one.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-herald_session"
    } else {
        "herald_session"
    }
}

/// Cookie holding the CSRF token of the sign-in and enrolment forms (no session yet).
pub const PRE_SESSION_CSRF: &str = "herald_csrf";

/// The value of one cookie from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure over https.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let value = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The client's address and browser, for sessions and (later) the audit log.
pub struct Client {
    pub ip: String,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Ok(Client { ip, user_agent })
    }
}

/// A signed-in staff member. Extracting it from a request without a live session redirects
/// to the sign-in page.
pub struct StaffSession {
    pub info: SessionInfo,
    /// Whether the kill switch is on, for the banner every admin page shows.
    pub outbound_paused: bool,
}

impl StaffSession {
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        if self.info.staff.role.allows(role) {
            Ok(())
        } else {
            Err(PageError::Forbidden(format!(
                "This needs the {} role; you are a {}.",
                role.as_str(),
                self.info.staff.role.as_str()
            )))
        }
    }

    /// Who did it, as recorded on updates.
    pub fn author(&self) -> String {
        format!("staff:{}", self.info.staff.email)
    }
}

/// Sessions touched within this long are not written again, to spare the database.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let name = session_cookie_name(state.config.is_https());
        let secret = cookie(&parts.headers, name).ok_or(PageError::SignIn)?;
        let info = state
            .store
            .session(secret)
            .await?
            .ok_or(PageError::SignIn)?;
        if crate::domain::now() - info.last_seen_at > TOUCH_EVERY {
            state.store.touch_session(&info.id_hash).await?;
        }
        Ok(StaffSession {
            info,
            outbound_paused: state.notifier.is_paused(),
        })
    }
}

/// Submitted form fields in order, as sent.
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Fields, PageError> {
        serde_urlencoded::from_bytes(body)
            .map(Fields)
            .map_err(|_| PageError::BadRequest("The form could not be read.".into()))
    }

    /// The first value of a field, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Every value of a repeated field (checkbox groups).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `(suffix, value)` of every non-empty field named `prefix` + something.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
            .filter(|(_, v)| !v.is_empty())
    }
}

/// A form posted by a signed-in staff member, CSRF token checked. Every state-changing admin
/// page takes one, so no handler can forget the check.
pub struct AdminForm {
    pub session: StaffSession,
    pub fields: Fields,
}

pub const CSRF_REFUSED: &str =
    "This form was not sent from a current Herald page (the security token did not match). Reload the page and try again.";

impl FromRequest<AppState> for AdminForm {
    type Rejection = PageError;
    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let session = StaffSession::from_request_parts(&mut parts, state).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| PageError::BadRequest(e.body_text()))?;
        let fields = Fields::parse(&body)?;
        if !secret::equal(fields.get("csrf"), &session.info.csrf_token) {
            return Err(PageError::Forbidden(CSRF_REFUSED.into()));
        }
        Ok(AdminForm { session, fields })
    }
}

/// A caller of the admin API, identified by a bearer token.
pub struct ApiCaller {
    pub token: ApiTokenInfo,
}

impl ApiCaller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.token.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token has the {} role; this action needs {}",
                self.token.role.as_str(),
                role.as_str()
            )))
        }
    }

    pub fn author(&self) -> String {
        format!("token:{}", self.token.name)
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or(ApiError::Unauthorized)?;
        let Client { ip, .. } = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let token = state
            .store
            .use_api_token(&token, &ip)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(ApiCaller { token })
    }
}

/// A JSON body whose errors answer 400 with the offending field named.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge(
                    "the request body is too large".to_string(),
                ))
            }
            Err(rejection) => Err(ApiError::Malformed(rejection.body_text())),
        }
    }
}
