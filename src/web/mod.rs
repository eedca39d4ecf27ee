//! HTTP. Public routes come first and read only the page cache; the admin pages and the admin
//! API follow, each behind its own authentication (session cookie + CSRF, or bearer token).
//! [`serve`] describes the path from the socket to these routes.

pub mod admin;
pub mod api;
pub mod auth;
pub mod error;
pub mod public;
pub mod serve;
pub mod subscribe;
pub mod v1;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

/// What every handler can reach: the application (`crate::app::App`).
pub type AppState = crate::app::App;

/// The whole application: public routes, then the authenticated admin surfaces.
pub fn router(state: AppState) -> Router {
    let https = state.config.is_https();
    let admin = admin::router()
        .merge(api::router())
        .merge(v1::router(state.clone()))
        .layer(middleware::from_fn(admin_headers));
    Router::new()
        .merge(public::router())
        .merge(subscribe::router())
        .merge(admin)
        .fallback(public::cached)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn(move |req, next| {
            common_headers(req, next, https)
        }))
        .with_state(state)
}

/// Headers every response carries.
async fn common_headers(request: Request, next: Next, https: bool) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// The admin surfaces: never framed, never cached, scripts only from Herald itself.
async fn admin_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
