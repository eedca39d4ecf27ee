//! Who is asking: staff sessions (cookie) for the admin pages, bearer tokens for the admin API,
//! and the CSRF check that every admin form passes through.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};

use super::error::{ApiError, PageError};
use super::AppState;
use crate::app::Actor;
use crate::domain::{Choice, Role};
use crate::security::secret;
use crate::store::{ApiTokenInfo, Found, SessionInfo};

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

/// The client's address and browser, for sessions and the audit log.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = match peer {
            None => "unknown".to_string(),
            Some(peer) => {
                let forwarded: Vec<&str> = parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                crate::security::net::client_address(peer, &forwarded, &state.proxies).to_string()
            }
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Ok(Client { ip, user_agent })
    }
}

/// A signed-in staff member whose second factor is done. Extracting it from a request without
/// such a session redirects to the sign-in page (or to two-factor set-up, for a session that has
/// passed the password only).
pub struct StaffSession {
    pub info: SessionInfo,
    pub client: Client,
    /// Whether the kill switch is on, for the banner every admin page shows.
    pub outbound_paused: bool,
    /// Why the tripwire paused outbound ("rule: what happened"), if it did.
    pub tripped: Option<String>,
    state: AppState,
}

/// How long a re-authentication lets sensitive actions through.
pub const REAUTH_WINDOW: chrono::Duration = chrono::Duration::minutes(10);
/// A role change this recent makes reaching for the old role's powers a tripwire rule.
const DEMOTION_WATCH: chrono::Duration = chrono::Duration::hours(24);

impl StaffSession {
    /// Refuses the action unless the member's role allows it. A member demoted in the last day
    /// who tries what only the old role allowed trips the wire.
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        let staff = &self.info.staff;
        if staff.role.allows(role) {
            return Ok(());
        }
        let just_demoted = staff
            .role_changed_at
            .is_some_and(|at| crate::domain::now() - at < DEMOTION_WATCH);
        if just_demoted && staff.previous_role.is_some_and(|old| old.allows(role)) {
            let state = self.state.clone();
            let actor = self.actor();
            let trip = crate::security::tripwire::Trip {
                rule: crate::security::tripwire::Rule::RevokedAccount,
                detail: format!(
                    "{} was demoted from {} to {} and tried an action that needs {}",
                    staff.email,
                    staff.previous_role.map_or("?", Role::as_str),
                    staff.role.as_str(),
                    role.as_str()
                ),
            };
            tokio::spawn(async move {
                if let Err(e) = state.trip(&actor, &trip).await {
                    tracing::error!(error = %e, "tripping the wire failed");
                }
            });
        }
        Err(PageError::Forbidden(format!(
            "This needs the {} role; you are a {}.",
            role.as_str(),
            staff.role.as_str()
        )))
    }

    /// Refuses a sensitive action unless the member gave their code within the last ten
    /// minutes; `back_to` is the page to return to after giving it.
    pub fn require_recent_auth(&self, back_to: &str) -> Result<(), PageError> {
        let fresh = self
            .info
            .reauth_at
            .is_some_and(|at| crate::domain::now() - at < REAUTH_WINDOW);
        if fresh {
            Ok(())
        } else {
            Err(PageError::Reauthenticate(back_to.to_string()))
        }
    }

    /// Who did it, as recorded on updates.
    pub fn author(&self) -> String {
        format!("staff:{}", self.info.staff.email)
    }

    /// Who did it, for the audit log and the tripwire.
    pub fn actor(&self) -> Actor {
        Actor::staff(
            self.info.staff.id,
            &self.info.staff.email,
            &self.client.ip,
            &self.client.user_agent,
        )
    }
}

/// Sessions touched within this long are not written again, to spare the database.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// Sign in first, then come back to the admin page asked for (a deep link from an on-call
/// page, say). Only a GET is worth coming back to: a form posted without a session is lost.
fn sign_in(parts: &Parts) -> PageError {
    let wanted = parts.uri.path_and_query().map(|p| p.as_str().to_string());
    PageError::SignIn(
        wanted.filter(|p| parts.method == axum::http::Method::GET && p.starts_with("/admin/")),
    )
}

/// A session that has passed the password, second factor or not: all the two-factor set-up
/// pages need.
pub struct AnySession {
    pub info: SessionInfo,
    pub client: Client,
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let name = session_cookie_name(state.config.is_https());
        let secret = cookie(&parts.headers, name).ok_or_else(|| sign_in(parts))?;
        let found = state.store.session(secret).await?;
        let client = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let info = match found {
            Found::Genuine(info) => info,
            Found::Nothing => return Err(sign_in(parts)),
            Found::Forged(detail) => {
                let actor = Actor::anonymous(&client.ip, &client.user_agent);
                state.trip_forged_credential(&actor, detail).await?;
                return Err(PageError::SignIn(None));
            }
        };
        if crate::domain::now() - info.last_seen_at > TOUCH_EVERY {
            state.store.touch_session(&info.id_hash).await?;
        }
        Ok(AnySession { info, client })
    }
}

impl FromRequestParts<AppState> for StaffSession {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let AnySession { info, client } = AnySession::from_request_parts(parts, state).await?;
        if info.mfa_at.is_none() {
            return Err(if info.staff.two_factor {
                sign_in(parts)
            } else {
                PageError::SetUpTwoFactor
            });
        }
        let outbound_paused = state.notifier.is_paused();
        let tripped = if outbound_paused {
            let outbound = state.store.outbound_state().await?;
            (!outbound.tripped_rule.is_empty()).then_some(outbound.reason)
        } else {
            None
        };
        Ok(StaffSession {
            info,
            client,
            outbound_paused,
            tripped,
            state: state.clone(),
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
            .map_err(|e| super::error::unread_form(&e))?;
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
    pub client: Client,
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

    /// Who did it, for the audit log and the tripwire.
    pub fn actor(&self) -> Actor {
        Actor::token(
            self.token.id,
            &self.token.name,
            &self.client.ip,
            &self.client.user_agent,
        )
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
        let client = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let token = match state.store.use_api_token(&token, &client.ip).await? {
            Found::Genuine(token) => token,
            Found::Nothing => return Err(ApiError::Unauthorized),
            Found::Forged(detail) => {
                let actor = Actor::anonymous(&client.ip, &client.user_agent);
                state.trip_forged_credential(&actor, detail).await?;
                return Err(ApiError::Unauthorized);
            }
        };
        let caller = ApiCaller { token, client };
        // A token's first address is learnt; a later new one is recorded, and trips the wire
        // if it is used for a privileged action (`App::screen_privileged`).
        let actor = caller.actor();
        let (known, any) = state.store.known_source(&actor.key, &actor.ip).await?;
        if !known && !any {
            state.store.remember_source(&actor.key, &actor.ip).await?;
        } else if !known {
            state
                .audit(
                    &actor,
                    "token.new_address",
                    &actor.key,
                    serde_json::json!({}),
                )
                .await;
        }
        Ok(caller)
    }
}

/// A JSON object body, read strictly (`api::body`): 415 unless sent as `application/json`,
/// 422 naming the field for anything but the object the endpoint expects, 413 when too large.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|r| super::api::body::too_large_or_malformed(&r))?;
        super::api::body::read_bytes(&headers, &body).map(ApiJson)
    }
}

/// Like [`ApiJson`], but an empty body is `T::default()`: for endpoints whose every field is
/// optional (`POST /pause` with nothing to say).
pub struct ApiJsonOrEmpty<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default, S: Send + Sync> FromRequest<S>
    for ApiJsonOrEmpty<T>
{
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|r| super::api::body::too_large_or_malformed(&r))?;
        super::api::body::read(&headers, &body, Some(T::default())).map(ApiJsonOrEmpty)
    }
}
