//! One population run from start to verdict: the safety phase, the liveness phase and its
//! bound, the convergence check once quiet, and a summary.

use crate::engine::{Engine, Failure};
use crate::population::{self, Options, Phase, Population};
use crate::record::RecordError;
use crate::record::Recorder;
use crate::scenario::Scenario;
use crate::stats::Percentiles;
use crate::trace::Trace;
use callcore::{ErrorCode, Status};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// What a population run reports.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Virtual users.
    pub users: u32,
    /// Devices.
    pub devices: u64,
    /// Safety phase, virtual seconds.
    pub duration_s: u64,
    /// When the run stopped, virtual ms.
    pub end_ms: u64,
    /// Inputs handed to the switchboard and the clients.
    pub events: u64,
    /// Messages sent either way.
    pub messages: u64,
    /// Messages lost in flight.
    pub messages_lost: u64,
    /// Application commands.
    pub commands: u64,
    /// Calls created.
    pub calls: u64,
    /// Calls by final status (`in_progress` for calls not terminal).
    pub calls_by_status: BTreeMap<String, u64>,
    /// Answers by error code.
    pub errors: BTreeMap<String, u64>,
    /// Call attempts skipped (user offline or on a call).
    pub attempts_skipped: u64,
    /// Initiate → ringing at the caller, ms.
    pub setup_ms: Percentiles,
    /// Creation → accept, ms.
    pub ring_ms: Percentiles,
    /// Accept → end, ms.
    pub talk_ms: Percentiles,
    /// Push `ring`s the switchboard emitted (its statistics).
    pub pushes_ring: u64,
    /// Push `cancel`s the switchboard emitted (its statistics).
    pub pushes_cancel: u64,
    /// Devices a push `ring` woke (each wake that connected a device).
    pub devices_woken_by_push: u64,
    /// Accepts sent from a device woken by a push for that call.
    pub accepts_from_pushed_device: u64,
    /// `start_session` requests answered with success.
    pub sessions_started: u64,
    /// Participants whose app died before starting the media session.
    pub app_deaths: u64,
    /// Calls whose status changed to `ended` with reason `no_media`.
    pub calls_ended_no_media: u64,
    /// Participants the switchboard made leave for not starting their media session in time
    /// (its `session_timeouts` statistic; a group call may count several).
    pub session_start_timeouts: u64,
    /// One-to-one calls whose callee had no device connected (as the switchboard held it) when
    /// the call was created.
    pub offline_callee_calls: u64,
    /// Those of them that were accepted.
    pub offline_callee_accepted: u64,
    /// Invariant checks done.
    pub invariant_checks: u64,
    /// Broken invariants (at most one: a violation stops the run).
    pub violations: Vec<String>,
    /// Hash of the full trace, hex.
    pub trace_hash: String,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Events per second of wall time.
    pub events_per_s: f64,
}

/// A finished run.
pub struct RunOutput {
    /// The summary.
    pub summary: Summary,
    /// The broken invariant, if any.
    pub failure: Option<Failure>,
    /// The run as a scenario, when recording: the scenario, or why it could not be made.
    pub scenario: Option<Result<Scenario, RecordError>>,
    /// The first error writing the trace, if one was written and failed.
    pub trace_error: Option<String>,
}

/// How often the progress callback is called, in events.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Whether a run hands its ledger checks (invariants 2, 5 and 7) to a second thread (see
/// [`crate::sidecar`]). Either way the run, its summary and its trace hash are the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threads {
    /// A second thread for populations of at least [`SIDECAR_USERS_MIN`] users, when the
    /// machine has a second core and no trace is written out.
    #[default]
    Auto,
    /// Everything on the calling thread (as `callsim check` runs each seed: its seeds already
    /// use every core).
    One,
    /// A second thread whenever no trace is written out (tests of the sidecar itself).
    Two,
}

/// Populations from this many users on get a sidecar under [`Threads::Auto`].
pub const SIDECAR_USERS_MIN: u32 = 1 << 16;

impl Threads {
    fn sidecar(self, opts: &Options) -> bool {
        match self {
            Threads::One => false,
            Threads::Two => true,
            Threads::Auto => {
                opts.users >= SIDECAR_USERS_MIN
                    && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
            }
        }
    }
}

/// Runs a population to its verdict ([`Threads::Auto`]). `progress` is called now and then
/// with (virtual ms now, virtual ms at the end).
pub fn run(opts: &Options, trace: Trace, record: bool, progress: &mut dyn FnMut(u64, u64)) -> RunOutput {
    run_on(opts, trace, record, Threads::Auto, progress)
}

/// Runs a population to its verdict on `threads`.
pub fn run_on(
    opts: &Options,
    trace: Trace,
    record: bool,
    threads: Threads,
    progress: &mut dyn FnMut(u64, u64),
) -> RunOutput {
    let started = Instant::now();
    if threads.sidecar(opts) && !trace.is_written() {
        if let Some(out) = run_once(opts, trace, record, true, started, progress) {
            return out;
        }
        // The sidecar found a violation after the run had gone past it: run the seed again
        // on one thread, which stops at the violating step (the run is deterministic).
        return run_once(opts, Trace::default(), record, false, started, progress)
            .expect("a run on one thread always finishes");
    }
    run_once(opts, trace, record, false, started, progress).expect("a run on one thread always finishes")
}

/// One run; `None` when its sidecar found a violation (the run is then to be done again on
/// one thread).
fn run_once(
    opts: &Options,
    trace: Trace,
    record: bool,
    sidecar: bool,
    started: Instant,
    progress: &mut dyn FnMut(u64, u64),
) -> Option<RunOutput> {
    let mut engine = population::build(opts, trace);
    if record {
        engine.world.executed = Some(Vec::new());
        engine.driver.recorder = Some(Recorder::default());
    }
    if sidecar {
        engine.world.start_sidecar();
    }
    // Saturating: a deadline that wrapped around would end the run early and report live calls
    // as stuck.
    let deadline = opts.duration_ms.saturating_add(population::liveness_bound_ms(&opts.profile));
    drive(&mut engine, deadline, progress);
    if engine.world.finish_sidecar().is_some() {
        return None;
    }
    if engine.world.failure().is_none() {
        Population::check_liveness(&mut engine.world, deadline);
    }
    let end_ms = settle(&mut engine, deadline);
    let scenario = record.then(|| {
        let name = format!("recorded run: seed {}, {} users", opts.seed, opts.users);
        let recorder = engine.driver.recorder.take().unwrap_or_default();
        recorder.scenario(&engine.world, &name, opts.seed, end_ms)
    });
    let trace_error = engine.world.trace().finish().err();
    let summary = summarize(&mut engine, opts, end_ms, started.elapsed().as_secs_f64());
    Some(RunOutput { summary, failure: engine.world.failure().cloned(), scenario, trace_error })
}

/// Runs to the deadline; in the liveness phase, checks convergence the first time it is quiet.
fn drive(engine: &mut Engine<Population>, deadline: u64, progress: &mut dyn FnMut(u64, u64)) {
    let mut converged = false;
    let mut n = 0u64;
    while !engine.world.halted() && engine.step(deadline) {
        n += 1;
        if n % PROGRESS_EVERY == 0 {
            progress(engine.world.now_ms(), deadline);
        }
        let quiet = engine.world.live_calls() == 0 && engine.world.in_flight() == 0;
        if !converged && quiet && engine.driver.phase == Phase::Liveness {
            converged = true;
            engine.world.check_convergence();
        }
    }
    progress(deadline, deadline);
}

/// After the deadline: delivers what is still in flight (bounded, finishing the last ms) and
/// checks convergence, of the views and of what the applications heard. Returns when the run stopped, virtual ms.
fn settle(engine: &mut Engine<Population>, deadline: u64) -> u64 {
    if engine.world.failure().is_some() {
        return engine.world.now_ms();
    }
    let mut end = deadline;
    for _ in 0..1_000_000 {
        if engine.world.in_flight() == 0 || engine.world.failure().is_some() {
            break;
        }
        let Some(next) = engine.world_next_time() else { break };
        end = next;
        engine.run_until(next);
    }
    if engine.world.in_flight() == 0 {
        // The callback ledgers are back from the sidecar by now (`run_once`).
        engine.world.check_settled();
    }
    end
}

fn summarize(engine: &mut Engine<Population>, opts: &Options, end_ms: u64, wall_s: f64) -> Summary {
    let stats = engine.world.switchboard.stats().clone();
    let mut calls_by_status = BTreeMap::new();
    for status in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
        calls_by_status.insert(status.name().to_owned(), stats.terminal[status.index()]);
    }
    calls_by_status.insert("in_progress".to_owned(), stats.in_progress());
    let m = &mut engine.driver.measures;
    let errors = ErrorCode::ALL.into_iter().map(|c| (c.name().to_owned(), m.errors[c.index()])).collect();
    let counters = engine.world.counters().clone();
    let violations = engine
        .world
        .failure()
        .map(|f| vec![format!("{} at {} ms", f.violation, f.at_ms)])
        .unwrap_or_default();
    Summary {
        seed: opts.seed,
        users: opts.users,
        devices: engine.world.device_slots() as u64,
        duration_s: opts.duration_ms / 1000,
        end_ms,
        events: counters.events,
        messages: counters.messages,
        messages_lost: counters.lost,
        commands: counters.commands,
        calls: stats.created,
        calls_by_status,
        errors,
        attempts_skipped: m.skipped,
        setup_ms: m.setup.percentiles(),
        ring_ms: m.ring.percentiles(),
        talk_ms: m.talk.percentiles(),
        pushes_ring: stats.pushes_ring,
        pushes_cancel: stats.pushes_cancel,
        devices_woken_by_push: m.woken,
        accepts_from_pushed_device: m.accepts_from_push,
        sessions_started: m.sessions_started,
        app_deaths: m.app_deaths,
        calls_ended_no_media: m.ended_no_media,
        session_start_timeouts: stats.session_timeouts,
        offline_callee_calls: m.offline_callee,
        offline_callee_accepted: m.offline_callee_accepted,
        invariant_checks: engine.world.checks(),
        violations,
        trace_hash: format!("{:016x}", engine.world.trace().hash()),
        wall_s,
        events_per_s: counters.events as f64 / wall_s.max(1e-9),
    }
}
