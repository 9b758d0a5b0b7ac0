//! Compact identifiers. Names (UIDs, GUIDs) live at the edge, in a [`crate::Directory`];
//! the machines work on these small copyable ids so that a call costs no string handling.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user, as registered with the switchboard ([`crate::Switchboard::add_user`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u32);

/// A group, as registered with the switchboard ([`crate::Switchboard::add_group`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub u32);

/// One device of a user: the user and the device's index (0 for the first device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceId {
    /// The user the device belongs to.
    pub user: UserId,
    /// The device's index among the user's devices.
    pub index: u16,
}

impl DeviceId {
    /// The device `index` of `user`.
    pub const fn new(user: UserId, index: u16) -> Self {
        Self { user, index }
    }
}

/// A call's session id, assigned by the switchboard and never reused.
///
/// The low 32 bits index the switchboard's call table and the high 32 bits count how often that
/// slot was reused, so a lookup is an array index and a stale id can never name a newer call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

impl SessionId {
    pub(crate) const fn from_parts(slot: u32, generation: u32) -> Self {
        Self(((generation as u64) << 32) | slot as u64)
    }

    pub(crate) const fn slot(self) -> u32 {
        self.0 as u32
    }

    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}.{}", self.slot(), self.generation())
    }
}

/// A request id, unique per device (the client numbers its requests from 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// A connection's token, chosen by the embedder: a new number for each connection a device makes
/// (a counter per device will do). A connection change names its connection, so that the close
/// of an old connection processed after the device reconnected is recognised as stale, ignored
/// and counted, instead of taking the live connection down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(pub u32);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection {}", self.0)
    }
}

impl fmt::Display for UserId {
    /// `u7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}", self.0)
    }
}

impl fmt::Display for GroupId {
    /// `g3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

impl fmt::Display for DeviceId {
    /// `u7/1`: the user, then the device index.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.index)
    }
}

impl fmt::Display for RequestId {
    /// `r12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectionId, DeviceId, GroupId, RequestId, SessionId, UserId};

    #[test]
    fn ids_display_as_short_names() {
        assert_eq!(UserId(7).to_string(), "u7");
        assert_eq!(GroupId(3).to_string(), "g3");
        assert_eq!(DeviceId::new(UserId(7), 1).to_string(), "u7/1");
        assert_eq!(RequestId(12).to_string(), "r12");
        assert_eq!(SessionId::from_parts(5, 2).to_string(), "s5.2");
        assert_eq!(ConnectionId(4).to_string(), "connection 4");
    }
}
