//! Fuzz target: a whole run on callcore's harness. See `callcore_fuzz::harness_run`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: callcore_fuzz::harness_run::Input| callcore_fuzz::harness_run::run(&input));
