//! `Authorization: OAuth <token>` (Statuspage's scheme; `Bearer` works too) with Herald's own
//! API tokens: the same hashed-token check, address learning and roles as the admin API.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};

use super::error::V1Error;
use crate::domain::Role;
use crate::web::auth::ApiCaller;
use crate::web::AppState;

/// A caller of `/v1`, identified by an API token.
pub struct V1Caller(pub ApiCaller);

impl V1Caller {
    pub fn require(&self, role: Role) -> Result<(), V1Error> {
        self.0.require(role).map_err(V1Error::from)
    }

    pub fn actor(&self) -> crate::app::Actor {
        self.0.actor()
    }
}

impl FromRequestParts<AppState> for V1Caller {
    type Rejection = V1Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, V1Error> {
        // Statuspage's `OAuth` scheme names the same kind of token as Herald's `Bearer`:
        // translate it, so the one token check of the admin API applies unchanged.
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("");
        let token = match given.split_once(' ') {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("oauth")
                    || scheme.eq_ignore_ascii_case("bearer") =>
            {
                Some(token.trim())
            }
            _ => None,
        };
        let bearer = token
            .filter(|t| !t.is_empty())
            .and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok());
        match bearer {
            Some(value) => {
                parts.headers.insert(header::AUTHORIZATION, value);
            }
            None => {
                parts.headers.remove(header::AUTHORIZATION);
            }
        }
        Ok(V1Caller(ApiCaller::from_request_parts(parts, state).await?))
    }
}
