//! One state of an explored world and its transitions: the switchboard, one client per device,
//! each device's connection with what is in flight on it (FIFO per direction), the timers
//! set, the checkers' ledgers (invariants 2, 5 and 7 depend on history) and what is left of
//! the script and the faults. Everything is a plain value: a state is cloned to branch and
//! written out ([`State::parts`]) to be merged with an equal one.
//!
//! The network follows the simulator's rules ([`callcore::testing::net`]): a disconnect or a
//! reconnect starts a new epoch and loses what is in flight both ways; the switchboard learns
//! of a connection change on the device's upstream, FIFO with its messages; what the switchboard
//! sends goes on the connection it last learned of. An item that can no longer arrive is
//! dropped at once instead of waiting for its time (it would be dropped unseen then).

use super::world::{Cmd, World};
use callcore::grammar::State as Said;
use callcore::table::{GROUP, ONE_TO_ONE};
use callcore::testing::invariants::{
    check_authority, check_caught_up, check_convergence, check_involvement, CallbackLedger, MediaLedger,
    PushLedger, StatusLedger, Violation,
};
use callcore::{
    client, switchboard, CallType, Client, ClientMsg, ConnectionId, DeviceId, RejectStatus, Request,
    RequestId, ServerMsg, SessionId, Status, Switchboard, UserId,
};
use memchr::memmem;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::{self, Write};
use std::sync::LazyLock;

/// The explorer's own checks, numbered after the contract's invariants (1 to 9).
pub mod rule {
    /// A machine panicked (the project's rule: no panic on any input).
    pub const PANIC: u8 = 0;
    /// A request got more than one final answer (contract, "Requests and errors").
    pub const ONE_ANSWER: u8 = 10;
    /// The switchboard acted on more requests than the clients made: a repeat acted twice.
    pub const ACTED_ONCE: u8 = 11;
}

/// Invariant 6, the table's side: a status change is a row of the contract's transition
/// tables (`callcore::table`): its event, from a status the row names, to the row's status.
/// A change no row makes is one nobody has the right to make.
pub fn check_row(change: &switchboard::StatusChange) -> Result<(), Violation> {
    let fits = ONE_TO_ONE.iter().chain(GROUP).any(|row| {
        let from = match change.from {
            None => row.from.is_empty(),
            Some(from) => row.from.contains(&from),
        };
        from && row.event == change.event && row.to == change.to
    });
    if fits {
        return Ok(());
    }
    let from = change.from.map_or("none".to_owned(), |s| s.to_string());
    let what = format!(
        "{} moved {from} -> {} by {:?}: no row of the table",
        change.session, change.to, change.event
    );
    Err(Violation { invariant: 6, what })
}

/// Bytes a state's machines usually write (a digest's buffer starts this large).
const DIGEST_BYTES: usize = 4096;

/// The fields of the machines' text whose value is a point in time, ms (`Some(t)` or `t`).
/// The media session's two deadlines are listed ahead of the core that has them.
const TIME_FIELDS: [&str; 10] = [
    "now_ms",
    "created_at_ms",
    "ringing_at_ms",
    "accepted_at_ms",
    "terminal_at_ms",
    "grace_deadline_ms",
    "ring_deadline_ms",
    "evict_at_ms",
    "session_due_ms",
    "session_deadline_ms",
];

/// The time fields in which 0 means unset (a deadline that is not running).
const UNSET_IS_ZERO: [&str; 4] = ["ring_deadline_ms", "evict_at_ms", "session_due_ms", "session_deadline_ms"];

/// The time fields that are data: when a call's status changed, as a view reports it. No
/// machine compares them with anything (only `ringing_at_ms` is read, as set or not), and the
/// checks compare them only for equality between copies of one view; they are written as
/// ranks ([`Clocks`]).
const STAMP_FIELDS: [&str; 4] = ["created_at_ms", "ringing_at_ms", "accepted_at_ms", "terminal_at_ms"];

/// The time field every input overwrites with its own time before anything reads it (each
/// machine's clock: the time of its last input), so its value never decides a future.
const CLOCK_FIELD: &str = "now_ms";

/// How the points in time of one state are written ([`super::time`], "Time shifts" and "What
/// the past keeps"): relative to `now`, but for the stamps (ranks), the machines' clocks
/// (nothing), and the clients' `SeenAt` older than the retention ("old").
struct Clocks {
    now: u64,
    /// The clients' retention of a terminal call: a `SeenAt` further back is expired, and
    /// every expired one behaves alike.
    retention_ms: u64,
    /// The distinct stamps of the state (all `<= now`), ascending.
    stamps: Vec<u64>,
    /// Write every point in time relative to `now`, forgetting nothing of the past (the text
    /// the abstraction is checked against).
    exact: bool,
}

impl Clocks {
    /// A stamp's code: 0 at `now`, and `-k` for the `k`-th distinct stamp counting back from
    /// `now`. It keeps equality and order among the stamps and against every later time.
    fn stamp(&self, t: u64) -> i64 {
        debug_assert!(t <= self.now, "a stamp in the future");
        let before_now = self.stamps.partition_point(|&s| s < self.now);
        let before_t = self.stamps.partition_point(|&s| s < t);
        -((before_now - before_t.min(before_now)) as i64)
    }
}

/// A time field found in a machine's text: where its digits are, its value, and its name (or
/// `None` for a client's `SeenAt`).
struct TimeField<'a> {
    name: Option<&'a str>,
    start: usize,
    end: usize,
    value: u64,
}

/// The time fields of a machine's text, in order: every `name_ms: t` or `name_ms: Some(t)`
/// whose name is one of [`TIME_FIELDS`], and every `SeenAt(t)`.
struct TimeFields<'a> {
    text: &'a str,
    /// Where the next "_ms: " and "SeenAt(" are (`None`: no more).
    next_ms: Option<usize>,
    next_seen: Option<usize>,
}

/// The searchers for what starts a time field (built once: building one costs more than a
/// search through a state's text).
static MS: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"_ms: "));
static SEEN: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"SeenAt("));

impl<'a> TimeFields<'a> {
    fn new(text: &'a str) -> Self {
        let b = text.as_bytes();
        Self { text, next_ms: MS.find(b), next_seen: SEEN.find(b) }
    }

    /// The next match of `finder` after the one at `at`.
    fn after(&self, at: usize, finder: &memmem::Finder<'_>) -> Option<usize> {
        let from = at + 1;
        finder.find(&self.text.as_bytes()[from..]).map(|p| from + p)
    }

    /// The number at `start` (after an optional "Some(" when `some` may be), if any.
    fn number(&self, mut start: usize, some: bool) -> Option<(usize, usize, u64)> {
        let b = self.text.as_bytes();
        if some && b[start..].starts_with(b"Some(") {
            start += 5;
        }
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        Some((start, end, self.text[start..end].parse().ok()?))
    }
}

impl<'a> Iterator for TimeFields<'a> {
    type Item = TimeField<'a>;

    fn next(&mut self) -> Option<TimeField<'a>> {
        loop {
            let text = self.text;
            let take_ms = match (self.next_ms, self.next_seen) {
                (None, None) => return None,
                (Some(m), Some(s)) => m < s,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_ms {
                let m = self.next_ms?;
                self.next_ms = self.after(m, &MS);
                let name_at =
                    text[..m].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |p| p + 1);
                let name = &text[name_at..m + 3];
                if !TIME_FIELDS.contains(&name) {
                    continue;
                }
                if let Some((start, end, value)) = self.number(m + MS.needle().len(), true) {
                    return Some(TimeField { name: Some(name), start, end, value });
                }
            } else {
                let s = self.next_seen?;
                self.next_seen = self.after(s, &SEEN);
                if let Some((start, end, value)) = self.number(s + SEEN.needle().len(), false) {
                    return Some(TimeField { name: None, start, end, value });
                }
            }
        }
    }
}

/// Adds the stamps of `text` to `stamps` (unsorted, with repeats).
fn collect_stamps(text: &str, stamps: &mut Vec<u64>) {
    let fields = TimeFields::new(text);
    stamps
        .extend(fields.filter(|f| f.name.is_some_and(|name| STAMP_FIELDS.contains(&name))).map(|f| f.value));
}

/// Copies the machines' text to `w` with every point in time written as [`Clocks`] says:
/// the values of [`TIME_FIELDS`] and the client's `SeenAt(t + 1)` (0: never).
fn write_relative(text: &str, clocks: &Clocks, w: &mut dyn Write) -> fmt::Result {
    let (now, exact) = (clocks.now, clocks.exact);
    let relative = |t: u64| i128::from(t) - i128::from(now);
    let mut copied = 0;
    for TimeField { name, start, end, value: t } in TimeFields::new(text) {
        w.write_str(&text[copied..start])?;
        match name {
            None if t == 0 => w.write_str("unset")?,
            None if !exact && now.saturating_sub(t - 1) > clocks.retention_ms => w.write_str("old")?,
            None => write!(w, "{}", relative(t - 1))?,
            Some(CLOCK_FIELD) if !exact => {}
            Some(name) if !exact && STAMP_FIELDS.contains(&name) => write!(w, "~{}", clocks.stamp(t))?,
            Some(name) if t == 0 && UNSET_IS_ZERO.contains(&name) => w.write_str("unset")?,
            Some(_) => write!(w, "{}", relative(t))?,
        }
        copied = end;
    }
    w.write_str(&text[copied..])
}

/// A device's connection as the network sees it (the rules of `callcore::testing::net::Link`,
/// without arrival times, which the explorer keeps per item).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Conn {
    epoch: u32,
    up: bool,
    /// The connection the switchboard last learned of.
    learned: u32,
}

/// What travels towards the switchboard.
#[derive(Clone, Debug)]
enum Up {
    /// A message on connection `conn`.
    Msg { msg: ClientMsg, conn: u32 },
    /// The switchboard learns that connection `conn` came up or closed (never lost).
    Learn { conn: u32, connected: bool },
}

/// An item in flight, with the time it was sent. `tag` numbers the latency draw it stands
/// for while a counterexample is retraced; it is 0 during the search and not part of the
/// state.
#[derive(Clone, Debug)]
struct Flight<T> {
    sent_ms: u64,
    /// When it was scheduled, among everything scheduled (the simulator's tie-break).
    seq: u64,
    tag: u32,
    item: T,
}

/// A timer, whoever set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerRef {
    /// The switchboard's.
    Switchboard(switchboard::Timer),
    /// A client's (by device index in the world).
    Client(u16, client::Timer),
}

#[derive(Clone, Debug)]
struct Device {
    id: DeviceId,
    client: Client,
    conn: Conn,
    up: VecDeque<Flight<Up>>,
    down: VecDeque<Flight<(ServerMsg, u32)>>,
    /// Request ids (1 to 63) that got their final answer, one bit each.
    answered: u64,
}

/// One move of the search: a script step, a fault, a delivery, a timer, or time passing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    /// The application on device `device` issues command `cmd` of its user's alphabet, about
    /// `session` (none for an initiate).
    Command {
        /// When: now, or the next ms.
        at_ms: u64,
        /// The device (index in the world).
        device: u16,
        /// The command's index in the user's alphabet.
        cmd: u8,
        /// The call it is about.
        session: Option<SessionId>,
    },
    /// The device's connection drops (at the time given: now, or the next ms).
    Disconnect(u16, u64),
    /// The device's connection comes back (at the time given: now, or the next ms).
    Connect(u16, u64),
    /// The first item in flight from the device to the switchboard arrives.
    Up(u16),
    /// The first message in flight from the switchboard to the device arrives.
    Down(u16),
    /// A timer fires at its time.
    Fire(u64, TimerRef),
}

/// What a retraced run records (a counterexample's trace and the scenario that replays it).
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// One line per input, with its time.
    pub lines: Vec<String>,
    /// The latency of each draw, in draw order (`None`: never delivered; any will do).
    pub draws: Vec<Option<u64>>,
    /// Each initiate that created a call: the device, the request id, the session.
    pub created: Vec<(DeviceId, RequestId, SessionId)>,
    /// The request id each command step got (in step order).
    pub command_ids: Vec<RequestId>,
}

impl Log {
    fn draw(log: &mut Option<&mut Log>) -> u32 {
        match log {
            Some(log) => {
                log.draws.push(None);
                (log.draws.len() - 1) as u32
            }
            None => 0,
        }
    }
}

/// One state of the world.
#[derive(Clone, Debug)]
pub struct State {
    /// Virtual time now, ms.
    pub now_ms: u64,
    /// No machine event has been taken at `now_ms` yet: commands and faults may run now (a
    /// scenario's steps run before the machines' events of the same ms).
    pub fresh: bool,
    sb: Switchboard,
    devices: Vec<Device>,
    /// Each timer set, with its scheduling number.
    timers: BTreeMap<(u64, TimerRef), u64>,
    /// Events of one ms run in scheduling order, as the simulator runs them (see
    /// [`super::time`]): the search that makes counterexamples replay exactly.
    engine_order: bool,
    /// The last scheduling number given.
    seq: u64,
    /// The scheduling number of the last event taken at `now_ms` (0: none yet), in the
    /// simulator's order.
    last_seq: u64,
    statuses: StatusLedger,
    callbacks: BTreeMap<(DeviceId, SessionId), Said>,
    /// Invariant 8: the pushes `ring` still owed a connection or a `cancel`.
    pushes: PushLedger,
    /// Invariant 9: when each participant's start timeout is due.
    media: MediaLedger,
    commands_left: Vec<u8>,
    disconnects_left: u8,
    /// Each device's rank under the world's symmetries ([`super::symmetry::Symmetry::canonical`];
    /// empty: its own index), by which the partial-order reduction picks a device: the same
    /// pick, relabelled, in every state of a class. Set by the search; no part of the state.
    device_ranks: Vec<u16>,
}

/// A state's text in parts ([`State::parts`]): the groups, the switchboard's shared part, each
/// user's record, each device's part (its client, its connection and what is in flight on it),
/// each timer, each entry of the callback ledger, what names no user, and each user's commands
/// left. Every point in time is relative to `now`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// The groups' member lists (the world's: they never change).
    pub groups: String,
    /// The switchboard but its groups and its users' records.
    pub shared: String,
    /// Each user's record in the switchboard, by user id.
    pub users: Vec<String>,
    /// Each device's part, by device index.
    pub devices: Vec<String>,
    /// Each timer set, in the state's order.
    pub timers: Vec<String>,
    /// Each entry of the callback ledger, in the state's order.
    pub callbacks: Vec<String>,
    /// The rest, which names no user.
    pub rest: String,
    /// Each user's commands left, by user id.
    pub commands_left: Vec<u8>,
}

/// Collects the first violation of an input, letting the input finish.
#[derive(Default)]
struct First(Option<Violation>);

impl First {
    fn note(&mut self, r: Result<(), Violation>) {
        if let (None, Err(v)) = (&self.0, r) {
            self.0 = Some(v);
        }
    }
}

impl State {
    /// The world's start: every device connected at 0 (in user, then device order).
    pub fn initial(world: &World, engine_order: bool, mut log: Option<&mut Log>) -> State {
        let mut sb = Switchboard::new(world.config);
        let mut devices = Vec::new();
        for plan in &world.users {
            let user = sb.add_user();
            for index in 0..plan.devices {
                let id = DeviceId::new(user, index);
                let client = Client::new(id, world.config);
                devices.push(Device {
                    id,
                    client,
                    conn: Conn::default(),
                    up: VecDeque::new(),
                    down: VecDeque::new(),
                    answered: 0,
                });
            }
        }
        for g in &world.groups {
            let members: Vec<UserId> = g.iter().map(|&m| UserId(m)).collect();
            // Validated: every member is a user.
            let _ = sb.add_group(&members);
        }
        for d in devices.iter().filter(|d| world.users[d.id.user.0 as usize].push) {
            // Validated: every device is a known one.
            let _ = sb.set_push_registration(d.id, true);
        }
        let mut state = State {
            now_ms: 0,
            fresh: true,
            sb,
            devices,
            timers: BTreeMap::new(),
            engine_order,
            seq: 0,
            last_seq: 0,
            statuses: StatusLedger::new(),
            callbacks: BTreeMap::new(),
            pushes: PushLedger::new(),
            media: MediaLedger::new(),
            commands_left: world.users.iter().map(|u| u.commands_max).collect(),
            disconnects_left: world.disconnects_max,
            device_ranks: Vec::new(),
        };
        for d in 0..state.devices.len() {
            let _ = state.connect(d, &mut log);
        }
        state
    }

    /// The state's text in parts, all of it that decides what may happen next and nothing else
    /// (no counters, no retrace tags): equal text, equal futures. The parts let
    /// [`super::symmetry`] relabel users; written out in order they are the state's digest.
    ///
    /// Every point in time is written relative to `now` (see [`super::time`], "Time shifts"):
    /// two states that differ only by a shift in time are one. What the past keeps only as
    /// history is written by its class ([`super::time`], "What the past keeps"): two states
    /// that differ only there are one too.
    pub fn parts(&self) -> Parts {
        self.parts_as(false)
    }

    /// [`State::parts`] without what the past keeps forgotten ([`super::time`], "What the past
    /// keeps"): every point in time relative to `now`, the whole callback ledger and the
    /// ledger's counts. Two states with equal exact texts are equal but for a shift in time;
    /// tests check the abstraction against it.
    pub fn exact_parts(&self) -> Parts {
        self.parts_as(true)
    }

    fn parts_as(&self, exact: bool) -> Parts {
        let now = self.now_ms;
        let (mut groups, mut users, mut shared) =
            (String::new(), Vec::new(), String::with_capacity(DIGEST_BYTES));
        let _ = self.sb.digest_parts(&mut groups, &mut users, &mut shared);
        let devices: Vec<String> = self
            .devices
            .iter()
            .map(|d| {
                let mut text = String::with_capacity(DIGEST_BYTES / 2);
                let _ = d.client.digest(&mut text);
                for f in &d.down {
                    let _ = write!(text, "v{}{:?}", now - f.sent_ms, f.item);
                }
                text
            })
            .collect();
        let mut stamps = Vec::new();
        collect_stamps(&shared, &mut stamps);
        devices.iter().for_each(|text| collect_stamps(text, &mut stamps));
        stamps.sort_unstable();
        stamps.dedup();
        let clocks = Clocks { now, retention_ms: self.sb.config().call_retention_ms, stamps, exact };
        let relative = |text: &str| {
            let mut out = String::with_capacity(text.len() + 16);
            // Writing to a String cannot fail.
            let _ = write_relative(text, &clocks, &mut out);
            out
        };
        let mut parts = Parts {
            groups,
            shared: relative(&shared),
            users: users.iter().map(|u| relative(u)).collect(),
            devices: Vec::with_capacity(self.devices.len()),
            timers: Vec::with_capacity(self.timers.len()),
            callbacks: Vec::with_capacity(self.callbacks.len()),
            rest: String::new(),
            commands_left: self.commands_left.clone(),
        };
        parts.timers.extend(self.timers.keys().map(|(at, timer)| format!("{} {timer:?}", at - now)));
        for (d, raw) in self.devices.iter().zip(&devices) {
            let mut text = relative(raw);
            let _ = write!(text, "{:?}", d.conn);
            for f in &d.up {
                let _ = write!(text, "^{}{:?}", now - f.sent_ms, f.item);
            }
            let _ = write!(text, "#{}", d.answered);
            parts.devices.push(text);
        }
        // An entry of the callback ledger about a session no machine, message or timer names
        // any more judges nothing again: no input can make a client raise a callback for it
        // (a session id is never given twice). Leaving it out merges the states that differ
        // only by the callbacks of forgotten calls.
        let named = |session: &str| {
            let finder = memmem::Finder::new(session);
            let texts = std::iter::once(&parts.shared).chain(&parts.users).chain(&parts.devices);
            texts.chain(&parts.timers).any(|t| finder.find(t.as_bytes()).is_some())
        };
        for ((device, session), said) in &self.callbacks {
            if exact || named(&format!("{session:?}")) {
                parts.callbacks.push(format!("{:?}{said:?}", (device, session)));
            }
        }
        let _ = self.write_rest(&mut parts.rest, exact);
        parts
    }

    /// What [`State::parts`] writes that names no user.
    fn write_rest(&self, w: &mut String, exact: bool) -> fmt::Result {
        write!(w, "{}", self.fresh)?;
        if exact {
            write!(w, "{:?}", self.statuses)?;
        }
        self.statuses.digest(&self.sb, w)?;
        write!(w, "{:?}", self.pushes)?;
        self.media.digest(self.now_ms, w)?;
        if self.engine_order {
            // Only the order of the scheduling numbers matters: their ranks.
            let mut seqs: Vec<u64> = self.devices.iter().flat_map(|d| d.up.iter().map(|f| f.seq)).collect();
            seqs.extend(self.devices.iter().flat_map(|d| d.down.iter().map(|f| f.seq)));
            seqs.extend(self.timers.values());
            let mut sorted = seqs.clone();
            sorted.sort_unstable();
            for s in seqs {
                write!(w, "#{}", sorted.partition_point(|&x| x < s))?;
            }
            // What may still happen at `now`: the pending items scheduled after the last event.
            write!(w, "@{}", sorted.partition_point(|&x| x < self.last_seq))?;
        }
        write!(w, "{}", self.disconnects_left)
    }

    /// The latest time the next event may happen: nothing in flight or set may be skipped.
    fn latest_ms(&self, world: &World) -> Option<u64> {
        let heads = self.devices.iter().flat_map(|d| {
            let up = d.up.front().map(|f| f.sent_ms + world.latency_ms_max);
            let down = d.down.front().map(|f| f.sent_ms + world.latency_ms_max);
            up.into_iter().chain(down)
        });
        heads.chain(self.timers.first_key_value().map(|(&(at, _), _)| at)).min()
    }

    /// Whether nothing is in flight and no timer but evictions is set: the run is over but
    /// for the forgetting of terminal calls. Liveness is judged here.
    pub fn quiet(&self) -> bool {
        self.devices.iter().all(|d| d.up.is_empty() && d.down.is_empty())
            && self
                .timers
                .keys()
                .all(|(_, t)| matches!(t, TimerRef::Switchboard(switchboard::Timer::Evict(_))))
    }

    /// Invariants 3 and 4 at a quiet state: every call is terminal, and every connected
    /// device sees each retained call as the switchboard does and has raised what the caught-up
    /// rows ask for it (`callcore::grammar::CAUGHT_UP`).
    pub fn check_quiet(&self) -> Result<(), Violation> {
        // An accepted call lasts as long as its parties talk: the script need not end it
        // (the contract bounds it by the longest talk time). Every other live status must have
        // moved on.
        let stuck = self.statuses.live_sessions().find(|(_, status)| **status != Status::Accepted);
        if let Some((session, status)) = stuck {
            let what = format!("{session} is still {status} with nothing in flight and no timer set");
            return Err(Violation { invariant: 3, what });
        }
        // With the media session's timeout on, an accepted call may last for ever only once its
        // participants started their sessions: one who has not, with no timer left to make it
        // leave, would stay past the timeout (invariant 9).
        if self.sb.config().session_start_timeout_ms.is_some() {
            for call in self.sb.calls().filter(|c| c.status() == Status::Accepted) {
                let idle =
                    call.parties().iter().find(|p| p.part == callcore::Part::Joined && !p.session_started);
                if let Some(p) = idle {
                    let what = format!(
                        "user {} is in accepted call {} without a media session, and nothing is left to end it",
                        p.user.0,
                        call.session()
                    );
                    return Err(Violation { invariant: 9, what });
                }
            }
        }
        check_convergence(&self.sb, self.devices.iter().map(|d| &d.client))?;
        let said = |device, session| self.callbacks.get(&(device, session)).copied().unwrap_or_default();
        check_caught_up(&self.sb, self.devices.iter().map(|d| &d.client), said)
    }

    /// The device whose local moves (the delivery of its first message, its client's timers)
    /// the partial-order reduction takes first, if it applies here: no event may happen at
    /// this ms before them but other events of this ms, and none of those touches the device
    /// ([`super::reduction`] has the conditions and the argument). `None` in the simulator's
    /// order, at a fresh ms, or while an eviction is due now.
    pub fn forced_device(&self, world: &World) -> Option<u16> {
        if self.engine_order || self.fresh {
            return None;
        }
        let now = self.now_ms;
        // No timer is pending before now: the first ones are those due now.
        let due_now = self.timers.keys().take_while(|(at, _)| *at == now);
        let mut clients_due: u64 = 0;
        for (_, timer) in due_now {
            match timer {
                TimerRef::Switchboard(switchboard::Timer::Evict(_)) => return None,
                TimerRef::Switchboard(_) => {}
                TimerRef::Client(d, _) => clients_due |= 1u64.checked_shl(u32::from(*d)).unwrap_or(0),
            }
        }
        let forced = |(i, d): &(usize, &Device)| {
            let timer_due = clients_due & 1u64.checked_shl(*i as u32).unwrap_or(0) != 0;
            let must_arrive = d.down.front().is_some_and(|f| f.sent_ms + world.latency_ms_max <= now);
            timer_due || must_arrive
        };
        let rank = |i: usize| self.device_ranks.get(i).copied().unwrap_or(i as u16);
        self.devices.iter().enumerate().filter(forced).map(|(i, _)| (rank(i), i as u16)).min().map(|(_, i)| i)
    }

    /// Sets each device's rank under the world's symmetries (see `device_ranks`).
    pub fn set_device_ranks(&mut self, ranks: Vec<u16>) {
        debug_assert!(ranks.is_empty() || ranks.len() == self.devices.len(), "a rank per device");
        self.device_ranks = ranks;
    }

    /// Every move possible now, events first (earliest first), then the script's commands
    /// and the faults: now if no event happened at this ms yet, and at the next ms if nothing
    /// pending is due by then.
    pub fn moves(&self, world: &World, out: &mut Vec<Move>) {
        out.clear();
        let latest = self.latest_ms(world);
        if let Some(latest) = latest {
            // (earliest, latest, scheduling number, move)
            let mut events: Vec<(u64, u64, u64, Move)> = Vec::new();
            let (min, max) = (world.latency_ms_min, world.latency_ms_max);
            for (i, d) in self.devices.iter().enumerate() {
                if let Some(f) = d.up.front() {
                    events.push((f.sent_ms + min, f.sent_ms + max, f.seq, Move::Up(i as u16)));
                }
                if let Some(f) = d.down.front() {
                    events.push((f.sent_ms + min, f.sent_ms + max, f.seq, Move::Down(i as u16)));
                }
            }
            events.extend(self.timers.iter().map(|(&(at, t), &seq)| (at, at, seq, Move::Fire(at, t))));
            let allowed = |&(earliest, latest_e, seq, _): &(u64, u64, u64, Move)| {
                let at = self.arrival_ms(earliest, seq);
                // In the simulator's order, an event scheduled earlier that must happen by
                // then happens first.
                at <= latest
                    && at <= latest_e
                    && !(self.engine_order && events.iter().any(|e| e.2 < seq && e.1 <= at))
            };
            let mut taken: Vec<(u64, Move)> =
                events.iter().filter(|e| allowed(e)).map(|e| (e.0, e.3)).collect();
            taken.sort_by_key(|(earliest, _)| *earliest);
            out.extend(taken.into_iter().map(|(_, m)| m));
        }
        if self.fresh {
            self.script_moves(world, self.now_ms, out);
        }
        if latest.is_none_or(|latest| self.now_ms < latest) && (!self.fresh || latest.is_some()) {
            self.script_moves(world, self.now_ms + 1, out);
        }
    }

    fn script_moves(&self, world: &World, at_ms: u64, out: &mut Vec<Move>) {
        for (i, d) in self.devices.iter().enumerate() {
            let user = d.id.user;
            let plan = &world.users[user.0 as usize];
            let connected = d.client.is_connected();
            if connected && self.commands_left[user.0 as usize] > 0 {
                for (c, cmd) in plan.alphabet.iter().enumerate() {
                    let device = i as u16;
                    let cmd_index = c as u8;
                    if let Cmd::Initiate(_) = cmd {
                        out.push(Move::Command { at_ms, device, cmd: cmd_index, session: None });
                        continue;
                    }
                    for view in d.client.calls() {
                        let mine = view.initiator == user;
                        let fits = match cmd {
                            Cmd::Accept | Cmd::Decline => !mine && !view.status.is_terminal(),
                            Cmd::Cancel => mine && matches!(view.status, Status::Initiated | Status::Ringing),
                            Cmd::End | Cmd::StartSession => view.status == Status::Accepted,
                            Cmd::Initiate(_) => false,
                        };
                        if fits {
                            out.push(Move::Command {
                                at_ms,
                                device,
                                cmd: cmd_index,
                                session: Some(view.session),
                            });
                        }
                    }
                }
            }
            if connected && self.disconnects_left > 0 {
                out.push(Move::Disconnect(i as u16, at_ms));
            }
            if !connected {
                out.push(Move::Connect(i as u16, at_ms));
            }
        }
    }

    /// Takes one move (one of [`State::moves`]). Returns the first broken invariant.
    pub fn apply(&mut self, world: &World, mv: Move, mut log: Option<&mut Log>) -> Result<(), Violation> {
        if let Move::Command { at_ms, .. } | Move::Disconnect(_, at_ms) | Move::Connect(_, at_ms) = mv {
            if at_ms > self.now_ms {
                self.now_ms = at_ms;
                self.fresh = true;
                self.last_seq = 0;
            }
        }
        match mv {
            Move::Command { device, cmd, session, .. } => {
                self.command(world, device as usize, cmd, session, &mut log)
            }
            Move::Disconnect(d, _) => {
                self.disconnects_left -= 1;
                self.disconnect(d as usize, &mut log)
            }
            Move::Connect(d, _) => self.connect(d as usize, &mut log),
            Move::Up(d) => self.deliver_up(world, d as usize, &mut log),
            Move::Down(d) => self.deliver_down(world, d as usize, &mut log),
            Move::Fire(at, timer) => self.fire(at, timer, &mut log),
        }
    }

    fn note(&self, log: &mut Option<&mut Log>, line: impl FnOnce() -> String) {
        if let Some(log) = log {
            log.lines.push(format!("{:>4} ms  {}", self.now_ms, line()));
        }
    }

    fn command(
        &mut self,
        world: &World,
        d: usize,
        cmd: u8,
        session: Option<SessionId>,
        log: &mut Option<&mut Log>,
    ) -> Result<(), Violation> {
        let user = self.devices[d].id.user.0 as usize;
        self.commands_left[user] -= 1;
        let s = session.unwrap_or(SessionId(u64::MAX));
        let request = match world.users[user].alphabet[cmd as usize] {
            Cmd::Initiate(to) => Request::initiate(to, CallType::Audio),
            Cmd::Accept => Request::accept(s),
            Cmd::Decline => Request::Reject { session: s, status: RejectStatus::Rejected },
            Cmd::Cancel => Request::cancel(s),
            Cmd::End => Request::end(s),
            Cmd::StartSession => Request::start_session(s),
        };
        let id = self.devices[d].id;
        self.note(log, || format!("{id} app: {request:?}"));
        let result = self.devices[d].client.handle_input(self.now_ms, client::Input::Command(request));
        if let (Some(log), Ok(Some(rid))) = (log.as_deref_mut(), result) {
            log.command_ids.push(rid);
        }
        let mut first = First::default();
        self.drain_client(d, log, &mut first);
        first.0.map_or(Ok(()), Err)
    }

    /// Drops what can no longer arrive on device `d`'s connection (after an epoch change).
    fn purge(&mut self, d: usize) {
        let dev = &mut self.devices[d];
        dev.up.retain(|f| matches!(f.item, Up::Learn { .. }));
        dev.down.clear();
    }

    fn connect(&mut self, d: usize, log: &mut Option<&mut Log>) -> Result<(), Violation> {
        self.change_connection(d, true, log)
    }

    fn disconnect(&mut self, d: usize, log: &mut Option<&mut Log>) -> Result<(), Violation> {
        self.change_connection(d, false, log)
    }

    /// Device `d`'s connection comes up (`connected`) or drops: a new epoch, what was in flight
    /// is lost, the switchboard learns of it on the upstream, and the client is told at once (a
    /// connect carries the new epoch, a drop the one that ended).
    fn change_connection(
        &mut self,
        d: usize,
        connected: bool,
        log: &mut Option<&mut Log>,
    ) -> Result<(), Violation> {
        let dev = &mut self.devices[d];
        let ended = dev.conn.epoch;
        dev.conn.epoch += 1;
        dev.conn.up = connected;
        let conn = if connected { dev.conn.epoch } else { ended };
        self.purge(d);
        let tag = Log::draw(log);
        let now = self.now_ms;
        self.seq += 1;
        let seq = self.seq;
        self.devices[d].up.push_back(Flight { sent_ms: now, seq, tag, item: Up::Learn { conn, connected } });
        let id = self.devices[d].id;
        let input = if connected {
            self.note(log, || format!("{id} connects"));
            client::Input::Connected(ConnectionId(conn))
        } else {
            self.note(log, || format!("{id} disconnects"));
            client::Input::Disconnected(ConnectionId(conn))
        };
        let _ = self.devices[d].client.handle_input(now, input);
        let mut first = First::default();
        self.drain_client(d, log, &mut first);
        first.0.map_or(Ok(()), Err)
    }

    /// When an event due from `earliest_ms` happens if taken next: as early as it can. In the
    /// simulator's order, the events of one ms run in scheduling order, so one scheduled before
    /// the last event taken at `now` happens a ms later.
    fn arrival_ms(&self, earliest_ms: u64, seq: u64) -> u64 {
        let at = self.now_ms.max(earliest_ms);
        if self.engine_order && at == self.now_ms && seq < self.last_seq {
            at + 1
        } else {
            at
        }
    }

    /// Takes an event scheduled `seq`-th, due from `earliest_ms`: time moves to when it happens.
    fn take(&mut self, earliest_ms: u64, seq: u64) {
        self.now_ms = self.arrival_ms(earliest_ms, seq);
        self.last_seq = seq;
        self.fresh = false;
    }

    /// Moves time to when an item sent at `sent_ms` arrives and records its latency.
    fn arrive(&mut self, world: &World, sent_ms: u64, seq: u64, tag: u32, log: &mut Option<&mut Log>) {
        self.take(sent_ms + world.latency_ms_min, seq);
        if let Some(log) = log {
            log.draws[tag as usize] = Some(self.now_ms - sent_ms);
        }
    }

    fn deliver_up(&mut self, world: &World, d: usize, log: &mut Option<&mut Log>) -> Result<(), Violation> {
        let Some(f) = self.devices[d].up.pop_front() else { return Ok(()) };
        self.arrive(world, f.sent_ms, f.seq, f.tag, log);
        let id = self.devices[d].id;
        let now = self.now_ms;
        let mut first = First::default();
        let mut requester = None;
        match f.item {
            Up::Msg { msg, conn } => {
                let c = self.devices[d].conn;
                if !(c.up && c.epoch == conn) {
                    return Ok(()); // purged on the epoch change; kept for safety
                }
                self.note(log, || format!("switchboard <- {id}: {msg:?}"));
                let request = match msg {
                    ClientMsg::Request { id: rid, request: Request::Initiate { .. }, .. } => Some(rid),
                    _ => None,
                };
                if let ClientMsg::Request { .. } = msg {
                    requester = Some(id.user);
                }
                let _ = self.sb.handle_input(now, switchboard::Input::Message { from: id, msg });
                let changes = self.drain_switchboard(log, &mut first);
                if let (Some(log), Some(rid)) = (log.as_deref_mut(), request) {
                    for c in changes.iter().filter(|c| c.from.is_none()) {
                        log.created.push((id, rid, c.session));
                    }
                }
                first.note(self.after_input(&changes, requester));
            }
            Up::Learn { conn, connected } => {
                let input = if connected {
                    self.devices[d].conn.learned = conn;
                    self.note(log, || format!("switchboard learns {id} connected"));
                    switchboard::Input::Connected { device: id, conn: ConnectionId(conn) }
                } else {
                    self.note(log, || format!("switchboard learns {id} disconnected"));
                    switchboard::Input::Disconnected { device: id, conn: ConnectionId(conn) }
                };
                let _ = self.sb.handle_input(now, input);
                let changes = self.drain_switchboard(log, &mut first);
                first.note(self.after_input(&changes, None));
            }
        }
        self.prune_timers();
        first.0.map_or(Ok(()), Err)
    }

    fn deliver_down(&mut self, world: &World, d: usize, log: &mut Option<&mut Log>) -> Result<(), Violation> {
        let Some(f) = self.devices[d].down.pop_front() else { return Ok(()) };
        self.arrive(world, f.sent_ms, f.seq, f.tag, log);
        let (msg, _) = f.item;
        let id = self.devices[d].id;
        self.note(log, || format!("{id} <- switchboard: {msg:?}"));
        let _ = self.devices[d].client.handle_input(self.now_ms, client::Input::Message(msg));
        let mut first = First::default();
        self.drain_client(d, log, &mut first);
        self.prune_timers();
        first.0.map_or(Ok(()), Err)
    }

    fn fire(&mut self, at: u64, timer: TimerRef, log: &mut Option<&mut Log>) -> Result<(), Violation> {
        let seq = self.timers.remove(&(at, timer)).unwrap_or(0);
        self.take(at, seq);
        let now = self.now_ms;
        let mut first = First::default();
        match timer {
            TimerRef::Switchboard(t) => {
                self.note(log, || format!("switchboard timer {t:?}"));
                let _ = self.sb.handle_input(now, switchboard::Input::Timer(t));
                let changes = self.drain_switchboard(log, &mut first);
                first.note(self.after_input(&changes, None));
                if let switchboard::Timer::Evict(session) = t {
                    if self.sb.call(session).is_none() {
                        self.callbacks.retain(|(_, s), _| *s != session);
                    }
                }
            }
            TimerRef::Client(d, t) => {
                let id = self.devices[d as usize].id;
                self.note(log, || format!("{id} timer {t:?}"));
                let _ = self.devices[d as usize].client.handle_input(now, client::Input::Timer(t));
                self.drain_client(d as usize, log, &mut first);
            }
        }
        self.prune_timers();
        first.0.map_or(Ok(()), Err)
    }

    /// Drops timers that would be skipped when due (as the simulator skips them): a ring timer
    /// the switchboard no longer has set, a request timer of a request no longer waiting.
    fn prune_timers(&mut self) {
        let (sb, devices) = (&self.sb, &self.devices);
        self.timers.retain(|(_, t), _| match *t {
            TimerRef::Switchboard(switchboard::Timer::Ring(s)) => sb.ring_timer_set(s),
            TimerRef::Switchboard(_) => true,
            TimerRef::Client(d, client::Timer::Request(id)) => devices[d as usize].client.is_pending(id),
        });
    }

    fn drain_client(&mut self, d: usize, log: &mut Option<&mut Log>, first: &mut First) {
        let now = self.now_ms;
        while let Some(output) = self.devices[d].client.poll_output() {
            let id = self.devices[d].id;
            match output {
                client::Output::Send(msg) => {
                    let tag = Log::draw(log);
                    self.seq += 1;
                    let seq = self.seq;
                    let dev = &mut self.devices[d];
                    if dev.conn.up {
                        let item = Up::Msg { msg, conn: dev.conn.epoch };
                        dev.up.push_back(Flight { sent_ms: now, seq, tag, item });
                    }
                }
                client::Output::Callback(cb) => {
                    self.note(log, || format!("{id} raises {} {}", cb.kind.name(), cb.call.session));
                    let outgoing = cb.call.initiator == id.user;
                    let said = self.callbacks.entry((id, cb.call.session)).or_default();
                    first.note(CallbackLedger::observe_state(said, id, cb.call.session, outgoing, cb.kind));
                }
                client::Output::Answer { id: rid, request, result } => {
                    self.note(log, || {
                        format!("{id} answer {rid} to {request:?}: {:?}", result.map(|v| v.map(|v| v.status)))
                    });
                    first.note(self.answered(d, rid));
                }
                client::Output::SetTimer { timer, at_ms } => {
                    self.seq += 1;
                    self.timers.entry((at_ms, TimerRef::Client(d as u16, timer))).or_insert(self.seq);
                }
                client::Output::CancelTimer { .. } => {}
            }
        }
    }

    /// A request's final answer reached the application: it must be its first.
    fn answered(&mut self, d: usize, rid: RequestId) -> Result<(), Violation> {
        let bit = 1u64.checked_shl(rid.0 as u32).unwrap_or(0);
        let dev = &mut self.devices[d];
        if dev.answered & bit != 0 {
            let what = format!("request {rid} of device {} answered twice", dev.id);
            return Err(Violation { invariant: rule::ONE_ANSWER, what });
        }
        dev.answered |= bit;
        Ok(())
    }

    fn drain_switchboard(
        &mut self,
        log: &mut Option<&mut Log>,
        first: &mut First,
    ) -> Vec<switchboard::StatusChange> {
        let now = self.now_ms;
        let mut changes = Vec::new();
        while let Some(output) = self.sb.poll_output() {
            match output {
                switchboard::Output::Send { to, msg } => {
                    let tag = Log::draw(log);
                    let Some(d) = self.devices.iter().position(|d| d.id == to) else { continue };
                    self.seq += 1;
                    let seq = self.seq;
                    let dev = &mut self.devices[d];
                    let c = dev.conn;
                    if c.up && c.epoch == c.learned {
                        dev.down.push_back(Flight { sent_ms: now, seq, tag, item: (msg, c.learned) });
                    }
                }
                switchboard::Output::SetTimer { timer, at_ms } => {
                    self.seq += 1;
                    self.timers.entry((at_ms, TimerRef::Switchboard(timer))).or_insert(self.seq);
                }
                switchboard::Output::CancelTimer { timer } => {
                    self.timers.retain(|(_, t), _| *t != TimerRef::Switchboard(timer));
                }
                switchboard::Output::Status(change) => {
                    self.note(log, || {
                        let from = change.from.map_or("none".to_owned(), |s| s.to_string());
                        format!("{} {from} -> {}", change.session, change.to)
                    });
                    first.note(self.statuses.observe(&change));
                    changes.push(change);
                }
                switchboard::Output::Push(push) => {
                    self.note(log, || format!("push {} to {}: {}", push.session, push.to, push.kind));
                    first.note(self.pushes.observe_push(&self.sb, &push));
                }
            }
        }
        changes
    }

    /// After a switchboard input: authority (6) for each change, involvement (1) for every
    /// party of a changed call and the requester, conservation (7), and the explorer's check
    /// that no request was acted on twice.
    fn after_input(
        &mut self,
        changes: &[switchboard::StatusChange],
        requester: Option<UserId>,
    ) -> Result<(), Violation> {
        // Invariants 8 and 9 (contract version 2) after every switchboard input.
        self.pushes.observe_connected(&self.sb);
        self.pushes.check_all(&self.sb)?;
        let now = self.now_ms;
        let sessions: Vec<SessionId> = self.sb.calls().map(|c| c.session()).collect();
        for session in sessions {
            self.media.observe(&self.sb, session, now);
        }
        self.media.check(&self.sb, now)?;
        let mut users: Vec<UserId> = requester.into_iter().collect();
        for change in changes {
            check_row(change)?;
            let Some(call) = self.sb.call(change.session) else { continue };
            check_authority(change, &call)?;
            users.extend(call.parties().iter().map(|p| p.user));
        }
        for user in users {
            check_involvement(&self.sb, user)?;
        }
        if !changes.is_empty() {
            self.statuses.check_conservation(&self.sb)?;
        }
        let made: u64 = self.devices.iter().map(|d| d.client.stats().requests).sum();
        let acted = self.sb.stats().requests;
        if acted > made {
            let what = format!("the switchboard acted on {acted} requests, the clients made {made}");
            return Err(Violation { invariant: rule::ACTED_ONCE, what });
        }
        Ok(())
    }

    /// The device of index `d`.
    pub fn device_id(&self, d: u16) -> DeviceId {
        self.devices[d as usize].id
    }
}

#[cfg(test)]
mod tests {
    use super::{collect_stamps, write_relative, Clocks, State, TIME_FIELDS};
    use crate::explore::World;

    /// Fields of the machines' text that hold a duration (settings), not a point in time.
    const DURATIONS: [&str; 5] = [
        "ring_timeout_ms",
        "reconnect_grace_ms",
        "request_timeout_ms",
        "call_retention_ms",
        "session_start_timeout_ms",
    ];

    /// Every `*_ms` field the machines write is known to the digest: a point in time (made
    /// relative) or a duration. A new time field the list misses would be written as it is,
    /// and states it tells apart could be merged; this test fails first.
    #[test]
    fn every_field_in_ms_the_machines_write_is_known() {
        let world = World::named("cancel-drop").unwrap();
        let mut state = State::initial(&world, false, None);
        let mut moves = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for step in 0..60 {
            let mut text = String::new();
            state.sb.digest(&mut text).unwrap();
            for d in &state.devices {
                d.client.digest(&mut text).unwrap();
                for f in &d.down {
                    text.push_str(&format!("{:?}", f.item));
                }
            }
            for (i, _) in text.match_indices("_ms: ") {
                let start =
                    text[..i].rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |p| p + 1);
                seen.insert(text[start..i + 3].to_owned());
            }
            state.moves(&world, &mut moves);
            let Some(&mv) = moves.get(step % moves.len().max(1)) else { break };
            state.apply(&world, mv, None).unwrap();
        }
        assert!(seen.contains("created_at_ms") && seen.contains("now_ms"), "{seen:?}");
        for name in &seen {
            // `terminal_seen_ms` holds a `SeenAt`, made relative by its own rule.
            let known = TIME_FIELDS.contains(&name.as_str())
                || DURATIONS.contains(&name.as_str())
                || name == "terminal_seen_ms";
            assert!(known, "unknown field {name}");
        }
    }

    /// `text` written as [`State::parts`] writes a machine's text, with a retention of 4 ms
    /// and the stamps of `text` itself as the state's.
    fn relative(text: &str, now: u64) -> String {
        let mut stamps = Vec::new();
        collect_stamps(text, &mut stamps);
        stamps.sort_unstable();
        stamps.dedup();
        let mut out = String::new();
        write_relative(text, &Clocks { now, retention_ms: 4, stamps, exact: false }, &mut out).unwrap();
        out
    }

    #[test]
    fn deadlines_are_written_relative_to_now_and_durations_are_not() {
        let text = "Config { ring_timeout_ms: 6 } grace_deadline_ms: Some(9), evict_at_ms: 5";
        let want = "Config { ring_timeout_ms: 6 } grace_deadline_ms: Some(2), evict_at_ms: -2";
        assert_eq!(relative(text, 7), want);
    }

    #[test]
    fn an_unset_deadline_stays_unset_and_seen_at_counts_from_one_up_to_the_retention() {
        // SeenAt(t + 1) holds time t: 8 is 7 (3 ms ago), 7 is 6 (4 ms ago: kept, the client
        // drops a call only past the retention), 6 is 5 (5 ms ago: expired).
        let text = "ring_deadline_ms: 0, evict_at_ms: 12, SeenAt(0) SeenAt(8) SeenAt(7) SeenAt(6) now_ms: 9";
        let want = "ring_deadline_ms: unset, evict_at_ms: 2, SeenAt(unset) SeenAt(-3) SeenAt(-4) SeenAt(old) now_ms: ";
        assert_eq!(relative(text, 10), want);
    }

    #[test]
    fn stamps_are_written_as_their_rank_back_from_now() {
        // The distinct stamps 2 < 5 < 9 < 10 = now: 10 is now, 9 the first before it, then 5, then 2.
        let text =
            "created_at_ms: 2, ringing_at_ms: Some(5), accepted_at_ms: Some(9), terminal_at_ms: Some(10)";
        let want = "created_at_ms: ~-3, ringing_at_ms: Some(~-2), accepted_at_ms: Some(~-1), terminal_at_ms: Some(~0)";
        assert_eq!(relative(text, 10), want);
        // Without a stamp at now, the newest is still -1.
        let text = "created_at_ms: 3, ringing_at_ms: Some(8), accepted_at_ms: Some(8), terminal_at_ms: None";
        let want =
            "created_at_ms: ~-2, ringing_at_ms: Some(~-1), accepted_at_ms: Some(~-1), terminal_at_ms: None";
        assert_eq!(relative(text, 10), want);
    }

    #[test]
    fn two_states_shifted_in_time_write_the_same_text() {
        let at =
            |t: u64| format!("created_at_ms: {} grace_deadline_ms: Some({}) now_ms: {}", t, t + 3, t + 1);
        assert_eq!(relative(&at(4), 5), relative(&at(40), 41));
        assert_ne!(relative(&at(4), 5), relative(&at(40), 42), "a different distance to a deadline");
    }

    #[test]
    fn what_the_past_keeps_only_in_order_or_past_a_ceiling_writes_alike() {
        // Stamps further apart, an expired SeenAt further back, a machine clock further back.
        let a = "created_at_ms: 1, accepted_at_ms: Some(6) SeenAt(2) now_ms: 7 evict_at_ms: 11";
        let b = "created_at_ms: 4, accepted_at_ms: Some(9) SeenAt(4) now_ms: 9 evict_at_ms: 11";
        assert_eq!(relative(a, 10), relative(b, 10));
        // Two stamps equal where `a`'s differ, or a SeenAt within the retention, are told apart.
        let c = "created_at_ms: 4, accepted_at_ms: Some(4) SeenAt(4) now_ms: 9 evict_at_ms: 11";
        let d = "created_at_ms: 4, accepted_at_ms: Some(9) SeenAt(7) now_ms: 9 evict_at_ms: 11";
        assert_ne!(relative(a, 10), relative(c, 10), "equal stamps are not unequal ones");
        assert_ne!(relative(a, 10), relative(d, 10), "seen 4 ms ago is not expired");
    }
}
