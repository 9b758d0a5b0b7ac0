//! Users and devices as the switchboard keeps them: connections, the reconnect grace, the
//! calls in each user's audience, and the per-device answers that make retries safe.

use crate::config::{CALLS_PER_USER_MAX, DEDUP_WINDOW};
use crate::error::ErrorCode;
use crate::ids::{RequestId, SessionId};
use serde::{Deserialize, Serialize};

/// A request's answer as remembered for a repeat: the call's session or the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAnswer {
    pub id: RequestId,
    pub result: Result<SessionId, ErrorCode>,
}

/// What the dedup window knows of a request id.
pub(crate) enum Seen {
    /// Newer than every id seen: act on it.
    New,
    /// A repeat whose answer is remembered.
    Repeat(Result<SessionId, ErrorCode>),
    /// A repeat older than the window.
    Stale,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct DeviceRecord {
    pub connected: bool,
    last_id: u64,
    answers: [Option<StoredAnswer>; DEDUP_WINDOW],
    next: u8,
}

impl DeviceRecord {
    pub fn seen(&self, id: RequestId) -> Seen {
        if id.0 > self.last_id {
            return Seen::New;
        }
        match self.answers.iter().flatten().find(|a| a.id == id) {
            Some(answer) => Seen::Repeat(answer.result),
            None => Seen::Stale,
        }
    }

    pub fn remember(&mut self, id: RequestId, result: Result<SessionId, ErrorCode>) {
        debug_assert!(id.0 > self.last_id, "remembered ids increase");
        self.last_id = id.0;
        self.answers[self.next as usize] = Some(StoredAnswer { id, result });
        self.next = ((self.next as usize + 1) % DEDUP_WINDOW) as u8;
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct UserRecord {
    pub registered: bool,
    pub devices: Vec<DeviceRecord>,
    /// Calls in this user's audience, oldest first, at most `CALLS_PER_USER_MAX`.
    pub calls: Vec<SessionId>,
    /// When the grace runs out, while no device is connected after one was.
    pub grace_deadline_ms: Option<u64>,
}

impl UserRecord {
    pub fn any_connected(&self) -> bool {
        self.devices.iter().any(|d| d.connected)
    }
}

/// Adds `session` to an audience list, first dropping `gone` entries (evicted calls), then, if
/// still full, the oldest entry for which `droppable` holds, else the oldest.
pub(crate) fn enlist(
    calls: &mut Vec<SessionId>,
    session: SessionId,
    gone: impl Fn(SessionId) -> bool,
    droppable: impl Fn(SessionId) -> bool,
) {
    calls.retain(|s| !gone(*s));
    if calls.len() >= CALLS_PER_USER_MAX {
        let victim = calls.iter().position(|s| droppable(*s)).unwrap_or(0);
        calls.remove(victim);
    }
    calls.push(session);
    debug_assert!(calls.len() <= CALLS_PER_USER_MAX);
}
