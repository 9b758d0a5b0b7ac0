//! The client: one device's SDK role. It sends requests, applies the switchboard's notices,
//! keeps the device's view of its calls, and raises each listener callback at most once.
//!
//! Run loop: feed one [`Input`] ([`Client::handle_input`]), then drain [`Client::poll_output`]
//! until `None`.

use crate::call::{CallView, Callback, CallbackKind, CancelReason, EndReason, Receiver, Status};
use crate::config::{Config, CLIENT_CALLS_MAX, PENDING_REQUESTS_MAX};
use crate::error::{ClientError, ErrorCode};
#[cfg(feature = "hooks")]
use crate::hint;
use crate::ids::{ConnectionId, DeviceId, RequestId, SessionId, UserId};
use crate::message::{ClientMsg, Notice, Request, ServerMsg};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::VecDeque;

/// A client timer. Firing one that is no longer due is a safe no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timer {
    /// The request's answer is due by now.
    Request(RequestId),
}

/// One input to the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// An application command. [`Client::handle_input`] returns the request id its answer
    /// ([`Output::Answer`]) will carry. Without a connection the answer (`not_connected`) is
    /// queued at once.
    Command(Request),
    /// The connection `conn` to the switchboard came up: requests still waiting for their
    /// answers are sent again with their ids (the switchboard answers a repeat without acting
    /// twice).
    Connected(ConnectionId),
    /// The connection `conn` went down; waiting requests keep their timeouts. The close of a
    /// connection that is no longer the current one is ignored ([`ClientError::StaleConnection`]).
    Disconnected(ConnectionId),
    /// A message from the switchboard.
    Message(ServerMsg),
    /// A timer the client asked for ([`Output::SetTimer`]) is due. One that is no longer due is
    /// a safe no-op.
    Timer(Timer),
}

/// What the client hands back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Send the message to the switchboard.
    Send(ClientMsg),
    /// Raise a listener callback in the application.
    Callback(Callback),
    /// A request's final answer for the application (from the switchboard, or `not_connected` /
    /// `timeout` from the client itself).
    Answer {
        /// The request.
        id: RequestId,
        /// What it asked.
        request: Request,
        /// Success with the call object, or an error code.
        result: Result<CallView, ErrorCode>,
    },
    /// Hand [`Input::Timer`] with `timer` at `at_ms`.
    SetTimer {
        /// Which timer.
        timer: Timer,
        /// When.
        at_ms: u64,
    },
    /// The timer is no longer needed.
    CancelTimer {
        /// Which timer.
        timer: Timer,
    },
}

/// Counters of what the client did and dropped. The client keeps them in 32 bits: each stops
/// at `u32::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests sent (resends after a reconnect excluded).
    pub requests: u64,
    /// Requests resent after a reconnect.
    pub resent: u64,
    /// Callbacks raised.
    pub callbacks: u64,
    /// Requests answered `timeout` by the client.
    pub timeouts: u64,
    /// Answers that arrived after their request timed out (applied to the view, not raised).
    pub late_answers: u64,
    /// Messages dropped with a [`ClientError`].
    pub dropped: u64,
}

/// [`Stats`] as the client keeps them: 32-bit counters that stop at their maximum, in 24
/// bytes where `Stats` takes 48 (they keep a client, with its link in a simulator, within four
/// cache lines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    requests: u32,
    resent: u32,
    callbacks: u32,
    timeouts: u32,
    late_answers: u32,
    dropped: u32,
}

/// Counts one more, stopping at the counter's maximum.
fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

/// Timed-out requests remembered so that a late answer still updates the device's view.
const TIMED_OUT_KEPT: usize = 8;
/// Calls kept inside the client itself; more go to a heap buffer.
const CALLS_INLINE: usize = 1;
/// Calls whose records [`Client::prefetch_buffers`] starts loading when they are on the heap.
#[cfg(feature = "hooks")]
const CALLS_PREFETCHED: usize = 2;
/// Sessions of calls dropped from the view while the switchboard may still speak of them,
/// remembered so that a later notice about one of them raises nothing again.
const FORGOTTEN_MAX: usize = 64;

const RECEIVED: u8 = 1;
const RINGING: u8 = 2;
const ACCEPTED: u8 = 4;
const TERMINAL: u8 = 8;
const JOINED: u8 = 16;
/// Left out of a snapshot: the device no longer knows the call's status (the switchboard evicted
/// it, or it fell out of the user's bounded audience list). Hidden from `call`/`calls` until a
/// notice about it arrives again.
const GONE: u8 = 32;

/// One call as this device knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LocalCall {
    view: CallView,
    /// This device's user is the initiator.
    outgoing: bool,
    /// Callbacks raised (or known as already past) and the device's own part.
    flags: u8,
    /// When this device first saw the call terminal. The record is dropped a retention later:
    /// not earlier, or a late notice about a call still live would look new and raise again.
    terminal_seen_ms: SeenAt,
    /// The callback a snapshot gave for an outgoing call of this device's user that it never
    /// knew and that was over already, while an initiate of the device still waited for its
    /// answer. The call may be that initiate's (its answer lost with the connection), so the
    /// callback is held back and raised right after that answer (or its timeout), when the
    /// application can tell which call it is about.
    deferred: Option<CallbackKind>,
}

/// A virtual time in ms, or none, in 8 bytes where `Option<u64>` takes 16 (it keeps the
/// client's first call, kept inline, small): the time + 1, or 0 for none. `u64::MAX` reads back
/// one ms early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeenAt(u64);

impl SeenAt {
    const NEVER: Self = Self(0);

    fn at(ms: u64) -> Self {
        Self(ms.saturating_add(1))
    }

    fn get(self) -> Option<u64> {
        self.0.checked_sub(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    id: RequestId,
    request: Request,
}

/// The client's state for unusual histories.
#[derive(Clone, Debug, Default)]
struct Rare {
    /// The last `TIMED_OUT_KEPT` requests that timed out.
    timed_out: Vec<Pending>,
    /// Calls dropped from the view while the switchboard may still speak of them (early, from
    /// a full view; or a retention after a snapshot left them out), at most `FORGOTTEN_MAX`.
    forgotten: Vec<SessionId>,
}

/// One device's client. Starts disconnected.
#[derive(Clone, Debug)]
pub struct Client {
    /// The device's user and index, kept as two fields rather than one `DeviceId` so that
    /// the flags below fill the room a `DeviceId` pads out.
    user: UserId,
    index: u16,
    request_timeout_ms: u64,
    /// The configured retention, in 32 bits (it keeps the client within 232 bytes): one
    /// beyond `u32::MAX` ms, 49 days, is kept as that.
    call_retention_ms: u32,
    connected: bool,
    /// The current (or last) connection's token.
    conn: ConnectionId,
    /// Connections made so far (saturating): from the second on, the device is coming back,
    /// and what its user's calls did while it was away is news it missed.
    connections: u8,
    next_request: u64,
    pending: Vec<Pending>,
    /// What only an unusual history needs (allocated the first time): kept out of line so that
    /// a million idle clients stay small.
    rare: Option<Box<Rare>>,
    /// The calls this device knows. The first is kept inline: most devices know at most one
    /// call at a time, and an input about it then reads no second record at a random place
    /// (for a million clients, a miss saved on most inputs).
    calls: SmallVec<[LocalCall; CALLS_INLINE]>,
    outputs: VecDeque<Output>,
    counts: Counts,
    now_ms: u64,
}

impl Client {
    /// The client of `device`, disconnected, with no calls.
    pub fn new(device: DeviceId, config: Config) -> Self {
        Self {
            user: device.user,
            index: device.index,
            request_timeout_ms: config.request_timeout_ms,
            call_retention_ms: u32::try_from(config.call_retention_ms).unwrap_or(u32::MAX),
            connected: false,
            conn: ConnectionId(0),
            connections: 0,
            next_request: 1,
            pending: Vec::new(),
            rare: None,
            calls: SmallVec::new(),
            outputs: VecDeque::new(),
            counts: Counts::default(),
            now_ms: 0,
        }
    }

    /// The device.
    pub fn device(&self) -> DeviceId {
        DeviceId::new(self.user, self.index)
    }

    /// Whether the client holds itself as connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        let c = self.counts;
        Stats {
            requests: c.requests.into(),
            resent: c.resent.into(),
            callbacks: c.callbacks.into(),
            timeouts: c.timeouts.into(),
            late_answers: c.late_answers.into(),
            dropped: c.dropped.into(),
        }
    }

    /// The device's view of a call, if it knows it.
    pub fn call(&self, session: SessionId) -> Option<&CallView> {
        self.calls.iter().find(|c| c.view.session == session && c.flags & GONE == 0).map(|c| &c.view)
    }

    /// Every call the device knows, as it sees them.
    pub fn calls(&self) -> impl Iterator<Item = &CallView> {
        self.calls.iter().filter(|c| c.flags & GONE == 0).map(|c| &c.view)
    }

    /// Requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    #[cfg(feature = "hooks")]
    /// Whether request `id` still waits for its answer: its timer is set and neither fired
    /// nor cancelled (a caller that skips cancellations can ask this instead of keeping them).
    pub fn is_pending(&self, id: RequestId) -> bool {
        self.pending.iter().any(|p| p.id == id)
    }

    /// The next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    #[cfg(feature = "hooks")]
    /// Exchanges the client's output queue with `buffer`; outputs already queued move with
    /// the queue they are in.
    ///
    /// A caller that drives many clients and drains each one right after every input can lend
    /// all of them one buffer: swap it in before the input, drain, swap it back. An idle client
    /// then holds no output buffer at all, and the one in use stays warm in the cache.
    pub fn swap_outputs(&mut self, buffer: &mut VecDeque<Output>) {
        std::mem::swap(&mut self.outputs, buffer);
    }

    #[cfg(feature = "hooks")]
    /// Gives back the spare capacity of the client's buffers (its calls, pending requests and
    /// output queue), so that a device that is idle again does not keep what its busiest moment
    /// needed. It changes nothing else.
    pub fn shrink_to_fit(&mut self) {
        // A fresh exact allocation rather than `Vec::shrink_to_fit`: shrinking in place leaves
        // the allocator small fragments, which across a million clients cost more than the copy.
        if self.calls.spilled() && self.calls.capacity() > self.calls.len() {
            self.calls = SmallVec::from_slice(&self.calls);
        }
        if self.pending.capacity() > self.pending.len() {
            self.pending = self.pending.to_vec();
        }
        if self.outputs.capacity() > self.outputs.len() {
            self.outputs = self.outputs.iter().cloned().collect();
        }
    }

    #[cfg(feature = "hooks")]
    /// Cache hint: starts loading the client's own fields, which any input reads. It never
    /// changes what the client does.
    #[inline]
    pub fn prefetch(&self) {
        hint::line(&self.user);
        hint::line(&self.calls);
        hint::line(&self.pending);
        hint::line(&self.outputs);
        hint::line(&self.rare);
        hint::line(&self.counts);
        hint::line(&self.now_ms);
    }

    #[cfg(feature = "hooks")]
    /// Cache hint, second stage: starts loading the buffers the client's calls and pending
    /// requests are kept in. It reads the client's fields, so it helps most once the loads
    /// that [`Client::prefetch`] started have landed. It never changes what the client does.
    #[inline]
    pub fn prefetch_buffers(&self) {
        if self.calls.spilled() {
            hint::buffer(&self.calls, CALLS_PREFETCHED);
        }
        hint::buffer(&self.pending, 1);
    }

    /// Takes one input at `now_ms`; then drain [`Client::poll_output`]. Returns the request id
    /// of a command (`None` for the other inputs). A message or connection change that breaks
    /// the protocol is dropped, counted in [`Stats::dropped`], and returned as the error; the
    /// client is unchanged and usable.
    pub fn handle_input(&mut self, now_ms: u64, input: Input) -> Result<Option<RequestId>, ClientError> {
        match input {
            Input::Command(request) => self.command(now_ms, request).map(Some),
            Input::Connected(conn) => {
                self.handle_connected(now_ms, conn);
                Ok(None)
            }
            Input::Disconnected(conn) => self.handle_disconnected(now_ms, conn).map(|()| None),
            Input::Message(msg) => self.handle_message(now_ms, msg).map(|()| None),
            Input::Timer(timer) => {
                self.handle_timeout(now_ms, timer);
                Ok(None)
            }
        }
    }

    fn command(&mut self, now_ms: u64, request: Request) -> Result<RequestId, ClientError> {
        self.now_ms = self.now_ms.max(now_ms);
        if self.connected && self.pending.len() >= PENDING_REQUESTS_MAX {
            return Err(ClientError::TooManyPending);
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        if !self.connected {
            let result = Err(ErrorCode::NotConnected);
            self.outputs.push_back(Output::Answer { id, request, result });
            return Ok(id);
        }
        bump(&mut self.counts.requests);
        self.pending.push(Pending { id, request });
        let answered_below = self.answered_below();
        self.outputs.push_back(Output::Send(ClientMsg::Request { id, request, answered_below }));
        let at_ms = now_ms.saturating_add(self.request_timeout_ms);
        self.outputs.push_back(Output::SetTimer { timer: Timer::Request(id), at_ms });
        Ok(id)
    }

    fn handle_connected(&mut self, now_ms: u64, conn: ConnectionId) {
        self.now_ms = self.now_ms.max(now_ms);
        self.connected = true;
        self.conn = conn;
        self.connections = self.connections.saturating_add(1);
        let answered_below = self.answered_below();
        for p in &self.pending {
            bump(&mut self.counts.resent);
            let msg = ClientMsg::Request { id: p.id, request: p.request, answered_below };
            self.outputs.push_back(Output::Send(msg));
        }
    }

    /// The lowest request id still waiting for its answer (the switchboard may forget the answers
    /// below it); with none waiting, the next id.
    fn answered_below(&self) -> RequestId {
        debug_assert!(self.pending.windows(2).all(|w| w[0].id < w[1].id), "pending in id order");
        RequestId(self.pending.first().map_or(self.next_request, |p| p.id.0))
    }

    fn handle_disconnected(&mut self, now_ms: u64, conn: ConnectionId) -> Result<(), ClientError> {
        self.now_ms = self.now_ms.max(now_ms);
        if !self.connected || conn != self.conn {
            bump(&mut self.counts.dropped);
            return Err(ClientError::StaleConnection(conn));
        }
        self.connected = false;
        Ok(())
    }

    fn handle_timeout(&mut self, now_ms: u64, timer: Timer) {
        self.now_ms = self.now_ms.max(now_ms);
        let Timer::Request(id) = timer;
        if let Some(i) = self.pending.iter().position(|p| p.id == id) {
            let p = self.pending.remove(i);
            bump(&mut self.counts.timeouts);
            let result = Err(ErrorCode::Timeout);
            self.outputs.push_back(Output::Answer { id, request: p.request, result });
            let timed_out = &mut self.rare.get_or_insert_with(Box::default).timed_out;
            if timed_out.len() == TIMED_OUT_KEPT {
                timed_out.remove(0);
            }
            timed_out.push(p);
            if matches!(p.request, Request::Initiate { .. }) {
                self.release_deferred();
            }
        }
    }

    fn handle_message(&mut self, now_ms: u64, msg: ServerMsg) -> Result<(), ClientError> {
        if now_ms < self.now_ms {
            bump(&mut self.counts.dropped);
            return Err(ClientError::TimeWentBackwards { now_ms, last_ms: self.now_ms });
        }
        self.now_ms = now_ms;
        if !self.connected {
            bump(&mut self.counts.dropped);
            return Err(ClientError::NotConnected);
        }
        match msg {
            ServerMsg::Answer { id, result } => self.handle_answer(id, result),
            ServerMsg::Notify(notice) => self.apply_notice(notice, true),
            ServerMsg::Snapshot(notices) => {
                for notice in &notices {
                    // A full view drops the entry (counted); the rest still apply.
                    let _ = self.apply_notice(*notice, false);
                }
                self.close_missing(&notices);
                Ok(())
            }
        }
    }

    fn handle_answer(
        &mut self,
        id: RequestId,
        result: Result<CallView, ErrorCode>,
    ) -> Result<(), ClientError> {
        let request = match self.pending.iter().position(|p| p.id == id) {
            Some(i) => {
                let Pending { request, .. } = self.pending.remove(i);
                self.outputs.push_back(Output::CancelTimer { timer: Timer::Request(id) });
                self.outputs.push_back(Output::Answer { id, request, result });
                request
            }
            None => {
                // An answer after the request timed out: the application was told `timeout`
                // already and is not told twice, but the device's view takes the call object
                // (the switchboard sends the requester nothing else about its own action).
                let timed_out = self.rare.as_mut().map(|r| &mut r.timed_out);
                let Some((timed_out, late)) =
                    timed_out.and_then(|t| t.iter().position(|p| p.id == id).map(|i| (t, i)))
                else {
                    return self.forgotten_answer(id, result);
                };
                let Pending { request, .. } = timed_out.remove(late);
                bump(&mut self.counts.late_answers);
                request
            }
        };
        if let Ok(view) = result {
            let flag = match request {
                Request::Initiate { .. } => 0,
                Request::Accept { .. } => JOINED | RECEIVED,
                Request::Reject { .. } | Request::End { .. } => TERMINAL,
            };
            let index = self.upsert(view)?;
            self.calls[index].flags |= flag;
        }
        if matches!(request, Request::Initiate { .. }) {
            self.release_deferred();
        }
        Ok(())
    }

    /// Raises the callbacks held back (see `LocalCall::deferred`) now that the application has
    /// the answer to an initiate of this device (or its timeout), in the order of the view.
    fn release_deferred(&mut self) {
        for index in 0..self.calls.len() {
            if let Some(kind) = self.calls[index].deferred.take() {
                self.calls[index].flags &= !TERMINAL;
                // Checked to fit when it was held back, and the call's flags have not moved
                // since (it is over for the device); were it not to fit, `raise_notice` drops
                // and counts it, which is all there is to do for a notice that came earlier.
                let _ = self.raise_notice(index, kind);
            }
        }
    }

    /// An answer to no request the client remembers. If the client issued that id, the request
    /// timed out and fell out of the `TIMED_OUT_KEPT` remembered: the answer is still the
    /// switchboard's word on the call, and the view takes it (silently, as a late answer). It
    /// may be the only word the device gets, since the switchboard sends the device that asked
    /// nothing else about its own action. Without the request, the device's own part in the
    /// call (whether it joined) stays unknown. An id the client never issued is dropped.
    fn forgotten_answer(
        &mut self,
        id: RequestId,
        result: Result<CallView, ErrorCode>,
    ) -> Result<(), ClientError> {
        if id.0 == 0 || id.0 >= self.next_request {
            bump(&mut self.counts.dropped);
            return Err(ClientError::UnknownRequest(id));
        }
        bump(&mut self.counts.late_answers);
        if let Ok(view) = result {
            self.upsert(view)?;
        }
        Ok(())
    }

    /// Finds or adds the call, and moves its view forward (never back).
    fn upsert(&mut self, view: CallView) -> Result<usize, ClientError> {
        if let Some(i) = self.calls.iter().position(|c| c.view.session == view.session) {
            let local = &mut self.calls[i].view;
            if view.status.rank() >= local.status.rank() && !local.status.is_terminal() {
                *local = view;
            }
            let call = &mut self.calls[i];
            call.flags &= !GONE; // the switchboard speaks of it again: the view is vouched for
            if call.view.status.is_terminal() && call.terminal_seen_ms.get().is_none() {
                call.terminal_seen_ms = SeenAt::at(self.now_ms);
            }
            return Ok(i);
        }
        self.make_room(view.session)?;
        let outgoing = view.initiator == self.user;
        let terminal_seen_ms =
            if view.status.is_terminal() { SeenAt::at(self.now_ms) } else { SeenAt::NEVER };
        self.calls.push(LocalCall { view, outgoing, flags: 0, terminal_seen_ms, deferred: None });
        Ok(self.calls.len() - 1)
    }

    /// Drops calls seen terminal longer than the retention ago (the switchboard has evicted
    /// them too), then, if still full, the one seen terminal first, remembering its session so
    /// that a later notice about it is not taken for a new call. Never drops one that became
    /// terminal at this very ms: a message (a snapshot) may name it again, even with no retention.
    fn make_room(&mut self, session: SessionId) -> Result<(), ClientError> {
        let retention_ms = u64::from(self.call_retention_ms);
        let now_ms = self.now_ms;
        let expired =
            |c: &LocalCall| c.terminal_seen_ms.get().is_some_and(|t| t.saturating_add(retention_ms) < now_ms);
        // A call the device stopped vouching for (a snapshot left it out, see `close_missing`)
        // may still be live at the switchboard, which tells its parties when it ends: remember
        // it, so that the device raises nothing for it again. So may one whose last known
        // status is live (a notice named it again after the snapshot had left it out).
        let may_be_live = |c: &LocalCall| c.flags & GONE != 0 || !c.view.status.is_terminal();
        while let Some(i) = self.calls.iter().position(|c| expired(c) && may_be_live(c)) {
            let session = self.calls.remove(i).view.session;
            self.forget(session);
        }
        self.calls.retain(|c| !expired(c));
        if self.calls.len() < CLIENT_CALLS_MAX {
            return Ok(());
        }
        let oldest =
            self.calls.iter().enumerate().filter_map(|(i, c)| Some((c.terminal_seen_ms.get()?, i))).min();
        match oldest.map(|(_, i)| i) {
            Some(i) => {
                let session = self.calls.remove(i).view.session;
                self.forget(session);
                Ok(())
            }
            None => {
                bump(&mut self.counts.dropped);
                Err(ClientError::ViewFull(session))
            }
        }
    }

    /// Remembers (up to `FORGOTTEN_MAX`, oldest out first) a call dropped from the view while
    /// the switchboard may still speak of it.
    fn forget(&mut self, session: SessionId) {
        let forgotten = &mut self.rare.get_or_insert_with(Box::default).forgotten;
        if forgotten.len() == FORGOTTEN_MAX {
            forgotten.remove(0);
        }
        forgotten.push(session);
    }

    fn raise(&mut self, index: usize, kind: CallbackKind) {
        let call = &mut self.calls[index];
        debug_assert_eq!(call.flags & TERMINAL, 0, "nothing is raised after a terminal callback");
        if kind.is_terminal() {
            call.flags |= TERMINAL;
        }
        bump(&mut self.counts.callbacks);
        self.outputs.push_back(Output::Callback(Callback { kind, call: call.view }));
    }

    /// Applies one notice: updates the view and raises what the device has not raised yet.
    /// A snapshot entry for a call the device never knew is recorded silently unless it rings.
    fn apply_notice(&mut self, notice: Notice, live: bool) -> Result<(), ClientError> {
        let Notice { call, callback } = notice;
        let me = self.user;
        if call.initiator != me && matches!(call.receiver, Receiver::User(u) if u != me) {
            bump(&mut self.counts.dropped);
            return Err(ClientError::NotMyCall(call.session));
        }
        let known = self.calls.iter().any(|c| c.view.session == call.session);
        if !known && self.rare.as_ref().is_some_and(|r| r.forgotten.contains(&call.session)) {
            return Ok(()); // closed and dropped from a full view: nothing more to raise
        }
        let index = self.upsert(call)?;
        // A snapshot entry for a call this device never heard of: its user's own live outgoing
        // call is news the device must raise (it may be the very device whose initiate answer
        // was lost); a call ringing the user rings; anything else is over for this device and
        // is recorded silently.
        let outgoing_live = call.initiator == me && !call.status.is_terminal();
        let rings = callback == Some(CallbackKind::IncomingCallReceived);
        if !known && !live && !outgoing_live && !rings {
            self.calls[index].flags |= implied_flags(&self.calls[index], callback);
            // Its user's outgoing call, over while this device was away (it has been connected
            // before): the device missed its callbacks, and raises them now (or, while an
            // initiate of its own waits, right after that initiate's answer). On a device's
            // first connection, calls already over are history: silent.
            if let (true, true, Some(kind)) = (call.initiator == me, self.connections > 1, callback) {
                if self.pending.iter().any(|p| matches!(p.request, Request::Initiate { .. })) {
                    if !fits(kind, self.calls[index].outgoing, self.calls[index].flags & !TERMINAL) {
                        bump(&mut self.counts.dropped);
                        return Err(ClientError::IllegalCallback { session: call.session, callback: kind });
                    }
                    self.calls[index].deferred = Some(kind);
                } else {
                    self.calls[index].flags &= !TERMINAL;
                    return self.raise_notice(index, kind);
                }
            }
            return Ok(());
        }
        let Some(kind) = callback else { return Ok(()) };
        self.raise_notice(index, kind)
    }

    /// Raises what callback `kind` of a notice about the call at `index` means for this device,
    /// as far as it has not raised it yet.
    fn raise_notice(&mut self, index: usize, kind: CallbackKind) -> Result<(), ClientError> {
        let session = self.calls[index].view.session;
        let flags = self.calls[index].flags;
        if flags & TERMINAL != 0 {
            return Ok(());
        }
        if !fits(kind, self.calls[index].outgoing, flags) {
            bump(&mut self.counts.dropped);
            return Err(ClientError::IllegalCallback { session, callback: kind });
        }
        // An initiator device that missed its call's ringing (it was away, or the notice was
        // lost) raises it before what came after, if the call did ring: a device "raises the
        // callbacks it missed".
        let after_ringing = matches!(
            kind,
            CallbackKind::OutgoingCallAccepted
                | CallbackKind::OutgoingCallRejected(_)
                | CallbackKind::CallEnded(_)
        );
        if after_ringing
            && self.calls[index].outgoing
            && flags & (RINGING | ACCEPTED) == 0
            && self.calls[index].view.ringing_at_ms.is_some()
        {
            self.calls[index].flags |= RINGING;
            self.raise(index, CallbackKind::OutgoingCallRinging);
        }
        match kind {
            CallbackKind::IncomingCallReceived => {
                let raise = flags & RECEIVED == 0;
                if raise {
                    self.calls[index].flags |= RECEIVED;
                    self.raise(index, kind);
                }
                if raise || self.calls[index].view.status == Status::Initiated {
                    self.outputs.push_back(Output::Send(ClientMsg::Ack { session }));
                }
            }
            CallbackKind::OutgoingCallRinging => {
                if flags & (RINGING | ACCEPTED) == 0 {
                    self.calls[index].flags |= RINGING;
                    self.raise(index, kind);
                }
            }
            CallbackKind::OutgoingCallAccepted => {
                self.calls[index].flags |= ACCEPTED;
                if flags & ACCEPTED == 0 {
                    self.raise(index, kind);
                }
            }
            CallbackKind::CallEnded(_) => {
                if self.calls[index].outgoing && flags & ACCEPTED == 0 {
                    self.calls[index].flags |= ACCEPTED;
                    self.raise(index, CallbackKind::OutgoingCallAccepted);
                }
                self.raise(index, kind);
            }
            CallbackKind::OutgoingCallRejected(_) | CallbackKind::IncomingCallCancelled(_) => {
                self.raise(index, kind);
            }
        }
        Ok(())
    }

    /// After a snapshot: a call the device holds as live but the snapshot leaves out is over for
    /// this device (the switchboard evicted it, or, after more than `CALLS_PER_USER_MAX` newer
    /// calls for the user, no longer lists it): raise its terminal callback as fits the device's
    /// part, with the reason `connection_lost` (the real one is not known), and stop vouching for
    /// its status.
    fn close_missing(&mut self, notices: &[Notice]) {
        for index in 0..self.calls.len() {
            let call = self.calls[index];
            let listed = notices.iter().any(|n| n.call.session == call.view.session);
            if listed || call.view.status.is_terminal() || call.flags & GONE != 0 {
                continue; // up to date, or its final status is known
            }
            let in_call = call.flags & JOINED != 0 || call.outgoing && call.flags & ACCEPTED != 0;
            if call.flags & TERMINAL != 0 {
                // The device was done with it already: nothing to raise.
            } else if in_call {
                self.raise(index, CallbackKind::CallEnded(EndReason::ConnectionLost));
            } else if !call.outgoing && call.flags & RECEIVED != 0 {
                self.raise(index, CallbackKind::IncomingCallCancelled(CancelReason::ConnectionLost));
            } else {
                self.calls[index].flags |= TERMINAL;
            }
            // Over for this device: hidden, and dropped a retention on.
            self.calls[index].flags |= GONE;
            let call = &mut self.calls[index];
            if call.terminal_seen_ms.get().is_none() {
                call.terminal_seen_ms = SeenAt::at(self.now_ms);
            }
        }
    }
}

/// Whether `kind` may follow what the device raised so far, for its role: outgoing callbacks
/// only on the initiator's devices, incoming ones only on a receiver's, and nothing says
/// "rejected" after "accepted". A correct switchboard never sends anything else.
fn fits(kind: CallbackKind, outgoing: bool, flags: u8) -> bool {
    match kind {
        CallbackKind::IncomingCallReceived | CallbackKind::IncomingCallCancelled(_) => !outgoing,
        CallbackKind::OutgoingCallRinging | CallbackKind::OutgoingCallAccepted => outgoing,
        CallbackKind::OutgoingCallRejected(_) => outgoing && flags & ACCEPTED == 0,
        // A receiver device ends only a call it rang for (and accepted: the switchboard knows).
        CallbackKind::CallEnded(_) => outgoing || flags & RECEIVED != 0,
    }
}

/// What a device that learns of a call only from a snapshot already knows about it: whether the
/// call is over for it.
fn implied_flags(call: &LocalCall, callback: Option<CallbackKind>) -> u8 {
    let over = call.view.status.is_terminal() || callback.is_some_and(CallbackKind::is_terminal);
    if over {
        TERMINAL
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::{bump, SeenAt};

    #[test]
    fn a_seen_time_reads_back_as_written() {
        assert_eq!(SeenAt::NEVER.get(), None);
        assert_eq!(SeenAt::at(0).get(), Some(0), "time 0 is a time, not none");
        assert_eq!(SeenAt::at(1_234).get(), Some(1_234));
        assert_eq!(SeenAt::at(u64::MAX).get(), Some(u64::MAX - 1), "the one time kept one ms early");
    }

    #[test]
    fn a_counter_stops_at_its_maximum() {
        let mut c = u32::MAX - 1;
        bump(&mut c);
        assert_eq!(c, u32::MAX);
        bump(&mut c);
        assert_eq!(c, u32::MAX, "no overflow, no wrap to 0");
    }
}
