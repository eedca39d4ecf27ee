//! One error type per boundary: `ApiError` answers JSON (`{"errors": [...]}`), `PageError`
//! answers HTML. Handlers use bare `?`; a 5xx tells the client only "Something went wrong" and
//! the cause is logged once, here.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::app::AppError;
use crate::domain::Invalid;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body could not be read as the expected JSON (400).
    #[error("{0}")]
    Malformed(String),
    /// The body is larger than `max_body_bytes` (413).
    #[error("{0}")]
    TooLarge(String),
    /// The body is not sent as JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed input that breaks a rule (422), one message per field.
    #[error("{0}")]
    Invalid(Invalid),
    #[error("missing or invalid API token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(invalid) => ApiError::Invalid(invalid),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(e) => e.into(),
            AppError::Internal(e) => ApiError::Internal(e),
            AppError::Tripped(message) => ApiError::Forbidden(message),
            AppError::Paused(message) => ApiError::Conflict(message),
            AppError::NeedsFreshCode { reason } => ApiError::Forbidden(format!(
                "this needs an admin who gave their two-factor code again just now, on the \
                 admin pages ({reason})"
            )),
        }
    }
}

impl From<Invalid> for PageError {
    fn from(e: Invalid) -> Self {
        PageError::Invalid(e)
    }
}

/// A request body the server did not read: 413 when it was over the limit.
pub fn unread_form(rejection: &axum::extract::rejection::BytesRejection) -> PageError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        PageError::TooLarge("The form is too large to accept.".into())
    } else {
        PageError::BadRequest(rejection.body_text())
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, messages) = match &self {
            ApiError::Malformed(m) => (StatusCode::BAD_REQUEST, vec![m.clone()]),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, vec![m.clone()]),
            ApiError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, vec![m.clone()])
            }
            ApiError::Invalid(invalid) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                invalid.0.iter().map(ToString::to_string).collect(),
            ),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, vec![self.to_string()]),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, vec![m.clone()]),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, vec![self.to_string()]),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, vec![m.clone()]),
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "admin API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    vec!["Something went wrong".to_string()],
                )
            }
        };
        let mut response =
            (status, Json(serde_json::json!({ "errors": messages }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Errors of the admin pages, shown as a short HTML page (or a redirect to sign in).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Not signed in; the admin page asked for (a GET), to return to after signing in.
    #[error("sign in required")]
    SignIn(Option<String>),
    /// The session passed the password but its owner has no second factor yet.
    #[error("two-factor set-up required")]
    SetUpTwoFactor,
    /// A sensitive action needs the code again; the page to come back to.
    #[error("re-authentication required")]
    Reauthenticate(String),
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that breaks a rule (422), naming each field.
    #[error("{0}")]
    Invalid(Invalid),
    /// The form is larger than the server reads (413).
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Throttled (429).
    #[error("{0}")]
    TooMany(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => PageError::NotFound(what),
            StoreError::Invalid(invalid) => PageError::Invalid(invalid),
            StoreError::Conflict(message) => PageError::BadRequest(message),
            other => PageError::Internal(other.into()),
        }
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(e) => e.into(),
            AppError::Internal(e) => PageError::Internal(e),
            AppError::Tripped(message) | AppError::Paused(message) => PageError::Forbidden(message),
            AppError::NeedsFreshCode { .. } => PageError::Reauthenticate("/admin".into()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            PageError::SignIn(None) => return Redirect::to("/admin/login").into_response(),
            PageError::SignIn(Some(back_to)) => {
                let next: String =
                    url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
                return Redirect::to(&format!("/admin/login?next={next}")).into_response();
            }
            PageError::SetUpTwoFactor => return Redirect::to("/admin/2fa").into_response(),
            PageError::Reauthenticate(back_to) => {
                let next: String =
                    url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
                return Redirect::to(&format!("/admin/reauth?next={next}")).into_response();
            }
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            PageError::Invalid(invalid) => (StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string()),
            PageError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            PageError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, m.clone()),
            PageError::NotFound(_) => (StatusCode::NOT_FOUND, capitalised(&self.to_string())),
            PageError::Internal(e) => {
                tracing::error!(error = ?e, "admin page request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong".to_string(),
                )
            }
        };
        (status, super::admin::error_page(status, &message)).into_response()
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
