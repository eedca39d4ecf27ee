//! Statuspage's error shape: `{"error": "…"}` with its status codes (401 no or bad key, 403 the
//! key's role is too low, 404 unknown page or object, 422 bad input, 400 an unreadable body).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::AppError;
use crate::domain::{FieldError, Invalid};
use crate::store::StoreError;
use crate::web::error::ApiError;

#[derive(Debug)]
pub struct V1Error {
    pub status: StatusCode,
    pub message: String,
}

pub type V1Result<T> = Result<T, V1Error>;

impl V1Error {
    pub fn not_found(what: &str) -> V1Error {
        V1Error {
            status: StatusCode::NOT_FOUND,
            message: format!("{what} not found"),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> V1Error {
        Invalid(vec![FieldError::new(field, message)]).into()
    }

    pub fn bad_request(message: impl Into<String>) -> V1Error {
        V1Error {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ApiError> for V1Error {
    fn from(e: ApiError) -> Self {
        let status = match &e {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "Statuspage API request failed");
                return V1Error {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "Something went wrong".to_string(),
                };
            }
        };
        let message = match &e {
            ApiError::Invalid(invalid) => invalid
                .0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::Unauthorized => {
                "Could not authenticate: send Authorization: OAuth <API token>".to_string()
            }
            other => other.to_string(),
        };
        V1Error { status, message }
    }
}

impl From<AppError> for V1Error {
    fn from(e: AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<StoreError> for V1Error {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<Invalid> for V1Error {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e).into()
    }
}

impl From<FieldError> for V1Error {
    fn from(e: FieldError) -> Self {
        Invalid(vec![e]).into()
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("OAuth"));
        }
        response
    }
}
