//! callsim's speed on one core: a whole population run on the default profile (the users' set-up,
//! one virtual hour with network faults, the liveness phase, every invariant checked after every
//! step), at 1,000, 10,000 and 100,000 users. Criterion reports events per second (`events`:
//! the inputs handed to the switchboard and the clients). The million-user run takes too long to
//! repeat here; `docs/performance.md` gives it as a documented `callsim run`.

use callsim::population::Options;
use callsim::profile::Profile;
use callsim::runner;
use callsim::trace::Trace;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

/// The allocator of the `callsim` binary, with the options it is built with, so that the bench
/// measures the simulator as it ships.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// One virtual hour, as in the scaling figures.
const DURATION_MS: u64 = 3_600_000;

/// One run on one thread (events per second per core; `callsim run` itself gives a large
/// population's ledger checks a second thread).
fn run(opts: &Options) -> u64 {
    let output = runner::run_on(opts, Trace::default(), false, runner::Threads::One, &mut |_, _| {});
    assert!(output.failure.is_none(), "the run broke an invariant: {:?}", output.failure);
    output.summary.events
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("callsim_run_one_hour");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for users in [1_000u32, 10_000, 100_000] {
        let opts = Options { users, duration_ms: DURATION_MS, seed: 1, profile: Profile::default() };
        group.throughput(Throughput::Elements(run(&opts)));
        group.bench_with_input(BenchmarkId::new("users", users), &opts, |b, opts| b.iter(|| run(opts)));
    }
    group.finish();
}

criterion_group!(benches, simulation);
criterion_main!(benches);
