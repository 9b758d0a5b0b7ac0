//! Error codes of the contract, and the typed errors for inputs a machine drops.

use crate::ids::{DeviceId, RequestId, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// The answer to a request, when it is not a success. The contract's error codes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The device has no connection to the switchboard.
    #[error("not_connected")]
    NotConnected,
    /// Unknown user or group, or a user calling themself.
    #[error("invalid_receiver")]
    InvalidReceiver,
    /// Calling a group one is not a member of.
    #[error("not_a_member")]
    NotAMember,
    /// The user is involved in another call.
    #[error("already_in_call")]
    AlreadyInCall,
    /// No call with that session id.
    #[error("call_not_found")]
    CallNotFound,
    /// The user has no right to do that to the call.
    #[error("not_allowed")]
    NotAllowed,
    /// The call's status does not allow it.
    #[error("invalid_state")]
    InvalidState,
    /// No answer came within the request timeout.
    #[error("timeout")]
    Timeout,
}

impl ErrorCode {
    /// Every code, in the contract's order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::NotConnected,
        ErrorCode::InvalidReceiver,
        ErrorCode::NotAMember,
        ErrorCode::AlreadyInCall,
        ErrorCode::CallNotFound,
        ErrorCode::NotAllowed,
        ErrorCode::InvalidState,
        ErrorCode::Timeout,
    ];

    /// The code as the contract writes it.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::NotConnected => "not_connected",
            ErrorCode::InvalidReceiver => "invalid_receiver",
            ErrorCode::NotAMember => "not_a_member",
            ErrorCode::AlreadyInCall => "already_in_call",
            ErrorCode::CallNotFound => "call_not_found",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::Timeout => "timeout",
        }
    }

    /// Parses a code from its name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Index into per-code counters (`ErrorCode::ALL[c.index()] == c`).
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// An input the switchboard dropped (and counted) instead of acting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum SwitchboardError {
    /// The user was never registered.
    #[error("unknown user {0:?}")]
    UnknownUser(UserId),
    /// The device index is beyond `DEVICES_PER_USER_MAX`.
    #[error("device {0:?} is beyond the per-user device limit")]
    DeviceOutOfRange(DeviceId),
    /// A message from a device the switchboard holds as disconnected (stale, from a lost connection).
    #[error("message from disconnected device {0:?}")]
    DeviceNotConnected(DeviceId),
    /// A disconnect for a device that was not connected.
    #[error("disconnect of device {0:?} that was not connected")]
    AlreadyDisconnected(DeviceId),
    /// The close of a connection that is not the device's current one (it reconnected since):
    /// ignored.
    #[error("close of {conn} of device {device:?}, which is not its current connection")]
    StaleConnection {
        /// The device.
        device: DeviceId,
        /// The connection closed.
        conn: crate::ids::ConnectionId,
    },
    /// A group of more distinct members than `GROUP_MEMBERS_MAX`.
    #[error("a group has more than {} distinct members", crate::config::GROUP_MEMBERS_MAX)]
    GroupTooLarge,
    /// A repeated request id whose answer is forgotten: the device said it had it (or gave up).
    #[error("request {request:?} from {device:?} was released by its device")]
    StaleRequest {
        /// The sending device.
        device: DeviceId,
        /// The request id.
        request: RequestId,
    },
    /// An acknowledgement for a call that does not exist.
    #[error("acknowledgement for unknown call {0}")]
    AckUnknownCall(SessionId),
    /// An acknowledgement from a device whose user is not being rung by that call.
    #[error("acknowledgement from {device:?}, which is not rung by {session}")]
    AckNotRung {
        /// The sending device.
        device: DeviceId,
        /// The call.
        session: SessionId,
    },
    /// Time went backwards: `now_ms` is earlier than a previous input's.
    #[error("time went backwards: {now_ms} < {last_ms}")]
    TimeWentBackwards {
        /// The input's time.
        now_ms: u64,
        /// The latest time seen before.
        last_ms: u64,
    },
}

/// A message the client dropped (and counted) instead of acting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// An answer for a request id this client never issued.
    #[error("answer for unknown request {0:?}")]
    UnknownRequest(RequestId),
    /// A message while the client holds itself as disconnected.
    #[error("message while disconnected")]
    NotConnected,
    /// The close of a connection that is not the client's current one: ignored.
    #[error("close of {0}, which is not the current connection")]
    StaleConnection(crate::ids::ConnectionId),
    /// A command while `PENDING_REQUESTS_MAX` requests already wait for an answer (the
    /// application's mistake, not the network's).
    #[error("too many requests waiting for an answer")]
    TooManyPending,
    /// A notification about a one-to-one call in which this device's user is neither party
    /// (a message for the wrong device).
    #[error("notification for {0}, which is not this user's call")]
    NotMyCall(SessionId),
    /// A notice naming a callback that does not fit the device's role or what it raised so far
    /// (a malformed or hostile server message).
    #[error("notice for {session} names {callback:?}, which does not fit this device")]
    IllegalCallback {
        /// The call.
        session: SessionId,
        /// The callback the notice named.
        callback: crate::call::CallbackKind,
    },
    /// The local view is full of live calls; the notification was dropped.
    #[error("local view full, dropped notification for {0}")]
    ViewFull(SessionId),
    /// Time went backwards: `now_ms` is earlier than a previous input's.
    #[error("time went backwards: {now_ms} < {last_ms}")]
    TimeWentBackwards {
        /// The input's time.
        now_ms: u64,
        /// The latest time seen before.
        last_ms: u64,
    },
}
