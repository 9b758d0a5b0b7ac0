//! Determinism and record → replay: the same seed gives the same full trace, and a recorded
//! population run replays exactly (same answers, callbacks, final statuses and trace).

use callsim::population::Options;
use callsim::profile::Profile;
use callsim::trace::Trace;
use callsim::{population, replay, runner, scenario};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that keeps what it is given, to compare two traces line by line.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A small population with faults turned up so that drops and partitions happen.
fn small(seed: u64) -> Options {
    let profile = Profile {
        disconnects_per_device_per_hour: 6.0,
        partitions_per_hour: 30.0,
        calls_per_user_per_hour: 6.0,
        ..Profile::default()
    };
    Options { users: 60, duration_ms: 1_200_000, seed, profile }
}

fn traced(opts: &Options) -> (String, runner::RunOutput) {
    let sink = Shared::default();
    let out = runner::run(opts, Trace::with_writer(Box::new(sink.clone())), false, &mut |_, _| {});
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (text, out)
}

#[test]
fn the_same_seed_gives_the_same_full_trace() {
    let (a, out_a) = traced(&small(5));
    let (b, out_b) = traced(&small(5));
    assert!(out_a.failure.is_none(), "{:?}", out_a.failure);
    assert!(a.lines().count() > 1_000, "the run did something");
    assert!(a.contains("\"kind\":\"disconnected\""), "faults dropped devices");
    assert_eq!(a, b, "full traces are equal");
    assert_eq!(out_a.summary.trace_hash, out_b.summary.trace_hash);
    assert_eq!(out_a.summary.events, out_b.summary.events);
}

/// Cache hints read the world and the driver but never change them: a run with every hint
/// given is the run without any (a small world gets none by default, so this is also what
/// keeps the hint code exercised by the tests).
#[test]
fn cache_hints_never_change_a_run() {
    let opts = small(8);
    let run = |hints: bool| {
        let mut engine = population::build(&opts, Trace::default());
        engine.hints = Some(hints);
        assert!(engine.run_until(opts.duration_ms), "{:?}", engine.world.failure());
        let events = engine.world.counters().events;
        (engine.world.trace().hash(), events, engine.world.trace().records())
    };
    let (with, without) = (run(true), run(false));
    assert!(with.1 > 1_000, "the run did something");
    assert_eq!(with, without);
}

/// The ledger checks on a second thread (the sidecar) make the same run: the same summary,
/// the same trace hash, the same number of invariant checks, as on one thread. The population
/// is large enough that many batches of reports go over while the run goes on.
#[test]
fn a_run_with_its_ledgers_on_a_second_thread_is_the_same_run() {
    for seed in [5, 7] {
        let opts = Options { users: 2_000, duration_ms: 1_800_000, ..small(seed) };
        let run = |threads| runner::run_on(&opts, Trace::default(), false, threads, &mut |_, _| {});
        let (one, two) = (run(runner::Threads::One), run(runner::Threads::Two));
        assert!(one.failure.is_none() && two.failure.is_none(), "{:?} {:?}", one.failure, two.failure);
        let batches = one.summary.invariant_checks / callsim::sidecar::BATCH_REPORTS as u64;
        assert!(batches > 20, "many batches went over: about {batches}");
        let same = |s: &runner::Summary| {
            let mut v = serde_json::to_value(s).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("wall_s");
            o.remove("events_per_s");
            v
        };
        assert_eq!(same(&one.summary), same(&two.summary));
    }
}

#[test]
fn another_seed_gives_another_trace() {
    let a = runner::run(&small(5), Trace::default(), false, &mut |_, _| {});
    let b = runner::run(&small(6), Trace::default(), false, &mut |_, _| {});
    assert_ne!(a.summary.trace_hash, b.summary.trace_hash);
}

#[test]
fn the_trace_hash_is_the_same_with_or_without_a_trace_file() {
    let (_, with_file) = traced(&small(9));
    let without = runner::run(&small(9), Trace::default(), false, &mut |_, _| {});
    assert_eq!(with_file.summary.trace_hash, without.summary.trace_hash);
}

/// Runs `opts` with recording on, replays the recording through the file format, and checks
/// that the replay passes and handed the machines the same inputs; returns the run's summary.
fn record_and_replay(opts: &Options) -> runner::Summary {
    let seed = opts.seed;
    let out = runner::run(opts, Trace::default(), true, &mut |_, _| {});
    assert!(out.failure.is_none(), "seed {seed}: {:?}", out.failure);
    let recorded = out.scenario.expect("recording was asked for").expect("recorded");
    assert!(recorded.steps.len() > 50, "seed {seed}: the run issued commands");
    // Through the file format and back, as `callsim replay` would read it.
    let text = serde_json::to_string_pretty(&recorded).unwrap();
    let parsed = scenario::parse(&text, std::path::Path::new("recorded.json")).unwrap();
    assert_eq!(parsed, recorded);
    let report = replay::run(&parsed, Trace::default());
    assert!(report.passed(), "seed {seed}: {:#?}", &report.differences[..report.differences.len().min(5)]);
    assert_eq!(
        format!("{:016x}", report.trace_hash),
        out.summary.trace_hash,
        "seed {seed}: the replay handed the machines the same inputs in the same order"
    );
    assert_eq!(report.events, out.summary.events);
    out.summary
}

#[test]
fn a_recorded_run_replays_exactly() {
    for seed in [1, 2, 3] {
        record_and_replay(&small(seed));
    }
}

/// A slow network: many answers come after their request timed out, and some initiates
/// that their client answered `timeout` still create calls, whose labels the replay must
/// bind when the switchboard creates them (the format binds a label at creation).
#[test]
fn a_recorded_run_replays_exactly_when_requests_time_out() {
    let profile = Profile {
        latency_ms: callsim::net::Latency::Uniform { min: 10, max: 12_000 },
        disconnects_per_device_per_hour: 0.0,
        partitions_per_hour: 0.0,
        ..Profile::default()
    };
    let mut timeouts = 0;
    for seed in [1, 2, 3] {
        let summary =
            record_and_replay(&Options { users: 200, duration_ms: 600_000, seed, profile: profile.clone() });
        timeouts += summary.errors.get("timeout").copied().unwrap_or(0);
    }
    assert!(timeouts > 10, "the network was slow enough for requests to time out: {timeouts}");
}
