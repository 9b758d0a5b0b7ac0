//! The trace hash: a 64-bit hash computed incrementally over every trace record, in order (no
//! trace is kept in memory, nothing is formatted or serialized).
//!
//! Each record is folded as a short sequence of 64-bit words taken straight from its fields
//! ([`Fold`]); each word goes into the state with `h = (h.rotate_left(5) ^ word) * K` (the
//! FxHash step, `K = 0x517cc1b727220a95`), starting from the FNV-1a offset basis. The encoding
//! of each type is fixed here and injective: small fields (enum variants, flags, the presence of
//! an optional value) are packed into one word at fixed bit positions, ids and times take a word
//! each, a missing optional time folds as 0 with its presence bit clear. Two runs with the same
//! seed and inputs produce the same records and so the same hash; the hash does not depend on
//! JSON formatting or on serde.

use crate::trace::Record;
use callcore::{
    client, switchboard, CallView, Callback, CallbackKind, ClientMsg, DeviceId, ErrorCode, Notice, Receiver,
    Request, ServerMsg,
};

const K: u64 = 0x517c_c1b7_2722_0a95;
const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// The running hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHasher {
    state: u64,
}

impl Default for TraceHasher {
    fn default() -> Self {
        Self { state: BASIS }
    }
}

impl TraceHasher {
    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.state
    }

    /// Folds one word.
    #[inline]
    pub fn word(&mut self, w: u64) {
        self.state = (self.state.rotate_left(5) ^ w).wrapping_mul(K);
    }

    /// Folds one value.
    #[inline]
    pub fn fold<T: Fold + ?Sized>(&mut self, value: &T) {
        value.fold(self);
    }
}

/// A value with a fixed encoding as hash words.
pub trait Fold {
    /// Folds the value's words into `h`.
    fn fold(&self, h: &mut TraceHasher);
}

/// A device as one word: user in bits 16..48, index in bits 0..16; bits 56.. are free for a tag.
#[inline]
fn device_word(d: DeviceId) -> u64 {
    (u64::from(d.user.0) << 16) | u64::from(d.index)
}

/// A tag in the top byte of a word whose low 56 bits hold something else.
#[inline]
fn tagged(tag: u64, low: u64) -> u64 {
    debug_assert!(low < 1 << 56);
    (tag << 56) | low
}

/// A callback kind as 16 bits: 1 + variant in bits 8.., 1 + reason in bits 0..8 (0: none).
#[inline]
fn callback_bits(kind: Option<CallbackKind>) -> u64 {
    let Some(kind) = kind else { return 0 };
    let (variant, reason) = match kind {
        CallbackKind::IncomingCallReceived => (0, 0),
        CallbackKind::OutgoingCallRinging => (1, 0),
        CallbackKind::OutgoingCallAccepted => (2, 0),
        CallbackKind::OutgoingCallRejected(r) => (3, 1 + r as u64),
        CallbackKind::IncomingCallCancelled(r) => (4, 1 + r as u64),
        CallbackKind::CallEnded(r) => (5, 1 + r as u64),
    };
    ((1 + variant) << 8) | reason
}

/// A receiver as (kind bit, id).
#[inline]
fn receiver_parts(r: Receiver) -> (u64, u64) {
    match r {
        Receiver::User(u) => (0, u64::from(u.0)),
        Receiver::Group(g) => (1, u64::from(g.0)),
    }
}

/// A call object as 7 words: session; initiator (bits 0..32) and receiver id (32..64); a packed
/// word (receiver kind bit 0, call type bit 1, status bits 2..5, 1 + reason bits 5..8 (0:
/// none), presence of ringing/accepted/terminal times bits 8, 9, 10, and `extra` from bit 16);
/// the creation time; the ringing, accepted and terminal times (0 when absent).
#[inline]
fn fold_view(h: &mut TraceHasher, v: &CallView, extra: u64) {
    let (kind, receiver) = receiver_parts(v.receiver);
    let reason = v.reason.map_or(0, |r| 1 + r as u64);
    let packed = kind
        | (v.call_type as u64) << 1
        | (v.status as u64) << 2
        | reason << 5
        | u64::from(v.ringing_at_ms.is_some()) << 8
        | u64::from(v.accepted_at_ms.is_some()) << 9
        | u64::from(v.terminal_at_ms.is_some()) << 10
        | extra << 16;
    h.word(v.session.0);
    h.word(u64::from(v.initiator.0) | receiver << 32);
    h.word(packed);
    h.word(v.created_at_ms);
    h.word(v.ringing_at_ms.unwrap_or(0));
    h.word(v.accepted_at_ms.unwrap_or(0));
    h.word(v.terminal_at_ms.unwrap_or(0));
}

impl Fold for CallView {
    fn fold(&self, h: &mut TraceHasher) {
        fold_view(h, self, 0);
    }
}

impl Fold for Notice {
    /// The call object with `1 + callback` (0: none) as its extra bits.
    fn fold(&self, h: &mut TraceHasher) {
        fold_view(h, &self.call, callback_bits(self.callback));
    }
}

impl Fold for Callback {
    fn fold(&self, h: &mut TraceHasher) {
        fold_view(h, &self.call, callback_bits(Some(self.kind)));
    }
}

impl Fold for Request {
    /// A packed word (variant bits 0..2; initiate: receiver kind bit 2, call type bit 3, ring
    /// timeout present bit 4; reject: status bits 2..4; start session, register and unregister
    /// push: 1, 2 and 3 in bits 8..), then the receiver id and ring timeout (0 when absent), or
    /// the session.
    fn fold(&self, h: &mut TraceHasher) {
        match *self {
            Request::Initiate { to, call_type, ring_timeout_ms } => {
                let (kind, id) = receiver_parts(to);
                h.word(kind << 2 | (call_type as u64) << 3 | u64::from(ring_timeout_ms.is_some()) << 4);
                h.word(id);
                h.word(ring_timeout_ms.unwrap_or(0));
            }
            Request::Accept { session } => {
                h.word(1);
                h.word(session.0);
            }
            Request::Reject { session, status } => {
                h.word(2 | (status as u64) << 2);
                h.word(session.0);
            }
            Request::End { session } => {
                h.word(3);
                h.word(session.0);
            }
            // Contract version 2's requests: tags above the packed bits of the others.
            Request::StartSession { session } => {
                h.word(1 << 8);
                h.word(session.0);
            }
            Request::RegisterPush => h.word(2 << 8),
            Request::UnregisterPush => h.word(3 << 8),
        }
    }
}

impl Fold for ClientMsg {
    /// Request: 0, the id, the request, the id released below. Ack: 1, the session.
    fn fold(&self, h: &mut TraceHasher) {
        match self {
            ClientMsg::Request { id, request, answered_below } => {
                h.word(0);
                h.word(id.0);
                request.fold(h);
                h.word(answered_below.0);
            }
            ClientMsg::Ack { session } => {
                h.word(1);
                h.word(session.0);
            }
        }
    }
}

/// A success without a call (a push registration) in [`fold_result`]: above every error's.
const NO_CALL_WORD: u64 = 1 << 8;

/// A request's result: `1 + code` for an error, else 0 and the call object, or
/// [`NO_CALL_WORD`] for a success without one.
fn fold_result(h: &mut TraceHasher, result: &Result<Option<CallView>, ErrorCode>) {
    match result {
        Ok(Some(view)) => {
            h.word(0);
            view.fold(h);
        }
        Ok(None) => h.word(NO_CALL_WORD),
        Err(code) => h.word(1 + code.index() as u64),
    }
}

impl Fold for ServerMsg {
    /// Answer: 0, the id, the result. Notify: 1, the notice. Snapshot: 2, the count, each notice.
    fn fold(&self, h: &mut TraceHasher) {
        match self {
            ServerMsg::Answer { id, result } => {
                h.word(0);
                h.word(id.0);
                fold_result(h, result);
            }
            ServerMsg::Notify(notice) => {
                h.word(1);
                notice.fold(h);
            }
            ServerMsg::Snapshot(notices) => {
                h.word(2);
                h.word(notices.len() as u64);
                for notice in notices {
                    notice.fold(h);
                }
            }
        }
    }
}

impl Fold for switchboard::Timer {
    /// Ring: 0, the session. Grace: 1, the user. Evict: 2, the session. Session: 3, the session.
    fn fold(&self, h: &mut TraceHasher) {
        let (tag, id) = match *self {
            switchboard::Timer::Ring(s) => (0, s.0),
            switchboard::Timer::Grace(u) => (1, u64::from(u.0)),
            switchboard::Timer::Evict(s) => (2, s.0),
            switchboard::Timer::Session(s) => (3, s.0),
        };
        h.word(tag);
        h.word(id);
    }
}

impl Fold for client::Timer {
    /// Request: the id.
    fn fold(&self, h: &mut TraceHasher) {
        let client::Timer::Request(id) = *self;
        h.word(id.0);
    }
}

impl Fold for switchboard::StatusChange {
    /// The session; a packed word (1 + from bits 0..4 (0: creation), to bits 4..8, 1 + event
    /// bits 8..13 (0: none), `by` present bit 13, `by`'s user bits 32..64); the time.
    fn fold(&self, h: &mut TraceHasher) {
        let from = self.from.map_or(0, |s| 1 + s as u64);
        let event = self.event.map_or(0, |e| 1 + e as u64);
        let by = self.by.map_or(0, |u| 1 << 13 | u64::from(u.0) << 32);
        h.word(self.session.0);
        h.word(from | (self.to as u64) << 4 | event << 8 | by);
        h.word(self.at_ms);
    }
}

impl Fold for switchboard::Output {
    /// Send: 0 tagged onto the device, the message. SetTimer: 1, the timer, the time.
    /// CancelTimer: 2, the timer. Status: 3, the change. Push: 4 tagged onto the device, the
    /// session, 0 for a ring or 1 + the reason for a cancel.
    fn fold(&self, h: &mut TraceHasher) {
        match self {
            switchboard::Output::Send { to, msg } => {
                h.word(tagged(0, device_word(*to)));
                msg.fold(h);
            }
            switchboard::Output::SetTimer { timer, at_ms } => {
                h.word(tagged(1, 0));
                timer.fold(h);
                h.word(*at_ms);
            }
            switchboard::Output::CancelTimer { timer } => {
                h.word(tagged(2, 0));
                timer.fold(h);
            }
            switchboard::Output::Status(change) => {
                h.word(tagged(3, 0));
                change.fold(h);
            }
            switchboard::Output::Push(push) => {
                h.word(tagged(4, device_word(push.to)));
                h.word(push.session.0);
                h.word(match push.kind {
                    callcore::push::PushKind::Ring => 0,
                    callcore::push::PushKind::Cancel(reason) => 1 + reason as u64,
                });
            }
        }
    }
}

impl Fold for client::Output {
    /// Send: 0, the message. Callback: 1, the callback. Answer: 2, the id, the request, the
    /// result. SetTimer: 3, the timer, the time. CancelTimer: 4, the timer.
    fn fold(&self, h: &mut TraceHasher) {
        match self {
            client::Output::Send(msg) => {
                h.word(0);
                msg.fold(h);
            }
            client::Output::Callback(callback) => {
                h.word(1);
                callback.fold(h);
            }
            client::Output::Answer { id, request, result } => {
                h.word(2);
                h.word(id.0);
                request.fold(h);
                fold_result(h, result);
            }
            client::Output::SetTimer { timer, at_ms } => {
                h.word(3);
                timer.fold(h);
                h.word(*at_ms);
            }
            client::Output::CancelTimer { timer } => {
                h.word(4);
                timer.fold(h);
            }
        }
    }
}

impl Fold for Record<'_> {
    /// The record's kind (its variant's position, from 0) in the top byte of its first word,
    /// whose low bits are the device (0 for records without one), then the time, then the rest.
    fn fold(&self, h: &mut TraceHasher) {
        match self {
            Record::Connected { at_ms, device } => head(h, 0, *device, *at_ms),
            Record::Disconnected { at_ms, device } => head(h, 1, *device, *at_ms),
            Record::Command { at_ms, device, request } => {
                head(h, 2, *device, *at_ms);
                request.fold(h);
            }
            Record::SwitchboardConnect { at_ms, device } => head(h, 3, *device, *at_ms),
            Record::SwitchboardDisconnect { at_ms, device } => head(h, 4, *device, *at_ms),
            Record::ToSwitchboard { at_ms, from, msg } => {
                head(h, 5, *from, *at_ms);
                msg.fold(h);
            }
            Record::ToClient { at_ms, to, msg } => {
                head(h, 6, *to, *at_ms);
                msg.fold(h);
            }
            Record::SwitchboardTimer { at_ms, timer } => {
                h.word(tagged(7, 0));
                h.word(*at_ms);
                timer.fold(h);
            }
            Record::ClientTimer { at_ms, device, timer } => {
                head(h, 8, *device, *at_ms);
                timer.fold(h);
            }
            Record::SwitchboardOutput { at_ms, output } => {
                h.word(tagged(9, 0));
                h.word(*at_ms);
                output.fold(h);
            }
            Record::ClientOutput { at_ms, device, output } => {
                head(h, 10, *device, *at_ms);
                output.fold(h);
            }
            Record::Lost { at_ms, device, upstream } => {
                head(h, 11 + u64::from(*upstream), *device, *at_ms);
            }
        }
    }
}

#[inline]
fn head(h: &mut TraceHasher, tag: u64, device: DeviceId, at_ms: u64) {
    h.word(tagged(tag, device_word(device)));
    h.word(at_ms);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use callcore::{CallType, RequestId, SessionId, Status, UserId};

    fn hash(record: &Record<'_>) -> u64 {
        let mut h = TraceHasher::default();
        h.fold(record);
        h.finish()
    }

    /// A ringing audio call 7 from user 1 to user 2 (also for other modules' tests).
    pub(crate) fn view() -> CallView {
        CallView {
            session: SessionId(7),
            initiator: UserId(1),
            receiver: Receiver::User(UserId(2)),
            call_type: CallType::Audio,
            status: Status::Ringing,
            reason: None,
            created_at_ms: 10,
            ringing_at_ms: Some(20),
            accepted_at_ms: None,
            terminal_at_ms: None,
        }
    }

    #[test]
    fn equal_records_hash_equal_and_different_ones_differ() {
        let device = DeviceId::new(UserId(1), 0);
        let msg = ServerMsg::Notify(Notice { call: view(), callback: None });
        let base = hash(&Record::ToClient { at_ms: 5, to: device, msg: &msg });
        assert_eq!(base, hash(&Record::ToClient { at_ms: 5, to: device, msg: &msg }));
        let mut variants = vec![
            hash(&Record::ToClient { at_ms: 6, to: device, msg: &msg }),
            hash(&Record::ToClient { at_ms: 5, to: DeviceId::new(UserId(1), 1), msg: &msg }),
            hash(&Record::Connected { at_ms: 5, device }),
            hash(&Record::Disconnected { at_ms: 5, device }),
            hash(&Record::Lost { at_ms: 5, device, upstream: true }),
            hash(&Record::Lost { at_ms: 5, device, upstream: false }),
        ];
        let changes: [fn(&mut CallView); 8] = [
            |v| v.session = SessionId(8),
            |v| v.receiver = Receiver::Group(callcore::GroupId(2)),
            |v| v.call_type = CallType::Video,
            |v| v.status = Status::Accepted,
            |v| v.reason = Some(callcore::Reason::Hangup),
            |v| v.ringing_at_ms = Some(0),
            |v| v.accepted_at_ms = Some(0),
            |v| v.terminal_at_ms = Some(20),
        ];
        for change in changes {
            let mut v = view();
            change(&mut v);
            let msg = ServerMsg::Notify(Notice { call: v, callback: None });
            variants.push(hash(&Record::ToClient { at_ms: 5, to: device, msg: &msg }));
        }
        let kinds = [Some(CallbackKind::IncomingCallReceived), Some(CallbackKind::OutgoingCallRinging)];
        for callback in kinds {
            let msg = ServerMsg::Notify(Notice { call: view(), callback });
            variants.push(hash(&Record::ToClient { at_ms: 5, to: device, msg: &msg }));
        }
        let answer = ServerMsg::Answer { id: RequestId(3), result: Ok(Some(view())) };
        variants.push(hash(&Record::ToClient { at_ms: 5, to: device, msg: &answer }));
        let error = ServerMsg::Answer { id: RequestId(3), result: Err(ErrorCode::Timeout) };
        variants.push(hash(&Record::ToClient { at_ms: 5, to: device, msg: &error }));
        variants.push(base);
        let n = variants.len();
        variants.sort_unstable();
        variants.dedup();
        assert_eq!(variants.len(), n, "every changed field changes the hash");
    }

    #[test]
    fn one_more_record_changes_the_hash() {
        let mut a = TraceHasher::default();
        let device = DeviceId::new(UserId(1), 0);
        a.fold(&Record::Connected { at_ms: 0, device });
        let before = a.finish();
        a.fold(&Record::Connected { at_ms: 0, device });
        assert_ne!(a.finish(), before);
    }
}
