//! The client: one device's SDK role. It sends requests, applies the switchboard's notices,
//! keeps the device's view of its calls, and raises each listener callback at most once.
//!
//! Run loop: feed one [`Input`] ([`Client::handle_input`]), then drain [`Client::poll_output`]
//! until `None`.
//!
//! Each call the device knows is a small machine of its own: where the call stands on this
//! device (live, joined, over, or gone from a snapshot) and how far its callbacks went, a state
//! of the callback grammar ([`crate::grammar`]), which admits or refuses every callback. This
//! file holds the inputs, the outputs and the dispatch; `requests.rs` the device's requests
//! (sent, resent, answered, timed out); `view.rs` its calls and their callbacks.

mod requests;
mod view;

use crate::call::{CallView, Callback};
use crate::config::{Config, CLIENT_CALLS_MAX, PENDING_REQUESTS_MAX};
use crate::error::{ClientError, ErrorCode};
#[cfg(feature = "hooks")]
use crate::hint;
use crate::ids::{ConnectionId, DeviceId, RequestId, SessionId, UserId};
use crate::message::{ClientMsg, Request, ServerMsg};
use requests::Pending;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::VecDeque;
use view::{LocalCall, Stage};

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
        /// Success with the call object (none for a push registration), or an error code.
        result: Result<Option<CallView>, ErrorCode>,
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
        self.calls.iter().find(|c| c.view.session == session && c.stage != Stage::Gone).map(|c| &c.view)
    }

    /// Every call the device knows, as it sees them.
    pub fn calls(&self) -> impl Iterator<Item = &CallView> {
        self.calls.iter().filter(|c| c.stage != Stage::Gone).map(|c| &c.view)
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

    #[cfg(feature = "hooks")]
    /// Writes everything that decides what the client does next, and nothing else (no
    /// counters, no queued outputs), for a model checker that merges equal states.
    pub fn digest(&self, out: &mut dyn std::fmt::Write) -> std::fmt::Result {
        write!(
            out,
            "{:?}{}{}{}{:?}",
            self.device(),
            self.request_timeout_ms,
            self.call_retention_ms,
            self.connected,
            self.conn
        )?;
        write!(
            out,
            "{}{}{:?}{:?}{:?} now_ms: {}",
            // Only whether the device connected more than once is ever read.
            self.connections.min(2),
            self.next_request,
            self.pending,
            self.rare,
            self.calls,
            self.now_ms
        )
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
    #[inline]
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

    fn handle_disconnected(&mut self, now_ms: u64, conn: ConnectionId) -> Result<(), ClientError> {
        self.now_ms = self.now_ms.max(now_ms);
        if !self.connected || conn != self.conn {
            bump(&mut self.counts.dropped);
            return Err(ClientError::StaleConnection(conn));
        }
        self.connected = false;
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::bump;

    #[test]
    fn a_counter_stops_at_its_maximum() {
        let mut c = u32::MAX - 1;
        bump(&mut c);
        assert_eq!(c, u32::MAX);
        bump(&mut c);
        assert_eq!(c, u32::MAX, "no overflow, no wrap to 0");
    }
}
