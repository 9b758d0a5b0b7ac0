//! Settings of the call semantics and the named limits that bound every table.

use serde::{Deserialize, Serialize};

/// Settings shared by the switchboard and its clients. Defaults are the contract's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How long a call rings before it is `unanswered`, unless the initiate carries its own.
    pub ring_timeout_ms: u64,
    /// How long the switchboard keeps a user's calls after its last device disconnected.
    pub reconnect_grace_ms: u64,
    /// How long a client waits for the answer to a request before it answers `timeout` itself.
    pub request_timeout_ms: u64,
    /// Whether an involved user may be rung by a second call.
    pub call_waiting: bool,
    /// How long a terminal call is kept (for late requests and reconnect snapshots) before eviction.
    pub call_retention_ms: u64,
    /// How long each participant of an accepted call has to start its media session (from the
    /// accept that made the call `accepted`, or from its own later join) before it leaves with
    /// reason `no_media`. `None`: no media-session timeout (contract version 1 had none).
    pub session_start_timeout_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ring_timeout_ms: 45_000,
            reconnect_grace_ms: 10_000,
            request_timeout_ms: 10_000,
            call_waiting: false,
            call_retention_ms: 60_000,
            session_start_timeout_ms: Some(20_000),
        }
    }
}

impl Config {
    /// The media session's start timeout as the switchboard applies it: none when off, and at
    /// least 1 ms (a participant always has until a later millisecond than its join's).
    pub fn session_start_after_ms(&self) -> Option<u64> {
        self.session_start_timeout_ms.map(|ms| ms.max(1))
    }
}

/// The longest ring timeout an initiate may ask for; longer values are clamped to it.
pub const RING_TIMEOUT_MS_MAX: u64 = 600_000;
/// Devices a user may have (device indexes `0..DEVICES_PER_USER_MAX`).
pub const DEVICES_PER_USER_MAX: u16 = 16;
/// Calls a user may be in the audience of at once; with call waiting, a user rung by more
/// non-terminal calls than this is treated as busy.
pub const CALLS_PER_USER_MAX: usize = 8;
/// Members a group may have.
pub const GROUP_MEMBERS_MAX: usize = 256;
/// Requests a client may have waiting for an answer; the switchboard remembers at most this
/// many answers per device (the ones the device still waits for) to answer a repeated id.
pub const PENDING_REQUESTS_MAX: usize = 64;
/// Calls a client keeps in its local view (terminal ones are dropped first).
pub const CLIENT_CALLS_MAX: usize = 64;
/// Entries a reconnect snapshot carries at most.
pub const SNAPSHOT_CALLS_MAX: usize = CALLS_PER_USER_MAX;
