//! Recording a population run as a scenario file that `callsim replay` reproduces exactly.
//!
//! Users start disconnected (`connected: false`): the run's login wave is recorded as connect
//! steps. Users are named `u<id>` and groups `g<id>`, zero-padded so that the scenario's sorted order
//! is the run's id order; every command and connection change a driver event ran becomes a
//! step at its exact ms, in the order it ran (commands run before other same-ms events in both
//! the run and the replay); the config carries the same call settings, latency model and seed,
//! so the replay draws the same latencies for the same messages. Expectations: every step's
//! answer, every call's final status, every device's callbacks and pushes. A run with the media
//! session or push registrations is written in format 2, one without either in format 1.

use crate::engine::{Executed, Observation, World};
use crate::replay::{callback_line, push_line};
use crate::scenario::{
    self, Action, CallExpect, Command, Expect, Outcome, Scenario, ScenarioConfig, StartConnected, Step,
    Target, UserSpec,
};
use callcore::push::PushKind;
use callcore::{CallbackKind, DeviceId, GroupId, Receiver, RequestId, SessionId, Status, UserId};
use std::collections::BTreeMap;

/// What a recorder collects while the run goes.
#[derive(Default)]
pub struct Recorder {
    created: BTreeMap<(DeviceId, RequestId), SessionId>,
    answers: BTreeMap<(DeviceId, RequestId), Outcome>,
    callbacks: BTreeMap<DeviceId, Vec<(CallbackKind, SessionId)>>,
    pushes: BTreeMap<DeviceId, Vec<(PushKind, SessionId)>>,
    final_status: BTreeMap<SessionId, Status>,
}

/// A run that cannot be written as a scenario.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A command names a call no recorded initiate created.
    #[error("step at {at_ms} ms names call {session}, which no recorded initiate created")]
    UnknownCall {
        /// When.
        at_ms: u64,
        /// The session.
        session: SessionId,
    },
    /// The world was not logging commands.
    #[error("the run was not recording its commands")]
    NotRecording,
    /// Push registrations without the media session: format 2 always has a session start
    /// timeout, format 1 has no push.
    #[error("a run with push registrations and no media session timeout cannot be written in either format")]
    PushWithoutMedia,
}

fn width(n: usize) -> usize {
    n.saturating_sub(1).max(1).to_string().len()
}

/// The name of user `id` among `count` users.
pub fn user_name(id: u32, count: usize) -> String {
    format!("u{:0w$}", id, w = width(count))
}

/// The name of group `id` among `count` groups.
pub fn group_name(id: u32, count: usize) -> String {
    format!("g{:0w$}", id, w = width(count))
}

impl Recorder {
    /// Sees one observation.
    pub fn observe<A: Copy>(&mut self, _world: &World<A>, observation: &Observation) {
        match observation {
            Observation::Created { session, device, id } => {
                self.created.insert((*device, *id), *session);
            }
            Observation::Answer { device, id, result, .. } => {
                self.answers.insert((*device, *id), Outcome::of(result));
            }
            Observation::Callback { device, callback } => {
                self.callbacks.entry(*device).or_default().push((callback.kind, callback.call.session));
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

    /// Writes the run so far as a scenario ending at `run_until_ms`.
    pub fn scenario<A: Copy>(
        &self,
        world: &World<A>,
        name: &str,
        seed: u64,
        run_until_ms: u64,
    ) -> Result<Scenario, RecordError> {
        let log = world.executed.as_ref().ok_or(RecordError::NotRecording)?;
        let users = world.user_count();
        let mut group_count = 0usize;
        while world.switchboard.group_members(GroupId(group_count as u32)).is_some() {
            group_count += 1;
        }
        let uname = |u: UserId| user_name(u.0, users);
        let mut labels: BTreeMap<SessionId, String> = BTreeMap::new();
        let mut steps = Vec::with_capacity(log.len());
        for &(at_ms, device, what) in log {
            let mut step =
                Step { at_ms, user: uname(device.user), device: None, action: Action::Connect, expect: None };
            if device.index > 0 {
                step.device = Some(device.index);
            }
            match what {
                Executed::Connect => {}
                Executed::Disconnect => step.action = Action::Disconnect,
                Executed::Command(request, id) => {
                    let call = match request.session() {
                        Some(s) => {
                            labels.get(&s).cloned().ok_or(RecordError::UnknownCall { at_ms, session: s })?
                        }
                        None => {
                            // An initiate: its label names the call it created, if it did.
                            let call = format!("c{}", steps.len());
                            if let Some(s) = id.and_then(|id| self.created.get(&(device, id))) {
                                labels.insert(*s, call.clone());
                            }
                            call
                        }
                    };
                    let request = Command::of(request).map_to(|&to| match to {
                        Receiver::User(u) => Target::User(uname(u)),
                        Receiver::Group(g) => Target::Group(group_name(g.0, group_count)),
                    });
                    step.action = Action::Request { request, call };
                    step.expect = id.and_then(|id| self.answers.get(&(device, id)).copied());
                }
            }
            steps.push(step);
        }
        let mut expect = Expect::default();
        for (session, label) in &labels {
            if let Some(&status) = self.final_status.get(session) {
                expect.calls.insert(label.clone(), CallExpect { status });
            }
        }
        for (device, list) in &self.callbacks {
            let key = scenario::device_name(&uname(device.user), device.index);
            let lines = list
                .iter()
                .map(|&(kind, s)| callback_line(kind, labels.get(&s).map_or("?", String::as_str)))
                .collect();
            expect.callbacks.insert(key, lines);
        }
        for (device, list) in &self.pushes {
            let key = scenario::device_name(&uname(device.user), device.index);
            let lines = list
                .iter()
                .map(|&(kind, s)| push_line(kind, labels.get(&s).map_or("?", String::as_str)))
                .collect();
            expect.pushes.insert(key, lines);
        }
        let mut users_map = BTreeMap::new();
        let mut any_push = false;
        for u in 0..users as u32 {
            let devices = world.device_count(UserId(u));
            // The population registers devices before the run only; the registrations now are
            // those of the start.
            let registered: Vec<u16> = (0..devices)
                .filter(|&i| world.switchboard.is_push_registered(DeviceId::new(UserId(u), i)))
                .collect();
            any_push |= !registered.is_empty();
            let push = (!registered.is_empty()).then(|| scenario::DeviceList::of(&registered));
            users_map
                .insert(uname(UserId(u)), UserSpec { devices, connected: StartConnected::All(false), push });
        }
        let mut groups = BTreeMap::new();
        for g in 0..group_count as u32 {
            let members = world.switchboard.group_members(GroupId(g)).unwrap_or(&[]);
            groups.insert(group_name(g, group_count), members.iter().map(|&m| uname(m)).collect());
        }
        let c = world.switchboard.config();
        let config = ScenarioConfig {
            ring_timeout_ms: Some(c.ring_timeout_ms),
            reconnect_grace_ms: Some(c.reconnect_grace_ms),
            request_timeout_ms: Some(c.request_timeout_ms),
            call_waiting: Some(c.call_waiting),
            session_start_timeout_ms: c.session_start_timeout_ms,
            call_retention_ms: Some(c.call_retention_ms),
            latency_ms: Some(world.latency()),
            seed: Some(seed),
            latencies_ms: None,
        };
        let format = match (c.session_start_timeout_ms, any_push) {
            (Some(_), _) => 2,
            (None, false) => 1,
            (None, true) => return Err(RecordError::PushWithoutMedia),
        };
        if format == 1 {
            // A format-1 file has no pushes to expect (none can be emitted without a registration).
            expect.pushes.clear();
        }
        Ok(Scenario {
            format,
            name: name.to_owned(),
            description: Some(format!("recorded by callsim from seed {seed}")),
            config,
            users: users_map,
            groups,
            steps,
            run_until_ms: Some(run_until_ms),
            expect: Some(expect),
        })
    }
}
