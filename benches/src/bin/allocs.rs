//! Heap allocations per one-to-one call after warm-up, charged separately to the switchboard
//! and to the clients, and heap bytes per connected user and per call record.
//!
//! ```sh
//! cargo run --release -p callcore-benches --bin allocs
//! ```
//!
//! A counting global allocator wraps the system allocator. Its `unsafe impl GlobalAlloc` is the
//! only unsafe code in the benches crate: `GlobalAlloc` is an unsafe trait, and the impl only
//! forwards to `System` and counts.

#![deny(unsafe_code)]

use callcore::switchboard::Input as SbInput;
use callcore::Config;
use callcore::ConnectionId;
use callcore_benches::Net;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics and never touch the memory handed out.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(new_size as u64, Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Relaxed)
}

fn live_bytes() -> u64 {
    LIVE_BYTES.load(Relaxed)
}

const WARM_UP_CALLS: u64 = 10_000;
const MEASURED_CALLS: u64 = 100_000;

/// Allocations per one-to-one call after warm-up: (switchboard, clients).
fn per_call() -> (f64, f64) {
    let mut net = Net::new(Config::default(), 2, 2);
    net.connect_clients();
    for _ in 0..WARM_UP_CALLS {
        net.one_to_one_call(0, 1);
    }
    net.meter = Some(allocs);
    for _ in 0..MEASURED_CALLS {
        net.one_to_one_call(0, 1);
    }
    let n = MEASURED_CALLS as f64;
    (net.sb_count as f64 / n, net.client_count as f64 / n)
}

/// Heap bytes per user with one connected device, and per call record (an accepted call held
/// open, then the same call retained after it ended), for `users` users (a power of two, so
/// that the switchboard's tables end up exactly full rather than with growth slack).
fn per_user_and_record(users: u32) -> (f64, f64, f64) {
    let base = live_bytes();
    let mut net = Net::new(Config::default(), users, 0);
    for u in 0..users {
        net.sb
            .handle_input(0, SbInput::Connected { device: Net::device(u), conn: ConnectionId(0) })
            .expect("registered");
        while net.sb.poll_output().is_some() {} // the (empty) snapshots
    }
    let with_users = live_bytes();
    net.hold_calls(users / 2);
    let with_calls = live_bytes();
    let held = f64::from(users / 2);
    for i in 0..users / 2 {
        let session = net.sb.user_calls(callcore::UserId(2 * i))[0];
        let end = callcore::Request::End { session };
        let msg = callcore::ClientMsg::Request {
            id: callcore::RequestId(2),
            request: end,
            answered_below: callcore::RequestId(0),
        };
        net.sb.handle_input(1, SbInput::Message { from: Net::device(2 * i), msg }).expect("connected");
        while net.sb.poll_output().is_some() {}
    }
    let after_end = live_bytes();
    assert_eq!(net.sb.record_count() as u32, users / 2, "every ended call is retained");
    let per_user = (with_users - base) as f64 / f64::from(users);
    let per_record = (with_calls - with_users) as f64 / held;
    let per_retained = (after_end as f64 - with_users as f64) / held;
    drop(net);
    (per_user, per_record, per_retained)
}

fn main() {
    let (sb, clients) = per_call();
    println!(
        "allocations per one-to-one call after {WARM_UP_CALLS} warm-up calls (mean of {MEASURED_CALLS}):"
    );
    println!("  switchboard: {sb:.3}");
    println!("  clients (both): {clients:.3}");
    for users in [1u32 << 16, 1 << 20] {
        let (per_user, per_record, per_retained) = per_user_and_record(users);
        println!("heap bytes with {users} users ({} calls):", users / 2);
        println!("  per connected user (one device): {per_user:.1}");
        println!("  per call record, accepted and held (2 users' audience lists included): {per_record:.1}");
        println!("  per call record, ended and retained: {per_retained:.1}");
    }
}
