//! A small deterministic harness: one switchboard, any number of clients, and the network of
//! [`crate::testing::net`] (FIFO per connection, connections that lose what is in flight when
//! they drop) with a fixed one-way latency. It delivers messages and fires timers in
//! (time, sequence) order, with a bounded number of steps so that a livelock fails instead of
//! hanging.
//!
//! It is pure like the machines it drives: no clock, no threads, no randomness.

use crate::call::Callback;
use crate::client::{self, Client};
use crate::config::Config;
use crate::error::ErrorCode;
use crate::ids::{ConnectionId, DeviceId, GroupId, RequestId, UserId};
use crate::message::{ClientMsg, Request, ServerMsg};
use crate::switchboard::{self, StatusChange, Switchboard};
use crate::testing::net::Link;
use crate::CallView;
use std::collections::BTreeMap;

/// Something scheduled to happen.
#[derive(Clone, Debug)]
enum Pending {
    ToSwitchboard { from: DeviceId, conn: ConnectionId, msg: ClientMsg },
    ToDevice { to: DeviceId, conn: ConnectionId, msg: ServerMsg },
    SwitchboardLearnsConnect { device: DeviceId, conn: ConnectionId },
    SwitchboardLearnsDisconnect { device: DeviceId, conn: ConnectionId },
    SwitchboardTimer(switchboard::Timer),
    ClientTimer(DeviceId, client::Timer),
}

/// A request's answer, as the application saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerRecord {
    /// The device that asked.
    pub device: DeviceId,
    /// The request.
    pub request: Request,
    /// The answer.
    pub result: Result<Option<CallView>, ErrorCode>,
    /// When the application got it.
    pub at_ms: u64,
}

/// The harness. Fields are public so tests can inspect everything.
#[derive(Clone, Debug)]
pub struct Harness {
    /// Virtual time now.
    pub now_ms: u64,
    /// One-way delay of every message.
    pub latency_ms: u64,
    /// The switchboard.
    pub switchboard: Switchboard,
    /// One client per device.
    pub clients: BTreeMap<DeviceId, Client>,
    /// Callbacks raised, per device, in order.
    pub callbacks: BTreeMap<DeviceId, Vec<Callback>>,
    /// Answers per (device, request id).
    pub answers: BTreeMap<(DeviceId, RequestId), AnswerRecord>,
    /// Every status change the switchboard reported.
    pub changes: Vec<StatusChange>,
    /// Every push the switchboard emitted, in order (a push is not delivered: a `connect` plays
    /// the woken app).
    pub pushes: Vec<crate::push::Push>,
    /// Inputs handed to the switchboard and the clients so far.
    pub inputs: u64,
    /// Every input and output, one line each, when [`Harness::record_trace`] was called.
    pub trace: Option<Vec<String>>,
    links: BTreeMap<DeviceId, Link>,
    /// One-way latencies of the devices whose connection has its own.
    latencies: BTreeMap<DeviceId, u64>,
    queue: BTreeMap<(u64, u64), Pending>,
    seq: u64,
}

impl Harness {
    /// An empty harness.
    pub fn new(config: Config, latency_ms: u64) -> Self {
        Self {
            now_ms: 0,
            latency_ms,
            switchboard: Switchboard::new(config),
            clients: BTreeMap::new(),
            callbacks: BTreeMap::new(),
            answers: BTreeMap::new(),
            changes: Vec::new(),
            pushes: Vec::new(),
            inputs: 0,
            trace: None,
            links: BTreeMap::new(),
            latencies: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Gives one device's connection its own latency (messages already in flight keep theirs;
    /// FIFO order on the connection is kept: a message never overtakes an earlier one).
    pub fn set_latency(&mut self, device: DeviceId, latency_ms: u64) {
        assert!(self.links.contains_key(&device), "known device");
        self.latencies.insert(device, latency_ms);
    }

    /// `device`'s link and the latency of a message sent on it now.
    fn link(&mut self, device: DeviceId) -> (&mut Link, u64) {
        let latency_ms = self.latencies.get(&device).copied().unwrap_or(self.latency_ms);
        (self.links.get_mut(&device).expect("known device"), latency_ms)
    }

    /// Starts recording every input and output in [`Harness::trace`].
    pub fn record_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(format!("{:>6} {}", self.now_ms, line()));
        }
    }

    /// Adds a user with `devices` devices (disconnected) and returns its id.
    pub fn add_user(&mut self, devices: u16) -> UserId {
        let user = self.switchboard.add_user();
        let config = *self.switchboard.config();
        for index in 0..devices {
            let device = DeviceId::new(user, index);
            self.clients.insert(device, Client::new(device, config));
            self.links.insert(device, Link::default());
            self.callbacks.insert(device, Vec::new());
        }
        user
    }

    /// Adds a user and connects all its devices now.
    pub fn add_connected_user(&mut self, devices: u16) -> UserId {
        let user = self.add_user(devices);
        for index in 0..devices {
            self.connect(DeviceId::new(user, index));
        }
        user
    }

    /// Registers a group.
    pub fn add_group(&mut self, members: &[UserId]) -> GroupId {
        self.switchboard.add_group(members).expect("members are registered")
    }

    fn schedule(&mut self, at_ms: u64, event: Pending) {
        self.seq += 1;
        self.queue.insert((at_ms, self.seq), event);
    }

    /// The device's connection comes up now; the switchboard learns of it one latency later.
    pub fn connect(&mut self, device: DeviceId) {
        let now_ms = self.now_ms;
        let (link, latency_ms) = self.link(device);
        let change = link.connect(now_ms, latency_ms);
        let conn = change.conn;
        self.note(|| format!("{} connects", dev_name(device)));
        self.schedule(change.learned_at_ms, Pending::SwitchboardLearnsConnect { device, conn });
        self.inputs += 1;
        let client = self.clients.get_mut(&device).expect("known device");
        let result = client.handle_input(self.now_ms, client::Input::Connected(conn));
        self.note_drop(result);
        self.drain_client(device);
    }

    /// The device's connection drops now: what is in flight either way is lost; the switchboard
    /// learns of it one latency later.
    pub fn disconnect(&mut self, device: DeviceId) {
        let now_ms = self.now_ms;
        let (link, latency_ms) = self.link(device);
        let change = link.disconnect(now_ms, latency_ms);
        let conn = change.conn;
        self.note(|| format!("{} disconnects", dev_name(device)));
        self.schedule(change.learned_at_ms, Pending::SwitchboardLearnsDisconnect { device, conn });
        self.inputs += 1;
        let client = self.clients.get_mut(&device).expect("known device");
        let result = client.handle_input(self.now_ms, client::Input::Disconnected(conn));
        self.note_drop(result);
        self.drain_client(device);
    }

    /// An application command on `device` now.
    pub fn command(&mut self, device: DeviceId, request: Request) -> RequestId {
        self.inputs += 1;
        self.note(|| format!("{} app: {request:?}", dev_name(device)));
        let client = self.clients.get_mut(&device).expect("known device");
        let id = client
            .handle_input(self.now_ms, client::Input::Command(request))
            .expect("pending requests within the limit")
            .expect("a command has an id");
        self.drain_client(device);
        id
    }

    /// The answer a request about a call got, if it got one. Panics for a push registration,
    /// whose success carries no call: use [`Harness::answer_code`].
    pub fn answer(&self, device: DeviceId, id: RequestId) -> Option<Result<CallView, ErrorCode>> {
        self.answers
            .get(&(device, id))
            .map(|a| a.result.map(|view| view.expect("a request about a call succeeds with the call")))
    }

    /// Whether a request succeeded, or its error code, if it got its answer.
    pub fn answer_code(&self, device: DeviceId, id: RequestId) -> Option<Result<(), ErrorCode>> {
        self.answers.get(&(device, id)).map(|a| a.result.map(|_| ()))
    }

    /// The callbacks `device` raised, as `"name"` or `"name reason"`.
    pub fn callback_names(&self, device: DeviceId) -> Vec<String> {
        self.callbacks[&device]
            .iter()
            .map(|c| match c.kind.reason_name() {
                Some(reason) => format!("{} {reason}", c.kind.name()),
                None => c.kind.name().to_owned(),
            })
            .collect()
    }

    /// The time of the next scheduled event.
    pub fn next_at_ms(&self) -> Option<u64> {
        self.queue.keys().next().map(|&(at, _)| at)
    }

    /// Runs the next event. Returns false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some(((at_ms, _), event)) = self.queue.pop_first() else { return false };
        debug_assert!(at_ms >= self.now_ms, "time never goes back");
        self.now_ms = at_ms;
        self.run(event);
        true
    }

    /// Runs every event due up to `at_ms`, then sets the time to `at_ms`. Panics after
    /// `max_steps` events (a livelock).
    pub fn run_until(&mut self, at_ms: u64, max_steps: usize) {
        for _ in 0..max_steps {
            match self.next_at_ms() {
                Some(next) if next <= at_ms => {
                    self.step();
                }
                _ => {
                    self.now_ms = self.now_ms.max(at_ms);
                    return;
                }
            }
        }
        panic!("more than {max_steps} steps before {at_ms} ms");
    }

    /// Runs until nothing is scheduled. Panics after `max_steps` events.
    pub fn run_until_quiet(&mut self, max_steps: usize) {
        for _ in 0..max_steps {
            if !self.step() {
                return;
            }
        }
        panic!("not quiet after {max_steps} steps");
    }

    fn run(&mut self, event: Pending) {
        let now = self.now_ms;
        match event {
            Pending::ToSwitchboard { from, conn, msg } => {
                if self.links[&from].arrives(conn) {
                    self.inputs += 1;
                    self.note(|| format!("sb <- {} {msg:?}", dev_name(from)));
                    let result =
                        self.switchboard.handle_input(now, switchboard::Input::Message { from, msg });
                    self.note_drop(result);
                } else {
                    self.note(|| format!("lost {} -> sb {msg:?}", dev_name(from)));
                }
            }
            Pending::ToDevice { to, conn, msg } => {
                if self.links[&to].arrives(conn) {
                    self.inputs += 1;
                    self.note(|| format!("{} <- {msg:?}", dev_name(to)));
                    let client = self.clients.get_mut(&to).expect("known");
                    let result = client.handle_input(now, client::Input::Message(msg));
                    self.note_drop(result);
                    self.drain_client(to);
                } else {
                    self.note(|| format!("lost sb -> {} {msg:?}", dev_name(to)));
                }
            }
            Pending::SwitchboardLearnsConnect { device, conn } => {
                self.links.get_mut(&device).expect("known").learned_connect(conn);
                self.inputs += 1;
                self.note(|| format!("sb <- {} connected", dev_name(device)));
                let result =
                    self.switchboard.handle_input(now, switchboard::Input::Connected { device, conn });
                self.note_drop(result);
            }
            Pending::SwitchboardLearnsDisconnect { device, conn } => {
                self.inputs += 1;
                self.note(|| format!("sb <- {} disconnected", dev_name(device)));
                let result =
                    self.switchboard.handle_input(now, switchboard::Input::Disconnected { device, conn });
                self.note_drop(result);
            }
            Pending::SwitchboardTimer(timer) => {
                self.inputs += 1;
                self.note(|| format!("sb timer {timer:?}"));
                let result = self.switchboard.handle_input(now, switchboard::Input::Timer(timer));
                self.note_drop(result);
            }
            Pending::ClientTimer(device, timer) => {
                self.inputs += 1;
                self.note(|| format!("{} timer {timer:?}", dev_name(device)));
                let client = self.clients.get_mut(&device).expect("known");
                let result = client.handle_input(now, client::Input::Timer(timer));
                self.note_drop(result);
                self.drain_client(device);
            }
        }
        self.drain_switchboard();
    }

    fn note_drop<T, E: std::fmt::Debug>(&mut self, result: Result<T, E>) {
        if let Err(error) = result {
            self.note(|| format!("dropped {error:?}"));
        }
    }

    fn drain_switchboard(&mut self) {
        while let Some(output) = self.switchboard.poll_output() {
            self.note(|| format!("sb -> {output:?}"));
            match output {
                switchboard::Output::Send { to, msg } => {
                    let now_ms = self.now_ms;
                    let (link, latency_ms) = self.link(to);
                    let sent = link.send_down(now_ms, latency_ms);
                    self.schedule(sent.at_ms, Pending::ToDevice { to, conn: sent.conn, msg });
                }
                switchboard::Output::SetTimer { timer, at_ms } => {
                    self.schedule(at_ms, Pending::SwitchboardTimer(timer));
                }
                switchboard::Output::CancelTimer { .. } => {}
                switchboard::Output::Status(change) => self.changes.push(change),
                switchboard::Output::Push(push) => self.pushes.push(push),
            }
        }
    }

    fn drain_client(&mut self, device: DeviceId) {
        while let Some(output) = self.clients.get_mut(&device).expect("known").poll_output() {
            self.note(|| format!("{} -> {output:?}", dev_name(device)));
            match output {
                client::Output::Send(msg) => {
                    let now_ms = self.now_ms;
                    let (link, latency_ms) = self.link(device);
                    let sent = link.send_up(now_ms, latency_ms);
                    self.schedule(sent.at_ms, Pending::ToSwitchboard { from: device, conn: sent.conn, msg });
                }
                client::Output::Callback(callback) => {
                    self.callbacks.get_mut(&device).expect("known").push(callback);
                }
                client::Output::Answer { id, request, result } => {
                    let record = AnswerRecord { device, request, result, at_ms: self.now_ms };
                    self.answers.insert((device, id), record);
                }
                client::Output::SetTimer { timer, at_ms } => {
                    self.schedule(at_ms, Pending::ClientTimer(device, timer));
                }
                client::Output::CancelTimer { .. } => {}
            }
        }
    }
}

fn dev_name(device: DeviceId) -> String {
    format!("u{}/{}", device.user.0, device.index)
}
