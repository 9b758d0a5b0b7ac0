//! Replaying a scenario: the cast is registered (users in UID order, groups in GUID order),
//! devices listed as connected connect at time 0, every step is scheduled before the run starts
//! (in file order), and the run goes to `run_until_ms`. Labels are bound to session ids when
//! the switchboard creates the call; a step whose label is not bound yet sends a session id
//! that can never exist (`SessionId(u64::MAX)`), so the switchboard answers `call_not_found`.
//! Several initiates may carry one label (a retry after an initiate that created no call): the
//! label is bound again each time one of them creates a call, and names the call created last
//! (in later steps, and in `expect`).
//! A user or group named in `to` but not in the cast gets an id that is never registered, so
//! the switchboard answers `invalid_receiver`.

use crate::engine::{Driver, Engine, Failure, Observation, World};
use crate::explore::state::rule::{ACTED_ONCE, ONE_ANSWER};
use crate::scenario::{self, Action, Command, Outcome, Scenario, Target};
use crate::trace::Trace;
use callcore::push::PushKind;
use callcore::testing::invariants::Violation;
use callcore::{CallbackKind, DeviceId, ErrorCode, GroupId, Receiver, RequestId, SessionId, Status, UserId};
use std::collections::{BTreeMap, BTreeSet};

/// A session id no call can have.
pub const NO_SESSION: SessionId = SessionId(u64::MAX);

/// What a replay produced and how it differs from the scenario's expectations.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// The differences from `expect` (and step expectations); empty when it passes.
    pub differences: Vec<String>,
    /// The first broken invariant, if any.
    pub failure: Option<Failure>,
    /// The trace hash of the run.
    pub trace_hash: u64,
    /// Inputs handed to the machines.
    pub events: u64,
    /// What came out, in the scenario's own terms (for recording and shrinking).
    pub outcome: Produced,
    /// Calls not terminal when the run ended.
    pub live_calls: usize,
}

impl Report {
    /// Whether everything matched and no invariant broke.
    pub fn passed(&self) -> bool {
        self.differences.is_empty() && self.failure.is_none()
    }
}

/// What a replay produced, by label and device name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Produced {
    /// Label → final status (labels whose call was created).
    pub calls: BTreeMap<String, Status>,
    /// Device name → callbacks, formatted as in `expect.callbacks`.
    pub callbacks: BTreeMap<String, Vec<String>>,
    /// Each step's final answer (`None`: no answer, or not a request).
    pub answers: Vec<Option<Outcome>>,
    /// Device name → pushes emitted for it, formatted as in `expect.pushes` (devices with at
    /// least one).
    pub pushes: BTreeMap<String, Vec<String>>,
}

/// The scenario driver.
pub struct ScenarioDriver {
    steps: Vec<Resolved>,
    /// Label index of each session created.
    session_label: BTreeMap<SessionId, usize>,
    /// Session of each label, once created.
    label_session: Vec<Option<SessionId>>,
    label_names: Vec<String>,
    /// The step of each request still waiting for its final answer.
    waiting: BTreeMap<(DeviceId, RequestId), usize>,
    /// The step of each initiate the switchboard has not created yet. Kept apart from
    /// `waiting`: an initiate whose client answered `timeout` may still reach the switchboard
    /// and create the call, and its label is bound then.
    uncreated: BTreeMap<(DeviceId, RequestId), usize>,
    answers: Vec<Option<Outcome>>,
    /// Every (device, request) that got its final answer: a second one breaks the contract.
    answered: BTreeSet<(DeviceId, RequestId)>,
    refused: Vec<usize>,
    callbacks: Vec<Vec<(CallbackKind, SessionId)>>,
    pushes: BTreeMap<DeviceId, Vec<(PushKind, SessionId)>>,
    final_status: BTreeMap<SessionId, Status>,
}

#[derive(Clone, Copy, Debug)]
struct Resolved {
    device: DeviceId,
    what: What,
}

/// A step with its names resolved: what is left to know at run time is the session of a
/// request's label.
#[derive(Clone, Copy, Debug)]
enum What {
    /// A request about the call of label `label` (the label index; none for a command that
    /// names no call).
    Request {
        command: Command<Receiver>,
        label: Option<usize>,
    },
    Connect,
    Disconnect,
}

/// Names to ids: the cast as registered.
struct Cast {
    users: BTreeMap<String, UserId>,
    groups: BTreeMap<String, GroupId>,
    next_unknown_user: u32,
    next_unknown_group: u32,
}

impl Cast {
    fn user(&mut self, name: &str) -> UserId {
        if let Some(&id) = self.users.get(name) {
            return id;
        }
        let id = UserId(self.next_unknown_user);
        self.next_unknown_user += 1;
        self.users.insert(name.to_owned(), id);
        id
    }

    fn group(&mut self, name: &str) -> GroupId {
        if let Some(&id) = self.groups.get(name) {
            return id;
        }
        let id = GroupId(self.next_unknown_group);
        self.next_unknown_group += 1;
        self.groups.insert(name.to_owned(), id);
        id
    }
}

/// Builds the world and the driver for a (validated) scenario.
pub fn build(s: &Scenario, trace: Trace) -> Engine<ScenarioDriver> {
    let config = s.config.core(s.format);
    let mut world = World::new(config, s.config.latency(), s.config.seed.unwrap_or(0), trace);
    if let Some(latencies) = &s.config.latencies_ms {
        world.script_latencies(latencies.clone());
    }
    let mut cast =
        Cast { users: BTreeMap::new(), groups: BTreeMap::new(), next_unknown_user: 0, next_unknown_group: 0 };
    for (uid, spec) in &s.users {
        let id = world.add_user(spec.devices);
        cast.users.insert(uid.clone(), id);
    }
    for (guid, members) in &s.groups {
        let ids: Vec<UserId> = members.iter().map(|m| cast.users[m]).collect();
        if let Some(id) = world.add_group(&ids) {
            cast.groups.insert(guid.clone(), id);
        }
    }
    cast.next_unknown_user = world.user_count() as u32;
    cast.next_unknown_group = s.groups.len() as u32;
    for (uid, spec) in &s.users {
        for index in (0..spec.devices).filter(|&i| spec.starts_registered(i)) {
            world.register_push(DeviceId::new(cast.users[uid], index));
        }
    }
    for (uid, spec) in &s.users {
        for index in (0..spec.devices).filter(|&i| spec.starts_connected(i)) {
            world.connect(DeviceId::new(cast.users[uid], index));
        }
    }
    let driver = ScenarioDriver::new(s, &mut cast, &world);
    for (i, step) in s.steps.iter().enumerate() {
        world.schedule(step.at_ms, i as u32);
    }
    Engine::new(world, driver)
}

impl ScenarioDriver {
    fn new(s: &Scenario, cast: &mut Cast, world: &World<u32>) -> Self {
        let mut label_index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut label_names = Vec::new();
        for step in &s.steps {
            if let Action::Request { request: Command::Initiate { .. }, call } = &step.action {
                if !label_index.contains_key(call.as_str()) {
                    label_index.insert(call, label_names.len());
                    label_names.push(call.clone());
                }
            }
        }
        let steps = s
            .steps
            .iter()
            .map(|step| {
                let device = DeviceId::new(cast.users[&step.user], step.device.unwrap_or(0));
                let what = match &step.action {
                    Action::Request { request, call } => What::Request {
                        command: request.map_to(|to| match to {
                            Target::User(u) => Receiver::User(cast.user(u)),
                            Target::Group(g) => Receiver::Group(cast.group(g)),
                        }),
                        label: request.names_call().then(|| label_index[call.as_str()]),
                    },
                    Action::Connect => What::Connect,
                    Action::Disconnect => What::Disconnect,
                };
                Resolved { device, what }
            })
            .collect();
        let devices = world.device_slots();
        Self {
            steps,
            session_label: BTreeMap::new(),
            label_session: vec![None; label_names.len()],
            label_names,
            waiting: BTreeMap::new(),
            uncreated: BTreeMap::new(),
            answers: vec![None; s.steps.len()],
            answered: BTreeSet::new(),
            refused: Vec::new(),
            callbacks: vec![Vec::new(); devices],
            pushes: BTreeMap::new(),
            final_status: BTreeMap::new(),
        }
    }

    fn session(&self, label: Option<usize>) -> SessionId {
        label.and_then(|l| self.label_session[l]).unwrap_or(NO_SESSION)
    }

    fn label_of(&self, session: SessionId) -> String {
        match self.session_label.get(&session) {
            Some(&l) => self.label_names[l].clone(),
            None => session.to_string(),
        }
    }

    /// What came out, named as the scenario names things.
    fn outcome(&self, world: &World<u32>, names: &BTreeMap<UserId, String>) -> Produced {
        let mut calls = BTreeMap::new();
        for (label, session) in self.label_names.iter().zip(&self.label_session) {
            if let Some(status) = session.and_then(|s| self.final_status.get(&s)) {
                calls.insert(label.clone(), *status);
            }
        }
        let mut callbacks = BTreeMap::new();
        for (slot, list) in self.callbacks.iter().enumerate() {
            let device = world.client_at(slot).device();
            let name = scenario::device_name(&names[&device.user], device.index);
            let lines = list.iter().map(|&(kind, s)| callback_line(kind, &self.label_of(s))).collect();
            callbacks.insert(name, lines);
        }
        let mut pushes = BTreeMap::new();
        for (device, list) in &self.pushes {
            let name = scenario::device_name(&names[&device.user], device.index);
            let lines = list.iter().map(|&(kind, s)| push_line(kind, &self.label_of(s))).collect();
            pushes.insert(name, lines);
        }
        Produced { calls, callbacks, answers: self.answers.clone(), pushes }
    }
}

/// One `expect.pushes` entry: `ring <label>` or `cancel <label> <reason>`.
pub fn push_line(kind: PushKind, label: &str) -> String {
    match kind {
        PushKind::Ring => format!("ring {label}"),
        PushKind::Cancel(reason) => {
            let reason = CallbackKind::IncomingCallCancelled(reason).reason_name().unwrap_or("?");
            format!("cancel {label} {reason}")
        }
    }
}

/// One `expect.callbacks` entry: `<callback> <label>[ <reason>]`.
pub fn callback_line(kind: CallbackKind, label: &str) -> String {
    match kind.reason_name() {
        Some(reason) => format!("{} {label} {reason}", kind.name()),
        None => format!("{} {label}", kind.name()),
    }
}

impl Driver for ScenarioDriver {
    type Action = u32;

    fn act(&mut self, world: &mut World<u32>, step: u32) {
        let i = step as usize;
        let Resolved { device, what } = self.steps[i];
        match what {
            What::Connect => world.connect(device),
            What::Disconnect => world.disconnect(device),
            What::Request { command, label } => {
                match world.command(device, command.request(self.session(label))) {
                    Ok(id) => {
                        self.waiting.insert((device, id), i);
                        if matches!(command, Command::Initiate { .. }) {
                            self.uncreated.insert((device, id), i);
                        }
                    }
                    Err(_) => self.refused.push(i),
                }
            }
        }
    }

    fn observe(&mut self, world: &mut World<u32>, observation: &Observation) {
        match *observation {
            Observation::Answer { device, id, ref result, .. } => {
                if !self.answered.insert((device, id)) {
                    let what = format!("request {id} of device {device} answered twice");
                    world.report_at(Violation { invariant: ONE_ANSWER, what }, world.now_ms());
                }
                if let Some(i) = self.waiting.remove(&(device, id)) {
                    self.answers[i] = Some(Outcome::of(result));
                }
                if result.is_err() && *result != Err(ErrorCode::Timeout) {
                    // Refused: the call will never be created.
                    self.uncreated.remove(&(device, id));
                }
            }
            Observation::Created { session, device, id } => {
                let step = self.uncreated.remove(&(device, id));
                if let Some(What::Request { command: Command::Initiate { .. }, label: Some(label) }) =
                    step.map(|i| self.steps[i].what)
                {
                    self.label_session[label] = Some(session);
                    self.session_label.insert(session, label);
                }
            }
            Observation::Callback { device, ref callback } => {
                if let Some(slot) = world.slot(device) {
                    self.callbacks[slot as usize].push((callback.kind, callback.call.session));
                }
            }
            Observation::Status(change) => {
                self.final_status.insert(change.session, change.to);
            }
            Observation::Push(push) => {
                self.pushes.entry(push.to).or_default().push((push.kind, push.session));
            }
            Observation::Evicted(_) => {}
        }
    }
}

/// Replays a (validated) scenario and compares what came out with what it expects.
pub fn run(s: &Scenario, trace: Trace) -> Report {
    run_keeping_trace(s, trace).0
}

/// Like [`run`], and hands the trace back (to write several replays into one file).
pub fn run_keeping_trace(s: &Scenario, trace: Trace) -> (Report, Trace) {
    let mut engine = build(s, trace);
    let end_ms = scenario::run_until_ms(s);
    let ok = engine.run_until(end_ms);
    if ok && engine.world.in_flight() == 0 {
        engine.world.check_settled();
    }
    if ok {
        engine.world.check_pushes();
        engine.world.check_media(end_ms);
    }
    // A repeated request acted on again shows in the counts: more acted on than made.
    let made: u64 = engine.world.clients().map(|c| c.stats().requests).sum();
    let acted = engine.world.switchboard.stats().requests;
    if acted > made {
        let what = format!("the switchboard acted on {acted} requests, the clients made {made}");
        let now = engine.world.now_ms();
        engine.world.report_at(Violation { invariant: ACTED_ONCE, what }, now);
    }
    let names: BTreeMap<UserId, String> =
        s.users.keys().enumerate().map(|(i, uid)| (UserId(i as u32), uid.clone())).collect();
    let outcome = engine.driver.outcome(&engine.world, &names);
    let mut differences = compare(s, &outcome);
    for &i in &engine.driver.refused {
        differences.insert(0, format!("step {}: the client refused the command (too many pending)", i + 1));
    }
    let report = Report {
        name: s.name.clone(),
        differences,
        failure: engine.world.failure().cloned(),
        trace_hash: engine.world.trace().hash(),
        events: engine.world.counters().events,
        outcome,
        live_calls: engine.world.checker().live_calls(),
    };
    (report, engine.world.into_trace())
}

/// The differences between what came out and what the scenario expects.
pub fn compare(s: &Scenario, got: &Produced) -> Vec<String> {
    let mut diffs = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        let Some(want) = step.expect else { continue };
        let have = match step.action {
            Action::Connect | Action::Disconnect => Some(Outcome::Ok),
            _ => got.answers.get(i).copied().flatten(),
        };
        if have != Some(want) {
            let have = have.map_or("no answer", Outcome::name);
            diffs.push(format!(
                "step {} ({} {} at {} ms): expected {}, got {have}",
                i + 1,
                step.user,
                step.action.name(),
                step.at_ms,
                want.name()
            ));
        }
    }
    let Some(expect) = &s.expect else { return diffs };
    for (label, want) in &expect.calls {
        match got.calls.get(label) {
            Some(status) if *status == want.status => {}
            Some(status) => diffs.push(format!("call {label}: expected {}, got {status}", want.status)),
            None => diffs.push(format!("call {label}: expected {}, but it was never created", want.status)),
        }
    }
    for (device, want) in &expect.callbacks {
        let key = scenario::device_key(s, device).map(|(u, i)| scenario::device_name(&u, i));
        let empty = Vec::new();
        let have = key.ok().and_then(|k| got.callbacks.get(&k)).unwrap_or(&empty);
        if have != want {
            diffs.push(callback_diff(device, want, have));
        }
    }
    for (device, want) in &expect.pushes {
        let key = scenario::device_key(s, device).map(|(u, i)| scenario::device_name(&u, i));
        let empty = Vec::new();
        let have = key.ok().and_then(|k| got.pushes.get(&k)).unwrap_or(&empty);
        if have != want {
            diffs.push(callback_diff(device, want, have).replacen("callbacks", "pushes", 1));
        }
    }
    diffs
}

/// Callback lists up to this long are printed whole in a difference; longer ones as a window
/// around the first entry that differs.
const CALLBACKS_SHOWN_MAX: usize = 12;

fn callback_diff(device: &str, want: &[String], have: &[String]) -> String {
    let at = want.iter().zip(have).position(|(w, h)| w != h).unwrap_or(want.len().min(have.len()));
    let show = |v: Option<&String>| v.map_or_else(|| "nothing".to_owned(), |x| format!("`{x}`"));
    format!(
        "callbacks {device}: entry {}: expected {}, got {} (expected {}, got {})",
        at + 1,
        show(want.get(at)),
        show(have.get(at)),
        list_around(want, at),
        list_around(have, at)
    )
}

/// `[a, b, c]`, or for a long list its length and the entries around `at`: `40 entries [... e6, e7, e8 ...]`.
fn list_around(list: &[String], at: usize) -> String {
    if list.len() <= CALLBACKS_SHOWN_MAX {
        return format!("[{}]", list.join(", "));
    }
    let from = at.saturating_sub(2).min(list.len());
    let to = (at + 3).min(list.len());
    let before = if from > 0 { "... " } else { "" };
    let after = if to < list.len() { " ..." } else { "" };
    format!("{} entries [{before}{}{after}]", list.len(), list[from..to].join(", "))
}

#[cfg(test)]
mod tests {
    use super::list_around;

    #[test]
    fn a_short_callback_list_is_shown_whole_and_a_long_one_around_the_difference() {
        let list = |n: usize| (1..=n).map(|i| format!("e{i}")).collect::<Vec<_>>();
        assert_eq!(list_around(&list(3), 1), "[e1, e2, e3]");
        assert_eq!(list_around(&list(12), 11), format!("[{}]", list(12).join(", ")));
        // 13 entries, the first difference at index 6 (entry 7): entries 5 to 9.
        assert_eq!(list_around(&list(13), 6), "13 entries [... e5, e6, e7, e8, e9 ...]");
        assert_eq!(list_around(&list(13), 0), "13 entries [e1, e2, e3 ...]");
        assert_eq!(list_around(&list(13), 12), "13 entries [... e11, e12, e13]");
        // The difference is past the end of the list (the other list is longer).
        assert_eq!(list_around(&list(13), 13), "13 entries [... e12, e13]");
    }
}
