//! The serving path, from the socket to the response.
//!
//! 1. [`serve`] starts one *lane* per core: a thread with its own single-threaded tokio runtime.
//!    Its accept loop (on the main runtime) takes each connection, admits it under the
//!    connection cap (see 5.), turns Nagle off (`TCP_NODELAY`, as nginx's `tcp_nodelay on`) and
//!    hands it to the next lane in turn.
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
//!      log read it). Its body must arrive within the body-read timeout, or the answer is `408`.
//! 4. On shutdown the accept loop stops; every connection is told to close: an idle one closes,
//!    one with a request in flight finishes it first; [`serve`] returns once all have.
//! 5. Connection limits, so that idle or slow clients cannot hold the page down:
//!    - a new connection must send its first request's head within the header-read timeout, and
//!      a keep-alive connection its next one within the keep-alive timeout of its last answer;
//!    - at the cap, the accept loop closes the longest-idle connections to make room (a batch,
//!      as nginx drains its reusable connections) and refuses a newcomer only when none is idle;
//!    - out of file descriptors (`EMFILE`), it closes idle connections, backs off and logs once
//!      per burst instead of spinning on `accept`.
//!
//!    Each connection runs under one timer, re-armed only when it fires; a request only stamps
//!    its connection with a coarse clock (two relaxed stores), so the cached path gains no
//!    syscall, allocation or timer operation. (hyper's own `header_read_timeout` would re-arm a
//!    timer and read the clock on every request.)
//!
//! This replaces `axum::serve`, which runs every connection on the multi-thread runtime with
//! more machinery per connection and per request (HTTP/1-or-2 detection, a make-service call, a
//! service clone, a boxed body and an extension insert). `bench/status-page` measures the result
//! against nginx.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use futures_util::future::{ready, Either, Ready};
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::{public, AppState};
use crate::render::PageCache;

/// A response body: the cached bytes as they are, or whatever the router made.
pub type ServeBody = http_body_util::Either<Full<Bytes>, Body>;

/// How the server limits its connections (see `Config::connection_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A new connection's first request head must have arrived in full within this.
    pub header_read: Duration,
    /// A keep-alive connection's next request head must have arrived within this of the last
    /// answer.
    pub keep_alive: Duration,
    /// A request body must have arrived in full within this of its head.
    pub body_read: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Open files Herald needs with that many connections (its database, mail and the rest).
    pub files_needed: u64,
}

/// The open-file limit Herald raises its own (soft) limit to, when the hard limit allows.
const OPEN_FILES_WANTED: u64 = 65_536;

/// Serves `state`'s application on `listener` until `shutdown` completes, then waits for the
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let open_files = raise_open_file_limit();
    let limits = state.config.connection_limits(open_files);
    if limits.files_needed > open_files {
        tracing::warn!(
            open_files,
            max_connections = limits.max_connections,
            files_needed = limits.files_needed,
            "the open-file limit is lower than {} connections need; raise LimitNOFILE \
             (README \"Connection limits\") or lower HERALD_MAX_CONNECTIONS",
            limits.max_connections
        );
    }
    let connections = Arc::new(Connections::new(limits));
    let shared = Shared {
        cache: state.cache.clone(),
        https: state.config.is_https(),
        router: super::router(state),
        main: tokio::runtime::Handle::current(),
        connections: connections.clone(),
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
    let ticker = tokio::spawn({
        let connections = connections.clone();
        async move {
            let mut tick = tokio::time::interval(CLOCK_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                connections.tick();
            }
        }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
    let mut fd_backoff = Duration::ZERO;
    let mut out_of_files = LogEvery::new(Duration::from_secs(10));
    let mut refused = LogEvery::new(Duration::from_secs(10));
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    fd_backoff = Duration::ZERO;
                    accepted
                }
                Err(e) => {
                    accept_failed(e, &connections, &mut fd_backoff, &mut out_of_files).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let Some(admitted) = connections.admit() else {
            drop(stream);
            if let Some(held_back) = refused.pass() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    refused_since_last_message = held_back,
                    "every connection is busy with a request; refusing new connections \
                     (HERALD_MAX_CONNECTIONS)"
                );
            }
            continue;
        };
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand a connection over");
                continue;
            }
        };
        // A lane only stops once `lanes` is dropped; should one be gone, the connection closes.
        let _ = lanes[next].send((stream, remote, admitted));
        next = (next + 1) % count;
    }
    drop(listener);
    connections.close_all();
    connections.drained().await;
    drop(lanes);
    for done in finished {
        let _ = done.await;
    }
    ticker.abort();
    Ok(())
}

/// A connection on its way to a lane.
type Handover = (std::net::TcpStream, SocketAddr, Admitted);

/// One lane: a thread with its own single-threaded runtime, serving the connections handed to
/// it until the accept loop stops.
async fn lane(mut incoming: tokio::sync::mpsc::UnboundedReceiver<Handover>, shared: Shared) {
    while let Some((stream, remote, admitted)) = incoming.recv().await {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot take a connection over");
                continue;
            }
        };
        tokio::spawn(run_connection(stream, remote, admitted, shared.clone()));
    }
}

/// Serves one connection until it ends, closing it when it idles too long, when it is chosen
/// to make room, or at shutdown.
async fn run_connection(stream: TcpStream, remote: SocketAddr, admitted: Admitted, shared: Shared) {
    let Admitted {
        slot,
        close,
        _registered,
    } = admitted;
    let connections = shared.connections.clone();
    let limits = connections.limits;
    let connection = Connection {
        shared,
        remote,
        slot: slot.clone(),
    };
    let mut conn = std::pin::pin!(http1(stream, connection));
    let mut close = Some(close);
    let timer = tokio::time::sleep_until(
        connections.instant(slot.last_active.load(Relaxed)) + limits.header_read,
    );
    let mut timer = std::pin::pin!(timer);
    // Told to close: the request in flight (if any) has until the timer fires to finish.
    let mut closing = false;
    enum Event {
        Ended(hyper::Result<()>),
        Close,
        Timer,
    }
    loop {
        let event = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(Event::Ended(result));
            }
            if let Some(rx) = close.as_mut() {
                if Pin::new(rx).poll(cx).is_ready() {
                    close = None;
                    return Poll::Ready(Event::Close);
                }
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Timer);
            }
            Poll::Pending
        })
        .await;
        let now = connections.elapsed();
        match event {
            Event::Ended(Ok(())) => return,
            Event::Ended(Err(e)) => {
                tracing::trace!(error = %e, client = %remote, "connection ended with an error");
                return;
            }
            // Nothing has been asked on it yet: nothing to finish.
            Event::Close if !slot.started.load(Relaxed) => return,
            Event::Close => {
                if !closing {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    timer
                        .as_mut()
                        .reset(connections.instant(now) + limits.header_read);
                }
            }
            Event::Timer if closing => {
                if !slot.busy.load(Relaxed) {
                    tracing::debug!(client = %remote, "connection did not finish closing in time");
                    return;
                }
                timer
                    .as_mut()
                    .reset(connections.instant(now) + limits.header_read);
            }
            Event::Timer if !slot.started.load(Relaxed) => {
                let due = slot.last_active.load(Relaxed) + millis(limits.header_read);
                if now >= due {
                    tracing::debug!(client = %remote, "no request head within the header-read timeout");
                    return;
                }
                timer.as_mut().reset(connections.instant(due));
            }
            Event::Timer if slot.busy.load(Relaxed) => {
                timer
                    .as_mut()
                    .reset(connections.instant(now) + limits.keep_alive);
            }
            Event::Timer => {
                let due = slot.last_active.load(Relaxed) + millis(limits.keep_alive);
                if now >= due {
                    // Idle after a response: hyper closes it at once, mid-head or not.
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    timer
                        .as_mut()
                        .reset(connections.instant(now) + limits.header_read);
                } else {
                    timer.as_mut().reset(connections.instant(due));
                }
            }
        }
    }
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

/// Errors from `accept` about one connection (the client gave up) are routine. Running out of
/// file descriptors would repeat at once: close idle connections to free some, wait a little
/// (longer each time it repeats) and say so once per burst.
async fn accept_failed(
    e: std::io::Error,
    connections: &Connections,
    backoff: &mut Duration,
    log: &mut LogEvery,
) {
    use rustix::io::Errno;
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    let out_of_files = matches!(
        Errno::from_io_error(&e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    );
    let closed = if out_of_files { connections.shed() } else { 0 };
    if let Some(held_back) = log.pass() {
        if out_of_files {
            tracing::error!(
                error = %e,
                closed_idle_connections = closed,
                repeated_since_last_message = held_back,
                "out of file descriptors: accepting connections paused; raise LimitNOFILE or \
                 lower HERALD_MAX_CONNECTIONS (README \"Connection limits\")"
            );
        } else {
            tracing::error!(error = %e, repeated_since_last_message = held_back, "accepting a connection failed");
        }
    }
    *backoff = (*backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
    tokio::time::sleep(*backoff).await;
}

/// Lets a message through once per period, counting those held back meanwhile, so that a storm
/// of one failure logs a line every few seconds rather than thousands.
struct LogEvery {
    period: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogEvery {
    fn new(period: Duration) -> LogEvery {
        LogEvery {
            period,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(messages held back since the last one)` when this one should be logged.
    fn pass(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < self.period) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// How often the coarse clock requests stamp their connection with advances.
const CLOCK_TICK: Duration = Duration::from_millis(100);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Raises the soft open-file limit towards the hard one (as Go's runtime does, and as systemd
/// advises services that need many files) and returns the limit in force.
fn raise_open_file_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    let wanted = limit.maximum.unwrap_or(u64::MAX).min(OPEN_FILES_WANTED);
    if wanted > current {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return wanted,
            Err(e) => tracing::debug!(error = %e, "cannot raise the open-file limit"),
        }
    }
    current
}

/// Every open connection: the cap, the choice of which to close to make room, and shutdown.
struct Connections {
    limits: ConnectionLimits,
    epoch: Instant,
    /// Milliseconds since `epoch`, advanced every [`CLOCK_TICK`]: requests stamp their
    /// connection with it without reading the clock.
    now: AtomicU64,
    table: Mutex<Table>,
    /// Woken when the last connection has gone.
    drained: tokio::sync::Notify,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Entry>,
    /// Connections told to close that have not yet gone: they no longer count against the cap.
    closing: usize,
}

struct Entry {
    slot: Arc<Slot>,
    /// Taken when the connection is told to close.
    close: Option<oneshot::Sender<()>>,
}

/// What a connection shows the accept loop. Written by its own lane, read when choosing which
/// connections to close.
struct Slot {
    /// When the connection opened, or last began or finished a request (coarse milliseconds).
    last_active: AtomicU64,
    /// At least one request head has arrived.
    started: AtomicBool,
    /// A routed request is in flight.
    busy: AtomicBool,
}

/// A connection the accept loop let in; leaves the table when dropped.
struct Admitted {
    slot: Arc<Slot>,
    close: oneshot::Receiver<()>,
    _registered: Registered,
}

struct Registered {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

impl Connections {
    fn new(limits: ConnectionLimits) -> Connections {
        Connections {
            limits,
            epoch: Instant::now(),
            now: AtomicU64::new(0),
            table: Mutex::new(Table::default()),
            drained: tokio::sync::Notify::new(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere while holding the lock leaves the table consistent enough to go on.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tick(&self) {
        self.now.store(self.elapsed(), Relaxed);
    }

    /// The coarse clock, for stamps.
    fn stamp(&self) -> u64 {
        self.now.load(Relaxed)
    }

    /// The exact clock, for deadlines.
    fn elapsed(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    fn instant(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch) + Duration::from_millis(ms)
    }

    /// Lets a new connection in, closing idle ones to make room at the cap; `None` when every
    /// connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut table = self.table();
        if table.open.len() - table.closing >= self.limits.max_connections
            && Self::shed_from(&mut table) == 0
        {
            return None;
        }
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot {
            last_active: AtomicU64::new(self.stamp()),
            started: AtomicBool::new(false),
            busy: AtomicBool::new(false),
        });
        let (tx, rx) = oneshot::channel();
        table.open.insert(
            id,
            Entry {
                slot: slot.clone(),
                close: Some(tx),
            },
        );
        Some(Admitted {
            slot,
            close: rx,
            _registered: Registered {
                connections: self.clone(),
                id,
            },
        })
    }

    /// Closes a batch of the longest-idle connections; returns how many were told to.
    fn shed(&self) -> usize {
        Self::shed_from(&mut self.table())
    }

    /// Like nginx's `ngx_drain_connections`: an eighth of the idle ones, at least one and at
    /// most 32, so a flood does not scan the table on every accept.
    fn shed_from(table: &mut Table) -> usize {
        let mut idle: Vec<(u64, u64)> = table
            .open
            .iter()
            .filter(|(_, entry)| entry.close.is_some() && !entry.slot.busy.load(Relaxed))
            .map(|(id, entry)| (entry.slot.last_active.load(Relaxed), *id))
            .collect();
        if idle.is_empty() {
            return 0;
        }
        let batch = (idle.len() / 8).clamp(1, 32);
        if batch < idle.len() {
            idle.select_nth_unstable(batch - 1);
        }
        for (_, id) in &idle[..batch] {
            if let Some(close) = table.open.get_mut(id).and_then(|e| e.close.take()) {
                let _ = close.send(());
                table.closing += 1;
            }
        }
        batch
    }

    fn remove(&self, id: u64) {
        let mut table = self.table();
        if let Some(entry) = table.open.remove(&id) {
            if entry.close.is_none() {
                table.closing -= 1;
            }
        }
        if table.open.is_empty() {
            self.drained.notify_waiters();
        }
    }

    /// Tells every connection to close (at shutdown).
    fn close_all(&self) {
        let mut table = self.table();
        let mut told = 0;
        for entry in table.open.values_mut() {
            if let Some(close) = entry.close.take() {
                let _ = close.send(());
                told += 1;
            }
        }
        table.closing += told;
    }

    /// Waits until no connection is left.
    async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.table().open.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// A request body that must arrive in full by a deadline; past it, the body fails and the
/// request is answered `408`.
struct TimedBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    /// Made on the first wait, so that a body already received costs no timer.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out.load(Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Relaxed);
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body came too slowly; the connection closes after it.
fn request_timeout() -> Response<ServeBody> {
    let mut response = Response::new(http_body_util::Either::Left(Full::new(Bytes::from_static(
        b"The request body did not arrive in time.\n",
    ))));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Marks a connection busy while a routed request is in flight.
struct Busy {
    slot: Arc<Slot>,
    connections: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot
            .last_active
            .store(self.connections.stamp(), Relaxed);
        self.slot.busy.store(false, Relaxed);
    }
}

/// What every connection shares. Cheap to clone.
#[derive(Clone)]
struct Shared {
    cache: Arc<PageCache>,
    https: bool,
    router: Router,
    /// The main runtime, where routed requests run.
    main: tokio::runtime::Handle,
    connections: Arc<Connections>,
}

/// The service of one connection: knows who is at the other end.
pub struct Connection {
    shared: Shared,
    remote: SocketAddr,
    slot: Arc<Slot>,
}

/// A routed request's response, from the main runtime.
type Routed =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<ServeBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response<ServeBody>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Self::Response, Infallible>>, Routed>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let connections = &self.shared.connections;
        self.slot.started.store(true, Relaxed);
        self.slot.last_active.store(connections.stamp(), Relaxed);
        if let Some(response) = cached(&self.shared, &request) {
            return Either::Left(ready(Ok(response)));
        }
        self.slot.busy.store(true, Relaxed);
        let busy = Busy {
            slot: self.slot.clone(),
            connections: connections.clone(),
        };
        let timed_out = Arc::new(AtomicBool::new(false));
        let mut request = if hyper::body::Body::is_end_stream(request.body()) {
            request.map(Body::new)
        } else {
            let deadline = tokio::time::Instant::now() + connections.limits.body_read;
            let timed_out = timed_out.clone();
            request.map(move |inner| {
                Body::new(TimedBody {
                    inner,
                    deadline,
                    sleep: None,
                    timed_out,
                })
            })
        };
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let mut router = self.shared.router.clone();
        // The handler runs to completion even if the client goes away meanwhile.
        let routed = self
            .shared
            .main
            .spawn(tower::Service::call(&mut router, request));
        Either::Right(Box::pin(async move {
            let _busy = busy;
            let response = routed.await;
            if timed_out.load(Relaxed) {
                return Ok(request_timeout());
            }
            Ok(match response {
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
        &body,
        StatusCode::OK,
        request.headers(),
        shared.https,
        |bytes| http_body_util::Either::Left(Full::new(bytes)),
    ))
}
