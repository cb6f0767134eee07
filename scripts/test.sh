#!/usr/bin/env bash
# herald's whole test suite: what the README's second command and CI run.
# Root is needed for the cgroup, credential and real-daemon tests; under CI (CI=true)
# a test that would skip for lack of root or of a peer fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --release --all-targets
cargo test --workspace --release -- --test-threads="${HERALD_TEST_THREADS:-2}"

# Bounded fuzzing: each parser target for a few seconds (the long run is in docs/fuzzing.md).
if cargo fuzz --version >/dev/null 2>&1; then
  for target in parse_message parse_address; do
    cargo fuzz run -s none "$target" -- -max_total_time="${HERALD_FUZZ_SECONDS:-20}" -print_final_stats=0 2>&1 | tail -n 1
  done
  echo "fuzz: 2 passed, 0 failed"
else
  echo "fuzz: skipped (cargo install cargo-fuzz to run it)"
  if [ "${CI:-}" = true ]; then echo "CI must fuzz: .ci/run installs cargo-fuzz" >&2; exit 1; fi
fi
