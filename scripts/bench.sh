#!/usr/bin/env bash
# The performance report's numbers: runs the criterion benches and prints
# each keylife result beside its raw primitive as a ratio (Markdown), then
# OpenSSL's numbers on the same machine for context.
#
#   bash scripts/bench.sh                 # everything (about 5 minutes)
#   bash scripts/bench.sh aead 'aead_encrypt/.*/64$'   # one bench, a filter
#   bash scripts/bench.sh --table         # only print the table of the last run
#
# Results: target/criterion/ (criterion's own reports), and the table on
# stdout. Benchmarks are noisy on a shared 2-core machine: run twice, and
# compare ratios measured in the same run only.
set -euo pipefail
cd "$(dirname "$0")/.."

# glibc's allocator adapts its mmap and trim thresholds as a process runs, so
# whether a fresh 1 MiB output buffer costs 256 page faults (~0.2 ms, more
# than a 1 MiB AES-GCM on AWS-LC) depends on which benchmark ran before:
# raw and keylife sides moved by up to 1.6x between runs. Fixed thresholds
# keep large buffers on the heap, so the figures measure the work, not the
# allocator's history. Applies to both sides alike.
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=134217728}"

table() {
  python3 - <<'PY'
import json, pathlib, collections
root = pathlib.Path("target/criterion")
res = collections.defaultdict(dict)  # (group, param) -> {function: ns}
for b in root.glob("**/new/benchmark.json"):
    meta = json.loads(b.read_text())
    est = json.loads((b.parent / "estimates.json").read_text())
    key = (meta["group_id"], meta.get("value_str") or "")
    res[key][meta["function_id"]] = est["median"]["point_estimate"]

def fmt(ns):
    if ns >= 1e6: return f"{ns/1e6:.2f} ms"
    if ns >= 1e3: return f"{ns/1e3:.2f} µs"
    return f"{ns:.0f} ns"

print("| group | size | keylife / other | time | baseline | baseline time | ratio |")
print("|---|---|---|---|---|---|---|")
def order(kv):
    (group, param), _ = kv
    return (group, int(param) if param.isdigit() else 0)
for (group, param), fns in sorted(res.items(), key=order):
    for f, ns in sorted(fns.items()):
        if f.startswith("raw_") or f == "no_sink":
            continue
        # keylife_<provider> pairs with raw_<provider>; sinks with no_sink.
        base = "raw_" + f[len("keylife_"):] if f.startswith("keylife_") else "no_sink"
        if base in fns:
            b = fns[base]
            print(f"| {group} | {param} | {f} | {fmt(ns)} | {base} | {fmt(b)} | {ns/b:.2f}× |")
        else:
            print(f"| {group} | {param} | {f} | {fmt(ns)} | | | |")
    for f in sorted(fns):
        if f.startswith("raw_") and f.endswith("_inplace"):
            print(f"| {group} | {param} | {f} | {fmt(fns[f])} | | | |")
PY
}

if [ "${1:-}" = "--table" ]; then
  table
  exit 0
fi

if [ $# -ge 1 ]; then
  bench=$1
  shift
  cargo bench --features aws-lc --bench "$bench" -- "$@"
else
  cargo bench --features aws-lc --bench aead --bench primitives --bench lifecycle
fi

echo
echo "## keylife vs raw primitive (median; ratio = keylife / baseline)"
table
echo
echo "## OpenSSL on this machine"
openssl version
openssl speed -seconds 3 -bytes 16384 -evp aes-256-gcm 2>/dev/null | tail -2
openssl speed -seconds 3 -bytes 1048576 -evp aes-256-gcm 2>/dev/null | tail -2
openssl speed -seconds 3 ecdsap256 2>/dev/null | tail -2
