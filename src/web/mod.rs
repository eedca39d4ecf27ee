//! HTTP. Public routes come first and read only the page cache; the admin pages and the admin
//! API follow, each behind its own authentication (session cookie + CSRF, or bearer token).
//! [`serve`] describes the path from the socket to these routes.

pub mod admin;
pub mod api;
pub mod auth;
pub mod error;
pub mod guard;
pub mod public;
pub mod serve;
pub mod subscribe;
pub mod throttle;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use crate::config::Config;
use crate::notify::compose::Composer;
use crate::notify::Notifier;
use crate::render::PageCache;
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub cache: Arc<PageCache>,
    pub config: Arc<Config>,
    /// The kill switch and the delivery worker's doorbell.
    pub notifier: Arc<Notifier>,
    /// Builds subscriber links and emails.
    pub composer: Arc<Composer>,
    /// Seals and opens secrets kept in the database (the X token).
    pub sealer: Arc<crate::security::seal::Sealer>,
    /// The X app, when a consumer key is configured.
    pub x: Option<Arc<crate::channels::x::XClient>>,
    /// Per-client limits on public sign-ups.
    pub signups: Arc<throttle::Throttle>,
    /// Keys the audit log's hash chain.
    pub chain: Arc<crate::security::audit::Chain>,
    /// The tripwire's thresholds.
    pub rules: Arc<crate::security::tripwire::Rules>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub proxies: Arc<Vec<crate::security::net::Block>>,
    /// Notices when the cluster's master key was rotated away from this process's.
    pub key_watch: Arc<crate::cluster::KeyWatch>,
}

impl AppState {
    /// After a committed change: public pages show it before this returns, and the worker
    /// starts on any deliveries it queued.
    pub async fn changed(&self) {
        self.notifier.wake();
        self.cache.refresh().await;
    }
}

/// The whole application: public routes, then the authenticated admin surfaces.
pub fn router(state: AppState) -> Router {
    let https = state.config.is_https();
    let admin = admin::router()
        .merge(api::router())
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
