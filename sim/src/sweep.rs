//! Many seeds in parallel (rayon): each seed is a full population run (safety and liveness
//! phases). `--shard I/N` takes the seeds `s` of the range with `s % N == I`, so N machines
//! can split one sweep without talking to each other.

use crate::engine::Failure;
use crate::population::Options;
use crate::runner::{self, Threads};
use crate::trace::Trace;
use rayon::prelude::*;

/// One seed's verdict.
#[derive(Clone, Debug)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Inputs handed to the machines.
    pub events: u64,
    /// The broken invariant, if any.
    pub failure: Option<Failure>,
    /// The trace hash.
    pub trace_hash: String,
}

/// The seeds of `start..end` that belong to shard `index` of `count`.
pub fn shard_seeds(start: u64, end: u64, shard: Option<(u64, u64)>) -> Vec<u64> {
    (start..end).filter(|s| shard.is_none_or(|(i, n)| s % n == i)).collect()
}

/// Runs every seed (in parallel); results in seed order.
pub fn run(seeds: &[u64], base: &Options) -> Vec<SeedResult> {
    seeds
        .par_iter()
        .map(|&seed| {
            let opts = Options { seed, ..base.clone() };
            // One thread a seed: the seeds already keep every core busy.
            let out = runner::run_on(&opts, Trace::default(), false, Threads::One, &mut |_, _| {});
            SeedResult {
                seed,
                events: out.summary.events,
                failure: out.failure,
                trace_hash: out.summary.trace_hash,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_range() {
        let all: Vec<u64> = (0..3).flat_map(|i| shard_seeds(10, 20, Some((i, 3)))).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, (10..20).collect::<Vec<_>>());
        assert_eq!(shard_seeds(10, 20, Some((1, 3))), vec![10, 13, 16, 19]);
    }
}
