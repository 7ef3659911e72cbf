#!/usr/bin/env bash
# The Python bindings: builds libkeylife (default features + hazmat, the
# same set as scripts/test-c.sh), creates target/pyenv with pytest and
# cryptography, and runs bindings/python/tests. Fails when pytest fails or
# collects no tests (exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--> %s\n' "$*"; }

command -v python3 >/dev/null 2>&1 || { echo "python3 is required" >&2; exit 1; }
if ! command -v openssl >/dev/null 2>&1; then
  step "installing openssl"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

step "building libkeylife (debug, features: default + hazmat + aws-lc + postgres; the accelerated provider as default)"
cargo build --features hazmat,aws-lc,postgres
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A private copy: another build with other features may rewrite
# target/debug while the tests run.
mkdir -p "$TARGET_DIR/python-tests"
cp "$TARGET_DIR/debug/libkeylife.so" "$TARGET_DIR/python-tests/libkeylife.so"
export KEYLIFE_LIB="$TARGET_DIR/python-tests/libkeylife.so"

VENV="$TARGET_DIR/pyenv"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  python3 -m venv "$VENV"
fi
step "installing pytest and cryptography"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check pytest cryptography

step "pytest bindings/python/tests"
set +e
PYTHONPATH="$PWD/bindings/python" "$VENV/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
