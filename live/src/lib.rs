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
//! Without its default feature `net` the crate is only [`protocol`] (no tokio, no sockets).
//!
//! The switchboard's time comes from a [`clock::Clock`]: tokio's in production, a
//! [`clock::ManualClock`] in tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "net")]
pub mod admin;
#[cfg(feature = "net")]
pub mod auth;
#[cfg(feature = "net")]
pub mod clock;
#[cfg(feature = "net")]
mod hub;
#[cfg(feature = "net")]
pub mod limits;
#[cfg(feature = "net")]
pub mod metrics;
pub mod protocol;
#[cfg(feature = "net")]
pub mod push;
#[cfg(feature = "net")]
pub mod sdk;
#[cfg(feature = "net")]
pub mod server;

#[cfg(feature = "net")]
pub use hub::{Architecture, GroupSpec, StateDump};
