#!/usr/bin/env bash
# Streaming AEAD vs one-shot AEAD at 64 MiB and 1 GiB: throughput and peak
# resident memory (examples/stream_bench.rs). Runs each mode three times,
# alternating, and prints the medians and the ratios to one-shot.
#   bash scripts/bench-stream.sh            # 64 and 1024 MiB
#   bash scripts/bench-stream.sh 256        # other sizes, in MiB
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 1024)
cargo build --quiet --release --features aws-lc --example stream_bench
out=target/bench-stream.jsonl
: > "$out"
for mib in "${sizes[@]}"; do
  for _ in 1 2 3; do
    for mode in oneshot stream stream-mem; do
      target/release/examples/stream_bench "$mode" "$mib" | tee -a "$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault((r["mib"], r["mode"]), []).append(r)
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("\n| MiB | mode | encrypt MB/s | decrypt MB/s | encrypt vs one-shot | decrypt vs one-shot | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for mib in sorted({m for m, _ in by}):
    base = by[(mib, "oneshot")]
    for mode in ("oneshot", "stream", "stream-mem"):
        rs = by[(mib, mode)]
        e, d = med(rs, "encrypt_mb_s"), med(rs, "decrypt_mb_s")
        print(f"| {mib} | {mode} | {e:,.0f} | {d:,.0f} | {e / med(base, 'encrypt_mb_s'):.2f}× "
              f"| {d / med(base, 'decrypt_mb_s'):.2f}× | {med(rs, 'vm_hwm_kib') / 1024:,.1f} |")
PY
