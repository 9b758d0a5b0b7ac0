//! The call as the outside world sees it: statuses, parts, reasons, the call object and callbacks.

use crate::ids::{GroupId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    /// A voice call.
    Audio,
    /// A video call.
    Video,
}

/// Who is called: one user or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receiver {
    /// A one-to-one call.
    User(UserId),
    /// A group call: every other member is rung.
    Group(GroupId),
}

/// A call's status. The last five are terminal and absorbing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created; no receiver device has acknowledged it yet.
    Initiated,
    /// At least one receiver device acknowledged it and rings.
    Ringing,
    /// A receiver accepted; the media session runs.
    Accepted,
    /// The receiver declined (group: every rung member declined, nobody accepted).
    Rejected,
    /// The receiver was in another call, or declined with status busy.
    Busy,
    /// The initiator withdrew before anyone accepted, or was gone for good.
    Cancelled,
    /// Nobody accepted within the ring timeout.
    Unanswered,
    /// Accepted, then ended.
    Ended,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Initiated,
        Status::Ringing,
        Status::Accepted,
        Status::Rejected,
        Status::Busy,
        Status::Cancelled,
        Status::Unanswered,
        Status::Ended,
    ];

    /// Whether nothing can move a call out of this status.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, Status::Initiated | Status::Ringing | Status::Accepted)
    }

    /// The status's name as the contract writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Initiated => "initiated",
            Status::Ringing => "ringing",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Busy => "busy",
            Status::Cancelled => "cancelled",
            Status::Unanswered => "unanswered",
            Status::Ended => "ended",
        }
    }

    /// Position in the lifecycle: a device's view never moves to a lower rank.
    pub const fn rank(self) -> u8 {
        match self {
            Status::Initiated => 0,
            Status::Ringing => 1,
            Status::Accepted => 2,
            _ => 3,
        }
    }

    /// Index into per-status counters (`Status::ALL[s.index()] == s`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a call became terminal, as the parties are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The receiver (every rung member) declined.
    Rejected,
    /// The receiver was in another call or declined busy.
    Busy,
    /// The initiator withdrew.
    Cancelled,
    /// Nobody answered in time (the ring timeout, or the initiator gave up).
    Unanswered,
    /// A party hung up.
    Hangup,
    /// A party's last device was gone past the reconnect grace.
    ConnectionLost,
    /// A participant did not start its media session within `session_start_timeout_ms`.
    NoMedia,
}

/// A receiver's part in a call (for a one-to-one call, the receiver; for a group, each member).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Being rung.
    Ringing,
    /// Accepted (the initiator counts as joined from the start).
    Joined,
    /// Declined.
    Rejected,
    /// Joined, then left (ended, or its connection was lost for good).
    Left,
    /// Involved in another call when rung (not rung), or declined with status busy.
    Busy,
    /// Still ringing when the ring phase ended after someone else accepted.
    NotReached,
}

/// The call object: what a request's success and every callback carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallView {
    /// The session id.
    pub session: SessionId,
    /// Who called.
    pub initiator: UserId,
    /// Who was called.
    pub receiver: Receiver,
    /// Audio or video.
    pub call_type: CallType,
    /// The status now.
    pub status: Status,
    /// Why it is terminal (`None` while it is not).
    pub reason: Option<Reason>,
    /// When the switchboard created it.
    pub created_at_ms: u64,
    /// When it first rang, if it did.
    pub ringing_at_ms: Option<u64>,
    /// When it was first accepted, if it was.
    pub accepted_at_ms: Option<u64>,
    /// When it became terminal, if it did.
    pub terminal_at_ms: Option<u64>,
}

/// Why an outgoing call was rejected (`outgoing_call_rejected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The receiver declined.
    Rejected,
    /// The receiver was busy.
    Busy,
    /// Nobody answered in time.
    Unanswered,
}

/// Why an incoming call stopped ringing on this device (`incoming_call_cancelled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The initiator cancelled.
    Cancelled,
    /// Nobody answered in time.
    Unanswered,
    /// Another device of this user accepted.
    AnsweredElsewhere,
    /// Another device of this user declined.
    DeclinedElsewhere,
    /// The initiator was gone for good.
    ConnectionLost,
}

/// Why an accepted call ended (`call_ended`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The other party hung up.
    Hangup,
    /// The other party was gone for good.
    ConnectionLost,
    /// A participant (this one, or the other) did not start its media session in time.
    NoMedia,
}

/// A listener callback: the vendor's listener methods in snake case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "callback", content = "reason")]
pub enum CallbackKind {
    /// `onIncomingCallReceived`: this device rings.
    IncomingCallReceived,
    /// Our addition: a receiver device acknowledged the ring.
    OutgoingCallRinging,
    /// `onOutgoingCallAccepted`.
    OutgoingCallAccepted,
    /// `onOutgoingCallRejected`.
    OutgoingCallRejected(RejectReason),
    /// `onIncomingCallCancelled`.
    IncomingCallCancelled(CancelReason),
    /// `onCallEndedMessageReceived`.
    CallEnded(EndReason),
}

impl CallbackKind {
    /// Every callback, with each of its reasons.
    pub const ALL: [CallbackKind; 14] = [
        CallbackKind::IncomingCallReceived,
        CallbackKind::OutgoingCallRinging,
        CallbackKind::OutgoingCallAccepted,
        CallbackKind::OutgoingCallRejected(RejectReason::Rejected),
        CallbackKind::OutgoingCallRejected(RejectReason::Busy),
        CallbackKind::OutgoingCallRejected(RejectReason::Unanswered),
        CallbackKind::IncomingCallCancelled(CancelReason::Cancelled),
        CallbackKind::IncomingCallCancelled(CancelReason::Unanswered),
        CallbackKind::IncomingCallCancelled(CancelReason::AnsweredElsewhere),
        CallbackKind::IncomingCallCancelled(CancelReason::DeclinedElsewhere),
        CallbackKind::IncomingCallCancelled(CancelReason::ConnectionLost),
        CallbackKind::CallEnded(EndReason::Hangup),
        CallbackKind::CallEnded(EndReason::ConnectionLost),
        CallbackKind::CallEnded(EndReason::NoMedia),
    ];

    /// Whether this callback closes the call's story on the device (nothing may follow it).
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            CallbackKind::OutgoingCallRejected(_)
                | CallbackKind::IncomingCallCancelled(_)
                | CallbackKind::CallEnded(_)
        )
    }

    /// The callback's name.
    pub const fn name(self) -> &'static str {
        match self {
            CallbackKind::IncomingCallReceived => "incoming_call_received",
            CallbackKind::OutgoingCallRinging => "outgoing_call_ringing",
            CallbackKind::OutgoingCallAccepted => "outgoing_call_accepted",
            CallbackKind::OutgoingCallRejected(_) => "outgoing_call_rejected",
            CallbackKind::IncomingCallCancelled(_) => "incoming_call_cancelled",
            CallbackKind::CallEnded(_) => "call_ended",
        }
    }

    /// The reason's name, for the callbacks that carry one.
    pub const fn reason_name(self) -> Option<&'static str> {
        Some(match self {
            CallbackKind::OutgoingCallRejected(r) => match r {
                RejectReason::Rejected => "rejected",
                RejectReason::Busy => "busy",
                RejectReason::Unanswered => "unanswered",
            },
            CallbackKind::IncomingCallCancelled(r) => match r {
                CancelReason::Cancelled => "cancelled",
                CancelReason::Unanswered => "unanswered",
                CancelReason::AnsweredElsewhere => "answered_elsewhere",
                CancelReason::DeclinedElsewhere => "declined_elsewhere",
                CancelReason::ConnectionLost => "connection_lost",
            },
            CallbackKind::CallEnded(r) => match r {
                EndReason::Hangup => "hangup",
                EndReason::ConnectionLost => "connection_lost",
                EndReason::NoMedia => "no_media",
            },
            _ => return None,
        })
    }
}

/// A callback raised to the application: which one, and the call as the device sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// Which listener method.
    pub kind: CallbackKind,
    /// The call object it carries.
    pub call: CallView,
}

impl fmt::Display for CallbackKind {
    /// The listener method in snake case, then the reason if it carries one, as scenario files
    /// write it: `incoming_call_cancelled answered_elsewhere`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason_name() {
            Some(reason) => write!(f, "{} {reason}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl fmt::Display for Callback {
    /// The callback, then the call it is about: `call_ended hangup s0.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.call.session)
    }
}
