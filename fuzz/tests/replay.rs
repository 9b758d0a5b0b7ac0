//! Replays the committed corpus (`corpus/<target>/seed-*`) and every file under
//! `regressions/<target>/` through the drivers, on stable and without libFuzzer: each must run
//! without a violation. `one_input` replays one file (a tool, ignored by default):
//! `FUZZ_TARGET=client FUZZ_INPUT=path cargo test --features sim --test replay one_input -- --ignored`.

use arbitrary::{Arbitrary, Unstructured};
use std::path::{Path, PathBuf};

fn replay(target: &str, data: &[u8]) {
    match target {
        "switchboard" => callcore_fuzz::switchboard::run(&parse(data)),
        "client" => callcore_fuzz::client::run(&parse(data)),
        "harness_run" => callcore_fuzz::harness_run::run(&parse(data)),
        "frame_decoder" => callcore_fuzz::frame_decoder::run(data),
        #[cfg(feature = "sim")]
        "sim_run" => callcore_fuzz::sim_run::run(&parse(data)),
        #[cfg(feature = "sim")]
        "scenario_parser" => callcore_fuzz::scenario::run(data),
        _ => {}
    }
}

/// The input as libFuzzer's `fuzz_target!` builds it from the bytes.
fn parse<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> T {
    T::arbitrary_take_rest(Unstructured::new(data)).expect("the input decodes")
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable corpus entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .collect();
    files.sort();
    files
}

fn replay_dir(target: &str, dir: &str, prefix: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = files(&root.join(dir).join(target), prefix);
    for file in &files {
        eprintln!("replaying {}", file.display());
        replay(target, &std::fs::read(file).expect("readable file"));
    }
    files.len()
}

#[test]
fn the_committed_seed_corpus_runs_clean() {
    let mut total = 0;
    for target in ["switchboard", "client", "harness_run", "frame_decoder", "sim_run", "scenario_parser"] {
        total += replay_dir(target, "corpus", "seed-");
    }
    assert!(total > 0, "no seed corpus found");
}

#[test]
fn fixed_regressions_run_clean() {
    for target in ["switchboard", "client", "harness_run", "frame_decoder", "sim_run", "scenario_parser"] {
        replay_dir(target, "regressions", "");
    }
}

#[test]
#[ignore = "a tool: set FUZZ_TARGET and FUZZ_INPUT and run with --ignored"]
fn one_input() {
    let target = std::env::var("FUZZ_TARGET").expect("FUZZ_TARGET: the target's name");
    let input = std::env::var_os("FUZZ_INPUT").expect("FUZZ_INPUT: the input file");
    replay(&target, &std::fs::read(input).expect("readable input"));
}
