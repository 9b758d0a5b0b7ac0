//! What a population run measures: calls by final status, errors by code, and the
//! distributions of call setup, ring and talk times.

use serde::Serialize;

/// Percentiles of a distribution, in ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

/// Samples of one duration, in ms.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<u32>);

impl Samples {
    /// Adds one sample (saturated to `u32::MAX` ms).
    pub fn push(&mut self, ms: u64) {
        self.0.push(u32::try_from(ms).unwrap_or(u32::MAX));
    }

    /// Nearest-rank percentiles (sorts the samples).
    pub fn percentiles(&mut self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        self.0.sort_unstable();
        let n = self.0.len();
        let rank = |p: usize| u64::from(self.0[(n * p).div_ceil(100).clamp(1, n) - 1]);
        Percentiles { count: n as u64, p50: rank(50), p90: rank(90), p99: rank(99), max: rank(100) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let mut s = Samples::default();
        for ms in (1..=100).rev() {
            s.push(ms);
        }
        let p = s.percentiles();
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (100, 50, 90, 99, 100));
    }

    #[test]
    fn no_samples_no_percentiles() {
        assert_eq!(Samples::default().percentiles(), Percentiles::default());
    }
}
