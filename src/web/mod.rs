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
    deny_framing(headers);
    response
}

/// No HTML page of Herald's may be framed by another site (clickjacking the subscribe form or
/// an admin button): `frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers.
/// Pages set these themselves; this catches any HTML answer that did not (an error page, say).
/// Scripts, JSON and images are left alone: the banner is embedded as a script.
fn deny_framing(headers: &mut axum::http::HeaderMap) {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return;
    }
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match csp {
        Some(csp) if csp.contains("frame-ancestors") => {}
        Some(csp) => {
            if let Ok(value) = HeaderValue::from_str(&format!("{csp}; frame-ancestors 'none'")) {
                headers.insert(header::CONTENT_SECURITY_POLICY, value);
            }
        }
        None => {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'none'"),
            );
        }
    }
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
