//! The switchboard task: the one owner of the [`Switchboard`]. It reads one bounded queue of
//! events (connections up and down, decoded frames, admin commands), hands each to the core with
//! the clock's time, fires the core's timers when they are due, and queues what the core sends
//! on each connection's own bounded queue. A connection whose queue is full is a slow reader: it
//! is told to close (4001) and the core learns that it disconnected.

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::protocol::{close, Found, Name, ServerFrame, PROTOCOL_VERSION};
use callcore::switchboard::{self, Input, Output, Timer};
use callcore::{
    CallView, ClientMsg, ConnectionId, DeviceId, Directory, GroupId, ServerMsg, Switchboard, UserId,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Frames queued for one connection.
pub(crate) type Outbound = mpsc::Sender<ServerFrame>;

/// What a connection task hands the hub when its device connects.
pub(crate) struct Link {
    /// The connection's outbound queue.
    pub outbound: Outbound,
    /// Tells the connection task to close with a code (slow reader, replaced).
    pub kill: oneshot::Sender<u16>,
}

/// A group to create: its name and its members' UIDs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group's name (its GUID).
    pub name: String,
    /// The members' UIDs (users not seen yet are registered).
    pub members: Vec<String>,
}

/// The switchboard's state as the admin endpoint shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDump {
    /// The switchboard's clock.
    pub now_ms: u64,
    /// The core's counters.
    pub stats: switchboard::Stats,
    /// Users by UID.
    pub users: BTreeMap<String, UserId>,
    /// Every retained call, as the switchboard holds it.
    pub calls: Vec<CallView>,
    /// Devices the switchboard holds as connected.
    pub connected: Vec<DeviceId>,
    /// When the switchboard's next timer is due (`None`: no timer set). A replayer on a manual
    /// clock advances the clock to it.
    pub next_timer_ms: Option<u64>,
}

/// An event for the hub.
pub(crate) enum Event {
    /// A device's connection came up (its token was checked).
    Connect { uid: String, index: u16, link: Link, reply: oneshot::Sender<(DeviceId, ConnectionId)> },
    /// A connection closed.
    Disconnect { device: DeviceId, conn: ConnectionId },
    /// A decoded core message, with when its frame arrived.
    Msg { device: DeviceId, conn: ConnectionId, msg: ClientMsg, at: Instant },
    /// A lookup.
    Lookup { device: DeviceId, conn: ConnectionId, name: Name },
    /// A ping: answered once every earlier event of the connection was handled.
    Ping { device: DeviceId, conn: ConnectionId, nonce: u64 },
    /// Admin: create a group.
    AddGroup { spec: GroupSpec, reply: oneshot::Sender<Result<GroupId, String>> },
    /// Admin: the state (`open_only`: only the calls not terminal).
    State { open_only: bool, reply: oneshot::Sender<StateDump> },
    /// Admin: register users (those already known keep their ids); their ids, in order.
    AddUsers { uids: Vec<String>, reply: oneshot::Sender<Result<Vec<UserId>, String>> },
    /// Stop: tell every connection to close with `code`, then end.
    Stop { code: u16 },
}

/// How connections reach the switchboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Architecture {
    /// One task owns the switchboard and reads a bounded queue (the server's design).
    #[default]
    Actor,
    /// The obvious way, kept as a baseline for comparison: every connection task locks one
    /// mutex around the switchboard and handles its own events; a timer task locks it too.
    Mutex,
}

/// A handle on the switchboard, whichever the architecture.
#[derive(Clone)]
pub(crate) enum HubHandle {
    /// The hub task's queue.
    Queue(mpsc::Sender<Event>),
    /// The hub itself, behind a mutex.
    Mutex(Arc<std::sync::Mutex<Hub>>),
}

impl HubHandle {
    /// Hands the switchboard an event: queued for the hub task, or handled now under the lock.
    pub(crate) async fn send(&self, event: Event) -> Result<(), ()> {
        match self {
            HubHandle::Queue(queue) => queue.send(event).await.map_err(|_| ()),
            HubHandle::Mutex(hub) => {
                // The lock is never held across an await: `handle` is synchronous.
                let mut hub = hub.lock().map_err(|_| ())?;
                hub.fire_due();
                hub.handle(event);
                Ok(())
            }
        }
    }
}

/// The mutex baseline's timers: fires the due ones under the lock, then sleeps until the next
/// one (or `TIMER_TICK_MS`, since a timer set meanwhile may be earlier), until `stopping`.
pub(crate) async fn run_timers(
    hub: Arc<std::sync::Mutex<Hub>>,
    clock: Arc<dyn Clock>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let next = {
            let Ok(mut hub) = hub.lock() else { return };
            hub.fire_due();
            hub.timers.first_key_value().map(|(&(at_ms, _), _)| at_ms)
        };
        let sleep = match next {
            Some(at_ms) => clock.sleep_until(at_ms),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            () = sleep => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(TIMER_TICK_MS)) => {}
            _ = stopping.wait_for(|&s| s) => return,
        }
    }
}

/// How often the mutex baseline's timer task looks for timers set meanwhile, in milliseconds.
const TIMER_TICK_MS: u64 = 5;

/// The live connection of a device.
struct Live {
    conn: ConnectionId,
    outbound: Outbound,
    kill: Option<oneshot::Sender<u16>>,
}

/// The hub's state.
pub(crate) struct Hub {
    switchboard: Switchboard,
    directory: Directory,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    links: HashMap<DeviceId, Live>,
    next_conn: u32,
    timers: BTreeMap<(u64, u64), Timer>,
    timer_seq: u64,
    /// The request being handled: its device, id and arrival, to time its answer.
    current: Option<(DeviceId, callcore::RequestId, Instant)>,
    /// Connections found slow while draining, closed after the drain.
    slow: Vec<(DeviceId, ConnectionId)>,
    /// Where pushes go.
    push: Arc<dyn crate::push::PushSender>,
}

impl Hub {
    pub(crate) fn new(
        config: callcore::Config,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        push: Arc<dyn crate::push::PushSender>,
    ) -> Self {
        Self {
            switchboard: Switchboard::new(config),
            directory: Directory::new(),
            clock,
            metrics,
            links: HashMap::new(),
            next_conn: 0,
            timers: BTreeMap::new(),
            timer_seq: 0,
            current: None,
            slow: Vec::new(),
            push,
        }
    }

    /// Creates a group from its members' UIDs (registering the users not seen yet).
    pub(crate) fn add_group(&mut self, spec: &GroupSpec) -> Result<GroupId, String> {
        if self.directory.group(&spec.name).is_some() {
            return Err(format!("group {:?} exists", spec.name));
        }
        if spec.members.len() > callcore::GROUP_MEMBERS_MAX {
            return Err(format!("more than {} members", callcore::GROUP_MEMBERS_MAX));
        }
        if spec.members.iter().any(|m| m.is_empty() || m.len() > crate::auth::UID_BYTES_MAX) {
            return Err(String::from("a member UID is empty or too long"));
        }
        let members: Vec<UserId> = spec.members.iter().map(|uid| self.user(uid)).collect();
        let id = self.switchboard.add_group(&members).map_err(|e| e.to_string())?;
        self.directory.insert_group(&spec.name, id);
        Ok(id)
    }

    /// Registers users by UID (known ones keep their ids).
    pub(crate) fn add_users(&mut self, uids: &[String]) -> Result<Vec<UserId>, String> {
        if uids.iter().any(|m| m.is_empty() || m.len() > crate::auth::UID_BYTES_MAX) {
            return Err(String::from("a UID is empty or too long"));
        }
        Ok(uids.iter().map(|uid| self.user(uid)).collect())
    }

    /// The user with this UID, registered now if it is new.
    fn user(&mut self, uid: &str) -> UserId {
        if let Some(id) = self.directory.user(uid) {
            return id;
        }
        let id = self.switchboard.add_user();
        self.directory.insert_user(uid, id);
        id
    }

    /// Runs until [`Event::Stop`] or until every sender is gone.
    pub(crate) async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        loop {
            self.fire_due();
            let sleep = match self.timers.first_key_value() {
                Some((&(at_ms, _), _)) => self.clock.sleep_until(at_ms),
                None => Box::pin(std::future::pending()),
            };
            tokio::select! {
                biased;
                () = sleep => {}
                event = events.recv() => {
                    let Some(event) = event else { break };
                    if let Event::Stop { code } = event {
                        self.stop(code);
                        break;
                    }
                    self.fire_due();
                    self.handle(event);
                }
            }
            self.metrics.hub_queue_depth.store(events.len() as u64, Relaxed);
        }
    }

    /// Fires every timer due by now, in order. Each is handed with the time now, not the time
    /// it was due: the switchboard may have handled a message since that time (the clock moves
    /// between reads), and it drops an input older than its last one (`TimeWentBackwards`),
    /// which would lose the timer for good (a call left ringing, a call never evicted).
    fn fire_due(&mut self) {
        let now_ms = self.clock.now_ms();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let (_, timer) = entry.remove_entry();
            // A timer no longer due is a counted no-op in the core.
            if let Err(e) = self.switchboard.handle_input(now_ms, Input::Timer(timer)) {
                tracing::trace!(error = %e, ?timer, "timer not acted on");
            }
            self.drain();
        }
    }

    fn handle(&mut self, event: Event) {
        let now_ms = self.clock.now_ms();
        match event {
            Event::Connect { uid, index, link, reply } => self.connect(now_ms, &uid, index, link, reply),
            Event::Disconnect { device, conn } => {
                if self.links.get(&device).is_some_and(|l| l.conn == conn) {
                    self.links.remove(&device);
                }
                // The core judges staleness: the close of a replaced connection is ignored there.
                let _ = self.switchboard.handle_input(now_ms, Input::Disconnected { device, conn });
                self.drain();
            }
            Event::Msg { device, conn, msg, at } => {
                if !self.is_current(device, conn) {
                    return; // a message from a connection already replaced or closed
                }
                if let ClientMsg::Request { id, .. } = msg {
                    self.current = Some((device, id, at));
                }
                let _ = self.switchboard.handle_input(now_ms, Input::Message { from: device, msg });
                self.drain();
                self.current = None;
            }
            Event::Lookup { device, conn, name } => {
                let found = match &name {
                    Name::Uid(uid) => self.directory.user(uid).map(Found::User),
                    Name::Group(group) => self.directory.group(group).map(Found::Group),
                };
                if self.is_current(device, conn) {
                    self.send(device, ServerFrame::Lookup { v: PROTOCOL_VERSION, name, found });
                    self.close_slow(now_ms);
                }
            }
            Event::Ping { device, conn, nonce } => {
                if self.is_current(device, conn) {
                    self.send(device, ServerFrame::Pong { v: PROTOCOL_VERSION, nonce });
                    self.close_slow(now_ms);
                }
            }
            Event::AddGroup { spec, reply } => {
                let _ = reply.send(self.add_group(&spec));
            }
            Event::State { open_only, reply } => {
                let _ = reply.send(self.dump(now_ms, open_only));
            }
            Event::AddUsers { uids, reply } => {
                let _ = reply.send(self.add_users(&uids));
            }
            Event::Stop { code } => self.stop(code),
        }
    }

    fn is_current(&self, device: DeviceId, conn: ConnectionId) -> bool {
        self.links.get(&device).is_some_and(|l| l.conn == conn)
    }

    fn connect(
        &mut self,
        now_ms: u64,
        uid: &str,
        index: u16,
        link: Link,
        reply: oneshot::Sender<(DeviceId, ConnectionId)>,
    ) {
        let device = DeviceId::new(self.user(uid), index);
        self.next_conn = self.next_conn.wrapping_add(1);
        let conn = ConnectionId(self.next_conn);
        let live = Live { conn, outbound: link.outbound, kill: Some(link.kill) };
        if let Some(mut old) = self.links.insert(device, live) {
            if let Some(kill) = old.kill.take() {
                let _ = kill.send(close::REPLACED);
            }
        }
        if reply.send((device, conn)).is_err() {
            // The connection task is gone already: it will not read, and its close follows.
            self.links.remove(&device);
            return;
        }
        let _ = self.switchboard.handle_input(now_ms, Input::Connected { device, conn });
        self.drain();
    }

    /// Drains the core's outputs, then closes the connections found slow on the way.
    fn drain(&mut self) {
        self.drain_outputs();
        let now_ms = self.clock.now_ms();
        self.close_slow(now_ms);
    }

    fn drain_outputs(&mut self) {
        while let Some(output) = self.switchboard.poll_output() {
            match output {
                Output::Send { to, msg } => {
                    self.time_answer(to, &msg);
                    self.send(to, ServerFrame::msg(msg));
                }
                Output::SetTimer { timer, at_ms } => {
                    self.timer_seq += 1;
                    self.timers.insert((at_ms, self.timer_seq), timer);
                }
                Output::Status(change) => self.metrics.status(change.to),
                Output::Push(push) => self.push.send(&push),
                // A cancelled timer fires as a counted no-op, so cancellations are skipped; an
                // output kind the core adds later lands here until the server uses it.
                other => tracing::trace!(?other, "core output not used by the server"),
            }
        }
    }

    fn time_answer(&mut self, to: DeviceId, msg: &ServerMsg) {
        let ServerMsg::Answer { id, result } = msg else { return };
        self.metrics.answer(result.map(|_| ()));
        if let Some((device, current, at)) = self.current {
            if device == to && current == *id {
                let us = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.metrics.latency(us);
            }
        }
    }

    /// Queues `frame` for `device`'s connection, if it has one. A full queue marks it slow.
    fn send(&mut self, device: DeviceId, frame: ServerFrame) {
        let Some(live) = self.links.get_mut(&device) else { return };
        match live.outbound.try_send(frame) {
            Ok(()) => {
                self.metrics.frames_out.fetch_add(1, Relaxed);
                let depth = live.outbound.max_capacity() - live.outbound.capacity();
                self.metrics.outbound_depth(depth);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Some(kill) = live.kill.take() {
                    let _ = kill.send(close::SLOW_READER);
                    self.slow.push((device, live.conn));
                }
            }
            // The connection task ended; its close is on the way.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Takes the slow connections off the switchboard: each is disconnected now.
    fn close_slow(&mut self, now_ms: u64) {
        // Each round can only find connections still linked; a bounded number of rounds.
        for _ in 0..=self.links.len() {
            let Some((device, conn)) = self.slow.pop() else { return };
            self.links.remove(&device);
            tracing::info!(%device, %conn, "slow reader closed");
            let _ = self.switchboard.handle_input(now_ms, Input::Disconnected { device, conn });
            self.drain_outputs();
        }
    }

    fn stop(&mut self, code: u16) {
        for (_, mut live) in self.links.drain() {
            if let Some(kill) = live.kill.take() {
                let _ = kill.send(code);
            }
        }
    }

    fn dump(&self, now_ms: u64, open_only: bool) -> StateDump {
        let users = (0..self.directory.user_count())
            .filter_map(|i| {
                let id = UserId(u32::try_from(i).ok()?);
                Some((self.directory.user_name(id)?.to_owned(), id))
            })
            .collect();
        let mut connected: Vec<DeviceId> =
            self.links.keys().copied().filter(|&d| self.switchboard.is_connected(d)).collect();
        connected.sort_unstable();
        StateDump {
            now_ms,
            stats: self.switchboard.stats().clone(),
            users,
            calls: self
                .switchboard
                .calls()
                .filter(|c| !open_only || !c.status().is_terminal())
                .map(|c| c.view())
                .collect(),
            connected,
            next_timer_ms: self.timers.first_key_value().map(|(&(at_ms, _), _)| at_ms),
        }
    }
}
