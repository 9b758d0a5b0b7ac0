//! Test-only: known bugs planted at exact points of the machines, each off unless switched on
//! at run time ([`set`]). The simulator's model checker (`callsim explore`) is tested by
//! switching one on and asserting that it finds a counterexample. Compiled only with the
//! `plant` feature, which nothing enables by default.

use std::sync::atomic::{AtomicU32, Ordering};

/// A planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Plant {
    /// The switchboard acts again on a repeated request id instead of answering from memory.
    DedupMissing = 1,
    /// A client raises again a callback it already raised when a notice or snapshot repeats it.
    CallbackTwice = 2,
    /// The switchboard rings a receiver that is already involved in a call (no busy check).
    BusySkipped = 4,
    /// The initiator's cancel of an accepted call makes it `cancelled` instead of its leave.
    CancelAfterAccept = 8,
    /// A client keeps a request waiting after its answer came (its timer is not cancelled), so
    /// the request is answered a second time, `timeout`. (A ring timer that is not cancelled is
    /// no bug here: a timer fired when no longer due is judged by the call's machine, and the
    /// checker rightly finds nothing; see docs/verification.md.)
    RequestTimerKept = 16,
    /// The fuzzers' finding F1 (docs/fuzzing.md): an answer that arrives after its request
    /// timed out is dropped, call object and all, so the device's view of the call stays stale.
    LateAnswerDropped = 32,
    /// The switchboard forgets the push `cancel` owed to a pushed device when the call stops
    /// ringing its user (contract version 2, invariant 8).
    PushCancelSkipped = 64,
    /// The switchboard starts no media-session timeout for the participant that accepts (its
    /// user may stay in the call without a session for ever; invariant 9).
    SessionTimerSkipped = 128,
    /// The fuzzers' finding F4 (docs/fuzzing.md): a snapshot's entry for the user's own live
    /// outgoing call, unknown to the device (its initiate's answer was lost, or it is another
    /// device of the initiator), is recorded silently, so the device's application never hears
    /// `outgoing_call_accepted`.
    OwnCallSilent = 256,
    /// A client takes the notice that its user's call was answered on another device into its
    /// view without raising `incoming_call_cancelled answered_elsewhere`: the second device
    /// rings on after the call was answered.
    ElsewhereSilent = 512,
    /// A client takes the notice that its user's call was declined into its view without
    /// raising `outgoing_call_rejected`: the caller's screen rings on.
    RejectedSilent = 1024,
    /// A client takes the notice that its user's call went unanswered (the ring timeout) into
    /// its view without raising `outgoing_call_rejected unanswered`: a call stuck ringing on the
    /// caller's screen.
    UnansweredSilent = 2048,
}

impl Plant {
    /// Every planted bug.
    pub const ALL: [Plant; 12] = [
        Plant::DedupMissing,
        Plant::CallbackTwice,
        Plant::BusySkipped,
        Plant::CancelAfterAccept,
        Plant::RequestTimerKept,
        Plant::LateAnswerDropped,
        Plant::PushCancelSkipped,
        Plant::SessionTimerSkipped,
        Plant::OwnCallSilent,
        Plant::ElsewhereSilent,
        Plant::RejectedSilent,
        Plant::UnansweredSilent,
    ];

    /// The bug's name in snake case (as the command line takes it).
    pub fn name(self) -> &'static str {
        match self {
            Plant::DedupMissing => "dedup_missing",
            Plant::CallbackTwice => "callback_twice",
            Plant::BusySkipped => "busy_skipped",
            Plant::CancelAfterAccept => "cancel_after_accept",
            Plant::RequestTimerKept => "request_timer_kept",
            Plant::LateAnswerDropped => "late_answer_dropped",
            Plant::PushCancelSkipped => "push_cancel_skipped",
            Plant::SessionTimerSkipped => "session_timer_skipped",
            Plant::OwnCallSilent => "own_call_silent",
            Plant::ElsewhereSilent => "elsewhere_silent",
            Plant::RejectedSilent => "rejected_silent",
            Plant::UnansweredSilent => "unanswered_silent",
        }
    }

    /// Every bug's name, comma-separated (for an error message).
    pub fn names() -> String {
        Plant::ALL.map(Plant::name).join(", ")
    }

    /// The bug of that name.
    pub fn from_name(name: &str) -> Option<Plant> {
        Plant::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The bugs switched on, one bit each (process-wide).
static PLANTED: AtomicU32 = AtomicU32::new(0);

/// Switches on exactly `plants` (none: every bug off).
pub fn set(plants: &[Plant]) {
    let bits = plants.iter().fold(0, |acc, p| acc | *p as u32);
    PLANTED.store(bits, Ordering::SeqCst);
}

/// Whether `plant` is switched on.
#[inline]
pub fn on(plant: Plant) -> bool {
    PLANTED.load(Ordering::Relaxed) & plant as u32 != 0
}
