//! The lifecycle of one call as a statig hierarchical state machine.
//!
//! The machine knows statuses only. Who may do what (roles, a group member's part) is checked by
//! the switchboard before an event reaches the machine; the machine then decides whether the
//! call's status allows the event and where it goes. Its structure:
//!
//! ```text
//! alerting (superstate)        terminal (superstate: absorbs every event)
//!   initiated --ack--> ringing    rejected busy cancelled unanswered ended
//! accepted --end / party lost--> ended
//! ```

use crate::call::Status;
use serde::{Deserialize, Serialize};
use statig::prelude::IntoStateMachineExt as _;

/// A call-level event, after the switchboard checked the actor's rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A receiver device acknowledged the ring.
    Ack,
    /// A receiver accepted (for a group already accepted: a member joins).
    Accept,
    /// The receiver declined.
    Reject,
    /// The receiver declined with status busy (or, with call waiting, accepted another call).
    RejectBusy,
    /// Every rung group member declined, at least one with status rejected, and nobody accepted.
    AllDeclined,
    /// Every rung group member declined with status busy (or was marked busy), nobody accepted.
    AllDeclinedBusy,
    /// The receiver was involved in another call at initiation (group: every other member).
    ReceiverBusy,
    /// The initiator withdrew (on an accepted call: its leave, as its `end` would be).
    Cancel,
    /// The initiator gave up (reject with status unanswered; on an accepted call: its leave).
    GiveUp,
    /// The ring timeout fired.
    RingTimeout,
    /// The initiator's last device was gone past the reconnect grace.
    InitiatorLost,
    /// The call ends: a hang-up left fewer than two participants.
    End,
    /// A participant's last device was gone past the reconnect grace and fewer than two remain.
    PartyLost,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 13] = [
        Event::Ack,
        Event::Accept,
        Event::Reject,
        Event::RejectBusy,
        Event::AllDeclined,
        Event::AllDeclinedBusy,
        Event::ReceiverBusy,
        Event::Cancel,
        Event::GiveUp,
        Event::RingTimeout,
        Event::InitiatorLost,
        Event::End,
        Event::PartyLost,
    ];
}

/// What the machine said about the last event: whether the status allowed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// False when the event is not allowed in the current status (the caller answers
    /// `invalid_state`, or drops the input).
    pub allowed: bool,
}

/// The shared storage of the call machine (none: a call's data lives in the switchboard's record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle;

pub use states::{State, Superstate};

/// The statig machine. The state enums are generated; the handlers are documented.
#[allow(missing_docs)]
mod states {
    use super::{Event, Lifecycle, Verdict};
    use serde::{Deserialize, Serialize};
    use statig::prelude::*;

    fn refuse(verdict: &mut Verdict) -> Outcome<State> {
        verdict.allowed = false;
        Handled
    }

    #[state_machine(
        initial = "State::initiated()",
        state(derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)),
        superstate(derive(Debug))
    )]
    impl Lifecycle {
        /// Nobody has accepted yet: the receiver may accept or decline, the initiator may withdraw,
        /// and the ring timeout may fire.
        #[superstate]
        fn alerting(context: &mut Verdict, event: &Event) -> Outcome<State> {
            match event {
                Event::Accept => Transition(State::accepted()),
                Event::Reject | Event::AllDeclined => Transition(State::rejected()),
                Event::RejectBusy | Event::ReceiverBusy | Event::AllDeclinedBusy => Transition(State::busy()),
                Event::Cancel | Event::InitiatorLost => Transition(State::cancelled()),
                Event::GiveUp | Event::RingTimeout => Transition(State::unanswered()),
                Event::Ack | Event::End | Event::PartyLost => refuse(context),
            }
        }

        /// Created; no receiver device has acknowledged.
        #[state(superstate = "alerting")]
        fn initiated(event: &Event) -> Outcome<State> {
            match event {
                Event::Ack => Transition(State::ringing()),
                _ => Super,
            }
        }

        /// At least one receiver device rings.
        #[state(superstate = "alerting")]
        fn ringing(context: &mut Verdict, event: &Event) -> Outcome<State> {
            match event {
                Event::Ack => Handled,
                Event::ReceiverBusy => refuse(context),
                _ => Super,
            }
        }

        /// The media session runs. Group members still ringing may join, the ring timeout only stops them.
        /// The initiator's cancel or give-up (one that crossed the accept) is its hang-up.
        #[state]
        fn accepted(context: &mut Verdict, event: &Event) -> Outcome<State> {
            match event {
                Event::End | Event::PartyLost | Event::Cancel | Event::GiveUp => Transition(State::ended()),
                Event::Accept | Event::Ack | Event::RingTimeout => Handled,
                _ => refuse(context),
            }
        }

        /// Absorbing: no event moves a terminal call.
        #[superstate]
        fn terminal(context: &mut Verdict) -> Outcome<State> {
            refuse(context)
        }

        /// Declined.
        #[state(superstate = "terminal")]
        fn rejected() -> Outcome<State> {
            Super
        }

        /// Busy.
        #[state(superstate = "terminal")]
        fn busy() -> Outcome<State> {
            Super
        }

        /// Withdrawn.
        #[state(superstate = "terminal")]
        fn cancelled() -> Outcome<State> {
            Super
        }

        /// Nobody answered.
        #[state(superstate = "terminal")]
        fn unanswered() -> Outcome<State> {
            Super
        }

        /// Accepted, then ended.
        #[state(superstate = "terminal")]
        fn ended() -> Outcome<State> {
            Super
        }
    }
}

impl State {
    /// The contract's status for this state.
    pub const fn status(&self) -> Status {
        match self {
            State::Initiated {} => Status::Initiated,
            State::Ringing {} => Status::Ringing,
            State::Accepted {} => Status::Accepted,
            State::Rejected {} => Status::Rejected,
            State::Busy {} => Status::Busy,
            State::Cancelled {} => Status::Cancelled,
            State::Unanswered {} => Status::Unanswered,
            State::Ended {} => Status::Ended,
        }
    }
}

/// One call's lifecycle machine.
#[derive(Clone)]
pub struct CallMachine {
    machine: statig::blocking::StateMachine<Lifecycle>,
}

impl std::fmt::Debug for CallMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CallMachine").field(self.machine.state()).finish()
    }
}

impl Default for CallMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl CallMachine {
    /// A new call, `initiated`.
    pub fn new() -> Self {
        let mut machine = Lifecycle.state_machine();
        machine.init_with_context(&mut Verdict::default());
        Self { machine }
    }

    /// The status now.
    pub fn status(&self) -> Status {
        self.machine.state().status()
    }

    /// Feeds one event; returns whether the status allowed it (the status may or may not change).
    pub fn handle(&mut self, event: Event) -> bool {
        let before = self.status();
        let mut verdict = Verdict { allowed: true };
        self.machine.handle_with_context(&event, &mut verdict);
        let after = self.status();
        debug_assert!(!before.is_terminal() || before == after, "terminal status left");
        debug_assert!(verdict.allowed || before == after, "refused event changed the status");
        verdict.allowed
    }
}
