//! Users and devices as the switchboard keeps them: connections, the reconnect grace, the
//! calls in each user's audience, and the per-device answers that make retries safe.

use crate::config::{CALLS_PER_USER_MAX, PENDING_REQUESTS_MAX};
use crate::error::ErrorCode;
use crate::ids::{ConnectionId, RequestId, SessionId};
use smallvec::SmallVec;

/// A request's answer as remembered for a repeat, packed in 16 bytes: the request id (0: empty
/// slot; clients number requests from 1) and the call's session, or the error code's index with
/// the top bit set.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct StoredAnswer {
    id: u64,
    packed: u64,
}

/// The answer unpacked: a session it names reads as one (a model checker looks for them).
impl std::fmt::Debug for StoredAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAnswer").field("id", &self.id).field("result", &self.result()).finish()
    }
}

const ERROR_BIT: u64 = 1 << 63;

/// A success without a call (a push registration): the error bit with no code's index.
const NO_CALL: u64 = u64::MAX;

impl StoredAnswer {
    fn new(id: RequestId, result: Result<Option<SessionId>, ErrorCode>) -> Self {
        let packed = match result {
            Ok(Some(session)) => {
                debug_assert_eq!(session.0 & ERROR_BIT, 0, "slot reuse count below 2^31");
                session.0
            }
            Ok(None) => NO_CALL,
            Err(code) => ERROR_BIT | code.index() as u64,
        };
        Self { id: id.0, packed }
    }

    fn result(self) -> Result<Option<SessionId>, ErrorCode> {
        if self.packed == NO_CALL {
            Ok(None)
        } else if self.packed & ERROR_BIT == 0 {
            Ok(Some(SessionId(self.packed)))
        } else {
            Err(ErrorCode::ALL[(self.packed & !ERROR_BIT) as usize])
        }
    }
}

/// What a device's remembered answers know of a request id.
pub(crate) enum Seen {
    /// Newer than every id seen: act on it.
    New,
    /// A repeat whose answer is remembered.
    Repeat(Result<Option<SessionId>, ErrorCode>),
    /// A repeat of an id whose answer is forgotten: the device said it had it (or its timeout).
    Stale,
}

/// Answers kept inside the device record; more (a device with several requests outstanding at
/// once) go to a heap buffer.
const ANSWERS_INLINE: usize = 4;

/// A device's requests as the switchboard remembers them: the newest id seen, and the answers
/// the device may still ask for again. Every request message carries the lowest id the device
/// still waits an answer for (`answered_below`); the answers below it are forgotten. So the
/// record holds the device's outstanding requests only, and never more than
/// `PENDING_REQUESTS_MAX`, the most a client keeps outstanding.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeviceRecord {
    /// The device's current connection (its last connect's).
    pub conn: ConnectionId,
    last_id: u64,
    /// Oldest first; ids increase.
    answers: SmallVec<[StoredAnswer; ANSWERS_INLINE]>,
}

impl DeviceRecord {
    pub fn seen(&self, id: RequestId) -> Seen {
        if id.0 > self.last_id {
            return Seen::New;
        }
        match self.answers.iter().find(|a| a.id == id.0) {
            Some(answer) => Seen::Repeat(answer.result()),
            None => Seen::Stale,
        }
    }

    /// Forgets the answers to ids below `answered_below`: the device has them, or gave up on them.
    pub fn release(&mut self, answered_below: RequestId) {
        // The usual case first: the device had every answer it kept here, or none is kept.
        match self.answers.last() {
            None => {}
            Some(newest) if newest.id < answered_below.0 => self.answers.clear(),
            Some(_) => {
                let done = self.answers.iter().take_while(|a| a.id < answered_below.0).count();
                if done > 0 {
                    self.answers.drain(..done);
                }
            }
        }
    }

    /// Remembers the answer to a new request. Returns whether an older answer had to be forgotten
    /// to stay within `PENDING_REQUESTS_MAX` (a client that keeps more outstanding than that
    /// breaks the protocol).
    pub fn remember(&mut self, id: RequestId, result: Result<Option<SessionId>, ErrorCode>) -> bool {
        debug_assert!(id.0 > self.last_id, "remembered ids increase");
        self.last_id = id.0;
        let full = self.answers.len() == PENDING_REQUESTS_MAX;
        if full {
            self.answers.remove(0);
        }
        self.answers.push(StoredAnswer::new(id, result));
        debug_assert!(self.answers.len() <= PENDING_REQUESTS_MAX);
        full
    }

    /// Answers remembered now.
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.answers.len()
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
    /// Bit `i`: device `i` is registered for push (until it unregisters).
    pub push: u16,
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
#[derive(Clone, Copy)]
pub(crate) struct CallList {
    len: u8,
    items: [SessionId; CALLS_PER_USER_MAX],
}

impl Default for CallList {
    fn default() -> Self {
        Self { len: 0, items: [SessionId(0); CALLS_PER_USER_MAX] }
    }
}

/// Only the sessions listed: the slots past `len` hold whatever was there before, which no
/// method reads (a model checker that merges equal texts must not see them).
impl std::fmt::Debug for CallList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
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

#[cfg(test)]
mod tests {
    use super::{DeviceRecord, Seen};
    use crate::config::PENDING_REQUESTS_MAX;
    use crate::error::ErrorCode;
    use crate::ids::{RequestId, SessionId};

    #[test]
    fn answers_are_kept_until_the_device_releases_them() {
        let mut device = DeviceRecord::default();
        for id in 1..=10 {
            assert!(matches!(device.seen(RequestId(id)), Seen::New));
            assert!(!device.remember(RequestId(id), Err(ErrorCode::AlreadyInCall)));
        }
        // All ten outstanding at once: every one is a repeat with its answer.
        assert_eq!(device.remembered(), 10);
        assert!(matches!(device.seen(RequestId(1)), Seen::Repeat(Err(ErrorCode::AlreadyInCall))));
        // The device has the answers below 7: they are forgotten, a repeat of one is stale.
        device.release(RequestId(7));
        assert_eq!(device.remembered(), 4);
        assert!(matches!(device.seen(RequestId(6)), Seen::Stale));
        assert!(matches!(device.seen(RequestId(7)), Seen::Repeat(_)));
        assert!(matches!(device.seen(RequestId(11)), Seen::New));
    }

    #[test]
    fn a_device_never_makes_the_record_hold_more_than_its_outstanding_limit() {
        let mut device = DeviceRecord::default();
        let limit = PENDING_REQUESTS_MAX as u64;
        for id in 1..=limit {
            assert!(!device.remember(RequestId(id), Ok(Some(SessionId(id)))));
        }
        // One more without a release breaks the protocol: the oldest answer goes.
        assert!(device.remember(RequestId(limit + 1), Ok(None)));
        assert_eq!(device.remembered(), PENDING_REQUESTS_MAX);
        assert!(matches!(device.seen(RequestId(1)), Seen::Stale));
        assert!(matches!(device.seen(RequestId(2)), Seen::Repeat(Ok(Some(SessionId(2))))));
        assert!(matches!(device.seen(RequestId(limit + 1)), Seen::Repeat(Ok(None))));
    }
}
