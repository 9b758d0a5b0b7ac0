//! Conformance over the wire: every hand-written scenario in `sim/scenarios/` replayed against a
//! live server on 127.0.0.1 (a manual clock, real WebSocket connections, the client SDK's
//! frames) gives the same answers, callbacks and final statuses as its in-process replay. The
//! scenarios that cannot run this way are pinned here with the reason `wire::runnable` gives.

#![cfg(feature = "live")]

use callsim::{scenario, wire};
use std::path::PathBuf;

/// The scenarios refused by `wire::runnable` because each draws its latency at random per
/// message. The others it refuses expect pushes (contract version 2), which the server hands to
/// its push sender and this replayer does not read back: 319 to 340, 349, 359 and 361.
const RANDOM_LATENCY: [&str; 4] = [
    "262_request_timeout_by_latency.json",
    "263_request_timeout_long_enough.json",
    "265_latency_range_outcome_independent.json",
    "48_random_latency.json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_that_can_run_over_the_wire_gives_the_in_process_outcome() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sim/scenarios exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut skipped, mut pushes, mut differ, mut same) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for path in &files {
        let s = scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        match wire::runnable(&s) {
            Ok(()) => {}
            Err(reason) if reason.starts_with("expects pushes") => {
                assert!(s.expect.as_ref().is_some_and(|e| !e.pushes.is_empty()), "{name}");
                pushes.push(name);
                continue;
            }
            Err(_) => {
                skipped.push(name);
                continue;
            }
        }
        match wire::compare(&s).await {
            Ok(diffs) if diffs.is_empty() => same += 1,
            Ok(diffs) => differ.push(format!("{name}: {diffs:#?}")),
            Err(e) => differ.push(format!("{name}: {e}")),
        }
    }
    assert!(differ.is_empty(), "{} differ over the wire:\n{}", differ.len(), differ.join("\n"));
    assert_eq!(skipped, RANDOM_LATENCY);
    assert_eq!(pushes.len(), 22 + 3, "{pushes:?}");
    assert_eq!(same + skipped.len() + pushes.len(), files.len());
    assert!(same >= 300, "the suite ran: {same}");
}
