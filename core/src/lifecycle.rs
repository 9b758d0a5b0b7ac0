//! The lifecycle of one call as a statig hierarchical state machine: the one place where the
//! contract's status rules live.
//!
//! The switchboard looks up who is asking (their [`Role`] in the call) and a few facts about the
//! call's other parties ([`Facts`]); the machine decides everything else: whether the role may
//! make the event at all (`not_allowed`), whether the call's status (or the requester's part in
//! it) allows it now (`invalid_state`, after `not_allowed`, as the contract orders the checks),
//! the new status, and what the switchboard must then do to the parties ([`Effect`]). Its
//! structure:
//!
//! ```text
//! creating --create--> initiated | busy
//! alerting (superstate)        terminal (superstate: absorbs every event)
//!   initiated --ack--> ringing    rejected busy cancelled unanswered ended
//! accepted --last leave / party lost / session start timeout--> ended
//! ```

use crate::call::{Part, Status};
use crate::error::ErrorCode;
use serde::{Deserialize, Serialize};
use statig::prelude::IntoStateMachineExt as _;

/// A call-level event: an input the switchboard feeds, and the name under which a status change
/// is reported (`switchboard::StatusChange::event`, the table's rows).
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
    /// Reported: every rung group member declined, at least one with status rejected, and
    /// nobody accepted.
    AllDeclined,
    /// Reported: every rung group member declined with status busy (or was marked busy), nobody
    /// accepted.
    AllDeclinedBusy,
    /// Reported: the receiver was involved in another call at initiation (group: every other
    /// member).
    ReceiverBusy,
    /// The initiator withdrew (on an accepted call: its leave, as its `end` would be).
    Cancel,
    /// The initiator gave up (reject with status unanswered; on an accepted call: its leave).
    GiveUp,
    /// The ring timeout fired.
    RingTimeout,
    /// The initiator's last device was gone past the reconnect grace.
    InitiatorLost,
    /// A participant leaves: its `end`.
    End,
    /// A participant's last device was gone past the reconnect grace.
    PartyLost,
    /// The initiate creates the call (into `initiated`, or `busy` when no receiver can be rung).
    /// Last but the media session's, so that the other events keep the codes traces were
    /// hashed with.
    Create,
    /// A participant starts its media session (contract version 2).
    StartSession,
    /// A participant's media-session start timeout fired before it started: it leaves with
    /// reason `no_media`.
    SessionTimeout,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 16] = [
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
        Event::Create,
        Event::StartSession,
        Event::SessionTimeout,
    ];
}

/// Who makes an event, as the switchboard looked them up: "who is this user to this call".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The initiator, joined in its call (from the start until it leaves).
    Initiator,
    /// The initiator after it left a group call that goes on.
    InitiatorLeft,
    /// A receiver that was rung (the called user, or a rung group member), with its part now.
    Receiver(Part),
    /// A group member marked busy at initiation: never rung, no part in the call.
    NotRung,
    /// A user who is no party of the call.
    Stranger,
    /// The switchboard itself: a timer, a connection lost for good, the creation of the call.
    Switchboard,
}

impl Role {
    /// Whether this role is one of the call's participants once it is accepted.
    const fn joined(self) -> bool {
        matches!(self, Role::Initiator | Role::Receiver(Part::Joined))
    }
}

/// What the switchboard knows about the call's other parties when it feeds an event: the facts
/// a rule depends on besides the status and the requester's role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Facts {
    /// The receiver is a group.
    pub group: bool,
    /// Participants (joined) other than the requester.
    pub others_joined: usize,
    /// Receivers other than the requester still ringing (for a creation: any receiver rung).
    pub others_ringing: bool,
    /// A receiver other than the requester declined with status rejected.
    pub others_rejected: bool,
    /// Anyone other than the requester accepted the call (joined now, or joined and left).
    pub others_accepted: bool,
    /// The requester has joined another call that is not terminal (call waiting forbids joining
    /// two).
    pub joined_elsewhere: bool,
    /// The requester (its user, from any device) has started its media session in this call.
    pub session_started: bool,
}

/// What the switchboard must do to the parties once the machine allowed an event (the status,
/// if it changed, the machine has changed already).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The call was created with receivers to ring: start its ring timer.
    Ring,
    /// Nothing beyond the status change, if any.
    Nothing,
    /// The requester joins the call.
    Join,
    /// The requester stops ringing, declining (rejected or busy).
    Decline,
    /// The requester leaves the call.
    Leave,
    /// The ring phase is over after an accept: the members still ringing stop.
    StopRingers,
    /// The requester starts its media session.
    StartSession,
}

/// The machine's verdict on one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What to do, or the error code the request is answered with.
    pub outcome: Result<Effect, ErrorCode>,
    /// The status changed, reported as this event (it differs from the event fed where the
    /// facts made it another row of the table: a group's last decline is `AllDeclined`).
    pub reported: Option<Event>,
    /// The change ended the ring phase (the call is terminal, or a one-to-one call was
    /// accepted; a group call's members may still join until the ring timeout): the ring timer
    /// is no longer needed.
    pub ring_over: bool,
}

/// The machine's context for one event: the asker's role and the facts, in; the verdict, out.
#[derive(Clone, Copy, Debug)]
pub struct Judgement {
    role: Role,
    facts: Facts,
    verdict: Verdict,
}

/// The shared storage of the call machine (none: a call's data lives in the switchboard's record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle;

pub use states::{State, Superstate};

/// The statig machine. The state enums are generated; the handlers are documented.
#[allow(missing_docs)]
mod states {
    use super::{Effect, Event, Judgement, Lifecycle, Role};
    use crate::call::Part;
    use crate::error::ErrorCode;
    use serde::{Deserialize, Serialize};
    use statig::prelude::*;

    /// Refuses the event with `code`; the status stays.
    fn refuse(j: &mut Judgement, code: ErrorCode) -> Outcome<State> {
        j.verdict.outcome = Err(code);
        Handled
    }

    /// Allows the event with `effect`, the status unchanged.
    fn stay(j: &mut Judgement, effect: Effect) -> Outcome<State> {
        j.verdict.outcome = Ok(effect);
        Handled
    }

    /// Allows the event with `effect` and moves to `to`, reported as `reported`.
    fn go(j: &mut Judgement, effect: Effect, reported: Event, to: State) -> Outcome<State> {
        j.verdict.outcome = Ok(effect);
        j.verdict.reported = Some(reported);
        Transition(to)
    }

    /// A receiver's accept or decline: `not_allowed` for anyone but a rung receiver, then
    /// `invalid_state` for a receiver who is not ringing any more (it answered already).
    fn answerable(j: &mut Judgement) -> Option<Outcome<State>> {
        match j.role {
            Role::Receiver(Part::Ringing) => None,
            Role::Receiver(_) => Some(refuse(j, ErrorCode::InvalidState)),
            _ => Some(refuse(j, ErrorCode::NotAllowed)),
        }
    }

    /// A receiver's decline while nobody has accepted: a one-to-one call ends; a group call ends
    /// when nobody else still rings (rejected if anyone declined rejected, else busy).
    fn decline(j: &mut Judgement, event: Event) -> Outcome<State> {
        let busy = event == Event::RejectBusy;
        let f = j.facts;
        match (f.group, busy) {
            (false, false) => go(j, Effect::Decline, Event::Reject, State::rejected()),
            (false, true) => go(j, Effect::Decline, Event::RejectBusy, State::busy()),
            (true, _) if f.others_ringing || f.others_accepted => stay(j, Effect::Decline),
            (true, false) => go(j, Effect::Decline, Event::AllDeclined, State::rejected()),
            (true, true) if f.others_rejected => {
                go(j, Effect::Decline, Event::AllDeclined, State::rejected())
            }
            (true, true) => go(j, Effect::Decline, Event::AllDeclinedBusy, State::busy()),
        }
    }

    /// A participant leaves an accepted call (`end`, the initiator's cancel or give-up, or its
    /// connection lost for good, reported as `reported`): the call ends when fewer than two remain.
    fn leave(j: &mut Judgement, reported: Event) -> Outcome<State> {
        if j.facts.others_joined >= 2 {
            stay(j, Effect::Leave)
        } else {
            go(j, Effect::Leave, reported, State::ended())
        }
    }

    #[state_machine(
        initial = "State::creating()",
        state(derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)),
        superstate(derive(Debug))
    )]
    impl Lifecycle {
        /// Not created yet: the initiate makes the call `initiated`, or `busy` when no receiver
        /// can be rung.
        #[state]
        fn creating(context: &mut Judgement, event: &Event) -> Outcome<State> {
            match (event, context.role) {
                (Event::Create, Role::Initiator) if context.facts.others_ringing => {
                    go(context, Effect::Ring, Event::Create, State::initiated())
                }
                (Event::Create, Role::Initiator) => {
                    go(context, Effect::Nothing, Event::ReceiverBusy, State::busy())
                }
                (Event::Create, _) => refuse(context, ErrorCode::NotAllowed),
                _ => refuse(context, ErrorCode::CallNotFound),
            }
        }

        /// Nobody has accepted yet: the receiver may accept or decline, the initiator may
        /// withdraw, and the ring timeout may fire.
        #[superstate]
        fn alerting(context: &mut Judgement, event: &Event) -> Outcome<State> {
            let role = context.role;
            match event {
                Event::Accept => answerable(context).unwrap_or_else(|| {
                    if context.facts.joined_elsewhere {
                        return refuse(context, ErrorCode::AlreadyInCall);
                    }
                    go(context, Effect::Join, Event::Accept, State::accepted())
                }),
                Event::Reject | Event::RejectBusy => {
                    answerable(context).unwrap_or_else(|| decline(context, *event))
                }
                Event::Cancel | Event::GiveUp => match role {
                    Role::Initiator | Role::InitiatorLeft if *event == Event::Cancel => {
                        go(context, Effect::Nothing, Event::Cancel, State::cancelled())
                    }
                    Role::Initiator | Role::InitiatorLeft => {
                        go(context, Effect::Nothing, Event::GiveUp, State::unanswered())
                    }
                    _ => refuse(context, ErrorCode::NotAllowed),
                },
                // "End a ringing call": any party asks for it in the wrong status. A session
                // start is checked like an end.
                Event::End | Event::StartSession => match role {
                    Role::Stranger | Role::Switchboard => refuse(context, ErrorCode::NotAllowed),
                    _ => refuse(context, ErrorCode::InvalidState),
                },
                Event::RingTimeout if role == Role::Switchboard => {
                    go(context, Effect::Nothing, Event::RingTimeout, State::unanswered())
                }
                // The initiator gone for good withdraws its call; a receiver stays rung (the
                // ring timeout ends it).
                Event::InitiatorLost | Event::PartyLost => match role {
                    Role::Initiator => go(context, Effect::Nothing, Event::InitiatorLost, State::cancelled()),
                    _ => stay(context, Effect::Nothing),
                },
                Event::Ack => match role {
                    Role::Receiver(Part::Ringing) => stay(context, Effect::Nothing),
                    _ => refuse(context, ErrorCode::NotAllowed),
                },
                // No participant's session timer runs before an accept.
                Event::SessionTimeout => stay(context, Effect::Nothing),
                _ => refuse(context, ErrorCode::NotAllowed),
            }
        }

        /// Created; no receiver device has acknowledged.
        #[state(superstate = "alerting")]
        fn initiated(context: &mut Judgement, event: &Event) -> Outcome<State> {
            match (event, context.role) {
                (Event::Ack, Role::Receiver(Part::Ringing)) => {
                    go(context, Effect::Nothing, Event::Ack, State::ringing())
                }
                _ => Super,
            }
        }

        /// At least one receiver device rings.
        #[state(superstate = "alerting")]
        fn ringing() -> Outcome<State> {
            Super
        }

        /// The media session runs. Group members still ringing may join or decline; the ring
        /// timeout only stops them; a participant's leave ends the call when fewer than two
        /// remain. The initiator's cancel or give-up (one that crossed the accept) is its leave.
        #[state]
        fn accepted(context: &mut Judgement, event: &Event) -> Outcome<State> {
            let role = context.role;
            match event {
                Event::Accept if context.facts.group => answerable(context).unwrap_or_else(|| {
                    if context.facts.joined_elsewhere {
                        return refuse(context, ErrorCode::AlreadyInCall);
                    }
                    stay(context, Effect::Join)
                }),
                Event::Reject | Event::RejectBusy if context.facts.group => {
                    answerable(context).unwrap_or_else(|| stay(context, Effect::Decline))
                }
                // One-to-one: the receiver answered already.
                Event::Accept | Event::Reject | Event::RejectBusy => {
                    answerable(context).unwrap_or_else(|| refuse(context, ErrorCode::InvalidState))
                }
                Event::End if role.joined() => leave(context, Event::End),
                #[cfg(feature = "plant")]
                Event::Cancel
                    if role == Role::Initiator
                        && crate::plant::on(crate::plant::Plant::CancelAfterAccept) =>
                {
                    go(context, Effect::Nothing, Event::Cancel, State::cancelled())
                }
                Event::Cancel | Event::GiveUp if role == Role::Initiator => leave(context, *event),
                Event::End | Event::Cancel | Event::GiveUp => refuse(context, ErrorCode::NotAllowed),
                Event::InitiatorLost | Event::PartyLost if role.joined() => leave(context, Event::PartyLost),
                Event::InitiatorLost | Event::PartyLost => stay(context, Effect::Nothing),
                Event::RingTimeout if role == Role::Switchboard => stay(context, Effect::StopRingers),
                // A participant starts its session once; anyone else may not.
                Event::StartSession if role.joined() && !context.facts.session_started => {
                    stay(context, Effect::StartSession)
                }
                Event::StartSession => refuse(context, ErrorCode::NotAllowed),
                // A participant that has not started its session in time leaves: `no_media`.
                Event::SessionTimeout if role.joined() && !context.facts.session_started => {
                    leave(context, Event::SessionTimeout)
                }
                Event::SessionTimeout => stay(context, Effect::Nothing),
                Event::Ack => match role {
                    Role::Receiver(Part::Ringing) => stay(context, Effect::Nothing),
                    _ => refuse(context, ErrorCode::NotAllowed),
                },
                _ => refuse(context, ErrorCode::NotAllowed),
            }
        }

        /// Absorbing: no event moves a terminal call. Requests get the role's error: a party
        /// `invalid_state` ("anything on a terminal call"), anyone else `not_allowed`.
        #[superstate]
        fn terminal(context: &mut Judgement, event: &Event) -> Outcome<State> {
            let role = context.role;
            let party = match event {
                Event::Accept | Event::Reject | Event::RejectBusy => matches!(role, Role::Receiver(_)),
                Event::Cancel | Event::GiveUp => matches!(role, Role::Initiator | Role::InitiatorLeft),
                Event::End => !matches!(role, Role::Stranger | Role::Switchboard),
                // Checked like an end; a user who started its session already may not again.
                Event::StartSession if context.facts.session_started => false,
                Event::StartSession => !matches!(role, Role::Stranger | Role::Switchboard),
                // A late ack from a device still rung is harmless; a timer or a loss is moot.
                Event::Ack => {
                    return match role {
                        Role::Receiver(Part::Ringing) => stay(context, Effect::Nothing),
                        _ => refuse(context, ErrorCode::NotAllowed),
                    }
                }
                _ => return stay(context, Effect::Nothing),
            };
            refuse(context, if party { ErrorCode::InvalidState } else { ErrorCode::NotAllowed })
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

        /// Accepted, then ended. In a group call, a member who is not a participant gets
        /// `not_allowed` for `end` (and a session start) "whatever the call's status is by then".
        #[state(superstate = "terminal")]
        fn ended(context: &mut Judgement, event: &Event) -> Outcome<State> {
            match event {
                Event::End | Event::StartSession if context.facts.group && !context.role.joined() => {
                    refuse(context, ErrorCode::NotAllowed)
                }
                _ => Super,
            }
        }
    }
}

impl State {
    /// The contract's status for this state; `None` before the call is created.
    pub const fn status(&self) -> Option<Status> {
        match self {
            State::Creating {} => None,
            State::Initiated {} => Some(Status::Initiated),
            State::Ringing {} => Some(Status::Ringing),
            State::Accepted {} => Some(Status::Accepted),
            State::Rejected {} => Some(Status::Rejected),
            State::Busy {} => Some(Status::Busy),
            State::Cancelled {} => Some(Status::Cancelled),
            State::Unanswered {} => Some(Status::Unanswered),
            State::Ended {} => Some(Status::Ended),
        }
    }
}

/// One call's lifecycle machine.
#[derive(Clone)]
pub struct CallMachine {
    machine: statig::blocking::StateMachine<Lifecycle>,
    /// The status of the machine's state, read back after every event (the only writer): a
    /// status is read far more often than it changes.
    status: Option<Status>,
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

const NO_VERDICT: Verdict = Verdict { outcome: Ok(Effect::Nothing), reported: None, ring_over: false };

impl CallMachine {
    /// A call being created (no status yet): feed it [`Event::Create`].
    pub fn new() -> Self {
        let mut machine = Lifecycle.state_machine();
        let mut context = Judgement { role: Role::Switchboard, facts: Facts::default(), verdict: NO_VERDICT };
        machine.init_with_context(&mut context);
        let status = machine.state().status();
        Self { machine, status }
    }

    /// The status now (`None` before the creation).
    pub fn status(&self) -> Option<Status> {
        debug_assert_eq!(self.status, self.machine.state().status());
        self.status
    }

    /// Feeds one event made by `role`, with the `facts` about the other parties; returns the
    /// verdict. A refused event changes nothing; an allowed one may change the status.
    pub fn handle(&mut self, event: Event, role: Role, facts: Facts) -> Verdict {
        let before = self.status();
        let mut context = Judgement { role, facts, verdict: NO_VERDICT };
        self.machine.handle_with_context(&event, &mut context);
        self.status = self.machine.state().status();
        let after = self.status();
        let mut verdict = context.verdict;
        verdict.ring_over = before != after
            && after.is_some_and(|s| s.is_terminal() || s == Status::Accepted && !facts.group);
        debug_assert!(!before.is_some_and(Status::is_terminal) || before == after, "terminal status left");
        debug_assert!(verdict.outcome.is_ok() || before == after, "a refused event changed the status");
        debug_assert_eq!(verdict.reported.is_some(), before != after, "a status change is reported");
        verdict
    }
}
