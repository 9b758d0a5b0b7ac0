//! The `callsim` command line.

#![forbid(unsafe_code)]

fn main() {
    std::process::exit(callsim::cli::main());
}
