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

/// Seeds one `callsim check` runs at most (its shard of the range): a larger sweep is split with
/// `--shard`, over several runs or machines.
pub const SEEDS_PER_CHECK_MAX: u64 = 1_000_000;

/// The seeds `s` of `start..end` with `s % count == index` (shard `index` of `count`; all of
/// them without a shard), in order, found by arithmetic rather than by walking the range.
/// Refused when there are more than [`SEEDS_PER_CHECK_MAX`].
pub fn shard_seeds(start: u64, end: u64, shard: Option<(u64, u64)>) -> Result<Vec<u64>, String> {
    let (index, count) = shard.unwrap_or((0, 1));
    assert!(index < count, "a shard index below the shard count");
    // The first seed at or after `start` with the shard's remainder, if it is in the range.
    let rest = start % count;
    let offset = if index >= rest { index - rest } else { index + (count - rest) };
    let seeds = match start.checked_add(offset).filter(|&first| first < end) {
        Some(first) => (end - 1 - first) / count + 1,
        None => 0,
    };
    if seeds > SEEDS_PER_CHECK_MAX {
        return Err(format!(
            "--seeds {start}..{end}{}: {seeds} seeds, at most {SEEDS_PER_CHECK_MAX} in one run; split the range with --shard I/N",
            shard.map_or_else(String::new, |(i, n)| format!(" --shard {i}/{n}"))
        ));
    }
    Ok((0..seeds).map(|k| start + offset + k * count).collect())
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
        let all: Vec<u64> = (0..3).flat_map(|i| shard_seeds(10, 20, Some((i, 3))).unwrap()).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, (10..20).collect::<Vec<_>>());
        assert_eq!(shard_seeds(10, 20, Some((1, 3))), Ok(vec![10, 13, 16, 19]));
    }

    /// By hand: 10..20 in shards of 3 is 12, 15, 18 (remainder 0), 10, 13, 16, 19 (1),
    /// 11, 14, 17 (2); a shard with no seed in the range is empty; the last seed of u64 is
    /// reached without overflow.
    #[test]
    fn a_shard_is_found_by_arithmetic_even_at_the_ends_of_u64() {
        assert_eq!(shard_seeds(10, 20, Some((0, 3))), Ok(vec![12, 15, 18]));
        assert_eq!(shard_seeds(10, 20, Some((2, 3))), Ok(vec![11, 14, 17]));
        assert_eq!(shard_seeds(10, 20, None), Ok((10..20).collect()));
        assert_eq!(shard_seeds(5, 7, Some((4, 10))), Ok(vec![]));
        assert_eq!(shard_seeds(u64::MAX - 3, u64::MAX, Some((0, u64::MAX))), Ok(vec![]));
        assert_eq!(
            shard_seeds(u64::MAX - 3, u64::MAX, Some((u64::MAX - 1, u64::MAX))),
            Ok(vec![u64::MAX - 1])
        );
        assert_eq!(shard_seeds(0, u64::MAX, Some((7, u64::MAX))), Ok(vec![7]));
    }

    #[test]
    fn a_sweep_larger_than_one_run_takes_is_refused_with_a_way_out() {
        let e = shard_seeds(0, u64::MAX, None).unwrap_err();
        assert!(e.contains("at most 1000000 in one run; split the range with --shard"), "{e}");
        assert_eq!(shard_seeds(0, 2_000_000, Some((1, 2))).map(|s| s.len()), Ok(1_000_000));
        assert!(shard_seeds(0, 2_000_001, Some((0, 2))).is_err(), "1,000,001 seeds: 0, 2, ..., 2,000,000");
    }
}
