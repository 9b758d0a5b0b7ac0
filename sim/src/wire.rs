//! Conformance over the wire: a scenario replayed against a live server (`callcore_live`)
//! through real WebSocket connections on 127.0.0.1, then compared with its in-process replay
//! ([`crate::replay`]): the same answers, the same callbacks on every device, the same final
//! statuses.
//!
//! The server runs on a [`ManualClock`] that this replayer advances. The replayer plays the
//! scenario's network itself, with the in-process replay's rules: each device is a
//! [`callcore::Client`] driven at virtual times; a message a client sends at `t` is written to
//! its socket when the server's clock reads `t + latency`; what the server sends at `s` reaches
//! the client at `s + latency`; a drop loses what is in flight either way, and the server
//! learns of connection changes `latency` later. After each thing it hands the server (a
//! message, a connection change, the clock moved to a due timer), the replayer sends a `ping`
//! on every connection and reads up to each `pong`: every frame the server produced is then
//! known, with the server time it was produced at. The server's next timer comes from its admin
//! endpoint (`next_timer_ms`).
//!
//! What cannot run this way is refused by [`runnable`] with the reason.

use crate::net::Latency;
use crate::replay::{self, callback_line, Produced};
use crate::scenario::{self, Action, Command, Outcome, Scenario, Target};
use crate::trace::Trace;
use callcore::client::{Input, Output, Timer};
use callcore::{
    CallbackKind, Client, ClientMsg, ConnectionId, DeviceId, GroupId, Receiver, RequestId, ServerMsg,
    SessionId, Status, UserId,
};
use callcore_live::admin::Admin;
use callcore_live::auth::Secret;
use callcore_live::clock::ManualClock;
use callcore_live::limits::Limits;
use callcore_live::protocol::{decode_server_frame, encode_client_frame, ClientFrame, ServerFrame};
use callcore_live::server::{Server, ServerConfig};
use callcore_live::GroupSpec;
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Events one replay may handle before it stops as a livelock.
pub const EVENTS_MAX: u64 = 100_000;
/// Frames read from one connection in one barrier at most.
const FRAMES_PER_BARRIER_MAX: usize = 10_000;
/// How long one socket operation may take.
const SOCKET_WAIT: Duration = Duration::from_secs(10);
/// Polls of the admin state while waiting for the server to learn of a close.
const CLOSE_POLLS_MAX: u32 = 1_000;

/// A session id no call can have (as in the in-process replay).
const NO_SESSION: SessionId = replay::NO_SESSION;

/// Why a replay over the wire failed to run (not a difference in what came out).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The server did not start.
    #[error("server: {0}")]
    Server(#[from] callcore_live::server::ServerError),
    /// The admin endpoint failed.
    #[error("admin: {0}")]
    Admin(#[from] callcore_live::admin::AdminError),
    /// A socket failed or timed out.
    #[error("socket: {0}")]
    Socket(String),
    /// The replay did not end within [`EVENTS_MAX`] events.
    #[error("more than {EVENTS_MAX} events")]
    Livelock,
}

/// Whether a scenario can be replayed over the wire; the reason when it cannot.
pub fn runnable(s: &Scenario) -> Result<(), &'static str> {
    if matches!(s.config.latency(), Latency::Uniform { .. }) {
        return Err("random latency: the in-process network draws each message's delay from the \
                    scenario's seed, message by message; this replayer uses one fixed latency");
    }
    if s.expect.as_ref().is_some_and(|e| !e.pushes.is_empty()) {
        return Err("expects pushes: the server hands them to its push sender, which this replayer \
                    does not read back");
    }
    Ok(())
}

/// Replays `s` over the wire and in process; the differences (empty: the same outcome).
pub async fn compare(s: &Scenario) -> Result<Vec<String>, WireError> {
    let local = replay::run(s, Trace::default()).outcome;
    let wire = run(s).await?;
    let mut diffs = Vec::new();
    for (i, (a, b)) in local.answers.iter().zip(&wire.answers).enumerate() {
        if a != b {
            let name = |o: &Option<Outcome>| o.map_or("no answer", Outcome::name);
            diffs.push(format!("step {}: in process {}, over the wire {}", i + 1, name(a), name(b)));
        }
    }
    if local.calls != wire.calls {
        diffs.push(format!("calls: in process {:?}, over the wire {:?}", local.calls, wire.calls));
    }
    for (device, want) in &local.callbacks {
        let have = wire.callbacks.get(device).cloned().unwrap_or_default();
        if *want != have {
            diffs.push(format!("callbacks {device}: in process {want:?}, over the wire {have:?}"));
        }
    }
    Ok(diffs)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Same-millisecond bands, as in the in-process queue: steps first, then the rest in order.
const CLASS_COMMAND: u8 = 0;
const CLASS_MACHINE: u8 = 1;

#[derive(Debug)]
enum Ev {
    Step(usize),
    ClientTimer(usize, Timer),
    ToServer { dev: usize, epoch: u32, msg: ClientMsg },
    ToClient { dev: usize, epoch: u32, msg: ServerMsg },
    LearnConnect { dev: usize, epoch: u32 },
    LearnDisconnect { dev: usize, epoch: u32 },
}

struct Dev {
    uid: String,
    client: Client,
    /// The device's connection epoch (client side): bumped by each connect and disconnect.
    epoch: u32,
    /// The open socket and the epoch it was opened for.
    socket: Option<(u32, Socket)>,
}

#[derive(Clone, Copy)]
enum What {
    Request { command: Command<Receiver>, label: Option<usize> },
    Connect,
    Disconnect,
}

struct Wire {
    clock: Arc<ManualClock>,
    admin: Admin,
    url: String,
    secret: Secret,
    latency: u64,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u8, u64), Ev>,
    devs: Vec<Dev>,
    steps: Vec<(usize, What)>,
    label_session: Vec<Option<SessionId>>,
    label_names: Vec<String>,
    session_label: HashMap<SessionId, usize>,
    waiting: HashMap<(usize, RequestId), usize>,
    uncreated: HashMap<(usize, RequestId), usize>,
    answers: Vec<Option<Outcome>>,
    callbacks: Vec<Vec<(CallbackKind, SessionId)>>,
    final_status: BTreeMap<SessionId, Status>,
    next_timer: Option<u64>,
    nonce: u64,
}

fn secret() -> Secret {
    let seed =
        format!("{:?}{}{:?}", std::time::SystemTime::now(), std::process::id(), std::thread::current().id());
    let mut bytes = seed.into_bytes();
    bytes.resize(48, b'~');
    // 48 bytes are always enough.
    Secret::new(bytes).unwrap_or_else(|_| unreachable!("48 bytes"))
}

/// Replays `s` over the wire; what came out, named as the scenario names things.
pub async fn run(s: &Scenario) -> Result<Produced, WireError> {
    let clock = ManualClock::new();
    let secret = secret();
    let admin_token = format!("wire-{}", std::process::id());
    let config = ServerConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        limits: Limits { frames_per_second_max: 1_000_000, ..Limits::default() },
        core: s.config.core(s.format),
        secret: secret.clone(),
        admin_token: Some(admin_token.clone()),
        groups: Vec::new(),
        architecture: Default::default(),
        push_sender: std::sync::Arc::new(callcore_live::push::LogSender),
    };
    let server = Server::start(config, clock.clone()).await?;
    let url = format!("ws://{}/ws", server.local_addr());
    let admin = Admin::new(&url, Some(admin_token))?;
    let result = replay_on(s, clock, admin, url, secret).await;
    server.shutdown();
    let _ = tokio::time::timeout(SOCKET_WAIT, server.join()).await;
    result
}

async fn replay_on(
    s: &Scenario,
    clock: Arc<ManualClock>,
    admin: Admin,
    url: String,
    secret: Secret,
) -> Result<Produced, WireError> {
    // The cast, registered as the in-process replay registers it: users in UID order, then
    // groups in GUID order; names outside the cast get ids that are never registered.
    let uids: Vec<String> = s.users.keys().cloned().collect();
    let ids = admin.add_users(&uids).await?;
    let users: BTreeMap<String, UserId> = uids.iter().cloned().zip(ids).collect();
    let mut groups: BTreeMap<String, GroupId> = BTreeMap::new();
    for (guid, members) in &s.groups {
        let spec = GroupSpec { name: guid.clone(), members: members.clone() };
        if let Ok(id) = admin.add_group(&spec).await {
            groups.insert(guid.clone(), id);
        }
    }
    let (mut next_user, mut next_group) = (users.len() as u32, s.groups.len() as u32);
    let mut unknown_users: BTreeMap<String, UserId> = BTreeMap::new();
    let mut unknown_groups: BTreeMap<String, GroupId> = BTreeMap::new();
    let config = s.config.core(s.format);
    let mut devs = Vec::new();
    let mut dev_of: BTreeMap<(String, u16), usize> = BTreeMap::new();
    for (uid, spec) in &s.users {
        for index in 0..spec.devices {
            dev_of.insert((uid.clone(), index), devs.len());
            let client = Client::new(DeviceId::new(users[uid], index), config);
            devs.push(Dev { uid: uid.clone(), client, epoch: 0, socket: None });
        }
    }
    let mut label_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut label_names = Vec::new();
    for step in &s.steps {
        if let Action::Request { request: Command::Initiate { .. }, call } = &step.action {
            if !label_index.contains_key(call) {
                label_index.insert(call.clone(), label_names.len());
                label_names.push(call.clone());
            }
        }
    }
    let mut steps = Vec::with_capacity(s.steps.len());
    for step in &s.steps {
        let dev = dev_of[&(step.user.clone(), step.device.unwrap_or(0))];
        let what = match &step.action {
            Action::Request { request, call } => What::Request {
                command: request.map_to(|to| match to {
                    Target::User(u) => Receiver::User(users.get(u).copied().unwrap_or_else(|| {
                        *unknown_users.entry(u.clone()).or_insert_with(|| {
                            next_user += 1;
                            UserId(next_user - 1)
                        })
                    })),
                    Target::Group(g) => Receiver::Group(groups.get(g).copied().unwrap_or_else(|| {
                        *unknown_groups.entry(g.clone()).or_insert_with(|| {
                            next_group += 1;
                            GroupId(next_group - 1)
                        })
                    })),
                }),
                label: request.names_call().then(|| label_index[call.as_str()]),
            },
            Action::Connect => What::Connect,
            Action::Disconnect => What::Disconnect,
        };
        steps.push((dev, what));
    }
    let latency = match s.config.latency() {
        Latency::Fixed(ms) => ms,
        Latency::Uniform { min, .. } => min,
    };
    let mut wire = Wire {
        clock,
        admin,
        url,
        secret,
        latency,
        now: 0,
        seq: 0,
        queue: BTreeMap::new(),
        callbacks: vec![Vec::new(); devs.len()],
        devs,
        steps,
        label_session: vec![None; label_names.len()],
        label_names,
        session_label: HashMap::new(),
        waiting: HashMap::new(),
        uncreated: HashMap::new(),
        answers: vec![None; s.steps.len()],
        final_status: BTreeMap::new(),
        next_timer: None,
        nonce: 0,
    };
    // Devices listed as connected connect at time 0, as in the in-process replay.
    for (uid, spec) in &s.users {
        for index in (0..spec.devices).filter(|&i| spec.starts_connected(i)) {
            wire.connect(dev_of[&(uid.clone(), index)]);
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        wire.push(step.at_ms, CLASS_COMMAND, Ev::Step(i));
    }
    wire.run_until(scenario::run_until_ms(s)).await?;
    Ok(wire.outcome())
}

impl Wire {
    fn push(&mut self, at_ms: u64, class: u8, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at_ms, class, self.seq), ev);
    }

    /// The device's connection comes back: the client knows at once, the server `latency` later.
    fn connect(&mut self, dev: usize) {
        self.devs[dev].epoch += 1;
        let epoch = self.devs[dev].epoch;
        self.push(self.now + self.latency, CLASS_MACHINE, Ev::LearnConnect { dev, epoch });
        let _ = self.devs[dev].client.handle_input(self.now, Input::Connected(ConnectionId(epoch)));
        self.drain_client(dev);
    }

    fn disconnect(&mut self, dev: usize) {
        let old = self.devs[dev].epoch;
        self.devs[dev].epoch += 1;
        self.push(self.now + self.latency, CLASS_MACHINE, Ev::LearnDisconnect { dev, epoch: old });
        let _ = self.devs[dev].client.handle_input(self.now, Input::Disconnected(ConnectionId(old)));
        self.drain_client(dev);
    }

    fn drain_client(&mut self, dev: usize) {
        while let Some(output) = self.devs[dev].client.poll_output() {
            match output {
                Output::Send(msg) => {
                    let epoch = self.devs[dev].epoch;
                    self.push(self.now + self.latency, CLASS_MACHINE, Ev::ToServer { dev, epoch, msg });
                }
                Output::Callback(callback) => {
                    self.callbacks[dev].push((callback.kind, callback.call.session))
                }
                Output::Answer { id, result, .. } => {
                    if let Some(step) = self.waiting.remove(&(dev, id)) {
                        self.answers[step] = Some(Outcome::of(&result));
                    }
                    if result.is_err() && result != Err(callcore::ErrorCode::Timeout) {
                        self.uncreated.remove(&(dev, id));
                    }
                }
                Output::SetTimer { timer, at_ms } => {
                    self.push(at_ms, CLASS_MACHINE, Ev::ClientTimer(dev, timer))
                }
                Output::CancelTimer { .. } => {}
            }
        }
    }

    async fn run_until(&mut self, until_ms: u64) -> Result<(), WireError> {
        self.refresh().await?;
        for _ in 0..EVENTS_MAX {
            let head = self.queue.first_key_value().map(|(&(t, _, _), _)| t).filter(|&t| t <= until_ms);
            let timer = self.next_timer.filter(|&t| t <= until_ms);
            match (timer, head) {
                (Some(t), h) if h.is_none_or(|h| t <= h) => {
                    self.now = self.now.max(t);
                    self.clock.advance_to(t);
                    self.barrier(None).await?;
                }
                (_, Some(_)) => {
                    let Some(((t, _, _), ev)) = self.queue.pop_first() else { break };
                    self.now = t;
                    self.handle(ev).await?;
                }
                (_, None) => return Ok(()),
            }
        }
        Err(WireError::Livelock)
    }

    async fn handle(&mut self, ev: Ev) -> Result<(), WireError> {
        match ev {
            Ev::Step(i) => {
                let (dev, what) = self.steps[i];
                match what {
                    What::Connect => self.connect(dev),
                    What::Disconnect => self.disconnect(dev),
                    What::Request { command, label } => {
                        let session = label.and_then(|l| self.label_session[l]).unwrap_or(NO_SESSION);
                        let request = command.request(session);
                        if let Ok(Some(id)) =
                            self.devs[dev].client.handle_input(self.now, Input::Command(request))
                        {
                            self.waiting.insert((dev, id), i);
                            if matches!(command, Command::Initiate { .. }) {
                                self.uncreated.insert((dev, id), i);
                            }
                        }
                        self.drain_client(dev);
                    }
                }
            }
            Ev::ClientTimer(dev, timer) => {
                let _ = self.devs[dev].client.handle_input(self.now, Input::Timer(timer));
                self.drain_client(dev);
            }
            Ev::ToClient { dev, epoch, msg } => {
                if self.devs[dev].epoch == epoch {
                    let _ = self.devs[dev].client.handle_input(self.now, Input::Message(msg));
                    self.drain_client(dev);
                }
            }
            Ev::ToServer { dev, epoch, msg } => {
                // Lost when the device dropped the connection since it sent it.
                if self.devs[dev].epoch == epoch {
                    self.clock.advance_to(self.now);
                    let frame = encode_client_frame(&ClientFrame::Msg { v: 1, msg });
                    if let Some((_, socket)) = self.devs[dev].socket.as_mut() {
                        send(socket, frame).await?;
                    }
                    self.barrier(Some(dev)).await?;
                }
            }
            Ev::LearnConnect { dev, epoch } => {
                self.clock.advance_to(self.now);
                let socket = self.open(dev).await?;
                // The server replaces an older connection of the device still open (4003).
                self.devs[dev].socket = Some((epoch, socket));
                self.barrier(Some(dev)).await?;
            }
            Ev::LearnDisconnect { dev, epoch } => {
                self.clock.advance_to(self.now);
                if self.devs[dev].socket.as_ref().is_some_and(|(e, _)| *e == epoch) {
                    if let Some((_, mut socket)) = self.devs[dev].socket.take() {
                        let _ = tokio::time::timeout(SOCKET_WAIT, socket.close(None)).await;
                    }
                    self.until_gone(dev).await?;
                }
                self.barrier(None).await?;
            }
        }
        Ok(())
    }

    async fn open(&mut self, dev: usize) -> Result<Socket, WireError> {
        let device = self.devs[dev].client.device();
        let token = self
            .secret
            .token(&self.devs[dev].uid, device.index, 3600)
            .map_err(|e| WireError::Socket(e.to_string()))?;
        let mut request =
            self.url.as_str().into_client_request().map_err(|e| WireError::Socket(e.to_string()))?;
        let bearer =
            format!("Bearer {token}").parse().map_err(|_| WireError::Socket(String::from("token")))?;
        request.headers_mut().insert("authorization", bearer);
        let (mut socket, _) = tokio::time::timeout(
            SOCKET_WAIT,
            tokio_tungstenite::connect_async_with_config(request, None, true),
        )
        .await
        .map_err(|_| WireError::Socket(String::from("connect timed out")))?
        .map_err(|e| WireError::Socket(e.to_string()))?;
        match recv(&mut socket).await? {
            Some(ServerFrame::Welcome { .. }) => Ok(socket),
            other => Err(WireError::Socket(format!("no welcome: {other:?}"))),
        }
    }

    /// Waits until the server holds the device as gone (it learned of the close).
    async fn until_gone(&mut self, dev: usize) -> Result<(), WireError> {
        let device = self.devs[dev].client.device();
        for _ in 0..CLOSE_POLLS_MAX {
            if !self.admin.state().await?.connected.contains(&device) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Err(WireError::Socket(format!("the server never learned that {device} closed")))
    }

    /// Pings every open connection, one after the other, and reads up to each pong: every
    /// frame the server produced so far is then scheduled for its device, `latency` after now.
    /// `first` is the connection a frame was just written to: its pong comes once the server
    /// handled that frame (and queued everything it caused on every connection), so it is
    /// pinged first. The server handles one event at a time, so the pongs of the others come
    /// after what that frame caused.
    async fn barrier(&mut self, first: Option<usize>) -> Result<(), WireError> {
        self.nonce += 1;
        let nonce = self.nonce;
        let mut received: Vec<(usize, u32, ServerMsg)> = Vec::new();
        let order = first.into_iter().chain((0..self.devs.len()).filter(|&d| Some(d) != first));
        for dev in order {
            let Some((epoch, socket)) = self.devs[dev].socket.as_mut() else { continue };
            let epoch = *epoch;
            send(socket, encode_client_frame(&ClientFrame::Ping { v: 1, nonce })).await?;
            let mut closed = false;
            for _ in 0..FRAMES_PER_BARRIER_MAX {
                match recv(socket).await? {
                    Some(ServerFrame::Pong { nonce: n, .. }) if n == nonce => break,
                    Some(ServerFrame::Msg { msg, .. }) => received.push((dev, epoch, msg)),
                    Some(_) => {}
                    None => {
                        closed = true;
                        break;
                    }
                }
            }
            if closed {
                self.devs[dev].socket = None;
            }
        }
        let at = self.now + self.latency;
        for (dev, epoch, msg) in received {
            self.note_created(dev, &msg);
            self.push(at, CLASS_MACHINE, Ev::ToClient { dev, epoch, msg });
        }
        self.refresh().await
    }

    /// Binds a label when the answer to its initiate carries the call the server created.
    fn note_created(&mut self, dev: usize, msg: &ServerMsg) {
        let ServerMsg::Answer { id, result: Ok(Some(call)) } = msg else { return };
        let Some(step) = self.uncreated.remove(&(dev, *id)) else { return };
        if let (_, What::Request { label: Some(label), .. }) = self.steps[step] {
            self.label_session[label] = Some(call.session);
            self.session_label.insert(call.session, label);
        }
    }

    /// Reads the server's calls (their statuses) and its next timer.
    async fn refresh(&mut self) -> Result<(), WireError> {
        let state = self.admin.state().await?;
        for call in &state.calls {
            self.final_status.insert(call.session, call.status);
        }
        self.next_timer = state.next_timer_ms;
        Ok(())
    }

    fn outcome(&self) -> Produced {
        let mut calls = BTreeMap::new();
        for (label, session) in self.label_names.iter().zip(&self.label_session) {
            if let Some(status) = session.and_then(|s| self.final_status.get(&s)) {
                calls.insert(label.clone(), *status);
            }
        }
        let label_of = |session: SessionId| match self.session_label.get(&session) {
            Some(&l) => self.label_names[l].clone(),
            None => session.to_string(),
        };
        let mut callbacks = BTreeMap::new();
        for (dev, list) in self.callbacks.iter().enumerate() {
            let device = self.devs[dev].client.device();
            let name = scenario::device_name(&self.devs[dev].uid, device.index);
            callbacks.insert(name, list.iter().map(|&(kind, s)| callback_line(kind, &label_of(s))).collect());
        }
        // Pushes go to the server's push sender, which this replayer does not read: `runnable`
        // refuses the scenarios that expect pushes.
        Produced { calls, callbacks, answers: self.answers.clone(), pushes: BTreeMap::new() }
    }
}

async fn send(socket: &mut Socket, text: String) -> Result<(), WireError> {
    tokio::time::timeout(SOCKET_WAIT, socket.send(Message::text(text)))
        .await
        .map_err(|_| WireError::Socket(String::from("send timed out")))?
        .map_err(|e| WireError::Socket(e.to_string()))
}

/// The next frame from the server; `None` when the connection closed.
async fn recv(socket: &mut Socket) -> Result<Option<ServerFrame>, WireError> {
    for _ in 0..FRAMES_PER_BARRIER_MAX {
        let next = tokio::time::timeout(SOCKET_WAIT, socket.next())
            .await
            .map_err(|_| WireError::Socket(String::from("no frame in time")))?;
        match next {
            Some(Ok(Message::Text(text))) => {
                return decode_server_frame(text.as_str())
                    .map(Some)
                    .map_err(|e| WireError::Socket(e.to_string()))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
            Some(Ok(_)) => continue,
        }
    }
    Ok(None)
}
