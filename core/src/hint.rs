//! Cache hints: a caller that knows which inputs come next (an event queue) can ask the machines
//! to start loading the memory those inputs will read, so that the loads of several inputs
//! overlap instead of each input waiting for its own. A hint never changes what a machine
//! does or returns; on a target without a prefetch instruction it does nothing.

/// Starts loading the cache line that holds the start of `value`.
#[inline(always)]
pub(crate) fn line<T>(value: &T) {
    prefetch_index::prefetch_index(std::slice::from_ref(value), 0);
}

/// Starts loading the cache lines of the first `lines` elements' starts of `items` (a heap
/// buffer, as far as it is in use).
#[inline(always)]
pub(crate) fn buffer<T>(items: &[T], lines: usize) {
    for i in 0..items.len().min(lines) {
        prefetch_index::prefetch_index(items, i);
    }
}
