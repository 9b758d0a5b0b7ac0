//! The wire protocol: JSON text frames over WebSocket, each an object with the protocol version
//! `v` and a `type`. The core's messages ([`ClientMsg`], [`ServerMsg`]) travel as they serialize,
//! inside a `msg` frame; the other frames are the adapter's own (a welcome, lookups, ping/pong,
//! errors, the shutdown notice). `docs/protocol.md` is the reference for other languages.
//!
//! A new request kind of the core is a new variant of [`callcore::Request`]: it travels inside
//! the same `msg` frame with no change here.

use callcore::{ClientMsg, DeviceId, GroupId, ServerMsg, UserId};
use serde::{Deserialize, Serialize};

/// The protocol version every frame carries in `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A frame from a device to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
#[non_exhaustive]
pub enum ClientFrame {
    /// A core message (a request, or the acknowledgement of a ring). The server sets who sent
    /// it from the connection's token; a frame cannot name another sender.
    Msg {
        /// The protocol version.
        v: u32,
        /// The message.
        msg: ClientMsg,
    },
    /// Ask for the id of a user (by UID) or of a group (by name).
    Lookup {
        /// The protocol version.
        v: u32,
        /// What to look up.
        name: Name,
    },
    /// Ask the server to answer `pong` with the same nonce once it has handled every frame this
    /// connection sent before (a barrier: what those frames caused is queued before the pong).
    Ping {
        /// The protocol version.
        v: u32,
        /// Echoed in the pong.
        nonce: u64,
    },
}

/// A name to look up: a user's UID or a group's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Name {
    /// A user's UID.
    Uid(String),
    /// A group's name.
    Group(String),
}

/// The id a lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// A user.
    User(UserId),
    /// A group.
    Group(GroupId),
}

/// The limits a connection is held to, as the welcome frame tells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLimits {
    /// The largest text frame accepted, in bytes.
    pub frame_bytes_max: usize,
    /// Frames a connection may send per second (a burst of as many is allowed).
    pub frames_per_second_max: u32,
}

/// A frame from the server to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum ServerFrame {
    /// The first frame on every connection: who the token says this device is.
    Welcome {
        /// The protocol version.
        v: u32,
        /// The user's UID (from the token).
        uid: String,
        /// The device: the user's id on this server and the device index (from the token).
        device: DeviceId,
        /// This connection's number (connection tokens: a close of an older one is ignored).
        conn: u32,
        /// The limits this connection is held to.
        limits: WireLimits,
    },
    /// A core message: an answer, a notice of a call's change, or the snapshot sent on connect.
    Msg {
        /// The protocol version.
        v: u32,
        /// The message.
        msg: ServerMsg,
    },
    /// The answer to a lookup: `found` is `null` when nothing has that name.
    Lookup {
        /// The protocol version.
        v: u32,
        /// What was looked up.
        name: Name,
        /// The id, if any.
        found: Option<Found>,
    },
    /// The answer to a ping.
    Pong {
        /// The protocol version.
        v: u32,
        /// The ping's nonce.
        nonce: u64,
    },
    /// A frame the server could not use; the connection stays open.
    Error {
        /// The protocol version.
        v: u32,
        /// What was wrong.
        code: FrameErrorCode,
        /// A human-readable detail.
        detail: String,
    },
    /// The server is shutting down: the connection closes next (close code 1001).
    Shutdown {
        /// The protocol version.
        v: u32,
    },
}

impl ServerFrame {
    /// A core message in a frame.
    pub fn msg(msg: ServerMsg) -> Self {
        ServerFrame::Msg { v: PROTOCOL_VERSION, msg }
    }

    /// The error frame for `error`.
    pub fn error(error: &FrameError) -> Self {
        ServerFrame::Error { v: PROTOCOL_VERSION, code: error.code(), detail: error.to_string() }
    }

    /// The frame as JSON text.
    pub fn encode(&self) -> String {
        // A ServerFrame holds no map with non-string keys and no float: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Why a frame from a device was not used: the code of an error frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FrameErrorCode {
    /// The text is not JSON, or not a JSON object.
    MalformedJson,
    /// `v` is missing or not a version this server speaks.
    UnsupportedVersion,
    /// `type` is missing or names no frame this server knows.
    UnknownType,
    /// The frame's type is known but its fields are not what the protocol says.
    InvalidMessage,
    /// A binary frame: the protocol is text frames only.
    BinaryFrame,
}

impl FrameErrorCode {
    /// Every code.
    pub const ALL: [FrameErrorCode; 5] = [
        FrameErrorCode::MalformedJson,
        FrameErrorCode::UnsupportedVersion,
        FrameErrorCode::UnknownType,
        FrameErrorCode::InvalidMessage,
        FrameErrorCode::BinaryFrame,
    ];

    /// The code as it is written on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            FrameErrorCode::MalformedJson => "malformed_json",
            FrameErrorCode::UnsupportedVersion => "unsupported_version",
            FrameErrorCode::UnknownType => "unknown_type",
            FrameErrorCode::InvalidMessage => "invalid_message",
            FrameErrorCode::BinaryFrame => "binary_frame",
        }
    }

    /// Index into per-code counters.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A frame from a device that the server could not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Not JSON, or not an object.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// `v` missing or unsupported.
    #[error("unsupported protocol version {0:?} (this server speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(Option<u64>),
    /// `type` missing or unknown.
    #[error("unknown frame type {0:?}")]
    UnknownType(Option<String>),
    /// Known type, wrong fields.
    #[error("invalid {kind} frame: {detail}")]
    InvalidMessage {
        /// The frame's type.
        kind: String,
        /// What serde said.
        detail: String,
    },
    /// A binary frame.
    #[error("binary frames are not part of the protocol; send JSON text")]
    BinaryFrame,
}

impl FrameError {
    /// The error frame's code.
    pub const fn code(&self) -> FrameErrorCode {
        match self {
            FrameError::MalformedJson(_) => FrameErrorCode::MalformedJson,
            FrameError::UnsupportedVersion(_) => FrameErrorCode::UnsupportedVersion,
            FrameError::UnknownType(_) => FrameErrorCode::UnknownType,
            FrameError::InvalidMessage { .. } => FrameErrorCode::InvalidMessage,
            FrameError::BinaryFrame => FrameErrorCode::BinaryFrame,
        }
    }
}

/// The frame types a device may send.
const CLIENT_FRAME_TYPES: [&str; 3] = ["msg", "lookup", "ping"];

/// Decodes a text frame from a device. Never panics: every bad input is a [`FrameError`].
pub fn decode_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| FrameError::MalformedJson(e.to_string()))?;
    let Some(object) = value.as_object() else {
        return Err(FrameError::MalformedJson(String::from("a frame is a JSON object")));
    };
    let version = object.get("v").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(PROTOCOL_VERSION)) {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let kind = object.get("type").and_then(serde_json::Value::as_str);
    let Some(kind) = kind.filter(|k| CLIENT_FRAME_TYPES.contains(k)) else {
        return Err(FrameError::UnknownType(kind.map(str::to_owned)));
    };
    let kind = kind.to_owned();
    serde_json::from_value(value).map_err(|e| FrameError::InvalidMessage { kind, detail: e.to_string() })
}

/// Decodes a frame from the server (the SDK's side).
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, serde_json::Error> {
    serde_json::from_str(text)
}

/// Encodes a frame from a device.
pub fn encode_client_frame(frame: &ClientFrame) -> String {
    serde_json::to_string(frame).unwrap_or_else(|_| String::from("{}"))
}

/// WebSocket close codes the server uses, besides the standard ones (1000 normal, 1001 the
/// server is going away, 1009 a frame over `frame_bytes_max`, 1011 an internal error).
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server shuts down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame over `frame_bytes_max`.
    pub const TOO_BIG: u16 = 1009;
    /// The server could not go on serving this connection.
    pub const INTERNAL: u16 = 1011;
    /// The device read too slowly: its outbound queue (`outbound_queue_len`) was full.
    pub const SLOW_READER: u16 = 4001;
    /// The device sent more than `frames_per_second_max` frames in a second (beyond the burst).
    pub const FLOOD: u16 = 4002;
    /// The same device connected again; this older connection is replaced.
    pub const REPLACED: u16 = 4003;
}
