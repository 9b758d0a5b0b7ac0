#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30), one after the other; exits
# non-zero on the first crash (a panic, a broken invariant, a timeout or an out-of-memory).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). See docs/fuzzing.md.
#
#   fuzz/run.sh [SECONDS]
#
# Each target starts from its committed seeds in corpus/<target>/ and writes what it finds there
# too (only seed-* files are committed). A crash is written to artifacts/<target>/ and the
# command that reproduces it is printed.
set -euo pipefail
seconds=${1:-30}
cd "$(dirname "$0")"
targets=(switchboard client harness_run frame_decoder sim_run scenario_parser)
target_dir=${CARGO_TARGET_DIR:-target}
fuzz=(cargo +nightly fuzz)
opts=(--sanitizer none --features sim --target-dir "$target_dir")

echo "== replaying the committed corpus and regressions (stable, no libFuzzer)"
cargo test --features sim -q

echo "== building ${targets[*]}"
"${fuzz[@]}" build "${opts[@]}"

for t in "${targets[@]}"; do
  echo "== fuzzing $t for ${seconds}s"
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! "${fuzz[@]}" run "${opts[@]}" "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "FAIL: $t crashed; the input is in fuzz/artifacts/$t/ (see the reproduce line above)"
    rm -f "$log"
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | sed "s/^/  $t: /"
  rm -f "$log"
done
echo "fuzz: ${#targets[@]} passed, 0 failed"
