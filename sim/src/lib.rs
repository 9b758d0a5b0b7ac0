//! # callsim
//!
//! A deterministic discrete-event simulator of many virtual users driving [`callcore`]: one
//! switchboard, one client per device, a network with latency, FIFO connections, drops and
//! partitions, and the contract's invariants checked after every input (liveness and convergence at
//! the end of the run).
//!
//! - [`engine`]: the event loop ([`engine::World`] + a [`engine::Driver`]).
//! - [`scenario`] and [`replay`]: scenario files (the conformance suite) and their replay.
//! - [`profile`], [`population`]: population runs of virtual users with a safety phase (faults)
//!   and a liveness phase (faults off, every call must end within a bound).
//! - [`record`]: a population run written as a scenario that replays exactly.
//! - [`shrink`]: cutting a failing recorded run down to a minimal scenario.
//! - [`sweep`]: many seeds in parallel, sharded.
//! - [`load`]: a population driven through real connections to a live server (`callsim load`).
//! - [`wire`]: the conformance scenarios replayed against a live server over WebSocket.
//!
//! Every random choice derives from one `u64` seed ([`rng`], PCG-64 MCG); maps that affect output
//! are ordered. The same seed and inputs give the same trace, and the same trace hash.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checks;
pub mod cli;
pub mod engine;
pub mod explore;
pub mod hash;
pub mod hint;
#[cfg(feature = "live")]
pub mod load;
pub mod locate;
pub mod net;
pub mod population;
pub mod profile;
pub mod queue;
pub mod record;
pub mod replay;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod sidecar;
pub mod slab;
pub mod stats;
pub mod sweep;
pub mod trace;
#[cfg(feature = "live")]
pub mod wire;
