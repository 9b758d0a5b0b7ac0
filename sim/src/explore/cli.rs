//! `callsim explore`: the command line of the model checker.

use super::counterexample::Counterexample;
use super::search::{search, Limits, Outcome};
use super::world::World;
use clap::Args;
use std::io::{IsTerminal, Write};

/// States between two progress lines when standard error is a terminal.
const PROGRESS_EVERY_DEFAULT: usize = 500_000;
use std::path::PathBuf;

/// `callsim explore` arguments.
#[derive(Args, Clone, Debug)]
pub struct ExploreArgs {
    /// The world: default, one-call, two-commands, one-drop, cancel-drop, pair-2x2, group-3,
    /// waiting-3, busy-3 (docs/verification.md).
    #[arg(long, default_value = "default")]
    pub world: String,
    /// Explore the world this JSON file describes instead of a named one (docs/verification.md,
    /// "World files"; examples in sim/worlds/).
    #[arg(long, conflicts_with = "world")]
    pub world_file: Option<PathBuf>,
    /// Override the world's longest latency, ms (its shortest stays 1).
    #[arg(long)]
    pub latency_max_ms: Option<u64>,
    /// Override the world's number of disconnects.
    #[arg(long)]
    pub disconnects: Option<u8>,
    /// Override every user's number of commands.
    #[arg(long)]
    pub commands: Option<u8>,
    /// Run the events of one ms only in the simulator's scheduling order (fewer orders than a
    /// real network has: what `callsim replay` can reproduce).
    #[arg(long)]
    pub simulator_order: bool,
    /// Expand states on one thread (the result is the same on every core).
    #[arg(long)]
    pub one_thread: bool,
    /// Search the full graph: no partial-order reduction (more states; the same quiet states
    /// and violations, and counterexamples that are shortest in the full graph).
    #[arg(long)]
    pub no_reduction: bool,
    /// Search depth-first: only the fingerprints of the states seen are kept (about 30 bytes a
    /// state), no level whole, for worlds whose levels do not fit in memory. A violation found
    /// is searched again breadth-first for a shortest path, within the frontier bound.
    #[arg(long)]
    pub depth_first: bool,
    /// Do not merge states that differ only by a relabelling of interchangeable users.
    #[arg(long)]
    pub no_symmetry: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Distinct states at most (the search stops there, incomplete, exit 2).
    #[arg(long, default_value_t = 20_000_000)]
    pub states_max: usize,
    /// States kept whole at once at most (a few kB each; the search stops there, incomplete,
    /// exit 2).
    #[arg(long, default_value_t = super::search::FRONTIER_STATES_MAX)]
    pub frontier_states_max: usize,
    /// Print progress on standard error every this many states (0: every 500,000 when standard
    /// error is a terminal, else never).
    #[arg(long, default_value_t = 0)]
    pub progress_every: usize,
    /// Where to write a counterexample's scenario file.
    #[arg(long, default_value = "counterexample.json")]
    pub out: PathBuf,
    /// Switch on a planted bug (builds with the `plant` feature only; a wrong name lists them;
    /// docs/verification.md, "The checker checks").
    #[cfg(feature = "plant")]
    #[arg(long)]
    pub plant: Option<String>,
}

/// Runs `callsim explore`; returns the exit code: 0 no violation, 1 a violation, 2 a bad
/// world or an incomplete search.
pub fn run(args: &ExploreArgs) -> i32 {
    let mut world = match &args.world_file {
        Some(path) => match World::load(path) {
            Ok(world) => world,
            Err(e) => {
                eprintln!("callsim explore: {e}");
                return 2;
            }
        },
        None => match World::named(&args.world) {
            Some(world) => world,
            None => {
                let known = World::NAMES.join(", ");
                eprintln!("callsim explore: unknown world `{}` (known: {known})", args.world);
                return 2;
            }
        },
    };
    if let Some(ms) = args.latency_max_ms {
        world.latency_ms_max = ms;
    }
    if let Some(n) = args.disconnects {
        world.disconnects_max = n;
    }
    if let Some(n) = args.commands {
        world.users.iter_mut().for_each(|u| u.commands_max = n);
    }
    if let Err(e) = world.validate() {
        eprintln!("callsim explore: {e}");
        return 2;
    }
    #[cfg(feature = "plant")]
    if let Some(name) = &args.plant {
        let Some(plant) = callcore::plant::Plant::from_name(name) else {
            let known = callcore::plant::Plant::names();
            eprintln!("callsim explore: unknown plant `{name}` (known: {known})");
            return 2;
        };
        callcore::plant::set(&[plant]);
    }
    // Progress on a terminal by default (standard error: standard output stays the same bytes).
    let progress_every = match args.progress_every {
        0 if std::io::stderr().is_terminal() => PROGRESS_EVERY_DEFAULT,
        n => n,
    };
    let limits = Limits {
        states_max: args.states_max,
        progress_every,
        one_thread: args.one_thread,
        reduction: !args.no_reduction,
        depth_first: args.depth_first,
        symmetry: !args.no_symmetry,
        frontier_states_max: args.frontier_states_max,
        engine_order: args.simulator_order,
        ..Limits::default()
    };
    // A machine's panic is a violation the search reports with its path; its message is in
    // the report, so the default hook's print would only repeat it.
    std::panic::set_hook(Box::new(|_| {}));
    let mut outcome = search(&world, limits);
    if limits.depth_first && outcome.found.is_some() {
        // A shortest counterexample, if breadth-first gets there within its bounds.
        let shortest = search(&world, Limits { depth_first: false, ..limits });
        if let Some(found) = shortest.found {
            outcome.found = Some(found);
        }
    }
    let exact_states_max = outcome.states.saturating_mul(4).max(100_000).min(args.states_max);
    let counterexample = outcome.found.as_ref().map(|f| Counterexample::of(&world, f, exact_states_max));
    let mut stdout = std::io::stdout().lock();
    let printed = if args.json {
        writeln!(stdout, "{}", summary_json(&world, &outcome))
    } else {
        print_text(&mut stdout, &world, &outcome, counterexample.as_ref())
    };
    if let Some(c) = &counterexample {
        if let Err(e) = std::fs::write(&args.out, c.scenario_json()) {
            eprintln!("callsim explore: cannot write {}: {e}", args.out.display());
            return 2;
        }
        if !args.json {
            let _ = writeln!(stdout, "counterexample written to {}", args.out.display());
        }
    }
    if printed.is_err() {
        return 2;
    }
    match (&outcome.found, outcome.complete) {
        (Some(_), _) => 1,
        (None, true) => 0,
        (None, false) => 2,
    }
}

/// The one-line JSON summary (`--json`).
pub fn summary_json(world: &World, o: &Outcome) -> String {
    let violation = o.found.as_ref().map(|f| {
        serde_json::json!({
            "invariant": f.violation.invariant,
            "what": f.violation.what,
            "length": f.path.len(),
        })
    });
    serde_json::json!({
        "world": world.name,
        "states": o.states,
        "transitions": o.transitions,
        "depth": o.depth,
        "quiet_states": o.quiet_states,
        "violations": usize::from(o.found.is_some()),
        "violation": violation,
        "complete": o.complete,
        "seconds": (o.seconds * 1000.0).round() / 1000.0,
        "bytes_per_state": o.bytes_per_state,
        "frontier_max": o.frontier_max,
    })
    .to_string()
}

fn print_text(
    w: &mut impl Write,
    world: &World,
    o: &Outcome,
    c: Option<&Counterexample>,
) -> std::io::Result<()> {
    writeln!(w, "world: {}", world.name)?;
    writeln!(w, "states: {}", o.states)?;
    writeln!(w, "transitions: {}", o.transitions)?;
    writeln!(w, "depth: {}", o.depth)?;
    writeln!(w, "quiet states: {}", o.quiet_states)?;
    writeln!(w, "complete: {}", o.complete)?;
    writeln!(w, "seconds: {:.2}", o.seconds)?;
    writeln!(w, "bytes per state: {} (+ frontier peak {} states)", o.bytes_per_state, o.frontier_max)?;
    writeln!(w, "violations: {}", usize::from(o.found.is_some()))?;
    if let Some(c) = c {
        writeln!(w, "{}", c.violation)?;
        let order = if c.exact { "the simulator's order" } else { "an order the simulator does not take" };
        writeln!(w, "counterexample (events of each ms in {order}):")?;
        for (i, line) in c.trace.iter().enumerate() {
            writeln!(w, "{:>3}. {line}", i + 1)?;
        }
    }
    Ok(())
}
