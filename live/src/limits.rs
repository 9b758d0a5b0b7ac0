//! Every limit the server holds devices to, named and configurable.

use serde::{Deserialize, Serialize};

/// The server's limits. Each refusal they cause is a documented close code, HTTP status or
/// error frame (`docs/protocol.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The largest text frame a device may send, in bytes (larger: close 1009).
    pub frame_bytes_max: usize,
    /// Frames a connection may send per second, with a burst of as many (more: close 4002).
    pub frames_per_second_max: u32,
    /// Devices (so connections) per user: token device indexes must be below it. At most the
    /// core's `DEVICES_PER_USER_MAX`.
    pub devices_per_user_max: u16,
    /// Connections the server holds at once (more: HTTP 503 at the handshake).
    pub connections_max: usize,
    /// Frames queued for one connection before it counts as a slow reader (close 4001).
    pub outbound_queue_len: usize,
    /// Events queued for the switchboard task (connections wait when it is full).
    pub hub_queue_len: usize,
    /// How long shutdown waits for connections to close, in milliseconds.
    pub shutdown_drain_ms: u64,
    /// How long a connection may take to send its close after the server's, in milliseconds.
    pub close_ms_max: u64,
    /// The largest admin request body, in bytes.
    pub admin_body_bytes_max: usize,
    /// Each connection's read buffer, in bytes (it grows for a larger frame, up to
    /// `frame_bytes_max`). Small, so that an idle connection costs little memory.
    pub read_buffer_bytes: usize,
    /// The most a connection's write buffer may hold, in bytes, when the socket accepts nothing.
    pub write_buffer_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frame_bytes_max: 16 * 1024,
            frames_per_second_max: 50,
            devices_per_user_max: callcore::DEVICES_PER_USER_MAX,
            connections_max: 20_000,
            outbound_queue_len: 256,
            hub_queue_len: 16 * 1024,
            shutdown_drain_ms: 5_000,
            close_ms_max: 1_000,
            admin_body_bytes_max: 1024 * 1024,
            read_buffer_bytes: 4 * 1024,
            write_buffer_bytes_max: 256 * 1024,
        }
    }
}
