//! The callback grammar (`callcore::grammar`), rule by rule: each legal and each illegal sequence
//! named, and a property test that for random sequences its verdicts, and the callback
//! ledger's (invariant 5), equal those of a plain reference written here from the rules.

use callcore::grammar::{next, Refusal, Role, State};
use callcore::testing::invariants::CallbackLedger;
use callcore::{CallbackKind, CancelReason, DeviceId, EndReason, RejectReason, SessionId, UserId};
use proptest::prelude::*;

const RECEIVED: CallbackKind = CallbackKind::IncomingCallReceived;
const RINGING: CallbackKind = CallbackKind::OutgoingCallRinging;
const ACCEPTED: CallbackKind = CallbackKind::OutgoingCallAccepted;
const REJECTED: CallbackKind = CallbackKind::OutgoingCallRejected(RejectReason::Rejected);
const CANCELLED: CallbackKind = CallbackKind::IncomingCallCancelled(CancelReason::Cancelled);
const ENDED: CallbackKind = CallbackKind::CallEnded(EndReason::Hangup);

const OUT: Role = Role::Outgoing;
const IN: Role = Role::Incoming;

/// Feeds `sequence` from `Idle`: the state at its end, or the first callback refused (its
/// position and why).
fn walk(role: Role, sequence: &[CallbackKind]) -> Result<State, (usize, Refusal)> {
    let mut state = State::Idle;
    for (i, &kind) in sequence.iter().enumerate() {
        state = next(role, state, kind).map_err(|refusal| (i, refusal))?;
    }
    Ok(state)
}

fn legal(role: Role, sequence: &[CallbackKind], end: State) {
    assert_eq!(walk(role, sequence), Ok(end), "{role:?} {sequence:?}");
}

fn illegal(role: Role, sequence: &[CallbackKind], refusal: Refusal) {
    let at = sequence.len() - 1;
    assert_eq!(walk(role, sequence), Err((at, refusal)), "{role:?} {sequence:?}: the last one is refused");
}

#[test]
fn the_sequences_of_a_call_on_the_initiators_device() {
    legal(OUT, &[], State::Idle);
    legal(OUT, &[RINGING], State::Ringing);
    legal(OUT, &[RINGING, ACCEPTED], State::Accepted);
    legal(OUT, &[RINGING, ACCEPTED, ENDED], State::Done);
    legal(OUT, &[RINGING, REJECTED], State::Done);
    legal(OUT, &[RINGING, ENDED], State::Done);
    legal(OUT, &[ACCEPTED, ENDED], State::Done);
    legal(OUT, &[REJECTED], State::Done);
    legal(OUT, &[ENDED], State::Done);
}

#[test]
fn the_sequences_of_a_call_on_a_receivers_device() {
    legal(IN, &[], State::Idle);
    legal(IN, &[RECEIVED], State::Received);
    legal(IN, &[RECEIVED, CANCELLED], State::Done);
    legal(IN, &[RECEIVED, ENDED], State::Done);
    legal(IN, &[CANCELLED], State::Done);
}

#[test]
fn incoming_call_received_at_most_once() {
    illegal(IN, &[RECEIVED, RECEIVED], Refusal::Twice);
}

#[test]
fn at_most_one_terminal_callback_and_nothing_after_it() {
    let outgoing_ends: [&[CallbackKind]; 4] =
        [&[REJECTED], &[ENDED], &[RINGING, REJECTED], &[ACCEPTED, ENDED]];
    for end in outgoing_ends {
        for kind in CallbackKind::ALL {
            illegal(OUT, &[end, &[kind]].concat(), Refusal::AfterTerminal);
        }
    }
    let incoming_ends: [&[CallbackKind]; 3] = [&[CANCELLED], &[RECEIVED, CANCELLED], &[RECEIVED, ENDED]];
    for end in incoming_ends {
        for kind in CallbackKind::ALL {
            illegal(IN, &[end, &[kind]].concat(), Refusal::AfterTerminal);
        }
    }
}

#[test]
fn outgoing_callbacks_only_on_the_initiators_devices() {
    illegal(IN, &[RINGING], Refusal::WrongRole);
    illegal(IN, &[ACCEPTED], Refusal::WrongRole);
    illegal(IN, &[REJECTED], Refusal::WrongRole);
    illegal(IN, &[RECEIVED, RINGING], Refusal::WrongRole);
    illegal(IN, &[RECEIVED, REJECTED], Refusal::WrongRole);
}

#[test]
fn incoming_callbacks_only_on_a_receivers_devices() {
    illegal(OUT, &[RECEIVED], Refusal::WrongRole);
    illegal(OUT, &[CANCELLED], Refusal::WrongRole);
    illegal(OUT, &[RINGING, RECEIVED], Refusal::WrongRole);
    illegal(OUT, &[RINGING, ACCEPTED, CANCELLED], Refusal::WrongRole);
}

#[test]
fn outgoing_call_ringing_at_most_once() {
    illegal(OUT, &[RINGING, RINGING], Refusal::Twice);
}

#[test]
fn outgoing_call_ringing_never_after_outgoing_call_accepted() {
    illegal(OUT, &[ACCEPTED, RINGING], Refusal::RingingAfterAccepted);
    illegal(OUT, &[RINGING, ACCEPTED, RINGING], Refusal::RingingAfterAccepted);
}

#[test]
fn outgoing_call_rejected_never_after_outgoing_call_accepted() {
    illegal(OUT, &[ACCEPTED, REJECTED], Refusal::RejectedAfterAccepted);
    illegal(OUT, &[RINGING, ACCEPTED, REJECTED], Refusal::RejectedAfterAccepted);
}

#[test]
fn outgoing_call_accepted_at_most_once() {
    illegal(OUT, &[ACCEPTED, ACCEPTED], Refusal::Twice);
    illegal(OUT, &[RINGING, ACCEPTED, ACCEPTED], Refusal::Twice);
}

/// A receiver's device that accepted a call it never rang for (it learned of it otherwise) may
/// end it: invariant 5 asks nothing more.
#[test]
fn call_ended_on_a_receivers_device_with_or_without_incoming_call_received() {
    legal(IN, &[ENDED], State::Done);
    legal(IN, &[RECEIVED, ENDED], State::Done);
    illegal(IN, &[ENDED, RECEIVED], Refusal::AfterTerminal);
}

#[test]
fn a_repeat_is_stale_a_contradiction_is_not() {
    for stale in [Refusal::AfterTerminal, Refusal::Twice, Refusal::RingingAfterAccepted] {
        assert!(stale.is_stale(), "{stale:?}");
    }
    for contradiction in [Refusal::WrongRole, Refusal::RejectedAfterAccepted] {
        assert!(!contradiction.is_stale(), "{contradiction:?}");
    }
}

/// The reference: what a device raised so far for one call, and the rules written out.
#[derive(Clone, Copy, Debug, Default)]
struct Reference {
    received: bool,
    ringing: bool,
    accepted: bool,
    terminal: bool,
}

impl Reference {
    /// The verdict on `kind` for a device of `outgoing`'s role; a legal callback is recorded.
    fn observe(&mut self, outgoing: bool, kind: CallbackKind) -> Result<(), Refusal> {
        if let Some(refusal) = self.refusal(outgoing, kind) {
            return Err(refusal);
        }
        match kind {
            CallbackKind::IncomingCallReceived => self.received = true,
            CallbackKind::OutgoingCallRinging => self.ringing = true,
            CallbackKind::OutgoingCallAccepted => self.accepted = true,
            _ => self.terminal = true,
        }
        Ok(())
    }

    fn refusal(&self, outgoing: bool, kind: CallbackKind) -> Option<Refusal> {
        use CallbackKind as K;
        let for_outgoing = match kind {
            K::OutgoingCallRinging | K::OutgoingCallAccepted | K::OutgoingCallRejected(_) => Some(true),
            K::IncomingCallReceived | K::IncomingCallCancelled(_) => Some(false),
            K::CallEnded(_) => None, // both roles
        };
        if self.terminal {
            Some(Refusal::AfterTerminal)
        } else if for_outgoing.is_some_and(|o| o != outgoing) {
            Some(Refusal::WrongRole)
        } else if kind == K::OutgoingCallRinging && self.accepted {
            Some(Refusal::RingingAfterAccepted)
        } else if matches!(kind, K::OutgoingCallRejected(_)) && self.accepted {
            Some(Refusal::RejectedAfterAccepted)
        } else if kind == K::IncomingCallReceived && self.received
            || kind == K::OutgoingCallRinging && self.ringing
            || kind == K::OutgoingCallAccepted && self.accepted
        {
            Some(Refusal::Twice)
        } else {
            None
        }
    }
}

fn any_kind() -> impl Strategy<Value = CallbackKind> {
    prop::sample::select(CallbackKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Every step of a random sequence: the grammar, the ledger and the reference agree (a
    /// refused callback leaves each where it was, and the sequence goes on).
    #[test]
    fn the_grammar_and_the_ledger_agree_with_the_reference(
        outgoing in any::<bool>(),
        sequence in prop::collection::vec(any_kind(), 0..10),
    ) {
        let role = Role::of(outgoing);
        let device = DeviceId::new(UserId(1), 0);
        let session = SessionId(7);
        let mut state = State::Idle;
        let mut ledger = CallbackLedger::new();
        let mut reference = Reference::default();
        for kind in sequence {
            let expected = reference.observe(outgoing, kind);
            let verdict = next(role, state, kind);
            prop_assert_eq!(verdict.map(|_| ()), expected, "{:?} {:?} from {:?}", role, kind, state);
            state = verdict.unwrap_or(state);
            let judged = ledger.observe(device, session, outgoing, kind);
            prop_assert_eq!(judged.is_ok(), expected.is_ok());
        }
    }
}
