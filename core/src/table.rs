//! The contract's transition table of a one-to-one call, exported as data, and the Mermaid state
//! diagram generated from it (`docs/state-machine.md` holds its output; a test keeps them equal).

use crate::call::Status;
use crate::lifecycle::Event;
use serde::Serialize;
use std::fmt::Write as _;

/// Who makes an input happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The user who called.
    Initiator,
    /// The called user (or a group member).
    Receiver,
    /// One receiver device (not the user's decision: its client acknowledges by itself).
    ReceiverDevice,
    /// Either party of the call.
    EitherParty,
    /// The switchboard itself (timers, connection loss).
    Switchboard,
}

impl Actor {
    /// Whether a request from party `index` of a call (none: a user who is no party) is made by
    /// this actor: the initiator is party 0, receivers the others, and the switchboard makes no
    /// request.
    pub const fn admits(self, index: Option<usize>) -> bool {
        match (self, index) {
            (Actor::Initiator, Some(i)) => i == 0,
            (Actor::Receiver | Actor::ReceiverDevice, Some(i)) => i > 0,
            (Actor::EitherParty, Some(_)) => true,
            (_, None) | (Actor::Switchboard, _) => false,
        }
    }
}

/// One row of the contract's one-to-one transition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The statuses the row applies to; empty for the creation of a call.
    pub from: &'static [Status],
    /// The input, in the contract's words.
    pub input: &'static str,
    /// The machine event the switchboard feeds for it (`None`: the call is created).
    pub event: Option<Event>,
    /// Who may make the input.
    pub by: Actor,
    /// The status after it.
    pub to: Status,
    /// What the initiator's devices get.
    pub initiator_gets: &'static str,
    /// What the receiver's devices get.
    pub receiver_gets: &'static str,
}

const ALERTING: &[Status] = &[Status::Initiated, Status::Ringing];

/// The one-to-one transition table, row for row as the contract writes it.
pub const ONE_TO_ONE: &[Row] = &[
    Row {
        from: &[],
        input: "initiate",
        event: None,
        by: Actor::Initiator,
        to: Status::Initiated,
        initiator_gets: "the call object (request succeeds)",
        receiver_gets: "incoming_call_received on each connected device",
    },
    Row {
        from: &[],
        input: "initiate, receiver already involved in a call",
        event: Some(Event::ReceiverBusy),
        by: Actor::Initiator,
        to: Status::Busy,
        initiator_gets: "outgoing_call_rejected (busy)",
        receiver_gets: "nothing",
    },
    Row {
        from: &[Status::Initiated],
        input: "a receiver device acknowledges the ring",
        event: Some(Event::Ack),
        by: Actor::ReceiverDevice,
        to: Status::Ringing,
        initiator_gets: "outgoing_call_ringing",
        receiver_gets: "-",
    },
    Row {
        from: ALERTING,
        input: "accept",
        event: Some(Event::Accept),
        by: Actor::Receiver,
        to: Status::Accepted,
        initiator_gets: "outgoing_call_accepted",
        receiver_gets:
            "accepting device: success; other devices: incoming_call_cancelled (answered elsewhere)",
    },
    Row {
        from: ALERTING,
        input: "reject, status rejected",
        event: Some(Event::Reject),
        by: Actor::Receiver,
        to: Status::Rejected,
        initiator_gets: "outgoing_call_rejected (rejected)",
        receiver_gets: "rejecting device: success; others: incoming_call_cancelled (declined elsewhere)",
    },
    Row {
        from: ALERTING,
        input: "reject, status busy",
        event: Some(Event::RejectBusy),
        by: Actor::Receiver,
        to: Status::Busy,
        initiator_gets: "outgoing_call_rejected (busy)",
        receiver_gets: "rejecting device: success; others: incoming_call_cancelled (declined elsewhere)",
    },
    Row {
        from: ALERTING,
        input: "reject, status cancelled (= cancel)",
        event: Some(Event::Cancel),
        by: Actor::Initiator,
        to: Status::Cancelled,
        initiator_gets: "success",
        receiver_gets: "incoming_call_cancelled (cancelled)",
    },
    Row {
        from: ALERTING,
        input: "ring timeout fires",
        event: Some(Event::RingTimeout),
        by: Actor::Switchboard,
        to: Status::Unanswered,
        initiator_gets: "outgoing_call_rejected (unanswered)",
        receiver_gets: "incoming_call_cancelled (unanswered)",
    },
    Row {
        from: ALERTING,
        input: "reject, status unanswered",
        event: Some(Event::GiveUp),
        by: Actor::Initiator,
        to: Status::Unanswered,
        initiator_gets: "success",
        receiver_gets: "incoming_call_cancelled (unanswered)",
    },
    Row {
        from: &[Status::Accepted],
        input: "end",
        event: Some(Event::End),
        by: Actor::EitherParty,
        to: Status::Ended,
        initiator_gets: "ender: success; other: call_ended",
        receiver_gets: "likewise",
    },
    Row {
        from: ALERTING,
        input: "initiator's last device gone past the reconnect grace",
        event: Some(Event::InitiatorLost),
        by: Actor::Switchboard,
        to: Status::Cancelled,
        initiator_gets: "-",
        receiver_gets: "incoming_call_cancelled (connection lost)",
    },
    Row {
        from: &[Status::Accepted],
        input: "a party's last device gone past the reconnect grace",
        event: Some(Event::PartyLost),
        by: Actor::Switchboard,
        to: Status::Ended,
        initiator_gets: "the other party: call_ended (connection lost)",
        receiver_gets: "likewise",
    },
    Row {
        from: &[Status::Accepted],
        input: "reject, status cancelled, that crossed the accept (the initiator's end)",
        event: Some(Event::Cancel),
        by: Actor::Initiator,
        to: Status::Ended,
        initiator_gets: "cancelling device: success; its other devices in the call: call_ended (hangup)",
        receiver_gets: "the devices in the call: call_ended (hangup)",
    },
    Row {
        from: &[Status::Accepted],
        input: "reject, status unanswered, that crossed the accept (the initiator's end)",
        event: Some(Event::GiveUp),
        by: Actor::Initiator,
        to: Status::Ended,
        initiator_gets: "giving-up device: success; its other devices in the call: call_ended (hangup)",
        receiver_gets: "the devices in the call: call_ended (hangup)",
    },
    Row {
        from: &[Status::Accepted],
        input: "start_session, by a participant that has not started",
        event: Some(Event::StartSession),
        by: Actor::EitherParty,
        to: Status::Accepted,
        initiator_gets: "starter: success; nothing else",
        receiver_gets: "likewise",
    },
    Row {
        from: &[Status::Accepted],
        input: "a participant's session start timeout fires before it started its session",
        event: Some(Event::SessionTimeout),
        by: Actor::Switchboard,
        to: Status::Ended,
        initiator_gets: "its devices in the call: call_ended (no media)",
        receiver_gets: "likewise",
    },
];

/// Group-call transitions the one-to-one table does not have (contract, "Group calls").
pub const GROUP: &[Row] = &[
    Row {
        from: ALERTING,
        input: "every rung member declined, at least one with status rejected, nobody accepted",
        event: Some(Event::AllDeclined),
        by: Actor::Receiver,
        to: Status::Rejected,
        initiator_gets: "outgoing_call_rejected (rejected)",
        receiver_gets:
            "the last decliner: success; its other devices: incoming_call_cancelled (declined elsewhere)",
    },
    Row {
        from: ALERTING,
        input: "every rung member declined with status busy or was marked busy, nobody accepted",
        event: Some(Event::AllDeclinedBusy),
        by: Actor::Receiver,
        to: Status::Busy,
        initiator_gets: "outgoing_call_rejected (busy)",
        receiver_gets:
            "the last decliner: success; its other devices: incoming_call_cancelled (declined elsewhere)",
    },
    Row {
        from: &[Status::Accepted],
        input: "a member still ringing accepts (joins)",
        event: Some(Event::Accept),
        by: Actor::Receiver,
        to: Status::Accepted,
        initiator_gets: "nothing",
        receiver_gets:
            "accepting device: success; its other devices: incoming_call_cancelled (answered elsewhere)",
    },
    Row {
        from: &[Status::Accepted],
        input: "ring timeout fires after an accept",
        event: Some(Event::RingTimeout),
        by: Actor::Switchboard,
        to: Status::Accepted,
        initiator_gets: "nothing",
        receiver_gets: "members still ringing: incoming_call_cancelled (unanswered)",
    },
    Row {
        from: &[Status::Accepted],
        input: "a participant's session start timeout fires, at least two others remain",
        event: Some(Event::SessionTimeout),
        by: Actor::Switchboard,
        to: Status::Accepted,
        initiator_gets: "if it is the one who left: call_ended (no media) on its devices",
        receiver_gets: "the one who left: call_ended (no media) on its devices in the call",
    },
];

fn actor_label(actor: Actor) -> &'static str {
    match actor {
        Actor::Initiator => "initiator",
        Actor::Receiver => "receiver",
        Actor::ReceiverDevice => "receiver device",
        Actor::EitherParty => "either party",
        Actor::Switchboard => "switchboard",
    }
}

fn short_input(row: &Row) -> &'static str {
    match row.event {
        None | Some(Event::Create) => "initiate",
        Some(Event::ReceiverBusy) => "initiate, receiver involved",
        Some(Event::Ack) => "ack",
        Some(Event::Accept) if row.from == [Status::Accepted] => "group: join",
        Some(Event::Accept) => "accept",
        Some(Event::Reject) => "reject rejected",
        Some(Event::RejectBusy) => "reject busy",
        Some(Event::Cancel) if row.from == [Status::Accepted] => "cancel after accept",
        Some(Event::Cancel) => "cancel",
        Some(Event::RingTimeout) if row.from == [Status::Accepted] => "group: ring timeout",
        Some(Event::RingTimeout) => "ring timeout",
        Some(Event::GiveUp) if row.from == [Status::Accepted] => "reject unanswered after accept",
        Some(Event::GiveUp) => "reject unanswered",
        Some(Event::End) => "end",
        Some(Event::InitiatorLost) => "initiator lost",
        Some(Event::PartyLost) => "party lost",
        Some(Event::AllDeclined) => "group: all declined",
        Some(Event::AllDeclinedBusy) => "group: all declined busy",
        Some(Event::StartSession) => "start session",
        Some(Event::SessionTimeout) if row.to == Status::Accepted => "group: session start timeout",
        Some(Event::SessionTimeout) => "session start timeout",
    }
}

/// The Mermaid state diagram of [`ONE_TO_ONE`] and [`GROUP`]: one edge per (row, from-status), the alerting
/// and terminal superstates as composite states.
pub fn mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n");
    out.push_str("    state alerting {\n        initiated\n        ringing\n    }\n");
    out.push_str("    state terminal {\n");
    for status in Status::ALL.iter().filter(|s| s.is_terminal()) {
        let _ = writeln!(out, "        {status}");
    }
    out.push_str("    }\n");
    for row in ONE_TO_ONE.iter().chain(GROUP) {
        let label = format!("{} ({})", short_input(row), actor_label(row.by));
        if row.from.is_empty() {
            let _ = writeln!(out, "    [*] --> {} : {label}", row.to);
        }
        for from in row.from {
            let _ = writeln!(out, "    {from} --> {} : {label}", row.to);
        }
    }
    for status in Status::ALL.iter().filter(|s| s.is_terminal()) {
        let _ = writeln!(out, "    {status} --> [*]");
    }
    out
}
