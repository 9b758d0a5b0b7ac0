//! The `switchboard` target: one switchboard, a few users with a few devices each and two
//! groups, fed any sequence of inputs (requests from any device with any request id and any
//! session id, acknowledgements, connects, disconnects, any timer due or not, time jumps either
//! way). After every input it drains the outputs and checks:
//!
//! - invariants 1, 2, 6, 7, 8 and 9 with `callcore::testing::invariants` (status ledger and
//!   conservation, involvement of every user, authority of every status change, every push
//!   against the push rules, every participant's media session start);
//! - a dropped input (an `Err`) has no output at all;
//! - the switchboard sends only to devices it holds as connected, sets no timer in the past, and
//!   stamps each status change with the input's time;
//! - a new request gets exactly one answer; a repeated id gets the remembered answer (or
//!   `call_not_found` once the call is evicted) and changes nothing; an id older than the dedup
//!   window is dropped;
//! - only the requesting user is named as the cause of a change (`by`), and a timer, connection
//!   or acknowledgement is never attributed to a user.
//!
//! At the end every device disconnects and every timer fires when due: then every call must be
//! terminal and evicted (liveness, and the memory bound: no record outlives its retention).

use crate::{
    check_change, check_switchboard, members, remember, ConfigSel, ReqSel, SessSel, UserSel, DEVICES, USERS,
};
use arbitrary::Arbitrary;
use callcore::switchboard::Input as SbInput;
use callcore::switchboard::{Output, Timer};
use callcore::testing::invariants::{MediaLedger, PushLedger, StatusLedger};
use callcore::ConnectionId;
use callcore::{
    ClientMsg, DeviceId, ErrorCode, RequestId, ServerMsg, SessionId, Switchboard, SwitchboardError, UserId,
    DEVICES_PER_USER_MAX, PENDING_REQUESTS_MAX,
};
use std::collections::{BTreeMap, VecDeque};

/// How far below its newest request id a device says it has its answers.
const ANSWERS_LAG: u64 = 8;

/// The whole input of one run.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// Settings.
    pub config: ConfigSel,
    /// Members of groups 0 and 1 (bit masks over the users).
    pub groups: [u8; 2],
    /// What happens, in order.
    pub ops: Vec<Op>,
}

/// A device: a registered user's device, a device beyond the limit, or an unknown user's.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct DevSel {
    /// The user.
    pub user: UserSel,
    /// The device index (modulo `DEVICES + 1`; the last value is out of range).
    pub index: u8,
}

impl DevSel {
    /// The device it names.
    pub fn id(self) -> DeviceId {
        let n = u16::from(self.index) % (DEVICES + 1);
        let index = if n == DEVICES { DEVICES_PER_USER_MAX } else { n };
        DeviceId::new(self.user.id(), index)
    }
}

/// A request id.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum IdSel {
    /// The device's next id (one more than the newest it used).
    Next,
    /// The newest id minus n: a repeat (within the dedup window or older).
    Back(u8),
    /// Any id.
    Raw(u64),
}

/// A timer to fire.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum TimerSel {
    /// A call's ring timeout.
    Ring(SessSel),
    /// A user's reconnect grace.
    Grace(UserSel),
    /// A call's eviction.
    Evict(SessSel),
}

/// One input.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// A device's connection comes up (again).
    Connect(DevSel),
    /// A device's connection goes down.
    Disconnect(DevSel),
    /// A request from a device.
    Request {
        /// From.
        dev: DevSel,
        /// Its id.
        id: IdSel,
        /// What.
        req: ReqSel,
    },
    /// A ring acknowledgement from a device.
    Ack(DevSel, SessSel),
    /// The earliest timer the switchboard set fires when due (time jumps to it if needed).
    FireDue,
    /// Any timer fires now, due or not.
    Fire(TimerSel),
    /// Time moves forward.
    Forward(u32),
    /// The next inputs carry an earlier time (the switchboard must drop them).
    Backward(u16),
}

/// What the driver knows besides the switchboard.
struct Driver {
    sb: Switchboard,
    ledger: StatusLedger,
    pushes: PushLedger,
    media: MediaLedger,
    /// The time the next input carries.
    clock_ms: u64,
    /// The latest time the switchboard accepted.
    sb_now_ms: u64,
    /// Timers set and not cancelled, with their due times.
    timers: BTreeMap<Timer, u64>,
    known: Vec<SessionId>,
    /// Per device: the newest request id acted on, and the answers the dedup window holds.
    requests: BTreeMap<DeviceId, Sent>,
}

/// A device's newest request id acted on, and the answers the dedup window holds.
type Sent = (u64, VecDeque<(RequestId, Stored)>);

/// An answer as the switchboard remembers it.
type Stored = Result<Option<SessionId>, ErrorCode>;

/// What the input was, for the checks on its outputs.
#[derive(Clone, Copy)]
enum Cause {
    NewRequest(DeviceId, RequestId),
    Repeat(DeviceId, RequestId, Stored),
    Other,
}

/// Runs one input; panics on the first violation.
pub fn run(input: &Input) {
    let mut sb = Switchboard::new(input.config.config());
    for _ in 0..USERS {
        sb.add_user();
    }
    for mask in input.groups {
        sb.add_group(&members(mask)).expect("members are registered");
    }
    let mut d = Driver {
        sb,
        ledger: StatusLedger::new(),
        pushes: PushLedger::new(),
        media: MediaLedger::new(),
        clock_ms: 0,
        sb_now_ms: 0,
        timers: BTreeMap::new(),
        known: Vec::new(),
        requests: BTreeMap::new(),
    };
    for op in &input.ops {
        d.op(*op);
    }
    d.wind_down();
}

impl Driver {
    fn op(&mut self, op: Op) {
        match op {
            Op::Connect(dev) => {
                let now = self.clock_ms;
                let r =
                    self.sb.handle_input(now, SbInput::Connected { device: dev.id(), conn: ConnectionId(0) });
                self.after(now, r.is_ok(), Cause::Other);
            }
            Op::Disconnect(dev) => {
                let now = self.clock_ms;
                let r = self
                    .sb
                    .handle_input(now, SbInput::Disconnected { device: dev.id(), conn: ConnectionId(0) });
                self.after(now, r.is_ok(), Cause::Other);
            }
            Op::Request { dev, id, req } => self.request(dev.id(), id, req),
            Op::Ack(dev, s) => {
                let now = self.clock_ms;
                let msg = ClientMsg::Ack { session: s.resolve(&self.known) };
                let r = self.sb.handle_input(now, SbInput::Message { from: dev.id(), msg });
                self.after(now, r.is_ok(), Cause::Other);
            }
            Op::FireDue => {
                if let Some((&timer, &at_ms)) = self.timers.iter().min_by_key(|(t, at)| (**at, **t)) {
                    self.timers.remove(&timer);
                    self.clock_ms = self.clock_ms.max(at_ms).max(self.sb_now_ms);
                    self.fire(timer);
                }
            }
            Op::Fire(sel) => {
                let timer = match sel {
                    TimerSel::Ring(s) => Timer::Ring(s.resolve(&self.known)),
                    TimerSel::Grace(u) => Timer::Grace(u.id()),
                    TimerSel::Evict(s) => Timer::Evict(s.resolve(&self.known)),
                };
                self.fire(timer);
            }
            Op::Forward(ms) => self.clock_ms = self.clock_ms.saturating_add(u64::from(ms)),
            Op::Backward(ms) => self.clock_ms = self.clock_ms.saturating_sub(u64::from(ms)),
        }
    }

    fn fire(&mut self, timer: Timer) {
        let now = self.clock_ms;
        let r = self.sb.handle_input(now, SbInput::Timer(timer));
        self.after(now, r.is_ok(), Cause::Other);
    }

    fn request(&mut self, dev: DeviceId, sel: IdSel, req: ReqSel) {
        let now = self.clock_ms;
        let (last, window) = self.requests.get(&dev).cloned().unwrap_or_default();
        let id = RequestId(match sel {
            IdSel::Next => last.saturating_add(1),
            IdSel::Back(n) => last.saturating_sub(u64::from(n)),
            IdSel::Raw(raw) => raw,
        });
        let request = req.request(&self.known);
        // The device says it is done with every id more than `ANSWERS_LAG` below its newest, so
        // that both kept and released answers are exercised.
        let answered_below = RequestId(last.saturating_sub(ANSWERS_LAG).min(id.0));
        // What the switchboard keeps once the message reaches it (a message it drops first, from
        // a device it holds as disconnected, say, releases nothing).
        let mut window = window;
        window.retain(|(i, _)| *i >= answered_below);
        let cause = if id.0 > last {
            Cause::NewRequest(dev, id)
        } else {
            match window.iter().find(|(i, _)| *i == id) {
                Some(&(_, answer)) => Cause::Repeat(dev, id, answer),
                None => Cause::Other, // released by the device: must be dropped
            }
        };
        let r = self.sb.handle_input(
            now,
            SbInput::Message { from: dev, msg: ClientMsg::Request { id, request, answered_below } },
        );
        if let (Ok(()), Cause::Other) = (&r, cause) {
            panic!("request {id:?} from {dev:?}, released by its device, was acted on");
        }
        if matches!(r, Ok(()) | Err(SwitchboardError::StaleRequest { .. })) {
            self.requests.entry(dev).or_default().1 = window;
        }
        self.after(now, r.is_ok(), cause);
    }

    /// Drains and checks the outputs of one input.
    fn after(&mut self, now: u64, ok: bool, cause: Cause) {
        if now >= self.sb_now_ms {
            self.sb_now_ms = now;
        }
        if !ok {
            assert_eq!(self.sb.pending_outputs(), 0, "a dropped input had outputs");
            return;
        }
        let requester = match cause {
            Cause::NewRequest(dev, _) => Some(dev.user),
            _ => None,
        };
        let mut answers = Vec::new();
        let mut changes = 0;
        while let Some(output) = self.sb.poll_output() {
            match output {
                Output::Send { to, msg } => {
                    assert!(self.sb.is_connected(to), "sent {msg:?} to disconnected {to:?}");
                    if let ServerMsg::Answer { id, result } = msg {
                        answers.push((to, id, result));
                    }
                }
                Output::SetTimer { timer, at_ms } => {
                    assert!(at_ms >= now, "{timer:?} set for {at_ms}, before now {now}");
                    self.timers.insert(timer, at_ms);
                }
                Output::CancelTimer { timer } => {
                    self.timers.remove(&timer);
                }
                Output::Status(change) => {
                    changes += 1;
                    assert_eq!(change.at_ms, now, "change stamped with another time: {change:?}");
                    assert!(
                        change.by.is_none() || change.by == requester,
                        "{change:?} attributed to a user who did not ask (requester {requester:?})"
                    );
                    check_change(&mut self.ledger, &self.sb, &change);
                    remember(&mut self.known, change.session);
                }
                Output::Push(push) => {
                    if let Err(v) = self.pushes.observe_push(&self.sb, &push) {
                        panic!("{v}");
                    }
                }
            }
        }
        self.check_answers(cause, &answers, changes);
        self.check_state();
        self.pushes.observe_connected(&self.sb);
        crate::ok(self.pushes.check_all(&self.sb));
        let sessions: Vec<SessionId> = self.sb.calls().map(|c| c.session()).collect();
        for session in sessions {
            self.media.observe(&self.sb, session, now);
        }
        // Invariant 9 holds in a world whose timers fire when due. This driver fires them when
        // it chooses (and moves time on past them), so the check stops at the earliest timer
        // still pending: up to there, every timer the switchboard asked for has fired.
        let horizon = self.timers.values().copied().min().map_or(now, |due| due.min(now));
        crate::ok(self.media.check(&self.sb, horizon));
    }

    fn check_answers(
        &mut self,
        cause: Cause,
        answers: &[(DeviceId, RequestId, Result<Option<callcore::CallView>, ErrorCode>)],
        changes: usize,
    ) {
        match cause {
            Cause::NewRequest(dev, id) => {
                let [(to, aid, result)] = answers else {
                    panic!("request {id:?} from {dev:?} got {} answers", answers.len());
                };
                assert_eq!((*to, *aid), (dev, id), "the answer went elsewhere");
                let stored = result.map(|v| v.map(|v| v.session));
                if let Ok(Some(session)) = stored {
                    remember(&mut self.known, session);
                }
                let entry = self.requests.entry(dev).or_default();
                entry.0 = id.0;
                entry.1.push_back((id, stored));
                if entry.1.len() > PENDING_REQUESTS_MAX {
                    entry.1.pop_front();
                }
            }
            Cause::Repeat(dev, id, stored) => {
                assert_eq!(changes, 0, "repeated request {id:?} from {dev:?} acted again");
                let [(to, aid, result)] = answers else {
                    panic!("repeated request {id:?} from {dev:?} got {} answers", answers.len());
                };
                assert_eq!((*to, *aid), (dev, id), "the repeated answer went elsewhere");
                let expected = match stored {
                    Ok(Some(session)) if self.sb.call(session).is_none() => Err(ErrorCode::CallNotFound),
                    other => other,
                };
                assert_eq!(result.map(|v| v.map(|v| v.session)), expected, "repeat answered differently");
            }
            Cause::Other => assert!(answers.is_empty(), "an answer without a request: {answers:?}"),
        }
    }

    fn check_state(&self) {
        check_switchboard(&self.ledger, &self.sb);
    }

    /// Faults stop: every device goes away, every timer fires when due. Every call must end
    /// and be evicted.
    fn wind_down(&mut self) {
        self.clock_ms = self.clock_ms.max(self.sb_now_ms);
        for user in 0..USERS {
            for index in 0..DEVICES_PER_USER_MAX {
                let dev = DeviceId::new(UserId(user), index);
                if self.sb.is_connected(dev) {
                    let now = self.clock_ms;
                    let r = self
                        .sb
                        .handle_input(now, SbInput::Disconnected { device: dev, conn: ConnectionId(0) });
                    self.after(now, r.is_ok(), Cause::Other);
                }
            }
        }
        for _ in 0..10_000 {
            if self.timers.is_empty() {
                break;
            }
            self.op(Op::FireDue);
        }
        assert!(self.timers.is_empty(), "timers still set after 10000 firings");
        let live: Vec<_> = self.ledger.live_sessions().collect();
        assert!(live.is_empty(), "calls still live after every timer fired: {live:?}");
        assert_eq!(self.sb.stats().in_progress(), 0, "switchboard counts calls in progress");
        assert_eq!(self.sb.record_count(), 0, "records kept after every retention ran out");
    }
}
