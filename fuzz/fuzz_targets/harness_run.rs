//! Fuzz target: a whole run. See `callcore_fuzz::harness_run` for what it feeds and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: callcore_fuzz::harness_run::Input| callcore_fuzz::harness_run::run(&input));
