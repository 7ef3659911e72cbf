"""keylife's Python encrypt against `cryptography`'s AESGCM, in the same run.

    cargo build --release --features aws-lc
    KEYLIFE_LIB=target/release/libkeylife.so python bindings/python/bench.py

(`KEYLIFE_LIB` defaults to target/release/libkeylife.so of this checkout.
keylife runs on the library's default provider — AWS-LC in a library built
with `--features aws-lc`, as the package is; `KEYLIFE_CRYPTO_PROVIDER=rustcrypto`
runs it on the pure-Rust one.)
Needs `cryptography`; compiles a small C loop with `cc` (gcc/clang) when one
is installed, for the cost of the same call without Python.

Measures, for 64 B and 16 KiB plaintexts and no associated data:

- keylife `Key.encrypt` (the Python API: a fresh random nonce, usage
  accounting, audit) and `Key.decrypt`;
- `cryptography`'s `AESGCM.encrypt` with a fresh `os.urandom(12)` nonce, the
  issue-5 baseline, and `AESGCM.decrypt`;
- the parts of keylife's figure: the bare ctypes call of `kl_key_encrypt_into`
  with a prebuilt output buffer, and the 8-argument `kl_key_encrypt` called
  the way the bindings did before (argtypes, `create_string_buffer`, `byref`);
- the same `kl_key_encrypt_into` from C in a tight loop: the Rust-side cost;
- the Python layer alone: `Key.encrypt`, and the previous binding shape,
  with the C function swapped for a no-op of the same signature (compiled
  here), so the core's cost and its noise drop out.

Every figure is the best of several repeats (the least disturbed by other
load), with the median beside it. Prints a Markdown table and the commit.
"""

from __future__ import annotations

import ctypes
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
os.environ.setdefault("KEYLIFE_LIB", str(ROOT / "target" / "release" / "libkeylife.so"))
sys.path.insert(0, str(HERE))

import keylife  # noqa: E402
from keylife import _ffi  # noqa: E402
from keylife._util import _ZERO  # noqa: E402

try:
    from cryptography import __version__ as CRYPTOGRAPHY_VERSION
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:  # pragma: no cover - the benchmark needs it
    sys.exit("bench.py needs `cryptography` (pip install cryptography)")

SIZES = (64, 16 * 1024)
PROVIDER = os.environ.get("KEYLIFE_CRYPTO_PROVIDER") or keylife.default_crypto_provider()
REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))
TARGET_SECONDS = float(os.environ.get("BENCH_SECONDS", "0.1"))  # per repeat


def measure(fn, arg) -> tuple[float, float]:
    """(best, median) seconds per call of fn(arg)."""
    n = 1
    while True:  # calibrate: one repeat takes about TARGET_SECONDS
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        dt = time.perf_counter() - t0
        if dt >= TARGET_SECONDS / 4:
            break
        n *= 4
    n = max(1, int(n * TARGET_SECONDS / max(dt, 1e-9)))
    runs = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        runs.append((time.perf_counter() - t0) / n)
    return min(runs), statistics.median(runs)


C_LOOP = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "keylife.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    size_t len = (size_t)atol(argv[1]);
    int repeats = atoi(argv[2]);
    kl_store *s = NULL; kl_key *k = NULL;
    if (argc > 3 && kl_crypto_provider_install(argv[3])) return 3;
    if (kl_store_open_memory("bench", KL_ROLE_ADMINISTRATOR, &s) || kl_key_create(s, KL_PURPOSE_AEAD, "bench", &k) || kl_key_activate(k)) return 1;
    unsigned char *pt = calloc(len ? len : 1, 1), *ct = malloc(len + KL_CIPHERTEXT_OVERHEAD);
    double best = 1e9, runs[64]; int r;
    long n = 1;
    for (;;) { double t0 = now(); for (long i = 0; i < n; i++) kl_key_encrypt_into(k, pt, len, NULL, 0, ct); if (now() - t0 > 0.025) break; n *= 4; }
    n *= 4;
    for (r = 0; r < repeats && r < 64; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++) if (kl_key_encrypt_into(k, pt, len, NULL, 0, ct)) return 2;
        runs[r] = (now() - t0) / n; if (runs[r] < best) best = runs[r];
    }
    /* median */
    for (int i = 0; i < r; i++) for (int j = i + 1; j < r; j++) if (runs[j] < runs[i]) { double t = runs[i]; runs[i] = runs[j]; runs[j] = t; }
    printf("%.9f %.9f\n", best, runs[r / 2]);
    kl_key_free(k); kl_store_free(s); free(pt); free(ct);
    return 0;
}
"""


NOOP = r"""
#include <stddef.h>
#include <stdint.h>
uint32_t noop_into(const void *k, const uint8_t *p, size_t pl, const uint8_t *a, size_t al, uint8_t *o) {
    (void)k; (void)p; (void)pl; (void)a; (void)al; (void)o; return 0;
}
uint32_t noop_buf(const void *k, const uint8_t *p, size_t pl, const uint8_t *a, size_t al, uint8_t *o,
                  size_t oc, size_t *ol) {
    (void)k; (void)p; (void)a; (void)al; (void)o; (void)oc; *ol = pl + 50; return 0;
}
"""


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def python_layer(key, size: int, tmp: Path) -> dict[str, tuple[float, float]] | None:
    """The bindings' own cost: Key.encrypt and the previous shape, calling no-op
    C functions of the same signatures instead of keylife."""
    cc = compiler()
    if cc is None:
        return None
    src, so = tmp / "noop.c", tmp / "libnoop.so"
    src.write_text(NOOP)
    subprocess.run([cc, "-O2", "-shared", "-fPIC", str(src), "-o", str(so)], check=True)
    noop = ctypes.CDLL(str(so))
    into = noop.noop_into  # as _ffi.HOT: argtypes None
    into.restype = _ffi.kl_result
    buf_fn = noop.noop_buf  # as the declared kl_key_encrypt: full argtypes
    buf_fn.restype = _ffi.kl_result
    buf_fn.argtypes = [_ffi.C_TYPES[t] for t in _ffi.FUNCTIONS["kl_key_encrypt"][1]]
    handle = key._handle
    pt = os.urandom(size)

    def old_shape(pt):
        cap = len(pt) + _ffi.KL_CIPHERTEXT_OVERHEAD
        buf = ctypes.create_string_buffer(cap)
        got = ctypes.c_size_t()
        if buf_fn(handle, pt, len(pt), b"", 0, buf, cap, ctypes.byref(got)):
            raise RuntimeError("noop failed")
        return buf.raw

    saved = keylife.key._encrypt_into  # the global Key.encrypt calls
    keylife.key._encrypt_into = into
    try:
        res = {}
        for _ in range(2):
            for name, fn in (("Key.encrypt", key.encrypt), ("previous shape", old_shape)):
                best, median = measure(fn, pt)
                prev = res.get(name)
                res[name] = (best, median) if prev is None or best < prev[0] else prev
        return res
    finally:
        keylife.key._encrypt_into = saved


def c_loop(lib_path: Path) -> dict[int, tuple[float, float]] | None:
    cc = compiler()
    if cc is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "loop.c", Path(d) / "loop"
        src.write_text(C_LOOP)
        subprocess.run(
            [cc, "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", f"-I{ROOT / 'include'}", str(src),
             str(lib_path), f"-Wl,-rpath,{lib_path.parent}", "-o", str(exe)],
            check=True,
        )
        out = {}
        for size in SIZES:
            res = subprocess.run([str(exe), str(size), str(REPEATS), PROVIDER],
                                 check=True, capture_output=True, text=True)
            best, median = (float(x) for x in res.stdout.split())
            out[size] = (best, median)
        return out


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                              check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               check=True, capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def fmt_time(s: float) -> str:
    return f"{s * 1e6:.2f} µs"


def fmt_rate(size: int, s: float) -> str:
    return f"{size / s / 1e9:.2f} GB/s"


def main() -> None:
    lib_path = Path(_ffi.LIBRARY_PATH)
    if "release" not in str(lib_path):
        print(f"warning: {lib_path} does not look like a release build", file=sys.stderr)
    keylife.install_crypto_provider(PROVIDER)
    store = keylife.Store.memory("bench")
    assert store.crypto_provider == PROVIDER
    key = store.create(keylife.Purpose.AEAD, "bench")
    key.activate()
    aes = AESGCM(os.urandom(32))
    urandom = os.urandom

    def crypto_encrypt(pt):
        return aes.encrypt(urandom(12), pt, None)

    kv = key._fast
    into = _ffi.HOT["kl_key_encrypt_into"]
    old = _ffi.lib.kl_key_encrypt
    handle = key._handle

    rows = []
    for size in SIZES:
        pt = urandom(size)
        nonce = urandom(12)
        crypto_ct = aes.encrypt(nonce, pt, None)
        kl_ct = key.encrypt(pt)
        out = (ctypes.c_char * (size + _ffi.KL_CIPHERTEXT_OVERHEAD))()
        n = ctypes.c_size_t(size)

        def bare_call(pt, out=out, n=n):
            return into(kv, pt, n, None, _ZERO, out)

        def old_shape(pt, size=size):
            cap = len(pt) + _ffi.KL_CIPHERTEXT_OVERHEAD
            buf = ctypes.create_string_buffer(cap)
            got = ctypes.c_size_t()
            if old(handle, pt, len(pt), b"", 0, buf, cap, ctypes.byref(got)):
                raise RuntimeError("encrypt failed")
            return buf.raw

        # Interleaved, so background load hits every candidate alike.
        res = {}
        for _ in range(2):
            for name, fn, arg in (
                ("keylife Key.encrypt", key.encrypt, pt),
                ("cryptography AESGCM.encrypt (fresh nonce)", crypto_encrypt, pt),
                ("keylife Key.decrypt", key.decrypt, kl_ct),
                ("cryptography AESGCM.decrypt", lambda ct: aes.decrypt(nonce, ct, None), crypto_ct),
                ("ctypes: bare kl_key_encrypt_into call", bare_call, pt),
                ("ctypes: kl_key_encrypt, previous binding shape", old_shape, pt),
            ):
                best, median = measure(fn, arg)
                prev = res.get(name)
                res[name] = (best, median) if prev is None or best < prev[0] else prev
        rows.append((size, res))

    c = c_loop(lib_path)
    with tempfile.TemporaryDirectory() as d:
        layer = {size: python_layer(key, size, Path(d)) for size in SIZES}

    print(f"commit {git_commit()}; library {lib_path}; crypto provider {PROVIDER}")
    print(f"Python {platform.python_version()}, cryptography {CRYPTOGRAPHY_VERSION}, "
          f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs".rstrip())
    print(f"best (median) of {REPEATS} repeats of ~{TARGET_SECONDS} s\n")
    print("| | " + " | ".join(f"{s} B" if s < 1024 else f"{s // 1024} KiB" for s in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    names = list(rows[0][1])
    for name in names:
        cells = []
        for size, res in rows:
            best, median = res[name]
            cells.append(f"{fmt_time(best)} ({fmt_time(median)})" if size < 1024
                         else f"{fmt_time(best)}, {fmt_rate(size, best)}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if c:
        cells = []
        for size in SIZES:
            best, median = c[size]
            cells.append(f"{fmt_time(best)} ({fmt_time(median)})" if size < 1024
                         else f"{fmt_time(best)}, {fmt_rate(size, best)}")
        print("| C loop: kl_key_encrypt_into (Rust-side cost) | " + " | ".join(cells) + " |")
    if all(layer.values()):
        for name in ("Key.encrypt", "previous shape"):
            cells = [f"{fmt_time(layer[s][name][0])} ({fmt_time(layer[s][name][1])})" for s in SIZES]
            print(f"| Python layer only ({name}, no-op C function) | " + " | ".join(cells) + " |")
    print()
    for size, res in rows:
        kl = res["keylife Key.encrypt"][0]
        cr = res["cryptography AESGCM.encrypt (fresh nonce)"][0]
        line = f"{size} B: keylife / cryptography = {kl / cr:.2f}x"
        if c and layer[size]:
            py = layer[size]["Key.encrypt"][0]
            line += (f"; C loop + Python layer = {fmt_time(c[size][0] + py)}"
                     f" = {(c[size][0] + py) / cr:.2f}x")
        print(line)


if __name__ == "__main__":
    main()
