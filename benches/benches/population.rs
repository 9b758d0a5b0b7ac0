//! Is the cost of a call flat as the population grows? A switchboard holds 10k, 100k and 1M
//! accepted calls open (2 users each, set up outside the timed loop); one iteration is a full
//! one-to-one lifecycle between two other users with clients, as in the `lifecycle` bench.

use callcore::Config;
use callcore_benches::Net;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

fn population(c: &mut Criterion) {
    let mut group = c.benchmark_group("population");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for held in [10_000u32, 100_000, 1_000_000] {
        let users = 2 * held + 2;
        let mut net = Net::new(Config::default(), users, 2);
        net.hold_calls(held);
        net.connect_clients();
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("one_to_one_among_held", held), &held, |b, _| {
            b.iter(|| net.one_to_one_call(users - 2, users - 1))
        });
    }
    group.finish();
}

criterion_group!(benches, population);
criterion_main!(benches);
