#!/usr/bin/env bash
# Runs one cargo-fuzz target for a given time on the stable toolchain.
#
#   bash scripts/fuzz.sh <target> <seconds> [libFuzzer options...]
#   bash scripts/fuzz.sh --merge <target>
#
# Targets (fuzz/Cargo.toml): see `bash scripts/fuzz.sh` without arguments.
# libFuzzer's final statistics (executions, exec/s) are printed at the end
# (-print_final_stats=1).
#
# A run never touches the committed corpus: it fuzzes a scratch copy in
# fuzz/target/corpus-run/<target>/ (seeded from fuzz/corpus/<target>/).
# `--merge <target>` then adds to the committed corpus only the inputs of
# the last run that reach new coverage (libFuzzer -merge=1); minimize the
# committed corpus with `cargo fuzz cmin <target>`. Crashes go to
# fuzz/artifacts/<target>/; replay one with
# `cargo fuzz run <target> <file>`, minimize it with `cargo fuzz tmin`, and
# add it to tests/fuzz_corpus.rs as a regression test. The storage targets
# write their scratch stores under fuzz/target/fuzz-scratch/
# (KEYLIFE_FUZZ_SCRATCH=/dev/shm for speed).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

targets=$(awk '/^\[\[bin\]\]/ {b = 1; next} b && /^name = / {gsub(/"/, "", $3); printf "%s ", $3; b = 0}' Cargo.toml)
usage() {
  echo "usage: $0 <target> <seconds> [libFuzzer options...] | $0 --merge <target>" >&2
  echo "targets: $targets" >&2
  exit 2
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

merge=0
if [ "${1:-}" = "--merge" ]; then
  merge=1
  shift
  [ $# -eq 1 ] || usage
elif [ $# -lt 2 ]; then
  usage
fi
target=$1
case " $targets " in
  *" $target "*) ;;
  *) echo "unknown target: $target" >&2; usage ;;
esac
work="target/corpus-run/$target"
mkdir -p "corpus/$target"

# cargo-fuzz needs nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP lets
# the stable compiler accept them.
if [ "$merge" = 1 ]; then
  [ -d "$work" ] || { echo "no run of $target to merge from ($work)" >&2; exit 1; }
  before=$(find "corpus/$target" -type f | wc -l)
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" "$work" -- -merge=1
  after=$(find "corpus/$target" -type f | wc -l)
  echo "corpus/$target: $before -> $after files (only new coverage added)"
  exit 0
fi

seconds=$2
shift 2
rm -rf "$work"
mkdir -p "$work"
cp -R "corpus/$target/." "$work/"
RUSTC_BOOTSTRAP=1 exec cargo fuzz run "$target" "$work" -- \
  -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 "$@"
