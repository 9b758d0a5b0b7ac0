//! Population runs with push ringing and the media session (contract version 2): pushes go out,
//! wake offline apps that then answer, dead apps end their calls `no_media`, every invariant
//! holds (8 and 9 included), and the run is deterministic.

use callsim::population::Options;
use callsim::profile::Profile;
use callsim::runner::{self, RunOutput, Threads};
use callsim::trace::Trace;

/// 300 users calling often for ten virtual minutes, app deaths turned up.
fn opts(seed: u64, profile: Profile) -> Options {
    Options { users: 300, duration_ms: 600_000, seed, profile }
}

fn profile() -> Profile {
    Profile { calls_per_user_per_hour: 12.0, app_death_probability: 0.1, ..Profile::default() }
}

fn run(opts: &Options) -> RunOutput {
    runner::run_on(opts, Trace::default(), false, Threads::One, &mut |_, _| {})
}

#[test]
fn pushes_wake_offline_apps_that_answer_and_dead_apps_end_calls_no_media() {
    let out = run(&opts(3, profile()));
    assert!(out.failure.is_none(), "{:?}", out.failure);
    let s = &out.summary;
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    assert!(
        s.pushes_ring > 0 && s.pushes_cancel > 0,
        "pushes sent: {} ring, {} cancel",
        s.pushes_ring,
        s.pushes_cancel
    );
    assert!(s.devices_woken_by_push > 0, "devices woken");
    assert!(s.accepts_from_pushed_device > 0, "calls answered from a pushed device");
    assert!(s.sessions_started > 0, "media sessions started");
    assert!(
        s.app_deaths > 0 && s.calls_ended_no_media > 0,
        "{} deaths, {} no_media",
        s.app_deaths,
        s.calls_ended_no_media
    );
    assert!(s.session_start_timeouts >= s.calls_ended_no_media, "each no_media call had a timeout");
    assert!(s.offline_callee_calls > 0 && s.offline_callee_accepted > 0, "offline callees reached");
    assert_eq!(s.calls_by_status["in_progress"], 0);
}

#[test]
fn the_same_seed_gives_the_same_trace_hash_with_push_and_media() {
    let (a, b) = (run(&opts(4, profile())), run(&opts(4, profile())));
    assert!(a.failure.is_none(), "{:?}", a.failure);
    assert_eq!(a.summary.trace_hash, b.summary.trace_hash);
    assert_eq!(a.summary.events, b.summary.events);
    assert_eq!(a.summary.devices_woken_by_push, b.summary.devices_woken_by_push);
}

/// Without push registrations nothing is pushed nor woken, no app dies without deaths, and a
/// callee with no device connected is reached only if one of its devices comes online to call.
#[test]
fn no_push_no_wake_and_no_death_no_media() {
    let quiet = Profile { push_share: 0.0, app_death_probability: 0.0, ..profile() };
    let out = run(&opts(5, quiet));
    assert!(out.failure.is_none(), "{:?}", out.failure);
    let s = &out.summary;
    assert_eq!((s.pushes_ring, s.pushes_cancel, s.devices_woken_by_push), (0, 0, 0));
    assert_eq!((s.app_deaths, s.calls_ended_no_media), (0, 0));
    assert!(s.sessions_started > 0);
    assert!(s.offline_callee_calls > 0);
}
