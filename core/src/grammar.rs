//! The callback grammar, as data: which sequences of listener callbacks one device may raise for
//! one call. It sits beside the call's transition table ([`crate::table`]): the table says how a
//! call moves, the grammar says what a device may tell its application about it.
//!
//! A device's sequence depends on the role of its user in the call: the initiator's devices
//! raise the outgoing callbacks, a receiver's devices the incoming ones, and both may raise
//! `call_ended`. Each role's sequence is a small machine, written once as rows
//! ([`OUTGOING`], [`INCOMING`]) and read by [`next`]. The client admits or refuses every
//! callback with it, and the invariant checker
//! ([`CallbackLedger`](crate::testing::invariants::CallbackLedger)) judges every callback a
//! client raised with it.
//!
//! The rules the rows state (the contract's "Callbacks" and invariant 5):
//! - at most one `incoming_call_received`, at most one `outgoing_call_ringing`, at most one
//!   `outgoing_call_accepted`;
//! - at most one terminal callback (`outgoing_call_rejected`, `incoming_call_cancelled`,
//!   `call_ended`), and nothing after it;
//! - outgoing callbacks only on the initiator's devices, incoming ones only on a receiver's;
//! - neither `outgoing_call_ringing` nor `outgoing_call_rejected` after `outgoing_call_accepted`.
//!
//! What a device must have raised, once caught up (connected, nothing in flight), is data too:
//! [`CAUGHT_UP`], read by the invariant checker's
//! [`check_caught_up`](crate::testing::invariants::check_caught_up).
//!
//! The outgoing sequence goes `Idle` -> `Ringing` -> `Accepted` -> `Done`, each step but the
//! last one optional; the incoming one goes `Idle` -> `Received` -> `Done`, `Received` optional.
//! A receiver's device may raise `call_ended` without `incoming_call_received`: it accepted a
//! call it learned of otherwise (its user's app on another channel, a push), and the contract
//! asks nothing more of the sequence than invariant 5 does.

use crate::call::{CallbackKind, Status};
use crate::lifecycle::Event;
use serde::Serialize;

/// The role of the device's user in the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A device of the call's initiator.
    Outgoing,
    /// A device of a receiver (the called user, or a member of the called group).
    Incoming,
}

impl Role {
    /// Both roles.
    pub const ALL: [Role; 2] = [Role::Outgoing, Role::Incoming];

    /// The role of a device whose user is (`true`) or is not (`false`) the call's initiator.
    pub const fn of(initiator: bool) -> Self {
        if initiator {
            Role::Outgoing
        } else {
            Role::Incoming
        }
    }

    /// The role's rows.
    pub const fn rows(self) -> &'static [Row] {
        match self {
            Role::Outgoing => OUTGOING,
            Role::Incoming => INCOMING,
        }
    }
}

/// Where a call's callback sequence stands on one device. A sequence starts at
/// [`State::Idle`]; the outgoing one goes through `Ringing` and `Accepted`, the incoming one
/// through `Received`; both end at [`State::Done`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Nothing raised yet.
    #[default]
    Idle,
    /// A receiver's device raised `incoming_call_received`.
    Received,
    /// An initiator's device raised `outgoing_call_ringing`.
    Ringing,
    /// An initiator's device raised `outgoing_call_accepted`.
    Accepted,
    /// The device raised its terminal callback: nothing may follow.
    Done,
}

impl State {
    /// Every state.
    pub const ALL: [State; STATES] =
        [State::Idle, State::Received, State::Ringing, State::Accepted, State::Done];
}

/// A callback without its reason: the grammar's alphabet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// `incoming_call_received`.
    IncomingCallReceived,
    /// `outgoing_call_ringing`.
    OutgoingCallRinging,
    /// `outgoing_call_accepted`.
    OutgoingCallAccepted,
    /// `outgoing_call_rejected`, with any reason.
    OutgoingCallRejected,
    /// `incoming_call_cancelled`, with any reason.
    IncomingCallCancelled,
    /// `call_ended`, with any reason.
    CallEnded,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; CLASSES] = [
        Class::IncomingCallReceived,
        Class::OutgoingCallRinging,
        Class::OutgoingCallAccepted,
        Class::OutgoingCallRejected,
        Class::IncomingCallCancelled,
        Class::CallEnded,
    ];

    /// The class of a callback.
    pub const fn of(kind: CallbackKind) -> Self {
        match kind {
            CallbackKind::IncomingCallReceived => Class::IncomingCallReceived,
            CallbackKind::OutgoingCallRinging => Class::OutgoingCallRinging,
            CallbackKind::OutgoingCallAccepted => Class::OutgoingCallAccepted,
            CallbackKind::OutgoingCallRejected(_) => Class::OutgoingCallRejected,
            CallbackKind::IncomingCallCancelled(_) => Class::IncomingCallCancelled,
            CallbackKind::CallEnded(_) => Class::CallEnded,
        }
    }
}

/// Why a callback may not come next on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The device raised its terminal callback already: nothing follows it.
    AfterTerminal,
    /// An outgoing callback on a receiver's device, or an incoming one on the initiator's.
    WrongRole,
    /// A second `incoming_call_received`, `outgoing_call_ringing` or `outgoing_call_accepted`.
    Twice,
    /// `outgoing_call_ringing` after `outgoing_call_accepted`.
    RingingAfterAccepted,
    /// `outgoing_call_rejected` after `outgoing_call_accepted`.
    RejectedAfterAccepted,
}

impl Refusal {
    /// Whether the refused callback is behind the sequence rather than against it: the device
    /// raised it, or a callback that comes after it, or its terminal one, already. A client told
    /// such a callback again (a repeated or late notice) has nothing to raise; the other refusals
    /// contradict what the device raised.
    pub const fn is_stale(self) -> bool {
        matches!(self, Refusal::AfterTerminal | Refusal::Twice | Refusal::RingingAfterAccepted)
    }

    /// What was refused, in words.
    pub const fn describe(self) -> &'static str {
        match self {
            Refusal::AfterTerminal => "after a terminal callback",
            Refusal::WrongRole => "for the wrong role",
            Refusal::Twice => "twice",
            Refusal::RingingAfterAccepted | Refusal::RejectedAfterAccepted => "after outgoing_call_accepted",
        }
    }
}

/// One row: from state `from`, a callback of class `class` leads to `to`, or is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Where the sequence stands.
    pub from: State,
    /// The callback that comes.
    pub class: Class,
    /// Where the sequence stands after it, or why it may not come.
    pub to: Result<State, Refusal>,
}

const fn row(from: State, class: Class, to: Result<State, Refusal>) -> Row {
    Row { from, class, to }
}

use Class::{
    CallEnded, IncomingCallCancelled, IncomingCallReceived, OutgoingCallAccepted, OutgoingCallRejected,
    OutgoingCallRinging,
};
use Refusal::{RejectedAfterAccepted, RingingAfterAccepted, Twice};
use State::{Accepted, Done, Idle, Received, Ringing};

/// The callbacks of a call on a device of its initiator: one row for each state before `Done`
/// and each outgoing callback or `call_ended`.
pub const OUTGOING: &[Row] = &[
    row(Idle, OutgoingCallRinging, Ok(Ringing)),
    row(Idle, OutgoingCallAccepted, Ok(Accepted)),
    row(Idle, OutgoingCallRejected, Ok(Done)),
    row(Idle, CallEnded, Ok(Done)),
    row(Ringing, OutgoingCallRinging, Err(Twice)),
    row(Ringing, OutgoingCallAccepted, Ok(Accepted)),
    row(Ringing, OutgoingCallRejected, Ok(Done)),
    row(Ringing, CallEnded, Ok(Done)),
    row(Accepted, OutgoingCallRinging, Err(RingingAfterAccepted)),
    row(Accepted, OutgoingCallAccepted, Err(Twice)),
    row(Accepted, OutgoingCallRejected, Err(RejectedAfterAccepted)),
    row(Accepted, CallEnded, Ok(Done)),
];

/// The callbacks of a call on a device of a receiver: one row for each state before `Done` and
/// each incoming callback or `call_ended`.
pub const INCOMING: &[Row] = &[
    row(Idle, IncomingCallReceived, Ok(Received)),
    row(Idle, IncomingCallCancelled, Ok(Done)),
    row(Idle, CallEnded, Ok(Done)),
    row(Received, IncomingCallReceived, Err(Twice)),
    row(Received, IncomingCallCancelled, Ok(Done)),
    row(Received, CallEnded, Ok(Done)),
];

/// What a device has told its application about a call once it is caught up: for a device in
/// `role` that is connected, with nothing in flight, and sees the call with one of `statuses` as
/// the switchboard does, the states its sequence may stand at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CaughtUp {
    /// The role of the device's user in the call.
    pub role: Role,
    /// The call's statuses the row is about, as the device and the switchboard see them.
    pub statuses: &'static [Status],
    /// Whether the row leaves out the device whose own request was its user's answer (accept or
    /// decline) or leave: its application did it and is told nothing back, so its sequence may
    /// stay where it was.
    pub unless_it_acted: bool,
    /// The row leaves out a call made terminal by one of these events (one its user's devices
    /// are not told of).
    pub unless_ended_by: &'static [Event],
    /// Where the device's sequence may stand.
    pub raised: &'static [State],
}

/// The contract asks a device to raise the callbacks it missed, "as if it had been connected
/// from the start" (its "Connections"), and a phone's incoming-call screen to be dismissed: the
/// rows say what that leaves a device's application knowing once the device is caught up.
///
/// - An initiator's device that sees its call `accepted` has raised `outgoing_call_accepted`,
///   or its terminal `call_ended` (its user's connection lost for good in a group call that
///   goes on without it).
/// - An initiator's device that raised something for a call now `rejected`, `busy`,
///   `unanswered` or `ended` has raised its terminal callback (`outgoing_call_rejected`,
///   `call_ended`): no caller's screen rings on after a decline or the ring timeout. It is left
///   out when it hung up itself, and so is a call its user gave up on (its reject with status
///   `unanswered`): none of its devices is told that.
/// - A receiver's device that rang (`incoming_call_received`) for a call that no longer rings it
///   has raised its terminal callback: answered or declined elsewhere, cancelled, unanswered,
///   ended. It is left out when it answered or left for its user itself (its application did
///   it), and so is the device in the call: its user accepted there.
///
/// Nothing else is asked. A call that still rings has its ring timer set, so it is never seen
/// caught up. Every other callback before the terminal one is optional (a device's first
/// connection finds calls already over as history, and raises nothing for them). And on the
/// initiator's side nothing is asked of a `cancelled` call: none of its devices is told a cancel,
/// its user's own or for its lost connection.
pub const CAUGHT_UP: &[CaughtUp] = &[
    CaughtUp {
        role: Role::Outgoing,
        statuses: &[Status::Accepted],
        unless_it_acted: false,
        unless_ended_by: &[],
        raised: &[Accepted, Done],
    },
    CaughtUp {
        role: Role::Outgoing,
        statuses: &[Status::Rejected, Status::Busy, Status::Unanswered, Status::Ended],
        unless_it_acted: true,
        unless_ended_by: &[Event::GiveUp],
        raised: &[Idle, Done],
    },
    CaughtUp {
        role: Role::Incoming,
        statuses: &[
            Status::Accepted,
            Status::Rejected,
            Status::Busy,
            Status::Cancelled,
            Status::Unanswered,
            Status::Ended,
        ],
        unless_it_acted: true,
        unless_ended_by: &[],
        raised: &[Idle, Done],
    },
];

/// Where the sequence of a caught-up device in `role` may stand for a call it sees with
/// `status` ([`CAUGHT_UP`]); `acted` tells whether the device's own request answered the call
/// or left it for its user, `ended_by` the event that made the call terminal (if it is). `None`
/// where the contract asks nothing.
pub fn caught_up(
    role: Role,
    status: Status,
    acted: bool,
    ended_by: Option<Event>,
) -> Option<&'static [State]> {
    let left_out = |row: &CaughtUp| {
        row.unless_it_acted && acted || ended_by.is_some_and(|e| row.unless_ended_by.contains(&e))
    };
    CAUGHT_UP
        .iter()
        .find(|row| row.role == role && row.statuses.contains(&status) && !left_out(row))
        .map(|row| row.raised)
}

/// Where the sequence of a device in `role` stands after callback `kind`, from `state`; or why
/// `kind` may not come now. Where no row of the role names the pair: from [`State::Done`],
/// [`Refusal::AfterTerminal`]; otherwise (a callback, or a state, of the other role)
/// [`Refusal::WrongRole`].
pub fn next(role: Role, state: State, kind: CallbackKind) -> Result<State, Refusal> {
    CELLS[role as usize][state as usize][Class::of(kind) as usize]
}

const STATES: usize = 5;
const CLASSES: usize = 6;

/// A role's verdicts, one cell per (state, class).
type Cells = [[Result<State, Refusal>; CLASSES]; STATES];

/// The rows of both roles, laid out for [`next`] to read in one step (built at compile time).
const CELLS: [Cells; 2] = [cells(OUTGOING), cells(INCOMING)];

/// A role's rows as cells; a pair no row names gets the refusal [`next`] documents. Two rows
/// for one pair fail the build.
const fn cells(rows: &[Row]) -> Cells {
    let mut cells = [[Err(Refusal::WrongRole); CLASSES]; STATES];
    let mut class = 0;
    while class < CLASSES {
        cells[Done as usize][class] = Err(Refusal::AfterTerminal);
        class += 1;
    }
    let mut named = [[false; CLASSES]; STATES];
    let mut i = 0;
    while i < rows.len() {
        let (from, class) = (rows[i].from as usize, rows[i].class as usize);
        assert!(!named[from][class], "two rows for one (state, class) pair");
        assert!(from != Done as usize, "a row from Done: nothing follows a terminal callback");
        named[from][class] = true;
        cells[from][class] = rows[i].to;
        i += 1;
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CancelReason, EndReason, RejectReason};

    /// The states a role's sequence reaches from `Idle`.
    fn reachable(role: Role) -> Vec<State> {
        let mut states = vec![Idle];
        let mut i = 0;
        while i < states.len() {
            let from = states[i];
            for row in role.rows().iter().filter(|r| r.from == from) {
                if let Ok(to) = row.to {
                    if !states.contains(&to) {
                        states.push(to);
                    }
                }
            }
            i += 1;
        }
        states
    }

    #[test]
    fn each_role_has_one_row_for_each_of_its_states_and_callbacks() {
        for role in Role::ALL {
            let classes: Vec<Class> =
                Class::ALL.into_iter().filter(|c| role.rows().iter().any(|r| r.class == *c)).collect();
            for state in reachable(role).into_iter().filter(|s| *s != Done) {
                for &class in &classes {
                    let n = role.rows().iter().filter(|r| r.from == state && r.class == class).count();
                    assert_eq!(n, 1, "{role:?}: {n} rows for ({state:?}, {class:?})");
                }
            }
        }
    }

    #[test]
    fn the_roles_share_only_call_ended() {
        let of = |role: Role| -> Vec<Class> {
            Class::ALL.into_iter().filter(|c| role.rows().iter().any(|r| r.class == *c)).collect()
        };
        let shared: Vec<Class> =
            of(Role::Outgoing).into_iter().filter(|c| of(Role::Incoming).contains(c)).collect();
        assert_eq!(shared, [CallEnded]);
    }

    #[test]
    fn the_sequences_go_through_the_documented_states() {
        assert_eq!(reachable(Role::Outgoing), [Idle, Ringing, Accepted, Done]);
        assert_eq!(reachable(Role::Incoming), [Idle, Received, Done]);
    }

    #[test]
    fn next_reads_every_row() {
        for role in Role::ALL {
            for row in role.rows() {
                for kind in CallbackKind::ALL.into_iter().filter(|k| Class::of(*k) == row.class) {
                    assert_eq!(next(role, row.from, kind), row.to, "{role:?} {row:?} {kind:?}");
                }
            }
        }
    }

    #[test]
    fn every_class_has_a_callback_and_every_callback_a_class() {
        for class in Class::ALL {
            assert!(CallbackKind::ALL.iter().any(|k| Class::of(*k) == class), "{class:?}");
        }
        for (i, class) in Class::ALL.into_iter().enumerate() {
            assert_eq!(class as usize, i, "Class::ALL in declaration order");
        }
        for (i, state) in State::ALL.into_iter().enumerate() {
            assert_eq!(state as usize, i, "State::ALL in declaration order");
        }
    }

    /// A caught-up row names only states its role's sequence reaches, and one row at most
    /// answers each (role, status): `caught_up` cannot pick between two.
    #[test]
    fn each_caught_up_row_is_the_only_one_of_its_pair_and_names_reachable_states() {
        for row in CAUGHT_UP {
            for &status in row.statuses {
                let n =
                    CAUGHT_UP.iter().filter(|r| r.role == row.role && r.statuses.contains(&status)).count();
                assert_eq!(n, 1, "{row:?}");
                assert_eq!(caught_up(row.role, status, false, None), Some(row.raised));
                let acted = if row.unless_it_acted { None } else { Some(row.raised) };
                assert_eq!(caught_up(row.role, status, true, None), acted);
                for &event in row.unless_ended_by {
                    assert_eq!(caught_up(row.role, status, false, Some(event)), None, "{row:?}");
                }
            }
            assert!(!row.raised.is_empty(), "{row:?} admits no state");
            for state in row.raised {
                assert!(reachable(row.role).contains(state), "{row:?}: {state:?} is not reached");
            }
        }
        // A ringing call has its ring timer set: never caught up, so no row may ask about it.
        for status in [Status::Initiated, Status::Ringing] {
            for role in Role::ALL {
                assert!([false, true].iter().all(|&acted| caught_up(role, status, acted, None).is_none()));
            }
        }
    }

    #[test]
    fn a_reason_changes_no_verdict() {
        let pairs =
            [(RejectReason::Rejected, RejectReason::Busy), (RejectReason::Busy, RejectReason::Unanswered)];
        for role in Role::ALL {
            for state in State::ALL {
                for (a, b) in pairs {
                    let (a, b) =
                        (CallbackKind::OutgoingCallRejected(a), CallbackKind::OutgoingCallRejected(b));
                    assert_eq!(next(role, state, a), next(role, state, b));
                }
                let a = CallbackKind::IncomingCallCancelled(CancelReason::Cancelled);
                let b = CallbackKind::IncomingCallCancelled(CancelReason::ConnectionLost);
                assert_eq!(next(role, state, a), next(role, state, b));
                let a = CallbackKind::CallEnded(EndReason::Hangup);
                let b = CallbackKind::CallEnded(EndReason::ConnectionLost);
                assert_eq!(next(role, state, a), next(role, state, b));
            }
        }
    }
}
