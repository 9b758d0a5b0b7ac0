//! One-to-one and group call lifecycles through the switchboard and the clients, every
//! notification delivered, with nothing but `callcore_benches::Net` in between (no harness, no
//! queue: buffers reused). One iteration is one whole call.

use callcore::{Config, UserId};
use callcore_benches::Net;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn one_to_one(c: &mut Criterion) {
    let mut net = Net::new(Config::default(), 2, 2);
    net.connect_clients();
    let mut group = c.benchmark_group("lifecycle");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_to_one", |b| b.iter(|| net.one_to_one_call(0, 1)));
    group.finish();
}

fn group_calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_call");
    for size in [2u32, 8, 32] {
        let mut net = Net::new(Config::default(), size, size);
        let all: Vec<UserId> = (0..size).map(UserId).collect();
        let g = net.sb.add_group(&all).expect("registered members");
        net.connect_clients();
        let members: Vec<u32> = (1..size).collect();
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| net.group_call(0, g, &members))
        });
    }
    group.finish();
}

criterion_group!(benches, one_to_one, group_calls);
criterion_main!(benches);
