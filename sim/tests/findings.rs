//! Seeded runs that once broke an invariant, kept as regressions (found by the `sim_run` fuzz
//! target; see docs/fuzzing.md). Each must now finish with every check passed.

use callsim::population::Options;
use callsim::profile::Profile;
use callsim::runner;
use callsim::trace::Trace;
use std::path::Path;

fn passes(seed: u64, users: u32, duration_s: u64, profile: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(profile);
    let profile = Profile::load(&path).expect("the finding's profile loads");
    let opts = Options { users, duration_ms: duration_s * 1_000, seed, profile };
    let out = runner::run(&opts, Trace::default(), false, &mut |_, _| {});
    assert!(out.failure.is_none(), "{:?}", out.summary.violations);
    assert_eq!(out.summary.calls_by_status.get("in_progress").copied().unwrap_or(0), 0);
}

/// F3: an accept whose answer was lost left the accepting user's view `ringing`; its hang-up,
/// tried on that stale view, was dropped for good, and the call never ended (invariant 3).
#[test]
fn f3_a_hang_up_tried_on_a_stale_view_is_retried() {
    passes(6_879_640_275_261_418_593, 25, 1_030, "fuzz/findings/f3-profile.json");
}

/// F4: an initiator device that lost its initiate's answer never raised `outgoing_call_accepted`
/// (fixed in the core client), so the virtual user that was to hang up never did (invariant 3).
#[test]
fn f4_an_initiator_that_lost_its_answer_still_hangs_up() {
    passes(7_022_922_033_808_697_855, 28, 505, "fuzz/findings/f4-profile.json");
}

/// F7: a device away while more than `CALLS_PER_USER_MAX` newer calls came for its user got a
/// snapshot without a retained call it still saw ringing; it closed it but kept the stale status,
/// and the views differed once quiet (invariant 4).
#[test]
fn f7_a_call_left_out_of_the_snapshot_does_not_break_convergence() {
    passes(18_446_708_889_337_458_442, 15, 735, "fuzz/findings/f7-profile.json");
}

/// F9: the liveness phase reconnects every device at once; the run took "no message in flight"
/// for quiet and checked convergence before the switchboard had learned of the new connections
/// (and of a disconnect just before), so a device whose snapshot was still to come looked
/// stale (invariant 4). Connection changes not yet learned now count as in flight.
#[test]
fn f9_convergence_waits_for_connection_changes_to_be_learned() {
    passes(7_809_653_253_023_071_498, 22, 1_075, "fuzz/findings/f9-profile.json");
}

/// From a command-line audit: a user's last initiate time was kept in 32 bits of ms, so past
/// 2^32 ms (about 49.7 virtual days; `--duration-s` allows 366 days) no call setup was
/// measured any more. Runs of 4.3 and 4.5 million virtual seconds (both past 2^32 ms): the
/// longer one, with about 5 % more calls, must measure more setups.
#[test]
fn call_setup_is_measured_past_two_to_the_32_ms() {
    let run = |duration_s: u64| {
        let opts =
            Options { users: 10, duration_ms: duration_s * 1_000, seed: 9, profile: Profile::default() };
        runner::run(&opts, Trace::default(), false, &mut |_, _| {}).summary
    };
    let (shorter, longer) = (run(4_300_000), run(4_500_000));
    assert!(shorter.duration_s * 1_000 > 1 << 32);
    assert!(longer.calls > shorter.calls, "calls go on");
    assert!(
        longer.setup_ms.count > shorter.setup_ms.count,
        "setups measured: {} then {}",
        shorter.setup_ms.count,
        longer.setup_ms.count
    );
}
