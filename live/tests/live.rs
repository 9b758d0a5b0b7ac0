//! The server and the SDK over real sockets on 127.0.0.1: each test starts its own server on
//! port 0 with a manual switchboard clock and a secret it generates. Every wait is bounded by
//! `WAIT`, every loop by a count.

use callcore::{CallType, CallbackKind, Config, EndReason, ErrorCode, Receiver, Status};
use callcore_live::auth::{Claims, Secret};
use callcore_live::clock::ManualClock;
use callcore_live::limits::Limits;
use callcore_live::protocol::{close, Found, Name};
use callcore_live::sdk::{Callbacks, Options, Phone, SdkError};
use callcore_live::server::{Server, ServerConfig};
use callcore_live::{Architecture, StateDump};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);
const ADMIN: &str = "test-admin-token";

fn secret() -> Secret {
    // A fresh secret per test, from the clock and the process id: never a constant.
    let seed =
        format!("{:?}{}{:?}", std::time::SystemTime::now(), std::process::id(), std::thread::current().id());
    let mut bytes = seed.into_bytes();
    bytes.resize(48, b'#');
    Secret::new(bytes).expect("48 bytes")
}

struct Live {
    server: Server,
    clock: Arc<ManualClock>,
    secret: Secret,
}

impl Live {
    async fn start(core: Config, limits: Limits) -> Live {
        Self::start_with(core, limits, Architecture::Actor).await
    }

    async fn start_with(core: Config, limits: Limits, architecture: Architecture) -> Live {
        Self::start_full(core, limits, architecture, Arc::new(callcore_live::push::LogSender)).await
    }

    async fn start_full(
        core: Config,
        limits: Limits,
        architecture: Architecture,
        push_sender: Arc<dyn callcore_live::push::PushSender>,
    ) -> Live {
        let clock = ManualClock::new();
        let secret = secret();
        let config = ServerConfig {
            addr: "127.0.0.1:0".parse().expect("an address"),
            limits,
            core,
            secret: secret.clone(),
            admin_token: Some(ADMIN.to_owned()),
            groups: Vec::new(),
            architecture,
            push_sender,
        };
        let server = Server::start(config, clock.clone()).await.expect("the server starts");
        Live { server, clock, secret }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.server.local_addr())
    }

    fn token(&self, uid: &str, dev: u16) -> String {
        self.secret.token(uid, dev, 600).expect("a token")
    }

    async fn phone(&self, uid: &str, options: Options) -> (Phone, Callbacks) {
        Phone::connect(&self.url(), &self.token(uid, 0), options).await.expect("connects")
    }

    /// The admin view of the switchboard, over plain HTTP.
    async fn state(&self) -> StateDump {
        let body = http_get(self.server.local_addr(), "/admin/state", Some(ADMIN)).await;
        serde_json::from_str(&body).expect("a state dump")
    }

    /// Waits (bounded) until the switchboard holds `connected` devices.
    async fn until_connected(&self, connected: usize) {
        for _ in 0..500 {
            if self.state().await.connected.len() == connected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the switchboard never held {connected} devices");
    }
}

/// A GET over HTTP/1.1 with `Connection: close`; the body.
async fn http_get(addr: std::net::SocketAddr, path: &str, bearer: Option<&str>) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response)).await.expect("in time").expect("reads");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}

fn options() -> Options {
    Options { backoff_ms_min: 20, backoff_ms_max: 200, ..Options::default() }
}

async fn next(callbacks: &mut Callbacks) -> CallbackKind {
    tokio::time::timeout(WAIT, callbacks.recv()).await.expect("a callback in time").expect("open").kind
}

async fn user(phone: &Phone, uid: &str) -> Receiver {
    match phone.lookup(Name::Uid(uid.to_owned())).await {
        Some(Found::User(id)) => Receiver::User(id),
        other => panic!("{uid} not found: {other:?}"),
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f).await.expect("in time")
}

#[tokio::test]
async fn a_full_call_rings_is_accepted_and_ends_with_the_contracts_callbacks() {
    let live = Live::start(Config::default(), Limits::default()).await;
    let (alex, mut alex_cb) = live.phone("alex", options()).await;
    let (bob, mut bob_cb) = live.phone("bob", options()).await;
    let call = bounded(alex.initiate(user(&alex, "bob").await, CallType::Video)).await.expect("initiated");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallRinging);
    let accepted = bounded(bob.accept(call.session)).await.expect("accepted");
    assert_eq!(accepted.status, Status::Accepted);
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallAccepted);
    bounded(alex.end(call.session)).await.expect("ended");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::CallEnded(EndReason::Hangup));
    let state = live.state().await;
    assert_eq!(state.calls.len(), 1);
    assert_eq!(state.calls[0].status, Status::Ended);
    // A second end is the contract's invalid_state, returned as the error code.
    let again = bounded(alex.end(call.session)).await;
    assert!(matches!(again, Err(SdkError::Code(ErrorCode::InvalidState))), "{again:?}");
}

#[tokio::test]
async fn the_mutex_baseline_serves_a_full_call_and_fires_its_timers_too() {
    let core = Config { ring_timeout_ms: 5_000, ..Config::default() };
    let live = Live::start_with(core, Limits::default(), Architecture::Mutex).await;
    let (alex, mut alex_cb) = live.phone("alex", options()).await;
    let (bob, mut bob_cb) = live.phone("bob", options()).await;
    let call = bounded(alex.initiate(user(&alex, "bob").await, CallType::Audio)).await.expect("initiated");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallRinging);
    bounded(bob.accept(call.session)).await.expect("accepted");
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallAccepted);
    bounded(bob.end(call.session)).await.expect("ended");
    assert_eq!(next(&mut alex_cb).await, CallbackKind::CallEnded(EndReason::Hangup));
    // A second call nobody answers: the ring timeout fires on the baseline's timer task.
    let unanswered =
        bounded(alex.initiate(user(&alex, "bob").await, CallType::Audio)).await.expect("initiated");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
    live.clock.advance(5_001);
    assert_eq!(
        next(&mut bob_cb).await,
        CallbackKind::IncomingCallCancelled(callcore::CancelReason::Unanswered)
    );
    let state = live.state().await;
    let status = state.calls.iter().find(|c| c.session == unanswered.session).map(|c| c.status);
    assert_eq!(status, Some(Status::Unanswered));
}

/// A clock that moves `TICK_MS` at every read, so that time passes between any two reads of
/// the server (a real clock does the same, only less predictably).
struct Ticking(std::sync::atomic::AtomicU64);

const TICK_MS: u64 = 40;

impl callcore_live::clock::Clock for Ticking {
    fn now_ms(&self) -> u64 {
        self.0.fetch_add(TICK_MS, std::sync::atomic::Ordering::Relaxed)
    }

    fn sleep_until(&self, at_ms: u64) -> callcore_live::clock::Sleep {
        let now = self.0.load(std::sync::atomic::Ordering::Relaxed);
        let wait = Duration::from_millis(at_ms.saturating_sub(now).min(1_000) / TICK_MS);
        Box::pin(tokio::time::sleep(wait))
    }
}

#[tokio::test]
async fn a_timer_due_while_messages_flow_still_fires_when_the_clock_moved_past_it() {
    // Regression: a timer due at T, found due only after a message handled at T + 40, was
    // handed to the switchboard with the time T, which it drops as going backwards: the ring
    // timeout was lost and the call rang for ever.
    let core = Config { ring_timeout_ms: 2_013, ..Config::default() };
    let secret = secret();
    let config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("an address"),
        limits: Limits { frames_per_second_max: 1_000_000, ..Limits::default() },
        core,
        secret: secret.clone(),
        admin_token: Some(ADMIN.to_owned()),
        groups: Vec::new(),
        architecture: Architecture::Actor,
        push_sender: Arc::new(callcore_live::push::LogSender),
    };
    let server =
        Server::start(config, Arc::new(Ticking(std::sync::atomic::AtomicU64::new(0)))).await.expect("starts");
    let url = format!("ws://{}/ws", server.local_addr());
    let (alex, _alex_cb) = Phone::connect(&url, &secret.token("alex", 0, 600).expect("token"), options())
        .await
        .expect("connects");
    let (_bob, mut bob_cb) = Phone::connect(&url, &secret.token("bob", 0, 600).expect("token"), options())
        .await
        .expect("connects");
    // Ten calls nobody answers, one after the other; their ring timeouts are off the clock's
    // 40 ms grid, so each deadline falls between two reads of the clock.
    let bob = user(&alex, "bob").await;
    for i in 0..10 {
        // Each call's own ring timeout is one tick longer than the last: the deadline falls
        // after each kind of read in turn (before a message, inside one, after one).
        let ring_timeout_ms = Some(2_003 + TICK_MS * i);
        let initiate = callcore::Request::Initiate { to: bob, call_type: CallType::Audio, ring_timeout_ms };
        bounded(alex.request(initiate)).await.expect("initiated");
        assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
        // Requests keep the switchboard busy (each one handed at a later time) until the ring
        // timeout: an end of a call that does not exist, answered call_not_found.
        let mut cancelled = None;
        for _ in 0..2_000 {
            let _ = alex.end(callcore::SessionId(u64::MAX)).await;
            if let Ok(Some(callback)) = tokio::time::timeout(Duration::from_millis(1), bob_cb.recv()).await {
                cancelled = Some(callback.kind);
                break;
            }
        }
        let unanswered = CallbackKind::IncomingCallCancelled(callcore::CancelReason::Unanswered);
        assert_eq!(cancelled, Some(unanswered), "the ring timeout fired");
    }
    server.shutdown();
}

#[tokio::test]
async fn a_drop_within_the_grace_is_invisible_apart_from_the_callbacks_missed() {
    let live = Live::start(Config::default(), Limits::default()).await;
    let (alex, mut alex_cb) = live.phone("alex", options()).await;
    let (bob, mut bob_cb) = live.phone("bob", options()).await;
    let call = bounded(alex.initiate(user(&alex, "bob").await, CallType::Audio)).await.expect("initiated");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
    bounded(bob.accept(call.session)).await.expect("accepted");
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallRinging);
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallAccepted);
    // Bob's connection drops; alex hangs up while bob may still be away; the switchboard's clock
    // does not move, so bob is back within the grace.
    bob.drop_connection().await;
    bounded(alex.end(call.session)).await.expect("ended");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::CallEnded(EndReason::Hangup));
    live.until_connected(2).await;
    // Nothing else: no callback for the drop itself, and alex saw no connection loss.
    let view = bob.calls().await;
    assert_eq!(view.len(), 1);
    assert_eq!(view[0].status, Status::Ended);
    assert!(tokio::time::timeout(Duration::from_millis(200), bob_cb.recv()).await.is_err());
    assert!(tokio::time::timeout(Duration::from_millis(50), alex_cb.recv()).await.is_err());
}

#[tokio::test]
async fn a_drop_past_the_grace_ends_the_call_with_connection_lost_on_both_sides() {
    let core = Config { reconnect_grace_ms: 1_000, ..Config::default() };
    let live = Live::start(core, Limits::default()).await;
    let (alex, mut alex_cb) = live.phone("alex", options()).await;
    // Bob waits long (in real time) before reconnecting, so the test can run his grace out.
    let slow_back = Options { backoff_ms_min: 1_000, backoff_ms_max: 1_000, ..options() };
    let (bob, mut bob_cb) = live.phone("bob", slow_back).await;
    let call = bounded(alex.initiate(user(&alex, "bob").await, CallType::Audio)).await.expect("initiated");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
    bounded(bob.accept(call.session)).await.expect("accepted");
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallRinging);
    assert_eq!(next(&mut alex_cb).await, CallbackKind::OutgoingCallAccepted);
    bob.drop_connection().await;
    live.until_connected(1).await;
    live.clock.advance(1_001);
    assert_eq!(next(&mut alex_cb).await, CallbackKind::CallEnded(EndReason::ConnectionLost));
    // Bob comes back past the grace: his snapshot tells him he lost the call.
    assert_eq!(next(&mut bob_cb).await, CallbackKind::CallEnded(EndReason::ConnectionLost));
    let state = live.state().await;
    assert_eq!(state.calls[0].status, Status::Ended);
}

#[tokio::test]
async fn forged_expired_and_out_of_range_tokens_are_refused_at_the_handshake() {
    let live = Live::start(Config::default(), Limits::default()).await;
    let forged = secret().token("bob", 0, 600).expect("a token"); // another secret
    let expired = live.secret.sign(&Claims { sub: "bob".into(), dev: 0, exp: 1 }).expect("a token");
    let other_device = live.secret.token("bob", callcore::DEVICES_PER_USER_MAX, 600).expect("a token");
    let empty_uid = live.secret.token("", 0, 600).expect("a token");
    for (what, token) in [
        ("forged", forged),
        ("expired", expired),
        ("device out of range", other_device),
        ("no uid", empty_uid),
    ] {
        let refused = Phone::connect(&live.url(), &token, options()).await;
        match refused {
            Err(SdkError::Connect(e)) => assert!(e.contains("401"), "{what}: {e}"),
            other => panic!("{what}: not refused: {other:?}"),
        }
    }
    // No token at all.
    let request = live.url().into_client_request().expect("a request");
    let refused = tokio_tungstenite::connect_async_with_config(request, None, true).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("401")));
    assert!(live.state().await.users.is_empty(), "a refused handshake registers nobody");
}

#[tokio::test]
async fn a_connection_acts_only_for_its_own_device() {
    let live = Live::start(Config::default(), Limits::default()).await;
    let (carol, _carol_cb) = live.phone("carol", options()).await;
    let (bob, mut bob_cb) = live.phone("bob", options()).await;
    let (alex, _alex_cb) = live.phone("alex", options()).await;
    let call = bounded(carol.initiate(user(&carol, "bob").await, CallType::Audio)).await.expect("initiated");
    assert_eq!(next(&mut bob_cb).await, CallbackKind::IncomingCallReceived);
    // Alex's connection cannot accept the call meant for bob.
    let stolen = bounded(alex.accept(call.session)).await;
    assert!(matches!(stolen, Err(SdkError::Code(ErrorCode::NotAllowed))), "{stolen:?}");
    // A frame that names a sender is not part of the protocol: refused, and nothing changes.
    let mut raw = raw(&live, "alex", 1).await;
    let spoof = format!(
        r#"{{"v":1,"type":"msg","from":{{"user":1,"index":0}},"msg":{{"request":{{"id":1,"request":{{"do":"accept","session":{}}},"answered_below":1}}}}}}"#,
        call.session.0
    );
    raw.send(Message::text(spoof)).await.expect("sent");
    assert_eq!(error_code(&mut raw).await, "invalid_message");
    assert_eq!(live.state().await.calls[0].status, Status::Ringing, "bob's phone rings; nobody accepted");
    let _ = bob;
}

type Raw = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket for `uid`'s device `dev`, past its welcome and its snapshot.
async fn raw(live: &Live, uid: &str, dev: u16) -> Raw {
    let mut request = live.url().into_client_request().expect("a request");
    let bearer = format!("Bearer {}", live.token(uid, dev)).parse().expect("a header");
    request.headers_mut().insert("authorization", bearer);
    let (mut ws, _) =
        bounded(tokio_tungstenite::connect_async_with_config(request, None, true)).await.expect("connects");
    for expected in ["\"welcome\"", "\"snapshot\""] {
        let text = text(&mut ws).await;
        assert!(text.contains(expected), "{expected} in {text}");
    }
    ws
}

async fn text(ws: &mut Raw) -> String {
    match bounded(ws.next()).await {
        Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
        other => panic!("not a text frame: {other:?}"),
    }
}

async fn error_code(ws: &mut Raw) -> String {
    let frame: serde_json::Value = serde_json::from_str(&text(ws).await).expect("JSON");
    assert_eq!(frame["type"], "error", "{frame}");
    frame["code"].as_str().expect("a code").to_owned()
}

async fn ping(ws: &mut Raw, nonce: u64) {
    ws.send(Message::text(format!(r#"{{"v":1,"type":"ping","nonce":{nonce}}}"#))).await.expect("sent");
    let frame: serde_json::Value = serde_json::from_str(&text(ws).await).expect("JSON");
    assert_eq!(frame["type"], "pong", "{frame}");
    assert_eq!(frame["nonce"], nonce);
}

async fn close_code(ws: &mut Raw) -> Option<u16> {
    for _ in 0..10_000 {
        match bounded(ws.next()).await {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
    None
}

#[tokio::test]
async fn each_bad_frame_gets_its_error_frame_or_close_code_and_others_are_still_served() {
    let limits = Limits { frame_bytes_max: 1024, frames_per_second_max: 20, ..Limits::default() };
    let live = Live::start(Config::default(), limits).await;
    let mut other = raw(&live, "other", 0).await;
    let mut ws = raw(&live, "alex", 0).await;
    let bad = [
        ("{not json", "malformed_json"),
        ("[1,2]", "malformed_json"),
        (r#"{"type":"ping","nonce":1}"#, "unsupported_version"),
        (r#"{"v":2,"type":"ping","nonce":1}"#, "unsupported_version"),
        (r#"{"v":1,"type":"dance"}"#, "unknown_type"),
        (r#"{"v":1,"type":"msg","msg":{"shout":{}}}"#, "invalid_message"),
        (r#"{"v":1,"type":"ping"}"#, "invalid_message"),
    ];
    for (frame, code) in bad {
        ws.send(Message::text(frame)).await.expect("sent");
        assert_eq!(error_code(&mut ws).await, code, "for {frame}");
    }
    ws.send(Message::binary(vec![1, 2, 3])).await.expect("sent");
    assert_eq!(error_code(&mut ws).await, "binary_frame");
    ping(&mut ws, 7).await; // still served after every bad frame
                            // A frame over frame_bytes_max closes the connection with 1009.
    ws.send(Message::text("x".repeat(4096))).await.expect("sent");
    assert_eq!(close_code(&mut ws).await, Some(close::TOO_BIG));
    // A flood: more than frames_per_second_max frames at once closes with 4002.
    let mut flood = raw(&live, "flood", 0).await;
    for nonce in 0..100 {
        if flood.send(Message::text(format!(r#"{{"v":1,"type":"ping","nonce":{nonce}}}"#))).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut flood).await, Some(close::FLOOD));
    ping(&mut other, 1).await; // the other connection was served all along
    assert_eq!(live.server.metrics().closes(close::FLOOD), 1);
}

#[tokio::test]
async fn a_slow_reader_is_closed_with_4001_and_never_buffered_without_limit() {
    let limits = Limits { outbound_queue_len: 4, frames_per_second_max: 1_000_000, ..Limits::default() };
    let live = Live::start(Config::default(), limits).await;
    let mut other = raw(&live, "other", 0).await;
    let mut slow = raw(&live, "slow", 0).await;
    // Lookups of a long name: each answer repeats the name. The slow device never reads them.
    let lookup = format!(r#"{{"v":1,"type":"lookup","name":{{"uid":"{}"}}}}"#, "n".repeat(12_000));
    // Sending stops once the server closed the connection (the send fails) or counted the close.
    for _ in 0..20_000 {
        let sent = slow.send(Message::text(lookup.clone())).await;
        if sent.is_err() || live.server.metrics().closes(close::SLOW_READER) == 1 {
            break;
        }
    }
    for _ in 0..500 {
        if live.server.metrics().closes(close::SLOW_READER) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(live.server.metrics().closes(close::SLOW_READER), 1, "the slow reader was closed");
    let depth = live.server.metrics().outbound_queue_depth_max.load(std::sync::atomic::Ordering::Relaxed);
    assert!(depth <= 4, "its queue never held more than outbound_queue_len: {depth}");
    live.until_connected(1).await; // the switchboard holds it as gone
    ping(&mut other, 2).await;
    drop(slow);
}

#[tokio::test]
async fn the_same_device_connecting_again_replaces_its_old_connection_and_the_stale_close_is_ignored() {
    let live = Live::start(Config::default(), Limits::default()).await;
    let mut first = raw(&live, "alex", 0).await;
    let mut second = raw(&live, "alex", 0).await;
    assert_eq!(close_code(&mut first).await, Some(close::REPLACED));
    ping(&mut second, 3).await;
    let state = live.state().await;
    assert_eq!(state.connected.len(), 1);
    assert_eq!(state.stats.stale_closes, 1, "the old connection's close was stale");
}

#[tokio::test]
async fn shutdown_tells_every_client_and_closes_with_1001() {
    let live = Live::start(Config::default(), Limits::default()).await;
    let mut ws = raw(&live, "alex", 0).await;
    let health = http_get(live.server.local_addr(), "/health", None).await;
    assert!(health.contains("\"ok\""), "{health}");
    let metrics = http_get(live.server.local_addr(), "/metrics", None).await;
    assert!(metrics.contains("callcore_connections 1"), "{metrics}");
    live.server.shutdown();
    let frame: serde_json::Value = serde_json::from_str(&text(&mut ws).await).expect("JSON");
    assert_eq!(frame["type"], "shutdown");
    assert_eq!(close_code(&mut ws).await, Some(close::GOING_AWAY));
    bounded(live.server.join()).await.expect("stopped cleanly");
}

/// Contract version 2: the server hands each push the switchboard emits to its push sender; the
/// webhook sender POSTs it as JSON, in order, to a URL (here a listener on 127.0.0.1 that keeps
/// the bodies). bob registers for push and goes offline; alex's call pushes `ring` to bob's
/// device at its creation, and alex's cancel pushes `cancel` with the reason bob's device would
/// have got, `cancelled`.
#[tokio::test]
async fn pushes_reach_the_webhook_in_order() {
    let (tx, mut bodies) = tokio::sync::mpsc::channel::<serde_json::Value>(16);
    let hook = axum::Router::new().route(
        "/push",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/push", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, hook).await });
    let webhook = callcore_live::push::WebhookSender::start(&url).expect("a valid URL");
    let live =
        Live::start_full(Config::default(), Limits::default(), Architecture::Actor, Arc::new(webhook)).await;

    let (bob, _bob_callbacks) = live.phone("bob", options()).await;
    bounded(bob.register_push()).await.expect("registered");
    bob.close().await;
    live.until_connected(0).await;
    let (alex, _alex_callbacks) = live.phone("alex", options()).await;
    live.until_connected(1).await;
    let to = user(&alex, "bob").await;
    let call = bounded(alex.initiate(to, CallType::Audio)).await.expect("the call is created");
    let ring = bounded(bodies.recv()).await.expect("a push");
    assert_eq!(ring["kind"], serde_json::json!({ "push": "ring" }), "{ring}");
    assert_eq!(ring["session"], serde_json::to_value(call.session).expect("serializes"), "{ring}");
    assert_eq!(ring["to"]["index"], serde_json::json!(0), "{ring}");
    bounded(alex.cancel(call.session)).await.expect("cancelled");
    let cancel = bounded(bodies.recv()).await.expect("a push");
    assert_eq!(cancel["kind"], serde_json::json!({ "push": "cancel", "reason": "cancelled" }), "{cancel}");
    assert_eq!(cancel["session"], ring["session"]);
}
