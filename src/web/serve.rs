//! The serving path, from the socket to the response.
//!
//! 1. One accept loop takes connections from the listener, turns Nagle off (`TCP_NODELAY`, as
//!    nginx's `tcp_nodelay on`) and spawns a task per connection on the multi-thread runtime.
//! 2. The task drives a hyper HTTP/1.1 connection (keep-alive, vectored writes: the head and the
//!    body go out in one `writev`). Herald speaks only HTTP/1.1 itself; a TLS proxy in front
//!    may speak HTTP/2 to browsers.
//! 3. Each request goes to [`Connection::call`]:
//!    - a GET or HEAD for a body in the page cache is answered right there, before any routing or
//!      middleware, from the cache: an atomic load, a map lookup, an `If-None-Match` check and a
//!      clone of the prebuilt headers and of the bytes (see [`public::respond_with`]). This is
//!      the path that takes the load during an incident, and it neither boxes the body nor
//!      touches request extensions;
//!    - anything else goes to the axum [`Router`](super::router) with the client's address in
//!      the request extensions as `axum::extract::ConnectInfo<SocketAddr>`, as
//!      `into_make_service_with_connect_info` would put it (sessions, throttles and the audit log
//!      read it).
//! 4. On shutdown the accept loop stops, idle keep-alive connections close, requests in flight
//!    finish, and [`serve`] returns once every connection is done.
//!
//! This replaces `axum::serve`, which does the same with more per-connection and per-request
//! machinery (HTTP/1-or-2 detection, a make-service call per connection, a service clone, a
//! boxed body and an extension insert per request); `bench/status-page` measures the difference.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response, StatusCode};
use axum::Router;
use futures_util::future::{ready, Either, MapOk, Ready};
use futures_util::TryFutureExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};

use super::{public, AppState};
use crate::render::PageCache;

/// A response body: the cached bytes as they are, or whatever the router made.
pub type ServeBody = http_body_util::Either<Full<Bytes>, Body>;

/// Serves `state`'s application on `listener` until `shutdown` completes, then waits for the
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shared = Shared {
        cache: state.cache.clone(),
        https: state.config.is_https(),
        router: super::router(state),
    };
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let connection = Connection {
            shared: shared.clone(),
            remote,
        };
        let watched = graceful.watch(http1(stream, connection));
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::trace!(error = %e, client = %remote, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One HTTP/1.1 connection, ready to be polled.
fn http1(
    stream: TcpStream,
    connection: Connection,
) -> hyper::server::conn::http1::Connection<TokioIo<TcpStream>, Connection> {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .writev(true)
        .serve_connection(TokioIo::new(stream), connection)
}

/// Errors from `accept` about one connection (the client gave up) are routine; others (out of
/// file descriptors) would repeat at once, so wait a little before trying again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What every connection shares. Cheap to clone.
#[derive(Clone)]
struct Shared {
    cache: Arc<PageCache>,
    https: bool,
    router: Router,
}

/// The service of one connection: knows who is at the other end.
pub struct Connection {
    shared: Shared,
    remote: SocketAddr,
}

type RouterFuture = <Router as tower::Service<Request<Body>>>::Future;
type WrapBody = fn(Response<Body>) -> Response<ServeBody>;

fn routed(response: Response<Body>) -> Response<ServeBody> {
    response.map(http_body_util::Either::Right)
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<ServeBody>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Self::Response, Infallible>>, MapOk<RouterFuture, WrapBody>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(response) = cached(&self.shared, &request) {
            return Either::Left(ready(Ok(response)));
        }
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let mut router = self.shared.router.clone();
        Either::Right(tower::Service::call(&mut router, request).map_ok(routed as WrapBody))
    }
}

/// The fast path: a GET or HEAD for a body in the page cache, answered from it.
fn cached<B>(shared: &Shared, request: &Request<B>) -> Option<Response<ServeBody>> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let key = public::cache_key(request.uri().path(), request.uri().query())?;
    let pages = shared.cache.pages();
    let body = pages.get(&key)?;
    Some(public::respond_with(
        body,
        StatusCode::OK,
        request.headers(),
        shared.https,
        |bytes| http_body_util::Either::Left(Full::new(bytes)),
    ))
}
