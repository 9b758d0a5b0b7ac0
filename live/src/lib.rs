//! # callcore-live
//!
//! callcore on real sockets. The core's two roles are pure state machines; this crate gives
//! them a transport:
//!
//! - [`server`]: a WebSocket signalling server. One task owns the [`callcore::Switchboard`]
//!   ([`hub`](crate::server) internally) and reads one bounded queue; each connection has its
//!   own task and its own bounded outbound queue. Devices prove who they are with a signed token
//!   ([`auth`]); every limit is named ([`limits::Limits`]).
//! - [`sdk`]: the client SDK, an async wrapper around a [`callcore::Client`] with automatic
//!   reconnection.
//! - [`protocol`]: the JSON frames both speak (`docs/protocol.md` documents them for other
//!   languages).
//!
//! The switchboard's time comes from a [`clock::Clock`]: tokio's in production, a
//! [`clock::ManualClock`] in tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod clock;
mod hub;
pub mod limits;
pub mod metrics;
pub mod protocol;
pub mod sdk;
pub mod server;

pub use hub::{Architecture, GroupSpec, StateDump};
