//! The event queue, ordered by (time, class, sequence number).
//!
//! The sequence number counts every event ever scheduled, so events at the same time run in
//! the order they were scheduled. The class puts application commands (scenario steps) before
//! everything else at the same time: a scenario schedules all its steps before the run starts,
//! so its steps always precede same-time messages and timers; a population run, which decides
//! its commands on the fly, gets the same order, which is what lets a recorded run replay
//! exactly.
//!
//! It is a two-level timing wheel. Level 0 has one bucket per millisecond of the current block
//! (a block is [`WHEEL_MS`] ms, a power of two, aligned); level 1 one bucket per block for the
//! next [`BLOCKS`] blocks (about 70 minutes by default); a binary heap holds anything later.
//! Bitmaps find the next non-empty bucket. When time enters a new block, that block's level-1
//! bucket is spread into level 0 (and heap entries now within level 1's reach move in); the
//! bucket of the current millisecond is sorted by key when it becomes current. Pushing and
//! popping are O(1) amortized (an event moves at most twice), touch memory near the current
//! time, and the order is exactly that of a heap keyed by (time, class, seq).

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

/// Span of a level-0 block by default, ms.
pub const WHEEL_MS: u64 = 1 << 12;
/// The largest block a wheel may have, ms.
pub const WHEEL_MS_MAX: u64 = 1 << 16;
/// Level-1 buckets (blocks ahead of the current one that are kept in buckets).
pub const BLOCKS: u64 = 1 << 10;
/// A drained buffer is kept for reuse only up to this many entries (a burst must not pin its
/// memory for the rest of the run).
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

/// Drained buffers a level keeps for its next empty buckets: enough for every millisecond of a
/// block (entering a block spreads its events over up to [`WHEEL_MS`] buckets, each of which then
/// wants a buffer), so that a large run's buckets take spares instead of allocating and growing.
const SPARE_BUFFERS_MAX: usize = 8192;
/// Entries (capacity) that a level's spare buffers may hold in all: the bound on their memory
/// (entries take 40 or 48 bytes). A run of a million users keeps a few MiB of spares; a cap of a
/// quarter of this one cost it 1 % of its time (docs/performance.md, "Seventh round").
const SPARE_ENTRIES_MAX: usize = 1 << 20;
/// The capacity a bucket's buffer starts with when no spare is left (a large run's millisecond
/// holds a dozen events or so: no growing from four).
const BUCKET_CAPACITY_MIN: usize = 16;

/// Buckets with a bitmap of the non-empty ones.
///
/// An empty bucket holds no buffer. A drained buffer goes on a stack of spares, and the next
/// push into an empty bucket takes the one drained last: its lines were just read, so they are
/// still in the cache. (A bucket that kept its own buffer would next be written a whole wheel
/// turn later, when its lines are long gone: a write miss for every few pushes.)
struct Level<T> {
    buckets: Vec<Vec<T>>,
    occupied: Vec<u64>,
    len: usize,
    spare: Vec<Vec<T>>,
    /// The capacity of the buffers in `spare`, summed.
    spare_entries: usize,
}

impl<T> Level<T> {
    fn new(n: u64) -> Self {
        Self {
            buckets: (0..n).map(|_| Vec::new()).collect(),
            occupied: vec![0; n.div_ceil(64) as usize],
            len: 0,
            spare: Vec::new(),
            spare_entries: 0,
        }
    }

    #[inline]
    fn push(&mut self, i: usize, item: T) {
        let bucket = &mut self.buckets[i];
        if bucket.capacity() == 0 {
            match self.spare.pop() {
                Some(buffer) => {
                    self.spare_entries -= buffer.capacity();
                    *bucket = buffer;
                }
                None => bucket.reserve(BUCKET_CAPACITY_MIN),
            }
        }
        bucket.push(item);
        self.occupied[i / 64] |= 1 << (i % 64);
        self.len += 1;
    }

    /// Like [`Level::push`], but puts `item` right after the bucket's first items for which
    /// `first` holds (at the cost of moving the item that was there to the end).
    #[inline]
    fn push_after(&mut self, i: usize, item: T, first: impl Fn(&T) -> bool) {
        self.push(i, item);
        let bucket = &mut self.buckets[i];
        let last = bucket.len() - 1;
        if let Some(p) = bucket[..last].iter().position(|t| !first(t)) {
            bucket.swap(p, last);
        }
    }

    /// Keeps an emptied buffer for a later bucket (if it is small and there is room).
    #[inline]
    fn keep(&mut self, mut buffer: Vec<T>) {
        buffer.clear();
        let capacity = buffer.capacity();
        if capacity > 0
            && capacity <= SPARE_MAX
            && self.spare.len() < SPARE_BUFFERS_MAX
            && self.spare_entries + capacity <= SPARE_ENTRIES_MAX
        {
            self.spare_entries += capacity;
            self.spare.push(buffer);
        }
        debug_assert!(self.spare_entries <= SPARE_ENTRIES_MAX);
    }

    /// The first non-empty bucket among the `n` buckets from `from` on (wrapping around), as
    /// an offset from `from`.
    fn first_from(&self, from: usize, n: usize) -> Option<usize> {
        let size = self.buckets.len();
        let (mut i, mut scanned) = (from % size, 0usize);
        while scanned < n {
            let bit = i % 64;
            let bits = self.occupied[i / 64] >> bit;
            if bits != 0 {
                let offset = scanned + bits.trailing_zeros() as usize;
                return (offset < n).then_some(offset);
            }
            let step = 64 - bit;
            scanned += step;
            i = (i + step) % size;
        }
        None
    }

    /// Empties bucket `i` into `out`: when `out` is empty the bucket's buffer becomes `out`
    /// and `out`'s drained buffer becomes a spare; otherwise the events are appended and the
    /// bucket's buffer becomes a spare. The bucket is left without a buffer.
    fn take_into(&mut self, i: usize, out: &mut Vec<T>) {
        if self.occupied[i / 64] & (1 << (i % 64)) == 0 {
            return;
        }
        self.occupied[i / 64] &= !(1 << (i % 64));
        self.len -= self.buckets[i].len();
        let mut taken = std::mem::take(&mut self.buckets[i]);
        if out.is_empty() {
            std::mem::swap(out, &mut taken);
        } else {
            out.append(&mut taken);
        }
        self.keep(taken);
    }
}

/// The events due soon, as [`Queue::upcoming`] sees them.
pub struct Upcoming<'a, E> {
    current: &'a [(u64, E)],
    next: &'a [(u64, E)],
    after: &'a [(u64, E)],
}

impl<'a, E> Upcoming<'a, E> {
    /// The event `d` places after the next one to pop, if the window reaches that far.
    #[inline]
    pub fn get(&self, d: usize) -> Option<&'a E> {
        if let Some((_, event)) = self.current.get(d) {
            return Some(event);
        }
        let d = d - self.current.len();
        match self.next.get(d) {
            Some((_, event)) => Some(event),
            None => self.after.get(d - self.next.len()).map(|(_, event)| event),
        }
    }
}

/// Whether an entry's key is that of a [`Class::Command`].
#[inline]
fn is_command(key: u64) -> bool {
    key >> 63 == Class::Command as u64
}

/// A priority queue of events.
pub struct Queue<E> {
    seq: u64,
    /// The time of `current`.
    cursor: u64,
    /// The events of time `cursor`, sorted by key; those before `head` already ran.
    current: Vec<(u64, E)>,
    head: usize,
    /// Events of the cursor's block after the cursor, by ms.
    near: Level<(u64, E)>,
    /// Events of the next `blocks - 1` blocks, by block, with their times.
    later: Level<(u64, u64, E)>,
    /// The earliest time in each `later` bucket.
    later_min: Vec<u64>,
    far: BinaryHeap<Far<E>>,
    /// log2 of the block span, ms.
    block_bits: u32,
    /// Level-1 buckets.
    blocks: u64,
    /// A spare buffer for spreading a block.
    spread: Vec<(u64, u64, E)>,
}

impl<E: Copy> Default for Queue<E> {
    fn default() -> Self {
        Self::with_span(WHEEL_MS)
    }
}

impl<E: Copy> Queue<E> {
    /// A queue whose blocks span about `span_ms` (rounded up to a power of two within
    /// `64..=WHEEL_MS_MAX`). The span never changes the order of events.
    pub fn with_span(span_ms: u64) -> Self {
        Self::with_levels(span_ms, BLOCKS)
    }

    fn with_levels(span_ms: u64, blocks: u64) -> Self {
        let span = span_ms.clamp(64, WHEEL_MS_MAX).next_power_of_two();
        let blocks = blocks.clamp(64, 1 << 16).next_power_of_two();
        Self {
            seq: 0,
            cursor: 0,
            current: Vec::new(),
            head: 0,
            near: Level::new(span),
            later: Level::new(blocks),
            later_min: vec![u64::MAX; blocks as usize],
            far: BinaryHeap::new(),
            block_bits: span.trailing_zeros(),
            blocks,
            spread: Vec::new(),
        }
    }

    #[inline]
    fn block(&self, time: u64) -> u64 {
        time >> self.block_bits
    }

    #[inline]
    fn near_index(&self, time: u64) -> usize {
        (time & ((1 << self.block_bits) - 1)) as usize
    }

    #[inline]
    fn later_index(&self, block: u64) -> usize {
        (block & (self.blocks - 1)) as usize
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
        } else {
            self.place(at_ms, key, event);
        }
    }

    /// Puts an event after the cursor into its level.
    #[inline]
    fn place(&mut self, time: u64, key: u64, event: E) {
        let (block, now_block) = (self.block(time), self.block(self.cursor));
        if block == now_block {
            // Commands run first in their millisecond: kept first in their bucket (in the
            // order they were scheduled), they are where the cache hints look for them (see
            // [`Queue::upcoming`]).
            if is_command(key) {
                self.near.push_after(self.near_index(time), (key, event), |(k, _)| is_command(*k));
            } else {
                self.near.push(self.near_index(time), (key, event));
            }
        } else if block - now_block < self.blocks {
            let i = self.later_index(block);
            self.later.push(i, (time, key, event));
            self.later_min[i] = self.later_min[i].min(time);
        } else {
            self.far.push(Far { time, key, event });
        }
    }

    /// The time of the earliest event.
    pub fn next_at_ms(&self) -> Option<u64> {
        if self.head < self.current.len() {
            return Some(self.cursor);
        }
        if self.near.len > 0 {
            let from = self.near_index(self.cursor) + 1;
            let n = (1usize << self.block_bits).saturating_sub(from);
            if let Some(offset) = self.near.first_from(from, n) {
                return Some(self.cursor + 1 + offset as u64);
            }
        }
        if self.later.len > 0 {
            let from = self.later_index(self.block(self.cursor) + 1);
            if let Some(offset) = self.later.first_from(from, self.blocks as usize - 1) {
                return Some(self.later_min[(from + offset) % self.blocks as usize]);
            }
        }
        self.far.peek().map(|f| f.time)
    }

    /// Moves the cursor to `time` (the earliest event's): entering a new block spreads its
    /// level-1 bucket into level 0 and pulls heap entries within reach into level 1; the bucket
    /// of `time` becomes `current`.
    fn advance(&mut self, time: u64) {
        self.current.clear();
        self.head = 0;
        if self.current.capacity() > SPARE_MAX {
            self.current = Vec::new();
        }
        let (block, old_block) = (self.block(time), self.block(self.cursor));
        self.cursor = time;
        if block != old_block {
            debug_assert_eq!(self.near.len, 0, "level 0 is empty when its block is over");
            let i = self.later_index(block);
            let mut spread = std::mem::take(&mut self.spread);
            self.later.take_into(i, &mut spread);
            self.later_min[i] = u64::MAX;
            for (t, key, event) in spread.drain(..) {
                debug_assert_eq!(self.block(t), block);
                self.near.push(self.near_index(t), (key, event));
            }
            if spread.capacity() <= SPARE_MAX {
                self.spread = spread;
            }
            while self.far.peek().is_some_and(|f| self.block(f.time) - block < self.blocks) {
                let Some(f) = self.far.pop() else { break };
                if f.time == time {
                    self.current.push((f.key, f.event));
                } else {
                    self.place(f.time, f.key, f.event);
                }
            }
        }
        let i = self.near_index(time);
        self.near.take_into(i, &mut self.current);
        self.current.sort_unstable_by_key(|(k, _)| *k);
    }

    /// The events due soon: those of the current millisecond not yet popped (in the order
    /// they will pop), then those of the next two milliseconds of the block that have any
    /// (commands first, the rest in the order they were scheduled, which is nearly the order
    /// they will pop). For cache hints only: events pushed later may run before some of them.
    #[inline]
    pub fn upcoming(&self) -> Upcoming<'_, E> {
        let current = &self.current[self.head..];
        let span = 1usize << self.block_bits;
        let from = self.near_index(self.cursor) + 1;
        let Some(offset) = self.near.first_from(from, span.saturating_sub(from)) else {
            return Upcoming { current, next: &[], after: &[] };
        };
        let next = &self.near.buckets[from + offset][..];
        let from = from + offset + 1;
        let after = match self.near.first_from(from, span.saturating_sub(from)) {
            Some(offset) => &self.near.buckets[from + offset][..],
            None => &[],
        };
        Upcoming { current, next, after }
    }

    /// Removes the earliest event if it is due by `end_ms`.
    pub fn pop_due(&mut self, end_ms: u64) -> Option<(u64, E)> {
        if self.head == self.current.len() {
            let next = self.next_at_ms()?;
            if next > end_ms {
                return None;
            }
            self.advance(next);
        } else if self.cursor > end_ms {
            return None;
        }
        let (_, event) = *self.current.get(self.head)?;
        self.head += 1;
        Some((self.cursor, event))
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.pop_due(u64::MAX)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.current.len() - self.head + self.near.len + self.later.len + self.far.len()
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
        for (span, blocks) in [(64, 64), (WHEEL_MS, 64), (WHEEL_MS, BLOCKS), (1 << 16, BLOCKS)] {
            same_order_as_a_heap(span, blocks);
        }
    }

    /// `upcoming` sees the events of the current millisecond in the order they will pop,
    /// then those of the next two busy milliseconds of the block (commands first), and
    /// nothing beyond.
    #[test]
    fn the_upcoming_window_is_the_current_millisecond_then_the_next_two_busy_ones() {
        let mut q = Queue::default();
        q.push(7, Class::Machine, "a");
        q.push(7, Class::Machine, "b");
        q.push(7, Class::Command, "c");
        q.push(9, Class::Machine, "d");
        q.push(9, Class::Machine, "e");
        q.push(12, Class::Machine, "g");
        q.push(12, Class::Command, "f");
        q.push(20, Class::Machine, "h");
        q.push(5_000, Class::Machine, "far");
        let sorted = |q: &Queue<&'static str>, range: std::ops::Range<usize>| {
            let mut seen: Vec<_> = range.filter_map(|d| q.upcoming().get(d)).copied().collect();
            seen.sort_unstable();
            seen
        };
        assert_eq!(q.upcoming().get(0), Some(&"c"), "a command is seen first, as it will pop first");
        assert_eq!(sorted(&q, 1..3), ["a", "b"]);
        assert_eq!(sorted(&q, 3..5), ["d", "e"], "then the second busy millisecond");
        assert_eq!(q.upcoming().get(5), None, "not the third");
        assert_eq!(q.pop(), Some((7, "c")));
        assert_eq!([q.upcoming().get(0), q.upcoming().get(1)], [Some(&"a"), Some(&"b")]);
        assert_eq!(sorted(&q, 2..4), ["d", "e"]);
        assert_eq!(
            q.upcoming().get(4),
            Some(&"f"),
            "the command scheduled last is still first of its millisecond"
        );
        assert_eq!(q.upcoming().get(5), Some(&"g"));
        assert_eq!(q.upcoming().get(6), None, "only two busy milliseconds past the current one");
        assert_eq!(q.pop(), Some((7, "a")));
        assert_eq!(q.upcoming().get(0), Some(&"b"), "the window moves with the pops");
        assert_eq!(q.len(), 7, "looking takes nothing");
    }

    #[test]
    fn pop_due_stops_at_the_end_time() {
        let mut q = Queue::default();
        q.push(7, Class::Machine, "a");
        q.push(7, Class::Machine, "b");
        q.push(9, Class::Machine, "c");
        assert_eq!(q.pop_due(6), None);
        assert_eq!(q.pop_due(7), Some((7, "a")));
        assert_eq!(q.pop_due(7), Some((7, "b")));
        assert_eq!(q.pop_due(8), None);
        assert_eq!(q.pop_due(9), Some((9, "c")));
        assert_eq!(q.pop_due(u64::MAX), None);
    }

    /// The spare buffers stay within their bounds: at most `SPARE_BUFFERS_MAX` of them, holding
    /// at most `SPARE_ENTRIES_MAX` entries in all (their capacities summed exactly), none larger
    /// than `SPARE_MAX`; a burst's large buffer is given back rather than kept.
    #[test]
    fn spare_buffers_stay_within_their_bounds() {
        fn check<T>(level: &Level<T>) {
            assert!(level.spare.len() <= SPARE_BUFFERS_MAX);
            assert!(level.spare.iter().all(|b| b.is_empty() && b.capacity() <= SPARE_MAX));
            assert_eq!(level.spare_entries, level.spare.iter().map(Vec::capacity).sum::<usize>());
            assert!(level.spare_entries <= SPARE_ENTRIES_MAX);
        }
        let mut q = Queue::default();
        // Three blocks with events at every millisecond (and 2 × SPARE_MAX in one millisecond of each,
        // bursts whose buffers exceed SPARE_MAX), drained one millisecond at a time.
        let (mut kept_any, mut pushed) = (false, 0u64);
        for t in 1..3 * WHEEL_MS {
            let n = if t % WHEEL_MS == 7 { 2 * SPARE_MAX as u64 } else { 1 + t % 3 };
            for i in 0..n {
                q.push(t, Class::Machine, (t, i));
            }
            pushed += n;
        }
        let mut popped = 0u64;
        while let Some((t, (at, _))) = q.pop() {
            assert_eq!(t, at);
            popped += 1;
            check(&q.near);
            check(&q.later);
            kept_any |= !q.near.spare.is_empty();
        }
        assert!(kept_any, "drained buffers are reused");
        assert_eq!(popped, pushed, "every event pops once");
    }

    fn same_order_as_a_heap(span: u64, blocks: u64) {
        let mut rng = SimRng::new(11);
        let mut wheel = Queue::with_levels(span, blocks);
        let mut heap = std::collections::BTreeMap::new();
        let (mut now, mut seq, mut popped) = (0u64, 0u64, 0usize);
        for round in 0..100_000u64 {
            if rng.chance(0.55) {
                let delay = match rng.below(5) {
                    0 => 0,
                    1 => rng.below(100),
                    2 => rng.below(span * 2),
                    3 => rng.below(span * 40),
                    _ => rng.below(span * blocks * 2),
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
