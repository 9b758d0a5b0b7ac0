//! Fuzz target: see `callcore_fuzz::client` for what it feeds and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: callcore_fuzz::client::Input| callcore_fuzz::client::run(&input));
