//! The `harness_run` target, a whole run on `callcore::testing::harness::Harness` (callcore only, no
//! simulator; `sim_run` does the same through callsim's population runs): a few users with one or two devices, a
//! group, a fixed latency, and any sequence of application commands, connects, disconnects and
//! runs of virtual time. After every event the harness runs it checks invariants 1, 2, 5, 6, 7,
//! 8 and 9; once the input is over (faults stop) every device reconnects and the run goes quiet, and
//! then:
//!
//! - invariant 4 (convergence): every connected device sees each call as the switchboard does;
//! - liveness: once the parties still in a call hang up, every call is terminal, and once
//!   quiet every record is evicted.

use crate::{check_change, check_switchboard, members, ok, remember, ConfigSel, ReqSel, USERS};
use arbitrary::Arbitrary;
use callcore::testing::harness::Harness;
use callcore::testing::invariants::{
    check_caught_up, check_convergence, CallbackLedger, MediaLedger, PushLedger, StatusLedger,
};
use callcore::{DeviceId, Part, Request, SessionId, Status, UserId, PENDING_REQUESTS_MAX};
use std::collections::BTreeMap;

/// Events one input may run at most, in all (a livelock fails).
pub const STEPS_MAX: usize = 200_000;

/// The whole input of one run.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// Settings.
    pub config: ConfigSel,
    /// One-way latency (ms).
    pub latency_ms: u8,
    /// Users with two devices (bit mask; the others have one).
    pub two_devices: u8,
    /// Users connected at the start (bit mask).
    pub connected: u8,
    /// The group's members (bit mask).
    pub group: u8,
    /// What happens, in order.
    pub ops: Vec<Op>,
}

/// One input.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// An application command on a device now.
    Command {
        /// The user (modulo the users).
        user: u8,
        /// The device (modulo its devices).
        device: u8,
        /// What.
        req: ReqSel,
    },
    /// A device's connection comes up (again: a connect while connected loses what is in flight).
    Connect {
        /// The user.
        user: u8,
        /// The device.
        device: u8,
    },
    /// A device's connection drops.
    Disconnect {
        /// The user.
        user: u8,
        /// The device.
        device: u8,
    },
    /// Virtual time runs this long.
    Run(u16),
    /// One event runs.
    Step,
}

struct Driver {
    h: Harness,
    devices: Vec<DeviceId>,
    ledger: StatusLedger,
    callbacks: CallbackLedger,
    pushes: PushLedger,
    media: MediaLedger,
    pushes_seen: usize,
    changes_seen: usize,
    callbacks_seen: BTreeMap<DeviceId, usize>,
    known: Vec<SessionId>,
    steps: usize,
}

/// Runs one input; panics on the first violation.
pub fn run(input: &Input) {
    let mut h = Harness::new(input.config.config(), u64::from(input.latency_ms));
    let mut devices = Vec::new();
    for u in 0..USERS {
        let count = if input.two_devices & (1 << u) != 0 { 2 } else { 1 };
        let user =
            if input.connected & (1 << u) != 0 { h.add_connected_user(count) } else { h.add_user(count) };
        devices.extend((0..count).map(|i| DeviceId::new(user, i)));
    }
    h.add_group(&members(input.group));
    let mut d = Driver {
        h,
        devices,
        ledger: StatusLedger::new(),
        callbacks: CallbackLedger::new(),
        pushes: PushLedger::new(),
        media: MediaLedger::new(),
        pushes_seen: 0,
        changes_seen: 0,
        callbacks_seen: BTreeMap::new(),
        known: Vec::new(),
        steps: 0,
    };
    d.check();
    for op in &input.ops {
        d.op(*op);
    }
    d.wind_down();
}

impl Driver {
    fn device(&self, user: u8, device: u8) -> DeviceId {
        let user = UserId(u32::from(user) % USERS);
        let count = self.devices.iter().filter(|d| d.user == user).count() as u16;
        DeviceId::new(user, u16::from(device) % count)
    }

    fn op(&mut self, op: Op) {
        match op {
            Op::Command { user, device, req } => {
                let dev = self.device(user, device);
                self.command(dev, req.request(&self.known));
            }
            Op::Connect { user, device } => self.h.connect(self.device(user, device)),
            Op::Disconnect { user, device } => self.h.disconnect(self.device(user, device)),
            Op::Run(ms) => {
                let until = self.h.now_ms + u64::from(ms);
                while self.h.next_at_ms().is_some_and(|at| at <= until) {
                    self.step();
                }
                self.h.run_until(until, 1);
            }
            Op::Step => {
                if self.h.next_at_ms().is_some() {
                    self.step();
                }
            }
        }
        self.check();
    }

    fn command(&mut self, dev: DeviceId, request: Request) {
        let client = &self.h.clients[&dev];
        if client.is_connected() && client.pending_requests() >= PENDING_REQUESTS_MAX {
            return; // the client refuses it (CommandError): the harness treats that as a bug
        }
        self.h.command(dev, request);
    }

    fn step(&mut self) {
        self.steps += 1;
        assert!(self.steps <= STEPS_MAX, "more than {STEPS_MAX} events: livelock?");
        self.h.step();
        self.check();
    }

    fn check(&mut self) {
        let sb = &self.h.switchboard;
        for change in &self.h.changes[self.changes_seen..] {
            check_change(&mut self.ledger, sb, change);
            remember(&mut self.known, change.session);
        }
        self.changes_seen = self.h.changes.len();
        for (dev, raised) in &self.h.callbacks {
            let seen = self.callbacks_seen.entry(*dev).or_default();
            for cb in &raised[*seen..] {
                let outgoing = cb.call.initiator == dev.user;
                ok(self.callbacks.observe(*dev, cb.call.session, outgoing, cb.kind));
            }
            *seen = raised.len();
        }
        check_switchboard(&self.ledger, sb);
        for push in &self.h.pushes[self.pushes_seen..] {
            ok(self.pushes.observe_push(sb, push));
        }
        self.pushes_seen = self.h.pushes.len();
        self.pushes.observe_connected(sb);
        ok(self.pushes.check_all(sb));
        let now = self.h.now_ms;
        for session in sb.calls().map(|c| c.session()).collect::<Vec<_>>() {
            self.media.observe(sb, session, now);
        }
        ok(self.media.check(sb, now));
    }

    fn run_until_quiet(&mut self) {
        while self.h.next_at_ms().is_some() {
            self.step();
        }
    }

    /// Faults stop: every device reconnects and the run goes quiet (convergence); then the
    /// parties still in a call hang up (liveness) and every record is evicted.
    fn wind_down(&mut self) {
        for dev in self.devices.clone() {
            if !self.h.clients[&dev].is_connected() {
                self.h.connect(dev);
            }
        }
        self.run_until_quiet();
        ok(check_convergence(&self.h.switchboard, self.h.clients.values()));
        let said = |device, session| self.callbacks.said(device, session);
        ok(check_caught_up(&self.h.switchboard, self.h.clients.values(), said));
        for _ in 0..4 {
            let mut ends = Vec::new();
            for call in self.h.switchboard.calls() {
                if call.status() == Status::Accepted {
                    let joined = call.parties().iter().filter(|p| p.part == Part::Joined);
                    ends.extend(joined.map(|p| (p.user, call.view().session)));
                }
            }
            if ends.is_empty() {
                break;
            }
            for (user, session) in ends {
                self.command(DeviceId::new(user, 0), Request::End { session });
            }
            self.run_until_quiet();
        }
        let live: Vec<_> = self.ledger.live_sessions().collect();
        assert!(live.is_empty(), "calls still live once quiet and hung up: {live:?}");
        assert_eq!(self.h.switchboard.record_count(), 0, "records kept after every retention ran out");
    }
}
