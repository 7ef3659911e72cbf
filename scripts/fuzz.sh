#!/usr/bin/env bash
# Runs one cargo-fuzz target for a given time on the stable toolchain.
#
#   bash scripts/fuzz.sh <target> <seconds> [libFuzzer options...]
#
# Targets (fuzz/Cargo.toml): ciphertext, public_key, lifecycle,
# sealed_record, store_file, store_sqlite, policy, jwk, pkcs8,
# wrapped_key, backup. libFuzzer's final statistics (executions, exec/s)
# are printed at the end (-print_final_stats=1).
#
# New interesting inputs go to fuzz/corpus/<target>/ (commit a minimized
# few: `cargo fuzz cmin <target>`); crashes to fuzz/artifacts/<target>/.
# Replay a crash with `cargo fuzz run <target> <file>`, then add it to
# tests/fuzz_corpus.rs as a regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [ $# -lt 2 ]; then
  echo "usage: $0 <target> <seconds> [libFuzzer options...]" >&2
  echo "targets: $(awk '/^\[\[bin\]\]/ {b = 1; next} b && /^name = / {gsub(/"/, "", $3); printf "%s ", $3; b = 0}' Cargo.toml)" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

mkdir -p "corpus/$target"
# cargo-fuzz needs nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP lets
# the stable compiler accept them.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run "$target" "corpus/$target" -- \
  -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 "$@"
