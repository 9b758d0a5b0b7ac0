//! The client SDK: an async [`Phone`] around a [`callcore::Client`].
//!
//! One task per phone owns the client and the WebSocket. Commands ([`Phone::initiate`],
//! [`Phone::accept`], ...) return the call object or the contract's error code; listener
//! callbacks arrive on [`Callbacks`], a `Stream`. When the connection drops, the task reconnects
//! with exponential backoff (bounded by [`Options::reconnect_attempts_max`]); the client resends
//! the requests still waiting and raises, from the server's snapshot, the callbacks it missed,
//! so a drop inside the reconnect grace shows only as those callbacks.

use crate::protocol::{
    decode_server_frame, encode_client_frame, ClientFrame, Found, Name, ServerFrame, PROTOCOL_VERSION,
};
use callcore::client::{Input, Output, Timer};
use callcore::{
    CallType, CallView, Callback, Client, ClientError, ConnectionId, DeviceId, ErrorCode, Receiver,
    RejectStatus, Request, RequestId,
};
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A phone's WebSocket read buffer, in bytes (it grows for a larger frame).
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Lookups a phone keeps waiting at once.
pub const LOOKUPS_PENDING_MAX: usize = 64;

/// How a phone behaves.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The call settings (the client uses `request_timeout_ms`, `call_retention_ms`).
    pub config: callcore::Config,
    /// The first wait before reconnecting, in milliseconds.
    pub backoff_ms_min: u64,
    /// The longest wait between reconnection attempts, in milliseconds.
    pub backoff_ms_max: u64,
    /// Failed reconnection attempts in a row before the phone stops trying.
    pub reconnect_attempts_max: u32,
    /// How long a connection attempt may take, in milliseconds.
    pub connect_ms_max: u64,
    /// Callbacks queued for the application (the phone waits when it is full).
    pub callbacks_queue_len: usize,
    /// Commands queued for the phone's task.
    pub commands_queue_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: callcore::Config::default(),
            backoff_ms_min: 100,
            backoff_ms_max: 5_000,
            reconnect_attempts_max: 30,
            connect_ms_max: 5_000,
            callbacks_queue_len: 256,
            commands_queue_len: 64,
        }
    }
}

/// Why a phone could not connect or a command did not get an answer from the contract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The contract's answer: an error code.
    #[error("{0}")]
    Code(ErrorCode),
    /// The client refused the command (too many requests outstanding).
    #[error("refused by the client: {0}")]
    Client(ClientError),
    /// The phone was closed.
    #[error("the phone is closed")]
    Closed,
    /// The WebSocket handshake failed (a refused token is an HTTP 401 here).
    #[error("connecting: {0}")]
    Connect(String),
    /// The server's first frame was not a welcome for protocol version 1.
    #[error("unexpected first frame from the server")]
    NoWelcome,
    /// The server answered a request about a call with a success that carries no call object
    /// (a server that breaks the protocol).
    #[error("the server's success carried no call object")]
    NoCallObject,
}

enum Command {
    Request(Request, oneshot::Sender<Result<Option<CallView>, SdkError>>),
    Lookup(Name, oneshot::Sender<Option<Found>>),
    Calls(oneshot::Sender<Vec<CallView>>),
    /// Drop the connection now (as a network fault would); the phone reconnects.
    Drop,
}

/// A device's phone. Cheap to clone; the phone's task ends when every clone and the
/// [`Callbacks`] are dropped, or on [`Phone::close`].
#[derive(Clone, Debug)]
pub struct Phone {
    commands: mpsc::Sender<Command>,
    device: DeviceId,
    close: mpsc::Sender<()>,
}

/// The listener callbacks, in order. A `Stream`; ends when the phone's task ends.
#[derive(Debug)]
pub struct Callbacks(mpsc::Receiver<Callback>);

impl Callbacks {
    /// The next callback, or `None` once the phone's task ended.
    pub async fn recv(&mut self) -> Option<Callback> {
        self.0.recv().await
    }
}

impl futures_util::Stream for Callbacks {
    type Item = Callback;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Callback>> {
        self.0.poll_recv(cx)
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to `url` with `token`, and reads the welcome.
async fn open(url: &str, token: &str, connect_ms_max: u64) -> Result<(Socket, DeviceId, u32), SdkError> {
    let mut request = url.into_client_request().map_err(|e| SdkError::Connect(e.to_string()))?;
    let bearer = format!("Bearer {token}").parse().map_err(|_| SdkError::Connect(String::from("token")))?;
    request.headers_mut().insert("authorization", bearer);
    let limit = Duration::from_millis(connect_ms_max);
    // Small buffers: a load driver holds thousands of phones.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (mut socket, _) = tokio::time::timeout(limit, connect)
        .await
        .map_err(|_| SdkError::Connect(String::from("timed out")))?
        .map_err(|e| SdkError::Connect(e.to_string()))?;
    let first = tokio::time::timeout(limit, socket.next()).await.map_err(|_| SdkError::NoWelcome)?;
    match first {
        Some(Ok(Message::Text(text))) => match decode_server_frame(text.as_str()) {
            Ok(ServerFrame::Welcome { v: PROTOCOL_VERSION, device, conn, .. }) => Ok((socket, device, conn)),
            _ => Err(SdkError::NoWelcome),
        },
        _ => Err(SdkError::NoWelcome),
    }
}

impl Phone {
    /// Connects to the server at `url` (`ws://host:port/ws`) with `token`, and starts the
    /// phone's task. Fails when the first connection fails (a refused token, no server).
    pub async fn connect(url: &str, token: &str, options: Options) -> Result<(Phone, Callbacks), SdkError> {
        let (socket, device, conn) = open(url, token, options.connect_ms_max).await?;
        let (commands, commands_rx) = mpsc::channel(options.commands_queue_len.max(1));
        let (callbacks, callbacks_rx) = mpsc::channel(options.callbacks_queue_len.max(1));
        let (close, close_rx) = mpsc::channel(1);
        let task = Task {
            url: url.to_owned(),
            token: token.to_owned(),
            options,
            client: Client::new(device, options.config),
            start: Instant::now(),
            socket: None,
            timers: BTreeMap::new(),
            timer_seq: 0,
            answers: HashMap::new(),
            lookups: Vec::new(),
            callbacks,
            attempts: 0,
            reconnect_at: None,
            conn: ConnectionId(conn),
        };
        tokio::spawn(task.run(socket, conn, commands_rx, close_rx));
        Ok((Phone { commands, device, close }, Callbacks(callbacks_rx)))
    }

    /// This phone's device (its user's id on the server, and the device index).
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Makes any request (the shorthands below make the common ones): the call object (none for
    /// a push registration), or the contract's error code.
    pub async fn request(&self, request: Request) -> Result<Option<CallView>, SdkError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Request(request, reply)).await.map_err(|_| SdkError::Closed)?;
        answer.await.map_err(|_| SdkError::Closed)?
    }

    /// A request about a call: the call object, or the contract's error code.
    async fn call_request(&self, request: Request) -> Result<CallView, SdkError> {
        self.request(request).await?.ok_or(SdkError::NoCallObject)
    }

    /// Starts the media session of an accepted call (the vendor's `startSession`): without it,
    /// the switchboard ends this user's part with `call_ended no_media` after
    /// `session_start_timeout_ms`.
    pub async fn start_session(&self, session: callcore::SessionId) -> Result<CallView, SdkError> {
        self.call_request(Request::start_session(session)).await
    }

    /// Registers this device for push ringing: while it is offline, a call that starts ringing
    /// its user makes the server hand a push to its push sender.
    pub async fn register_push(&self) -> Result<(), SdkError> {
        self.request(Request::RegisterPush).await.map(|_| ())
    }

    /// Withdraws this device's push registration.
    pub async fn unregister_push(&self) -> Result<(), SdkError> {
        self.request(Request::UnregisterPush).await.map(|_| ())
    }

    /// Calls a user or a group: the new call, or the contract's error code.
    pub async fn initiate(&self, to: Receiver, call_type: CallType) -> Result<CallView, SdkError> {
        self.call_request(Request::initiate(to, call_type)).await
    }

    /// Accepts an incoming call.
    pub async fn accept(&self, session: callcore::SessionId) -> Result<CallView, SdkError> {
        self.call_request(Request::accept(session)).await
    }

    /// Declines an incoming call (status rejected).
    pub async fn reject(&self, session: callcore::SessionId) -> Result<CallView, SdkError> {
        self.call_request(Request::decline(session)).await
    }

    /// Declines an incoming call as busy.
    pub async fn busy(&self, session: callcore::SessionId) -> Result<CallView, SdkError> {
        self.call_request(Request::Reject { session, status: RejectStatus::Busy }).await
    }

    /// Withdraws an outgoing call.
    pub async fn cancel(&self, session: callcore::SessionId) -> Result<CallView, SdkError> {
        self.call_request(Request::cancel(session)).await
    }

    /// Hangs up.
    pub async fn end(&self, session: callcore::SessionId) -> Result<CallView, SdkError> {
        self.call_request(Request::end(session)).await
    }

    /// The id of a user (by UID) or a group (by name); `None` when the server knows no such
    /// name, or the phone is closed.
    pub async fn lookup(&self, name: Name) -> Option<Found> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Lookup(name, reply)).await.ok()?;
        answer.await.ok().flatten()
    }

    /// The device's view of its calls.
    pub async fn calls(&self) -> Vec<CallView> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Calls(reply)).await.is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Drops the connection as a network fault would; the phone reconnects by itself.
    pub async fn drop_connection(&self) {
        let _ = self.commands.send(Command::Drop).await;
    }

    /// Closes the phone: its connection closes and its task ends.
    pub async fn close(&self) {
        let _ = self.close.send(()).await;
    }
}

struct Task {
    url: String,
    token: String,
    options: Options,
    client: Client,
    start: Instant,
    socket: Option<Socket>,
    timers: BTreeMap<(u64, u64), Timer>,
    timer_seq: u64,
    answers: HashMap<RequestId, oneshot::Sender<Result<Option<CallView>, SdkError>>>,
    lookups: Vec<(Name, oneshot::Sender<Option<Found>>)>,
    callbacks: mpsc::Sender<Callback>,
    attempts: u32,
    reconnect_at: Option<Instant>,
    /// The current (or last) connection's number, as the server's welcome gave it.
    conn: ConnectionId,
}

/// What woke the task.
enum Wake {
    Timer,
    Command(Option<Command>),
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Reconnect,
    Close,
}

impl Task {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run(
        mut self,
        socket: Socket,
        conn: u32,
        mut commands: mpsc::Receiver<Command>,
        mut close: mpsc::Receiver<()>,
    ) {
        self.up(socket, conn).await;
        loop {
            self.fire_due().await;
            let next_timer = self.timers.first_key_value().map(|(&(at, _), _)| at);
            let timer_at = next_timer.map(|at| self.start + Duration::from_millis(at));
            let wake = tokio::select! {
                biased;
                _ = close.recv() => Wake::Close,
                () = sleep_opt(timer_at) => Wake::Timer,
                () = sleep_opt(self.reconnect_at) => Wake::Reconnect,
                frame = next_frame(&mut self.socket) => Wake::Frame(frame),
                command = commands.recv() => Wake::Command(command),
            };
            match wake {
                Wake::Timer => {}
                Wake::Close | Wake::Command(None) => break,
                Wake::Command(Some(command)) => self.command(command).await,
                Wake::Frame(frame) => self.frame(frame).await,
                Wake::Reconnect => self.reconnect().await,
            }
            if self.attempts > self.options.reconnect_attempts_max {
                tracing::warn!(device = %self.client.device(), "gave up reconnecting");
                break;
            }
        }
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
    }

    async fn fire_due(&mut self) {
        let now_ms = self.now_ms();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let ((at_ms, _), timer) = entry.remove_entry();
            let _ = self.client.handle_input(at_ms.max(now_ms), Input::Timer(timer));
            self.drain().await;
        }
    }

    async fn up(&mut self, socket: Socket, conn: u32) {
        self.socket = Some(socket);
        self.conn = ConnectionId(conn);
        self.attempts = 0;
        self.reconnect_at = None;
        let now_ms = self.now_ms();
        let _ = self.client.handle_input(now_ms, Input::Connected(self.conn));
        self.drain().await;
        let names: Vec<Name> = self.lookups.iter().map(|(name, _)| name.clone()).collect();
        for name in names {
            self.send(ClientFrame::Lookup { v: PROTOCOL_VERSION, name }).await;
        }
    }

    async fn down(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
        let now_ms = self.now_ms();
        // The client's current connection: the one that just went down.
        let conn = self.conn;
        let _ = self.client.handle_input(now_ms, Input::Disconnected(conn));
        self.drain().await;
        self.schedule_reconnect();
    }

    fn schedule_reconnect(&mut self) {
        let shift = self.attempts.min(16);
        let backoff = self.options.backoff_ms_min.saturating_mul(1 << shift).min(self.options.backoff_ms_max);
        self.reconnect_at = Some(Instant::now() + Duration::from_millis(backoff));
    }

    async fn reconnect(&mut self) {
        self.reconnect_at = None;
        match open(&self.url, &self.token, self.options.connect_ms_max).await {
            Ok((socket, device, conn)) if device == self.client.device() => self.up(socket, conn).await,
            Ok(_) | Err(_) => {
                self.attempts += 1;
                self.schedule_reconnect();
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Request(request, reply) => {
                let now_ms = self.now_ms();
                match self.client.handle_input(now_ms, Input::Command(request)) {
                    Ok(Some(id)) => {
                        self.answers.insert(id, reply);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = reply.send(Err(SdkError::Client(e)));
                    }
                }
                self.drain().await;
            }
            Command::Lookup(name, reply) => {
                if self.lookups.len() >= LOOKUPS_PENDING_MAX {
                    let _ = reply.send(None);
                    return;
                }
                self.lookups.push((name.clone(), reply));
                self.send(ClientFrame::Lookup { v: PROTOCOL_VERSION, name }).await;
            }
            Command::Calls(reply) => {
                let _ = reply.send(self.client.calls().copied().collect());
            }
            Command::Drop => {
                if self.socket.is_some() {
                    self.down().await;
                }
            }
        }
    }

    async fn frame(&mut self, frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) {
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_)) | Err(_)) | None => return self.down().await,
            Some(Ok(_)) => return,
        };
        match decode_server_frame(text.as_str()) {
            Ok(ServerFrame::Msg { msg, .. }) => {
                let now_ms = self.now_ms();
                let _ = self.client.handle_input(now_ms, Input::Message(msg));
                self.drain().await;
            }
            Ok(ServerFrame::Lookup { name, found, .. }) => {
                let mut kept = Vec::with_capacity(self.lookups.len());
                for (waiting, reply) in self.lookups.drain(..) {
                    if waiting == name {
                        let _ = reply.send(found);
                    } else {
                        kept.push((waiting, reply));
                    }
                }
                self.lookups = kept;
            }
            Ok(ServerFrame::Error { code, detail, .. }) => {
                tracing::warn!(?code, %detail, "the server refused a frame");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "undecodable frame from the server"),
        }
    }

    async fn send(&mut self, frame: ClientFrame) {
        let Some(socket) = self.socket.as_mut() else { return };
        let text = encode_client_frame(&frame);
        if socket.send(Message::Text(text.into())).await.is_err() {
            self.down().await;
        }
    }

    /// Drains the client's outputs. Bounded: each round takes one output the client queued.
    async fn drain(&mut self) {
        let mut sends = Vec::new();
        while let Some(output) = self.client.poll_output() {
            match output {
                Output::Send(msg) => sends.push(msg),
                Output::Callback(callback) => {
                    let _ = self.callbacks.send(callback).await;
                }
                Output::Answer { id, result, .. } => {
                    if let Some(reply) = self.answers.remove(&id) {
                        let _ = reply.send(result.map_err(SdkError::Code));
                    }
                }
                Output::SetTimer { timer, at_ms } => {
                    self.timer_seq += 1;
                    self.timers.insert((at_ms, self.timer_seq), timer);
                }
                other => tracing::trace!(?other, "client output not used by the phone"),
            }
        }
        for msg in sends {
            Box::pin(self.send(ClientFrame::Msg { v: PROTOCOL_VERSION, msg })).await;
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_frame(
    socket: &mut Option<Socket>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match socket.as_mut() {
        Some(socket) => socket.next().await,
        None => std::future::pending().await,
    }
}
