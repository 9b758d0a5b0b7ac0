//! Replays every hand-written scenario in `sim/scenarios/` and requires each to pass: the
//! engine follows the scenario format's timing rules and callcore meets the expectations that
//! were derived by hand from the contract. The scenario parser's fuzz seeds, copies of some of
//! them, must pass too.

use callsim::{replay, scenario, trace::Trace};
use std::path::PathBuf;

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sim/scenarios exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Replays each file; describes each one that fails.
fn failures(files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for path in files {
        let s = scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let report = replay::run(&s, Trace::default());
        if !report.passed() {
            let mut text = format!("FAIL {} ({})", report.name, path.display());
            if let Some(f) = &report.failure {
                text.push_str(&format!("\n    {} at {} ms", f.violation, f.at_ms));
            }
            for d in &report.differences {
                text.push_str(&format!("\n    {d}"));
            }
            failed.push(text);
        }
    }
    failed
}

#[test]
fn every_conformance_scenario_passes() {
    let files = scenario_files();
    assert!(files.len() >= 273, "the suite has its 273 files, found {}", files.len());
    let failed = failures(&files);
    assert!(failed.is_empty(), "{} of {} failed:\n{}", failed.len(), files.len(), failed.join("\n"));
}

/// The scenario parser's fuzz seeds (`fuzz/corpus/scenario_parser/seed-<file>`) are copies of
/// suite scenarios, so that the fuzzer starts from valid ones: each must still pass, or the copy
/// is stale and a replay of the fuzz folder fails.
#[test]
fn the_scenario_parsers_fuzz_seeds_are_passing_scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/scenario_parser");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the scenario parser's seed corpus exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seed-")))
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seed in {}", dir.display());
    let failed = failures(&seeds);
    assert!(
        failed.is_empty(),
        "stale seeds (copy sim/scenarios/<name> over seed-<name> again):\n{}",
        failed.join("\n")
    );
}

#[test]
fn replaying_twice_gives_the_same_trace_hash() {
    for path in scenario_files().iter().take(10) {
        let s = scenario::load(path).unwrap();
        let a = replay::run(&s, Trace::default());
        let b = replay::run(&s, Trace::default());
        assert_eq!(a.trace_hash, b.trace_hash, "{}", path.display());
        assert_eq!(a.events, b.events);
    }
}

#[test]
fn a_changed_expectation_fails_with_its_difference() {
    // Guards the suite against a comparison that passes everything: scenario 01 with one
    // expectation of each kind altered must fail with exactly those three differences.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/01_accept_and_end.json");
    let mut s = scenario::load(&path).unwrap();
    s.steps[1].expect = Some(scenario::Outcome::InvalidState);
    let expect = s.expect.as_mut().unwrap();
    expect.calls.get_mut("c1").unwrap().status = callcore::Status::Rejected;
    expect.callbacks.get_mut("bob/1").unwrap().pop();
    let report = replay::run(&s, Trace::default());
    assert_eq!(report.differences.len(), 3, "{:#?}", report.differences);
    assert!(
        report.differences[0].starts_with("step 2 (bob accept at 1000 ms): expected invalid_state, got ok")
    );
    assert_eq!(report.differences[1], "call c1: expected rejected, got ended");
    assert!(report.differences[2].starts_with(
        "callbacks bob/1: entry 2: expected nothing, got `incoming_call_cancelled c1 answered_elsewhere`"
    ));
}
