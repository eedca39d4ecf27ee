//! Public routes. Everything customers read is served from the page cache: a lookup, a
//! conditional-request check and a write. Nothing here reads cookies or the database
//! (except `/healthz`, which exists to check it, and `/metrics` checking a new token).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{self, header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use crate::render::CachedBody;
use sha2::Digest;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/history", get(history))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// What `/metrics` reports, kept in memory: a background task reads the database every
/// [`MetricsSnapshot::REFRESH`], however often Prometheus (or anyone) asks.
#[derive(Debug, Default)]
pub struct MetricsSnapshot {
    pending: AtomicI64,
    sending: AtomicI64,
    confirmed: AtomicI64,
    unconfirmed: AtomicI64,
    /// Seconds since the epoch of the last successful read; 0 before the first.
    refreshed_at: AtomicI64,
    /// Digests of bearer tokens that recently passed the viewer check, with when they did, so
    /// that a scrape does not reach the database even to check its token.
    tokens: Mutex<HashMap<[u8; 32], Instant>>,
}

impl MetricsSnapshot {
    /// How often the counts are read from the database.
    pub const REFRESH: Duration = Duration::from_secs(10);
    /// How long a token that passed stays trusted by `/metrics` without being checked again.
    const TOKEN_TRUST: Duration = Duration::from_secs(60);
    /// At most this many trusted tokens are remembered (a scraper or two uses one each).
    const TOKENS_KEPT: usize = 16;

    /// Reads the counts once; logs and keeps the previous ones when the database fails.
    pub async fn refresh(&self, store: &crate::store::Store) {
        match (store.queue_depth().await, store.subscriber_counts().await) {
            (Ok((pending, sending)), Ok((confirmed, unconfirmed))) => {
                self.pending.store(pending, Ordering::Relaxed);
                self.sending.store(sending, Ordering::Relaxed);
                self.confirmed.store(confirmed, Ordering::Relaxed);
                self.unconfirmed.store(unconfirmed, Ordering::Relaxed);
                self.refreshed_at
                    .store(crate::domain::now().timestamp(), Ordering::Relaxed);
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "reading metrics failed; keeping the last counts");
            }
        }
    }

    /// Refreshes the counts every [`Self::REFRESH`] for as long as the process runs.
    pub fn spawn_refresher(state: &AppState) {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Self::REFRESH).await;
                state.metrics.refresh(&state.store).await;
            }
        });
    }

    fn digest(token: &str) -> [u8; 32] {
        sha2::Sha256::digest(token.as_bytes()).into()
    }

    fn trusts(&self, token: &str) -> bool {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .get(&Self::digest(token))
            .is_some_and(|at| at.elapsed() < Self::TOKEN_TRUST)
    }

    fn trust(&self, token: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|_, at| at.elapsed() < Self::TOKEN_TRUST);
        if tokens.len() < Self::TOKENS_KEPT {
            tokens.insert(Self::digest(token), Instant::now());
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Prometheus text exposition: the kill switch, the delivery queue, subscribers, the page cache.
/// Needs an API token with the viewer role (it tells outsiders how many subscribers there are
/// and whether outbound is paused); the numbers come from memory, never from a query per
/// request.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    let Some(token) = bearer(request.headers()).map(str::to_owned) else {
        return super::error::ApiError::Unauthorized.into_response();
    };
    if !state.metrics.trusts(&token) {
        let (mut parts, _) = request.into_parts();
        let caller =
            match <super::auth::ApiCaller as FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
            {
                Ok(caller) => caller,
                Err(refused) => return refused.into_response(),
            };
        if let Err(refused) = caller.require(crate::domain::Role::Viewer) {
            return refused.into_response();
        }
        state.metrics.trust(&token);
    }
    let m = &state.metrics;
    let body = format!(
        "# HELP herald_outbound_paused 1 while the kill switch holds every outbound channel.\n\
         # TYPE herald_outbound_paused gauge\n\
         herald_outbound_paused {}\n\
         # HELP herald_deliveries Deliveries waiting or being sent.\n\
         # TYPE herald_deliveries gauge\n\
         herald_deliveries{{state=\"pending\"}} {}\n\
         herald_deliveries{{state=\"sending\"}} {}\n\
         # HELP herald_subscribers Email subscribers.\n\
         # TYPE herald_subscribers gauge\n\
         herald_subscribers{{state=\"confirmed\"}} {}\n\
         herald_subscribers{{state=\"unconfirmed\"}} {}\n\
         # HELP herald_metrics_refreshed_seconds When the counts above were read (Unix time).\n\
         # TYPE herald_metrics_refreshed_seconds gauge\n\
         herald_metrics_refreshed_seconds {}\n\
         # HELP herald_page_cache_bodies Public bodies held in the page cache.\n\
         # TYPE herald_page_cache_bodies gauge\n\
         herald_page_cache_bodies {}\n",
        u8::from(state.notifier.is_paused()),
        m.pending.load(Ordering::Relaxed),
        m.sending.load(Ordering::Relaxed),
        m.confirmed.load(Ordering::Relaxed),
        m.unconfirmed.load(Ordering::Relaxed),
        m.refreshed_at.load(Ordering::Relaxed),
        state.cache.pages().len(),
    );
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Any GET not routed elsewhere: a cached public body, or the 404 page.
pub async fn cached(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    serve(&state, uri.path(), &headers)
}

async fn history(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    match cache_key(uri.path(), uri.query()) {
        Some(key) => serve(&state, &key, &headers),
        None => serve(&state, "/history?page=invalid", &headers),
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    let database = state.store.ping().await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if database { "ok" } else { "database unreachable" },
        "database": state.store.backend(),
        "pages": state.cache.pages().len(),
        // A committed change the pages do not show yet (they follow within milliseconds).
        "pages_pending": state.cache.pending(),
    });
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn serve(state: &AppState, key: &str, headers: &HeaderMap) -> Response {
    let pages = state.cache.pages();
    let https = state.config.is_https();
    match pages.get(key) {
        Some(body) => respond(&body, StatusCode::OK, headers, https),
        None => match pages.get(crate::render::NOT_FOUND_KEY) {
            Some(body) => respond(&body, StatusCode::NOT_FOUND, headers, https),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    }
}

/// The cache key of a public GET, or `None` when the router must handle it (admin, API,
/// forms, unknown paths): `/history?page=N` keys history pages, other queries are ignored.
pub fn cache_key<'a>(path: &'a str, query: Option<&str>) -> Option<std::borrow::Cow<'a, str>> {
    if path != "/history" {
        return Some(std::borrow::Cow::Borrowed(path));
    }
    let page = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("page="))
        .map(str::parse::<u32>);
    match page {
        None | Some(Ok(1)) => Some(std::borrow::Cow::Borrowed("/history")),
        Some(Ok(n)) if n > 1 => Some(std::borrow::Cow::Owned(format!("/history?page={n}"))),
        _ => None,
    }
}

const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

/// A cached body as a response: 304 when the client's ETag matches, else the best encoding it
/// accepts.
pub fn respond(
    body: &CachedBody,
    status: StatusCode,
    request: &HeaderMap,
    https: bool,
) -> Response {
    respond_with(body, status, request, https, Body::from)
}

/// [`respond`] with the body type of the caller's choosing (the fast path in [`super::serve`]
/// skips boxing it). The headers are prebuilt per encoding: this clones one header map, the
/// bytes (a reference count) and, over https, adds `Strict-Transport-Security`.
pub fn respond_with<B>(
    body: &CachedBody,
    status: StatusCode,
    request: &HeaderMap,
    https: bool,
    into_body: impl FnOnce(Bytes) -> B,
) -> http::Response<B> {
    let variant = match pick_encoding(request) {
        Encoding::Brotli => body
            .brotli_for_request()
            .or_else(|| body.gzip_for_request()),
        Encoding::Gzip => body.gzip_for_request(),
        _ => None,
    }
    .unwrap_or(&body.identity);
    let fresh = status == StatusCode::OK && etag_matches(request, &variant.etag);
    let (status, headers, bytes) = if fresh {
        (
            StatusCode::NOT_MODIFIED,
            variant.not_modified.clone(),
            Bytes::new(),
        )
    } else {
        (status, variant.headers.clone(), variant.bytes.clone())
    };
    let mut response = http::Response::new(into_body(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if https {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

/// Whether `If-None-Match` names `etag` (or is `*`). Weak comparison, as RFC 9110 §13.1.2 asks.
fn etag_matches(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding the client accepts (ignoring those it refuses with `q=0`).
fn pick_encoding(headers: &HeaderMap) -> Encoding {
    let mut gzip = false;
    for value in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            if refused {
                continue;
            }
            match name {
                "br" => return Encoding::Brotli,
                "gzip" | "x-gzip" => gzip = true,
                _ => {}
            }
        }
    }
    if gzip {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

#[cfg(test)]
mod respond_tests {
    use super::*;

    fn request(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn prebuilt_headers_match_the_body_and_the_request() {
        let html = CachedBody::new("text/html; charset=utf-8", "<p>ok</p>".repeat(50), false);
        let ok = respond(&html, StatusCode::OK, &request(&[]), true);
        let h = ok.headers();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::ETAG], html.identity.etag.as_str());
        assert!(h.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(h.contains_key(header::STRICT_TRANSPORT_SECURITY));
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        assert!(!h.contains_key(header::CONTENT_ENCODING));

        let br = respond(
            &html,
            StatusCode::OK,
            &request(&[(header::ACCEPT_ENCODING, "gzip, br")]),
            false,
        );
        assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
        assert!(!br.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));

        let etag = html.identity.etag.clone();
        let fresh = respond(
            &html,
            StatusCode::OK,
            &request(&[(header::IF_NONE_MATCH, &etag)]),
            false,
        );
        assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);
        assert!(!fresh.headers().contains_key(header::CONTENT_TYPE));
        assert_eq!(fresh.headers()[header::ETAG], etag.as_str());

        let json = CachedBody::new("application/json", "{}", true);
        let api = respond(&json, StatusCode::OK, &request(&[]), false);
        assert_eq!(api.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!api.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}
