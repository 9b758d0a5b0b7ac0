//! Users and devices as the switchboard keeps them: connections, the reconnect grace, the
//! calls in each user's audience, and the per-device answers that make retries safe.

use crate::config::{CALLS_PER_USER_MAX, DEDUP_WINDOW};
use crate::error::ErrorCode;
use crate::ids::{RequestId, SessionId};

/// A request's answer as remembered for a repeat, packed in 16 bytes: the request id (0: empty
/// slot; clients number requests from 1) and the call's session, or the error code's index with
/// the top bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StoredAnswer {
    id: u64,
    packed: u64,
}

const ERROR_BIT: u64 = 1 << 63;

impl StoredAnswer {
    fn new(id: RequestId, result: Result<SessionId, ErrorCode>) -> Self {
        let packed = match result {
            Ok(session) => {
                debug_assert_eq!(session.0 & ERROR_BIT, 0, "slot reuse count below 2^31");
                session.0
            }
            Err(code) => ERROR_BIT | code.index() as u64,
        };
        Self { id: id.0, packed }
    }

    fn result(self) -> Result<SessionId, ErrorCode> {
        if self.packed & ERROR_BIT == 0 {
            Ok(SessionId(self.packed))
        } else {
            Err(ErrorCode::ALL[(self.packed & !ERROR_BIT) as usize])
        }
    }
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
    last_id: u64,
    answers: [StoredAnswer; DEDUP_WINDOW],
    next: u8,
}

impl DeviceRecord {
    pub fn seen(&self, id: RequestId) -> Seen {
        if id.0 > self.last_id {
            return Seen::New;
        }
        // Id 0 marks an empty slot (clients number requests from 1): never a repeat.
        match self.answers.iter().find(|a| a.id == id.0 && id.0 != 0) {
            Some(answer) => Seen::Repeat(answer.result()),
            None => Seen::Stale,
        }
    }

    pub fn remember(&mut self, id: RequestId, result: Result<SessionId, ErrorCode>) {
        debug_assert!(id.0 > self.last_id, "remembered ids increase");
        self.last_id = id.0;
        self.answers[self.next as usize] = StoredAnswer::new(id, result);
        self.next = ((self.next as usize + 1) % DEDUP_WINDOW) as u8;
    }
}

/// A user as the switchboard keeps it: 128 bytes on a 128-byte boundary, a whole pair of cache
/// lines (the unit the adjacent-line prefetcher loads) shared with no other user
/// (`docs/performance.md`, "Eighth round").
#[derive(Clone, Debug, Default)]
#[repr(align(128))]
pub(crate) struct UserRecord {
    pub registered: bool,
    /// Bit `i`: device `i` is connected.
    pub connected: u16,
    /// The devices' request dedup state, by index (created on a device's first message).
    pub devices: Vec<DeviceRecord>,
    /// Calls in this user's audience, oldest first, at most `CALLS_PER_USER_MAX`.
    pub calls: CallList,
    /// When the grace runs out, while no device is connected after one was.
    pub grace_deadline_ms: Option<u64>,
}

impl UserRecord {
    pub fn any_connected(&self) -> bool {
        self.connected != 0
    }

    pub fn is_connected(&self, index: u16) -> bool {
        index < 16 && self.connected & (1 << index) != 0
    }

    /// Connected device indexes, in order.
    pub fn connected_devices(&self) -> impl Iterator<Item = u16> {
        let mask = self.connected;
        (0..16u16).filter(move |i| mask & (1 << i) != 0)
    }
}

/// A user's audience list, kept inline (no allocation per user): at most `CALLS_PER_USER_MAX`
/// sessions, oldest first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallList {
    len: u8,
    items: [SessionId; CALLS_PER_USER_MAX],
}

impl Default for CallList {
    fn default() -> Self {
        Self { len: 0, items: [SessionId(0); CALLS_PER_USER_MAX] }
    }
}

impl CallList {
    pub fn as_slice(&self) -> &[SessionId] {
        &self.items[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    fn retain(&mut self, keep: impl Fn(&SessionId) -> bool) {
        let mut kept = 0;
        for i in 0..self.len as usize {
            if keep(&self.items[i]) {
                self.items[kept] = self.items[i];
                kept += 1;
            }
        }
        self.len = kept as u8;
    }

    fn remove(&mut self, index: usize) {
        let len = self.len as usize;
        self.items.copy_within(index + 1..len, index);
        self.len -= 1;
    }

    fn push(&mut self, session: SessionId) {
        assert!((self.len as usize) < CALLS_PER_USER_MAX, "audience list full");
        self.items[self.len as usize] = session;
        self.len += 1;
    }
}

/// Adds `session` to an audience list, first dropping `gone` entries (evicted calls), then, if
/// still full, the oldest entry for which `droppable` holds, else the oldest.
pub(crate) fn enlist(
    calls: &mut CallList,
    session: SessionId,
    gone: impl Fn(SessionId) -> bool,
    droppable: impl Fn(SessionId) -> bool,
) {
    calls.retain(|s| !gone(*s));
    if calls.len() >= CALLS_PER_USER_MAX {
        let victim = calls.as_slice().iter().position(|s| droppable(*s)).unwrap_or(0);
        calls.remove(victim);
    }
    calls.push(session);
    debug_assert!(calls.len() <= CALLS_PER_USER_MAX);
}
