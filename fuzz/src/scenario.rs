//! The `scenario_parser` target: any bytes into the simulator's scenario parser
//! (`callsim::scenario::parse`). It checks:
//!
//! - parsing never panics: text that is not a valid scenario is an error naming the problem;
//! - a scenario that parses writes back to JSON that parses to the same scenario;
//! - the run's end (`run_until_ms`) is computed without overflow for any scenario that parses;
//! - a small scenario that parses replays (`callsim::replay::run`) without a panic.

use std::path::Path;

/// Steps at most in a scenario the driver replays (longer ones are only parsed).
pub const REPLAY_STEPS_MAX: usize = 32;
/// Users at most in a scenario the driver replays.
pub const REPLAY_USERS_MAX: usize = 8;

/// Runs one input; panics on the first violation.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.json");
    let Ok(scenario) = callsim::scenario::parse(text, path) else { return };
    let written = serde_json::to_string(&scenario).expect("a parsed scenario serialises");
    match callsim::scenario::parse(&written, path) {
        Ok(again) => assert_eq!(again, scenario, "the scenario changed through JSON: {written}"),
        Err(e) => panic!("a parsed scenario, written back, does not parse: {e}\n{written}"),
    }
    let _ = callsim::scenario::run_until_ms(&scenario);
    let small = scenario.steps.len() <= REPLAY_STEPS_MAX && scenario.users.len() <= REPLAY_USERS_MAX;
    if small {
        let _ = callsim::replay::run(&scenario, callsim::trace::Trace::default());
    }
}
