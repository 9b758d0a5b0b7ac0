//! Shrinking a failing run: the run is recorded as a scenario, then cut down while replaying
//! it still breaks the same invariant.
//!
//! First the latency is fixed and devices that log in by steps are connected from the start,
//! where the failure survives that. The units removed are whole calls (an initiate and every step naming its label) and single
//! connection changes, by delta debugging (remove halves, then quarters, … then single units);
//! then users and groups no remaining step needs are dropped, and finally the script is moved
//! to start at time 0. Expectations are dropped: the only check left is the invariant.
//! Liveness failures (invariant 3) count as reproduced when a call is still live at the
//! recorded end of the run.

use crate::net::Latency;
use crate::replay;
use crate::scenario::{validate, Action, Command, Scenario, StartConnected, Target};
use crate::trace::Trace;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Limits of one shrink.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Replays at most.
    pub replays: usize,
    /// Wall time at most.
    pub wall: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Self { replays: 5_000, wall: Duration::from_secs(60) }
    }
}

/// The invariant a scenario breaks when replayed (3: a call still live at the end).
pub fn broken_invariant(s: &Scenario) -> Option<u8> {
    if validate(s).is_err() {
        return None;
    }
    let report = replay::run(s, Trace::default());
    match report.failure {
        Some(f) => Some(f.violation.invariant),
        None if report.live_calls > 0 => Some(3),
        None => None,
    }
}

struct Shrinker {
    invariant: u8,
    replays: usize,
    budget: Budget,
    started: Instant,
}

impl Shrinker {
    fn fails(&mut self, s: &Scenario) -> bool {
        if self.exhausted() {
            return false;
        }
        self.replays += 1;
        broken_invariant(s) == Some(self.invariant)
    }

    fn exhausted(&self) -> bool {
        self.replays >= self.budget.replays || self.started.elapsed() >= self.budget.wall
    }
}

/// Cuts `s` (which breaks `invariant`) down. Returns the smallest scenario found that still
/// breaks it, and the number of replays tried.
pub fn shrink(s: &Scenario, invariant: u8, budget: Budget) -> (Scenario, usize) {
    let mut base = s.clone();
    base.expect = None;
    for step in &mut base.steps {
        step.expect = None;
    }
    let mut shrinker = Shrinker { invariant, replays: 0, budget, started: Instant::now() };
    // Simplifications that make later cuts independent of each other: a fixed latency (cutting
    // a step then no longer shifts every later latency draw) and devices connected from the
    // start instead of logging in by steps.
    for candidate in [fixed_latency(&base, true), fixed_latency(&base, false), connected_from_start(&base)] {
        if candidate != base && shrinker.fails(&candidate) {
            base = candidate;
        }
    }
    let mut best = base;
    for _ in 0..2 {
        let units = units_of(&best);
        let kept = ddmin(units, |keep| shrinker.fails(&with_units(&best, keep)));
        best = with_units(&best, &kept);
        let pruned = prune_cast(&best);
        if pruned != best && shrinker.fails(&pruned) {
            best = pruned;
        }
    }
    let shifted = shift_to_zero(&best);
    if shifted != best && shrinker.fails(&shifted) {
        best = shifted;
    }
    best.description = Some(format!(
        "shrunk by callsim from {} steps and {} users; breaks invariant {invariant}",
        s.steps.len(),
        s.users.len()
    ));
    (best, shrinker.replays)
}

/// The scenario with a fixed latency: the range's largest (`max`) or smallest value.
fn fixed_latency(s: &Scenario, max: bool) -> Scenario {
    let mut out = s.clone();
    if let Some(Latency::Uniform { min, max: top }) = s.config.latency_ms {
        out.config.latency_ms = Some(Latency::Fixed(if max { top } else { min }));
    }
    out
}

/// Users whose first step is a connect and who start disconnected start connected instead,
/// without that step.
fn connected_from_start(s: &Scenario) -> Scenario {
    let mut out = s.clone();
    let mut first: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for (i, st) in s.steps.iter().enumerate() {
        first.entry((st.user.as_str(), st.device.unwrap_or(0))).or_insert(i);
    }
    let mut drop = BTreeSet::new();
    for (uid, spec) in &s.users {
        let all_log_in = (0..spec.devices).all(|d| {
            first.get(&(uid.as_str(), d)).is_some_and(|&i| matches!(s.steps[i].action, Action::Connect))
        });
        let none_connected = (0..spec.devices).all(|d| !spec.starts_connected(d));
        if none_connected && all_log_in {
            out.users.get_mut(uid).expect("listed").connected = StartConnected::All(true);
            drop.extend((0..spec.devices).map(|d| first[&(uid.as_str(), d)]));
        }
    }
    out.steps =
        s.steps.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, st)| st.clone()).collect();
    out
}

/// Removable units: the steps of each call, and each connection change.
fn units_of(s: &Scenario) -> Vec<Vec<usize>> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut units = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        match step.action.label() {
            Some(label) => by_label.entry(label).or_default().push(i),
            None => units.push(vec![i]),
        }
    }
    units.extend(by_label.into_values());
    units.sort_by_key(|u| u[0]);
    units
}

fn with_units(s: &Scenario, units: &[Vec<usize>]) -> Scenario {
    let keep: BTreeSet<usize> = units.iter().flatten().copied().collect();
    let mut out = s.clone();
    out.steps =
        s.steps.iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, st)| st.clone()).collect();
    out
}

/// Delta debugging over units: keeps the smallest subset found for which `fails` holds.
fn ddmin(mut units: Vec<Vec<usize>>, mut fails: impl FnMut(&[Vec<usize>]) -> bool) -> Vec<Vec<usize>> {
    let mut parts = 2usize;
    while units.len() >= 2 {
        let chunk = units.len().div_ceil(parts);
        let mut reduced = false;
        for start in (0..units.len()).step_by(chunk) {
            let rest: Vec<Vec<usize>> = units[..start]
                .iter()
                .chain(units[(start + chunk).min(units.len())..].iter())
                .cloned()
                .collect();
            if fails(&rest) {
                units = rest;
                parts = (parts - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if parts >= units.len() {
                break;
            }
            parts = (parts * 2).min(units.len());
        }
    }
    units
}

/// Drops groups no step calls and users no step or remaining group needs.
fn prune_cast(s: &Scenario) -> Scenario {
    let mut out = s.clone();
    let called: BTreeSet<&str> = s
        .steps
        .iter()
        .filter_map(|st| match &st.action {
            Action::Request { request: Command::Initiate { to: Target::Group(g), .. }, .. } => {
                Some(g.as_str())
            }
            _ => None,
        })
        .collect();
    out.groups.retain(|g, _| called.contains(g.as_str()));
    let mut needed: BTreeSet<String> = s.steps.iter().map(|st| st.user.clone()).collect();
    for st in &s.steps {
        if let Action::Request { request: Command::Initiate { to: Target::User(u), .. }, .. } = &st.action {
            needed.insert(u.clone());
        }
    }
    for members in out.groups.values() {
        needed.extend(members.iter().cloned());
    }
    out.users.retain(|u, _| needed.contains(u));
    out
}

/// Moves the script so that its first step runs at time 0.
fn shift_to_zero(s: &Scenario) -> Scenario {
    let first = s.steps.iter().map(|st| st.at_ms).min().unwrap_or(0);
    let mut out = s.clone();
    for st in &mut out.steps {
        st.at_ms -= first;
    }
    out.run_until_ms = s.run_until_ms.map(|t| t.saturating_sub(first));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddmin_finds_the_two_units_that_matter() {
        let units: Vec<Vec<usize>> = (0..40).map(|i| vec![i]).collect();
        let kept = ddmin(units, |u| u.iter().any(|x| x[0] == 7) && u.iter().any(|x| x[0] == 31));
        assert_eq!(kept, vec![vec![7], vec![31]]);
    }
}
