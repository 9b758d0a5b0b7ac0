//! The switchboard: the single authority on every call.
//!
//! It takes one [`Input`] at a time with the current time ([`Switchboard::handle_input`]) and
//! queues its outputs; after every input the caller drains [`Switchboard::poll_output`] until it
//! returns `None`. Outputs are messages to devices, timers to set or cancel, and status changes
//! (for observers and invariant checks).

mod record;
mod requests;
mod users;

pub use record::Party;

use crate::call::{CallView, Part, Status};
use crate::config::{Config, DEVICES_PER_USER_MAX, GROUP_MEMBERS_MAX, SNAPSHOT_CALLS_MAX};
use crate::error::{ErrorCode, SwitchboardError};
#[cfg(feature = "hooks")]
use crate::hint;
use crate::ids::{ConnectionId, DeviceId, GroupId, SessionId, UserId};
use crate::lifecycle::{CallMachine, Effect, Event, Role};
use crate::message::{ClientMsg, Notice, ServerMsg};
use crate::push::{self, Push, PushKind};
use record::{CallData, CallRecord};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::VecDeque;
use users::{DeviceRecord, UserRecord};

/// Parties whose user records [`Switchboard::prefetch_message_buffers`] starts loading (a
/// one-to-one call has two).
#[cfg(feature = "hooks")]
const PARTIES_PREFETCHED: usize = 2;

/// A switchboard timer. Firing one that is no longer due is a safe no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// The call's ring timeout.
    Ring(SessionId),
    /// The user's reconnect grace.
    Grace(UserId),
    /// The terminal call's retention is over: evict it.
    Evict(SessionId),
    /// A participant's media-session start timeout may be due (contract version 2).
    Session(SessionId),
}

/// One input to the switchboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A device's connection `conn` came up (the transport accepted it). Hand it before any
    /// message from that connection. The device gets a snapshot of its user's calls; a device
    /// already connected is taken to have replaced its connection by `conn`.
    Connected {
        /// The device.
        device: DeviceId,
        /// Its new connection.
        conn: ConnectionId,
    },
    /// A device's connection `conn` closed. The close of a connection that is no longer the
    /// device's current one is ignored and counted ([`SwitchboardError::StaleConnection`]).
    /// When it was its user's last device, the reconnect grace starts.
    Disconnected {
        /// The device.
        device: DeviceId,
        /// The connection that closed.
        conn: ConnectionId,
    },
    /// A message from a connected device.
    Message {
        /// The sending device.
        from: DeviceId,
        /// The message.
        msg: ClientMsg,
    },
    /// A timer the switchboard asked for ([`Output::SetTimer`]) is due. One that is no longer
    /// due is a safe no-op (counted).
    Timer(Timer),
}

/// A status change, as observers (traces, invariant checks) see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The call.
    pub session: SessionId,
    /// The status before (`None`: the call was just created).
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// The machine event that caused it (`None`: the creation of a call that rings, into
    /// `initiated`). A call whose receivers are all busy is created straight into `busy`, as the
    /// contract's table has it: `from` is `None` and the event is `ReceiverBusy`.
    pub event: Option<Event>,
    /// The user whose request caused it (`None`: the switchboard itself, or a device's ack).
    pub by: Option<UserId>,
    /// When.
    pub at_ms: u64,
}

/// What the switchboard hands back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Send `msg` to the device.
    Send {
        /// The receiving device.
        to: DeviceId,
        /// The message.
        msg: ServerMsg,
    },
    /// Hand [`Input::Timer`] with `timer` at `at_ms`.
    SetTimer {
        /// Which timer.
        timer: Timer,
        /// When it is due.
        at_ms: u64,
    },
    /// The timer is no longer needed (firing it anyway is harmless).
    CancelTimer {
        /// Which timer.
        timer: Timer,
    },
    /// A call changed status.
    Status(StatusChange),
    /// Hand the push to the push service (contract version 2: ringing offline devices). It may
    /// be delayed or lost; nothing waits for it.
    Push(Push),
}

/// Counters of everything the switchboard did and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls created.
    pub created: u64,
    /// Calls that reached each terminal status, indexed by [`Status::index`].
    pub terminal: [u64; 8],
    /// Requests acted on (repeats excluded).
    pub requests: u64,
    /// Repeated request ids answered again from memory.
    pub repeats: u64,
    /// Error answers, indexed by [`ErrorCode::index`].
    pub errors: [u64; 8],
    /// Inputs dropped with a [`SwitchboardError`].
    pub dropped: u64,
    /// Timers that fired when no longer due.
    pub spurious_timers: u64,
    /// Closes of a connection that was no longer the device's current one (ignored).
    pub stale_closes: u64,
    /// Terminal calls evicted after their retention.
    pub evicted: u64,
    /// Remembered answers forgotten before their device released them, because it had more than
    /// `PENDING_REQUESTS_MAX` outstanding (a client that breaks the protocol).
    pub answers_forgotten: u64,
    /// Pushes emitted: `ring`.
    #[serde(default)]
    pub pushes_ring: u64,
    /// Pushes emitted: `cancel`.
    #[serde(default)]
    pub pushes_cancel: u64,
    /// Participants that left a call because they did not start their media session in time.
    #[serde(default)]
    pub session_timeouts: u64,
}

impl Stats {
    /// Calls not yet terminal.
    pub fn in_progress(&self) -> u64 {
        self.created - self.terminal.iter().sum::<u64>()
    }
}

/// A retained call as the switchboard holds it: its status, its call object and its parties,
/// read on demand (the call object is built from the machine's status).
#[derive(Clone, Copy, Debug)]
pub struct CallInfo<'a> {
    record: &'a CallRecord,
}

impl<'a> CallInfo<'a> {
    /// The call's session.
    pub fn session(&self) -> SessionId {
        self.record.data.session
    }

    /// The call's status.
    pub fn status(&self) -> Status {
        self.record.status()
    }

    /// The call object, as a request's answer or a notice would carry it now.
    pub fn view(&self) -> CallView {
        self.record.view()
    }

    /// The parties, the initiator first.
    pub fn parties(&self) -> &'a [Party] {
        &self.record.parties
    }

    /// The event that made the call terminal (its status change's event), if it is terminal:
    /// it tells apart what one status covers, such as a ring timeout and the initiator's give-up
    /// (both `unanswered`).
    pub fn terminal_event(&self) -> Option<Event> {
        self.record.terminal_event
    }
}

/// The authority on every call. See the module docs for the run loop.
#[derive(Clone, Debug)]
pub struct Switchboard {
    config: Config,
    users: Vec<UserRecord>,
    groups: Vec<Vec<UserId>>,
    calls: Vec<CallRecord>,
    free_slots: Vec<u32>,
    outputs: VecDeque<Output>,
    stats: Stats,
    now_ms: u64,
}

impl Switchboard {
    /// A switchboard with no users.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            users: Vec::new(),
            groups: Vec::new(),
            calls: Vec::new(),
            free_slots: Vec::new(),
            outputs: VecDeque::new(),
            stats: Stats::default(),
            now_ms: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Makes room for `users` more users and `groups` more groups, so that registering a
    /// population of known size allocates each table once instead of growing it step by step.
    pub fn reserve(&mut self, users: usize, groups: usize) {
        self.users.reserve_exact(users);
        self.groups.reserve_exact(groups);
    }

    /// Registers a new user and returns its id (ids count up from 0).
    pub fn add_user(&mut self) -> UserId {
        let id = UserId(u32::try_from(self.users.len()).expect("more than u32::MAX users"));
        self.users.push(UserRecord { registered: true, ..UserRecord::default() });
        id
    }

    /// Registers a group of existing users (duplicates are merged). Its member list is fixed
    /// for every call made to it.
    pub fn add_group(&mut self, members: &[UserId]) -> Result<GroupId, SwitchboardError> {
        let mut list: Vec<UserId> = Vec::with_capacity(members.len());
        for &m in members {
            if !self.is_user(m) {
                return Err(SwitchboardError::UnknownUser(m));
            }
            if !list.contains(&m) {
                if list.len() == GROUP_MEMBERS_MAX {
                    // Checked as it grows: the duplicate search stays within the limit.
                    return Err(SwitchboardError::GroupTooLarge);
                }
                list.push(m);
            }
        }
        let id = GroupId(u32::try_from(self.groups.len()).expect("more than u32::MAX groups"));
        self.groups.push(list);
        Ok(id)
    }

    /// Whether `user` is registered.
    pub fn is_user(&self, user: UserId) -> bool {
        self.users.get(user.0 as usize).is_some_and(|u| u.registered)
    }

    /// A group's members.
    pub fn group_members(&self, group: GroupId) -> Option<&[UserId]> {
        self.groups.get(group.0 as usize).map(Vec::as_slice)
    }

    /// Whether the switchboard holds `device` as connected.
    pub fn is_connected(&self, device: DeviceId) -> bool {
        self.users.get(device.user.0 as usize).is_some_and(|u| u.is_connected(device.index))
    }

    /// Registers `device` for push, or withdraws its registration, outside any request: for an
    /// embedder that restores the registrations it keeps (the registration outlives connections,
    /// so a restarted switchboard gets them back this way). A device's own `register_push` and
    /// `unregister_push` requests do the same.
    pub fn set_push_registration(
        &mut self,
        device: DeviceId,
        registered: bool,
    ) -> Result<(), SwitchboardError> {
        self.check_device(device)?;
        let user = &mut self.users[device.user.0 as usize];
        if registered {
            user.push |= 1 << device.index;
        } else {
            user.push &= !(1 << device.index);
        }
        Ok(())
    }

    /// Whether `device` is registered for push (contract version 2).
    pub fn is_push_registered(&self, device: DeviceId) -> bool {
        device.index < DEVICES_PER_USER_MAX
            && self.users.get(device.user.0 as usize).is_some_and(|u| u.push & (1 << device.index) != 0)
    }

    /// A retained call (live, or terminal and not yet evicted).
    pub fn call(&self, session: SessionId) -> Option<CallInfo<'_>> {
        self.record(session).map(|record| CallInfo { record })
    }

    /// Every retained call, in slot order.
    pub fn calls(&self) -> impl Iterator<Item = CallInfo<'_>> {
        self.calls.iter().filter(|r| r.in_use).map(|record| CallInfo { record })
    }

    #[cfg(feature = "hooks")]
    /// Whether the call's ring timer is set: neither fired nor cancelled (a caller that skips
    /// cancellations can ask this instead of keeping them).
    pub fn ring_timer_set(&self, session: SessionId) -> bool {
        self.record(session).is_some_and(|r| r.ring_deadline_ms > 0)
    }

    #[cfg(feature = "hooks")]
    /// Whether the call's session timer is set: neither fired nor cancelled (a caller that
    /// skips cancellations can ask this instead of keeping them).
    pub fn session_timer_set(&self, session: SessionId) -> bool {
        self.record(session).is_some_and(|r| r.session_deadline_ms > 0)
    }

    #[cfg(feature = "hooks")]
    /// Cache hint: starts loading the records that `msg` from `from` reads first (the sender's
    /// user record; the call's record, or the called user's for an initiate). It never changes
    /// what the switchboard does.
    #[inline]
    pub fn prefetch_message(&self, from: DeviceId, msg: &ClientMsg) {
        self.prefetch_user(from.user);
        match msg.session() {
            Some(session) => self.prefetch_call(session),
            None => {
                if let ClientMsg::Request {
                    request: crate::Request::Initiate { to: crate::Receiver::User(to), .. },
                    ..
                } = msg
                {
                    self.prefetch_user(*to);
                }
            }
        }
    }

    #[cfg(feature = "hooks")]
    /// Cache hint, second stage: starts loading what the records [`Switchboard::prefetch_message`]
    /// asked for point to (the sender's remembered answers, the call's parties and their user
    /// records). It reads those records, so it helps most once their loads have landed. It
    /// never changes what the switchboard does.
    #[inline]
    pub fn prefetch_message_buffers(&self, from: DeviceId, msg: &ClientMsg) {
        if let Some(user) = self.users.get(from.user.0 as usize) {
            if let Some(device) = user.devices.get(usize::from(from.index)) {
                hint::line(device);
            }
        }
        if let Some(session) = msg.session() {
            self.prefetch_parties(session);
        }
    }

    #[cfg(feature = "hooks")]
    /// Cache hint: starts loading `user`'s record (a connection change of one of its devices
    /// reads it first). It never changes what the switchboard does.
    #[inline]
    pub fn prefetch_user(&self, user: UserId) {
        if let Some(record) = self.users.get(user.0 as usize) {
            hint::line(&record.registered);
            hint::line(&record.devices);
            hint::line(&record.calls);
            hint::line(&record.grace_deadline_ms);
        }
    }

    #[cfg(feature = "hooks")]
    /// Cache hint: starts loading the record of the call `timer` is about. It never changes
    /// what the switchboard does.
    #[inline]
    pub fn prefetch_timer(&self, timer: Timer) {
        match timer {
            Timer::Ring(session) | Timer::Evict(session) | Timer::Session(session) => {
                self.prefetch_call(session)
            }
            Timer::Grace(user) => self.prefetch_user(user),
        }
    }

    #[cfg(feature = "hooks")]
    /// Cache hint, second stage for a timer: the call's parties and their user records.
    #[inline]
    pub fn prefetch_timer_buffers(&self, timer: Timer) {
        if let Timer::Ring(session) | Timer::Evict(session) = timer {
            self.prefetch_parties(session);
        }
    }

    #[cfg(feature = "hooks")]
    #[inline]
    fn prefetch_call(&self, session: SessionId) {
        if let Some(record) = self.calls.get(session.slot() as usize) {
            hint::line(&record.generation);
            hint::line(&record.machine);
            hint::line(&record.data.session);
            hint::line(&record.data.terminal_at_ms);
            hint::line(&record.parties);
            hint::line(&record.ring_deadline_ms);
            hint::line(&record.evict_at_ms);
        }
    }

    #[cfg(feature = "hooks")]
    #[inline]
    fn prefetch_parties(&self, session: SessionId) {
        let Some(record) = self.calls.get(session.slot() as usize) else { return };
        hint::buffer(&record.parties, 1);
        for party in record.parties.iter().take(PARTIES_PREFETCHED) {
            if let Some(user) = self.users.get(party.user.0 as usize) {
                hint::line(&user.connected);
                hint::line(&user.calls);
            }
        }
    }

    #[cfg(feature = "hooks")]
    /// Writes everything that decides what the switchboard does next, and nothing else (no
    /// counters, no queued outputs), for a model checker that merges equal states: two
    /// switchboards that write the same text behave alike. The counts of invariant 7 are
    /// history: a checker compares them with its own (`StatusLedger::digest` writes only how
    /// far they differ).
    pub fn digest(&self, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        write!(out, "{:?}{:?}", self.users, self.groups)?;
        self.write_shared(out)
    }

    #[cfg(feature = "hooks")]
    /// [`Switchboard::digest`] in parts, for a model checker that relabels users (symmetry):
    /// the groups' member lists to `groups`, each user's record, in id order, to `users`
    /// (cleared first), and everything else to `shared`. Together they say what `digest` says.
    pub fn digest_parts(
        &self,
        groups: &mut dyn std::fmt::Write,
        users: &mut Vec<String>,
        shared: &mut dyn std::fmt::Write,
    ) -> std::fmt::Result {
        write!(groups, "{:?}", self.groups)?;
        users.clear();
        users.extend(self.users.iter().map(|u| format!("{u:?}")));
        self.write_shared(shared)
    }

    #[cfg(feature = "hooks")]
    /// What a digest writes beyond the users and the groups: the config, the call slots, the
    /// free list and the clock. A slot in use is written whole, a free one by its generation only
    /// (the next session of the slot); the rest of a free record is its last call's, which a new
    /// call overwrites before anything reads it.
    fn write_shared(&self, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        write!(out, "{:?}", self.config)?;
        for record in &self.calls {
            match record.in_use {
                true => write!(out, "{record:?}")?,
                false => write!(out, "Free({})", record.generation)?,
            }
        }
        write!(out, "{:?} now_ms: {}", self.free_slots, self.now_ms)
    }

    /// Calls kept now (live and retained terminal ones).
    pub fn record_count(&self) -> usize {
        self.calls.len() - self.free_slots.len()
    }

    /// The retained calls in `user`'s audience (initiated, or rung by), oldest first.
    pub fn user_calls(&self, user: UserId) -> &[SessionId] {
        self.users.get(user.0 as usize).map_or(&[], |u| u.calls.as_slice())
    }

    /// The non-terminal calls `user` is involved in (initiator, rung, or joined).
    pub fn involvement(&self, user: UserId) -> impl Iterator<Item = SessionId> + '_ {
        self.user_calls(user).iter().copied().filter(move |&s| self.involves(s, user))
    }

    /// The next output, or `None` when the queue is drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Outputs waiting to be polled.
    pub fn pending_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Takes one input at `now_ms` (never earlier than the last input's). Then drain
    /// [`Switchboard::poll_output`]. An input that breaks the protocol (from an unknown device,
    /// stale, out of order) is dropped, counted in [`Stats::dropped`], and returned as the error;
    /// the switchboard is unchanged and usable.
    #[inline]
    pub fn handle_input(&mut self, now_ms: u64, input: Input) -> Result<(), SwitchboardError> {
        match input {
            Input::Connected { device, conn } => self.handle_connect(now_ms, device, conn),
            Input::Disconnected { device, conn } => self.handle_disconnect(now_ms, device, conn),
            Input::Message { from, msg } => self.handle_message(now_ms, from, msg),
            Input::Timer(timer) => self.handle_timeout(now_ms, timer),
        }
    }

    fn handle_connect(
        &mut self,
        now_ms: u64,
        device: DeviceId,
        conn: ConnectionId,
    ) -> Result<(), SwitchboardError> {
        self.advance(now_ms)?;
        self.check_device(device)?;
        self.device_mut(device).conn = conn;
        let user = &mut self.users[device.user.0 as usize];
        user.connected |= 1 << device.index;
        if user.grace_deadline_ms.take().is_some() {
            self.outputs.push_back(Output::CancelTimer { timer: Timer::Grace(device.user) });
        }
        self.settle_pushes(device);
        self.send_snapshot(device);
        Ok(())
    }

    fn handle_disconnect(
        &mut self,
        now_ms: u64,
        device: DeviceId,
        conn: ConnectionId,
    ) -> Result<(), SwitchboardError> {
        self.advance(now_ms)?;
        self.check_device(device)?;
        if !self.users[device.user.0 as usize].is_connected(device.index) {
            return Err(self.drop_input(SwitchboardError::AlreadyDisconnected(device)));
        }
        if self.device_mut(device).conn != conn {
            self.stats.stale_closes += 1;
            return Err(self.drop_input(SwitchboardError::StaleConnection { device, conn }));
        }
        let user = &mut self.users[device.user.0 as usize];
        user.connected &= !(1 << device.index);
        if !user.any_connected() {
            let at_ms = now_ms.saturating_add(self.config.reconnect_grace_ms);
            user.grace_deadline_ms = Some(at_ms);
            self.outputs.push_back(Output::SetTimer { timer: Timer::Grace(device.user), at_ms });
        }
        Ok(())
    }

    fn handle_message(
        &mut self,
        now_ms: u64,
        from: DeviceId,
        msg: ClientMsg,
    ) -> Result<(), SwitchboardError> {
        self.advance(now_ms)?;
        self.check_device(from)?;
        if !self.users[from.user.0 as usize].is_connected(from.index) {
            return Err(self.drop_input(SwitchboardError::DeviceNotConnected(from)));
        }
        match msg {
            ClientMsg::Request { id, request, answered_below } => {
                self.handle_request(from, id, request, answered_below)
            }
            ClientMsg::Ack { session } => self.handle_ack(from, session),
        }
    }

    fn handle_timeout(&mut self, now_ms: u64, timer: Timer) -> Result<(), SwitchboardError> {
        self.advance(now_ms)?;
        let acted = match timer {
            Timer::Ring(session) => self.ring_timeout(session),
            Timer::Grace(user) => self.grace_timeout(user),
            Timer::Evict(session) => self.evict(session),
            Timer::Session(session) => self.session_timeout(session),
        };
        if !acted {
            self.stats.spurious_timers += 1;
        }
        Ok(())
    }

    fn advance(&mut self, now_ms: u64) -> Result<(), SwitchboardError> {
        if now_ms < self.now_ms {
            let last_ms = self.now_ms;
            return Err(self.drop_input(SwitchboardError::TimeWentBackwards { now_ms, last_ms }));
        }
        self.now_ms = now_ms;
        Ok(())
    }

    fn drop_input(&mut self, error: SwitchboardError) -> SwitchboardError {
        self.stats.dropped += 1;
        error
    }

    /// Drops input naming an unregistered user or a device index out of range.
    fn check_device(&mut self, device: DeviceId) -> Result<(), SwitchboardError> {
        if !self.is_user(device.user) {
            return Err(self.drop_input(SwitchboardError::UnknownUser(device.user)));
        }
        if device.index >= DEVICES_PER_USER_MAX {
            return Err(self.drop_input(SwitchboardError::DeviceOutOfRange(device)));
        }
        Ok(())
    }

    /// The dedup state of a checked device, created on first use.
    fn device_mut(&mut self, device: DeviceId) -> &mut DeviceRecord {
        let devices = &mut self.users[device.user.0 as usize].devices;
        if devices.len() <= device.index as usize {
            // Exact: most users have one or two devices, and there may be millions of users.
            devices.reserve_exact(device.index as usize + 1 - devices.len());
            devices.resize_with(device.index as usize + 1, DeviceRecord::default);
        }
        &mut devices[device.index as usize]
    }

    fn record(&self, session: SessionId) -> Option<&CallRecord> {
        self.calls.get(session.slot() as usize).filter(|r| r.in_use && r.generation == session.generation())
    }

    fn slot_of(&self, session: SessionId) -> Option<usize> {
        self.record(session).map(|_| session.slot() as usize)
    }

    fn involves(&self, session: SessionId, user: UserId) -> bool {
        self.record(session).is_some_and(|r| {
            !r.status().is_terminal() && r.party_index(user).is_some_and(|i| r.parties[i].involved())
        })
    }

    /// Whether `user` is involved in a call other than `except`; with `joined_only`, only
    /// calls it has joined count (the initiator's own from the start, until it leaves): what
    /// call waiting still forbids, since no user joins two calls (invariant 1).
    fn involved_elsewhere(&self, user: UserId, except: Option<SessionId>, joined_only: bool) -> bool {
        self.user_calls(user).iter().any(|&s| {
            Some(s) != except
                && self.record(s).is_some_and(|r| {
                    !r.status().is_terminal()
                        && r.party_index(user).is_some_and(|i| {
                            let p = &r.parties[i];
                            // The initiator is joined from the start, until it leaves.
                            if joined_only {
                                p.part == Part::Joined
                            } else {
                                p.involved()
                            }
                        })
                })
        })
    }

    /// How many non-terminal calls ring or involve `user` now.
    fn involvement_count(&self, user: UserId) -> usize {
        self.involvement(user).count()
    }

    /// A record for a new call (its machine in `creating`), with `data`'s session replaced by
    /// the slot's.
    fn allocate(&mut self, data: CallData) -> usize {
        let slot = match self.free_slots.pop() {
            Some(slot) => slot as usize,
            None => {
                self.calls.push(CallRecord {
                    generation: 0,
                    in_use: false,
                    machine: CallMachine::new(),
                    data,
                    parties: SmallVec::new(),
                    group: false,
                    terminal_event: None,
                    ring_deadline_ms: 0,
                    session_deadline_ms: 0,
                    evict_at_ms: 0,
                });
                self.calls.len() - 1
            }
        };
        let record = &mut self.calls[slot];
        debug_assert!(!record.in_use, "allocated a slot in use");
        // Every field but the generation starts afresh: nothing of the slot's last call shows.
        record.in_use = true;
        record.machine = CallMachine::new();
        record.parties.clear();
        record.group = false;
        record.terminal_event = None;
        record.ring_deadline_ms = 0;
        record.session_deadline_ms = 0;
        record.evict_at_ms = 0;
        record.data = CallData { session: SessionId::from_parts(slot as u32, record.generation), ..data };
        slot
    }

    fn evict(&mut self, session: SessionId) -> bool {
        let Some(slot) = self.slot_of(session) else { return false };
        let record = &mut self.calls[slot];
        if !record.status().is_terminal() || self.now_ms < record.evict_at_ms {
            return false;
        }
        record.in_use = false;
        record.generation = record.generation.wrapping_add(1);
        self.free_slots.push(slot as u32);
        self.stats.evicted += 1;
        true
    }

    /// Feeds `event`, made by party `index` (none: a stranger, or the switchboard itself with
    /// `by` none), to the call's machine, which decides. On a status change, updates the call's
    /// data, emits the change and, when terminal, schedules the eviction; when the ring phase is
    /// over, cancels the ring timer. Returns what to do to the parties and whether the status
    /// changed, or the error code the request is answered with.
    fn judge(
        &mut self,
        slot: usize,
        event: Event,
        index: Option<usize>,
        by: Option<UserId>,
        joined_elsewhere: bool,
    ) -> Result<(Effect, bool), ErrorCode> {
        let record = &self.calls[slot];
        let role = if by.is_none() && index.is_none() { Role::Switchboard } else { record.role_of(index) };
        let facts = record.facts(index, joined_elsewhere);
        let from = record.machine.status();
        let verdict = self.calls[slot].machine.handle(event, role, facts);
        let effect = verdict.outcome?;
        let Some(reported) = verdict.reported else { return Ok((effect, false)) };
        self.commit(slot, from, reported, by, verdict.ring_over);
        Ok((effect, true))
    }

    /// Records a status change the machine made (from `from`, none for the creation), reported
    /// as `reported`.
    fn commit(
        &mut self,
        slot: usize,
        from: Option<Status>,
        reported: Event,
        by: Option<UserId>,
        ring_over: bool,
    ) {
        let now_ms = self.now_ms;
        let record = &mut self.calls[slot];
        let to = record.status();
        let data = &mut record.data;
        match to {
            Status::Ringing => data.ringing_at_ms = Some(now_ms),
            Status::Accepted => data.accepted_at_ms = Some(now_ms),
            _ => {}
        }
        let session = data.session;
        // The creation of a call that rings is the table's first row, which names no event.
        let event = (reported != Event::Create).then_some(reported);
        self.outputs.push_back(Output::Status(StatusChange { session, from, to, event, by, at_ms: now_ms }));
        if to.is_terminal() {
            data.terminal_at_ms = Some(now_ms);
            data.reason = Some(record::reason_of(reported, to));
            record.terminal_event = Some(reported);
            record.evict_at_ms = now_ms.saturating_add(self.config.call_retention_ms);
            let at_ms = record.evict_at_ms;
            self.stats.terminal[to.index()] += 1;
            self.outputs.push_back(Output::SetTimer { timer: Timer::Evict(session), at_ms });
        }
        if ring_over && record.ring_deadline_ms > 0 {
            record.ring_deadline_ms = 0;
            self.outputs.push_back(Output::CancelTimer { timer: Timer::Ring(session) });
        }
        if to.is_terminal() && record.session_deadline_ms > 0 {
            record.session_deadline_ms = 0;
            self.outputs.push_back(Output::CancelTimer { timer: Timer::Session(session) });
        }
    }

    /// Sends every connected device of party `index` what the call now means for it. The
    /// device in `skip` got the answer to its request and is not sent a silent update.
    fn notify_party(&mut self, slot: usize, index: usize, skip: Option<DeviceId>) {
        let record = &self.calls[slot];
        let party = record.parties[index];
        debug_assert!(party.rung, "only the audience is notified");
        let user = &self.users[party.user.0 as usize];
        for i in user.connected_devices() {
            let id = DeviceId::new(party.user, i);
            let callback = record.notice_for(index, id);
            if callback.is_none() && skip == Some(id) {
                continue;
            }
            let msg = ServerMsg::Notify(Notice { call: record.view(), callback });
            self.outputs.push_back(Output::Send { to: id, msg });
        }
        #[cfg(feature = "plant")]
        if crate::plant::on(crate::plant::Plant::PushCancelSkipped) {
            return;
        }
        if party.pushed != 0 {
            self.cancel_pushes(slot, index);
        }
    }

    /// The push rules' `StopsRinging` for each pushed device of party `index` whose call stopped
    /// ringing its user: a push `cancel` with the reason the device would have got.
    fn cancel_pushes(&mut self, slot: usize, index: usize) {
        let record = &self.calls[slot];
        let party = record.parties[index];
        let session = record.data.session;
        let mut still = party.pushed;
        for i in (0..DEVICES_PER_USER_MAX).filter(|i| party.pushed & (1 << i) != 0) {
            let to = DeviceId::new(party.user, i);
            let reason = match record.notice_for(index, to) {
                Some(crate::CallbackKind::IncomingCallCancelled(reason)) => reason,
                // Still rung (a group call goes on ringing its other members).
                _ => continue,
            };
            let (state, emit) = push::step(push::State::Pushed, push::Event::StopsRinging);
            if state != push::State::Pushed {
                still &= !(1 << i);
            }
            if emit == push::Emit::Cancel {
                self.stats.pushes_cancel += 1;
                self.outputs.push_back(Output::Push(Push { to, session, kind: PushKind::Cancel(reason) }));
            }
        }
        self.calls[slot].parties[index].pushed = still;
    }

    /// The push rules' `RingsOffline` / `RingsOtherwise` for every device of each rung receiver
    /// of a call just created: a push `ring` for each one registered and not connected.
    fn push_rings(&mut self, slot: usize) {
        let session = self.calls[slot].data.session;
        for index in 1..self.calls[slot].parties.len() {
            let party = self.calls[slot].parties[index];
            if party.part != Part::Ringing {
                continue;
            }
            let user = &self.users[party.user.0 as usize];
            let offline = user.push & !user.connected;
            if offline == 0 {
                continue;
            }
            // The other devices (connected, or not registered) meet `RingsOtherwise`, which
            // leaves them out of the pushed set: no bit.
            let mut pushed = 0;
            for i in (0..DEVICES_PER_USER_MAX).filter(|i| offline & (1 << i) != 0) {
                let (state, emit) = push::step(push::State::Unpushed, push::Event::RingsOffline);
                if state == push::State::Pushed {
                    pushed |= 1 << i;
                }
                if emit == push::Emit::Ring {
                    self.stats.pushes_ring += 1;
                    let to = DeviceId::new(party.user, i);
                    self.outputs.push_back(Output::Push(Push { to, session, kind: PushKind::Ring }));
                }
            }
            self.calls[slot].parties[index].pushed = pushed;
        }
    }

    /// The push rules' `Connects`: a pushed device that connects is rung (or not) by its
    /// snapshot; no push `cancel` will follow for those calls.
    fn settle_pushes(&mut self, device: DeviceId) {
        let bit = 1u16 << device.index;
        for i in 0..self.users[device.user.0 as usize].calls.len() {
            let session = self.users[device.user.0 as usize].calls.as_slice()[i];
            let Some(slot) = self.slot_of(session) else { continue };
            let Some(index) = self.calls[slot].party_index(device.user) else { continue };
            let party = &mut self.calls[slot].parties[index];
            if party.pushed & bit != 0
                && push::step(push::State::Pushed, push::Event::Connects).0 != push::State::Pushed
            {
                party.pushed &= !bit;
            }
        }
    }

    /// Starts the media-session timeout of party `index`, which just became a participant of
    /// the accepted call in `slot` (the accept that made the call accepted, or its later join).
    fn start_session_timer(&mut self, slot: usize, index: usize) {
        let Some(timeout_ms) = self.config.session_start_after_ms() else { return };
        let due_ms = self.now_ms.saturating_add(timeout_ms);
        let record = &mut self.calls[slot];
        let party = &mut record.parties[index];
        if party.session_started || party.part != Part::Joined {
            return;
        }
        party.session_due_ms = due_ms;
        if record.session_deadline_ms == 0 || due_ms < record.session_deadline_ms {
            record.session_deadline_ms = due_ms;
            let timer = Timer::Session(record.data.session);
            self.outputs.push_back(Output::SetTimer { timer, at_ms: due_ms });
        }
    }

    /// The session timer fired: each participant whose start timeout is due and who has not
    /// started its session leaves with `no_media` (the machine decides); the timer is set
    /// again for the next one due.
    fn session_timeout(&mut self, session: SessionId) -> bool {
        let Some(slot) = self.slot_of(session) else { return false };
        let deadline = self.calls[slot].session_deadline_ms;
        if deadline == 0 || self.now_ms < deadline {
            return false;
        }
        self.calls[slot].session_deadline_ms = 0;
        let now_ms = self.now_ms;
        for index in 0..self.calls[slot].parties.len() {
            let party = self.calls[slot].parties[index];
            if party.session_due_ms == 0 || party.session_due_ms > now_ms {
                continue;
            }
            self.calls[slot].parties[index].session_due_ms = 0;
            // A participant that started, left, or whose call ended meanwhile is moot.
            if let Ok((Effect::Leave, ended)) =
                self.judge(slot, Event::SessionTimeout, Some(index), None, false)
            {
                self.stats.session_timeouts += 1;
                self.calls[slot].parties[index].no_media = true;
                self.leave(slot, index, None, ended);
            }
        }
        self.rearm_session_timer(slot);
        true
    }

    /// Every participant started its session: the call's session timer is no longer needed.
    fn settle_session_timer(&mut self, slot: usize) {
        let record = &mut self.calls[slot];
        if record.session_deadline_ms > 0 && record.parties.iter().all(|p| p.session_due_ms == 0) {
            record.session_deadline_ms = 0;
            let timer = Timer::Session(record.data.session);
            self.outputs.push_back(Output::CancelTimer { timer });
        }
    }

    /// Sets the call's session timer for the earliest start timeout still due, if any.
    fn rearm_session_timer(&mut self, slot: usize) {
        let record = &mut self.calls[slot];
        if record.status().is_terminal() {
            return;
        }
        let next = record.parties.iter().map(|p| p.session_due_ms).filter(|&d| d > 0).min();
        if let Some(at_ms) = next {
            record.session_deadline_ms = at_ms;
            let timer = Timer::Session(record.data.session);
            self.outputs.push_back(Output::SetTimer { timer, at_ms });
        }
    }

    /// Notifies the whole audience (after a status change).
    fn notify_audience(&mut self, slot: usize, skip: Option<DeviceId>) {
        for index in 0..self.calls[slot].parties.len() {
            if self.calls[slot].parties[index].rung {
                self.notify_party(slot, index, skip);
            }
        }
    }

    fn send_snapshot(&mut self, device: DeviceId) {
        let user = &self.users[device.user.0 as usize];
        let mut notices = Vec::new();
        for &session in user.calls.as_slice() {
            let Some(record) = self.record(session) else { continue };
            let Some(index) = record.party_index(device.user) else { continue };
            if record.parties[index].rung && notices.len() < SNAPSHOT_CALLS_MAX {
                let callback = record.snapshot_notice_for(index, device);
                notices.push(Notice { call: record.view(), callback });
            }
        }
        self.outputs.push_back(Output::Send { to: device, msg: ServerMsg::Snapshot(notices) });
    }

    fn ring_timeout(&mut self, session: SessionId) -> bool {
        let Some(slot) = self.slot_of(session) else { return false };
        let record = &self.calls[slot];
        if record.ring_deadline_ms == 0 || self.now_ms < record.ring_deadline_ms {
            return false;
        }
        self.calls[slot].ring_deadline_ms = 0;
        match self.judge(slot, Event::RingTimeout, None, None, false) {
            Ok((Effect::StopRingers, _)) => self.stop_ringers(slot),
            Ok((_, true)) => self.notify_audience(slot, None),
            outcome => debug_assert!(false, "a call with a ring timer takes its timeout: {outcome:?}"),
        }
        true
    }

    /// After an accept, the ring timeout stops the members still ringing.
    fn stop_ringers(&mut self, slot: usize) {
        for index in 1..self.calls[slot].parties.len() {
            if self.calls[slot].parties[index].part == Part::Ringing {
                self.calls[slot].parties[index].part = Part::NotReached;
                self.notify_party(slot, index, None);
            }
        }
    }

    /// The user's last device stayed away past the grace: its calls go on without it.
    fn grace_timeout(&mut self, user: UserId) -> bool {
        let Some(record) = self.users.get_mut(user.0 as usize) else { return false };
        match record.grace_deadline_ms {
            Some(deadline) if deadline <= self.now_ms && !record.any_connected() => {}
            _ => return false,
        }
        record.grace_deadline_ms = None;
        for i in 0..record.calls.len() {
            let session = self.users[user.0 as usize].calls.as_slice()[i];
            if let Some(slot) = self.slot_of(session) {
                self.lose_party(slot, user);
            }
        }
        true
    }

    /// `user` is gone for good from the call in `slot`: the machine decides what that means
    /// (an initiator's call not yet accepted is withdrawn, a participant leaves an accepted one,
    /// anyone else stays as they are).
    fn lose_party(&mut self, slot: usize, user: UserId) {
        let Some(index) = self.calls[slot].party_index(user) else { return };
        let event = if index == 0 { Event::InitiatorLost } else { Event::PartyLost };
        match self.judge(slot, event, Some(index), None, false) {
            Ok((Effect::Leave, changed)) => {
                self.calls[slot].parties[index].lost = true;
                self.leave(slot, index, None, changed);
            }
            Ok((_, true)) => self.notify_audience(slot, None),
            Ok((_, false)) | Err(_) => {}
        }
    }

    /// Party `index` leaves an accepted call (the machine allowed it; `ended`: its leave ended
    /// the call), on a request from device `by` (which gets the answer) or for a connection lost
    /// for good (`None`).
    fn leave(&mut self, slot: usize, index: usize, by: Option<DeviceId>, ended: bool) {
        self.calls[slot].parties[index].part = Part::Left;
        self.calls[slot].parties[index].session_due_ms = 0;
        if by.is_some() {
            self.calls[slot].parties[index].left_from = by;
        }
        if ended {
            self.notify_audience(slot, by);
        } else {
            self.notify_party(slot, index, by);
        }
    }

    /// Adds the call to the audience list of each rung party.
    fn enlist_audience(&mut self, slot: usize) {
        let session = self.calls[slot].data.session;
        for index in 0..self.calls[slot].parties.len() {
            let party = self.calls[slot].parties[index];
            if !party.rung {
                continue;
            }
            let mut list = self.users[party.user.0 as usize].calls;
            users::enlist(
                &mut list,
                session,
                |s| self.record(s).is_none(),
                |s| !self.involves(s, party.user),
            );
            self.users[party.user.0 as usize].calls = list;
        }
    }

    fn handle_ack(&mut self, from: DeviceId, session: SessionId) -> Result<(), SwitchboardError> {
        let Some(slot) = self.slot_of(session) else {
            return Err(self.drop_input(SwitchboardError::AckUnknownCall(session)));
        };
        let index = self.calls[slot].party_index(from.user);
        match self.judge(slot, Event::Ack, index, None, false) {
            Err(_) => Err(self.drop_input(SwitchboardError::AckNotRung { device: from, session })),
            Ok((_, changed)) => {
                if changed {
                    self.notify_audience(slot, None);
                }
                Ok(())
            }
        }
    }

    fn answer(
        &mut self,
        to: DeviceId,
        id: crate::ids::RequestId,
        result: Result<Option<CallView>, ErrorCode>,
    ) {
        if let Err(code) = result {
            self.stats.errors[code.index()] += 1;
        }
        self.outputs.push_back(Output::Send { to, msg: ServerMsg::Answer { id, result } });
    }
}
