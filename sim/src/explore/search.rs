//! The breadth-first search: every state reachable from the world's start, each kept once
//! (by a 128-bit fingerprint of its digest), level by level, so that the first violation found
//! is one of the shortest. Each state keeps only its parent and the move that reached it; the
//! states themselves are kept for one level at a time.

use super::depth_first::search_depth_first;
use super::reduction::reduce;
use super::state::{Move, State};
use super::symmetry::Symmetry;
use super::world::World;
use callcore::testing::invariants::Violation;
use rayon::prelude::*;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// How far a search may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct states at most; the search stops there, incomplete.
    pub states_max: usize,
    /// Levels at most (moves from the start).
    pub depth_max: u32,
    /// States kept whole at once (the level being expanded and the next one) at most: they
    /// take a few kB each, the rest of the search under 150 bytes a state. The search stops
    /// there, incomplete.
    pub frontier_states_max: usize,
    /// Print progress to standard error every this many states (0: never).
    pub progress_every: usize,
    /// Run the events of one ms in the simulator's scheduling order only (fewer orders: the
    /// search for a counterexample that replays exactly).
    pub engine_order: bool,
    /// Expand states on the calling thread only (else on every core, with the same result).
    pub one_thread: bool,
    /// Take a device's local moves that must happen now before the other events of the ms
    /// (partial-order reduction, [`super::reduction`]): fewer states, the same quiet states
    /// and violations.
    pub reduction: bool,
    /// Search depth-first ([`search_depth_first`]): only fingerprints are kept, no frontier,
    /// so far bigger worlds fit in memory; a counterexample is then not the shortest.
    pub depth_first: bool,
    /// Merge states that differ only by a relabelling of interchangeable users ([`Symmetry`]).
    pub symmetry: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            states_max: 20_000_000,
            depth_max: 10_000,
            frontier_states_max: FRONTIER_STATES_MAX,
            progress_every: 0,
            engine_order: false,
            one_thread: false,
            reduction: true,
            depth_first: false,
            symmetry: true,
        }
    }
}

/// A violation and the shortest path to it.
#[derive(Clone, Debug)]
pub struct Found {
    /// What broke.
    pub violation: Violation,
    /// The moves from the start; the last one broke it (or reached the quiet state that
    /// breaks liveness).
    pub path: Vec<Move>,
}

/// What a search found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Distinct states reached.
    pub states: usize,
    /// Moves taken (edges of the state graph, duplicates included).
    pub transitions: u64,
    /// Levels: the longest shortest path from the start.
    pub depth: u32,
    /// States where nothing is in flight and no timer but evictions is set (liveness is
    /// judged there).
    pub quiet_states: usize,
    /// The first violation, if any.
    pub found: Option<Found>,
    /// Whether every reachable state was visited (no limit stopped the search).
    pub complete: bool,
    /// Wall time, s.
    pub seconds: f64,
    /// The most states kept whole at once (two levels).
    pub frontier_max: usize,
    /// Bytes of the search's own tables per distinct state (fingerprint set and parents),
    /// and the frontier's peak, estimated from the sizes of the types.
    pub bytes_per_state: usize,
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// The fingerprint of a state (the 128-bit hash, XXH3, of its text, least over the world's
/// symmetries: [`Symmetry::fingerprint`]), and sets the state's device ranks under the
/// symmetries, by which the partial-order reduction picks a device: every state of a class is
/// then expanded alike (up to relabelling), whichever one the search met first.
pub fn canonicalize(state: &mut State, symmetry: &Symmetry) -> u128 {
    let (print, ranks) = symmetry.canonical(&state.parts());
    state.set_device_ranks(ranks);
    print
}

/// The symmetries a search merges states by: the world's, or the identity alone where
/// `limits` turns symmetry off or runs the simulator's order.
pub fn symmetry_of(world: &World, limits: &Limits) -> Symmetry {
    if limits.symmetry && !limits.engine_order {
        Symmetry::of(world)
    } else {
        Symmetry::identity(world)
    }
}

/// States kept whole at once by default: about 2 to 4 GB (docs/verification.md).
pub const FRONTIER_STATES_MAX: usize = 600_000;

/// States of a level expanded at once (their children are held whole until merged).
const CHUNK_STATES: usize = 1024;

/// Parent index of the start.
const ROOT: u32 = u32::MAX;

/// Explores `world` within `limits`: breadth-first, or depth-first where `limits` says so.
/// Stops at the first violation.
pub fn search(world: &World, limits: Limits) -> Outcome {
    if limits.depth_first {
        search_depth_first(world, limits)
    } else {
        search_breadth_first(world, limits)
    }
}

/// Explores `world` breadth-first within `limits`. Stops at the first violation, which is one
/// of the shortest.
pub fn search_breadth_first(world: &World, limits: Limits) -> Outcome {
    let started = Instant::now();
    let mut start = State::initial(world, limits.engine_order, None);
    let symmetry = symmetry_of(world, &limits);
    let mut seen: HashSet<u128, BuildHasherDefault<Identity>> = HashSet::default();
    let mut parents: Vec<(u32, Move)> = Vec::new();
    seen.insert(canonicalize(&mut start, &symmetry));
    parents.push((ROOT, Move::Up(0)));
    let mut out = Outcome {
        states: 1,
        transitions: 0,
        depth: 0,
        quiet_states: 0,
        found: None,
        complete: true,
        seconds: 0.0,
        frontier_max: 1,
        bytes_per_state: 0,
    };
    if let Some(found) = judge_quiet(&start, &parents, 0) {
        out.found = Some(found);
    }
    out.quiet_states += usize::from(start.quiet());
    let mut level: Vec<(u32, State)> = vec![(0, start)];
    let mut next_progress = limits.progress_every;
    'levels: while !level.is_empty() && out.found.is_none() {
        if out.depth >= limits.depth_max {
            out.complete = false;
            break;
        }
        let mut next: Vec<(u32, State)> = Vec::new();
        for chunk in level.chunks(CHUNK_STATES) {
            // The expensive part (clone, apply, fingerprint) on every core; the merge in order,
            // on one, so the result is the same as a search on one core, byte for byte.
            let expand = |(_, state): &(u32, State)| expand(world, state, limits.reduction, &symmetry);
            let children: Vec<Vec<Child>> = if limits.one_thread {
                chunk.iter().map(expand).collect()
            } else {
                chunk.par_iter().map(expand).collect()
            };
            for (&(index, _), children) in chunk.iter().zip(children) {
                for (mv, result) in children {
                    out.transitions += 1;
                    let (child, print) = match result {
                        Ok(child) => child,
                        Err(violation) => {
                            let mut path = path_to(&parents, index);
                            path.push(mv);
                            out.found = Some(Found { violation, path });
                            break 'levels;
                        }
                    };
                    if !seen.insert(print) {
                        continue;
                    }
                    let frontier = level.len() + next.len();
                    if seen.len() > limits.states_max || frontier >= limits.frontier_states_max {
                        out.complete = false;
                        break 'levels;
                    }
                    let child_index = parents.len() as u32;
                    parents.push((index, mv));
                    if child.quiet() {
                        out.quiet_states += 1;
                        if let Some(found) = judge_quiet(&child, &parents, child_index) {
                            out.found = Some(found);
                            break 'levels;
                        }
                    }
                    next.push((child_index, child));
                    if limits.progress_every > 0 && seen.len() >= next_progress {
                        next_progress += limits.progress_every;
                        let secs = started.elapsed().as_secs_f64().max(1e-9);
                        eprintln!(
                            "explore: {} states, depth {}, {:.0} states/s",
                            seen.len(),
                            out.depth + 1,
                            seen.len() as f64 / secs
                        );
                    }
                }
            }
        }
        out.frontier_max = out.frontier_max.max(level.len() + next.len());
        if !next.is_empty() {
            out.depth += 1;
        }
        level = next;
    }
    out.states = seen.len();
    out.seconds = started.elapsed().as_secs_f64();
    let table = seen.capacity() * (std::mem::size_of::<u128>() + 1)
        + parents.capacity() * std::mem::size_of::<(u32, Move)>();
    out.bytes_per_state = table / out.states.max(1);
    out
}

/// A move and what it led to: the child and its fingerprint, or the violation it broke.
pub(super) type Child = (Move, Result<(State, u128), Violation>);

/// Every move of `state`, taken.
pub(super) fn expand(world: &World, state: &State, reduction: bool, symmetry: &Symmetry) -> Vec<Child> {
    let mut moves = Vec::new();
    state.moves(world, &mut moves);
    if reduction {
        reduce(state, world, &mut moves);
    }
    moves
        .into_iter()
        .map(|mv| {
            let mut child = state.clone();
            let result = catch_unwind(AssertUnwindSafe(|| child.apply(world, mv, None)));
            let result = result.unwrap_or_else(|panic| Err(panic_violation(panic)));
            (
                mv,
                result.map(|()| {
                    let print = canonicalize(&mut child, symmetry);
                    (child, print)
                }),
            )
        })
        .collect()
}

fn judge_quiet(state: &State, parents: &[(u32, Move)], index: u32) -> Option<Found> {
    if !state.quiet() {
        return None;
    }
    let violation = state.check_quiet().err()?;
    Some(Found { violation, path: path_to(parents, index) })
}

fn path_to(parents: &[(u32, Move)], mut index: u32) -> Vec<Move> {
    let mut path = Vec::new();
    while index != ROOT {
        let (parent, mv) = parents[index as usize];
        if parent == ROOT {
            break;
        }
        path.push(mv);
        index = parent;
    }
    path.reverse();
    path
}

fn panic_violation(panic: Box<dyn std::any::Any + Send>) -> Violation {
    let what = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a machine panicked".to_owned());
    Violation { invariant: super::state::rule::PANIC, what: format!("panic: {what}") }
}
