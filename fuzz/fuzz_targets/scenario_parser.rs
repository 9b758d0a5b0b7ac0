//! Fuzz target: any bytes into the simulator's scenario parser. See `callcore_fuzz::scenario`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| callcore_fuzz::scenario::run(data));
