//! Property tests: random interleavings of application commands, message deliveries, reorderings
//! across connections (per-device latencies), disconnects, reconnects and timer firings, for four
//! users (two with two devices) and a group, with media sessions started or not (a 5 s start
//! timeout) and devices registering for push and unregistering. After every single step the
//! contract's invariants 1, 2, 5, 6, 7, 8 and 9 hold; once quiet, with every device connected, 4
//! holds.

use callcore::lifecycle::Event;
use callcore::switchboard::StatusChange;
use callcore::testing::harness::Harness;
use callcore::testing::invariants::{self, CallbackLedger, MediaLedger, PushLedger, StatusLedger, Violation};
use callcore::{
    table, CallType, Config, DeviceId, GroupId, Receiver, RejectStatus, Request, SessionId, Status, UserId,
};
use proptest::prelude::*;

/// Devices per user: u0 and u2 have two devices.
const DEVICES: [u16; 4] = [2, 1, 2, 1];
const STEP_BOUND: usize = 20_000;

#[derive(Clone, Debug)]
enum Target {
    User(u32),
    Group,
    Unknown,
}

#[derive(Clone, Debug)]
enum Op {
    Initiate { device: usize, to: Target, ring_timeout_ms: Option<u64> },
    Accept { device: usize, call: usize },
    Reject { device: usize, call: usize, status: RejectStatus },
    End { device: usize, call: usize },
    StartSession { device: usize, call: usize },
    Push { device: usize, register: bool },
    Disconnect { device: usize },
    Connect { device: usize },
    Latency { device: usize, latency_ms: u64 },
    Advance { ms: u64 },
}

fn devices() -> Vec<DeviceId> {
    let mut all = Vec::new();
    for (u, &n) in DEVICES.iter().enumerate() {
        for i in 0..n {
            all.push(DeviceId::new(UserId(u as u32), i));
        }
    }
    all
}

fn op() -> impl Strategy<Value = Op> {
    let device = 0..6usize;
    let call = 0..6usize;
    let status = prop_oneof![
        Just(RejectStatus::Rejected),
        Just(RejectStatus::Busy),
        Just(RejectStatus::Cancelled),
        Just(RejectStatus::Unanswered)
    ];
    let target = prop_oneof![(0..4u32).prop_map(Target::User), Just(Target::Group), Just(Target::Unknown)];
    prop_oneof![
        3 => (device.clone(), target, prop::option::of(500..8_000u64))
            .prop_map(|(device, to, ring_timeout_ms)| Op::Initiate { device, to, ring_timeout_ms }),
        3 => (device.clone(), call.clone()).prop_map(|(device, call)| Op::Accept { device, call }),
        2 => (device.clone(), call.clone(), status)
            .prop_map(|(device, call, status)| Op::Reject { device, call, status }),
        2 => (device.clone(), call.clone()).prop_map(|(device, call)| Op::End { device, call }),
        2 => (device.clone(), call).prop_map(|(device, call)| Op::StartSession { device, call }),
        1 => (device.clone(), any::<bool>()).prop_map(|(device, register)| Op::Push { device, register }),
        1 => device.clone().prop_map(|device| Op::Disconnect { device }),
        1 => device.clone().prop_map(|device| Op::Connect { device }),
        1 => (device, 1..200u64).prop_map(|(device, latency_ms)| Op::Latency { device, latency_ms }),
        4 => prop_oneof![0..100u64, 0..3_000u64, 0..20_000u64].prop_map(|ms| Op::Advance { ms }),
    ]
}

/// The harness plus the ledgers that watch it.
struct World {
    h: Harness,
    devices: Vec<DeviceId>,
    group: GroupId,
    status: StatusLedger,
    callbacks: CallbackLedger,
    pushes: PushLedger,
    media: MediaLedger,
    seen_changes: usize,
    seen_pushes: usize,
    seen_callbacks: Vec<usize>,
}

impl World {
    fn new(call_waiting: bool) -> Self {
        let config = Config {
            call_waiting,
            ring_timeout_ms: 6_000,
            reconnect_grace_ms: 3_000,
            request_timeout_ms: 4_000,
            call_retention_ms: 15_000,
            session_start_timeout_ms: Some(5_000),
        };
        let mut h = Harness::new(config, 20);
        for &n in &DEVICES {
            h.add_connected_user(n);
        }
        let group = h.add_group(&[UserId(0), UserId(1), UserId(2)]);
        let devices = devices();
        let seen_callbacks = vec![0; devices.len()];
        Self {
            h,
            devices,
            group,
            status: StatusLedger::new(),
            callbacks: CallbackLedger::new(),
            pushes: PushLedger::new(),
            media: MediaLedger::new(),
            seen_changes: 0,
            seen_pushes: 0,
            seen_callbacks,
        }
    }

    fn session(&self, call: usize) -> SessionId {
        self.h
            .changes
            .iter()
            .filter(|c| c.from.is_none())
            .nth(call)
            .map_or(SessionId(u64::MAX), |c| c.session)
    }

    fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        match *op {
            Op::Initiate { device, ref to, ring_timeout_ms } => {
                let to = match to {
                    Target::User(u) => Receiver::User(UserId(*u)),
                    Target::Group => Receiver::Group(self.group),
                    Target::Unknown => Receiver::User(UserId(77)),
                };
                let request = Request::Initiate { to, call_type: CallType::Video, ring_timeout_ms };
                self.h.command(self.devices[device], request);
            }
            Op::Accept { device, call } => {
                let session = self.session(call);
                self.h.command(self.devices[device], Request::Accept { session });
            }
            Op::Reject { device, call, status } => {
                let session = self.session(call);
                self.h.command(self.devices[device], Request::Reject { session, status });
            }
            Op::End { device, call } => {
                let session = self.session(call);
                self.h.command(self.devices[device], Request::End { session });
            }
            Op::StartSession { device, call } => {
                let session = self.session(call);
                self.h.command(self.devices[device], Request::StartSession { session });
            }
            Op::Push { device, register } => {
                let request = if register { Request::RegisterPush } else { Request::UnregisterPush };
                self.h.command(self.devices[device], request);
            }
            Op::Disconnect { device } => {
                if self.h.clients[&self.devices[device]].is_connected() {
                    self.h.disconnect(self.devices[device]);
                }
            }
            Op::Connect { device } => {
                if !self.h.clients[&self.devices[device]].is_connected() {
                    self.h.connect(self.devices[device]);
                }
            }
            Op::Latency { device, latency_ms } => self.h.set_latency(self.devices[device], latency_ms),
            Op::Advance { ms } => {
                let until = self.h.now_ms + ms;
                for _ in 0..STEP_BOUND {
                    match self.h.next_at_ms() {
                        Some(next) if next <= until => {
                            self.h.step();
                            self.check_step()?;
                        }
                        _ => break,
                    }
                }
                self.h.run_until(until, 1);
            }
        }
        self.check_step()
    }

    /// Invariants 1, 2, 5, 6, 7, 8 and 9 after one step.
    fn check_step(&mut self) -> Result<(), Violation> {
        let sb = &self.h.switchboard;
        for change in &self.h.changes[self.seen_changes..] {
            self.status.observe(change)?;
            let call = sb.call(change.session).expect("a changed call is retained");
            invariants::check_authority(change, &call)?;
            if matches!(call.view().receiver, Receiver::User(_)) {
                assert_row_of_the_table(change, sb.config().call_waiting);
            }
        }
        self.seen_changes = self.h.changes.len();
        self.status.check_conservation(sb)?;
        for u in 0..DEVICES.len() {
            invariants::check_involvement(sb, UserId(u as u32))?;
        }
        for (i, device) in self.devices.iter().enumerate() {
            let raised = &self.h.callbacks[device];
            for cb in &raised[self.seen_callbacks[i]..] {
                let outgoing = cb.call.initiator == device.user;
                self.callbacks.observe(*device, cb.call.session, outgoing, cb.kind)?;
            }
            self.seen_callbacks[i] = raised.len();
        }
        for push in &self.h.pushes[self.seen_pushes..] {
            self.pushes.observe_push(sb, push)?;
        }
        self.seen_pushes = self.h.pushes.len();
        self.pushes.observe_connected(sb);
        self.pushes.check_all(sb)?;
        let sessions: Vec<SessionId> = sb.calls().map(|c| c.session()).collect();
        for session in sessions {
            self.media.observe(sb, session, self.h.now_ms);
        }
        self.media.check(sb, self.h.now_ms)
    }

    /// Reconnects everything, runs to quiescence (checking every step), then invariant 4: the
    /// views, and what the applications heard.
    fn settle(&mut self) -> Result<(), Violation> {
        for d in self.devices.clone() {
            self.h.set_latency(d, 20);
            if !self.h.clients[&d].is_connected() {
                self.h.connect(d);
            }
        }
        for _ in 0..STEP_BOUND {
            if !self.h.step() {
                invariants::check_convergence(&self.h.switchboard, self.h.clients.values())?;
                let said = |device, session| self.callbacks.said(device, session);
                return invariants::check_caught_up(&self.h.switchboard, self.h.clients.values(), said);
            }
            self.check_step()?;
        }
        panic!("no quiescence within {STEP_BOUND} steps");
    }
}

/// A one-to-one call's status change is a row of the contract's table (`table::ONE_TO_ONE`):
/// the same status before (none for a creation), the same event, the same status after. With
/// call waiting, one more: accepting a call ends the user's other ringing calls `busy`.
fn assert_row_of_the_table(change: &StatusChange, call_waiting: bool) {
    let in_table = table::ONE_TO_ONE.iter().any(|row| {
        let from_fits = match change.from {
            None => row.from.is_empty(),
            Some(from) => row.from.contains(&from),
        };
        from_fits && row.event == change.event && row.to == change.to
    });
    let waiting_busy = call_waiting
        && matches!(change.from, Some(Status::Initiated | Status::Ringing))
        && change.event == Some(Event::ReceiverBusy)
        && change.to == Status::Busy;
    assert!(in_table || waiting_busy, "a status change the table does not have: {change:?}");
}

fn run(call_waiting: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    #[cfg(feature = "plant")]
    plant_from_env();
    let mut world = World::new(call_waiting);
    world.h.run_until(100, STEP_BOUND);
    for (i, op) in ops.iter().enumerate() {
        world.apply(op).map_err(|v| TestCaseError::fail(format!("after op {i} {op:?}: {v}")))?;
    }
    world.settle().map_err(|v| TestCaseError::fail(format!("once quiet: {v}")))?;
    Ok(())
}

/// With callcore's test-only `plant` feature, `CALLCORE_PLANT=<name>` switches on a planted bug:
/// how many of them this property finds is measured in docs/verification.md.
#[cfg(feature = "plant")]
fn plant_from_env() {
    let name = std::env::var("CALLCORE_PLANT").unwrap_or_default();
    if let Some(plant) = callcore::plant::Plant::from_name(&name) {
        callcore::plant::set(&[plant]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_at_every_step(ops in prop::collection::vec(op(), 1..60)) {
        run(false, &ops)?;
    }

    #[test]
    fn invariants_hold_with_call_waiting(ops in prop::collection::vec(op(), 1..60)) {
        run(true, &ops)?;
    }
}

/// The checkers themselves can fail: a callback sequence with two terminal callbacks is
/// reported as a violation of invariant 5 (guards against a property that cannot fail).
#[test]
fn the_callback_checker_rejects_an_illegal_sequence() {
    use callcore::{CallbackKind, CancelReason};
    let mut ledger = CallbackLedger::new();
    let d = DeviceId::new(UserId(1), 0);
    let s = SessionId(3);
    ledger.observe(d, s, false, CallbackKind::IncomingCallReceived).unwrap();
    ledger.observe(d, s, false, CallbackKind::IncomingCallCancelled(CancelReason::Cancelled)).unwrap();
    let second = ledger.observe(d, s, false, CallbackKind::IncomingCallCancelled(CancelReason::Unanswered));
    assert_eq!(second.unwrap_err().invariant, 5);
    let wrong_role = ledger.observe(d, SessionId(4), false, CallbackKind::OutgoingCallRinging);
    assert_eq!(wrong_role.unwrap_err().invariant, 5);
}
