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
/// hand (17 moves): the caller initiates (1); the switchboard learns the caller's connection,
/// takes the initiate and only then learns the callee's connection, so the callee's snapshot
/// rings it (3); the caller disconnects before its snapshot and answer arrive, losing both (1);
/// the callee's snapshot arrives (1); the caller reconnects and the callee accepts (2); the
/// disconnect and the callee's ack arrive (2), the ringing notice reaches the callee (1); the
/// accept, the caller's connection and its resent initiate arrive, in that order, so the
/// caller's snapshot has the call `accepted` (3); the caller's snapshot and the repeated answer
/// (which raises nothing either) arrive, before the request's timer (1 + 1), and the callee's
/// answer (1). Every item sent is delivered or lost before a state is quiet, and learning the
/// callee first (a snapshot and a ring) or letting the request time out adds a move.
#[test]
fn an_own_call_recorded_silently_leaves_the_caller_unaware_f4() {
    let (invariant, len) = find(Plant::OwnCallSilent, "default");
    assert_eq!(invariant, 4);
    assert!(len <= 17, "{len} moves");
}

/// A second device that rings on after the call was answered: the callee's other device takes the
/// `answered_elsewhere` notice into its view without telling its application. Its view converges,
/// so only the caught-up check sees it (invariant 4: a receiver's device that rang has raised its
/// terminal callback once the call no longer rings it). The shortest path, counted by hand
/// (19 moves): the caller initiates (1); the switchboard learns the caller's connection, the
/// initiate arrives and then it learns the callee's two connections, so their snapshots ring them
/// (4); the three snapshots and the caller's answer arrive (4); both callee devices' acks arrive,
/// the first makes the call ring (2); the ringing notices reach all three devices (3); the callee
/// accepts on its first device and the accept arrives (2); the answer, the `answered_elsewhere`
/// notice and the caller's `accepted` notice arrive (3).
#[test]
fn a_second_device_that_rings_on_after_the_answer_is_seen() {
    let (invariant, len) = find(Plant::ElsewhereSilent, "pair-2x2");
    assert_eq!(invariant, 4);
    assert!(len <= 19, "{len} moves");
}

/// A caller's screen that rings on after the callee declined: the caller's device takes the
/// `outgoing_call_rejected` notice into its view without telling its application. Its view
/// converges, so only the caught-up check sees it. The shortest path, counted by hand
/// (14 moves): the caller initiates (1); the switchboard learns the caller's connection, takes the
/// initiate and then learns the callee's, whose snapshot rings it (3); the caller's snapshot and
/// answer and the callee's snapshot arrive (3); the callee's ack arrives and makes the call ring
/// (1), its ringing notices reach both devices (2); the callee declines and the decline arrives
/// (2); its answer and the caller's `rejected` notice arrive (2).
#[test]
fn a_caller_that_rings_on_after_the_decline_is_seen() {
    let (invariant, len) = find(Plant::RejectedSilent, "one-call");
    assert_eq!(invariant, 4);
    assert!(len <= 14, "{len} moves");
}

/// A call stuck ringing on the caller's screen: the caller's device takes the notice that the
/// ring timeout ended the call into its view without telling its application. The shortest path,
/// counted by hand (13 moves): the caller initiates (1); the switchboard learns the caller's
/// connection, takes the initiate and then learns the callee's, whose snapshot rings it (3); the
/// caller's snapshot and answer and the callee's snapshot arrive (3); the callee's ack arrives
/// and makes the call ring (1), its ringing notices reach both devices (2), so the caller's
/// application hears `outgoing_call_ringing`; the ring timeout fires (1); the `unanswered` notices
/// reach both devices (2).
#[test]
fn a_call_stuck_ringing_after_the_ring_timeout_is_seen() {
    let (invariant, len) = find(Plant::UnansweredSilent, "one-drop");
    assert_eq!(invariant, 4);
    assert!(len <= 13, "{len} moves");
}
