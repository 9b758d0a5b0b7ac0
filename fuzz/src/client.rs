//! The `client` target: one device's client fed any server messages (answers to any request
//! id, notices with any call object and any callback, snapshots),
//! application commands, connection changes, request timers and time jumps. It checks:
//!
//! - nothing panics (debug assertions included) and every message is taken or dropped;
//! - the callbacks the client raises form a legal sequence per call (invariant 5, with
//!   `callcore::testing::invariants::CallbackLedger`);
//! - each request gets at most one answer, and a command made without a connection is answered
//!   `not_connected` at once;
//! - the client sends nothing while it holds itself disconnected, and keeps at most
//!   `PENDING_REQUESTS_MAX` requests waiting.

use crate::{ok, remember, ConfigSel, ReqSel, SessSel, ToSel, UserSel};
use arbitrary::Arbitrary;
use callcore::client::Input as ClientInput;
use callcore::client::{Output, Timer};
use callcore::testing::invariants::CallbackLedger;
use callcore::ConnectionId;
use callcore::{
    CallType, CallView, CallbackKind, Client, DeviceId, ErrorCode, Notice, Reason, RequestId, ServerMsg,
    SessionId, Status, UserId, CLIENT_CALLS_MAX, PENDING_REQUESTS_MAX, SNAPSHOT_CALLS_MAX,
};
use std::collections::{BTreeMap, BTreeSet};

/// The device under test.
pub const DEVICE: DeviceId = DeviceId::new(UserId(1), 0);

/// The whole input of one run.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// Settings.
    pub config: ConfigSel,
    /// What happens, in order.
    pub ops: Vec<Op>,
}

/// One input.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// The connection comes up.
    Connected,
    /// The connection goes down.
    Disconnected,
    /// An application command.
    Command(ReqSel),
    /// A request timer fires (due or not).
    Timeout(IdSel),
    /// An answer from the switchboard.
    Answer(IdSel, Result<Option<ViewSel>, ErrorSel>),
    /// A notice.
    Notify(NoticeSel),
    /// A snapshot.
    Snapshot(Vec<NoticeSel>),
    /// Time moves forward.
    Forward(u32),
    /// The next inputs carry an earlier time.
    Backward(u16),
}

/// A request id: one the client issued, or any.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum IdSel {
    /// The n-th id the client issued (modulo how many).
    Issued(u8),
    /// Any id.
    Raw(u64),
}

/// An error code.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct ErrorSel(pub u8);

/// A call object as the switchboard might send it (or not).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct ViewSel {
    /// The session.
    pub session: SessSel,
    /// Who called (user 1 is the device's own user).
    pub initiator: UserSel,
    /// Who was called.
    pub receiver: ToSel,
    /// Video or audio.
    pub video: bool,
    /// Status (modulo 8) and reason (modulo 7, the last value meaning none).
    pub status: u8,
    /// The reason, if any.
    pub reason: u8,
    /// Times.
    pub times: [Option<u16>; 3],
}

/// A callback a notice may carry.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct CallbackSel(pub u8);

/// A notice: a call object and maybe a callback.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct NoticeSel {
    /// The call.
    pub view: ViewSel,
    /// The callback.
    pub callback: Option<CallbackSel>,
}

const REASONS: [Reason; 6] = [
    Reason::Rejected,
    Reason::Busy,
    Reason::Cancelled,
    Reason::Unanswered,
    Reason::Hangup,
    Reason::ConnectionLost,
];

/// What stays fixed about a call whatever the messages say: facts every switchboard keeps and
/// the client relies on. Everything else (statuses, callbacks of any kind and role, reasons,
/// times, answers to any id) is arbitrary. A session's initiator is the one the first message
/// about it named; a snapshot carries at most `SNAPSHOT_CALLS_MAX` calls; and a call is never
/// mentioned again once the client may have forgotten it: a retention after it was first
/// reported terminal, once a snapshot left it out, or (if terminal) once the client's view may
/// have been full (the switchboard keeps fewer calls per user than the client does, so it never
/// mentions a terminal call the client dropped for room). Session ids are never reused.
struct Calls {
    known: Vec<SessionId>,
    initiators: BTreeMap<SessionId, UserId>,
    /// When each call was first reported terminal.
    terminal_ms: BTreeMap<SessionId, u64>,
    /// Calls a snapshot left out.
    gone: BTreeSet<SessionId>,
    retention_ms: u64,
    /// The latest time of any input so far.
    now_ms: u64,
    /// The last id given to a call that stands in for an evicted one (ids never used before).
    fresh: u64,
}

impl Calls {
    fn new(retention_ms: u64) -> Self {
        Calls {
            known: Vec::new(),
            initiators: BTreeMap::new(),
            terminal_ms: BTreeMap::new(),
            gone: BTreeSet::new(),
            retention_ms,
            now_ms: 0,
            fresh: 1 << 62,
        }
    }

    fn evicted(&self, session: SessionId) -> bool {
        self.gone.contains(&session) || self.expired(session)
    }

    /// Reported terminal a retention ago or more.
    fn expired(&self, session: SessionId) -> bool {
        self.terminal_ms.get(&session).is_some_and(|t| t.saturating_add(self.retention_ms) <= self.now_ms)
    }

    fn view(&mut self, sel: ViewSel) -> CallView {
        let [created, ringing, accepted] = sel.times;
        let mut session = sel.session.resolve(&self.known);
        if self.evicted(session) {
            // A new call: an id no message has used yet.
            while self.initiators.contains_key(&SessionId(self.fresh)) {
                self.fresh += 1;
            }
            session = SessionId(self.fresh);
        }
        if !self.initiators.contains_key(&session) {
            // Calls the client may still hold (it keeps those a snapshot left out, as over).
            let held = self.initiators.keys().filter(|s| !self.expired(**s)).count();
            if held + 1 >= CLIENT_CALLS_MAX {
                self.gone.extend(self.terminal_ms.keys().copied());
            }
        }
        remember(&mut self.known, session);
        let status = Status::ALL[usize::from(sel.status) % Status::ALL.len()];
        if status.is_terminal() {
            self.terminal_ms.entry(session).or_insert(self.now_ms);
        }
        CallView {
            session,
            initiator: *self.initiators.entry(session).or_insert(sel.initiator.id()),
            receiver: sel.receiver.receiver(),
            call_type: if sel.video { CallType::Video } else { CallType::Audio },
            status,
            reason: REASONS.get(usize::from(sel.reason) % (REASONS.len() + 1)).copied(),
            created_at_ms: created.map_or(0, u64::from),
            ringing_at_ms: ringing.map(u64::from),
            accepted_at_ms: accepted.map(u64::from),
            terminal_at_ms: None,
        }
    }

    fn notice(&mut self, sel: NoticeSel) -> Notice {
        let call = self.view(sel.view);
        let callback = sel.callback.map(|c| CallbackKind::ALL[usize::from(c.0) % CallbackKind::ALL.len()]);
        Notice { call, callback }
    }

    fn snapshot(&mut self, sels: &[NoticeSel]) -> Vec<Notice> {
        let notices: Vec<Notice> = sels.iter().take(SNAPSHOT_CALLS_MAX).map(|s| self.notice(*s)).collect();
        for &session in self.initiators.keys() {
            if !notices.iter().any(|n| n.call.session == session) {
                self.gone.insert(session);
            }
        }
        notices
    }
}

struct Driver {
    client: Client,
    clock_ms: u64,
    calls: Calls,
    issued: Vec<RequestId>,
    /// The token of the client's latest connection (a counter, as an app's transport keeps).
    conn: u32,
    answered: BTreeSet<RequestId>,
    ledger: CallbackLedger,
    /// Prints every input and output (set `FUZZ_TRACE` to read a reproducer).
    trace: bool,
}

/// Runs one input; panics on the first violation.
pub fn run(input: &Input) {
    let mut d = Driver {
        client: Client::new(DEVICE, input.config.config()),
        clock_ms: 0,
        calls: Calls::new(input.config.config().call_retention_ms),
        issued: Vec::new(),
        conn: 0,
        answered: BTreeSet::new(),
        ledger: CallbackLedger::new(),
        trace: std::env::var_os("FUZZ_TRACE").is_some(),
    };
    for op in &input.ops {
        d.op(op);
        d.drain();
    }
}

impl Driver {
    fn id(&self, sel: IdSel) -> RequestId {
        match sel {
            IdSel::Issued(i) if !self.issued.is_empty() => self.issued[usize::from(i) % self.issued.len()],
            IdSel::Issued(i) => RequestId(u64::from(i)),
            IdSel::Raw(raw) => RequestId(raw),
        }
    }

    fn message(&mut self, msg: ServerMsg) {
        if self.trace {
            eprintln!("{:>6} <- {msg:?}", self.clock_ms);
        }
        let _ = self.client.handle_input(self.clock_ms, ClientInput::Message(msg));
    }

    fn op(&mut self, op: &Op) {
        let now = self.clock_ms;
        if !matches!(op, Op::Forward(_) | Op::Backward(_)) {
            // The client's own clock: the latest time any input handed it.
            self.calls.now_ms = self.calls.now_ms.max(now);
        }
        match op {
            Op::Connected => {
                self.conn = self.conn.wrapping_add(1);
                let conn = ConnectionId(self.conn);
                let connected = self.client.handle_input(now, ClientInput::Connected(conn));
                assert_eq!(connected, Ok(None), "a connection always comes up");
            }
            Op::Disconnected => {
                // The close of the latest connection; a second one (already closed) is stale.
                let was_connected = self.client.is_connected();
                let conn = ConnectionId(self.conn);
                let closed = self.client.handle_input(now, ClientInput::Disconnected(conn));
                assert_eq!(closed.is_ok(), was_connected, "only the open connection closes: {closed:?}");
            }
            Op::Command(req) => {
                let request = req.request(&self.calls.known);
                let connected = self.client.is_connected();
                let full = self.client.pending_requests() >= PENDING_REQUESTS_MAX;
                match self.client.handle_input(now, ClientInput::Command(request)) {
                    Ok(id) => {
                        let id = id.expect("a command has a request id");
                        assert!(!(connected && full), "command accepted beyond PENDING_REQUESTS_MAX");
                        self.issued.push(id);
                        if !connected {
                            self.expect_not_connected(id);
                        }
                    }
                    Err(_) => assert!(connected && full, "command refused below the limit"),
                }
            }
            Op::Timeout(sel) => {
                let id = self.id(*sel);
                let fired = self.client.handle_input(now, ClientInput::Timer(Timer::Request(id)));
                assert_eq!(fired, Ok(None), "a timer is never refused");
            }
            Op::Answer(sel, result) => {
                let id = self.id(*sel);
                let result = match result {
                    Ok(view) => Ok(view.map(|v| self.calls.view(v))),
                    Err(e) => Err(ErrorCode::ALL[usize::from(e.0) % ErrorCode::ALL.len()]),
                };
                self.message(ServerMsg::Answer { id, result });
            }
            Op::Notify(sel) => {
                let notice = self.calls.notice(*sel);
                self.message(ServerMsg::Notify(notice));
            }
            Op::Snapshot(sels) => {
                let notices = self.calls.snapshot(sels);
                self.message(ServerMsg::Snapshot(notices));
            }
            Op::Forward(ms) => self.clock_ms = self.clock_ms.saturating_add(u64::from(*ms)),
            Op::Backward(ms) => self.clock_ms = self.clock_ms.saturating_sub(u64::from(*ms)),
        }
    }

    /// A command made without a connection is answered `not_connected` at once (the first
    /// output of the command).
    fn expect_not_connected(&mut self, id: RequestId) {
        match self.client.poll_output() {
            Some(Output::Answer { id: aid, result: Err(ErrorCode::NotConnected), .. }) if aid == id => {
                assert!(self.answered.insert(id), "request {id:?} answered twice");
            }
            other => panic!("command without a connection: expected not_connected, got {other:?}"),
        }
    }

    fn drain(&mut self) {
        assert!(self.client.pending_requests() <= PENDING_REQUESTS_MAX, "too many requests waiting");
        while let Some(output) = self.client.poll_output() {
            if self.trace {
                eprintln!("{:>6} -> {output:?}", self.clock_ms);
            }
            match output {
                Output::Send(msg) => {
                    assert!(self.client.is_connected(), "sent {msg:?} while disconnected");
                }
                Output::Callback(cb) => {
                    let outgoing = cb.call.initiator == DEVICE.user;
                    ok(self.ledger.observe(DEVICE, cb.call.session, outgoing, cb.kind));
                }
                Output::Answer { id, .. } => {
                    assert!(self.answered.insert(id), "request {id:?} answered twice");
                    assert!(self.issued.contains(&id), "answer for {id:?}, never issued");
                }
                Output::SetTimer { .. } | Output::CancelTimer { .. } => {}
            }
        }
    }
}
