//! The checker checks: each bug planted in callcore (`callcore::plant`, test-only) is found by
//! `callsim explore`, with a counterexample no longer than a stated bound, whose scenario file
//! fails under `callsim replay` with the bug planted, with the same invariant, and passes
//! without it.

use callcore::plant::{self, Plant};
use callsim::explore::counterexample::Counterexample;
use callsim::explore::{search, Limits, World};
use callsim::scenario;
use callsim::trace::Trace;
use std::path::Path;
use std::sync::Mutex;

/// The planted bugs are switched process-wide: one test at a time.
static PLANTED: Mutex<()> = Mutex::new(());

/// Explores `world` with `bug` planted; returns the invariant broken and the path's length,
/// after checking that the counterexample replays and fails with it (and passes unplanted).
fn find(bug: Plant, world: &str) -> (u8, usize) {
    find_in(bug, World::named(world).unwrap())
}

fn find_in(bug: Plant, world: World) -> (u8, usize) {
    let _one = PLANTED.lock().unwrap_or_else(|e| e.into_inner());
    plant::set(&[bug]);
    let out = search(&world, Limits::default());
    let found = out.found.unwrap_or_else(|| panic!("{bug:?} not found in {}", world.name));
    // The full graph (no partial-order reduction) breaks the same invariant, by a path no
    // longer; the depth-first search finds a violation too.
    let full = search(&world, Limits { reduction: false, ..Limits::default() });
    let full = full.found.unwrap_or_else(|| panic!("{bug:?} not found in the full graph"));
    assert_eq!(
        full.violation.invariant, found.violation.invariant,
        "{bug:?}: same invariant in the full graph"
    );
    assert!(full.path.len() <= found.path.len(), "{bug:?}: the full graph's path is a shortest one");
    let deep = search(&world, Limits { depth_first: true, ..Limits::default() });
    assert!(deep.found.is_some(), "{bug:?}: found depth-first");
    let c = Counterexample::of(&world, &found, 1_000_000);
    assert!(c.exact, "{bug:?}: a counterexample in the simulator's order");
    let s = scenario::parse(&c.scenario_json(), Path::new("counterexample.json")).expect("a valid scenario");
    let planted = callsim::replay::run(&s, Trace::default());
    plant::set(&[]);
    let clean = callsim::replay::run(&s, Trace::default());
    let failure = planted.failure.unwrap_or_else(|| panic!("{bug:?}: the replay does not fail"));
    assert_eq!(failure.violation.invariant, found.violation.invariant, "{bug:?}: same invariant");
    assert!(clean.passed(), "{bug:?}: without the bug the replay passes: {:?}", clean.failure);
    (found.violation.invariant, found.path.len())
}

#[test]
fn a_skipped_busy_check_breaks_involvement() {
    let (invariant, len) = find(Plant::BusySkipped, "busy-3");
    assert_eq!(invariant, 1);
    assert!(len <= 8, "{len} moves");
}

#[test]
fn a_callback_raised_twice_breaks_the_callback_grammar() {
    let (invariant, len) = find(Plant::CallbackTwice, "one-call");
    assert_eq!(invariant, 5);
    assert!(len <= 12, "{len} moves");
}

#[test]
fn a_cancel_accepted_after_accept_is_no_row_of_the_table() {
    let (invariant, len) = find(Plant::CancelAfterAccept, "two-commands");
    assert_eq!(invariant, 6);
    assert!(len <= 14, "{len} moves");
}

#[test]
fn a_missing_dedup_acts_on_a_retry_twice() {
    let (invariant, len) = find(Plant::DedupMissing, "one-drop");
    assert_eq!(invariant, callsim::explore::state::rule::ACTED_ONCE);
    assert!(len <= 12, "{len} moves");
}

#[test]
fn a_request_timer_kept_answers_a_request_twice() {
    let (invariant, len) = find(Plant::RequestTimerKept, "one-call");
    assert_eq!(invariant, callsim::explore::state::rule::ONE_ANSWER);
    assert!(len <= 12, "{len} moves");
}

/// The fuzzers' F1 re-planted. With a fixed 1 ms latency its race needs a request and the ring
/// timeout to meet in the same ms in the order the simulator never takes (the explorer finds it,
/// but the replay would not fail); with latencies of 1 to 2 ms it has a path in the simulator's
/// order.
#[test]
fn a_late_answer_dropped_leaves_a_stale_view_f1() {
    let mut world = World::named("default").unwrap();
    world.latency_ms_max = 2;
    let (invariant, len) = find_in(Plant::LateAnswerDropped, world);
    assert_eq!(invariant, 4);
    assert!(len <= 24, "{len} moves");
}

/// Contract version 2: a push `cancel` the switchboard forgets. The shortest path: the callee's
/// second device drops and the switchboard learns it; the caller calls (its initiate arrives:
/// the offline device is pushed `ring`); the callee accepts on its first device (the accept
/// arrives: the call stops ringing it, and no `cancel` goes out), with the three connections
/// learned at the start on the way.
#[test]
fn a_forgotten_push_cancel_breaks_invariant_8() {
    let (invariant, len) = find(Plant::PushCancelSkipped, "push");
    assert_eq!(invariant, 8);
    assert!(len <= 14, "{len} moves");
}

/// Contract version 2: no session start timeout for the accepter. The shortest path, counted by
/// hand (17 moves): the switchboard learns both connections and sends both snapshots (4); the
/// caller's initiate goes out and arrives, its answer and the callee's ring arrive, the ack
/// arrives and the caller hears it ringing (6); the callee accepts, the accept arrives, its answer
/// and the caller's accepted notice arrive (4); the caller starts its session, the request
/// arrives and is answered (3), which cancels the call's session timer: quiet, the callee in the
/// accepted call with no session and nothing left to make it leave.
#[test]
fn a_session_timer_never_started_breaks_invariant_9() {
    let (invariant, len) = find(Plant::SessionTimerSkipped, "media");
    assert_eq!(invariant, 9);
    assert!(len <= 17, "{len} moves");
}

/// The fuzzers' F4 re-planted: a snapshot's entry for the user's own live outgoing call, unknown
/// to the device, is recorded silently. Found by the check that a caught-up device has raised
/// what it missed (invariant 4, `callcore::grammar::CAUGHT_UP`). The shortest path, counted by
/// hand (19 moves): the caller initiates (1); the switchboard learns both connections and the
/// initiate arrives (3); the caller disconnects before its answer arrives, losing it (1); the
/// callee's snapshot and ring arrive (2); the disconnect is learned and the callee's ack
/// arrives (2); the callee accepts and the caller reconnects (2); the ringing notice reaches the
/// callee (1); the accept, the caller's connection and its resent initiate arrive, in that order,
/// so the caller's snapshot has the call `accepted` (3); the caller's request times out before
/// the repeated answer comes (1: a timely answer would tell it the call); the callee's answer and
/// the caller's snapshot and late answer arrive (3). Every item sent is delivered before the
/// state is quiet, so none of these can be left out.
#[test]
fn an_own_call_recorded_silently_leaves_the_caller_unaware_f4() {
    let (invariant, len) = find(Plant::OwnCallSilent, "default");
    assert_eq!(invariant, 4);
    assert!(len <= 19, "{len} moves");
}
