//! `callsim explore`: exhaustive model checking of small worlds.
//!
//! A [`World`] names the users, their devices, the groups, the settings, what each user may
//! do (a bounded alphabet of commands) and how many disconnects may strike. [`search`] visits
//! every state such a world can reach, breadth-first, with every delivery order that FIFO
//! connections allow and every timing that latencies within `[min, max]` ms allow (see
//! [`time`] for the argument), checks the contract's invariants at every transition and
//! liveness at every quiet state, and stops at the first violation, whose path is one of the
//! shortest. [`counterexample`] turns that path into a numbered trace and a scenario file that
//! `callsim replay` reproduces.

pub mod cli;
pub mod counterexample;
pub mod depth_first;
pub mod reduction;
pub mod search;
pub mod state;
pub mod symmetry;
pub mod time;
pub mod world;
pub mod world_file;

pub use search::{search, Found, Limits, Outcome};
pub use world::{Cmd, UserPlan, World};
