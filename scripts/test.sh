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

# Every feature but `fips` (AWS-LC's FIPS module: CMake and Go, its own step
# below), so the main run tests the general AWS-LC build the C library and
# the Python package ship.
FEATURES=$(awk '/^\[features\]/ {f = 1; next} /^\[/ {f = 0}
  f && /^[a-z0-9-]+ *=/ && $1 != "default" && $1 != "fips" {print $1}' Cargo.toml | paste -sd, -)

step "layers: no import cycle between top-level modules of src/"
python3 ../shared/tools/layers.py src

step "format"
cargo fmt --all -- --check

step "lint (clippy, every feature but fips, warnings are errors)"
cargo clippy --features "$FEATURES" --all-targets -- -D warnings

step "API docs build without warnings (broken links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features "$FEATURES" --quiet

step "lint the CLI (cli/, warnings are errors)"
cargo clippy -p keylife-cli --features hazmat --all-targets -- -D warnings

step "build without default features"
cargo check --no-default-features --lib

step "unit, integration and property tests (PostgreSQL ones against a real server)"
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
# Beside a throwaway PostgreSQL cluster (scripts/pg.sh: initdb, pg_ctl,
# stopped and deleted afterwards) for the postgres backend's tests.
bash scripts/pg.sh cargo nextest run --features "$FEATURES" --no-fail-fast -E 'not binary(failover)'

step "failover: a synchronous standby promoted under a write loop (scripts/pg.sh --replica)"
bash scripts/pg.sh --replica cargo nextest run --features "$FEATURES" --no-fail-fast --test failover

step "doctests (including the compile_fail misuse cases)"
cargo test --features "$FEATURES" --doc

step "the hazmat gates: trust tests and doctests with default features (no hazmat)"
cargo nextest run --test trust
cargo test --doc

step "FIPS build: the aws-lc provider on AWS-LC's FIPS module (feature fips)"
need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
command -v go >/dev/null 2>&1 || need_pkgs+=(golang-go)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  SUDO=$(command -v sudo >/dev/null 2>&1 && [ "$(id -u)" != 0 ] && echo sudo || true)
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# The provider tests (interoperation with RustCrypto, fips_mode) and the
# Wycheproof suites on the FIPS module; the FFI query.
AWS_LC_FIPS_SYS_USE_SYSTEM=0 cargo nextest run --features fips,hazmat \
  --test provider --test wycheproof --test ffi -E 'test(fips) | binary(provider) | binary(wycheproof) | test(crypto_provider_selection)'
AWS_LC_FIPS_SYS_USE_SYSTEM=0 cargo clippy --features "$FEATURES,fips" --lib -- -D warnings

step "the CLI: end-to-end, kill -9 loop, README session, HTML report in headless Chromium (cli/tests)"
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=$(command -v sudo >/dev/null 2>&1 && [ "$(id -u)" != 0 ] && echo sudo || true)
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
bash scripts/pg.sh cargo nextest run -p keylife-cli --no-fail-fast
# Plaintext key export exists only in the hazmat build of the CLI.
cargo nextest run -p keylife-cli --features hazmat --test hazmat

step "the main job: scripts/demo.sh, the CLI on the default SQLite store"
# The debug build the CLI tests made (a release build would add minutes).
KEYLIFE_DEMO_PROFILE=dev bash scripts/demo.sh > target/demo.out
tail -n 3 target/demo.out

step "examples/lifecycle.rs: the same story through the Rust API"
cargo run --quiet --example lifecycle > target/lifecycle-example.out
tail -n 3 target/lifecycle-example.out

if [ -f scripts/test-c.sh ]; then
  step "C and C++ against include/keylife.h (ASan/UBSan, valgrind)"
  bash scripts/test-c.sh
fi

if [ -f scripts/test-python.sh ]; then
  step "Python bindings"
  # Beside a PostgreSQL server too, for the postgres backend from Python.
  bash scripts/pg.sh bash scripts/test-python.sh
fi

step "all tests passed"
