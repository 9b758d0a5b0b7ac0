//! The discrete-event engine: virtual time in ms, one switchboard, one client per device, the
//! network between them, and a [`Driver`] (a scenario, or a population of virtual users) that
//! issues application commands and reacts to what the clients raise.
//!
//! Events run in (time, class, sequence) order ([`crate::queue`]). Timing rules (the scenario
//! format's): a command runs on its device's client at its time; everything else is the
//! network's, kept by each device's [`Link`] ([`callcore::testing::net`], shared with callcore's
//! harness) with a latency drawn per item from [`Network`]: a message sent at `t` arrives one
//! latency later, never before an earlier message on the same connection and direction; a
//! disconnect at `t` loses what is in flight both ways and the switchboard learns of it one
//! latency later; a connect at `t` reaches the switchboard one latency later, and the snapshot
//! it sends back travels like any message. `events` counts the inputs handed to the switchboard
//! and the clients (messages delivered, timers fired, commands, connection changes).

use crate::checks::Checker;
use crate::net::{Latency, Link, Network};
use crate::queue::{Class, Queue};
use crate::sidecar::Sidecar;
use crate::slab::Slab;
use crate::trace::{Record, Trace};
use callcore::testing::invariants::Violation;
use callcore::{
    client, switchboard, CallView, Callback, Client, ClientError, ClientMsg, Config, ConnectionId, DeviceId,
    ErrorCode, GroupId, Receiver, Request, RequestId, ServerMsg, SessionId, Switchboard, UserId,
};
use rayon::prelude::*;
use std::collections::VecDeque;

/// What the driver sees of the run, after each input.
#[derive(Clone, Debug)]
pub enum Observation {
    /// A client raised a callback.
    Callback {
        /// The device.
        device: DeviceId,
        /// The callback.
        callback: Callback,
    },
    /// A request got its final answer (from the switchboard, or from the client itself).
    Answer {
        /// The device that asked.
        device: DeviceId,
        /// The request id.
        id: RequestId,
        /// The request.
        request: Request,
        /// The answer (success carries the call, but for a push registration).
        result: Result<Option<CallView>, ErrorCode>,
    },
    /// The switchboard created a call while handling request `id` of `device`.
    Created {
        /// The new call.
        session: SessionId,
        /// The device whose request created it.
        device: DeviceId,
        /// That request's id.
        id: RequestId,
    },
    /// A call changed status.
    Status(switchboard::StatusChange),
    /// The switchboard evicted a terminal call.
    Evicted(SessionId),
    /// The switchboard emitted a push (contract version 2).
    Push(callcore::push::Push),
}

/// What drives a run: the application side of every device.
pub trait Driver {
    /// An event of the driver's own, scheduled with [`World::schedule`].
    type Action: Copy;
    /// Runs one of the driver's events.
    fn act(&mut self, world: &mut World<Self::Action>, action: Self::Action);
    /// Sees one observation (after the input that caused it was fully handled).
    fn observe(&mut self, world: &mut World<Self::Action>, observation: &Observation);

    /// Cache hint for one of the driver's events that is due soon (see [`Stage`]): start
    /// loading what `action` will read. It must change nothing; the default does nothing.
    fn prefetch(&self, world: &World<Self::Action>, action: Self::Action, stage: Stage) {
        let _ = (world, action, stage);
    }

    /// Cache hint: `device` gets an input soon, and the driver may observe what it raises.
    /// It must change nothing; the default does nothing.
    fn prefetch_observer(&self, device: DeviceId) {
        let _ = device;
    }
}

/// The stages of the cache hints given for the events due soon. An event's data is reached
/// through a chain of records (a device slot leads to its client, a message to the call's
/// record, the record to its parties, a party to its devices), and each link can only be read
/// once the one before it has been loaded. So at each step the engine asks for the first link
/// of the event 4 × [`PREFETCH_EVENTS_APART`] places ahead, for the second link of the event
/// 3 × as many places ahead, and so on: by the time an event runs, its loads have overlapped
/// with the steps before it instead of stalling it one after the other. Hints take the world
/// and the driver by shared reference (nothing in them has interior mutability), so they
/// cannot change a run. Worlds of fewer than [`HINTS_DEVICES_MIN`] devices get none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// What the event names directly (a device's client and link, a message, a user's record).
    Named,
    /// What those records lead to (the call's record, the switchboard's user records).
    Linked,
    /// The buffers those point to (a call's parties, a client's calls).
    Buffers,
    /// Where the messages the event sends will go (the parties' devices).
    Recipients,
}

impl Stage {
    /// Every stage, farthest ahead first.
    pub const ALL: [Stage; 4] = [Stage::Named, Stage::Linked, Stage::Buffers, Stage::Recipients];

    /// How many places ahead of the event about to run this stage's hints are given.
    pub const fn distance(self) -> usize {
        PREFETCH_EVENTS_APART
            * match self {
                Stage::Named => 4,
                Stage::Linked => 3,
                Stage::Buffers => 2,
                Stage::Recipients => 1,
            }
    }
}

/// Devices from which the engine gives cache hints (see [`Stage`]). A smaller world's records
/// mostly stay in the caches, and the hints cost more instructions than they save stalls: on
/// the machine of `docs/performance.md` (32 MiB L3, huge pages), a run without hints took 8 %
/// less time at 10,000 users and 3–4 % less at 100,000 (130,189 devices), while at 150,000 users
/// (195,000 devices) the hints saved 6 %, at 300,000 15 % and at a million 28 %.
pub const HINTS_DEVICES_MIN: usize = 1 << 17;

/// Events between two stages of the cache hints (see [`Stage`]). Long enough for a load from
/// memory to land while the events in between run; short enough that the loaded lines are
/// still in the cache when their event runs.
pub const PREFETCH_EVENTS_APART: usize = 2;

/// A broken invariant, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What broke.
    pub violation: Violation,
    /// Virtual time.
    pub at_ms: u64,
}

/// Counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Inputs handed to the switchboard and the clients.
    pub events: u64,
    /// Messages sent either way.
    pub messages: u64,
    /// Messages lost in flight.
    pub lost: u64,
    /// Application commands.
    pub commands: u64,
    /// Connection changes (device side).
    pub connection_changes: u64,
}

#[derive(Clone, Copy, Debug)]
enum Event<A> {
    ToSwitchboard { device: u32, conn: ConnectionId, slot: u32 },
    ToClient { device: u32, conn: ConnectionId, slot: u32 },
    LearnConnect { device: u32, conn: ConnectionId },
    LearnDisconnect { device: u32, conn: ConnectionId },
    SwitchboardTimer(switchboard::Timer),
    ClientTimer { device: u32, timer: client::Timer },
    App(A),
}

/// A command, connect or disconnect run by a driver event, as a recorder sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executed {
    /// An application command and the id the client gave it.
    Command(Request, Option<RequestId>),
    /// The device's connection came up.
    Connect,
    /// The device's connection went down.
    Disconnect,
}

/// One device as the world keeps it: 256 bytes, starting on a 128-byte boundary, so that it
/// fills four whole cache lines and two whole pairs of lines (the unit the processor's
/// adjacent-line prefetcher loads), none of them shared with a neighbour. Unaligned, at 304
/// bytes, a device spread over five or six lines, and a million users' run took about a tenth
/// longer (`docs/performance.md`, "Eighth round").
#[repr(align(128))]
struct Device {
    client: Client,
    link: Link,
}

/// Everything but the driver.
pub struct World<A> {
    now_ms: u64,
    queue: Queue<Event<A>>,
    /// The switchboard.
    pub switchboard: Switchboard,
    /// Each device's client and connection, by slot (together: an event touches both).
    devices: Vec<Device>,
    /// Slot of each registered user's first device; the user's devices are contiguous.
    first_device: Vec<u32>,
    net: Network,
    up: Slab<ClientMsg>,
    down: Slab<ServerMsg>,
    /// Connection changes the switchboard has not learned of yet.
    unlearned: usize,
    trace: Trace,
    checker: Checker,
    observed: Vec<Observation>,
    /// The request being handled by the switchboard now.
    context: Option<(DeviceId, RequestId)>,
    /// The one output queue every client borrows for the input it is handling (see
    /// [`Client::swap_outputs`]): idle clients hold none.
    client_outputs: VecDeque<client::Output>,
    failure: Option<Failure>,
    /// The thread that keeps the ledgers (invariants 2, 5, 7) in a large run.
    sidecar: Option<Sidecar>,
    /// Whether the sidecar has reported a violation (the run stops; see [`crate::sidecar`]).
    sidecar_failed: bool,
    counters: Counters,
    /// When set, every command and connection change run by a driver event is logged here.
    pub executed: Option<Vec<(u64, DeviceId, Executed)>>,
}

impl<A: Copy> World<A> {
    /// An empty world.
    pub fn new(config: Config, latency: Latency, seed: u64, trace: Trace) -> Self {
        Self::with_queue_span(config, latency, seed, trace, crate::queue::WHEEL_MS)
    }

    /// An empty world whose event queue's wheel spans about `span_ms` (see
    /// [`Queue::with_span`]; it changes speed and memory, never the order of events).
    pub fn with_queue_span(config: Config, latency: Latency, seed: u64, trace: Trace, span_ms: u64) -> Self {
        Self {
            now_ms: 0,
            queue: Queue::with_span(span_ms),
            switchboard: Switchboard::new(config),
            devices: Vec::new(),
            first_device: vec![0],
            net: Network::new(latency, seed),
            up: Slab::default(),
            down: Slab::default(),
            unlearned: 0,
            trace,
            checker: Checker::default(),
            observed: Vec::new(),
            context: None,
            client_outputs: VecDeque::new(),
            failure: None,
            sidecar: None,
            sidecar_failed: false,
            counters: Counters::default(),
            executed: None,
        }
    }

    /// Virtual time now.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Invariant checks done so far.
    pub fn checks(&self) -> u64 {
        self.checker.checks()
    }

    /// The trace (hash, records).
    pub fn trace(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// Gives the trace back (the world is done).
    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// The first broken invariant, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// The checker (live calls, convergence).
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Every client, by device slot.
    pub fn clients(&self) -> impl ExactSizeIterator<Item = &Client> + '_ {
        self.devices.iter().map(|d| &d.client)
    }

    /// Devices (slots).
    pub fn device_slots(&self) -> usize {
        self.devices.len()
    }

    /// The client in `slot`.
    pub fn client_at(&self, slot: usize) -> &Client {
        &self.devices[slot].client
    }

    /// Events waiting in the queue.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// Messages in flight either way, and connection changes the switchboard has yet to learn
    /// of (until then a device and the switchboard may disagree: the run is not quiet).
    pub fn in_flight(&self) -> usize {
        self.up.len() + self.down.len() + self.unlearned
    }

    /// Gives the next items sent their latencies, one each in send order (see
    /// [`Network::script`]).
    pub fn script_latencies(&mut self, latencies_ms: Vec<u64>) {
        self.net.script(latencies_ms);
    }

    /// The latency model.
    pub fn latency(&self) -> Latency {
        self.net.latency()
    }

    /// Makes room for `users` more users with `devices` devices in all and `groups` more
    /// groups: a population of known size is then laid out without growing (and copying) its
    /// tables.
    pub fn reserve(&mut self, users: usize, devices: usize, groups: usize) {
        self.switchboard.reserve(users, groups);
        self.devices.reserve_exact(devices);
        self.first_device.reserve_exact(users);
    }

    /// Registers a user with `devices` devices (disconnected).
    pub fn add_user(&mut self, devices: u16) -> UserId {
        let user = self.switchboard.add_user();
        let config = *self.switchboard.config();
        for index in 0..devices {
            let client = Client::new(DeviceId::new(user, index), config);
            self.devices.push(Device { client, link: Link::default() });
        }
        let end = u32::try_from(self.devices.len()).expect("fewer than 2^32 devices");
        self.first_device.push(end);
        user
    }

    /// Registers users with `counts[i]` devices each (disconnected): the same world as
    /// [`World::add_user`] for each count in turn. A large population's switchboard records
    /// and devices are laid out at once on every core (rayon): they are most of its memory, and
    /// on a machine whose memory has not been touched yet, touching a page for the first time
    /// costs far more than filling it (see `docs/performance.md`, "Sixth round").
    pub fn add_users(&mut self, counts: &[u16]) {
        if counts.len() < PARALLEL_USERS_MIN {
            for &n in counts {
                self.add_user(n);
            }
            return;
        }
        let (first_user, first_slot) = (self.first_device.len() - 1, self.devices.len());
        self.first_device.reserve(counts.len());
        for &n in counts {
            let start = self.first_device.last().copied().unwrap_or(0);
            self.first_device.push(start.checked_add(u32::from(n)).expect("fewer than 2^32 devices"));
        }
        let end = *self.first_device.last().unwrap_or(&0);
        let config = *self.switchboard.config();
        let (switchboard, devices, first_device) =
            (&mut self.switchboard, &mut self.devices, &self.first_device);
        rayon::join(
            || {
                for i in 0..counts.len() {
                    let id = switchboard.add_user();
                    debug_assert_eq!(
                        id.0 as usize,
                        first_user + i,
                        "the switchboard numbers users as the world does"
                    );
                }
            },
            || {
                let users = &first_device[first_user..];
                devices.par_extend((first_slot as u32..end).into_par_iter().map(|slot| {
                    // The user whose devices' range holds `slot`, and the device's place in it.
                    let u = users.partition_point(|&start| start <= slot) - 1;
                    let user = UserId(u32::try_from(first_user + u).expect("fewer than 2^32 users"));
                    let index = u16::try_from(slot - users[u]).expect("a user's devices fit u16");
                    Device { client: Client::new(DeviceId::new(user, index), config), link: Link::default() }
                }));
            },
        );
        debug_assert_eq!(self.devices.len(), end as usize);
    }

    /// Registers `device` for push from the start (a registration the switchboard already
    /// holds, as a scenario's `users.*.push` says), without a request.
    pub fn register_push(&mut self, device: DeviceId) {
        let _ = self.switchboard.set_push_registration(device, true);
    }

    /// Registers a group of registered users.
    pub fn add_group(&mut self, members: &[UserId]) -> Option<GroupId> {
        self.switchboard.add_group(members).ok()
    }

    /// Registered users.
    pub fn user_count(&self) -> usize {
        self.first_device.len() - 1
    }

    /// How many devices `user` has (0 for an unregistered id).
    pub fn device_count(&self, user: UserId) -> u16 {
        let u = user.0 as usize;
        match (self.first_device.get(u), self.first_device.get(u + 1)) {
            (Some(a), Some(b)) => (b - a) as u16,
            _ => 0,
        }
    }

    /// The slot of a device, if it exists.
    pub fn slot(&self, device: DeviceId) -> Option<u32> {
        let first = *self.first_device.get(device.user.0 as usize)?;
        (device.index < self.device_count(device.user)).then_some(first + u32::from(device.index))
    }

    /// A device's client.
    pub fn client(&self, device: DeviceId) -> Option<&Client> {
        self.slot(device).map(|s| &self.devices[s as usize].client)
    }

    /// Schedules a driver event (application commands run first among same-time events).
    pub fn schedule(&mut self, at_ms: u64, action: A) {
        debug_assert!(at_ms >= self.now_ms, "scheduled in the past");
        self.queue.push(at_ms, Class::Command, Event::App(action));
    }

    fn log(&mut self, device: DeviceId, what: Executed) {
        if let Some(log) = self.executed.as_mut() {
            log.push((self.now_ms, device, what));
        }
    }

    /// The device's connection comes up now; the switchboard learns of it one latency later.
    pub fn connect(&mut self, device: DeviceId) {
        let Some(slot) = self.slot(device) else { return };
        self.log(device, Executed::Connect);
        let s = slot as usize;
        let delay = self.net.draw();
        let change = self.devices[s].link.connect(self.now_ms, delay);
        let conn = change.conn;
        self.queue.push(change.learned_at_ms, Class::Machine, Event::LearnConnect { device: slot, conn });
        self.unlearned += 1;
        self.counters.events += 1;
        self.counters.connection_changes += 1;
        self.trace.record(&Record::Connected { at_ms: self.now_ms, device });
        self.lend_outputs(s);
        let _ = self.devices[s].client.handle_input(self.now_ms, client::Input::Connected(conn));
        self.drain_client(slot);
    }

    /// The device's connection drops now: what is in flight either way is lost; the
    /// switchboard learns of it one latency later.
    pub fn disconnect(&mut self, device: DeviceId) {
        let Some(slot) = self.slot(device) else { return };
        self.log(device, Executed::Disconnect);
        let s = slot as usize;
        let delay = self.net.draw();
        let change = self.devices[s].link.disconnect(self.now_ms, delay);
        let conn = change.conn;
        self.queue.push(change.learned_at_ms, Class::Machine, Event::LearnDisconnect { device: slot, conn });
        self.unlearned += 1;
        self.counters.events += 1;
        self.counters.connection_changes += 1;
        self.trace.record(&Record::Disconnected { at_ms: self.now_ms, device });
        self.lend_outputs(s);
        let _ = self.devices[s].client.handle_input(self.now_ms, client::Input::Disconnected(conn));
        self.drain_client(slot);
    }

    /// An application command on `device` now. Returns the request id its answer will carry.
    pub fn command(&mut self, device: DeviceId, request: Request) -> Result<RequestId, ClientError> {
        let Some(slot) = self.slot(device) else { return Err(ClientError::TooManyPending) };
        self.counters.events += 1;
        self.counters.commands += 1;
        self.trace.record(&Record::Command { at_ms: self.now_ms, device, request: &request });
        self.lend_outputs(slot as usize);
        let result = self.devices[slot as usize]
            .client
            .handle_input(self.now_ms, client::Input::Command(request))
            .map(|id| id.expect("a command has a request id"));
        self.log(device, Executed::Command(request, result.ok()));
        self.drain_client(slot);
        result
    }

    /// Lends the shared output queue to the client in slot `s` for one input; [`World::drain_client`]
    /// takes it back.
    fn lend_outputs(&mut self, s: usize) {
        debug_assert!(self.client_outputs.is_empty(), "the shared output queue is drained");
        self.devices[s].client.swap_outputs(&mut self.client_outputs);
    }

    fn drain_client(&mut self, slot: u32) {
        let s = slot as usize;
        let device = self.devices[s].client.device();
        let mut compact = false;
        while let Some(output) = self.devices[s].client.poll_output() {
            self.trace.record(&Record::ClientOutput { at_ms: self.now_ms, device, output: &output });
            match output {
                client::Output::Send(msg) => {
                    self.counters.messages += 1;
                    let delay = self.net.draw();
                    let sent = self.devices[s].link.send_up(self.now_ms, delay);
                    let slot_msg = self.up.insert(msg);
                    let event = Event::ToSwitchboard { device: slot, conn: sent.conn, slot: slot_msg };
                    self.queue.push(sent.at_ms, Class::Machine, event);
                }
                client::Output::Callback(callback) => {
                    compact |= callback.kind.is_terminal();
                    match self.sidecar.as_mut() {
                        Some(sidecar) => sidecar.callback(self.now_ms, device, &callback),
                        None => {
                            if let Err(v) = self.checker.observe_callback(device, &callback) {
                                self.fail(v);
                            }
                        }
                    }
                    self.observed.push(Observation::Callback { device, callback });
                }
                client::Output::Answer { id, request, result } => {
                    self.observed.push(Observation::Answer { device, id, request, result });
                }
                client::Output::SetTimer { timer, at_ms } => {
                    self.queue.push(at_ms, Class::Machine, Event::ClientTimer { device: slot, timer });
                }
                // A cancelled request timer is skipped when due (the client no longer waits).
                client::Output::CancelTimer { .. } => compact = true,
            }
        }
        self.devices[s].client.swap_outputs(&mut self.client_outputs);
        // A million idle clients must not keep the buffers their busiest moment needed.
        if compact && self.devices[s].client.pending_requests() == 0 {
            self.devices[s].client.shrink_to_fit();
        }
    }

    fn drain_switchboard(&mut self) {
        while let Some(output) = self.switchboard.poll_output() {
            self.trace.record(&Record::SwitchboardOutput { at_ms: self.now_ms, output: &output });
            match output {
                switchboard::Output::Send { to, msg } => self.send_down(to, msg),
                switchboard::Output::SetTimer { timer, at_ms } => {
                    self.queue.push(at_ms, Class::Machine, Event::SwitchboardTimer(timer));
                }
                // A cancelled ring timer is skipped when due (the switchboard no longer has it set).
                switchboard::Output::CancelTimer { .. } => {}
                switchboard::Output::Status(change) => self.status_change(change),
                switchboard::Output::Push(push) => {
                    if let Err(v) = self.checker.observe_push(&self.switchboard, &push) {
                        self.fail(v);
                    }
                    self.observed.push(Observation::Push(push));
                }
            }
        }
    }

    fn send_down(&mut self, to: DeviceId, msg: ServerMsg) {
        let Some(slot) = self.slot(to) else { return };
        self.counters.messages += 1;
        let delay = self.net.draw();
        let sent = self.devices[slot as usize].link.send_down(self.now_ms, delay);
        let slot_msg = self.down.insert(msg);
        let event = Event::ToClient { device: slot, conn: sent.conn, slot: slot_msg };
        self.queue.push(sent.at_ms, Class::Machine, event);
    }

    fn status_change(&mut self, change: switchboard::StatusChange) {
        match self.sidecar.as_mut() {
            Some(sidecar) => {
                sidecar.status(self.now_ms, &change);
                self.checker.note_change(&change);
            }
            None => {
                if let Err(v) = self.checker.observe_status(&change) {
                    self.fail(v);
                }
            }
        }
        if change.from.is_none() {
            if let Some((device, id)) = self.context {
                self.observed.push(Observation::Created { session: change.session, device, id });
            }
        }
        self.observed.push(Observation::Status(change));
    }

    fn fail(&mut self, violation: Violation) {
        if self.failure.is_none() {
            self.failure = Some(Failure { violation, at_ms: self.now_ms });
        }
    }

    /// Records a violation found by a driver (liveness, convergence) at `at_ms`.
    pub fn report_at(&mut self, violation: Violation, at_ms: u64) {
        if self.failure.is_none() {
            self.failure = Some(Failure { violation, at_ms });
        }
    }

    /// Runs invariant 9 at `at_ms`, the end of a run (no input comes to trigger it there).
    pub fn check_media(&mut self, at_ms: u64) {
        if let Err(v) = self.checker.check_media(&self.switchboard, at_ms) {
            self.report_at(v, at_ms);
        }
    }

    /// Runs invariant 8 over every push still outstanding (at the end of a run).
    pub fn check_pushes(&mut self) {
        if let Err(v) = self.checker.check_pushes(&self.switchboard) {
            self.fail(v);
        }
    }

    /// Runs invariant 4 over every client now.
    pub fn check_convergence(&mut self) {
        if let Err(v) = self.checker.convergence(&self.switchboard, self.devices.iter().map(|d| &d.client)) {
            self.fail(v);
        }
    }

    /// Runs invariant 4 over every client now, nothing being in flight: the views, then what
    /// the applications heard (which reads the callback ledgers: no sidecar may hold them).
    pub fn check_settled(&mut self) {
        debug_assert!(self.sidecar.is_none(), "the callback ledgers are lent to the sidecar");
        self.check_convergence();
        // The first failure is the one kept.
        if let Err(v) = self.checker.caught_up(&self.switchboard, self.devices.iter().map(|d| &d.client)) {
            self.fail(v);
        }
    }

    fn run_event(&mut self, event: Event<A>) -> Option<A> {
        let now = self.now_ms;
        let mut requester = None;
        let mut touched = None;
        match event {
            Event::App(action) => return Some(action),
            Event::ToSwitchboard { device, conn, slot } => {
                let msg = self.up.take(slot)?;
                let s = device as usize;
                let id = self.devices[s].client.device();
                if !self.devices[s].link.arrives(conn) {
                    self.lost(id, true);
                    return None;
                }
                self.counters.events += 1;
                self.trace.record(&Record::ToSwitchboard { at_ms: now, from: id, msg: &msg });
                if let ClientMsg::Request { id: request_id, .. } = msg {
                    self.context = Some((id, request_id));
                    requester = Some(id.user);
                }
                touched = msg.session();
                let _ = self.switchboard.handle_input(now, switchboard::Input::Message { from: id, msg });
                self.drain_switchboard();
                self.context = None;
            }
            Event::ToClient { device, conn, slot } => {
                let msg = self.down.take(slot)?;
                let s = device as usize;
                let id = self.devices[s].client.device();
                if !self.devices[s].link.arrives(conn) {
                    self.lost(id, false);
                    return None;
                }
                self.counters.events += 1;
                self.trace.record(&Record::ToClient { at_ms: now, to: id, msg: &msg });
                self.lend_outputs(s);
                let _ = self.devices[s].client.handle_input(now, client::Input::Message(msg));
                self.drain_client(device);
            }
            Event::LearnConnect { device, conn } => {
                self.unlearned -= 1;
                let s = device as usize;
                self.devices[s].link.learned_connect(conn);
                let id = self.devices[s].client.device();
                self.counters.events += 1;
                self.trace.record(&Record::SwitchboardConnect { at_ms: now, device: id });
                let _ =
                    self.switchboard.handle_input(now, switchboard::Input::Connected { device: id, conn });
                self.drain_switchboard();
                self.checker.observe_connect(id);
            }
            Event::LearnDisconnect { device, conn } => {
                self.unlearned -= 1;
                let id = self.devices[device as usize].client.device();
                self.counters.events += 1;
                self.trace.record(&Record::SwitchboardDisconnect { at_ms: now, device: id });
                let _ =
                    self.switchboard.handle_input(now, switchboard::Input::Disconnected { device: id, conn });
                self.drain_switchboard();
            }
            Event::SwitchboardTimer(timer) => {
                match timer {
                    switchboard::Timer::Ring(session) if !self.switchboard.ring_timer_set(session) => {
                        return None; // cancelled
                    }
                    switchboard::Timer::Session(session) if !self.switchboard.session_timer_set(session) => {
                        return None; // cancelled
                    }
                    _ => {}
                }
                self.counters.events += 1;
                self.trace.record(&Record::SwitchboardTimer { at_ms: now, timer });
                let _ = self.switchboard.handle_input(now, switchboard::Input::Timer(timer));
                self.drain_switchboard();
                if let switchboard::Timer::Ring(session)
                | switchboard::Timer::Session(session)
                | switchboard::Timer::Evict(session) = timer
                {
                    touched = Some(session);
                }
                if let switchboard::Timer::Evict(session) = timer {
                    if self.switchboard.call(session).is_none() {
                        match self.sidecar.as_mut() {
                            Some(sidecar) => sidecar.forget(session),
                            None => self.checker.forget(session),
                        }
                        self.observed.push(Observation::Evicted(session));
                    }
                }
            }
            Event::ClientTimer { device, timer } => {
                let client::Timer::Request(request) = timer;
                if !self.devices[device as usize].client.is_pending(request) {
                    return None; // cancelled (answered)
                }
                let id = self.devices[device as usize].client.device();
                self.counters.events += 1;
                self.trace.record(&Record::ClientTimer { at_ms: now, device: id, timer });
                self.lend_outputs(device as usize);
                let _ = self.devices[device as usize].client.handle_input(now, client::Input::Timer(timer));
                self.drain_client(device);
            }
        }
        match self.checker.after_input(&self.switchboard, requester, touched, now) {
            Err(v) => self.fail(v),
            Ok(true) => self.check_conservation(),
            Ok(false) => {}
        }
        if self.sidecar.as_ref().is_some_and(Sidecar::failed) {
            self.sidecar_failed = true;
        }
        None
    }

    /// Invariant 7 after an input that changed a status: here, or by the sidecar.
    fn check_conservation(&mut self) {
        match self.sidecar.as_mut() {
            Some(sidecar) => sidecar.counts(self.now_ms, self.switchboard.stats()),
            None => {
                if let Err(v) = self.checker.check_conservation(&self.switchboard) {
                    self.fail(v);
                }
            }
        }
    }

    /// Hands the ledger checks (invariants 2, 5 and 7) to a second thread from now on (see
    /// [`crate::sidecar`]); [`World::finish_sidecar`] takes them back. Stays on one thread if no
    /// thread can be started.
    pub fn start_sidecar(&mut self) {
        if self.sidecar.is_none() {
            match Sidecar::start(self.checker.take_ledgers()) {
                Ok(sidecar) => self.sidecar = Some(sidecar),
                Err(ledgers) => self.checker.restore_ledgers(*ledgers),
            }
        }
    }

    /// Waits for the sidecar to check everything it was given and takes the ledgers back.
    /// Returns the first violation it found, if any: the run went on past it, so its caller
    /// runs the seed again on one thread to stop exactly there.
    pub fn finish_sidecar(&mut self) -> Option<Failure> {
        let audit = self.sidecar.take()?.finish();
        self.checker.restore_ledgers(audit.ledgers);
        self.sidecar_failed = false;
        audit.failure.map(|(violation, at_ms)| Failure { violation, at_ms })
    }

    /// Whether the run must stop: an invariant broke (or the sidecar found one broken).
    pub fn halted(&self) -> bool {
        self.failure.is_some() || self.sidecar_failed
    }

    /// Calls not yet terminal: as the ledgers count them, or while they are with the
    /// sidecar, as the switchboard does (the two agree unless invariant 7 breaks, which the
    /// sidecar reports).
    pub fn live_calls(&self) -> usize {
        if self.sidecar.is_none() {
            return self.checker.live_calls();
        }
        let stats = self.switchboard.stats();
        let live = stats.created - stats.terminal.iter().sum::<u64>();
        usize::try_from(live).unwrap_or(usize::MAX)
    }

    /// Cache hint for an event of the engine's own that is due soon (see [`Stage`]).
    fn prefetch(&self, event: &Event<A>, stage: Stage) {
        match (*event, stage) {
            (
                Event::ToSwitchboard { device, .. }
                | Event::ToClient { device, .. }
                | Event::ClientTimer { device, .. }
                | Event::LearnConnect { device, .. }
                | Event::LearnDisconnect { device, .. },
                Stage::Named,
            ) => {
                self.prefetch_slot(device);
                match *event {
                    Event::ToSwitchboard { slot, .. } => self.up.prefetch(slot),
                    Event::ToClient { slot, .. } => self.down.prefetch(slot),
                    _ => {}
                }
            }
            (Event::ToSwitchboard { device, slot, .. }, _) => {
                let (Some(d), Some(msg)) = (self.devices.get(device as usize), self.up.get(slot)) else {
                    return;
                };
                let from = d.client.device();
                match stage {
                    Stage::Named => {}
                    Stage::Linked => {
                        self.switchboard.prefetch_message(from, msg);
                        if let Some(session) = msg.session() {
                            if self.sidecar.is_none() {
                                self.checker.prefetch_status(session);
                            }
                        }
                    }
                    Stage::Buffers => {
                        self.switchboard.prefetch_message_buffers(from, msg);
                        for user in self.call_users(from.user, msg).into_iter().flatten() {
                            prefetch_index::prefetch_index(&self.first_device, user.0 as usize);
                        }
                    }
                    Stage::Recipients => {
                        for user in self.call_users(from.user, msg).into_iter().flatten() {
                            self.prefetch_links(user);
                        }
                    }
                }
            }
            (Event::ToClient { device, slot, .. }, Stage::Linked) => {
                self.prefetch_client_buffers(device);
                if let Some(ServerMsg::Notify(notice)) = self.down.get(slot) {
                    if self.sidecar.is_none() {
                        self.checker.prefetch(notice.call.session);
                    }
                }
            }
            (Event::ClientTimer { device, .. }, Stage::Linked) => self.prefetch_client_buffers(device),
            (Event::LearnConnect { device, .. } | Event::LearnDisconnect { device, .. }, Stage::Linked) => {
                if let Some(d) = self.devices.get(device as usize) {
                    self.switchboard.prefetch_user(d.client.device().user);
                }
            }
            (Event::SwitchboardTimer(timer), Stage::Linked) => {
                self.switchboard.prefetch_timer(timer);
                if let switchboard::Timer::Ring(session) = timer {
                    if self.sidecar.is_none() {
                        self.checker.prefetch_status(session);
                    }
                }
            }
            (Event::SwitchboardTimer(timer), Stage::Buffers) => {
                self.switchboard.prefetch_timer_buffers(timer)
            }
            _ => {}
        }
    }

    /// The users of the call `msg` is about whose devices its answer and notices mostly go
    /// to: the initiator and a receiving user (the sender and the called user for an initiate).
    #[inline]
    fn call_users(&self, from: UserId, msg: &ClientMsg) -> [Option<UserId>; 2] {
        let (initiator, receiver) = match msg {
            ClientMsg::Request { request: Request::Initiate { to, .. }, .. } => (from, *to),
            _ => {
                let Some(call) = msg.session().and_then(|s| self.switchboard.call(s)) else {
                    return [None; 2];
                };
                (call.view().initiator, call.view().receiver)
            }
        };
        let receiver = match receiver {
            Receiver::User(user) => Some(user),
            Receiver::Group(_) => None,
        };
        [Some(initiator), receiver]
    }

    /// Cache hint: starts loading the links of `user`'s devices (reads where they are).
    #[inline]
    fn prefetch_links(&self, user: UserId) {
        for slot in self.user_slots(user) {
            if let Some(d) = self.devices.get(slot as usize) {
                prefetch_index::prefetch_index(std::slice::from_ref(&d.link), 0);
            }
        }
    }

    /// Cache hint: starts loading the client and link in `slot`.
    #[inline]
    fn prefetch_slot(&self, slot: u32) {
        if let Some(d) = self.devices.get(slot as usize) {
            d.client.prefetch();
            prefetch_index::prefetch_index(std::slice::from_ref(&d.link), 0);
        }
    }

    #[inline]
    fn prefetch_client_buffers(&self, slot: u32) {
        if let Some(d) = self.devices.get(slot as usize) {
            d.client.prefetch_buffers();
        }
    }

    /// Cache hint for a driver event about `device` (first stage): where its slot is found.
    #[inline]
    pub fn prefetch_device_index(&self, device: DeviceId) {
        prefetch_index::prefetch_index(&self.first_device, device.user.0 as usize);
    }

    /// Cache hint for a driver event about `device` (second stage): its client and link
    /// (reads where its slot is found).
    #[inline]
    pub fn prefetch_device(&self, device: DeviceId) {
        if let Some(slot) = self.slot(device) {
            self.prefetch_slot(slot);
        }
    }

    /// Cache hint for a driver event about `device` (third stage): its client's buffers.
    #[inline]
    pub fn prefetch_device_buffers(&self, device: DeviceId) {
        if let Some(slot) = self.slot(device) {
            self.prefetch_client_buffers(slot);
        }
    }

    /// Cache hint for a driver event about some device of `user` (second stage): the clients
    /// and links of its first devices (reads where they are).
    #[inline]
    pub fn prefetch_user_devices(&self, user: UserId) {
        for slot in self.user_slots(user) {
            self.prefetch_slot(slot);
        }
    }

    /// Cache hint for a driver event about some device of `user` (third stage): the buffers
    /// of its first devices' clients.
    #[inline]
    pub fn prefetch_user_device_buffers(&self, user: UserId) {
        for slot in self.user_slots(user) {
            self.prefetch_client_buffers(slot);
        }
    }

    /// The slots of `user`'s first [`LINKS_PREFETCHED`] devices (none for an unknown user).
    #[inline]
    fn user_slots(&self, user: UserId) -> std::ops::Range<u32> {
        let u = user.0 as usize;
        match (self.first_device.get(u), self.first_device.get(u + 1)) {
            (Some(&first), Some(&end)) => first..end.min(first.saturating_add(LINKS_PREFETCHED)),
            _ => 0..0,
        }
    }

    fn lost(&mut self, device: DeviceId, upstream: bool) {
        self.counters.lost += 1;
        self.trace.record(&Record::Lost { at_ms: self.now_ms, device, upstream });
    }
}

/// Populations from this many users on are laid out on every core ([`World::add_users`]).
pub const PARALLEL_USERS_MIN: usize = 1 << 16;

/// Devices of one user whose links a cache hint starts loading (most users have one or two).
const LINKS_PREFETCHED: u32 = 3;

/// A world and its driver.
pub struct Engine<D: Driver> {
    /// Everything but the driver.
    pub world: World<D::Action>,
    /// The driver.
    pub driver: D,
    /// Whether to give cache hints: `None` (the default) gives them to worlds of at least
    /// [`HINTS_DEVICES_MIN`] devices. They change speed only, never a run.
    pub hints: Option<bool>,
    spare: Vec<Observation>,
}

impl<D: Driver> Engine<D> {
    /// Pairs a world with its driver.
    pub fn new(world: World<D::Action>, driver: D) -> Self {
        Self { world, driver, hints: None, spare: Vec::new() }
    }

    /// Hands every pending observation to the driver (its reactions may add more).
    pub fn deliver_observations(&mut self) {
        while !self.world.observed.is_empty() {
            std::mem::swap(&mut self.world.observed, &mut self.spare);
            for observation in self.spare.drain(..) {
                self.driver.observe(&mut self.world, &observation);
            }
        }
    }

    /// The time of the next event, if any.
    pub fn world_next_time(&self) -> Option<u64> {
        self.world.queue.next_at_ms()
    }

    /// Runs the next event if it is due by `end_ms`. Returns false when none is.
    pub fn step(&mut self, end_ms: u64) -> bool {
        let Some((at_ms, event)) = self.world.queue.pop_due(end_ms) else { return false };
        if self.hints.unwrap_or(self.world.devices.len() >= HINTS_DEVICES_MIN) {
            self.prefetch_ahead();
        }
        debug_assert!(at_ms >= self.world.now_ms, "time never goes back");
        self.world.now_ms = at_ms;
        if let Some(action) = self.world.run_event(event) {
            self.driver.act(&mut self.world, action);
        }
        self.deliver_observations();
        true
    }

    /// Gives the cache hints of every [`Stage`] for the events due soon.
    #[inline]
    fn prefetch_ahead(&self) {
        let upcoming = self.world.queue.upcoming();
        for stage in Stage::ALL {
            match upcoming.get(stage.distance()) {
                Some(Event::App(action)) => self.driver.prefetch(&self.world, *action, stage),
                Some(event @ Event::ToClient { device, .. }) if stage == Stage::Linked => {
                    self.world.prefetch(event, stage);
                    if let Some(d) = self.world.devices.get(*device as usize) {
                        self.driver.prefetch_observer(d.client.device());
                    }
                }
                Some(event) => self.world.prefetch(event, stage),
                None => {}
            }
        }
    }

    /// Runs every event due by `end_ms` (or until an invariant breaks), then sets the time to
    /// `end_ms`. Returns false when an invariant broke.
    pub fn run_until(&mut self, end_ms: u64) -> bool {
        while !self.world.halted() && self.step(end_ms) {}
        if !self.world.halted() {
            self.world.now_ms = self.world.now_ms.max(end_ms);
        }
        !self.world.halted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A population laid out at once, on every core, is the population registered one user
    /// at a time: the same users, the same devices in the same slots, the same ranges.
    #[test]
    fn users_added_at_once_are_the_users_added_one_by_one() {
        let counts: Vec<u16> = (0..PARALLEL_USERS_MIN + 1000).map(|u| [1, 2, 1, 3, 1][u % 5]).collect();
        let new = || World::<()>::new(Config::default(), Latency::Fixed(10), 1, Trace::default());
        let (mut at_once, mut one_by_one) = (new(), new());
        at_once.add_user(2); // a world that already has users
        one_by_one.add_user(2);
        at_once.add_users(&counts);
        for &n in &counts {
            one_by_one.add_user(n);
        }
        assert_eq!(at_once.first_device, one_by_one.first_device);
        assert_eq!(at_once.devices.len(), 2 + counts.iter().map(|&n| usize::from(n)).sum::<usize>());
        assert!(at_once
            .devices
            .iter()
            .map(|d| d.client.device())
            .eq(one_by_one.devices.iter().map(|d| d.client.device())));
        // User 0 holds slots 0 and 1; the batch's users 1, 2, 3 hold slots 2, 3..5 and 5; user
        // 4, with three devices, slots 6..9.
        assert_eq!(at_once.devices[7].client.device(), DeviceId::new(UserId(4), 1));
        let last = UserId(u32::try_from(counts.len()).unwrap());
        assert!(at_once.switchboard.is_user(last) && !at_once.switchboard.is_user(UserId(last.0 + 1)));
        assert_eq!(at_once.user_count(), one_by_one.user_count());
    }

    /// A violation the sidecar finds stops the run (a few batches later) and is handed back
    /// with the time of the step that caused it. The sidecar's ledgers are given a call that
    /// never existed, so the first conservation check, right after the first call is created,
    /// fails.
    #[test]
    fn a_violation_found_by_the_sidecar_stops_the_run() {
        use crate::population::{build, Options};
        let opts = Options {
            users: 5_000,
            duration_ms: 1_200_000,
            seed: 3,
            profile: crate::profile::Profile::default(),
        };
        // When the first call is created, on one thread.
        let mut plain = build(&opts, Trace::default());
        while plain.world.switchboard.stats().created == 0 {
            assert!(plain.step(opts.duration_ms), "the run creates a call");
        }
        let first_call_at = plain.world.now_ms();

        let mut engine = build(&opts, Trace::default());
        let mut ledgers = engine.world.checker.take_ledgers();
        let ghost = switchboard::StatusChange {
            session: SessionId(u64::MAX),
            from: None,
            to: callcore::Status::Initiated,
            event: None,
            by: None,
            at_ms: 0,
        };
        ledgers.observe_status(&ghost).expect("a first creation is fine");
        engine.world.sidecar = Some(Sidecar::start(ledgers).expect("a thread starts"));
        assert!(!engine.run_until(opts.duration_ms), "the run stops");
        let stopped_at = engine.world.now_ms();
        assert!(engine.world.failure().is_none(), "the engine's own checks found nothing");
        let failure = engine.world.finish_sidecar().expect("the sidecar reports the violation");
        assert_eq!(failure.violation.invariant, 7);
        assert_eq!(failure.at_ms, first_call_at, "the time of the step that created the first call");
        assert!(
            first_call_at <= stopped_at && stopped_at < opts.duration_ms,
            "stopped after it, before the end"
        );
        assert!(!engine.world.halted(), "the world is back on one thread");
    }

    #[test]
    fn a_queued_event_stays_small() {
        // Messages wait in slabs so that an event (and a wheel entry, 8 bytes more) stays at
        // 32 bytes even with the population's 24-byte actions.
        assert!(std::mem::size_of::<Event<crate::population::Act>>() <= 32);
    }

    #[test]
    fn a_device_fills_whole_pairs_of_cache_lines() {
        assert_eq!(std::mem::align_of::<Device>(), 128);
        assert_eq!(
            std::mem::size_of::<Device>(),
            256,
            "a client or link that grows costs a third pair of lines"
        );
    }
}
