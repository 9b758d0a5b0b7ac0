//! Cache hints by address: start loading every cache line a value spans.
//!
//! `prefetch_index` loads the line holding the start of an element; a record that straddles
//! two lines also needs the second one, and which records straddle depends on where they
//! fall. A hint never changes what the simulator does.

/// Bytes in a cache line (on the targets this runs on).
const LINE_BYTES: usize = 64;

/// Starts loading every cache line `value` spans.
#[inline(always)]
pub fn whole<T>(value: &T) {
    let start = std::ptr::from_ref(value) as usize;
    let end = start + std::mem::size_of::<T>().max(1);
    let mut line = start & !(LINE_BYTES - 1);
    while line < end {
        address(line);
        line += LINE_BYTES;
    }
}

/// Starts loading the cache line that holds the byte at `address`. Any address will do: a
/// prefetch reads nothing and never faults.
#[inline(always)]
fn address(address: usize) {
    let base: &[u8] = &[];
    prefetch_index::prefetch_index(base, address.wrapping_sub(base.as_ptr() as usize));
}
