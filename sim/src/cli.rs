//! The command line: `callsim run`, `callsim replay`, `callsim check`, `callsim load`.

use crate::net::Latency;
use crate::population::{Options, OptionsError, DURATION_S_MAX};
use crate::profile::Profile;
use crate::runner::{self, RunOutput, Summary, Threads};
use crate::scenario::{self, Scenario};
use crate::shrink::{self, Budget};
use crate::trace::Trace;
use crate::{replay, sweep};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Prints one line on stdout like `println!`, without its panic when stdout fails (see
/// [`write_line`]).
macro_rules! out {
    ($($arg:tt)*) => {
        write_line(format_args!($($arg)*))
    };
}

/// Set when a line could not be written to stdout for a reason other than a closed reader.
static STDOUT_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes one line on stdout. A reader that went away (`callsim run | head -1`) is not an error:
/// the rest of the output is dropped and the exit code still tells the command's result. Any
/// other write error is reported once on stderr and makes the exit code 2.
fn write_line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() != ErrorKind::BrokenPipe && !STDOUT_FAILED.swap(true, Ordering::Relaxed) {
            print_error(format_args!("cannot write to stdout: {e}"));
        }
    }
}

#[derive(Parser)]
#[command(
    name = "callsim",
    version,
    about = "Deterministic simulator of many virtual users driving callcore (with no command: `run`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// A population run (default: 10,000 users for one virtual hour).
    #[command(allow_negative_numbers = true)]
    Run(RunArgs),
    /// Replay scenario files (or every *.json under folders, skipping `target` and hidden
    /// folders) and compare with their expectations.
    Replay(ReplayArgs),
    /// Run many seeds in parallel (default: 1,000 users for ten virtual minutes each); report
    /// the failing ones with their reproduce commands.
    #[command(allow_negative_numbers = true)]
    Check(CheckArgs),
    /// Drive a live server (`callcore-server serve`) with a population, through real
    /// connections in real time, then check what can be checked from outside. Needs the
    /// server's secret (CALLCORE_SECRET or CALLCORE_SECRET_FILE) and admin token
    /// (CALLCORE_ADMIN_TOKEN).
    /// Model-check a small world exhaustively (default: the `default` world); exit 1 on a
    /// violation, with its shortest counterexample as a scenario file.
    Explore(crate::explore::cli::ExploreArgs),
    #[cfg(feature = "live")]
    Load(LoadArgs),
}

#[cfg(feature = "live")]
#[derive(Args)]
struct LoadArgs {
    /// The server's WebSocket URL.
    #[arg(long)]
    server: String,
    /// Virtual users, one device each.
    #[arg(long, default_value_t = 1000)]
    users: u32,
    /// Length of the load phase, real seconds.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Multiplies every delay of the profile (ring, answer, talk, cancel) and divides every rate.
    #[arg(long, default_value_t = 0.01)]
    time_scale: f64,
    /// A profile file (JSON; fields left out keep their defaults).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Calls each user starts per (virtual) hour.
    #[arg(long)]
    calls_per_hour: Option<f64>,
    /// Connection drops per device per (virtual) hour.
    #[arg(long)]
    disconnects_per_hour: Option<f64>,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Prefix of the users' UIDs (default: `load<seed>-`).
    #[arg(long)]
    uid_prefix: Option<String>,
    /// The server's reconnect grace, ms (bounds the wait for calls to end).
    #[arg(long, default_value_t = 10_000)]
    reconnect_grace_ms: u64,
    /// The server's signing secret.
    #[arg(long, env = "CALLCORE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// A file holding the server's signing secret.
    #[arg(long, env = "CALLCORE_SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// The server's admin token.
    #[arg(long, env = "CALLCORE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone, Default)]
struct PopulationArgs {
    /// Virtual users [default: 10000 for `run`, 1000 for `check`].
    #[arg(long)]
    users: Option<u32>,
    /// Length of the safety phase, virtual seconds [default: 3600 for `run`, 600 for `check`].
    #[arg(long)]
    duration_s: Option<u64>,
    /// A profile file (JSON; fields left out keep their defaults).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Calls each user starts per hour.
    #[arg(long)]
    calls_per_hour: Option<f64>,
    /// Share of group calls (0..=1).
    #[arg(long)]
    group_share: Option<f64>,
    /// Disconnects per device per hour.
    #[arg(long)]
    disconnects_per_hour: Option<f64>,
    /// Partitions per hour.
    #[arg(long)]
    partitions_per_hour: Option<f64>,
    /// One-way latency: `N` or `MIN..MAX` ms.
    #[arg(long, value_parser = parse_latency)]
    latency_ms: Option<Latency>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    population: PopulationArgs,
    /// The seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write the run as a scenario file that `callsim replay` reproduces.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Write every input and output as JSON lines.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Overwrite the files named by --record and --trace if they exist (without it, an existing
    /// file is refused).
    #[arg(long)]
    force: bool,
    /// On a failure, do not shrink it.
    #[arg(long)]
    no_shrink: bool,
    /// Run on one thread. By default a run of 65,536 users or more keeps the ledgers of
    /// invariants 2, 5 and 7 on a second thread; the results are the same.
    #[arg(long)]
    one_thread: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// Scenario files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write every input and output as JSON lines.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Overwrite the file named by --trace if it exists (without it, an existing file is
    /// refused).
    #[arg(long)]
    force: bool,
    /// Replay each scenario also against a live server started on 127.0.0.1 (a manual clock,
    /// real WebSocket connections) and compare the two: `SAME`, `DIFF` or `SKIP` (with why).
    #[cfg(feature = "live")]
    #[arg(long, conflicts_with = "trace")]
    over_wire: bool,
    /// Switch on a planted bug (builds with the `plant` feature only; see `callsim explore`).
    #[cfg(feature = "plant")]
    #[arg(long)]
    plant: Option<String>,
}

#[derive(Args)]
struct CheckArgs {
    /// Seeds `A..B` (B excluded).
    #[arg(long, value_parser = parse_seeds)]
    seeds: (u64, u64),
    /// `I/N`: only the seeds s with s % N == I (shard I of N, counted from 0).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    #[command(flatten)]
    population: PopulationArgs,
    /// Do not shrink failing seeds.
    #[arg(long)]
    no_shrink: bool,
    /// Switch on a planted bug (builds with the `plant` feature only; see `callsim explore`).
    #[cfg(feature = "plant")]
    #[arg(long)]
    plant: Option<String>,
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    match s.split_once("..") {
        Some((a, b)) => {
            let (min, max) = (a.parse().map_err(|_| "bad MIN")?, b.parse().map_err(|_| "bad MAX")?);
            if min > max {
                return Err("MIN > MAX".into());
            }
            Ok(Latency::Uniform { min, max })
        }
        None => s.parse().map(Latency::Fixed).map_err(|_| "expected N or MIN..MAX".into()),
    }
}

fn parse_seeds(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once("..").ok_or("expected A..B")?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| "bad A")?, b.parse().map_err(|_| "bad B")?);
    if a >= b {
        return Err("the range A..B is empty".into());
    }
    Ok((a, b))
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N")?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| "bad I")?, n.parse().map_err(|_| "bad N")?);
    if n == 0 || i >= n {
        return Err("need 0 <= I < N".into());
    }
    Ok((i, n))
}

/// Runs the command line; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run(RunArgs {
        population: PopulationArgs::default(),
        seed: 1,
        json: false,
        record: None,
        trace: None,
        force: false,
        no_shrink: false,
        one_thread: false,
    }));
    let code = match command {
        Command::Run(args) => run(&args),
        Command::Replay(args) => replay_cmd(&args),
        Command::Check(args) => check(&args),
        #[cfg(feature = "live")]
        Command::Load(args) => load(&args),
        Command::Explore(args) => crate::explore::cli::run(&args),
    };
    let flushed = std::io::stdout().flush();
    if let Some(e) = flushed.as_ref().err().filter(|e| e.kind() != ErrorKind::BrokenPipe) {
        if !STDOUT_FAILED.swap(true, Ordering::Relaxed) {
            print_error(format_args!("cannot write to stdout: {e}"));
        }
    }
    if STDOUT_FAILED.load(Ordering::Relaxed) {
        2
    } else {
        code
    }
}

impl PopulationArgs {
    fn options(&self, seed: u64, users: u32, duration_s: u64) -> Result<Options, String> {
        let mut profile = match &self.profile {
            Some(path) => Profile::load(path).map_err(|e| e.to_string())?,
            None => Profile::default(),
        };
        if let Some(x) = self.calls_per_hour {
            profile.calls_per_user_per_hour = x;
        }
        if let Some(x) = self.group_share {
            profile.group_share = x;
        }
        if let Some(x) = self.disconnects_per_hour {
            profile.disconnects_per_device_per_hour = x;
        }
        if let Some(x) = self.partitions_per_hour {
            profile.partitions_per_hour = x;
        }
        if let Some(x) = self.latency_ms {
            profile.latency_ms = x;
        }
        let users = self.users.unwrap_or(users);
        let duration_s = self.duration_s.unwrap_or(duration_s);
        if duration_s > DURATION_S_MAX {
            return Err(self.describe(&OptionsError::TooLong));
        }
        let options = Options { users, duration_ms: duration_s * 1000, seed, profile };
        options.validate().map_err(|e| self.describe(&e))?;
        Ok(options)
    }

    /// The error in the words the user typed: a setting given by a flag is named by the flag.
    fn describe(&self, e: &OptionsError) -> String {
        e.describe(&|field| self.flag_of(field).unwrap_or(field))
    }

    /// The flag that set `field` (a field of [`Options`] or of the profile), if one did. The
    /// population's size and length are always the flags' (typed, or their defaults).
    fn flag_of(&self, field: &str) -> Option<&'static str> {
        let (flag, given) = match field {
            "users" => ("--users", true),
            "duration_s" => ("--duration-s", true),
            "calls_per_user_per_hour" => ("--calls-per-hour", self.calls_per_hour.is_some()),
            "group_share" => ("--group-share", self.group_share.is_some()),
            "disconnects_per_device_per_hour" => {
                ("--disconnects-per-hour", self.disconnects_per_hour.is_some())
            }
            "partitions_per_hour" => ("--partitions-per-hour", self.partitions_per_hour.is_some()),
            "latency_ms" => ("--latency-ms", self.latency_ms.is_some()),
            _ => return None,
        };
        given.then_some(flag)
    }

    /// The flags that reproduce these options with another seed.
    fn reproduce(&self, opts: &Options) -> String {
        let mut cmd = format!(
            "callsim run --seed {} --users {} --duration-s {}",
            opts.seed,
            opts.users,
            opts.duration_ms / 1000
        );
        if let Some(p) = &self.profile {
            cmd.push_str(&format!(" --profile {}", p.display()));
        }
        let flags = [
            ("--calls-per-hour", self.calls_per_hour),
            ("--group-share", self.group_share),
            ("--disconnects-per-hour", self.disconnects_per_hour),
            ("--partitions-per-hour", self.partitions_per_hour),
        ];
        for (flag, value) in flags {
            if let Some(v) = value {
                cmd.push_str(&format!(" {flag} {v}"));
            }
        }
        match self.latency_ms {
            Some(Latency::Fixed(ms)) => cmd.push_str(&format!(" --latency-ms {ms}")),
            Some(Latency::Uniform { min, max }) => cmd.push_str(&format!(" --latency-ms {min}..{max}")),
            None => {}
        }
        cmd
    }
}

/// Why a file the command writes (`--record`, `--trace`) cannot be opened.
#[derive(Debug, thiserror::Error)]
enum OutputError {
    /// The file exists and `--force` was not given.
    #[error("{path}: the file exists; pass --force to let {flag} overwrite it")]
    Exists {
        /// The file.
        path: String,
        /// The flag that named it.
        flag: &'static str,
    },
    /// The system refused to open it.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A file a command writes: the flag that names it, and its path.
type Output<'a> = (&'static str, &'a Path);

/// Refuses, before anything is created, each output that is an existing file, unless `force`:
/// a refusal leaves no new empty file behind for the outputs checked before it.
fn refuse_existing(outputs: &[Output<'_>], force: bool) -> Result<(), OutputError> {
    for &(flag, path) in outputs {
        if !force && is_existing_file(path) {
            return Err(OutputError::Exists { path: path.display().to_string(), flag });
        }
    }
    Ok(())
}

/// Whether `path` is a regular file (through symbolic links). A device or a pipe, such as
/// `/dev/null`, is not: writing to it destroys nothing, so it needs no `--force`.
fn is_existing_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}

/// Opens an output for writing. Without `force` a new file is created, and a file that appeared
/// since [`refuse_existing`] looked is refused too, not overwritten.
fn create_output((flag, path): Output<'_>, force: bool) -> Result<std::fs::File, OutputError> {
    let created = if force {
        std::fs::File::create(path)
    } else {
        std::fs::OpenOptions::new().write(true).create_new(true).open(path)
    };
    match created {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && is_existing_file(path) => {
            Err(OutputError::Exists { path: path.display().to_string(), flag })
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => create_output((flag, path), true),
        Err(source) => Err(OutputError::Open { path: path.display().to_string(), source }),
    }
}

fn trace_to(path: Option<&Path>, force: bool) -> Result<Trace, OutputError> {
    match path {
        None => Ok(Trace::default()),
        Some(p) => {
            let file = create_output(("--trace", p), force)?;
            Ok(Trace::with_writer(Box::new(std::io::BufWriter::new(file))))
        }
    }
}

fn progress_bar(opts: &Options) -> Option<ProgressBar> {
    let long = u64::from(opts.users) * opts.duration_ms / 1000 >= 100_000 * 3600;
    if !(long && std::io::stderr().is_terminal()) {
        return None;
    }
    let bar = ProgressBar::new(100);
    let style = ProgressStyle::with_template("{bar:40} {percent:>3}% virtual time, {elapsed} wall").ok()?;
    bar.set_style(style);
    Some(bar)
}

fn run(args: &RunArgs) -> i32 {
    let opts = match args.population.options(args.seed, 10_000, 3600) {
        Ok(o) => o,
        Err(e) => return usage_error(e),
    };
    if let (Some(trace), Some(record)) = (&args.trace, &args.record) {
        if same_file(trace, record) {
            return usage_error(format!("{}: --trace and --record name the same file", record.display()));
        }
    }
    let outputs: Vec<Output<'_>> = [("--trace", args.trace.as_deref()), ("--record", args.record.as_deref())]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path?)))
        .collect();
    if let Err(e) = refuse_existing(&outputs, args.force) {
        return usage_error(e);
    }
    let trace = match trace_to(args.trace.as_deref(), args.force) {
        Ok(t) => t,
        Err(e) => return usage_error(e),
    };
    // The record file is created before the run, so that a path that cannot be written fails in
    // a moment rather than after the whole run.
    let record_file = match args.record.as_deref().map(|p| create_output(("--record", p), args.force)) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => return usage_error(e),
    };
    let bar = progress_bar(&opts);
    let mut progress = |now: u64, end: u64| {
        if let Some(b) = &bar {
            b.set_position(now.saturating_mul(100) / end.max(1));
        }
    };
    let threads = if args.one_thread { Threads::One } else { Threads::Auto };
    let out = runner::run_on(&opts, trace, args.record.is_some(), threads, &mut progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let repro = args.population.reproduce(&opts);
    if args.json {
        print_json(&out.summary, &repro);
    } else {
        print_summary(&out.summary);
    }
    if let (Some(path), Some(file)) = (&args.record, record_file) {
        let written = match &out.scenario {
            Some(Ok(s)) => write_scenario_to(file, s),
            Some(Err(e)) => Err(format!("the run could not be recorded: {e}")),
            None => Err("the run was not recorded".to_owned()),
        };
        if let Err(e) = written {
            // Not a truncated file that looks like a recording; but only a plain file is
            // removed: a symbolic link or a device named on the command line is left alone.
            if path.symlink_metadata().is_ok_and(|m| m.file_type().is_file()) {
                let _ = std::fs::remove_file(path);
            }
            return usage_error(format!("{}: {e}", path.display()));
        }
        eprintln!("recorded the run to {}", path.display());
    }
    let verdict = match &out.failure {
        None => 0,
        Some(f) => {
            report_failure(&opts, f, &repro);
            if !args.no_shrink {
                shrink_and_write(&opts, f.violation.invariant);
            }
            1
        }
    };
    match &out.trace_error {
        Some(e) => usage_error(format!("trace: {e}")),
        None => verdict,
    }
}

/// Whether two paths from the command line name one file (the same path, or the same file
/// reached by two paths).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// `1 seed`, `2 seeds`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Prints an error on stderr in the one form every `callsim` error takes: `callsim: <message>`.
/// (clap words its own errors about the command line's syntax.) Per-scenario verdicts and
/// findings (`ERROR`, `FAIL`, `VIOLATION`) are lines of a command's report, not errors of the
/// command.
#[cfg(feature = "live")]
fn load(args: &LoadArgs) -> i32 {
    let secret = match (&args.secret, &args.secret_file) {
        (Some(s), _) => callcore_live::auth::Secret::new(s.as_bytes()),
        (None, Some(path)) => callcore_live::auth::Secret::from_file(path),
        (None, None) => return usage_error("no secret: set CALLCORE_SECRET or CALLCORE_SECRET_FILE"),
    };
    let secret = match secret {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let mut profile = match &args.profile {
        Some(path) => match Profile::load(path) {
            Ok(p) => p,
            Err(e) => return usage_error(e),
        },
        None => Profile::default(),
    };
    if let Some(x) = args.calls_per_hour {
        profile.calls_per_user_per_hour = x;
    }
    if let Some(x) = args.disconnects_per_hour {
        profile.disconnects_per_device_per_hour = x;
    }
    let options = crate::load::LoadOptions {
        server: args.server.clone(),
        users: args.users,
        duration_s: args.duration_s,
        time_scale: args.time_scale,
        profile,
        seed: args.seed,
        secret,
        admin_token: args.admin_token.clone(),
        uid_prefix: args.uid_prefix.clone().unwrap_or_else(|| format!("load{}-", args.seed)),
        reconnect_grace_ms: args.reconnect_grace_ms,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    match runtime.block_on(crate::load::run(options)) {
        Ok(report) => {
            if args.json {
                out!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                out!("{}", report.to_text().trim_end());
            }
            i32::from(!report.violations.is_empty())
        }
        Err(e) => {
            print_error(e);
            2
        }
    }
}

fn print_error(message: impl std::fmt::Display) {
    eprintln!("callsim: {message}");
}

/// Prints an error that stops the command ([`print_error`]); returns exit code 2.
fn usage_error(message: impl std::fmt::Display) -> i32 {
    print_error(message);
    2
}

fn report_failure(opts: &Options, f: &crate::engine::Failure, repro: &str) {
    eprintln!("VIOLATION {} at {} ms (virtual), seed {}", f.violation, f.at_ms, opts.seed);
    eprintln!("reproduce with: {repro}");
}

/// Records the failing run again (it is deterministic) and shrinks it.
fn shrink_and_write(opts: &Options, invariant: u8) {
    let out: RunOutput = runner::run(opts, Trace::default(), true, &mut |_, _| {});
    let recorded = match out.scenario {
        Some(Ok(s)) => s,
        Some(Err(e)) => return print_error(format_args!("could not record the failing run: {e}")),
        None => return print_error("could not record the failing run"),
    };
    let (small, replays) = shrink::shrink(&recorded, invariant, Budget::default());
    let path = PathBuf::from(format!("callsim-seed{}-invariant{invariant}.json", opts.seed));
    match write_scenario(&path, &small) {
        Ok(()) => eprintln!(
            "shrunk to {} steps, {} users after {replays} replays: {}",
            small.steps.len(),
            small.users.len(),
            path.display()
        ),
        Err(e) => print_error(e),
    }
}

fn write_scenario(path: &Path, s: &Scenario) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    write_scenario_to(file, s).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_scenario_to(mut file: std::fs::File, s: &Scenario) -> Result<(), String> {
    let text = serde_json::to_string_pretty(s).map_err(|e| e.to_string())?;
    file.write_all((text + "\n").as_bytes()).map_err(|e| e.to_string())
}

fn print_json(s: &Summary, repro: &str) {
    let mut value = serde_json::to_value(s).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("reproduce".into(), serde_json::Value::String(repro.to_owned()));
    }
    out!("{value}");
}

fn print_summary(s: &Summary) {
    out!(
        "callsim run: seed {}, {} on {}, {} s virtual (+ liveness phase to {} ms)",
        s.seed,
        counted(s.users.into(), "user", "users"),
        counted(s.devices, "device", "devices"),
        s.duration_s,
        s.end_ms
    );
    out!("calls: {} created", s.calls);
    for (status, n) in &s.calls_by_status {
        out!("  {status:<12} {n:>10}  {:>5.1}%", pct(*n, s.calls));
    }
    let errors: u64 = s.errors.values().sum();
    out!("errors: {errors} requests answered with an error");
    for (code, n) in s.errors.iter().filter(|(_, n)| **n > 0) {
        out!("  {code:<17} {n:>10}");
    }
    out!("times (ms)         count      p50      p90      p99      max");
    for (name, p) in [("setup", &s.setup_ms), ("ring", &s.ring_ms), ("talk", &s.talk_ms)] {
        out!("  {name:<10} {:>10} {:>8} {:>8} {:>8} {:>8}", p.count, p.p50, p.p90, p.p99, p.max);
    }
    out!(
        "push: {} ring, {} cancel sent; {} devices woken by push; {} accepts sent from a device woken for that call",
        s.pushes_ring,
        s.pushes_cancel,
        s.devices_woken_by_push,
        s.accepts_from_pushed_device
    );
    out!(
        "one-to-one calls to a user with no device connected: {}, accepted: {} ({:.1}%)",
        s.offline_callee_calls,
        s.offline_callee_accepted,
        pct(s.offline_callee_accepted, s.offline_callee_calls)
    );
    out!(
        "media: {} sessions started, {} app deaths; {} calls ended no_media ({} session start timeouts)",
        s.sessions_started,
        s.app_deaths,
        s.calls_ended_no_media,
        s.session_start_timeouts
    );
    out!(
        "messages: {} sent, {} lost in flight; commands: {}; attempts skipped (offline or busy): {}",
        s.messages,
        s.messages_lost,
        s.commands,
        s.attempts_skipped
    );
    out!("events: {} in {:.2} s wall = {:.0} events/s", s.events, s.wall_s, s.events_per_s);
    let verdict = if s.violations.is_empty() { "all passed".to_owned() } else { s.violations.join("; ") };
    out!("invariant checks: {} ({verdict})", s.invariant_checks);
    out!("trace hash: {}", s.trace_hash);
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 * 100.0 / total as f64
    }
}

/// The scenario files named: each file as given, and every `*.json` under each folder, at any
/// depth, in sorted order (a folder's entries by name, depth first; symbolic links not followed;
/// `target` and hidden folders below it skipped, see [`is_skipped_folder`]). A folder without
/// any is an error, so that a wrong folder is not a silent pass.
fn scenario_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let before = out.len();
        let walk = walkdir::WalkDir::new(p).sort_by_file_name();
        for entry in walk.into_iter().filter_entry(|e| e.depth() == 0 || !is_skipped_folder(e)) {
            let entry = entry.map_err(|e| format!("{}: {e}", p.display()))?;
            let path = entry.path();
            if entry.file_type().is_file() && path.extension().is_some_and(|x| x == "json") {
                out.push(path.to_owned());
            }
        }
        if out.len() == before {
            return Err(format!("{}: no scenario (*.json) under this folder", p.display()));
        }
    }
    Ok(out)
}

/// Whether a folder met while walking one named on the command line is left out: cargo's build
/// output (`target`) and hidden folders (`.git`) hold JSON files that are not scenarios. A folder
/// named on the command line itself is always walked.
fn is_skipped_folder(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    entry.file_type().is_dir() && (name == "target" || name.starts_with('.'))
}

/// Differences printed under a failed scenario; the rest are counted.
const DIFFERENCES_SHOWN_MAX: usize = 10;

#[cfg(feature = "live")]
/// `callsim replay --over-wire`: each scenario over real sockets, compared with its in-process
/// replay. Exit 1 if any differs or fails to run.
fn replay_over_wire(paths: &[PathBuf]) -> i32 {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let (mut same, mut differ, mut skipped, mut unreadable) = (0, 0, 0, 0);
    for path in paths {
        let s = match scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ERROR {e}");
                unreadable += 1;
                continue;
            }
        };
        if let Err(why) = crate::wire::runnable(&s) {
            out!("SKIP {}: {why}", s.name);
            skipped += 1;
            continue;
        }
        match runtime.block_on(crate::wire::compare(&s)) {
            Ok(diffs) if diffs.is_empty() => {
                out!("SAME {}", s.name);
                same += 1;
            }
            Ok(diffs) => {
                out!("DIFF {}", s.name);
                for d in diffs.iter().take(DIFFERENCES_SHOWN_MAX) {
                    out!("    {d}");
                }
                out!("    in {}", path.display());
                differ += 1;
            }
            Err(e) => {
                out!("DIFF {}: the replay over the wire failed: {e}", s.name);
                out!("    in {}", path.display());
                differ += 1;
            }
        }
    }
    eprintln!(
        "callsim replay --over-wire: {} scenarios, {same} the same over the wire, {differ} different, {skipped} skipped, {unreadable} unreadable",
        paths.len()
    );
    if unreadable > 0 {
        2
    } else {
        i32::from(differ > 0)
    }
}

fn replay_cmd(args: &ReplayArgs) -> i32 {
    #[cfg(feature = "plant")]
    if let Err(code) = plant(args.plant.as_deref()) {
        return code;
    }
    let paths = match scenario_paths(&args.paths) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    if let Some(trace) = &args.trace {
        if let Some(input) = paths.iter().find(|p| same_file(trace, p)) {
            let e =
                format!("{}: --trace names a scenario to replay; it would be overwritten", input.display());
            return usage_error(e);
        }
    }
    let mut trace = match trace_to(args.trace.as_deref(), args.force) {
        Ok(t) => Some(t),
        Err(e) => return usage_error(e),
    };
    #[cfg(feature = "live")]
    if args.over_wire {
        return replay_over_wire(&paths);
    }
    let (mut failed, mut unreadable) = (0, 0);
    for path in &paths {
        let s = match scenario::load_with_notes(path) {
            Ok((s, notes)) => {
                for note in notes {
                    eprintln!("NOTE {}: {note}", path.display());
                }
                s
            }
            Err(e) => {
                eprintln!("ERROR {e}");
                unreadable += 1;
                continue;
            }
        };
        let mut t = if args.trace.is_some() { trace.take().unwrap_or_default() } else { Trace::default() };
        if paths.len() > 1 {
            t.begin_scenario(&s.name, path);
        }
        let (report, t) = replay::run_keeping_trace(&s, t);
        trace = Some(t);
        if report.passed() {
            out!("PASS {}", report.name);
            continue;
        }
        failed += 1;
        out!("FAIL {}", report.name);
        if let Some(f) = &report.failure {
            out!("    {} at {} ms", f.violation, f.at_ms);
        }
        for d in report.differences.iter().take(DIFFERENCES_SHOWN_MAX) {
            out!("    {d}");
        }
        if let Some(more) = report.differences.len().checked_sub(DIFFERENCES_SHOWN_MAX).filter(|&n| n > 0) {
            out!("    ... and {}", counted(more as u64, "more difference", "more differences"));
        }
        out!("    in {}", path.display());
    }
    if paths.len() > 1 {
        let passed = paths.len() - failed - unreadable;
        eprintln!(
            "callsim replay: {} scenarios, {passed} passed, {failed} failed, {unreadable} unreadable",
            paths.len()
        );
    }
    if let Some(e) = trace.as_mut().and_then(|t| t.finish().err()) {
        return usage_error(format!("trace: {e}"));
    }
    if unreadable > 0 {
        2
    } else {
        i32::from(failed > 0)
    }
}

/// Switches on the planted bug of that name, if any (see `callcore::plant`).
#[cfg(feature = "plant")]
fn plant(name: Option<&str>) -> Result<(), i32> {
    let Some(name) = name else { return Ok(()) };
    let Some(plant) = callcore::plant::Plant::from_name(name) else {
        let known = callcore::plant::Plant::names();
        return Err(usage_error(format!("unknown plant `{name}` (known: {known})")));
    };
    callcore::plant::set(&[plant]);
    Ok(())
}

fn check(args: &CheckArgs) -> i32 {
    #[cfg(feature = "plant")]
    if let Err(code) = plant(args.plant.as_deref()) {
        return code;
    }
    let base = match args.population.options(0, 1_000, 600) {
        Ok(o) => o,
        Err(e) => return usage_error(e),
    };
    let seeds = match sweep::shard_seeds(args.seeds.0, args.seeds.1, args.shard) {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let results = sweep::run(&seeds, &base);
    let mut failures = 0;
    for r in &results {
        let Some(f) = &r.failure else { continue };
        failures += 1;
        let opts = Options { seed: r.seed, ..base.clone() };
        out!("FAIL seed {}: {} at {} ms", r.seed, f.violation, f.at_ms);
        out!("    reproduce with: {}", args.population.reproduce(&opts));
        if !args.no_shrink {
            shrink_and_write(&opts, f.violation.invariant);
        }
    }
    let events: u64 = results.iter().map(|r| r.events).sum();
    let shard = args.shard.map_or_else(String::new, |(i, n)| format!(", shard {i}/{n}"));
    out!(
        "seeds {}..{}{shard}: {}, {failures} failed, {events} events",
        args.seeds.0,
        args.seeds.1,
        counted(results.len() as u64, "seed", "seeds")
    );
    i32::from(failures > 0)
}
