//! The trace: every input handed to the switchboard or a client and every output they return,
//! one record each, in the order they happen. Records are hashed as they go (see
//! [`crate::hash`]) and, when a writer is attached, written as JSON lines.

use crate::hash::TraceHasher;
use callcore::{client, switchboard, ClientMsg, DeviceId, Request, RequestId, ServerMsg};
use serde::Serialize;
use std::io::Write;

/// One line of the trace. `at_ms` is virtual time; devices are `{ "user": id, "index": n }`
/// with user ids in registration order (users sorted by UID in a scenario).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record<'a> {
    /// The device's connection came up (input to its client).
    Connected {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
    },
    /// The device's connection went down (input to its client).
    Disconnected {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
    },
    /// An application command (input to the client).
    Command {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
        /// What the application asked.
        request: &'a Request,
    },
    /// The switchboard learns that a device connected.
    SwitchboardConnect {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
    },
    /// The switchboard learns that a device disconnected.
    SwitchboardDisconnect {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
    },
    /// A message reaches the switchboard.
    ToSwitchboard {
        /// When.
        at_ms: u64,
        /// The sender.
        from: DeviceId,
        /// The message.
        msg: &'a ClientMsg,
    },
    /// A message reaches a client.
    ToClient {
        /// When.
        at_ms: u64,
        /// The receiver.
        to: DeviceId,
        /// The message.
        msg: &'a ServerMsg,
    },
    /// A switchboard timer fires.
    SwitchboardTimer {
        /// When.
        at_ms: u64,
        /// Which timer.
        timer: switchboard::Timer,
    },
    /// A client timer fires.
    ClientTimer {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
        /// Which timer.
        timer: client::Timer,
    },
    /// What the switchboard returned.
    SwitchboardOutput {
        /// When.
        at_ms: u64,
        /// The output.
        output: &'a switchboard::Output,
    },
    /// What a client returned.
    ClientOutput {
        /// When.
        at_ms: u64,
        /// Which device.
        device: DeviceId,
        /// The output.
        output: &'a client::Output,
    },
    /// A message lost in flight (its connection changed before it arrived).
    Lost {
        /// When it would have arrived.
        at_ms: u64,
        /// The device whose connection carried it.
        device: DeviceId,
        /// Whether it was on its way to the switchboard.
        upstream: bool,
    },
}

/// A request id as the trace shows it (for answers it names).
pub type TraceRequestId = RequestId;

/// Where the records go: always into the hash, optionally into a writer.
#[derive(Default)]
pub struct Trace {
    hasher: TraceHasher,
    writer: Option<Box<dyn Write + Send>>,
    records: u64,
    error: Option<String>,
}

impl Trace {
    /// Also writes every record as one JSON line to `writer`.
    pub fn with_writer(writer: Box<dyn Write + Send>) -> Self {
        Self { writer: Some(writer), ..Self::default() }
    }

    /// Takes one record.
    #[inline]
    pub fn record(&mut self, record: &Record<'_>) {
        self.records += 1;
        self.hasher.fold(record);
        if let Some(w) = self.writer.as_mut() {
            let result = serde_json::to_writer(&mut *w, record)
                .map_err(|e| e.to_string())
                .and_then(|()| w.write_all(b"\n").map_err(|e| e.to_string()));
            if let Err(e) = result {
                self.error.get_or_insert(e);
                self.writer = None;
            }
        }
    }

    /// Writes a line naming the scenario whose records follow, `{"kind":"scenario","name":…,
    /// "file":…}`, for a trace of several replays. It is not a record: the hash and the count
    /// leave it out.
    pub fn begin_scenario(&mut self, name: &str, file: &std::path::Path) {
        if let Some(w) = self.writer.as_mut() {
            let line =
                serde_json::json!({ "kind": "scenario", "name": name, "file": file.display().to_string() });
            let result = serde_json::to_writer(&mut *w, &line)
                .map_err(|e| e.to_string())
                .and_then(|()| w.write_all(b"\n").map_err(|e| e.to_string()));
            if let Err(e) = result {
                self.error.get_or_insert(e);
                self.writer = None;
            }
        }
    }

    /// Whether records are also written out.
    pub fn is_written(&self) -> bool {
        self.writer.is_some()
    }

    /// The hash of every record so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    /// Records taken so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes the writer; returns the first write error, if any.
    pub fn finish(&mut self) -> Result<(), String> {
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.flush() {
                self.error.get_or_insert(e.to_string());
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
