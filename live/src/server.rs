//! The signalling server: HTTP routes (`/ws`, `/health`, `/metrics`, `/admin/...`), the
//! handshake's checks, and one task per connection that decodes frames for the hub and writes
//! what the hub queues for it.

use crate::auth::{AuthError, Claims, Secret};
use crate::clock::Clock;
use crate::hub::{run_timers, Architecture, Event, GroupSpec, Hub, HubHandle, Link};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::protocol::{
    close, decode_client_frame, ClientFrame, FrameError, ServerFrame, WireLimits, PROTOCOL_VERSION,
};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use callcore::{ConnectionId, DeviceId};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// How often shutdown checks whether every connection closed, in milliseconds.
const DRAIN_POLL_MS: u64 = 10;

/// Everything the server needs to start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// The limits.
    pub limits: Limits,
    /// The call semantics' settings.
    pub core: callcore::Config,
    /// The tokens' signing secret.
    pub secret: Secret,
    /// The admin endpoints' bearer token; without one they answer 404.
    pub admin_token: Option<String>,
    /// Groups to create at start.
    pub groups: Vec<GroupSpec>,
    /// How connections reach the switchboard (the mutex is a baseline for comparison).
    pub architecture: Architecture,
    /// Where the pushes the switchboard emits go (contract version 2): [`crate::push::LogSender`],
    /// [`crate::push::WebhookSender`], or the embedder's own.
    pub push_sender: Arc<dyn crate::push::PushSender>,
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding or serving failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A configured group was refused.
    #[error("group {name:?}: {reason}")]
    Group {
        /// The group.
        name: String,
        /// Why.
        reason: String,
    },
    /// A limit is out of range.
    #[error("limit out of range: {0}")]
    Limit(&'static str),
}

/// What every route and connection task shares.
struct Shared {
    hub: HubHandle,
    metrics: Arc<Metrics>,
    limits: Limits,
    secret: Secret,
    admin_token: Option<String>,
    /// Connections held now, counted from the handshake (for `connections_max`).
    held: AtomicUsize,
    stopping: watch::Receiver<bool>,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Server {
    /// Binds `config.addr` and serves until [`Server::shutdown`]. The switchboard reads its time
    /// from `clock`.
    pub async fn start(config: ServerConfig, clock: Arc<dyn Clock>) -> Result<Server, ServerError> {
        check_limits(&config.limits)?;
        let metrics = Arc::new(Metrics::default());
        let mut hub = Hub::new(config.core, clock.clone(), metrics.clone(), config.push_sender.clone());
        for spec in &config.groups {
            hub.add_group(spec).map_err(|reason| ServerError::Group { name: spec.name.clone(), reason })?;
        }
        let (stop, stopping) = watch::channel(false);
        let (handle, hub_task) = match config.architecture {
            Architecture::Mutex => {
                let hub = Arc::new(std::sync::Mutex::new(hub));
                let timers = tokio::spawn(run_timers(hub.clone(), clock, stopping.clone()));
                (HubHandle::Mutex(hub), timers)
            }
            _ => {
                let (hub_tx, hub_rx) = mpsc::channel(config.limits.hub_queue_len);
                (HubHandle::Queue(hub_tx), tokio::spawn(hub.run(hub_rx)))
            }
        };
        let shared = Arc::new(Shared {
            hub: handle,
            metrics: metrics.clone(),
            limits: config.limits,
            secret: config.secret,
            admin_token: config.admin_token,
            held: AtomicUsize::new(0),
            stopping: stopping.clone(),
        });
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let local_addr = listener.local_addr()?;
        // Frames are small and each is a message someone waits for: no Nagle delay.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let mut until_stop = stopping.clone();
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = until_stop.wait_for(|&s| s).await;
            });
            let served = serve.await;
            drain(&shared).await;
            let _ = hub_task.await;
            served.map_err(ServerError::Io)
        });
        tracing::info!(%local_addr, "listening");
        Ok(Server { local_addr, stop, metrics, task })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stops accepting connections, tells every connected device (a `shutdown` frame, then
    /// close 1001) and drains their queues. [`Server::join`] waits for the end.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the server has stopped.
    pub async fn join(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Io(std::io::Error::other(e))),
        }
    }
}

fn check_limits(limits: &Limits) -> Result<(), ServerError> {
    if limits.devices_per_user_max == 0 || limits.devices_per_user_max > callcore::DEVICES_PER_USER_MAX {
        return Err(ServerError::Limit("devices_per_user_max must be 1..=16"));
    }
    if limits.outbound_queue_len == 0 || limits.hub_queue_len == 0 {
        return Err(ServerError::Limit("queue lengths must be at least 1"));
    }
    if limits.write_buffer_bytes_max < limits.frame_bytes_max.saturating_mul(2) {
        return Err(ServerError::Limit("write_buffer_bytes_max must be at least 2 * frame_bytes_max"));
    }
    if limits.frames_per_second_max == 0 || limits.frame_bytes_max < 256 {
        return Err(ServerError::Limit("frames_per_second_max >= 1 and frame_bytes_max >= 256"));
    }
    Ok(())
}

/// Tells every connection to close (the hub sends each its code) and waits, bounded by
/// `shutdown_drain_ms`, until they all did.
async fn drain(shared: &Shared) {
    let _ = shared.hub.send(Event::Stop { code: close::GOING_AWAY }).await;
    let polls = shared.limits.shutdown_drain_ms / DRAIN_POLL_MS + 1;
    for _ in 0..polls {
        if shared.held.load(Relaxed) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(DRAIN_POLL_MS)).await;
    }
    tracing::info!(left = shared.held.load(Relaxed), "drained");
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ws", get(ws))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/admin/groups", post(admin_add_group))
        .route("/admin/users", post(admin_add_users))
        .route("/admin/state", get(admin_state))
        .layer(DefaultBodyLimit::max(shared.limits.admin_body_bytes_max))
        .with_state(shared)
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let stopping = *shared.stopping.borrow();
    let body = serde_json::json!({
        "status": if stopping { "stopping" } else { "ok" },
        "protocol": PROTOCOL_VERSION,
        "connections": shared.held.load(Relaxed),
    });
    let code = if stopping { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (code, Json(body)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let headers = [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")];
    (headers, shared.metrics.render()).into_response()
}

/// The token of a request: `Authorization: Bearer <token>`, else `?token=<token>`.
fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    let header = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) {
        return Some(token.trim().to_owned());
    }
    query.get("token").cloned()
}

/// Compares in time that does not depend on where the strings differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn admin_allowed(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let Some(expected) = &shared.admin_token else {
        return Err((StatusCode::NOT_FOUND, "no admin token configured").into_response());
    };
    match bearer(headers, &HashMap::new()) {
        Some(given) if same_secret(&given, expected) => Ok(()),
        _ => Err((StatusCode::UNAUTHORIZED, "admin token required").into_response()),
    }
}

async fn admin_add_group(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = admin_allowed(&shared, &headers) {
        return refused;
    }
    let spec: GroupSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let (reply, answer) = oneshot::channel();
    if shared.hub.send(Event::AddGroup { spec, reply }).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match answer.await {
        Ok(Ok(id)) => (StatusCode::CREATED, Json(serde_json::json!({ "group": id }))).into_response(),
        Ok(Err(reason)) => (StatusCode::CONFLICT, reason).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `POST /admin/users` with `{"uids": [...]}`: registers the users; answers their ids.
async fn admin_add_users(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Users {
        uids: Vec<String>,
    }
    if let Err(refused) = admin_allowed(&shared, &headers) {
        return refused;
    }
    let users: Users = match serde_json::from_slice(&body) {
        Ok(users) => users,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let (reply, answer) = oneshot::channel();
    if shared.hub.send(Event::AddUsers { uids: users.uids, reply }).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match answer.await {
        Ok(Ok(ids)) => (StatusCode::CREATED, Json(serde_json::json!({ "users": ids }))).into_response(),
        Ok(Err(reason)) => (StatusCode::BAD_REQUEST, reason).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `GET /admin/state`, or `GET /admin/state?calls=open` for the calls not terminal only.
async fn admin_state(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = admin_allowed(&shared, &headers) {
        return refused;
    }
    let open_only = query.get("calls").is_some_and(|c| c == "open");
    let (reply, answer) = oneshot::channel();
    if shared.hub.send(Event::State { open_only, reply }).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match answer.await {
        Ok(dump) => Json(dump).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Holds one place among `connections_max` until dropped.
struct Held(Arc<Shared>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Relaxed);
    }
}

async fn ws(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if *shared.stopping.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let claims = bearer(&headers, &query)
        .ok_or(AuthError::Missing)
        .and_then(|token| shared.secret.verify(&token, shared.limits.devices_per_user_max));
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => {
            shared.metrics.refused_auth.fetch_add(1, Relaxed);
            tracing::debug!(error = %e, "handshake refused");
            return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
        }
    };
    if shared.held.fetch_add(1, Relaxed) >= shared.limits.connections_max {
        shared.held.fetch_sub(1, Relaxed);
        shared.metrics.refused_full.fetch_add(1, Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "connections_max reached").into_response();
    }
    let held = Held(shared.clone());
    let bytes = shared.limits.frame_bytes_max;
    upgrade
        .max_message_size(bytes)
        .max_frame_size(bytes)
        .read_buffer_size(shared.limits.read_buffer_bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(shared.limits.write_buffer_bytes_max)
        .on_upgrade(move |socket| connection(socket, held, claims))
}

/// Allows `per_second` frames a second with a burst of as many.
struct Bucket {
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        Self { tokens: per_second, per_second, last: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a connection's loop ended.
enum End {
    /// The device closed or vanished.
    Peer,
    /// The server closes with this code.
    Close(u16),
}

async fn connection(socket: WebSocket, held: Held, claims: Claims) {
    let shared = held.0.clone();
    let (outbound, mut queued) = mpsc::channel(shared.limits.outbound_queue_len);
    let errors = outbound.clone();
    let (kill, mut killed) = oneshot::channel();
    let (reply, registered) = oneshot::channel();
    let uid = claims.sub;
    let connect =
        Event::Connect { uid: uid.clone(), index: claims.dev, link: Link { outbound, kill }, reply };
    let (mut sink, mut stream) = socket.split();
    let Ok((device, conn)) = async {
        shared.hub.send(connect).await.map_err(|_| ())?;
        registered.await.map_err(|_| ())
    }
    .await
    else {
        let _ = close_with(&mut sink, close::INTERNAL, &shared).await;
        return;
    };
    shared.metrics.connections_open.fetch_add(1, Relaxed);
    shared.metrics.connections_total.fetch_add(1, Relaxed);
    tracing::debug!(%device, %conn, %uid, "connected");
    let welcome = ServerFrame::Welcome {
        v: PROTOCOL_VERSION,
        uid,
        device,
        conn: conn.0,
        limits: WireLimits {
            frame_bytes_max: shared.limits.frame_bytes_max,
            frames_per_second_max: shared.limits.frames_per_second_max,
        },
    };
    let end = if sink.send(Message::Text(welcome.encode().into())).await.is_err() {
        End::Peer
    } else {
        serve(&shared, device, conn, &mut sink, &mut stream, &mut queued, &mut killed, errors).await
    };
    let _ = shared.hub.send(Event::Disconnect { device, conn }).await;
    if let End::Close(code) = end {
        if code == close::GOING_AWAY {
            flush(&mut sink, &mut queued, &shared).await;
            let shutdown = ServerFrame::Shutdown { v: PROTOCOL_VERSION };
            let _ = send_bounded(&mut sink, Message::Text(shutdown.encode().into()), &shared).await;
        }
        let _ = close_with(&mut sink, code, &shared).await;
    }
    shared.metrics.connections_open.fetch_sub(1, Relaxed);
    tracing::debug!(%device, %conn, "closed");
    drop(held);
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

/// The connection's loop: frames in go to the hub, frames the hub queued go out. Reading and
/// writing run side by side, so a device that does not read still has its frames read: its
/// outbound queue then fills and the hub closes it as a slow reader.
#[allow(clippy::too_many_arguments)]
async fn serve(
    shared: &Shared,
    device: DeviceId,
    conn: ConnectionId,
    sink: &mut Sink,
    stream: &mut Stream,
    queued: &mut mpsc::Receiver<ServerFrame>,
    killed: &mut oneshot::Receiver<u16>,
    errors: mpsc::Sender<ServerFrame>,
) -> End {
    let write = async {
        // Ends when the hub drops the queue (then `killed` has the code) or the peer is gone.
        while let Some(frame) = queued.recv().await {
            if sink.send(Message::Text(frame.encode().into())).await.is_err() {
                return End::Peer;
            }
        }
        std::future::pending::<End>().await
    };
    let read = read_frames(shared, device, conn, stream, errors);
    tokio::select! {
        code = &mut *killed => End::Close(code.unwrap_or(close::INTERNAL)),
        end = write => end,
        end = read => end,
    }
}

/// Reads frames, checks the rate, decodes them and hands them to the hub. Bad frames get an
/// error frame on the connection's own queue.
async fn read_frames(
    shared: &Shared,
    device: DeviceId,
    conn: ConnectionId,
    stream: &mut Stream,
    errors: mpsc::Sender<ServerFrame>,
) -> End {
    let mut bucket = Bucket::new(shared.limits.frames_per_second_max);
    loop {
        let frame = match stream.next().await {
            None | Some(Ok(Message::Close(_))) => return End::Peer,
            Some(Err(e)) => return read_error(&e),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Text(text))) => decode_client_frame(text.as_str()),
            Some(Ok(Message::Binary(_))) => Err(FrameError::BinaryFrame),
        };
        shared.metrics.frames_in.fetch_add(1, Relaxed);
        if !bucket.take() {
            return End::Close(close::FLOOD);
        }
        let event = match frame {
            Ok(ClientFrame::Msg { msg, .. }) => Event::Msg { device, conn, msg, at: Instant::now() },
            Ok(ClientFrame::Lookup { name, .. }) => Event::Lookup { device, conn, name },
            Ok(ClientFrame::Ping { nonce, .. }) => Event::Ping { device, conn, nonce },
            Err(error) => {
                shared.metrics.bad_frame(error.code());
                if errors.try_send(ServerFrame::error(&error)).is_err() {
                    return End::Close(close::SLOW_READER);
                }
                continue;
            }
        };
        if shared.hub.send(event).await.is_err() {
            return End::Close(close::INTERNAL);
        }
    }
}

/// A read error: a frame over the limit is closed with 1009; anything else is the peer gone.
fn read_error(error: &axum::Error) -> End {
    let text = error.to_string();
    if text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big") {
        End::Close(close::TOO_BIG)
    } else {
        End::Peer
    }
}

/// Writes what is still queued (bounded by the queue's length), each write bounded in time.
async fn flush(sink: &mut Sink, queued: &mut mpsc::Receiver<ServerFrame>, shared: &Shared) {
    for _ in 0..shared.limits.outbound_queue_len {
        let Ok(frame) = queued.try_recv() else { return };
        if send_bounded(sink, Message::Text(frame.encode().into()), shared).await.is_err() {
            return;
        }
    }
}

async fn send_bounded(sink: &mut Sink, message: Message, shared: &Shared) -> Result<(), ()> {
    let limit = Duration::from_millis(shared.limits.close_ms_max);
    match tokio::time::timeout(limit, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close_with(sink: &mut Sink, code: u16, shared: &Shared) -> Result<(), ()> {
    shared.metrics.close(code);
    let reason = match code {
        close::GOING_AWAY => "server shutting down",
        close::TOO_BIG => "frame over frame_bytes_max",
        close::SLOW_READER => "slow reader: outbound_queue_len reached",
        close::FLOOD => "flood: frames_per_second_max exceeded",
        close::REPLACED => "replaced by a newer connection of this device",
        _ => "internal error",
    };
    let frame = CloseFrame { code, reason: reason.into() };
    send_bounded(sink, Message::Close(Some(frame)), shared).await
}
