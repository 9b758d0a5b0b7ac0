//! The `callsim` command line.

#![forbid(unsafe_code)]

/// jemalloc, configured at build time (`.cargo/config.toml`) to back the heap with transparent
/// huge pages on Linux and to keep freed pages for reuse: a million-user run touches its
/// records at random, and with 4 KiB pages a sixth of its time went to address translation
/// (`docs/performance.md`, "Fourth round"). The allocator changes speed and memory, never the
/// run: the same seed gives the same bytes with any allocator.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    std::process::exit(callsim::cli::main());
}
