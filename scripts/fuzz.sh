#!/usr/bin/env bash
# Runs one cargo-fuzz target for a given time on the stable toolchain.
#
#   bash scripts/fuzz.sh <ciphertext|public_key|lifecycle> <seconds> [libFuzzer options...]
#
# New interesting inputs go to fuzz/corpus/<target>/ (commit a minimized
# few: `cargo fuzz cmin <target>`); crashes to fuzz/artifacts/<target>/.
# Replay a crash with `cargo fuzz run <target> <file>`, then add it to
# tests/fuzz_corpus.rs as a regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [ $# -lt 2 ]; then
  echo "usage: $0 <target> <seconds> [libFuzzer options...]" >&2
  echo "targets: $(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v keylife-fuzz | tr '\n' ' ')" >&2
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
