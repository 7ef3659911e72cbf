#!/usr/bin/env bash
# C and C++ against include/keylife.h and the built library:
#   - every program compiled with -Wall -Wextra -Werror (C11 / C++17),
#     linked against the shared library and against the static one;
#   - run plain, under AddressSanitizer + UBSan (shared and static), and
#     under valgrind memcheck (--leak-check=full, errors are failures);
#   - the C snippet in examples/c/README.md is the compiled example.
# Installs what it needs (gcc, g++, valgrind) when missing. Exits non-zero
# on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n--> %s\n' "$*"; }

need_pkgs=()
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
command -v valgrind >/dev/null 2>&1 || need_pkgs+=(valgrind)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

step "building libkeylife (debug, features: default + hazmat + aws-lc + postgres; the accelerated provider as default)"
# The same feature set as scripts/test-python.sh, so the two never rebuild
# each other's library.
cargo build --features hazmat,aws-lc,postgres
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

# Private copies: another cargo build with other features may rewrite
# target/debug while these tests run.
OUT="$TARGET_DIR/c-tests"
rm -rf "$OUT"
mkdir -p "$OUT/lib" "$OUT/bin"
cp "$TARGET_DIR/debug/libkeylife.so" "$TARGET_DIR/debug/libkeylife.a" "$OUT/lib/"
LIB="$OUT/lib"

CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -O1 -pthread -Iinclude -Itests/c)
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -g -O1 -pthread -Iinclude)
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
SHARED=(-L"$LIB" -lkeylife -Wl,-rpath,"$LIB")
# A Rust staticlib needs the system libraries its std uses.
STATIC=("$LIB/libkeylife.a" -lpthread -ldl -lm)

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

C_PROGRAMS=(examples/c/lifecycle.c tests/c/test_abi.c tests/c/test_threads.c tests/c/test_governance.c)
failures=0
run() {
  local name=$1; shift
  if "$@" >"$OUT/$name.log" 2>&1; then
    echo "ok    $name"
  else
    echo "FAIL  $name (log: $OUT/$name.log)"; tail -n 40 "$OUT/$name.log" | sed 's/^/      /'
    failures=$((failures + 1))
  fi
}

step "compiling"
for src in "${C_PROGRAMS[@]}"; do
  base=$(basename "$src" .c)
  gcc "${CFLAGS[@]}" "$src" "${SHARED[@]}" -o "$OUT/bin/$base.shared"
  gcc "${CFLAGS[@]}" "$src" "${STATIC[@]}" -o "$OUT/bin/$base.static"
  gcc "${CFLAGS[@]}" "${SAN[@]}" "$src" "${SHARED[@]}" -o "$OUT/bin/$base.shared-asan"
  gcc "${CFLAGS[@]}" "${SAN[@]}" "$src" "${STATIC[@]}" -o "$OUT/bin/$base.static-asan"
done
g++ "${CXXFLAGS[@]}" examples/c/lifecycle.cpp "${SHARED[@]}" -o "$OUT/bin/lifecycle-cpp.shared"
g++ "${CXXFLAGS[@]}" "${SAN[@]}" examples/c/lifecycle.cpp "${STATIC[@]}" -o "$OUT/bin/lifecycle-cpp.static-asan"
# The header alone, as C and as C++, with the hazmat declarations.
printf '#define KEYLIFE_HAZMAT\n#include "keylife.h"\nint main(void) { return kl_key_hazmat_export_raw(0, 0) == KL_ERR_NULL_POINTER ? 0 : 1; }\n' > "$OUT/hazmat.c"
gcc "${CFLAGS[@]}" "$OUT/hazmat.c" "${SHARED[@]}" -o "$OUT/bin/hazmat.shared"
g++ "${CXXFLAGS[@]}" -x c++ "$OUT/hazmat.c" "${SHARED[@]}" -o "$OUT/bin/hazmat-cpp.shared"
echo "compiled $(ls "$OUT/bin" | wc -l) programs"

step "running: shared, static, ASan+UBSan (shared and static)"
for bin in "$OUT"/bin/*; do
  run "$(basename "$bin")" "$bin"
done

step "running under valgrind memcheck"
VG=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1)
for bin in "$OUT"/bin/*.shared "$OUT"/bin/*.static; do
  run "valgrind $(basename "$bin")" "${VG[@]}" "$bin"
done

step "examples/c/README.md shows examples/c/lifecycle.c verbatim"
run "readme-snippet" python3 tests/c/check_snippet.py examples/c/README.md examples/c/lifecycle.c

if [ "$failures" -ne 0 ]; then
  echo "C tests: $failures failure(s)"
  exit 1
fi
echo "C tests: all passed"
