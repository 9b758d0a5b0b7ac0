//! # callcore
//!
//! A pure model of the voice/video call lifecycle (initiate, ring, accept, reject, cancel, busy,
//! unanswered, end; one-to-one and group calls), with two roles:
//!
//! - the [`Switchboard`], the single authority on every call: who is involved in what, ring
//!   timeouts, reconnect grace, request dedup;
//! - the [`Client`], one per device: the SDK role that sends requests, keeps the device's view of
//!   its calls and raises listener callbacks, each at most once.
//!
//! Both are sans-IO: every input carries the current virtual time, and outputs (messages to
//! send, callbacks, timers to set or cancel) come back as data. No clock, no threads, no
//! randomness, no allocation per one-to-one call in the switchboard after warm-up.
//!
//! ## The run loop
//!
//! Hand one input to a machine, then drain its outputs until `poll_output` returns `None`:
//! deliver each `Send` to the other side (after whatever latency your network has), set each
//! timer and call `handle_timeout` when it is due (a timer that is no longer due is a safe
//! no-op), and hand callbacks to the application. Here two users make one call and drive it to
//! the end, with every message delivered at once:
//!
//! ```
//! use callcore::{client, switchboard, CallType, Client, ClientMsg, Config, DeviceId, Receiver,
//!                Request, ServerMsg, Status, Switchboard};
//!
//! let config = Config::default();
//! let mut sb = Switchboard::new(config);
//! let (alex, bob) = (sb.add_user(), sb.add_user());
//! let (alex_phone, bob_phone) = (DeviceId::new(alex, 0), DeviceId::new(bob, 0));
//! let mut clients = [Client::new(alex_phone, config), Client::new(bob_phone, config)];
//! let mut raised = Vec::new();
//!
//! // Deliver everything until both sides are quiet (bounded, so a livelock fails).
//! fn pump(sb: &mut Switchboard, clients: &mut [Client; 2], now: u64, raised: &mut Vec<String>) {
//!     for _ in 0..100 {
//!         let mut to_sb: Vec<(DeviceId, ClientMsg)> = Vec::new();
//!         for c in clients.iter_mut() {
//!             while let Some(out) = c.poll_output() {
//!                 match out {
//!                     client::Output::Send(msg) => to_sb.push((c.device(), msg)),
//!                     client::Output::Callback(cb) => raised.push(cb.kind.name().to_owned()),
//!                     _ => {} // answers and request timers: not needed here
//!                 }
//!             }
//!         }
//!         for (from, msg) in to_sb {
//!             sb.handle_message(now, from, msg).unwrap();
//!         }
//!         let mut to_devices: Vec<(DeviceId, ServerMsg)> = Vec::new();
//!         while let Some(out) = sb.poll_output() {
//!             if let switchboard::Output::Send { to, msg } = out {
//!                 to_devices.push((to, msg));
//!             }
//!         }
//!         if to_devices.is_empty() {
//!             return;
//!         }
//!         for (to, msg) in to_devices {
//!             let c = clients.iter_mut().find(|c| c.device() == to).unwrap();
//!             c.handle_message(now, msg).unwrap();
//!         }
//!     }
//!     panic!("no quiescence");
//! }
//!
//! for (i, c) in clients.iter_mut().enumerate() {
//!     c.handle_connected(0);
//!     sb.handle_connect(0, c.device()).unwrap();
//!     let _ = i;
//! }
//! pump(&mut sb, &mut clients, 0, &mut raised);
//!
//! // Alex calls Bob; Bob's phone rings and acknowledges; Alex hears it ringing.
//! let to = Receiver::User(bob);
//! clients[0].command(10, Request::Initiate { to, call_type: CallType::Video, ring_timeout_ms: None }).unwrap();
//! pump(&mut sb, &mut clients, 10, &mut raised);
//! let session = sb.user_calls(alex)[0];
//! assert_eq!(sb.call(session).unwrap().view.status, Status::Ringing);
//!
//! // Bob accepts, then hangs up.
//! clients[1].command(2_000, Request::Accept { session }).unwrap();
//! pump(&mut sb, &mut clients, 2_000, &mut raised);
//! clients[1].command(60_000, Request::End { session }).unwrap();
//! pump(&mut sb, &mut clients, 60_000, &mut raised);
//!
//! assert_eq!(sb.call(session).unwrap().view.status, Status::Ended);
//! assert_eq!(raised, ["incoming_call_received", "outgoing_call_ringing",
//!                     "outgoing_call_accepted", "call_ended"]);
//! assert_eq!(clients[0].call(session).unwrap().status, Status::Ended);
//! ```
//!
//! [`harness::Harness`] packages this loop with a fixed latency and lossy connections.
//! The contract this crate implements is described in `docs/semantics.md` of the repository.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod call;
pub mod client;
mod config;
mod directory;
mod error;
pub mod harness;
mod hint;
mod ids;
pub mod invariants;
pub mod lifecycle;
mod message;
pub mod switchboard;
pub mod table;

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
pub use error::{ClientError, CommandError, ErrorCode, SwitchboardError};
pub use ids::{DeviceId, GroupId, RequestId, SessionId, UserId};
pub use message::{ClientMsg, Notice, RejectStatus, Request, ServerMsg};
pub use switchboard::Switchboard;
