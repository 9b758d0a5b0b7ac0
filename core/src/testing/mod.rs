//! Drivers and checkers for tests, simulators and fuzzers, not for an embedder's run loop:
//! [`harness::Harness`], a ready-made deterministic driver of one switchboard and its clients
//! over a simulated network, [`net`], that network's rules (shared with the simulator), and
//! [`invariants`], the contract's invariants as checks.

pub mod harness;
pub mod invariants;
pub mod net;
