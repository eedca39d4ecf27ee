//! The serving path, from the socket to the response.
//!
//! 1. [`serve`] starts one *lane* per core: a thread with its own single-threaded tokio runtime.
//!    Its accept loop (on the main runtime) takes each connection, turns Nagle off
//!    (`TCP_NODELAY`, as nginx's `tcp_nodelay on`) and hands it to the next lane in turn.
//! 2. A lane drives its connections as hyper HTTP/1.1 connections (keep-alive, vectored writes:
//!    head and body go out in one `writev`). A connection stays on its lane, so its wake-ups
//!    never cross threads, much as nginx's worker processes each keep their connections. Herald
//!    speaks only HTTP/1.1 itself; a TLS proxy in front may speak HTTP/2 to browsers.
//! 3. Each request goes to [`Connection::call`]:
//!    - a GET or HEAD for a body in the page cache is answered right there on the lane, before
//!      any routing or middleware: an atomic load, a map lookup, an `If-None-Match` check and a
//!      clone of the prebuilt headers and of the bytes (see [`public::respond_with`]). This is
//!      the path that takes the load during an incident; it neither boxes the body nor touches
//!      request extensions;
//!    - anything else is spawned onto the main (multi-thread) runtime, where the database pool
//!      and the background jobs live, and runs through the axum [`Router`](super::router) with
//!      the client's address in the request extensions as `axum::extract::ConnectInfo<SocketAddr>`,
//!      as `into_make_service_with_connect_info` would put it (sessions, throttles and the audit
//!      log read it).
//! 4. On shutdown the accept loop stops; each lane closes its idle keep-alive connections, lets
//!    requests in flight finish and ends; [`serve`] returns once every lane has.
//!
//! This replaces `axum::serve`, which runs every connection on the multi-thread runtime with
//! more machinery per connection and per request (HTTP/1-or-2 detection, a make-service call, a
//! service clone, a boxed body and an extension insert). `bench/status-page` measures the result
//! against nginx.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response, StatusCode};
use axum::Router;
use futures_util::future::{ready, Either, Ready};
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
        main: tokio::runtime::Handle::current(),
    };
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut lanes = Vec::with_capacity(count);
    // Each lane drops its `done` sender when it has finished; awaiting the receivers waits for
    // all of them without blocking the main runtime.
    let mut finished = Vec::with_capacity(count);
    for i in 0..count {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (done, done_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("herald-http-{i}"))
            .spawn(move || {
                runtime.block_on(lane(rx, shared));
                drop(done);
            })?;
        lanes.push(tx);
        finished.push(done_rx);
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
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
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand a connection over");
                continue;
            }
        };
        // A lane only stops once `lanes` is dropped; should one be gone, the connection closes.
        let _ = lanes[next].send((stream, remote));
        next = (next + 1) % count;
    }
    drop(listener);
    drop(lanes);
    for done in finished {
        let _ = done.await;
    }
    Ok(())
}

/// One lane: a thread with its own single-threaded runtime, serving the connections handed to
/// it until the accept loop stops.
async fn lane(
    mut incoming: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    shared: Shared,
) {
    let graceful = GracefulShutdown::new();
    while let Some((stream, remote)) = incoming.recv().await {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot take a connection over");
                continue;
            }
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
    graceful.shutdown().await;
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
    /// The main runtime, where routed requests run.
    main: tokio::runtime::Handle,
}

/// The service of one connection: knows who is at the other end.
pub struct Connection {
    shared: Shared,
    remote: SocketAddr,
}

/// A routed request's response, from the main runtime.
type Routed =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<ServeBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<ServeBody>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Self::Response, Infallible>>, Routed>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if let Some(response) = cached(&self.shared, &request) {
            return Either::Left(ready(Ok(response)));
        }
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let mut router = self.shared.router.clone();
        // The handler runs to completion even if the client goes away meanwhile.
        let routed = self
            .shared
            .main
            .spawn(tower::Service::call(&mut router, request));
        Either::Right(Box::pin(async move {
            Ok(match routed.await {
                Ok(Ok(response)) => response.map(http_body_util::Either::Right),
                Ok(Err(never)) => match never {},
                Err(e) => {
                    tracing::error!(error = %e, "a request handler panicked");
                    let mut response =
                        Response::new(http_body_util::Either::Left(Full::new(Bytes::new())));
                    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    response
                }
            })
        }))
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
