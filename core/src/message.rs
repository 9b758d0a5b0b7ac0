//! What crosses the wire between a device and the switchboard.

use crate::call::{CallType, CallView, CallbackKind, Receiver};
use crate::error::ErrorCode;
use crate::ids::{RequestId, SessionId};
use serde::{Deserialize, Serialize};

/// The status a reject carries (the vendor's `rejectCall(status)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectStatus {
    /// The receiver declines.
    Rejected,
    /// The receiver declines as busy.
    Busy,
    /// The initiator cancels.
    Cancelled,
    /// The initiator gives up waiting (the vendor's client-side timeout).
    Unanswered,
}

/// A request a device makes; the switchboard judges it and answers once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "do")]
pub enum Request {
    /// Call a user or a group.
    Initiate {
        /// Who to call.
        to: Receiver,
        /// Audio or video.
        call_type: CallType,
        /// This call's own ring timeout, if any.
        ring_timeout_ms: Option<u64>,
    },
    /// Accept an incoming call.
    Accept {
        /// The call.
        session: SessionId,
    },
    /// Reject a call: as receiver (`rejected`, `busy`) or as initiator (`cancelled`, `unanswered`).
    Reject {
        /// The call.
        session: SessionId,
        /// What the reject means.
        status: RejectStatus,
    },
    /// Hang up (leave) an accepted call.
    End {
        /// The call.
        session: SessionId,
    },
    /// Start the media session of an accepted call (the vendor's `startSession`): a participant
    /// that does not within `session_start_timeout_ms` leaves with reason `no_media`.
    StartSession {
        /// The call.
        session: SessionId,
    },
    /// Register this device for push ringing: while it is not connected, a call that starts
    /// ringing its user makes the switchboard emit a push for it. Idempotent; it outlives the
    /// connection and the reconnect grace.
    RegisterPush,
    /// Withdraw this device's push registration. Idempotent.
    UnregisterPush,
}

impl Request {
    /// Call a user or a group, with the configured ring timeout.
    pub const fn initiate(to: Receiver, call_type: CallType) -> Self {
        Request::Initiate { to, call_type, ring_timeout_ms: None }
    }

    /// Accept an incoming call.
    pub const fn accept(session: SessionId) -> Self {
        Request::Accept { session }
    }

    /// Decline an incoming call: a reject with status rejected.
    pub const fn decline(session: SessionId) -> Self {
        Request::Reject { session, status: RejectStatus::Rejected }
    }

    /// The initiator withdraws its call: a reject with status cancelled.
    pub const fn cancel(session: SessionId) -> Self {
        Request::Reject { session, status: RejectStatus::Cancelled }
    }

    /// Hang up (leave) an accepted call.
    pub const fn end(session: SessionId) -> Self {
        Request::End { session }
    }

    /// Start the media session of an accepted call.
    pub const fn start_session(session: SessionId) -> Self {
        Request::StartSession { session }
    }

    /// The call the request is about (none for an initiate or a push registration).
    pub const fn session(&self) -> Option<SessionId> {
        match *self {
            Request::Initiate { .. } | Request::RegisterPush | Request::UnregisterPush => None,
            Request::Accept { session }
            | Request::Reject { session, .. }
            | Request::End { session }
            | Request::StartSession { session } => Some(session),
        }
    }

    /// Whether the request is about a call (its success carries the call object); a push
    /// registration's success carries none.
    pub const fn is_call_request(&self) -> bool {
        !matches!(self, Request::RegisterPush | Request::UnregisterPush)
    }
}

/// A message from a device to the switchboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMsg {
    /// A request with the device's request id.
    Request {
        /// Unique per device; a repeat is answered again without acting twice.
        id: RequestId,
        /// What is asked.
        request: Request,
        /// The lowest request id the device still waits an answer for (this one, or an older one
        /// still outstanding): it has the answers below it, or gave up on them, and the
        /// switchboard forgets them. 0 releases nothing.
        #[serde(default)]
        answered_below: RequestId,
    },
    /// The device rings for this call (sent the moment it receives the incoming call).
    Ack {
        /// The call.
        session: SessionId,
    },
}

impl ClientMsg {
    /// The call the message is about (none for an initiate).
    pub const fn session(&self) -> Option<SessionId> {
        match self {
            ClientMsg::Request { request, .. } => request.session(),
            ClientMsg::Ack { session } => Some(*session),
        }
    }
}

/// The call as one device should now see it, and the callback it should raise (if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The call object now.
    pub call: CallView,
    /// The callback the change means for this device; `None` is a silent view update.
    pub callback: Option<CallbackKind>,
}

/// A message from the switchboard to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMsg {
    /// The final answer to a request.
    Answer {
        /// The request answered.
        id: RequestId,
        /// Success with the call object (none for a push registration), or an error code.
        result: Result<Option<CallView>, ErrorCode>,
    },
    /// A call changed.
    Notify(Notice),
    /// Sent on connect: every retained call of the device's user, as the device should see it.
    Snapshot(Vec<Notice>),
}

#[cfg(test)]
mod tests {
    use super::{RejectStatus, Request};
    use crate::call::{CallType, Receiver};
    use crate::ids::{SessionId, UserId};

    #[test]
    fn the_shorthands_build_the_requests_they_name() {
        let (s, bob) = (SessionId(7), UserId(1));
        assert_eq!(
            Request::initiate(Receiver::User(bob), CallType::Video),
            Request::Initiate { to: Receiver::User(bob), call_type: CallType::Video, ring_timeout_ms: None }
        );
        assert_eq!(Request::accept(s), Request::Accept { session: s });
        assert_eq!(Request::decline(s), Request::Reject { session: s, status: RejectStatus::Rejected });
        assert_eq!(Request::cancel(s), Request::Reject { session: s, status: RejectStatus::Cancelled });
        assert_eq!(Request::end(s), Request::End { session: s });
        assert_eq!(Request::start_session(s), Request::StartSession { session: s });
        assert_eq!(Request::start_session(s).session(), Some(s));
        assert_eq!(Request::RegisterPush.session(), None);
        assert!(!Request::UnregisterPush.is_call_request() && Request::end(s).is_call_request());
    }
}
