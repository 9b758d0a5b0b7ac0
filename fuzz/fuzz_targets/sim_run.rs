//! Fuzz target: a whole callsim population run. See `callcore_fuzz::sim_run`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: callcore_fuzz::sim_run::Input| callcore_fuzz::sim_run::run(&input));
