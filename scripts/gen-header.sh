#!/usr/bin/env bash
# Regenerates include/keylife.h from src/ffi with the cbindgen pinned in
# Cargo.toml's [dev-dependencies] (the same code path as the check in
# tests/ffi_header.rs, so the two can never disagree).
set -euo pipefail
cd "$(dirname "$0")/.."
KEYLIFE_BLESS_HEADER=1 cargo test --features hazmat,sqlite,ffi,aws-lc --test ffi_header header_is_up_to_date -- --exact
cargo test --features hazmat,sqlite,ffi,aws-lc --test ffi_header
echo "include/keylife.h regenerated"
