//! Support for the benches (`benches/`), the allocation counter (`src/bin/allocs.rs`) and the
//! tests (`tests/`): [`Net`], the smallest loop that moves messages between one switchboard and
//! its clients with every message delivered at once, reusing its buffers so that the loop itself
//! allocates nothing once warm.
//!
//! Each user has one device (device 0). Users below [`Net::first_client`] have no client: their
//! devices are driven straight through the switchboard (the population benches hold calls open
//! between them), and whatever the switchboard sends them is dropped.

#![forbid(unsafe_code)]

use callcore::client::Input as ClientInput;
use callcore::client::{self, Client};
use callcore::switchboard::Input as SbInput;
use callcore::switchboard::{self, Switchboard, Timer};
use callcore::ConnectionId;
use callcore::{
    CallType, CallbackKind, ClientMsg, Config, DeviceId, GroupId, Receiver, Request, RequestId, ServerMsg,
    SessionId, Status, UserId,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Rounds of delivery one [`Net::pump`] may take before it panics (a livelock).
pub const PUMP_ROUNDS_MAX: usize = 64;

/// Reads a counter (the allocation counter of `src/bin/allocs.rs`) around every machine call,
/// so that allocations are charged to the switchboard or to the clients.
pub type Meter = fn() -> u64;

/// One switchboard, the clients of users `first_client..`, and the buffers between them.
pub struct Net {
    /// The switchboard.
    pub sb: Switchboard,
    /// The clients, `clients[i]` for user `first_client + i`.
    pub clients: Vec<Client>,
    /// The first user that has a client.
    pub first_client: u32,
    /// Virtual time now.
    pub now_ms: u64,
    /// Callbacks raised so far, all clients together.
    pub callbacks: u64,
    /// Inputs handed to the machines so far (commands, messages, connects, timer firings).
    pub inputs: u64,
    /// Per client: the session of the last `incoming_call_received` it raised.
    pub last_incoming: Vec<Option<SessionId>>,
    /// Optional allocation meter, and what it charged to each side.
    pub meter: Option<Meter>,
    /// Counted by the meter during switchboard calls.
    pub sb_count: u64,
    /// Counted by the meter during client calls.
    pub client_count: u64,
    to_sb: Vec<(DeviceId, ClientMsg)>,
    to_devices: Vec<(DeviceId, ServerMsg)>,
    dirty: Vec<u32>,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
}

impl Net {
    /// A switchboard with `users` users (each with one device, disconnected), of which the last
    /// `with_clients` have a client.
    pub fn new(config: Config, users: u32, with_clients: u32) -> Self {
        assert!(with_clients <= users);
        let mut sb = Switchboard::new(config);
        for _ in 0..users {
            sb.add_user();
        }
        let first_client = users - with_clients;
        let clients =
            (first_client..users).map(|u| Client::new(DeviceId::new(UserId(u), 0), config)).collect();
        Self {
            sb,
            clients,
            first_client,
            now_ms: 0,
            callbacks: 0,
            inputs: 0,
            last_incoming: vec![None; with_clients as usize],
            meter: None,
            sb_count: 0,
            client_count: 0,
            to_sb: Vec::new(),
            to_devices: Vec::new(),
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
        }
    }

    fn read_meter(&self) -> u64 {
        self.meter.map_or(0, |m| m())
    }

    fn charge_sb(&mut self, before: u64) {
        self.sb_count += self.read_meter() - before;
    }

    fn charge_client(&mut self, before: u64) {
        self.client_count += self.read_meter() - before;
    }

    fn client_index(&self, user: UserId) -> Option<usize> {
        user.0.checked_sub(self.first_client).map(|i| i as usize).filter(|&i| i < self.clients.len())
    }

    /// The device of `user` (device 0).
    pub fn device(user: u32) -> DeviceId {
        DeviceId::new(UserId(user), 0)
    }

    /// Connects every client's device and delivers the snapshots.
    pub fn connect_clients(&mut self) {
        for i in 0..self.clients.len() {
            let m = self.read_meter();
            self.inputs += 2;
            let _ = self.clients[i].handle_input(self.now_ms, ClientInput::Connected(ConnectionId(0)));
            self.charge_client(m);
            let device = self.clients[i].device();
            let m = self.read_meter();
            self.sb
                .handle_input(self.now_ms, SbInput::Connected { device, conn: ConnectionId(0) })
                .expect("a registered device");
            self.charge_sb(m);
            self.dirty.push(device.user.0);
        }
        self.pump();
    }

    /// A command on `user`'s client now; its outputs go out with the next [`Net::pump`].
    pub fn command(&mut self, user: u32, request: Request) {
        let i = self.client_index(UserId(user)).expect("a user with a client");
        self.inputs += 1;
        let m = self.read_meter();
        self.clients[i]
            .handle_input(self.now_ms, ClientInput::Command(request))
            .expect("within the pending limit");
        self.charge_client(m);
        self.dirty.push(user);
    }

    /// Delivers everything until both sides are quiet.
    pub fn pump(&mut self) {
        for _ in 0..PUMP_ROUNDS_MAX {
            self.drain_clients();
            let mut to_sb = std::mem::take(&mut self.to_sb);
            for (from, msg) in to_sb.drain(..) {
                self.inputs += 1;
                let m = self.read_meter();
                let _ = self.sb.handle_input(self.now_ms, SbInput::Message { from, msg });
                self.charge_sb(m);
            }
            self.to_sb = to_sb;
            self.drain_switchboard();
            if self.to_devices.is_empty() {
                return;
            }
            let mut to_devices = std::mem::take(&mut self.to_devices);
            for (to, msg) in to_devices.drain(..) {
                let Some(i) = self.client_index(to.user) else { continue };
                self.inputs += 1;
                let m = self.read_meter();
                let _ = self.clients[i].handle_input(self.now_ms, ClientInput::Message(msg));
                self.charge_client(m);
                self.dirty.push(to.user.0);
            }
            self.to_devices = to_devices;
        }
        panic!("not quiet after {PUMP_ROUNDS_MAX} rounds");
    }

    fn drain_clients(&mut self) {
        while let Some(user) = self.dirty.pop() {
            let i = self.client_index(UserId(user)).expect("only clients are dirty");
            loop {
                let m = self.read_meter();
                let output = self.clients[i].poll_output();
                self.charge_client(m);
                match output {
                    Some(client::Output::Send(msg)) => self.to_sb.push((Self::device(user), msg)),
                    Some(client::Output::Callback(cb)) => {
                        self.callbacks += 1;
                        if cb.kind == CallbackKind::IncomingCallReceived {
                            self.last_incoming[i] = Some(cb.call.session);
                        }
                    }
                    Some(_) => {} // answers, request timers (answers always arrive here)
                    None => break,
                }
            }
        }
    }

    fn drain_switchboard(&mut self) {
        loop {
            let m = self.read_meter();
            let output = self.sb.poll_output();
            self.charge_sb(m);
            match output {
                Some(switchboard::Output::Send { to, msg }) => self.to_devices.push((to, msg)),
                Some(switchboard::Output::SetTimer { timer, at_ms }) => {
                    self.timers.push(Reverse((at_ms, timer)))
                }
                Some(_) => {} // cancels (a cancelled timer fires as a no-op), status changes
                None => break,
            }
        }
    }

    /// Moves time to `now_ms` and fires every switchboard timer due by then.
    pub fn advance(&mut self, now_ms: u64) {
        debug_assert!(now_ms >= self.now_ms);
        self.now_ms = now_ms;
        while let Some(&Reverse((at_ms, timer))) = self.timers.peek() {
            if at_ms > now_ms {
                break;
            }
            self.timers.pop();
            self.inputs += 1;
            let m = self.read_meter();
            self.sb.handle_input(now_ms, SbInput::Timer(timer)).expect("time moves forward");
            self.charge_sb(m);
            self.drain_switchboard();
        }
        self.pump();
    }

    /// Timers set and not yet fired (cancelled ones included).
    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// The session `user`'s client last heard ringing.
    pub fn incoming(&self, user: u32) -> SessionId {
        let i = self.client_index(UserId(user)).expect("a user with a client");
        self.last_incoming[i].expect("the user was rung")
    }

    /// One full one-to-one lifecycle between two users with clients: `a` calls `b` (b's device
    /// rings and acknowledges, a hears it ring), `b` accepts 2 s later, both start their media
    /// session 1 s after the accept (contract version 2), `a` hangs up 58 s after the accept,
    /// every notification delivered. Time moves on 61 s; due timers (evictions) fire first.
    pub fn one_to_one_call(&mut self, a: u32, b: u32) -> SessionId {
        self.advance(self.now_ms + 1_000);
        let to = Receiver::User(UserId(b));
        self.command(a, Request::Initiate { to, call_type: CallType::Audio, ring_timeout_ms: None });
        self.pump();
        let session = self.incoming(b);
        self.advance(self.now_ms + 2_000);
        self.command(b, Request::Accept { session });
        self.pump();
        self.advance(self.now_ms + 1_000);
        self.command(b, Request::StartSession { session });
        self.command(a, Request::StartSession { session });
        self.pump();
        self.advance(self.now_ms + 57_000);
        self.command(a, Request::End { session });
        self.pump();
        session
    }

    /// One group call: `initiator` calls `group` (whose other members are `members`, all with
    /// clients): every member's device rings and acknowledges, every member accepts, every
    /// participant starts its media session, then every member hangs up in turn; the last
    /// hang-up ends the call and the initiator gets `call_ended`.
    pub fn group_call(&mut self, initiator: u32, group: GroupId, members: &[u32]) -> SessionId {
        self.advance(self.now_ms + 1_000);
        let to = Receiver::Group(group);
        self.command(initiator, Request::Initiate { to, call_type: CallType::Video, ring_timeout_ms: None });
        self.pump();
        let session = self.incoming(members[0]);
        self.advance(self.now_ms + 2_000);
        for &m in members {
            self.command(m, Request::Accept { session });
        }
        self.pump();
        self.advance(self.now_ms + 1_000);
        self.command(initiator, Request::StartSession { session });
        for &m in members {
            self.command(m, Request::StartSession { session });
        }
        self.pump();
        self.advance(self.now_ms + 57_000);
        for &m in members {
            self.command(m, Request::End { session });
        }
        self.pump();
        session
    }

    /// Holds `calls` one-to-one calls open (accepted) between users `2i` and `2i + 1`, driving
    /// the switchboard directly (those users have no client). Needs `2 * calls` users before
    /// `first_client`.
    pub fn hold_calls(&mut self, calls: u32) {
        assert!(2 * calls <= self.first_client, "not enough users without a client");
        for i in 0..calls {
            let (a, b) = (Self::device(2 * i), Self::device(2 * i + 1));
            self.sb
                .handle_input(self.now_ms, SbInput::Connected { device: a, conn: ConnectionId(0) })
                .expect("registered");
            self.sb
                .handle_input(self.now_ms, SbInput::Connected { device: b, conn: ConnectionId(0) })
                .expect("registered");
            let to = Receiver::User(b.user);
            let initiate = Request::Initiate { to, call_type: CallType::Audio, ring_timeout_ms: None };
            self.sb
                .handle_input(
                    self.now_ms,
                    SbInput::Message {
                        from: a,
                        msg: ClientMsg::Request {
                            id: RequestId(1),
                            request: initiate,
                            answered_below: RequestId(0),
                        },
                    },
                )
                .expect("connected");
            let session = self.sb.user_calls(a.user)[0];
            let accept = Request::Accept { session };
            self.sb
                .handle_input(
                    self.now_ms,
                    SbInput::Message {
                        from: b,
                        msg: ClientMsg::Request {
                            id: RequestId(1),
                            request: accept,
                            answered_below: RequestId(0),
                        },
                    },
                )
                .expect("connected");
            while self.sb.poll_output().is_some() {}
            debug_assert_eq!(self.sb.call(session).map(|c| c.status()), Some(Status::Accepted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifecycle_through_net_raises_the_four_callbacks_and_ends_the_call() {
        let mut net = Net::new(Config::default(), 2, 2);
        net.connect_clients();
        for round in 1..=3 {
            let session = net.one_to_one_call(0, 1);
            assert_eq!(net.sb.call(session).unwrap().status(), Status::Ended);
            // alex: outgoing_call_ringing, outgoing_call_accepted; bob: incoming_call_received, call_ended
            assert_eq!(net.callbacks, 4 * round);
        }
        // Connecting: per client its connect, the switchboard's, and the snapshot. Per call: 5
        // commands (initiate, accept, two session starts, end); 6 requests and 1 ack at the
        // switchboard; 10 messages to the devices (5 answers, 4 notices that raise a callback,
        // the silent `ringing` update of the callee); the ring timer (cancelled by the accept)
        // and the session timer (cancelled by the second start), each firing as a no-op; and
        // from the second call on, the eviction of the call before: 24 inputs per call once
        // warm (17 before the media session).
        assert_eq!(net.inputs, 2 * 3 + 23 + 2 * 24);
    }

    #[test]
    fn a_group_call_through_net_rings_joins_and_ends_for_everyone() {
        let mut net = Net::new(Config::default(), 8, 8);
        let members: Vec<u32> = (1..8).collect();
        let all: Vec<UserId> = (0..8).map(UserId).collect();
        let group = net.sb.add_group(&all).unwrap();
        net.connect_clients();
        let session = net.group_call(0, group, &members);
        assert_eq!(net.sb.call(session).unwrap().status(), Status::Ended);
        // initiator: ringing, accepted, call_ended; each member: incoming_call_received only
        // (a member who leaves gets the answer, not a callback)
        assert_eq!(net.callbacks, 3 + 7);
    }

    #[test]
    fn held_calls_stay_accepted_while_a_pair_with_clients_calls() {
        let mut net = Net::new(Config::default(), 10 + 2, 2);
        net.hold_calls(5);
        net.connect_clients();
        let session = net.one_to_one_call(10, 11);
        assert_eq!(net.sb.call(session).unwrap().status(), Status::Ended);
        assert_eq!(net.sb.stats().in_progress(), 5);
    }

    #[test]
    fn evictions_fire_so_records_stay_bounded() {
        let config = Config { call_retention_ms: 60_000, ..Config::default() };
        let mut net = Net::new(config, 2, 2);
        net.connect_clients();
        for _ in 0..100 {
            net.one_to_one_call(0, 1);
        }
        // each call takes 61 s of virtual time and is kept 60 s after it ends: at most two kept
        assert!(net.sb.record_count() <= 2, "{} records", net.sb.record_count());
    }
}
