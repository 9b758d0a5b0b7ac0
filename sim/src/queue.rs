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
use std::collections::BinaryHeap;

/// Which band of the same millisecond an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Application commands and connection changes (scenario steps): first.
    Command = 0,
    /// Messages, timers and everything else: in scheduling order.
    Machine = 1,
}

/// Span of the wheel by default, ms.
pub const WHEEL_MS: u64 = 1 << 10;
/// The largest span a wheel may have, ms.
pub const WHEEL_MS_MAX: u64 = 1 << 16;
/// A drained bucket keeps its buffer for reuse only up to this many entries (a burst must not
/// pin its memory for the rest of the run).
const SPARE_MAX: usize = 256;

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
    /// The events of time `cursor`, sorted by key; those before `head` already ran.
    current: Vec<(u64, E)>,
    head: usize,
    buckets: Vec<Vec<(u64, E)>>,
    occupied: Vec<u64>,
    in_wheel: usize,
    far: BinaryHeap<Far<E>>,
    /// The wheel's span, ms (a power of two, at least 64).
    span: u64,
}

impl<E: Copy> Default for Queue<E> {
    fn default() -> Self {
        Self::with_span(WHEEL_MS)
    }
}

impl<E: Copy> Queue<E> {
    /// A queue whose wheel spans about `span_ms` (rounded up to a power of two within
    /// `64..=WHEEL_MS_MAX`). A busy run wants a span that holds most of its timers; a sparse
    /// one a small wheel that stays in cache. The span never changes the order of events.
    pub fn with_span(span_ms: u64) -> Self {
        let span = span_ms.clamp(64, WHEEL_MS_MAX).next_power_of_two();
        Self {
            seq: 0,
            cursor: 0,
            current: Vec::new(),
            head: 0,
            buckets: (0..span).map(|_| Vec::new()).collect(),
            occupied: vec![0; (span / 64) as usize],
            in_wheel: 0,
            far: BinaryHeap::new(),
            span,
        }
    }

    fn index(&self, time: u64) -> usize {
        (time & (self.span - 1)) as usize
    }

    /// Schedules `event` at `at_ms` (not before the time of the last event popped).
    pub fn push(&mut self, at_ms: u64, class: Class, event: E) {
        self.seq += 1;
        debug_assert!(self.seq < 1 << 63, "sequence numbers exhausted");
        let key = ((class as u64) << 63) | self.seq;
        let at_ms = at_ms.max(self.cursor);
        if at_ms == self.cursor {
            let pos = self.current[self.head..].iter().rposition(|(k, _)| *k < key).map_or(0, |p| p + 1);
            self.current.insert(self.head + pos, (key, event));
        } else if at_ms - self.cursor < self.span {
            self.put_in_wheel(at_ms, key, event);
        } else {
            self.far.push(Far { time: at_ms, key, event });
        }
    }

    fn put_in_wheel(&mut self, time: u64, key: u64, event: E) {
        let i = self.index(time);
        self.buckets[i].push((key, event));
        self.occupied[i / 64] |= 1 << (i % 64);
        self.in_wheel += 1;
    }

    /// The first non-empty wheel bucket after the cursor, as a time.
    fn next_in_wheel(&self) -> Option<u64> {
        if self.in_wheel == 0 {
            return None;
        }
        let mut i = self.index(self.cursor + 1);
        let mut scanned = 0u64;
        while scanned < self.span {
            let bit = i % 64;
            let bits = self.occupied[i / 64] >> bit;
            if bits != 0 {
                return Some(self.cursor + 1 + scanned + u64::from(bits.trailing_zeros()));
            }
            let step = 64 - bit;
            scanned += step as u64;
            i = (i + step) % self.span as usize;
        }
        None
    }

    /// The time of the earliest event.
    pub fn next_at_ms(&self) -> Option<u64> {
        if self.head < self.current.len() {
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
        self.current.clear();
        self.head = 0;
        if self.current.capacity() > SPARE_MAX {
            self.current = Vec::new();
        }
        self.cursor = time;
        while self.far.peek().is_some_and(|f| f.time - time < self.span) {
            let Some(f) = self.far.pop() else { break };
            if f.time == time {
                self.current.push((f.key, f.event));
            } else {
                self.put_in_wheel(f.time, f.key, f.event);
            }
        }
        let i = self.index(time);
        if self.occupied[i / 64] & (1 << (i % 64)) != 0 {
            self.occupied[i / 64] &= !(1 << (i % 64));
            self.in_wheel -= self.buckets[i].len();
            if self.current.is_empty() {
                // The drained buffer goes back to the bucket for reuse.
                std::mem::swap(&mut self.current, &mut self.buckets[i]);
            } else {
                self.current.append(&mut self.buckets[i]);
            }
            if self.buckets[i].capacity() > SPARE_MAX {
                self.buckets[i] = Vec::new();
            }
        }
        self.current.sort_unstable_by_key(|(k, _)| *k);
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        if self.head == self.current.len() {
            let next = self.next_at_ms()?;
            self.advance(next);
        }
        let (_, event) = *self.current.get(self.head)?;
        self.head += 1;
        Some((self.cursor, event))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.current.len() - self.head + self.in_wheel + self.far.len()
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
        for span in [64, WHEEL_MS, 1 << 16] {
            same_order_as_a_heap(span);
        }
    }

    fn same_order_as_a_heap(span: u64) {
        let mut rng = SimRng::new(11);
        let mut wheel = Queue::with_span(span);
        let mut heap = std::collections::BTreeMap::new();
        let (mut now, mut seq, mut popped) = (0u64, 0u64, 0usize);
        for round in 0..100_000u64 {
            if rng.chance(0.55) {
                let delay = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(100),
                    2 => rng.below(span * 2),
                    _ => rng.below(span * 40),
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
        assert!(popped > 25_000);
    }
}
