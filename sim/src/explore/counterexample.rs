//! A counterexample: the path retraced with a log, printed as a numbered trace, and written
//! as a scenario file (format 2) that `callsim replay` runs with the same latencies (the
//! `latencies_ms` extension of the format: the latency of each item sent, in send order).

use super::search::{search, Found, Limits};
use super::state::{Log, Move, State};
use super::world::{Cmd, World};
use callcore::testing::invariants::Violation;
use callcore::{Receiver, RequestId, SessionId};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A violation with its shortest path, retraced.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// What broke.
    pub violation: Violation,
    /// One line per input of the path, in order.
    pub trace: Vec<String>,
    /// The scenario that replays it.
    pub scenario: Value,
    /// Whether its events of each ms run in the simulator's scheduling order, so that
    /// `callsim replay` runs exactly this path.
    pub exact: bool,
}

impl Counterexample {
    /// The counterexample to write for `found`: the shortest one whose events of each ms run
    /// in the simulator's order, if a search in that order (within `states_max`) finds one
    /// that breaks the same invariant; else `found` itself, which replays only up to the
    /// order of events of one ms.
    pub fn of(world: &World, found: &Found, states_max: usize) -> Counterexample {
        let limits = Limits { states_max, engine_order: true, ..Limits::default() };
        match search(world, limits).found {
            Some(exact) if exact.violation.invariant == found.violation.invariant => {
                Counterexample::retrace(world, &exact, true)
            }
            _ => Counterexample::retrace(world, found, false),
        }
    }

    /// Retraces `found`'s path from the world's start, logging every input and latency.
    pub fn retrace(world: &World, found: &Found, engine_order: bool) -> Counterexample {
        let mut log = Log::default();
        let mut state = State::initial(world, engine_order, Some(&mut log));
        let mut steps = Vec::new();
        for &mv in &found.path {
            match mv {
                Move::Command { at_ms, device, cmd, session } => {
                    let id = state.device_id(device);
                    steps.push((at_ms, id, Some((cmd, session)), "command"));
                }
                Move::Disconnect(d, at_ms) => steps.push((at_ms, state.device_id(d), None, "disconnect")),
                Move::Connect(d, at_ms) => steps.push((at_ms, state.device_id(d), None, "connect")),
                _ => {}
            }
            // The last move may panic (that is the violation found): the log keeps what came before.
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = state.apply(world, mv, Some(&mut log));
            }));
            if step.is_err() {
                log.lines.push("the machine panicked".to_owned());
                break;
            }
        }
        let mut scenario = scenario(world, found, &log, &steps);
        // The run stops where the path did: a liveness violation is judged at that quiet
        // state, before retention evicts the calls it is about.
        // Invariant 9 at a quiet state is a participant nothing will make leave: the replay runs
        // on past its start timeout, where the simulator's ledger sees it stuck.
        let end_ms = match (found.violation.invariant, world.config.session_start_after_ms()) {
            (9, Some(timeout_ms)) => state.now_ms + timeout_ms + 1,
            _ => state.now_ms,
        };
        scenario["run_until_ms"] = json!(end_ms);
        Counterexample { violation: found.violation.clone(), trace: log.lines, scenario, exact: engine_order }
    }

    /// The scenario file's text.
    pub fn scenario_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.scenario).unwrap_or_default();
        text.push('\n');
        text
    }
}

type StepRef<'a> = (u64, callcore::DeviceId, Option<(u8, Option<SessionId>)>, &'a str);

/// The scenario file of a retraced path: the world's cast and settings, one step per command or
/// fault at the ms it ran, and the latency of every item sent.
fn scenario(world: &World, found: &Found, log: &Log, steps: &[StepRef<'_>]) -> Value {
    let mut command_index = 0usize;
    let user_name = |u: u32| format!("u{u}");
    let mut users = Map::new();
    for (i, plan) in world.users.iter().enumerate() {
        let mut spec = Map::new();
        if plan.devices != 1 {
            spec.insert("devices".into(), json!(plan.devices));
        }
        if plan.push {
            spec.insert("push".into(), json!((0..plan.devices).collect::<Vec<_>>()));
        }
        users.insert(user_name(i as u32), Value::Object(spec));
    }
    let mut groups = Map::new();
    for (i, members) in world.groups.iter().enumerate() {
        groups.insert(format!("g{i}"), json!(members.iter().map(|&m| user_name(m)).collect::<Vec<_>>()));
    }
    // Labels: each initiate step gets one; a later step names the label of the initiate
    // whose request created its session.
    let mut label_of_session: BTreeMap<SessionId, String> = BTreeMap::new();
    let mut json_steps = Vec::new();
    let mut initiates = 0;
    for &(at_ms, device, command, kind) in steps {
        let mut step = Map::new();
        step.insert("at_ms".into(), json!(at_ms));
        step.insert("user".into(), json!(user_name(device.user.0)));
        if device.index != 0 {
            step.insert("device".into(), json!(device.index));
        }
        match command {
            None => {
                step.insert("do".into(), json!(kind));
            }
            Some((cmd, session)) => {
                let rid = log.command_ids.get(command_index).copied().unwrap_or(RequestId(0));
                command_index += 1;
                match world.users[device.user.0 as usize].alphabet[cmd as usize] {
                    Cmd::Initiate(to) => {
                        initiates += 1;
                        let label = format!("c{initiates}");
                        if let Some((_, _, s)) =
                            log.created.iter().find(|(d, r, _)| *d == device && *r == rid)
                        {
                            label_of_session.insert(*s, label.clone());
                        }
                        step.insert("do".into(), json!("initiate"));
                        let to = match to {
                            Receiver::User(u) => json!({ "user": user_name(u.0) }),
                            Receiver::Group(g) => json!({ "group": format!("g{}", g.0) }),
                        };
                        step.insert("to".into(), to);
                        step.insert("call_type".into(), json!("audio"));
                        step.insert("call".into(), json!(label));
                    }
                    other => {
                        let label = session
                            .and_then(|s| label_of_session.get(&s).cloned())
                            .unwrap_or_else(|| "unknown".to_owned());
                        let (name, status) = match other {
                            Cmd::Accept => ("accept", None),
                            Cmd::Decline => ("reject", Some("rejected")),
                            Cmd::Cancel => ("cancel", None),
                            Cmd::StartSession => ("start_session", None),
                            _ => ("end", None),
                        };
                        step.insert("do".into(), json!(name));
                        step.insert("call".into(), json!(label));
                        if let Some(status) = status {
                            step.insert("status".into(), json!(status));
                        }
                    }
                }
            }
        }
        json_steps.push(Value::Object(step));
    }
    let c = world.config;
    let latencies: Vec<u64> = log.draws.iter().map(|d| d.unwrap_or(world.latency_ms_min)).collect();
    let last = found.path.len();
    let mut s = Map::new();
    s.insert("format".into(), json!(2));
    s.insert(
        "name".into(),
        json!(format!("explore {}: invariant {}", world.name, found.violation.invariant)),
    );
    s.insert(
        "description".into(),
        json!(format!("Found by callsim explore in {last} moves: {}.", found.violation)),
    );
    let mut config = json!({
        "ring_timeout_ms": c.ring_timeout_ms,
        "reconnect_grace_ms": c.reconnect_grace_ms,
        "request_timeout_ms": c.request_timeout_ms,
        "call_waiting": c.call_waiting,
        "call_retention_ms": c.call_retention_ms,
        "latency_ms": world.latency_ms_min,
        "latencies_ms": latencies,
    });
    if let Some(ms) = c.session_start_timeout_ms {
        config["session_start_timeout_ms"] = json!(ms);
    }
    s.insert("config".into(), config);
    s.insert("users".into(), Value::Object(users));
    if !groups.is_empty() {
        s.insert("groups".into(), Value::Object(groups));
    }
    s.insert("steps".into(), Value::Array(json_steps));
    Value::Object(s)
}
