//! Drivers behind the fuzz targets in `fuzz_targets/`.
//!
//! Each driver takes a structured input (derived with `arbitrary`), feeds it to callcore's
//! machines and checks the contract's invariants after every input, panicking with the
//! violation. They live in this library, not in the targets, so that `cargo test` (on stable,
//! without libFuzzer) can replay the committed corpus and the regression inputs in `tests/`.

#![forbid(unsafe_code)]

pub mod client;
pub mod frame_decoder;
pub mod harness_run;
#[cfg(feature = "sim")]
pub mod scenario;
#[cfg(feature = "sim")]
pub mod sim_run;
pub mod switchboard;

use arbitrary::Arbitrary;
use callcore::switchboard::{StatusChange, Switchboard};
use callcore::testing::invariants::{check_authority, check_involvement, StatusLedger, Violation};
use callcore::{CallType, GroupId, RejectStatus, SessionId, UserId};

/// Registered users in every driver (ids `0..USERS`).
pub const USERS: u32 = 5;
/// Devices per user the drivers use (indexes `0..DEVICES`).
pub const DEVICES: u16 = 3;
/// Sessions a driver remembers to aim requests at (the oldest is forgotten first).
pub const KNOWN_SESSIONS_MAX: usize = 32;

/// A user: one of the registered ones, or an unknown id.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct UserSel(pub u8);

impl UserSel {
    /// Registered users for most values; `UserId(USERS + 1000)` (never registered) otherwise.
    pub fn id(self) -> UserId {
        let n = u32::from(self.0) % (USERS + 1);
        if n == USERS {
            UserId(USERS + 1000)
        } else {
            UserId(n)
        }
    }
}

/// A group: one of the two registered ones, or an unknown id.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct GroupSel(pub u8);

impl GroupSel {
    /// Group 0 or 1, or `GroupId(99)` (never registered).
    pub fn id(self) -> GroupId {
        match self.0 % 3 {
            2 => GroupId(99),
            n => GroupId(u32::from(n)),
        }
    }
}

/// Who to call.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ToSel {
    /// A user (maybe unknown, maybe the caller itself).
    User(UserSel),
    /// A group (maybe unknown).
    Group(GroupSel),
}

impl ToSel {
    /// The receiver it names.
    pub fn receiver(self) -> callcore::Receiver {
        match self {
            ToSel::User(u) => callcore::Receiver::User(u.id()),
            ToSel::Group(g) => callcore::Receiver::Group(g.id()),
        }
    }
}

/// A session id: one the driver saw created (most of the time), or any value at all.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SessSel {
    /// The n-th remembered session (modulo how many are remembered).
    Known(u8),
    /// A raw id, most likely unknown (or a stale generation of a reused slot).
    Raw(u64),
}

impl SessSel {
    /// The session it names, given the sessions seen so far.
    pub fn resolve(self, known: &[SessionId]) -> SessionId {
        match self {
            SessSel::Known(i) if !known.is_empty() => known[usize::from(i) % known.len()],
            SessSel::Known(i) => SessionId(u64::from(i)),
            SessSel::Raw(raw) => SessionId(raw),
        }
    }
}

/// Remembers a session, forgetting the oldest beyond [`KNOWN_SESSIONS_MAX`].
pub fn remember(known: &mut Vec<SessionId>, session: SessionId) {
    if known.contains(&session) {
        return;
    }
    if known.len() >= KNOWN_SESSIONS_MAX {
        known.remove(0);
    }
    known.push(session);
}

/// A request as the fuzzer picks it.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ReqSel {
    /// Call a user or a group, maybe with its own ring timeout.
    Initiate {
        /// Who.
        to: ToSel,
        /// Video or audio.
        video: bool,
        /// The call's own ring timeout (clamped by the switchboard).
        ring_timeout_ms: Option<u32>,
    },
    /// Accept.
    Accept(SessSel),
    /// Reject with any of the four statuses.
    Reject(SessSel, RejectSel),
    /// Hang up.
    End(SessSel),
    /// Start the media session.
    StartSession(SessSel),
    /// Register the device for push (`true`) or withdraw it (`false`).
    Push(bool),
}

impl ReqSel {
    /// The request it names.
    pub fn request(self, known: &[SessionId]) -> callcore::Request {
        use callcore::Request;
        match self {
            ReqSel::Initiate { to, video, ring_timeout_ms } => Request::Initiate {
                to: to.receiver(),
                call_type: if video { CallType::Video } else { CallType::Audio },
                ring_timeout_ms: ring_timeout_ms.map(u64::from),
            },
            ReqSel::Accept(s) => Request::Accept { session: s.resolve(known) },
            ReqSel::Reject(s, status) => {
                Request::Reject { session: s.resolve(known), status: status.status() }
            }
            ReqSel::End(s) => Request::End { session: s.resolve(known) },
            ReqSel::StartSession(s) => Request::StartSession { session: s.resolve(known) },
            ReqSel::Push(true) => Request::RegisterPush,
            ReqSel::Push(false) => Request::UnregisterPush,
        }
    }
}

/// A reject status.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum RejectSel {
    /// `rejected` (receiver).
    Rejected,
    /// `busy` (receiver).
    Busy,
    /// `cancelled` (initiator).
    Cancelled,
    /// `unanswered` (initiator).
    Unanswered,
}

impl RejectSel {
    /// The status it names.
    pub fn status(self) -> RejectStatus {
        match self {
            RejectSel::Rejected => RejectStatus::Rejected,
            RejectSel::Busy => RejectStatus::Busy,
            RejectSel::Cancelled => RejectStatus::Cancelled,
            RejectSel::Unanswered => RejectStatus::Unanswered,
        }
    }
}

/// Settings drawn small so that timers fire within a short input.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct ConfigSel {
    /// Ring timeout (ms).
    pub ring_timeout_ms: u16,
    /// Reconnect grace (ms).
    pub reconnect_grace_ms: u16,
    /// Client request timeout (ms).
    pub request_timeout_ms: u16,
    /// Retention of terminal calls (ms).
    pub call_retention_ms: u16,
    /// Call waiting on or off.
    pub call_waiting: bool,
    /// The media session's start timeout (ms), or none.
    pub session_start_timeout_ms: Option<u16>,
}

impl ConfigSel {
    /// The config it names.
    pub fn config(self) -> callcore::Config {
        callcore::Config {
            ring_timeout_ms: u64::from(self.ring_timeout_ms),
            reconnect_grace_ms: u64::from(self.reconnect_grace_ms),
            request_timeout_ms: u64::from(self.request_timeout_ms),
            call_waiting: self.call_waiting,
            call_retention_ms: u64::from(self.call_retention_ms),
            session_start_timeout_ms: self.session_start_timeout_ms.map(u64::from),
        }
    }
}

/// The members of a group, as a bit mask over the registered users.
pub fn members(mask: u8) -> Vec<UserId> {
    (0..USERS).filter(|u| mask & (1 << u) != 0).map(UserId).collect()
}

/// Panics with the violation, if any.
pub fn ok(result: Result<(), Violation>) {
    if let Err(v) = result {
        panic!("{v}");
    }
}

/// Invariants 2 and 6 for one status change the switchboard just reported: the ledger takes
/// it, and whoever caused it had the right to.
pub fn check_change(ledger: &mut StatusLedger, sb: &Switchboard, change: &StatusChange) {
    ok(ledger.observe(change));
    let call = sb.call(change.session).expect("a call that just changed is kept");
    ok(check_authority(change, &call));
}

/// Invariants 7 (conservation) and 1 (involvement of every user) on the switchboard as it is.
pub fn check_switchboard(ledger: &StatusLedger, sb: &Switchboard) {
    ok(ledger.check_conservation(sb));
    for user in 0..USERS {
        ok(check_involvement(sb, UserId(user)));
    }
}
