#!/usr/bin/env bash
# The whole test suite. README's test command; .ci/run calls exactly this.
# Installs or checks everything it needs itself (fresh machines have only
# the Rust toolchain, cargo-nextest, gcc and Python).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if [ ! -d ../shared/vectors ]; then
  echo "error: ../shared/vectors not found (the test vectors live beside this repository)" >&2
  exit 1
fi

step "layers: no import cycle between top-level modules of src/"
python3 ../shared/tools/layers.py src

step "format"
cargo fmt --all -- --check

step "lint (clippy, all features, warnings are errors)"
cargo clippy --all-features --all-targets -- -D warnings

step "API docs build without warnings (broken links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --quiet

step "build without default features"
cargo check --no-default-features --lib

step "unit, integration and property tests"
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
cargo nextest run --all-features --no-fail-fast

step "doctests (including the compile_fail misuse cases)"
cargo test --all-features --doc

step "the hazmat gates: trust tests and doctests with default features (no hazmat)"
cargo nextest run --test trust
cargo test --doc

step "the main job: examples/lifecycle.rs on a temporary SQLite store"
cargo run --quiet --example lifecycle > target/lifecycle-example.out
tail -n 3 target/lifecycle-example.out

if [ -f scripts/test-c.sh ]; then
  step "C and C++ against include/keylife.h (ASan/UBSan, valgrind)"
  bash scripts/test-c.sh
fi

if [ -f scripts/test-python.sh ]; then
  step "Python bindings"
  bash scripts/test-python.sh
fi

step "all tests passed"
