//! The simulator's latency model: one-way latency, fixed or uniform per message from a seeded
//! stream. The network's rules (FIFO per connection and direction, connection epochs that make
//! a drop lose whatever was in flight, when the switchboard learns of a connection change) are
//! callcore's, [`callcore::testing::net`], which both the simulator and callcore's own harness
//! use; the engine hands each [`Link`] the latency drawn here for every item it sends.

use crate::rng::{SimRng, Stream};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

pub use callcore::testing::net::Link;

/// One-way delay of every message.
///
/// Written as a number of ms or as `{ "min": A, "max": B }` (nothing else: an unknown field in
/// the object is an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Latency {
    /// Every message takes exactly this long.
    Fixed(u64),
    /// Each message takes a delay drawn uniformly from `min..=max`.
    Uniform {
        /// Shortest delay.
        min: u64,
        /// Longest delay.
        max: u64,
    },
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Bounds {
            min: u64,
            max: u64,
        }
        struct Read;
        impl<'de> Visitor<'de> for Read {
            type Value = Latency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a latency: a number of ms, or {"min": A, "max": B}"#)
            }

            fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Latency, E> {
                Ok(Latency::Fixed(ms))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Latency, A::Error> {
                let Bounds { min, max } = Bounds::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Latency::Uniform { min, max })
            }
        }
        deserializer.deserialize_any(Read)
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(20)
    }
}

impl Latency {
    /// The longest delay a message can take.
    pub fn max_ms(self) -> u64 {
        match self {
            Latency::Fixed(ms) => ms,
            Latency::Uniform { min, max } => max.max(min),
        }
    }
}

/// The latency model with its random stream.
#[derive(Clone, Debug)]
pub struct Network {
    latency: Latency,
    rng: SimRng,
    /// Latencies given one by one (a counterexample of `callsim explore`), used before the
    /// model: the first draw takes the first, and so on.
    script: Vec<u64>,
    drawn: usize,
}

impl Network {
    /// The network of a run with seed `seed`.
    pub fn new(latency: Latency, seed: u64) -> Self {
        Self { latency, rng: SimRng::stream(seed, Stream::Latency), script: Vec::new(), drawn: 0 }
    }

    /// Gives the next draws their latencies, in draw order; once they are used up, the model
    /// draws again.
    pub fn script(&mut self, latencies_ms: Vec<u64>) {
        self.script = latencies_ms;
        self.drawn = 0;
    }

    /// The model.
    pub fn latency(&self) -> Latency {
        self.latency
    }

    /// The delay of the next message sent (one draw per message, in send order).
    #[inline]
    pub fn draw(&mut self) -> u64 {
        if let Some(&ms) = self.script.get(self.drawn) {
            self.drawn += 1;
            return ms;
        }
        match self.latency {
            Latency::Fixed(ms) => ms,
            Latency::Uniform { min, max } => self.rng.range(min, max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_draws_repeat_with_the_seed() {
        let l = Latency::Uniform { min: 5, max: 60 };
        let (mut a, mut b) = (Network::new(l, 7), Network::new(l, 7));
        let xs: Vec<u64> = (0..50).map(|_| a.draw()).collect();
        let ys: Vec<u64> = (0..50).map(|_| b.draw()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (5..=60).contains(x)));
    }
}
