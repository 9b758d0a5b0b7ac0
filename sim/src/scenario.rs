//! The scenario file format (versions 1 and 2): a cast, a script of commands at virtual times,
//! and what must come out. See `docs/scenarios.md`. Unknown fields are an error everywhere.
//! Version 2 adds push ringing and the media session; a version-1 file runs with no media
//! session timeout.

use crate::locate::{locate, Key};
use crate::net::Latency;
use callcore::{CallType, CallbackKind, Config, Receiver, RejectStatus, Request, SessionId, Status};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario: an object with format, name, users and steps")]
pub struct Scenario {
    /// 1 or 2 (see [`FORMATS`]).
    pub format: u32,
    /// A short title.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Call semantics and network settings.
    #[serde(default, skip_serializing_if = "ScenarioConfig::is_empty")]
    pub config: ScenarioConfig,
    /// UID → user.
    #[serde(deserialize_with = "unique_keys")]
    pub users: BTreeMap<String, UserSpec>,
    /// GUID → member UIDs.
    #[serde(default, deserialize_with = "unique_keys", skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Vec<String>>,
    /// The script.
    pub steps: Vec<Step>,
    /// When the run stops (default: last step + ring timeout + reconnect grace + 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_until_ms: Option<u64>,
    /// What must come out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// `config`: any setting of the call semantics, the latency and the seed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a config: an object of settings")]
pub struct ScenarioConfig {
    /// Ring timeout (default 45000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_timeout_ms: Option<u64>,
    /// Reconnect grace (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_grace_ms: Option<u64>,
    /// Request timeout (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// Call waiting (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_waiting: Option<bool>,
    /// (Format 2) the media session's start timeout (default 20000 in a format-2 file; a
    /// format-1 file has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_start_timeout_ms: Option<u64>,
    /// How long terminal calls are kept (an extension of the format; default: the whole run,
    /// see [`RETENTION_MS_DEFAULT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_retention_ms: Option<u64>,
    /// One-way latency: a number, or `{ "min": A, "max": B }` (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    /// The seed every random choice derives from (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The latency of each item sent (message or connection change), in send order, before
    /// `latency_ms` takes over: an extension of the format that `callsim explore` writes, so
    /// that a counterexample replays with the timing that broke the contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latencies_ms: Option<Vec<u64>>,
}

impl ScenarioConfig {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The call semantics' settings for a file of `format`, defaults filled in: a format-1
    /// file has no media session timeout (version 1 had no media session).
    pub fn core(&self, format: u32) -> Config {
        let d = Config::default();
        let session_start_timeout_ms = match format {
            1 => None,
            _ => Some(
                self.session_start_timeout_ms
                    .or(d.session_start_timeout_ms)
                    .unwrap_or(SESSION_START_TIMEOUT_MS_DEFAULT),
            ),
        };
        Config {
            ring_timeout_ms: self.ring_timeout_ms.unwrap_or(d.ring_timeout_ms),
            reconnect_grace_ms: self.reconnect_grace_ms.unwrap_or(d.reconnect_grace_ms),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(d.request_timeout_ms),
            call_waiting: self.call_waiting.unwrap_or(d.call_waiting),
            call_retention_ms: self.call_retention_ms.unwrap_or(RETENTION_MS_DEFAULT),
            session_start_timeout_ms,
        }
    }

    /// The latency, default filled in.
    pub fn latency(&self) -> Latency {
        self.latency_ms.unwrap_or_default()
    }
}

/// The contract's default media-session start timeout (callcore's `Config::default()` has it).
const SESSION_START_TIMEOUT_MS_DEFAULT: u64 = 20_000;

/// Reads a JSON object into a map, refusing a key written twice: serde's maps keep the last
/// value silently, and in a scenario a repeated key is a typo that would drop what the first
/// one said (an expectation never checked, a user's devices replaced).
fn unique_keys<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Unique<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Unique<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Unique(PhantomData))
}

fn one() -> u16 {
    1
}
fn is_one(n: &u16) -> bool {
    *n == 1
}

/// A user of the cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"a user: {"devices": N, "connected": true|false|[indexes], "push": [indexes]}, or {}"#
)]
pub struct UserSpec {
    /// Devices (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub devices: u16,
    /// Which devices start connected (default all).
    #[serde(default, skip_serializing_if = "StartConnected::is_all")]
    pub connected: StartConnected,
    /// (Format 2) the devices registered for push at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<DeviceList>,
}

impl Default for UserSpec {
    fn default() -> Self {
        Self { devices: 1, connected: StartConnected::All(true), push: None }
    }
}

impl UserSpec {
    /// Whether device `index` is registered for push at the start.
    pub fn starts_registered(&self, index: u16) -> bool {
        self.push.is_some_and(|list| list.contains(index))
    }

    /// Whether device `index` starts connected.
    pub fn starts_connected(&self, index: u16) -> bool {
        match self.connected {
            StartConnected::All(all) => all,
            StartConnected::Devices(list) => list.contains(index),
        }
    }
}

/// `users.*.connected`: every device (`true`), none (`false`), or (format 2) a list of the
/// device indexes connected at the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StartConnected {
    /// Every device, or none.
    All(bool),
    /// (Format 2) these devices.
    Devices(DeviceList),
}

impl Default for StartConnected {
    fn default() -> Self {
        StartConnected::All(true)
    }
}

impl StartConnected {
    fn is_all(&self) -> bool {
        *self == StartConnected::All(true)
    }
}

/// A set of a user's device indexes, written as a JSON list (`[0, 2]`); each index below
/// `DEVICES_PER_USER_MAX`, none twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceList(u16);

impl DeviceList {
    /// The list of these indexes (each below `DEVICES_PER_USER_MAX`).
    pub fn of(indexes: &[u16]) -> Self {
        DeviceList(indexes.iter().filter(|&&i| i < 16).fold(0, |mask, &i| mask | 1 << i))
    }

    /// Whether `index` is in the list.
    pub fn contains(self, index: u16) -> bool {
        index < 16 && self.0 & (1 << index) != 0
    }

    /// Whether the list is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The indexes, in order.
    pub fn indexes(self) -> impl Iterator<Item = u16> {
        (0..16u16).filter(move |&i| self.contains(i))
    }

    /// The highest index, if any.
    pub fn max(self) -> Option<u16> {
        self.indexes().last()
    }
}

impl Serialize for DeviceList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.indexes())
    }
}

impl DeviceList {
    fn read<'de, A: de::SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut mask = 0u16;
        while let Some(index) = seq.next_element::<u16>()? {
            if index >= callcore::DEVICES_PER_USER_MAX {
                return Err(de::Error::custom(format_args!(
                    "device {index}: an index is below {}",
                    callcore::DEVICES_PER_USER_MAX
                )));
            }
            if mask & (1 << index) != 0 {
                return Err(de::Error::custom(format_args!("device {index} is listed twice")));
            }
            mask |= 1 << index;
        }
        Ok(DeviceList(mask))
    }
}

/// Reads `true`, `false` or a list of device indexes (only a list, with `lists_only`).
struct DevicesVisitor {
    lists_only: bool,
}

impl<'de> Visitor<'de> for DevicesVisitor {
    type Value = StartConnected;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.lists_only {
            "a list of device indexes"
        } else {
            "true, false, or a list of device indexes"
        })
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        if self.lists_only {
            return Err(de::Error::invalid_type(de::Unexpected::Bool(v), &self));
        }
        Ok(StartConnected::All(v))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        DeviceList::read(seq).map(StartConnected::Devices)
    }
}

impl<'de> Deserialize<'de> for DeviceList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(DevicesVisitor { lists_only: true })? {
            StartConnected::Devices(list) => Ok(list),
            StartConnected::All(_) => unreachable!("refused by the visitor"),
        }
    }
}

impl<'de> Deserialize<'de> for StartConnected {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DevicesVisitor { lists_only: false })
    }
}

/// Who an initiate calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "snake_case",
    deny_unknown_fields,
    expecting = r#"a receiver: {"user": UID} or {"group": GUID}"#
)]
pub enum Target {
    /// A user (maybe unknown).
    User(String),
    /// A group (maybe unknown).
    Group(String),
}

/// The status a reject step carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectAs {
    /// The receiver declines (default).
    #[default]
    Rejected,
    /// The receiver declines as busy.
    Busy,
    /// The initiator cancels.
    Cancelled,
    /// The initiator gives up.
    Unanswered,
}

impl RejectAs {
    /// The reject's status in callcore's terms.
    pub fn status(self) -> RejectStatus {
        match self {
            RejectAs::Rejected => RejectStatus::Rejected,
            RejectAs::Busy => RejectStatus::Busy,
            RejectAs::Cancelled => RejectStatus::Cancelled,
            RejectAs::Unanswered => RejectStatus::Unanswered,
        }
    }

    /// The format's word for callcore's `status`.
    pub fn of(status: RejectStatus) -> RejectAs {
        match status {
            RejectStatus::Rejected => RejectAs::Rejected,
            RejectStatus::Busy => RejectAs::Busy,
            RejectStatus::Cancelled => RejectAs::Cancelled,
            RejectStatus::Unanswered => RejectAs::Unanswered,
        }
    }
}

/// A request's expected final answer: `"ok"` or an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Success.
    Ok,
    /// `not_connected`.
    NotConnected,
    /// `invalid_receiver`.
    InvalidReceiver,
    /// `not_a_member`.
    NotAMember,
    /// `already_in_call`.
    AlreadyInCall,
    /// `call_not_found`.
    CallNotFound,
    /// `not_allowed`.
    NotAllowed,
    /// `invalid_state`.
    InvalidState,
    /// `timeout`.
    Timeout,
}

impl Outcome {
    /// The outcome of an answer.
    pub fn of<T>(result: &Result<T, callcore::ErrorCode>) -> Outcome {
        use callcore::ErrorCode as E;
        match result {
            Ok(_) => Outcome::Ok,
            Err(E::NotConnected) => Outcome::NotConnected,
            Err(E::InvalidReceiver) => Outcome::InvalidReceiver,
            Err(E::NotAMember) => Outcome::NotAMember,
            Err(E::AlreadyInCall) => Outcome::AlreadyInCall,
            Err(E::CallNotFound) => Outcome::CallNotFound,
            Err(E::NotAllowed) => Outcome::NotAllowed,
            Err(E::InvalidState) => Outcome::InvalidState,
            Err(E::Timeout) => Outcome::Timeout,
            Err(_) => Outcome::Timeout,
        }
    }

    /// The name as the format writes it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotConnected => "not_connected",
            Outcome::InvalidReceiver => "invalid_receiver",
            Outcome::NotAMember => "not_a_member",
            Outcome::AlreadyInCall => "already_in_call",
            Outcome::CallNotFound => "call_not_found",
            Outcome::NotAllowed => "not_allowed",
            Outcome::InvalidState => "invalid_state",
            Outcome::Timeout => "timeout",
        }
    }
}

/// What a step does: an application request, or a connection change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// An application request: callcore's [`Request`], with the call it is about named by its
    /// label (sessions only exist at run time). For an initiate, `call` labels the call it
    /// creates.
    Request {
        /// The request.
        request: Command,
        /// The call's label.
        call: String,
    },
    /// The device's connection drops.
    Disconnect,
    /// The device's connection comes back.
    Connect,
}

impl Action {
    /// The label the step names, if any.
    pub fn label(&self) -> Option<&str> {
        match self {
            Action::Request { request, call } if request.names_call() => Some(call),
            Action::Request { .. } | Action::Disconnect | Action::Connect => None,
        }
    }

    /// The `do` name.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    fn kind(&self) -> Do {
        match self {
            Action::Request { request: Command::Initiate { .. }, .. } => Do::Initiate,
            Action::Request { request: Command::Accept, .. } => Do::Accept,
            Action::Request { request: Command::Reject { status, spelling }, .. } => {
                match (spelling, status) {
                    (RejectSpelling::Cancel, RejectStatus::Cancelled) => Do::Cancel,
                    _ => Do::Reject,
                }
            }
            Action::Request { request: Command::End, .. } => Do::End,
            Action::Request { request: Command::StartSession, .. } => Do::StartSession,
            Action::Request { request: Command::RegisterPush, .. } => Do::RegisterPush,
            Action::Request { request: Command::UnregisterPush, .. } => Do::UnregisterPush,
            Action::Disconnect => Do::Disconnect,
            Action::Connect => Do::Connect,
        }
    }
}

/// [`callcore::Request`] as a step writes it: the same variants and fields, but for what only
/// exists at run time. The receiver of an initiate is named by UID or GUID (`To`, [`Target`]
/// in a file; the replay resolves it to callcore's [`Receiver`] once the cast is registered),
/// and the call a request is about is the step's label, not a field here. With its receiver
/// resolved and the label's session, [`Command::request`] is the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<To = Target> {
    /// Call a user or a group.
    Initiate {
        /// Who.
        to: To,
        /// Audio or video.
        call_type: CallType,
        /// This call's own ring timeout.
        ring_timeout_ms: Option<u64>,
    },
    /// Accept.
    Accept,
    /// Reject: as receiver (`rejected`, `busy`) or as initiator (`cancelled`, `unanswered`).
    Reject {
        /// What the reject means.
        status: RejectStatus,
        /// How the file wrote it (the request is the same either way).
        spelling: RejectSpelling,
    },
    /// End (leave) an accepted call.
    End,
    /// (Format 2) start the media session of an accepted call.
    StartSession,
    /// (Format 2) register the device for push (names no call).
    RegisterPush,
    /// (Format 2) withdraw the device's push registration (names no call).
    UnregisterPush,
}

/// How a file wrote a reject. The request is the same whichever way it is written; the
/// spelling is kept so that a step written back, or named in a message, reads as the file
/// wrote it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RejectSpelling {
    /// `"do": "cancel"` (status cancelled).
    Cancel,
    /// `"do": "reject"` without a `status` (status rejected).
    #[default]
    Reject,
    /// `"do": "reject"` with its `status`.
    RejectWithStatus,
}

impl RejectSpelling {
    /// The usual way to write a reject with `status`: `cancel` for a cancel, `reject` without
    /// a status for a decline, otherwise `reject` with the status.
    pub fn usual(status: RejectStatus) -> Self {
        match status {
            RejectStatus::Cancelled => RejectSpelling::Cancel,
            RejectStatus::Rejected => RejectSpelling::Reject,
            RejectStatus::Busy | RejectStatus::Unanswered => RejectSpelling::RejectWithStatus,
        }
    }
}

impl<To> Command<To> {
    /// Whether the command is about a call (named by the step's label); a push registration
    /// names none, and its step's `call` is empty.
    pub fn names_call(&self) -> bool {
        !matches!(self, Command::RegisterPush | Command::UnregisterPush)
    }

    /// A reject with `status`, written the usual way ([`RejectSpelling::usual`]).
    pub fn reject(status: RejectStatus) -> Self {
        Command::Reject { status, spelling: RejectSpelling::usual(status) }
    }

    /// The same command with its receiver named by `resolve` (UID or GUID to id, or back).
    pub fn map_to<U>(&self, resolve: impl FnOnce(&To) -> U) -> Command<U> {
        match self {
            Command::Initiate { to, call_type, ring_timeout_ms } => Command::Initiate {
                to: resolve(to),
                call_type: *call_type,
                ring_timeout_ms: *ring_timeout_ms,
            },
            Command::Accept => Command::Accept,
            Command::Reject { status, spelling } => Command::Reject { status: *status, spelling: *spelling },
            Command::End => Command::End,
            Command::StartSession => Command::StartSession,
            Command::RegisterPush => Command::RegisterPush,
            Command::UnregisterPush => Command::UnregisterPush,
        }
    }
}

impl Command<Receiver> {
    /// The request, about the call `session` (an initiate creates its call and names none).
    pub fn request(self, session: SessionId) -> Request {
        match self {
            Command::Initiate { to, call_type, ring_timeout_ms } => {
                Request::Initiate { to, call_type, ring_timeout_ms }
            }
            Command::Accept => Request::Accept { session },
            Command::Reject { status, .. } => Request::Reject { session, status },
            Command::End => Request::End { session },
            Command::StartSession => Request::StartSession { session },
            Command::RegisterPush => Request::RegisterPush,
            Command::UnregisterPush => Request::UnregisterPush,
        }
    }

    /// The command of `request` (its session aside: a step names its call by label).
    pub fn of(request: Request) -> Self {
        match request {
            Request::Initiate { to, call_type, ring_timeout_ms } => {
                Command::Initiate { to, call_type, ring_timeout_ms }
            }
            Request::Accept { .. } => Command::Accept,
            Request::Reject { status, .. } => Command::reject(status),
            Request::End { .. } => Command::End,
            Request::StartSession { .. } => Command::StartSession,
            Request::RegisterPush => Command::RegisterPush,
            Request::UnregisterPush => Command::UnregisterPush,
        }
    }
}

/// One step of the script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawStep", into = "RawStep")]
pub struct Step {
    /// When it runs on the device's client.
    pub at_ms: u64,
    /// Whose device.
    pub user: String,
    /// Which device (default 0).
    pub device: Option<u16>,
    /// What it does.
    pub action: Action,
    /// The request's expected final answer.
    pub expect: Option<Outcome>,
}

impl Step {
    /// Whether the step's command is new in format 2.
    fn action_is_version_2(&self) -> bool {
        self.action.kind().is_version_2()
    }
}

/// The `do` of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Do {
    Initiate,
    Accept,
    Reject,
    Cancel,
    End,
    Disconnect,
    Connect,
    StartSession,
    RegisterPush,
    UnregisterPush,
}

impl Do {
    /// Whether the step is new in format 2.
    fn is_version_2(self) -> bool {
        matches!(self, Do::StartSession | Do::RegisterPush | Do::UnregisterPush)
    }

    fn name(self) -> &'static str {
        match self {
            Do::Initiate => "initiate",
            Do::Accept => "accept",
            Do::Reject => "reject",
            Do::Cancel => "cancel",
            Do::End => "end",
            Do::Disconnect => "disconnect",
            Do::Connect => "connect",
            Do::StartSession => "start_session",
            Do::RegisterPush => "register_push",
            Do::UnregisterPush => "unregister_push",
        }
    }
}

/// A step as written: every field any command may have; [`Step`] checks which belong.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a step: an object with at_ms, user, do and the fields of its command"
)]
struct RawStep {
    at_ms: u64,
    user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<u16>,
    #[serde(rename = "do")]
    what: Do,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    call_type: Option<CallType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ring_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<RejectAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<Outcome>,
}

impl RawStep {
    /// The names of the command fields present.
    fn present(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (name, here) in [
            ("to", self.to.is_some()),
            ("call_type", self.call_type.is_some()),
            ("call", self.call.is_some()),
            ("ring_timeout_ms", self.ring_timeout_ms.is_some()),
            ("status", self.status.is_some()),
        ] {
            if here {
                v.push(name);
            }
        }
        v
    }
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        let allowed: &[&str] = match raw.what {
            Do::Initiate => &["to", "call_type", "call", "ring_timeout_ms"],
            Do::Reject => &["call", "status"],
            Do::Accept | Do::Cancel | Do::End | Do::StartSession => &["call"],
            Do::Disconnect | Do::Connect | Do::RegisterPush | Do::UnregisterPush => &[],
        };
        let name = raw.what.name();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        if let Some(f) = raw.present().into_iter().find(|f| !allowed.contains(f)) {
            return Err(format!("field `{f}` does not belong to {article} `{name}` step"));
        }
        let missing = |f: &str| format!("{article} `{name}` step needs the field `{f}`");
        let request = match raw.what {
            Do::Initiate => Command::Initiate {
                to: raw.to.clone().ok_or_else(|| missing("to"))?,
                call_type: raw.call_type.ok_or_else(|| missing("call_type"))?,
                ring_timeout_ms: raw.ring_timeout_ms,
            },
            Do::Accept => Command::Accept,
            Do::Reject => match raw.status {
                None => Command::Reject { status: RejectStatus::Rejected, spelling: RejectSpelling::Reject },
                Some(status) => {
                    Command::Reject { status: status.status(), spelling: RejectSpelling::RejectWithStatus }
                }
            },
            Do::Cancel => {
                Command::Reject { status: RejectStatus::Cancelled, spelling: RejectSpelling::Cancel }
            }
            Do::End => Command::End,
            Do::Disconnect | Do::Connect => {
                let action = if raw.what == Do::Connect { Action::Connect } else { Action::Disconnect };
                return Ok(Step {
                    at_ms: raw.at_ms,
                    user: raw.user,
                    device: raw.device,
                    action,
                    expect: raw.expect,
                });
            }
            Do::StartSession => Command::StartSession,
            Do::RegisterPush | Do::UnregisterPush => {
                let request = if raw.what == Do::RegisterPush {
                    Command::RegisterPush
                } else {
                    Command::UnregisterPush
                };
                let action = Action::Request { request, call: String::new() };
                return Ok(Step {
                    at_ms: raw.at_ms,
                    user: raw.user,
                    device: raw.device,
                    action,
                    expect: raw.expect,
                });
            }
        };
        let call = raw.call.ok_or_else(|| missing("call"))?;
        let action = Action::Request { request, call };
        Ok(Step { at_ms: raw.at_ms, user: raw.user, device: raw.device, action, expect: raw.expect })
    }
}

impl From<Step> for RawStep {
    fn from(step: Step) -> Self {
        let mut raw = RawStep {
            at_ms: step.at_ms,
            user: step.user,
            device: step.device,
            what: step.action.kind(),
            to: None,
            call_type: None,
            call: None,
            ring_timeout_ms: None,
            status: None,
            expect: step.expect,
        };
        let Action::Request { request, call } = step.action else { return raw };
        raw.call = request.names_call().then_some(call);
        match request {
            Command::Initiate { to, call_type, ring_timeout_ms } => {
                raw.to = Some(to);
                raw.call_type = Some(call_type);
                raw.ring_timeout_ms = ring_timeout_ms;
            }
            Command::Reject { status, spelling } => {
                let written = matches!(
                    (spelling, status),
                    (RejectSpelling::Cancel, RejectStatus::Cancelled)
                        | (RejectSpelling::Reject, RejectStatus::Rejected)
                );
                raw.status = (!written).then_some(RejectAs::of(status));
            }
            Command::Accept
            | Command::End
            | Command::StartSession
            | Command::RegisterPush
            | Command::UnregisterPush => {}
        }
        raw
    }
}

/// `expect`: only what is written is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an expect: an object with calls and callbacks")]
pub struct Expect {
    /// Label → final status.
    #[serde(default, deserialize_with = "unique_keys", skip_serializing_if = "BTreeMap::is_empty")]
    pub calls: BTreeMap<String, CallExpect>,
    /// Device (`UID` or `UID/N`) → every callback it raised, in order.
    #[serde(default, deserialize_with = "unique_keys", skip_serializing_if = "BTreeMap::is_empty")]
    pub callbacks: BTreeMap<String, Vec<String>>,
    /// (Format 2) device → every push emitted for it, in order: `ring <label>` or
    /// `cancel <label> <reason>`.
    #[serde(default, deserialize_with = "unique_keys", skip_serializing_if = "BTreeMap::is_empty")]
    pub pushes: BTreeMap<String, Vec<String>>,
}

/// A call's expected final status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = r#"a call's expectation: {"status": S}"#)]
pub struct CallExpect {
    /// The status when the run ends.
    pub status: Status,
}

/// Why a scenario cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON does not fit the format.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file parses but says something impossible (a reference to a user or call it does
    /// not have, a time out of bounds); the position is that of the value at fault.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScenarioError::Read { path, .. }
            | ScenarioError::Parse { path, .. }
            | ScenarioError::Invalid { path, .. } => path,
        }
    }
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with_notes(path).map(|(scenario, _)| scenario)
}

/// Reads and checks a scenario file; also returns what was taken on trust (see
/// [`parse_with_notes`]).
pub fn load_with_notes(path: &Path) -> Result<(Scenario, Vec<String>), ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ScenarioError::Read { path: path.to_owned(), source })?;
    parse_with_notes(&text, path)
}

/// Parses and checks scenario text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    parse_with_notes(text, path).map(|(scenario, _)| scenario)
}

/// Parses and checks scenario text, and returns with it a note for each thing the file left
/// out that was taken on trust: a group member not listed in `users` is taken as a user with
/// the defaults (one device, connected). The format asks for every member to be listed, yet
/// its own example names `carol` in a group without listing her; a file like it replays, and
/// the note says what was assumed (a misspelt member shows up there).
pub fn parse_with_notes(text: &str, path: &Path) -> Result<(Scenario, Vec<String>), ScenarioError> {
    // A byte-order mark (some editors write one) is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let stray = || {
        crate::locate::stray_array(text, &array_allowed).map(|at| {
            let (line, column) = locate(text, &at);
            let message = "expected an object, found an array".to_owned();
            ScenarioError::Parse { path: path.to_owned(), line, column, message }
        })
    };
    let mut scenario: Scenario = match serde_json::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            // An array where the format has an object (a step written as a list, say) makes
            // serde read a struct by position and complain about some element of it: say what
            // is wrong, where. A latency's own message already says what it may be.
            let latency = e.to_string().contains("expected a latency");
            return Err(stray().filter(|_| !latency).unwrap_or_else(|| ScenarioError::Parse {
                path: path.to_owned(),
                line: e.line(),
                column: e.column(),
                message: strip_position(&e.to_string()),
            }));
        }
    };
    if let Some(e) = stray() {
        return Err(e);
    }
    let (adopted, mut notes) = adopt_unlisted_members(&mut scenario);
    let unlisted_step = scenario.steps.iter().position(|step| adopted.contains(&step.user));
    let checked = match unlisted_step {
        // The format asks every user that runs a step to be listed; only group members are
        // taken on trust.
        Some(i) => Err(invalid(
            ["steps".into(), i.into(), "user".into()],
            format!("step {}: user {} is not listed in users", i + 1, scenario.steps[i].user),
        )),
        None => validate(&scenario),
    };
    checked.map_err(|e| {
        let (line, column) = locate(text, &e.at);
        ScenarioError::Invalid { path: path.to_owned(), line, column, message: e.message }
    })?;
    notes.extend(steps_after_the_end(&scenario));
    Ok((scenario, notes))
}

/// A note for each step a written `run_until_ms` leaves out: the run ends before it, so it
/// never runs (and its `expect`, if any, sees no answer).
fn steps_after_the_end(s: &Scenario) -> Vec<String> {
    let Some(end) = s.run_until_ms else { return Vec::new() };
    s.steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.at_ms > end)
        .map(|(i, step)| {
            format!("step {} at {} ms is after run_until_ms ({end} ms): it does not run", i + 1, step.at_ms)
        })
        .collect()
}

/// Where the format has an array: a group's members, the steps, a device's expected callbacks.
/// Anywhere else an array would be read as an object (serde takes a struct's fields by
/// position), so it is refused.
fn array_allowed(path: &[Key]) -> bool {
    let name = |k: &Key, n: &str| matches!(k, Key::Name(x) if x == n);
    match path {
        [first, second] if name(first, "config") => name(second, "latencies_ms"),
        [groups, _] => name(groups, "groups"),
        [steps] => name(steps, "steps"),
        [first, second, _] if name(first, "expect") => name(second, "callbacks") || name(second, "pushes"),
        [first, _, list] if name(first, "users") => name(list, "connected") || name(list, "push"),
        _ => false,
    }
}

/// Lists every group member missing from `users` there, with the defaults. Returns the users
/// so added, and one note each.
fn adopt_unlisted_members(s: &mut Scenario) -> (Vec<String>, Vec<String>) {
    let (mut adopted, mut notes) = (Vec::new(), Vec::new());
    for (guid, members) in &s.groups {
        for uid in members {
            if !s.users.contains_key(uid) {
                s.users.insert(uid.clone(), UserSpec::default());
                adopted.push(uid.clone());
                notes.push(format!(
                    "group {guid}: member {uid} is not listed in users; taken as a user with one connected device"
                ));
            }
        }
    }
    (adopted, notes)
}

/// serde's message without its ` at line L column C`: the caller names the place itself.
pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The most devices a scenario's cast may have in all (2^21, about 1.5 GB to replay): a recorded
/// run of a million users (1.3 million devices) fits; a file of a few megabytes cannot ask for
/// tens of gigabytes.
pub const SCENARIO_DEVICES_MAX: u64 = 1 << 21;

/// The latest virtual time a scenario may name (about 31 years): every time and duration in a
/// file is at most this, so that sums of them (a step plus the ring timeout plus the grace, a send
/// time plus a latency) cannot overflow.
pub const TIME_MS_MAX: u64 = 1_000_000_000_000;

/// How long a scenario keeps terminal calls unless its `config.call_retention_ms` says otherwise:
/// longer than any run. The contract never forgets a call (anything on a terminal call is
/// `invalid_state`); callcore's eviction after `call_retention_ms` (60 s by default) bounds the
/// memory of a population run, and a scenario that wants to see it sets it.
pub const RETENTION_MS_DEFAULT: u64 = TIME_MS_MAX;

/// What is impossible in a scenario that parses, and the path to the value at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Keys and indexes from the document's root to the value at fault.
    pub at: Vec<Key>,
    /// What is wrong.
    pub message: String,
}

/// An [`Invalid`] at `at` (keys and indexes from the root).
fn invalid<const N: usize>(at: [Key; N], message: String) -> Invalid {
    Invalid { at: at.into(), message }
}

fn check_time<const N: usize>(at: [Key; N], what: &str, ms: Option<u64>) -> Result<(), Invalid> {
    match ms {
        Some(ms) if ms > TIME_MS_MAX => Err(invalid(at, format!("{what}: {ms} is beyond {TIME_MS_MAX} ms"))),
        _ => Ok(()),
    }
}

/// Every time and duration of the file is within `TIME_MS_MAX`.
fn validate_times(s: &Scenario) -> Result<(), Invalid> {
    let c = &s.config;
    let config = |field: &str| ["config".into(), field.into()];
    check_time(config("ring_timeout_ms"), "config.ring_timeout_ms", c.ring_timeout_ms)?;
    check_time(config("reconnect_grace_ms"), "config.reconnect_grace_ms", c.reconnect_grace_ms)?;
    check_time(config("request_timeout_ms"), "config.request_timeout_ms", c.request_timeout_ms)?;
    check_time(config("call_retention_ms"), "config.call_retention_ms", c.call_retention_ms)?;
    match c.latency_ms {
        Some(Latency::Uniform { max, .. }) => check_time(
            ["config".into(), "latency_ms".into(), "max".into()],
            "config.latency_ms.max",
            Some(max),
        )?,
        Some(Latency::Fixed(ms)) => check_time(config("latency_ms"), "config.latency_ms", Some(ms))?,
        None => {}
    }
    check_time(["run_until_ms".into()], "run_until_ms", s.run_until_ms)?;
    for (i, step) in s.steps.iter().enumerate() {
        let field = |name: &str| ["steps".into(), i.into(), name.into()];
        check_time(field("at_ms"), &format!("step {}: at_ms", i + 1), Some(step.at_ms))?;
        if let Action::Request { request: Command::Initiate { ring_timeout_ms, .. }, .. } = &step.action {
            check_time(
                field("ring_timeout_ms"),
                &format!("step {}: ring_timeout_ms", i + 1),
                *ring_timeout_ms,
            )?;
        }
    }
    Ok(())
}

/// Checks what serde cannot: references between parts of the file, and bounds on every time.
pub fn validate(s: &Scenario) -> Result<(), Invalid> {
    if !FORMATS.contains(&s.format) {
        return Err(invalid(
            ["format".into()],
            format!("format {} is not supported (only 1 and 2)", s.format),
        ));
    }
    validate_version_2(s)?;
    validate_times(s)?;
    if let Some(Latency::Uniform { min, max }) = s.config.latency_ms {
        if min > max {
            let at = ["config".into(), "latency_ms".into()];
            return Err(invalid(at, format!("latency_ms: min {min} > max {max}")));
        }
    }
    for (uid, spec) in &s.users {
        if spec.devices == 0 || spec.devices > callcore::DEVICES_PER_USER_MAX {
            let at = ["users".into(), uid.as_str().into(), "devices".into()];
            return Err(invalid(
                at,
                format!("user {uid}: devices must be 1..={}", callcore::DEVICES_PER_USER_MAX),
            ));
        }
    }
    let devices: u64 = s.users.values().map(|spec| u64::from(spec.devices)).sum();
    if devices > SCENARIO_DEVICES_MAX {
        return Err(invalid(
            ["users".into()],
            format!("{devices} devices in all: a scenario may have at most {SCENARIO_DEVICES_MAX}"),
        ));
    }
    for (guid, members) in &s.groups {
        if let Some(i) = members.iter().position(|m| !s.users.contains_key(m)) {
            // `parse` lists them first; a scenario built in code must list them itself.
            let at = ["groups".into(), guid.as_str().into(), i.into()];
            return Err(invalid(at, format!("group {guid}: member {} is not listed in users", members[i])));
        }
        if let Some(i) = (1..members.len()).find(|&i| members[..i].contains(&members[i])) {
            let at = ["groups".into(), guid.as_str().into(), i.into()];
            return Err(invalid(at, format!("group {guid}: member {} is listed twice", members[i])));
        }
        if members.len() > callcore::GROUP_MEMBERS_MAX {
            let at = ["groups".into(), guid.as_str().into()];
            return Err(invalid(
                at,
                format!("group {guid}: more than {} members", callcore::GROUP_MEMBERS_MAX),
            ));
        }
    }
    let mut labels = BTreeMap::new();
    for (i, step) in s.steps.iter().enumerate() {
        validate_step(s, i, step, &mut labels)?;
    }
    for (i, step) in s.steps.iter().enumerate() {
        if let Some(label) = step.action.label() {
            if !labels.contains_key(label) {
                let at = ["steps".into(), i.into(), "call".into()];
                return Err(invalid(at, format!("step {}: call {label} is never initiated", i + 1)));
            }
        }
    }
    if let Some(expect) = &s.expect {
        if let Some(label) = expect.calls.keys().find(|l| !labels.contains_key(l.as_str())) {
            let at = ["expect".into(), "calls".into(), label.as_str().into()];
            return Err(invalid(at, format!("expect.calls: call {label} is never initiated")));
        }
        check_device_lists(s, "callbacks", &expect.callbacks, |e| check_callback_entry(e, &labels))?;
        check_device_lists(s, "pushes", &expect.pushes, |e| check_push_entry(e, &labels))?;
    }
    Ok(())
}

/// Checks one of `expect`'s per-device lists (`section`: `callbacks` or `pushes`): each key names
/// a device of the cast, no two keys the same device, and each entry passes `check_entry`.
fn check_device_lists(
    s: &Scenario,
    section: &str,
    lists: &BTreeMap<String, Vec<String>>,
    check_entry: impl Fn(&str) -> Result<(), String>,
) -> Result<(), Invalid> {
    let mut named = BTreeMap::new();
    for (device, entries) in lists {
        let at = || ["expect".into(), section.into(), device.as_str().into()];
        let key = device_key(s, device)
            .map_err(|m| invalid(at(), m.replace("expect.callbacks", &format!("expect.{section}"))))?;
        if let Some(other) = named.insert(key, device) {
            let message = format!("expect.{section}: {other} and {device} name the same device");
            return Err(invalid(at(), message));
        }
        for (i, entry) in entries.iter().enumerate() {
            check_entry(entry).map_err(|m| {
                let at = ["expect".into(), section.into(), device.as_str().into(), i.into()];
                invalid(at, format!("expect.{section}: {device} entry {}: {m}", i + 1))
            })?;
        }
    }
    Ok(())
}

/// The formats this reader takes.
pub const FORMATS: [u32; 2] = [1, 2];

/// Version 2's fields: in a format-1 file, an error; in a format-2 file, a list of devices
/// must name devices the user has.
fn validate_version_2(s: &Scenario) -> Result<(), Invalid> {
    let v2 = |at: Vec<Key>, field: &str| {
        Err(Invalid { at, message: format!("{field} is a format 2 field: write \"format\": 2") })
    };
    if s.format < 2 && s.config.session_start_timeout_ms.is_some() {
        return v2(
            vec!["config".into(), "session_start_timeout_ms".into()],
            "config.session_start_timeout_ms",
        );
    }
    if let Some(ms) = s.config.session_start_timeout_ms {
        check_time(
            ["config".into(), "session_start_timeout_ms".into()],
            "config.session_start_timeout_ms",
            Some(ms),
        )?;
    }
    for (uid, spec) in &s.users {
        let at = |f: &str| vec!["users".into(), uid.as_str().into(), f.into()];
        let lists = [
            (
                "connected",
                match spec.connected {
                    StartConnected::Devices(list) => Some(list),
                    StartConnected::All(_) => None,
                },
            ),
            ("push", spec.push),
        ];
        for (field, list) in lists {
            let Some(list) = list else { continue };
            if s.format < 2 {
                let what = if field == "connected" { "connected as a list" } else { "push" };
                return v2(at(field), &format!("users.{uid}.{what}"));
            }
            if list.max().is_some_and(|max| max >= spec.devices) {
                let message = format!(
                    "user {uid}: {field} names device {}, beyond its {} devices",
                    list.max().unwrap_or(0),
                    spec.devices
                );
                return Err(Invalid { at: at(field), message });
            }
        }
    }
    if let Some(expect) = &s.expect {
        if s.format < 2 && !expect.pushes.is_empty() {
            return v2(vec!["expect".into(), "pushes".into()], "expect.pushes");
        }
    }
    Ok(())
}

fn validate_step(
    s: &Scenario,
    i: usize,
    step: &Step,
    labels: &mut BTreeMap<String, usize>,
) -> Result<(), Invalid> {
    let n = i + 1;
    let field = |name: &str| ["steps".into(), i.into(), name.into()];
    let Some(spec) = s.users.get(&step.user) else {
        return Err(invalid(field("user"), format!("step {n}: user {} is not listed in users", step.user)));
    };
    if s.format < 2 && step.action_is_version_2() {
        let message = format!("step {n}: `{}` is a format 2 step: write \"format\": 2", step.action.name());
        return Err(invalid(field("do"), message));
    }
    let device = step.device.unwrap_or(0);
    if device >= spec.devices {
        return Err(invalid(field("device"), format!("step {n}: {} has no device {device}", step.user)));
    }
    if let Action::Request { request: Command::Initiate { .. }, call } = &step.action {
        // Several initiates may carry one label (a retry after an initiate that failed): the
        // label names the call created last (see `replay`).
        labels.entry(call.clone()).or_insert(i);
    }
    // A connection change always happens: `ok` is all it can be expected to give.
    if matches!(step.action, Action::Connect | Action::Disconnect)
        && step.expect.is_some_and(|e| e != Outcome::Ok)
    {
        let message =
            format!("step {n}: a {} step always succeeds; only `ok` can be expected", step.action.name());
        return Err(invalid(field("expect"), message));
    }
    Ok(())
}

/// Checks one `expect.callbacks` entry, `<callback> <label>[ <reason>]`: a callback the format
/// names, a label some step initiates, and the reason exactly when the callback carries one.
/// A malformed entry is a mistake in the file (exit 2), not a difference of the run.
fn check_callback_entry(entry: &str, labels: &BTreeMap<String, usize>) -> Result<(), String> {
    let words: Vec<&str> = entry.split(' ').collect();
    let (name, label, reason) = match words[..] {
        [name, label] => (name, label, None),
        [name, label, reason] => (name, label, Some(reason)),
        _ => return Err(format!("`{entry}` is not `<callback> <label>` or `<callback> <label> <reason>`")),
    };
    let kinds: Vec<CallbackKind> = CallbackKind::ALL.into_iter().filter(|k| k.name() == name).collect();
    if kinds.is_empty() {
        return Err(format!("unknown callback `{name}`"));
    }
    if !labels.contains_key(label) {
        return Err(format!("call {label} is never initiated"));
    }
    let takes_reason = kinds[0].reason_name().is_some();
    match reason {
        None if takes_reason => Err(format!("`{name}` needs a reason")),
        Some(r) if !takes_reason => Err(format!("`{name}` takes no reason, found `{r}`")),
        Some(r) if !kinds.iter().any(|k| k.reason_name() == Some(r)) => {
            Err(format!("`{r}` is not a reason of `{name}`"))
        }
        _ => Ok(()),
    }
}

/// Checks one `expect.pushes` entry, `ring <label>` or `cancel <label> <reason>`, with a reason
/// of `incoming_call_cancelled`.
fn check_push_entry(entry: &str, labels: &BTreeMap<String, usize>) -> Result<(), String> {
    let words: Vec<&str> = entry.split(' ').collect();
    let label = match words[..] {
        ["ring", label] => label,
        ["cancel", label, reason] => {
            let known = CallbackKind::ALL.iter().any(|k| {
                matches!(k, CallbackKind::IncomingCallCancelled(_)) && k.reason_name() == Some(reason)
            });
            if !known {
                return Err(format!(
                    "`{reason}` is not a reason of a push cancel (those of incoming_call_cancelled)"
                ));
            }
            label
        }
        ["cancel", _] => return Err("`cancel` needs a reason".to_owned()),
        _ => return Err(format!("`{entry}` is not `ring <label>` or `cancel <label> <reason>`")),
    };
    if !labels.contains_key(label) {
        return Err(format!("call {label} is never initiated"));
    }
    Ok(())
}

/// Parses a device key `UID` or `UID/N` of `expect.callbacks`.
pub fn device_key(s: &Scenario, key: &str) -> Result<(String, u16), String> {
    let (uid, index) = match key.rsplit_once('/') {
        Some((uid, n)) if s.users.contains_key(uid) => {
            let index = n.parse::<u16>().map_err(|_| format!("expect.callbacks: bad device {key}"))?;
            if index.to_string() != n {
                return Err(format!("expect.callbacks: bad device {key} (write {uid}/{index})"));
            }
            (uid.to_owned(), index)
        }
        _ => (key.to_owned(), 0),
    };
    match s.users.get(&uid) {
        Some(spec) if index < spec.devices => Ok((uid, index)),
        Some(_) => Err(format!("expect.callbacks: {uid} has no device {index}")),
        None => Err(format!("expect.callbacks: user {uid} is not listed in users")),
    }
}

/// The key of device `index` of `uid` in `expect.callbacks`.
pub fn device_name(uid: &str, index: u16) -> String {
    if index == 0 {
        uid.to_owned()
    } else {
        format!("{uid}/{index}")
    }
}

/// The run's end: `run_until_ms`, or the last step's time + ring timeout + grace + 1000 (+ the
/// session start timeout where the media session is on), with the
/// configured ring timeout (as the format says; a call given a longer one of its own may still
/// ring when a default run ends, so such a file writes its `run_until_ms`).
pub fn run_until_ms(s: &Scenario) -> u64 {
    s.run_until_ms.unwrap_or_else(|| {
        let config = s.config.core(s.format);
        let last = s.steps.iter().map(|st| st.at_ms).max().unwrap_or(0);
        // Validated files keep every term within TIME_MS_MAX; saturate for unvalidated ones.
        last.saturating_add(config.ring_timeout_ms)
            .saturating_add(config.reconnect_grace_ms)
            .saturating_add(1000)
            .saturating_add(config.session_start_timeout_ms.unwrap_or(0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("t.json")).unwrap_err().to_string()
    }

    const MINIMAL: &str = r#"{"format":1,"name":"n","users":{"a":{},"b":{}},"steps":[
      {"at_ms":0,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1"}]}"#;

    /// A step after a written end never runs; the file is taken, with a note. A step at the
    /// end itself runs (every event due at or before `run_until_ms` does).
    #[test]
    fn a_step_after_the_written_end_is_noted() {
        let text = MINIMAL.replace(r#""steps":["#, r#""run_until_ms":5,"steps":["#).replace(
            r#""call":"c1"}]"#,
            r#""call":"c1"},{"at_ms":5,"user":"b","do":"accept","call":"c1"},{"at_ms":6,"user":"b","do":"accept","call":"c1"}]"#,
        );
        let (_, notes) = parse_with_notes(&text, Path::new("t.json")).unwrap();
        assert_eq!(notes, ["step 3 at 6 ms is after run_until_ms (5 ms): it does not run"]);
        let (_, none) = parse_with_notes(MINIMAL, Path::new("t.json")).unwrap();
        assert!(none.is_empty(), "the default end comes after every step");
    }

    fn v2(users: &str, extra: &str) -> String {
        format!(r#"{{"format":2,"name":"n","users":{users},{extra}"steps":[]}}"#)
    }

    /// Format 2: `connected` may list the devices connected at the start.
    #[test]
    fn format_2_reads_connected_as_a_list_of_devices() {
        let s = parse(&v2(r#"{"a":{"devices":3,"connected":[0,2]}}"#, ""), Path::new("t.json")).unwrap();
        let a = s.users["a"];
        assert_eq!([0, 1, 2].map(|i| a.starts_connected(i)), [true, false, true]);
        let none = parse(&v2(r#"{"a":{"devices":2,"connected":[]}}"#, ""), Path::new("t.json")).unwrap();
        assert!(!none.users["a"].starts_connected(0) && !none.users["a"].starts_connected(1));
        let all = parse(&v2(r#"{"a":{"devices":2}}"#, ""), Path::new("t.json")).unwrap();
        assert!(all.users["a"].starts_connected(1), "the default is still every device");
    }

    #[test]
    fn format_2_fields_are_checked() {
        let beyond = err(&v2(r#"{"a":{"devices":2,"connected":[2]}}"#, ""));
        assert!(beyond.contains("connected names device 2, beyond its 2 devices"), "{beyond}");
        let twice = err(&v2(r#"{"a":{"devices":2,"connected":[1,1]}}"#, ""));
        assert!(twice.contains("device 1 is listed twice"), "{twice}");
        let in_v1 = err(&v2(r#"{"a":{"connected":[0]}}"#, "").replace(r#""format":2"#, r#""format":1"#));
        assert!(
            in_v1.contains(r#"users.a.connected as a list is a format 2 field: write "format": 2"#),
            "{in_v1}"
        );
        let three = err(&v2(r#"{"a":{}}"#, "").replace(r#""format":2"#, r#""format":3"#));
        assert!(three.contains("format 3 is not supported (only 1 and 2)"), "{three}");
    }

    /// Push and the media session are not modelled yet: their fields are refused by name, so
    /// that no file passes with a rule silently unchecked.
    #[test]
    fn format_2_reads_push_and_media_fields_and_format_1_refuses_them() {
        let steps = r#"{"at_ms":0,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1"},
            {"at_ms":5,"user":"a","do":"start_session","call":"c1","expect":"invalid_state"},
            {"at_ms":6,"user":"b","device":1,"do":"register_push","expect":"ok"},
            {"at_ms":7,"user":"b","do":"unregister_push"}"#;
        let text = v2(
            r#"{"a":{},"b":{"devices":2,"connected":[0],"push":[1]}}"#,
            r#""config":{"session_start_timeout_ms":500},
            "expect":{"pushes":{"b/1":["ring c1","cancel c1 unanswered"]}},"#,
        )
        .replace(r#""steps":[]"#, &format!(r#""steps":[{steps}]"#));
        let s = parse(&text, Path::new("t.json")).unwrap();
        assert!(s.users["b"].starts_registered(1) && !s.users["b"].starts_registered(0));
        assert_eq!(s.config.core(2).session_start_timeout_ms, Some(500));
        assert_eq!(s.steps[1].action, Action::Request { request: Command::StartSession, call: "c1".into() });
        assert_eq!(s.steps[2].action.label(), None, "a push registration names no call");
        assert_eq!(s.steps[2].action.name(), "register_push");
        // Written back, the steps read the same (no `call` on a registration).
        let back = serde_json::to_string(&s).unwrap();
        assert!(!back.contains(r#""do":"register_push","call""#), "{back}");
        assert_eq!(parse(&back, Path::new("t.json")).unwrap(), s);
        // The contract's default in a format-2 file, none in a format-1 file.
        assert_eq!(ScenarioConfig::default().core(2).session_start_timeout_ms, Some(20_000));
        assert_eq!(ScenarioConfig::default().core(1).session_start_timeout_ms, None);
        // A bad push entry, and a push list beyond the user's devices.
        let bad = err(&v2(r#"{"a":{}}"#, r#""expect":{"pushes":{"a":["cancel c1 hangup"]}},"#));
        assert!(bad.contains("`hangup` is not a reason of a push cancel"), "{bad}");
        let beyond = err(&v2(r#"{"a":{"push":[1]}}"#, ""));
        assert!(beyond.contains("user a: push names device 1, beyond its 1 devices"), "{beyond}");
        // Format 1 refuses each version-2 field and step by name.
        let v1 = |users: &str, extra: &str| v2(users, extra).replace(r#""format":2"#, r#""format":1"#);
        let push = err(&v1(r#"{"a":{"push":[0]}}"#, ""));
        assert!(push.contains("users.a.push is a format 2 field"), "{push}");
        let timeout = err(&v1(r#"{"a":{}}"#, r#""config":{"session_start_timeout_ms":5},"#));
        assert!(timeout.contains("config.session_start_timeout_ms is a format 2 field"), "{timeout}");
        for step in [
            r#"{"at_ms":0,"user":"a","do":"register_push"}"#,
            r#"{"at_ms":0,"user":"a","do":"unregister_push"}"#,
        ] {
            let e = err(&v1(r#"{"a":{}}"#, "").replace(r#""steps":[]"#, &format!(r#""steps":[{step}]"#)));
            assert!(e.contains("is a format 2 step"), "{e}");
        }
    }

    /// 131,072 users of 16 devices are 2^21 devices, the most a scenario may have; one user
    /// more is refused, at `users`.
    #[test]
    fn a_cast_beyond_the_device_limit_is_refused() {
        let cast = |n: usize| {
            let users: Vec<String> = (0..n).map(|i| format!(r#""u{i}":{{"devices":16}}"#)).collect();
            format!(r#"{{"format":1,"name":"n","users":{{{}}},"steps":[]}}"#, users.join(","))
        };
        assert!(parse(&cast(131_072), Path::new("t.json")).is_ok());
        let e = err(&cast(131_073));
        assert!(e.ends_with("2097168 devices in all: a scenario may have at most 2097152"), "{e}");
        assert!(e.starts_with("t.json:1:"), "at `users`: {e}");
    }

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = parse(MINIMAL, Path::new("t.json")).unwrap();
        assert_eq!(s.users["a"], UserSpec::default());
        assert_eq!(s.config.latency(), Latency::Fixed(20));
        assert_eq!(run_until_ms(&s), 45_000 + 10_000 + 1000);
    }

    /// The default end counts the configured ring timeout, as the format says, whatever a call's
    /// own; a written end is kept.
    #[test]
    fn the_default_end_counts_the_configured_ring_timeout() {
        let own = |ms: u64| {
            let text =
                MINIMAL.replace(r#""call":"c1"}"#, &format!(r#""call":"c1","ring_timeout_ms":{ms}}}"#));
            run_until_ms(&parse(&text, Path::new("t.json")).unwrap())
        };
        assert_eq!(own(60_000), 45_000 + 10_000 + 1000);
        assert_eq!(own(5_000), 45_000 + 10_000 + 1000);
        let later = MINIMAL.replace(r#""steps":["#, r#""run_until_ms":7,"steps":["#);
        assert_eq!(run_until_ms(&parse(&later, Path::new("t.json")).unwrap()), 7, "a written end is kept");
    }

    #[test]
    fn an_unknown_field_names_file_line_and_column() {
        let text = "{\"format\":1,\"name\":\"n\",\n\"userz\":{}}";
        let e = err(text);
        assert!(e.starts_with("t.json:2:"), "{e}");
        assert!(e.contains("userz"), "{e}");
    }

    #[test]
    fn a_field_of_another_command_is_an_error() {
        let text = MINIMAL.replace(r#""call_type":"audio","#, r#""call_type":"audio","status":"busy","#);
        assert!(err(&text).contains("status"), "{}", err(&text));
    }

    #[test]
    fn a_misspelled_error_code_is_an_error() {
        let text = MINIMAL.replace(r#""call":"c1"}"#, r#""call":"c1","expect":"okay"}"#);
        assert!(err(&text).contains("okay"));
    }

    /// Format: "Unknown fields are an error (a typo must not pass silently)". serde's maps keep
    /// the last of two equal keys silently; here a repeated key is refused wherever a map is
    /// written, with the position of the repeat.
    #[test]
    fn a_key_written_twice_is_an_error() {
        let users = MINIMAL.replace(r#""b":{}}"#, r#""b":{},"a":{"devices":2}}"#);
        // Column 49 is the closing quote of the second `"a"` (counted by hand).
        assert_eq!(err(&users), "t.json:1:49: duplicate key `a`");
        let groups = MINIMAL.replace(r#""steps""#, r#""groups":{"g":["a"],"g":["b"]},"steps""#);
        assert!(err(&groups).ends_with("duplicate key `g`"), "{}", err(&groups));
        let calls = MINIMAL.replace(
            r#""c1"}]}"#,
            r#""c1"}],"expect":{"calls":{"c1":{"status":"busy"},"c1":{"status":"ended"}}}}"#,
        );
        assert!(err(&calls).ends_with("duplicate key `c1`"), "{}", err(&calls));
        let callbacks = MINIMAL.replace(r#""c1"}]}"#, r#""c1"}],"expect":{"callbacks":{"b":["x"],"b":[]}}}"#);
        assert!(err(&callbacks).ends_with("duplicate key `b`"), "{}", err(&callbacks));
    }

    #[test]
    fn two_names_of_one_device_a_padded_index_and_a_member_twice_are_errors() {
        let same = MINIMAL.replace(r#""c1"}]}"#, r#""c1"}],"expect":{"callbacks":{"b":[],"b/0":[]}}}"#);
        assert!(err(&same).ends_with("expect.callbacks: b and b/0 name the same device"), "{}", err(&same));
        let padded = MINIMAL.replace(r#""c1"}]}"#, r#""c1"}],"expect":{"callbacks":{"b/00":[]}}}"#);
        assert!(err(&padded).contains("bad device b/00 (write b/0)"), "{}", err(&padded));
        let twice = MINIMAL.replace(r#""steps""#, r#""groups":{"g":["a","b","a"]},"steps""#);
        assert!(err(&twice).ends_with("group g: member a is listed twice"), "{}", err(&twice));
    }

    /// Format: each `expect.callbacks` entry is `<callback> <label>`, followed by the reason for
    /// the three callbacks that carry one, from their listed reasons. Anything else is a mistake
    /// in the file, reported where it is, not a failed run.
    #[test]
    fn a_malformed_callback_entry_is_an_error() {
        let with = |entry: &str| {
            let expect = format!(r#""c1"}}],"expect":{{"callbacks":{{"a":["{entry}"]}}}}}}"#);
            MINIMAL.replace(r#""c1"}]}"#, &expect)
        };
        assert!(parse(&with("outgoing_call_ringing c1"), Path::new("t.json")).is_ok());
        assert!(parse(&with("call_ended c1 connection_lost"), Path::new("t.json")).is_ok());
        for (entry, message) in [
            ("outgoing_call_answered c1", "a entry 1: unknown callback `outgoing_call_answered`"),
            ("outgoing_call_ringing c2", "a entry 1: call c2 is never initiated"),
            ("outgoing_call_rejected c1", "a entry 1: `outgoing_call_rejected` needs a reason"),
            ("outgoing_call_accepted c1 hangup", "`outgoing_call_accepted` takes no reason, found `hangup`"),
            ("call_ended c1 busy", "a entry 1: `busy` is not a reason of `call_ended`"),
            ("outgoing_call_ringing", "is not `<callback> <label>`"),
        ] {
            let e = err(&with(entry));
            assert!(e.starts_with("t.json:") && e.contains(message), "{entry}: {e}");
        }
    }

    #[test]
    fn a_latency_range_with_another_field_is_an_error() {
        let text =
            MINIMAL.replace(r#""users""#, r#""config":{"latency_ms":{"min":1,"max":2,"avg":1}},"users""#);
        assert!(err(&text).contains("unknown field `avg`, expected `min` or `max`"), "{}", err(&text));
    }

    /// Format: every step may carry `expect`; a connection change has no request, so it always
    /// comes out `ok`, and any error code expected of it is refused as a mistake in the file.
    #[test]
    fn a_connection_step_may_expect_ok_and_nothing_else() {
        let ok =
            MINIMAL.replace(r#""c1"}]"#, r#""c1"},{"at_ms":5,"user":"b","do":"disconnect","expect":"ok"}]"#);
        assert!(parse(&ok, Path::new("t.json")).is_ok());
        let bad = ok.replace(r#""disconnect","expect":"ok""#, r#""disconnect","expect":"timeout""#);
        assert!(err(&bad).contains("a disconnect step always succeeds"), "{}", err(&bad));
    }

    #[test]
    fn references_are_checked() {
        let text = MINIMAL.replace(r#""user":"a","do""#, r#""user":"zed","do""#);
        assert!(err(&text).contains("zed is not listed"), "{}", err(&text));
        let text = MINIMAL.replace(r#""user":"a","do""#, r#""user":"a","device":1,"do""#);
        assert!(err(&text).contains("no device 1"));
    }

    /// A valid scenario over several lines, for errors that name a position.
    const LINES: &str = r#"{"format":1,"name":"n","users":{"a":{},"b":{"devices":2}},
 "groups":{"g":["a","b"]},
 "steps":[
  {"at_ms":0,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1"},
  {"at_ms":5,"user":"b","device":1,"do":"accept","call":"c1"}]}"#;

    #[test]
    fn reference_errors_name_the_line_and_column_of_the_value_at_fault() {
        assert!(parse(LINES, Path::new("t.json")).is_ok());
        let device = LINES.replace(r#""device":1"#, r#""device":2"#);
        assert_eq!(err(&device), "t.json:5:25: step 2: b has no device 2");
        let label = LINES.replace(r#""accept","call":"c1""#, r#""accept","call":"c9""#);
        assert_eq!(err(&label), "t.json:5:50: step 2: call c9 is never initiated");
    }

    /// A group member missing from `users` (as in the format's own example) is taken as a
    /// user with the defaults, with a note; a step by an unlisted user is still an error.
    #[test]
    fn an_unlisted_group_member_is_taken_with_the_defaults_and_noted() {
        let zed = LINES.replace(r#"["a","b"]"#, r#"["a","zed","b"]"#);
        let (s, notes) = parse_with_notes(&zed, Path::new("t.json")).expect("the file is taken");
        assert_eq!(s.users.get("zed"), Some(&UserSpec::default()));
        assert_eq!(s.users.len(), 3, "a, b and zed");
        assert_eq!(
            notes,
            ["group g: member zed is not listed in users; taken as a user with one connected device"]
        );
        let (_, none) = parse_with_notes(LINES, Path::new("t.json")).unwrap();
        assert!(none.is_empty(), "a file that lists everyone gets no note");
        let step = LINES.replace(r#""user":"b","device":1"#, r#""user":"zed""#);
        assert_eq!(err(&step), "t.json:5:14: step 2: user zed is not listed in users");
        let member_runs_a_step = zed.replace(r#""user":"b","device":1"#, r#""user":"zed""#);
        assert_eq!(
            err(&member_runs_a_step),
            "t.json:5:14: step 2: user zed is not listed in users",
            "a member taken on trust may not run a step"
        );
    }

    /// serde reads a struct from an array by position; the format has arrays only for a
    /// group's members, the steps and a device's expected callbacks, so any other array is
    /// refused, at its place. A byte-order mark is skipped.
    #[test]
    fn an_array_where_the_format_has_an_object_is_refused() {
        let root = r#"[1,"positional",null,{},{"a":{},"b":{}},{},[]]"#;
        assert_eq!(err(root), "t.json:1:1: expected an object, found an array");
        let user = LINES.replace(r#""b":{"devices":2}"#, r#""b":[2,true]"#);
        assert_eq!(err(&user), "t.json:1:40: expected an object, found an array");
        let to = LINES.replace(r#""to":{"user":"b"}"#, r#""to":["b"]"#);
        assert!(err(&to).starts_with("t.json:4:"), "{}", err(&to));
        // A step as a list: serde would read it by position ("expected u16" for its third
        // element); the message says what is wrong instead, at the step.
        let step = r#"{"format":1,"name":"n","users":{"a":{}},"steps":[[0,"a","accept"]]}"#;
        assert_eq!(err(step), "t.json:1:50: expected an object, found an array");
        let short = r#"{"format":1,"name":"n","users":{"a":{}},"steps":[[0]]}"#;
        assert_eq!(err(short), "t.json:1:50: expected an object, found an array");
        let latency = r#"{"format":1,"name":"n","config":{"latency_ms":[1,2]},"users":{"a":{}},"steps":[]}"#;
        assert!(err(latency).contains("expected a latency"), "its own message: {}", err(latency));
        assert!(
            parse(&format!("\u{feff}{LINES}"), Path::new("t.json")).is_ok(),
            "a byte-order mark is skipped"
        );
    }

    /// Several initiates may carry one label: a retry after an initiate that created no call.
    #[test]
    fn a_label_may_be_initiated_again() {
        let again = LINES.replace(
            r#"{"at_ms":5,"user":"b","device":1,"do":"accept","call":"c1"}"#,
            r#"{"at_ms":5,"user":"a","do":"initiate","to":{"user":"b"},"call_type":"audio","call":"c1"}"#,
        );
        assert_ne!(again, LINES);
        assert!(parse(&again, Path::new("t.json")).is_ok());
    }

    #[test]
    fn latency_is_a_number_or_a_range() {
        let s =
            MINIMAL.replace(r#""users""#, r#""config":{"latency_ms":{"min":5,"max":60},"seed":7},"users""#);
        let s = parse(&s, Path::new("t.json")).unwrap();
        assert_eq!(s.config.latency(), Latency::Uniform { min: 5, max: 60 });
        assert_eq!(s.config.seed, Some(7));
    }

    /// A step holds callcore's request but for its ids: with the receiver resolved and the
    /// label's session, it is the request, in one step.
    #[test]
    fn a_step_is_a_request_named_by_its_label() {
        let text =
            LINES.replace(r#""do":"accept","call":"c1""#, r#""do":"reject","call":"c1","status":"busy""#);
        let s = parse(&text, Path::new("t.json")).unwrap();
        let Action::Request { request, call } = &s.steps[0].action else { panic!("a request") };
        assert_eq!(call, "c1");
        let to = request.map_to(|to| {
            assert_eq!(to, &Target::User("b".into()));
            Receiver::User(callcore::UserId(1))
        });
        let session = SessionId(7);
        let initiate = Request::Initiate {
            to: Receiver::User(callcore::UserId(1)),
            call_type: CallType::Audio,
            ring_timeout_ms: None,
        };
        assert_eq!(to.request(session), initiate);
        let Action::Request { request, call } = &s.steps[1].action else { panic!("a request") };
        assert_eq!(call, "c1");
        let reject = request.map_to(|_| Receiver::User(callcore::UserId(0))).request(session);
        assert_eq!(reject, Request::Reject { session, status: RejectStatus::Busy });
        assert_eq!(Command::of(reject), request.map_to(|_| Receiver::User(callcore::UserId(0))));
    }

    /// `cancel` and `reject` with status `cancelled` are one request, and so are `reject` with
    /// and without status `rejected`; each is written back (and named) as the file wrote it.
    #[test]
    fn a_reject_is_written_back_as_the_file_wrote_it() {
        for (written, status, name) in [
            (r#""do":"cancel","call":"c1""#, RejectStatus::Cancelled, "cancel"),
            (r#""do":"reject","call":"c1","status":"cancelled""#, RejectStatus::Cancelled, "reject"),
            (r#""do":"reject","call":"c1""#, RejectStatus::Rejected, "reject"),
            (r#""do":"reject","call":"c1","status":"rejected""#, RejectStatus::Rejected, "reject"),
            (r#""do":"reject","call":"c1","status":"unanswered""#, RejectStatus::Unanswered, "reject"),
        ] {
            let text = LINES.replace(r#""do":"accept","call":"c1""#, written);
            let s = parse(&text, Path::new("t.json")).unwrap();
            let step = &s.steps[1];
            let request = match &step.action {
                Action::Request { request, .. } => request.map_to(|_| Receiver::User(callcore::UserId(0))),
                other => panic!("{other:?}"),
            };
            assert_eq!(request.request(SessionId(1)), Request::Reject { session: SessionId(1), status });
            assert_eq!(step.action.name(), name);
            let again = serde_json::to_string(step).unwrap();
            assert_eq!(again, format!(r#"{{"at_ms":5,"user":"b","device":1,{written}}}"#));
        }
    }

    /// Regression (fuzz finding F6): a step near the end of time overflowed the run's end. Every
    /// time in a file is bounded, so the file is refused with a message instead.
    #[test]
    fn times_beyond_the_bound_are_refused() {
        let step = |at: u64| {
            format!(
                r#"{{"format":1,"name":"n","users":{{"a":{{}},"b":{{}}}},"steps":[{{"at_ms":{at},"user":"a","do":"initiate","to":{{"user":"b"}},"call_type":"audio","call":"c1"}}]}}"#
            )
        };
        assert!(err(&step(u64::MAX)).contains("step 1: at_ms: 18446744073709551615 is beyond"));
        let ok = parse(&step(TIME_MS_MAX), Path::new("t.json")).expect("the bound itself is fine");
        assert_eq!(run_until_ms(&ok), TIME_MS_MAX + 45_000 + 10_000 + 1_000);
    }
}
