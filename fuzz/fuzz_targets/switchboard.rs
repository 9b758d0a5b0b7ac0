//! Fuzz target: see `callcore_fuzz::switchboard` for what it feeds and checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: callcore_fuzz::switchboard::Input| callcore_fuzz::switchboard::run(&input));
