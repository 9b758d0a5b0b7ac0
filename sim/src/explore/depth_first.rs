//! The depth-first search: the same states, moves and checks as the breadth-first one, but it
//! keeps only the fingerprints of the states it has seen (about 30 bytes a state) and the
//! states of the path it is on, never a whole level. Worlds whose levels do not fit in memory
//! whole can be searched to the end this way.
//!
//! What it gives up: a counterexample is the first one met, not a shortest one (the command
//! line searches breadth-first again to shorten it, where that fits), and `depth` is the
//! longest path it walked, not the longest shortest path. States, transitions and quiet
//! states are the same as breadth-first's (every reachable state is expanded once, when first
//! seen), on one core or several. On several cores the subtrees of a state are searched in
//! parallel (rayon's work stealing) against one set of fingerprints, split in shards.

use super::search::{canonicalize, expand, symmetry_of, Found, Identity, Limits, Outcome};
use super::state::State;
use super::symmetry::Symmetry;
use super::world::World;
use rayon::prelude::*;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Shards of the set of fingerprints (a power of two): threads rarely wait on one another.
const SHARDS: usize = 64;

type Prints = HashSet<u128, BuildHasherDefault<Identity>>;

/// The search's shared tables and counts.
struct Dfs<'a> {
    world: &'a World,
    limits: Limits,
    symmetry: Symmetry,
    seen: Vec<Mutex<Prints>>,
    states: AtomicUsize,
    transitions: AtomicU64,
    quiet: AtomicUsize,
    depth: AtomicU32,
    /// A violation was found or a limit was reached: every branch stops.
    stop: AtomicBool,
    complete: AtomicBool,
    next_progress: AtomicUsize,
    started: Instant,
}

impl Dfs<'_> {
    /// Records a fingerprint; whether it is new.
    fn insert(&self, print: u128) -> bool {
        let shard = (print >> 64) as usize % SHARDS;
        let mut set = self.seen[shard].lock().unwrap_or_else(|e| e.into_inner());
        set.insert(print)
    }

    /// A state seen for the first time: counted, judged if quiet. Returns the violation of
    /// liveness it breaks, if any.
    fn first_seen(&self, state: &State) -> Result<(), Found> {
        let states = self.states.fetch_add(1, Ordering::Relaxed) + 1;
        if states > self.limits.states_max {
            self.complete.store(false, Ordering::Relaxed);
            self.stop.store(true, Ordering::Relaxed);
        }
        self.progress(states);
        if state.quiet() {
            self.quiet.fetch_add(1, Ordering::Relaxed);
            if let Err(violation) = state.check_quiet() {
                return Err(Found { violation, path: Vec::new() });
            }
        }
        Ok(())
    }

    fn progress(&self, states: usize) {
        let every = self.limits.progress_every;
        let next = self.next_progress.load(Ordering::Relaxed);
        if every == 0 || states < next {
            return;
        }
        if self
            .next_progress
            .compare_exchange(next, next + every, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "explore: {states} states, path {}, {:.0} states/s (depth-first)",
                self.depth.load(Ordering::Relaxed),
                states as f64 / secs
            );
        }
    }

    /// Expands `state` (at `depth` moves from the start) and searches below each child not
    /// seen before. A violation comes back with the path from `state` to it.
    fn visit(&self, state: &State, depth: u32) -> Result<(), Found> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if depth >= self.limits.depth_max {
            self.complete.store(false, Ordering::Relaxed);
            return Ok(());
        }
        let children = expand(self.world, state, self.limits.reduction, &self.symmetry);
        self.transitions.fetch_add(children.len() as u64, Ordering::Relaxed);
        let mut fresh = Vec::with_capacity(children.len());
        for (mv, result) in children {
            let (child, print) = result.map_err(|violation| Found { violation, path: vec![mv] })?;
            if self.insert(print) {
                self.first_seen(&child).map_err(|f| Found { path: vec![mv], ..f })?;
                fresh.push((mv, child));
            }
        }
        if !fresh.is_empty() {
            self.depth.fetch_max(depth + 1, Ordering::Relaxed);
        }
        let below = |(mv, child): (super::state::Move, State)| {
            self.visit(&child, depth + 1).map_err(|mut f| {
                f.path.insert(0, mv);
                f
            })
        };
        if self.limits.one_thread {
            fresh.into_iter().try_for_each(below)
        } else {
            fresh.into_par_iter().try_for_each(below)
        }
    }
}

/// Explores `world` depth-first within `limits` (`frontier_states_max` does not apply: no
/// level is kept). Stops at the first violation met.
pub fn search_depth_first(world: &World, limits: Limits) -> Outcome {
    let started = Instant::now();
    let mut start = State::initial(world, limits.engine_order, None);
    let dfs = Dfs {
        world,
        limits,
        symmetry: symmetry_of(world, &limits),
        seen: (0..SHARDS).map(|_| Mutex::new(Prints::default())).collect(),
        states: AtomicUsize::new(0),
        transitions: AtomicU64::new(0),
        quiet: AtomicUsize::new(0),
        depth: AtomicU32::new(0),
        stop: AtomicBool::new(false),
        complete: AtomicBool::new(true),
        next_progress: AtomicUsize::new(limits.progress_every),
        started,
    };
    dfs.insert(canonicalize(&mut start, &dfs.symmetry));
    let found = dfs.first_seen(&start).and_then(|()| dfs.visit(&start, 0)).err();
    if found.is_some() {
        dfs.stop.store(true, Ordering::Relaxed);
    }
    let states = dfs.states.load(Ordering::Relaxed);
    let table: usize = dfs
        .seen
        .iter()
        .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).capacity() * (std::mem::size_of::<u128>() + 1))
        .sum();
    Outcome {
        states,
        transitions: dfs.transitions.load(Ordering::Relaxed),
        depth: dfs.depth.load(Ordering::Relaxed),
        quiet_states: dfs.quiet.load(Ordering::Relaxed),
        complete: found.is_some() || dfs.complete.load(Ordering::Relaxed),
        found,
        seconds: started.elapsed().as_secs_f64(),
        frontier_max: 0,
        bytes_per_state: table / states.max(1),
    }
}
