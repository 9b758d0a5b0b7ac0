//! The event queue, ordered by (time, class, sequence number).
//!
//! The sequence number counts every event ever scheduled, so events at the same time run in
//! the order they were scheduled. The class puts application commands (scenario steps) before
//! everything else at the same time: a scenario schedules all its steps before the run starts,
//! so its steps always precede same-time messages and timers; a population run, which decides
//! its commands on the fly, gets the same order, which is what lets a recorded run replay
//! exactly.
//!
//! It is a timing wheel: one bucket per millisecond for the next [`WHEEL_MS`] ms (a bitmap
//! finds the next non-empty one), a binary heap for later events (moved into the wheel as time
//! comes near), and the bucket of the current millisecond kept sorted. Pushing and popping a
//! near event is O(1) and touches memory near the current time, which matters with millions
//! of devices; the order is exactly that of a heap keyed by (time, class, seq).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Which band of the same millisecond an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Application commands and connection changes (scenario steps): first.
    Command = 0,
    /// Messages, timers and everything else: in scheduling order.
    Machine = 1,
}

/// Span of the wheel, ms (a power of two).
pub const WHEEL_MS: u64 = 1 << 16;
const WORDS: usize = (WHEEL_MS / 64) as usize;
/// A drained bucket keeps its buffer for reuse only up to this many entries (a burst must not
/// pin its memory for the rest of the run).
const SPARE_MAX: usize = 4096;

struct Far<E> {
    time: u64,
    key: u64,
    event: E,
}

impl<E> PartialEq for Far<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.key) == (other.time, other.key)
    }
}
impl<E> Eq for Far<E> {}
impl<E> PartialOrd for Far<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Far<E> {
    /// Reversed: the heap's maximum is the earliest entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.key).cmp(&(self.time, self.key))
    }
}

/// A priority queue of events.
pub struct Queue<E> {
    seq: u64,
    /// The time of `current`; every wheel entry's time is in `cursor + 1 .. cursor + WHEEL_MS`.
    cursor: u64,
    /// The events of time `cursor` still to run, sorted by key.
    current: VecDeque<(u64, E)>,
    buckets: Vec<Vec<(u64, E)>>,
    occupied: Vec<u64>,
    in_wheel: usize,
    far: BinaryHeap<Far<E>>,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Self {
            seq: 0,
            cursor: 0,
            current: VecDeque::new(),
            buckets: (0..WHEEL_MS).map(|_| Vec::new()).collect(),
            occupied: vec![0; WORDS],
            in_wheel: 0,
            far: BinaryHeap::new(),
        }
    }
}

fn index(time: u64) -> usize {
    (time % WHEEL_MS) as usize
}

impl<E> Queue<E> {
    /// Schedules `event` at `at_ms` (not before the time of the last event popped).
    pub fn push(&mut self, at_ms: u64, class: Class, event: E) {
        self.seq += 1;
        debug_assert!(self.seq < 1 << 63, "sequence numbers exhausted");
        let key = ((class as u64) << 63) | self.seq;
        let at_ms = at_ms.max(self.cursor);
        if at_ms == self.cursor {
            let pos = self.current.iter().rposition(|(k, _)| *k < key).map_or(0, |p| p + 1);
            self.current.insert(pos, (key, event));
        } else if at_ms - self.cursor < WHEEL_MS {
            self.put_in_wheel(at_ms, key, event);
        } else {
            self.far.push(Far { time: at_ms, key, event });
        }
    }

    fn put_in_wheel(&mut self, time: u64, key: u64, event: E) {
        let i = index(time);
        self.buckets[i].push((key, event));
        self.occupied[i / 64] |= 1 << (i % 64);
        self.in_wheel += 1;
    }

    /// The first non-empty wheel bucket after the cursor, as a time.
    fn next_in_wheel(&self) -> Option<u64> {
        if self.in_wheel == 0 {
            return None;
        }
        let mut i = index(self.cursor + 1);
        let mut scanned = 0u64;
        while scanned < WHEEL_MS {
            let bit = i % 64;
            let bits = self.occupied[i / 64] >> bit;
            if bits != 0 {
                return Some(self.cursor + 1 + scanned + u64::from(bits.trailing_zeros()));
            }
            let step = 64 - bit;
            scanned += step as u64;
            i = (i + step) % WHEEL_MS as usize;
        }
        None
    }

    /// The time of the earliest event.
    pub fn next_at_ms(&self) -> Option<u64> {
        if !self.current.is_empty() {
            return Some(self.cursor);
        }
        match (self.next_in_wheel(), self.far.peek().map(|f| f.time)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves the cursor to `time`: far events now within the wheel's span move in, and the
    /// bucket of `time` becomes `current`.
    fn advance(&mut self, time: u64) {
        if self.current.is_empty() && self.current.capacity() > SPARE_MAX {
            self.current = VecDeque::new();
        }
        self.cursor = time;
        while self.far.peek().is_some_and(|f| f.time - time < WHEEL_MS) {
            let Some(f) = self.far.pop() else { break };
            if f.time == time {
                self.current.push_back((f.key, f.event));
            } else {
                self.put_in_wheel(f.time, f.key, f.event);
            }
        }
        let i = index(time);
        if self.occupied[i / 64] & (1 << (i % 64)) != 0 {
            self.occupied[i / 64] &= !(1 << (i % 64));
            self.in_wheel -= self.buckets[i].len();
            self.current.extend(self.buckets[i].drain(..));
            if self.buckets[i].capacity() > SPARE_MAX {
                self.buckets[i] = Vec::new();
            }
        }

        self.current.make_contiguous().sort_unstable_by_key(|(k, _)| *k);
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        if self.current.is_empty() {
            let next = self.next_at_ms()?;
            self.advance(next);
        }
        self.current.pop_front().map(|(_, e)| (self.cursor, e))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.current.len() + self.in_wheel + self.far.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;

    #[test]
    fn orders_by_time_then_class_then_scheduling_order() {
        let mut q = Queue::default();
        q.push(10, Class::Machine, "m10a");
        q.push(5, Class::Machine, "m5");
        q.push(10, Class::Command, "c10");
        q.push(10, Class::Machine, "m10b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["m5", "c10", "m10a", "m10b"]);
    }

    /// The wheel pops exactly what a plain heap keyed by (time, class, seq) pops, with pushes
    /// near and far (beyond the wheel's span) interleaved with pops, and pushes at the
    /// current time while it is being drained.
    #[test]
    fn the_wheel_pops_in_the_same_order_as_a_heap() {
        let mut rng = SimRng::new(11);
        let mut wheel = Queue::default();
        let mut heap = std::collections::BTreeMap::new();
        let (mut now, mut seq, mut popped) = (0u64, 0u64, 0usize);
        for round in 0..200_000u64 {
            if rng.chance(0.55) {
                let delay = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(100),
                    2 => rng.below(WHEEL_MS * 2),
                    _ => rng.below(WHEEL_MS * 40),
                };
                let class = if delay > 0 && rng.chance(0.3) { Class::Command } else { Class::Machine };
                seq += 1;
                wheel.push(now + delay, class, round);
                heap.insert((now + delay, class as u64, seq), round);
            } else if let Some((t, e)) = wheel.pop() {
                let ((ht, _, _), he) = heap.pop_first().expect("same length");
                assert_eq!((t, e), (ht, he), "pop {popped}");
                now = t;
                popped += 1;
            }
            assert_eq!(wheel.len(), heap.len());
        }
        assert!(popped > 50_000);
    }
}
