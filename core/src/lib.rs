//! # callcore
//!
//! A pure model of the voice/video call lifecycle (initiate, ring, accept, reject, cancel, busy,
//! unanswered, end; one-to-one and group calls), with two roles:
//!
//! - the [`Switchboard`], the single authority on every call: who is involved in what, ring
//!   timeouts, reconnect grace, answers to repeated requests;
//! - the [`Client`], one per device: the SDK role that sends requests, keeps the device's view of
//!   its calls and raises listener callbacks, each at most once.
//!
//! Both are sans-IO: no clock, no threads, no randomness, no sockets. The contract they implement
//! is stated in the repository's `docs/contract.md`.
//!
//! ## The run loop
//!
//! Each role has one entry point, `handle_input(now_ms, Input)`, and one exit,
//! `poll_output()`. After every input, drain `poll_output` until it returns `None`:
//!
//! | role | inputs ([`switchboard::Input`], [`client::Input`]) | outputs ([`switchboard::Output`], [`client::Output`]) |
//! | --- | --- | --- |
//! | switchboard | `Connected { device, conn }`, `Disconnected { device, conn }`, `Message { from, msg }`, `Timer` | `Send { to, msg }`, `SetTimer`, `CancelTimer`, `Status` (for observers) |
//! | client | `Command(request)`, `Connected(conn)`, `Disconnected(conn)`, `Message(msg)`, `Timer` | `Send(msg)`, `Callback`, `Answer`, `SetTimer`, `CancelTimer` |
//!
//! Deliver each `Send` to the other side over your transport, hand each `Callback` and `Answer`
//! to the application, and hand `Input::Timer(timer)` back at the time a `SetTimer` asked for
//! (one that is no longer due is a safe no-op, so cancellations may be skipped). Number each
//! connection of a device (`ConnectionId`): a close that arrives after the device reconnected
//! names the old connection and is ignored. `now_ms` is any monotonic clock in milliseconds.
//!
//! `core/examples/embed.rs` is a complete program that wires one switchboard and two clients by
//! hand. For tests, [`testing::harness::Harness`] is a ready-made driver over a simulated network
//! with a fixed latency:
//!
//! ```
//! use callcore::testing::harness::Harness;
//! use callcore::{CallType, Config, DeviceId, Receiver, Request, Status};
//!
//! let mut h = Harness::new(Config::default(), 20); // 20 ms one way
//! let (alex, bob) = (h.add_connected_user(1), h.add_connected_user(1));
//! h.run_until(0, 100);
//! let call = h.command(DeviceId::new(alex, 0), Request::initiate(Receiver::User(bob), CallType::Video));
//! h.run_until(1_000, 100);
//! let session = h.answer(DeviceId::new(alex, 0), call).unwrap().unwrap().session;
//! h.command(DeviceId::new(bob, 0), Request::accept(session));
//! h.run_until(2_000, 100);
//! h.command(DeviceId::new(bob, 0), Request::end(session));
//! h.run_until(3_000, 100);
//!
//! assert_eq!(h.switchboard.call(session).unwrap().status(), Status::Ended);
//! assert_eq!(h.callback_names(DeviceId::new(alex, 0)), ["outgoing_call_ringing", "outgoing_call_accepted", "call_ended hangup"]);
//! assert_eq!(h.callback_names(DeviceId::new(bob, 0)), ["incoming_call_received"]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod call;
pub mod client;
mod config;
mod directory;
mod error;
pub mod grammar;
#[cfg(feature = "hooks")]
mod hint;
mod ids;
pub mod lifecycle;
mod message;
#[cfg(feature = "plant")]
pub mod plant;
pub mod push;
pub mod switchboard;
pub mod table;
pub mod testing;

pub use call::{
    CallType, CallView, Callback, CallbackKind, CancelReason, EndReason, Part, Reason, Receiver,
    RejectReason, Status,
};
pub use client::Client;
pub use config::{
    Config, CALLS_PER_USER_MAX, CLIENT_CALLS_MAX, DEVICES_PER_USER_MAX, GROUP_MEMBERS_MAX,
    PENDING_REQUESTS_MAX, RING_TIMEOUT_MS_MAX, SNAPSHOT_CALLS_MAX,
};
pub use directory::Directory;
pub use error::{ClientError, ErrorCode, SwitchboardError};
pub use ids::{ConnectionId, DeviceId, GroupId, RequestId, SessionId, UserId};
pub use message::{ClientMsg, Notice, RejectStatus, Request, ServerMsg};
pub use switchboard::Switchboard;
