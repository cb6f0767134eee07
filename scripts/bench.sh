#!/usr/bin/env bash
# Every benchmark, herald next to its peers in the same run; results go to BENCHMARKS.md.
# Root is needed for the systemd peer (../shared/peer-systemd). About 10 minutes.
# The release build is static (glibc, crt-static): it starts faster and is smaller in
# memory; `cargo build --release` gives the dynamic build, measured in BENCHMARKS.md too.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$target" -p herald -p herald-bench
bench=target/$target/release/herald-bench
n=${HERALD_BENCH_N:-1}   # scale factor for quick runs: HERALD_BENCH_N=0.1
scale() { awk -v a="$1" -v n="$n" 'BEGIN{printf "%d", a*n}'; }
"$bench" notify-time "$(scale 300)"
taskset -c 0 "$bench" client "$(scale 20000)"
"$bench" client "$(scale 20000)"
"$bench" flood "$(scale 100000)"
taskset -c 0 "$bench" barrier "$(scale 10000)"
"$bench" barrier "$(scale 10000)"
"$bench" rss 1 100 1000
