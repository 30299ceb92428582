//! The connection layer of `roster serve`: an accept loop of Roster's own over hyper's
//! HTTP/1 connections, so that no client can hold the server by opening sockets and
//! sending nothing, or sending slowly.
//!
//! Each connection is in one of four phases, and each phase but the busy one has a
//! deadline, after which the connection is closed:
//!
//! - *fresh*: accepted, no byte yet; the request must be read within the header timeout;
//! - *head*: bytes of a request arrived, its head is not complete; header timeout from
//!   the first byte;
//! - *busy*: a request is in flight (its head was read, its answer is not all sent); its
//!   body must arrive within the body timeout, else `408`;
//! - *idle*: between requests of a kept-alive connection; idle timeout.
//!
//! At most `max_connections` are open. Past it, the oldest connection without a request
//! in flight (fresh, head or idle) is shed to make room; when every one is busy, the new
//! connection is answered `503` and closed. Accept errors (out of file descriptors, for
//! instance) shed a connection, back off briefly and go on: the loop never stops on
//! them.
//!
//! A connection that closes keeps reading, and discarding, what the client still sends
//! for up to 2 s (16 MiB): a client that is still sending a body Roster refused at its
//! head then reads the answer instead of a connection reset.
//!
//! Every answer is problem+json (the SCIM error schema under `/scim/v2`), including the
//! few hyper gives by itself for a request it cannot parse: [`Watched`] recognises
//! those on their way out and writes ours instead.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tower::ServiceExt;

use crate::http::ApiError;

/// Default header timeout: a request's head must arrive within it.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest header timeout accepted: past it, slow clients hold sockets for long.
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle timeout of a kept-alive connection between requests.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default body timeout: a request's whole body must arrive within it.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest request target (path and query) answered; a longer one is `414`. A SCIM
/// filter may be 8 KiB, and percent-encoded in a query it can take three times that.
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// Most header fields in a request; more is `431`.
pub const MAX_HEADERS: usize = 64;
/// Largest total size of a request's header names and values; more is `431`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's own limits, looser than ours so that ours answer first: header fields it
/// parses, and the buffer a request head must fit in.
const HYPER_MAX_HEADERS: usize = 100;
const HYPER_MAX_BUF: usize = 64 * 1024;

/// File descriptors kept back from connections, for the store's pool, SQLite's files,
/// the mail sender, the listener and the `503` answers.
const MIN_RESERVE: u64 = 64;
/// Connections past the cap answered `503` at once; more are closed unanswered.
const MAX_REFUSING: usize = 32;
/// How long to wait after an accept error before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// How often a busy connection's watchdog looks again.
const BUSY_RECHECK: Duration = Duration::from_secs(1);
/// A closing connection keeps reading (and discarding) what the client still sends
/// for at most this long, and at most [`LINGER_BYTES`], so that a client still
/// sending a body we refused reads our answer instead of a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while a connection closes.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// The limits of the connection layer, from `roster serve`'s flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's head must be read within this, from its first byte (from the accept
    /// for a connection's first request).
    pub header_timeout: Duration,
    /// A kept-alive connection is closed after this long without a request.
    pub idle_timeout: Duration,
    /// A request's body must be read within this, from the end of its head.
    pub body_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for Limits {
    /// The defaults of `roster serve`.
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

/// The process's limit on open files (`RLIMIT_NOFILE`, soft), when it has one.
pub fn open_files_limit() -> Option<u64> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit.current
}

/// File descriptors kept back from connections out of a limit: an eighth, at least
/// [`MIN_RESERVE`].
pub fn reserve(limit: u64) -> u64 {
    (limit / 8).max(MIN_RESERVE)
}

/// The connection cap by default: the open-files limit less [`reserve`], at least 1; a
/// process without a limit gets 65,536.
pub fn default_max_connections() -> usize {
    match open_files_limit() {
        Some(limit) => {
            usize::try_from(limit.saturating_sub(reserve(limit)).max(1)).unwrap_or(usize::MAX)
        }
        None => 65_536,
    }
}

/// The largest cap a process may be given: its open-files limit less the reserve; a cap
/// asked above it is lowered to it, since connections past it would fail to accept.
pub fn max_connections_allowed() -> usize {
    default_max_connections()
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish and returns when every connection is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let registry = Arc::new(Registry::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                match registry.admit() {
                    Some(conn) => {
                        tokio::spawn(run_connection(
                            stream,
                            peer,
                            conn,
                            registry.clone(),
                            app.clone(),
                            limits,
                            stop_rx.clone(),
                        ));
                    }
                    None => {
                        if let Ok(permit) = refusing.clone().try_acquire_owned() {
                            tokio::spawn(async move {
                                refuse(stream).await;
                                drop(permit);
                            });
                        }
                    }
                }
            }
            Err(error) => {
                // Out of descriptors (or memory): make room, then give the system a
                // moment; anything else concerned one connection only.
                if exhausted(&error) {
                    registry.shed_one();
                }
                tracing::warn!(%error, "accepting a connection failed; going on");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    registry.closed().await;
}

/// Whether an accept error says the process or system is out of a resource.
fn exhausted(error: &io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(error),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// The phases of a connection (see the module's documentation).
const FRESH: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;
const IDLE: u8 = 3;

/// What the accept loop, the connection's task, its IO and its requests share.
struct Conn {
    id: u64,
    phase: AtomicU8,
    /// When the current phase ends, in milliseconds since the registry's epoch.
    deadline: AtomicU64,
    /// Requests in flight (hyper runs one at a time on HTTP/1).
    in_flight: AtomicU32,
    /// Answers the application produced, to tell hyper's own answers apart.
    answered: AtomicU64,
    /// Whether the request in flight is still receiving its body, since when (in
    /// milliseconds since the registry's epoch) and how many of its bytes have come.
    uploading: AtomicBool,
    upload_since: AtomicU64,
    uploaded: AtomicU64,
    /// Set when the accept loop chose this connection to make room.
    shed: Notify,
}

/// The connections open, oldest first.
struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    max: usize,
    all_closed: Notify,
}

impl Registry {
    fn new(max: usize) -> Self {
        Registry {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(BTreeMap::new()),
            max,
            all_closed: Notify::new(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for a new connection: at the cap, the oldest connection without a
    /// request in flight is shed for it, else the oldest whose request body trickles in
    /// too slowly to matter; `None` when every one has a request in flight that is not.
    fn admit(&self) -> Option<Arc<Conn>> {
        let now = self.millis(Instant::now());
        let mut open = self.open();
        if open.len() >= self.max && Self::shed_oldest(&mut open, now).is_none() {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            phase: AtomicU8::new(FRESH),
            deadline: AtomicU64::new(u64::MAX),
            in_flight: AtomicU32::new(0),
            answered: AtomicU64::new(0),
            uploading: AtomicBool::new(false),
            upload_since: AtomicU64::new(0),
            uploaded: AtomicU64::new(0),
            shed: Notify::new(),
        });
        open.insert(id, conn.clone());
        Some(conn)
    }

    /// Sheds the oldest connection without a request in flight (or with a slow upload),
    /// if any.
    fn shed_one(&self) {
        let now = self.millis(Instant::now());
        Self::shed_oldest(&mut self.open(), now);
    }

    fn shed_oldest(open: &mut BTreeMap<u64, Arc<Conn>>, now: u64) -> Option<u64> {
        let id = open
            .values()
            .find(|conn| conn.in_flight.load(Ordering::Acquire) == 0)
            .or_else(|| open.values().find(|conn| conn.trickling(now)))
            .map(|conn| conn.id)?;
        if let Some(conn) = open.remove(&id) {
            conn.shed.notify_one();
        }
        Some(id)
    }

    fn remove(&self, id: u64) {
        let mut open = self.open();
        open.remove(&id);
        if open.is_empty() {
            self.all_closed.notify_waiters();
        }
    }

    /// Resolves when no connection is open.
    async fn closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            if self.open().is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// A request body still arriving after this long, at less than [`TRICKLE_RATE`] on
/// average, marks a connection that may be shed at the cap though it has a request in
/// flight.
const TRICKLE_AFTER_MS: u64 = 1_000;

/// Bytes a second below which an upload is a trickle: a body of the usual 1 MiB limit
/// sent this slowly would miss the default 30 s body timeout anyway.
const TRICKLE_RATE: u64 = 32 * 1024;

impl Conn {
    /// Whether the request in flight is still receiving a body that trickles in: the
    /// shape of a slow-body flood, whose handler has nothing to work on yet, so cutting
    /// it loses no work.
    fn trickling(&self, now: u64) -> bool {
        if !self.uploading.load(Ordering::Acquire) {
            return false;
        }
        let elapsed = now.saturating_sub(self.upload_since.load(Ordering::Acquire));
        elapsed >= TRICKLE_AFTER_MS
            && self.uploaded.load(Ordering::Acquire).saturating_mul(1_000)
                < elapsed.saturating_mul(TRICKLE_RATE)
    }

    fn set_deadline(&self, registry_epoch: Instant, after: Duration) {
        let at = Instant::now() + after;
        let millis = u64::try_from(at.saturating_duration_since(registry_epoch).as_millis())
            .unwrap_or(u64::MAX);
        self.deadline.store(millis, Ordering::Release);
    }
}

/// Serves one connection, closing it when its phase's deadline passes, when it is shed,
/// or (after its request in flight) when the server stops.
async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let epoch = registry.epoch;
    conn.set_deadline(epoch, limits.header_timeout);
    let io = Watched::new(stream, conn.clone(), epoch, limits);
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(request, peer, app.clone(), conn.clone(), epoch, limits)
        })
    };
    // hyper's own header timer also runs between requests, so it would close idle
    // connections early; it stays as a backstop past both of ours.
    let backstop = limits.header_timeout.max(limits.idle_timeout) + Duration::from_secs(5);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(backstop)
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(HYPER_MAX_BUF)
        .writev(false)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut stopping = *stop.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let wake = match conn.deadline.load(Ordering::Acquire) {
            u64::MAX => Instant::now() + BUSY_RECHECK,
            millis => epoch + Duration::from_millis(millis),
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                break;
            }
            () = conn.shed.notified() => {
                tracing::debug!(%peer, "connection shed to make room");
                break;
            }
            () = tokio::time::sleep_until(wake.into()) => {
                let busy = conn.phase.load(Ordering::Acquire) == BUSY;
                let deadline = conn.deadline.load(Ordering::Acquire);
                if !busy && deadline != u64::MAX && registry.millis(Instant::now()) >= deadline {
                    tracing::debug!(%peer, "connection timed out");
                    break;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
    registry.remove(conn.id);
}

/// One request: the limits of our own checked first, the client's address added, the
/// body given its deadline, the connection marked busy until the answer is sent.
async fn handle(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    app: Router,
    conn: Arc<Conn>,
    epoch: Instant,
    limits: Limits,
) -> Result<Response<Body>, std::convert::Infallible> {
    let busy = Busy::begin(conn.clone(), epoch, limits.idle_timeout);
    let scim = is_scim(request.uri().path());
    let response = if let Some((status, detail)) = over_limits(&request) {
        let mut response = refusal(scim, status, detail);
        close_after(&mut response);
        response
    } else {
        request.extensions_mut().insert(ConnectInfo(peer));
        let tripped = Arc::new(AtomicBool::new(false));
        conn.uploaded.store(0, Ordering::Release);
        conn.upload_since.store(
            u64::try_from(Instant::now().saturating_duration_since(epoch).as_millis())
                .unwrap_or(u64::MAX),
            Ordering::Release,
        );
        conn.uploading.store(
            !http_body::Body::is_end_stream(request.body()),
            Ordering::Release,
        );
        let request = request.map(|body| {
            Body::new(TimedBody {
                inner: body,
                sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
                tripped: tripped.clone(),
                conn: conn.clone(),
            })
        });
        let response = match app.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let mut response = response;
        // A body refused for its size was not read: the connection cannot carry another
        // request after it, and the client must know not to send one.
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            close_after(&mut response);
        }
        if tripped.load(Ordering::Acquire) {
            let mut response = refusal(
                scim,
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
            close_after(&mut response);
            response
        } else {
            response
        }
    };
    conn.answered.fetch_add(1, Ordering::AcqRel);
    // The connection stays busy until the answer's body is all sent (or dropped).
    Ok(response.map(|body| Body::new(WhileBusy { body, _busy: busy })))
}

/// An answer's body that keeps its connection busy until it is sent or dropped.
struct WhileBusy {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for WhileBusy {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Whether a path is the SCIM service's, whose errors take the SCIM schema.
fn is_scim(path: &str) -> bool {
    path == "/scim/v2" || path.starts_with("/scim/v2/")
}

/// The first of our limits a request's head is over, with what to say.
fn over_limits<B>(request: &Request<B>) -> Option<(StatusCode, &'static str)> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some((
            StatusCode::URI_TOO_LONG,
            "the request target is longer than 32 KiB",
        ));
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request has more than 64 header fields",
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request's header fields are larger than 16 KiB",
        ));
    }
    // Two framings of one body are how requests are smuggled past a proxy that reads
    // the other one (RFC 9112 §6.1): refused, and the connection closed.
    if headers.contains_key(header::TRANSFER_ENCODING)
        && headers.contains_key(header::CONTENT_LENGTH)
    {
        return Some((
            StatusCode::BAD_REQUEST,
            "the request has both Transfer-Encoding and Content-Length",
        ));
    }
    None
}

/// An error answer of the connection layer: problem+json, or the SCIM error schema.
fn refusal(scim: bool, status: StatusCode, detail: &str) -> Response<Body> {
    if scim {
        crate::scim::wire::Fail(roster_scim::ScimError::status(status.as_u16(), detail))
            .into_response()
    } else {
        ApiError::of_status(status, detail).into_response()
    }
}

/// Asks hyper to close the connection after this answer (the rest of the request was
/// not read, or the client is to go away).
fn close_after(response: &mut Response<Body>) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// A request in flight: the connection is busy while this lives; after it, idle.
struct Busy {
    conn: Arc<Conn>,
    epoch: Instant,
    idle_timeout: Duration,
}

impl Busy {
    fn begin(conn: Arc<Conn>, epoch: Instant, idle_timeout: Duration) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        conn.phase.store(BUSY, Ordering::Release);
        conn.deadline.store(u64::MAX, Ordering::Release);
        Busy {
            conn,
            epoch,
            idle_timeout,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.uploading.store(false, Ordering::Release);
        if self.conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conn.set_deadline(self.epoch, self.idle_timeout);
            self.conn.phase.store(IDLE, Ordering::Release);
        }
    }
}

/// The error a request body gives when it did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub struct BodyTimedOut;

/// A request body that fails once the body timeout has passed since its head was read
/// (the whole body, not each piece, so a trickle cannot extend it).
struct TimedBody {
    inner: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    tripped: Arc<AtomicBool>,
    /// Its connection, told how much of the body has come and when it is all there.
    conn: Arc<Conn>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            match &frame {
                Some(Ok(frame)) => {
                    let bytes = frame.data_ref().map_or(0, |data| data.len() as u64);
                    self.conn.uploaded.fetch_add(bytes, Ordering::AcqRel);
                }
                _ => self.conn.uploading.store(false, Ordering::Release),
            }
            if self.inner.is_end_stream() {
                self.conn.uploading.store(false, Ordering::Release);
            }
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.tripped.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Answers a connection past the cap `503` and closes it.
async fn refuse(mut stream: TcpStream) {
    let answer = raw_answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server has as many connections as it takes, all busy; retry shortly",
        false,
        &[("retry-after", "1")],
    );
    let written = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        // Read what the client sent until it closes, briefly, so that closing with
        // unread bytes does not reset the connection before it reads the answer.
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(n) = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

/// A whole HTTP/1.1 error answer as bytes, closing the connection.
fn raw_answer(status: StatusCode, detail: &str, scim: bool, extra: &[(&str, &str)]) -> Vec<u8> {
    let (content_type, body) = if scim {
        (
            crate::scim::wire::SCIM_JSON,
            roster_scim::ScimError::status(status.as_u16(), detail)
                .to_json()
                .to_string(),
        )
    } else {
        (
            "application/problem+json",
            serde_json::to_string(&ApiError::of_status(status, detail).problem())
                .unwrap_or_default(),
        )
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// The bytes of a request kept to tell, when hyper refuses it, whether it was for
/// `/scim/v2` (`PATCH /scim/v2/` and a little more).
const REMEMBERED: usize = 24;

/// The socket of a connection, as hyper sees it: reads move the connection from fresh
/// or idle to reading a head (and start the header clock); writes of an error answer
/// hyper makes by itself (a request it could not parse: `400`, `414`, `431`) are
/// replaced by ours, in problem+json.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
    epoch: Instant,
    limits: Limits,
    /// Heads of error answers seen going out.
    heads: u64,
    /// The first bytes of the request being read.
    start: Vec<u8>,
    /// Our answer, still to be written in place of hyper's.
    pending: Vec<u8>,
    /// Set once the connection is closing: what the client still sends is drained.
    linger: Option<Linger>,
}

/// A closing connection's lingering: our side is shut for writing, the client's bytes
/// are read and dropped until it closes too, or the time or byte budget runs out. A
/// socket closed with unread bytes sends a reset, which can destroy an answer (a `413`
/// for a body too large, typically) before the client reads it.
struct Linger {
    until: Pin<Box<tokio::time::Sleep>>,
    drained: usize,
    write_shut: bool,
}

impl Linger {
    fn new() -> Self {
        Linger {
            until: Box::pin(tokio::time::sleep(LINGER_TIME)),
            drained: 0,
            write_shut: false,
        }
    }
}

impl Watched {
    fn new(stream: TcpStream, conn: Arc<Conn>, epoch: Instant, limits: Limits) -> Self {
        Watched {
            stream,
            conn,
            epoch,
            limits,
            heads: 0,
            start: Vec::with_capacity(REMEMBERED),
            pending: Vec::new(),
            linger: None,
        }
    }

    /// Shuts our side for writing, then drains the client's bytes (see [`Linger`]).
    /// Ends when the client closes, on an error, or past the budget.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Watched { stream, linger, .. } = self;
        let linger = linger.get_or_insert_with(Linger::new);
        if !linger.write_shut {
            if let Err(error) = std::task::ready!(Pin::new(&mut *stream).poll_shutdown(cx)) {
                return Poll::Ready(Err(error));
            }
            linger.write_shut = true;
        }
        let mut scratch = [0u8; 8192];
        loop {
            if linger.until.as_mut().poll(cx).is_ready() || linger.drained >= LINGER_BYTES {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => linger.drained += buf.filled().len(),
                // The client is gone; nothing is left to protect.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Writes what is left of our replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = match Pin::new(&mut self.stream).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    /// Whether `bytes` begin an error answer no request handler made: hyper's own. Every
    /// final answer's head is counted as it goes out; one more than the application
    /// produced is hyper's.
    fn hypers_own(&mut self, bytes: &[u8]) -> Option<StatusCode> {
        let status = bytes
            .strip_prefix(b"HTTP/1.1 ")
            .or_else(|| bytes.strip_prefix(b"HTTP/1.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|code| StatusCode::from_bytes(code).ok())
            .filter(|status| !status.is_informational())?;
        self.heads += 1;
        if self.heads <= self.conn.answered.load(Ordering::Acquire) {
            return None;
        }
        // Counted as answered, so that the next answer is matched with its own head.
        self.conn.answered.fetch_add(1, Ordering::AcqRel);
        (status.is_client_error() || status.is_server_error()).then_some(status)
    }

    fn replacement(&self, status: StatusCode) -> Vec<u8> {
        let scim = self
            .start
            .split(|b| *b == b' ')
            .nth(1)
            .is_some_and(|target| target.starts_with(b"/scim/v2"));
        let detail = match status {
            StatusCode::URI_TOO_LONG => "the request target is too long",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                "the request's header fields are too many or too large"
            }
            _ => "the request could not be parsed as HTTP/1.1",
        };
        raw_answer(status, detail, scim, &[])
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                let phase = self.conn.phase.load(Ordering::Acquire);
                if phase == FRESH || phase == IDLE {
                    self.start.clear();
                    self.conn.phase.store(HEAD, Ordering::Release);
                    let (epoch, timeout) = (self.epoch, self.limits.header_timeout);
                    self.conn.set_deadline(epoch, timeout);
                }
                if phase != BUSY && self.start.len() < REMEMBERED {
                    let take = (REMEMBERED - self.start.len()).min(read.len());
                    let piece = read[..take].to_vec();
                    self.start.extend_from_slice(&piece);
                }
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        if let Some(status) = self.hypers_own(buf) {
            tracing::debug!(status = status.as_u16(), "replacing hyper's bare answer");
            self.pending = self.replacement(status);
            // hyper's answer is taken whole; ours goes out in its place.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        self.poll_linger(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_default_cap_leaves_a_reserve_under_the_open_files_limit() {
        assert_eq!(reserve(1024), 128);
        assert_eq!(reserve(256), MIN_RESERVE);
        if let Some(limit) = open_files_limit() {
            let cap = default_max_connections() as u64;
            assert!(cap < limit || limit <= 1, "{cap} of {limit}");
        }
    }

    #[test]
    fn raw_answers_are_problem_json_or_scim_errors() {
        let api =
            String::from_utf8(raw_answer(StatusCode::URI_TOO_LONG, "long", false, &[])).unwrap();
        assert!(api.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{api}");
        assert!(api.contains("content-type: application/problem+json\r\n"));
        assert!(api.contains("cache-control: no-store\r\n"));
        assert!(api.contains("x-content-type-options: nosniff\r\n"));
        let body: serde_json::Value =
            serde_json::from_str(api.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["status"], 414);
        assert_eq!(body["type"], "https://roster.dev/problems/uri-too-long");
        let scim =
            String::from_utf8(raw_answer(StatusCode::BAD_REQUEST, "bad", true, &[])).unwrap();
        assert!(scim.contains("application/scim+json"), "{scim}");
        assert!(scim.contains("urn:ietf:params:scim:api:messages:2.0:Error"));
    }
}
