//! The event queue: a binary min-heap ordered by (time, class, sequence number).
//!
//! The sequence number counts every event ever scheduled, so events at the same time run in
//! the order they were scheduled. The class puts application commands (scenario steps) before
//! everything else at the same time: a scenario schedules all its steps before the run starts,
//! so its steps always precede same-time messages and timers; a population run, which decides
//! its commands on the fly, gets the same order, which is what lets a recorded run replay
//! exactly.

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

struct Entry<E> {
    /// `time << 64 | class << 63 | seq`: one integer comparison orders entries.
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: the heap's maximum is the earliest entry.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// A priority queue of events.
pub struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::new(), seq: 0 }
    }
}

impl<E> Queue<E> {
    /// Schedules `event` at `at_ms`.
    pub fn push(&mut self, at_ms: u64, class: Class, event: E) {
        self.seq += 1;
        debug_assert!(self.seq < 1 << 63, "sequence numbers exhausted");
        let key = (u128::from(at_ms) << 64) | (u128::from(class as u64) << 63) | u128::from(self.seq);
        self.heap.push(Entry { key, event });
    }

    /// The time of the earliest event.
    pub fn next_at_ms(&self) -> Option<u64> {
        self.heap.peek().map(|e| (e.key >> 64) as u64)
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|e| ((e.key >> 64) as u64, e.event))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
