#!/usr/bin/env bash
# Instructions per 64-byte AES-256-GCM call under callgrind, keylife beside
# its raw twin (benches/icount.rs), for both providers:
#
#   bash scripts/icount.sh            # the table
#   bash scripts/icount.sh keylife_rustcrypto_encrypt   # one case
#   ICOUNT_ROTATION=1 bash scripts/icount.sh             # instructions per rotation at 10, 100, 1000 versions
#
# Each case runs twice (N1 and N2 calls after the same setup); the cost of
# one call is (I(N2) - I(N1)) / (N2 - N1), so setup, process start and
# valgrind's own start cancel out. Instruction counts do not move with the
# machine's load, unlike times.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
N1=${ICOUNT_N1:-2000}
N2=${ICOUNT_N2:-12000}
if [ "${ICOUNT_ROTATION:-}" = 1 ]; then N1=20; N2=120; fi

bin=$(cargo bench --features aws-lc --bench icount --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "icount" and m.get("executable"):
        print(m["executable"])')
[ -x "$bin" ] || { echo "could not build benches/icount.rs" >&2; exit 1; }

count() { # case n -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_call() {
  local a b
  a=$(count "$1" "$N1"); b=$(count "$1" "$N2")
  echo $(( (b - a) / (N2 - N1) ))
}

if [ $# -gt 0 ]; then
  for c in "$@"; do echo "$c $(per_call "$c")"; done
  exit 0
fi

if [ "${ICOUNT_ROTATION:-}" = 1 ]; then
  echo "| rotation | instructions per rotate |"
  echo "|---|---|"
  for v in 10 100 1000; do
    echo "| at $v versions | $(per_call rotate_at_$v) |"
  done
  exit 0
fi

echo "| provider | operation | raw | keylife | ratio |"
echo "|---|---|---|---|---|"
for p in rustcrypto aws-lc; do
  for pair in "encrypt encrypt" "encrypt_inplace encrypt_to" "decrypt decrypt" "decrypt store_decrypt"; do
    set -- $pair
    r=$(per_call "raw_${p}_$1"); k=$(per_call "keylife_${p}_$2")
    printf '| %s | %s vs raw %s | %s | %s | %s× |\n' "$p" "$2" "$1" "$r" "$k" \
      "$(python3 -c "print(f'{$k/$r:.2f}')")"
  done
done
