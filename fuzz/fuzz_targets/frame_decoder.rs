//! Fuzz target: any bytes into the live server's frame decoder. See `callcore_fuzz::frame_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| callcore_fuzz::frame_decoder::run(data));
