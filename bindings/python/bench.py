"""keylife's Python AEAD against `cryptography`'s AESGCM and Google's Tink, in
the same run.

    cargo build --release --features aws-lc
    KEYLIFE_LIB=target/release/libkeylife.so python bindings/python/bench.py

(`KEYLIFE_LIB` defaults to target/release/libkeylife.so of this checkout.
keylife runs on the library's default provider — AWS-LC in a library built
with `--features aws-lc`, as the package is; `KEYLIFE_CRYPTO_PROVIDER=rustcrypto`
runs it on the pure-Rust one.)
Needs `cryptography`; measures Tink too when `tink` is importable (`pip install
tink`; without it the Tink rows are skipped, with a note saying so); compiles
a small C loop with `cc` (gcc/clang) when one is installed, for the cost of
the same call without Python.

Measures, for 64 B, 16 KiB and 1 MiB plaintexts and no associated data:

- keylife `Key.encrypt` (the Python API: a fresh random nonce, usage
  accounting, audit), `Key.decrypt` and `Store.decrypt` (the header names
  the key);
- `cryptography`'s `AESGCM.encrypt` with a fresh `os.urandom(12)` nonce, the
  issue-5 baseline, and `AESGCM.decrypt`;
- Tink's AEAD (`tink.aead`, key template `AES256_GCM`, the keyset handle's
  primitive) `encrypt(plaintext, b"")` and `decrypt(ciphertext, b"")`;
- the parts of keylife's figure: the bare ctypes call of `kl_key_encrypt_into`
  with a prebuilt output buffer, and the 8-argument `kl_key_encrypt` called
  the way the bindings did before (argtypes, `create_string_buffer`, `byref`);
- the same `kl_key_encrypt_into` (and `kl_key_decrypt_into`) from C in a
  tight loop: the Rust-side cost, the reference for bulk throughput;
- the Python layer alone: `Key.encrypt`, and the previous binding shape,
  with the C function swapped for a no-op of the same signature (compiled
  here), so the core's cost and its noise drop out.

Every figure is the best of several repeats (the least disturbed by other
load), with the median beside it. Prints a Markdown table, the ratios
keylife / cryptography and keylife / Tink (below 1: keylife faster), and the
commit.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

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

try:
    import tink
    from tink import aead as tink_aead

    TINK_VERSION: str | None = importlib.metadata.version("tink")
except ImportError:  # optional: its rows are skipped, with a note
    tink = tink_aead = None
    TINK_VERSION = None

SIZES = (64, 16 * 1024, 1024 * 1024)
PROVIDER = os.environ.get("KEYLIFE_CRYPTO_PROVIDER") or keylife.default_crypto_provider()
REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))
TARGET_SECONDS = float(os.environ.get("BENCH_SECONDS", "0.1"))  # per repeat


Timing = tuple[float, float]  # (best, median) seconds per call


def measure(fn: Callable[[Any], object], arg: Any) -> Timing:
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
    size_t len = (size_t)atol(argv[1]), ct_len = len + KL_CIPHERTEXT_OVERHEAD;
    int repeats = atoi(argv[2]);
    int dec = argc > 4 && argv[4][0] == 'd'; /* "decrypt": kl_key_decrypt_into */
    kl_store *s = NULL; kl_key *k = NULL;
    if (argc > 3 && kl_crypto_provider_install(argv[3])) return 3;
    if (kl_store_open_memory("bench", KL_ROLE_ADMINISTRATOR, &s) || kl_key_create(s, KL_PURPOSE_AEAD, "bench", &k) || kl_key_activate(k)) return 1;
    unsigned char *pt = calloc(len ? len : 1, 1), *ct = malloc(ct_len);
    if (kl_key_encrypt_into(k, pt, len, NULL, 0, ct)) return 2; /* a valid ciphertext to decrypt */
#define OP() (dec ? kl_key_decrypt_into(k, ct, ct_len, NULL, 0, pt) : kl_key_encrypt_into(k, pt, len, NULL, 0, ct))
    double best = 1e9, runs[64]; int r;
    long n = 1;
    for (;;) { double t0 = now(); for (long i = 0; i < n; i++) OP(); if (now() - t0 > 0.025) break; n *= 4; }
    n *= 4;
    for (r = 0; r < repeats && r < 64; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++) if (OP()) return 2;
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


def python_layer(key: keylife.Key, size: int, tmp: Path) -> dict[str, Timing] | None:
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


def c_loop(lib_path: Path) -> dict[str, dict[int, Timing]] | None:
    """The Rust-side cost: {"encrypt"|"decrypt": {size: timing}} of
    kl_key_encrypt_into / kl_key_decrypt_into called from C, no Python."""
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
        out: dict[str, dict[int, Timing]] = {"encrypt": {}, "decrypt": {}}
        for op, by_size in out.items():
            for size in SIZES:
                res = subprocess.run([str(exe), str(size), str(REPEATS), PROVIDER, op],
                                     check=True, capture_output=True, text=True)
                best, median = (float(x) for x in res.stdout.split())
                by_size[size] = (best, median)
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


def fmt_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def fmt_cell(size: int, t: Timing) -> str:
    """Small sizes: best (median); bulk: best and its throughput."""
    best, median = t
    return f"{fmt_time(best)} ({fmt_time(median)})" if size < 1024 else f"{fmt_time(best)}, {fmt_rate(size, best)}"


# Row names, used for the ratios below.
KL_ENC = "keylife Key.encrypt"
KL_DEC = "keylife Key.decrypt"
KL_STORE_DEC = "keylife Store.decrypt"
CR_ENC = "cryptography AESGCM.encrypt (fresh nonce)"
CR_DEC = "cryptography AESGCM.decrypt"
TINK_ENC = "Tink Aead.encrypt (AES256_GCM)"
TINK_DEC = "Tink Aead.decrypt (AES256_GCM)"


def tink_primitive() -> Any:
    """Tink's AEAD primitive for a fresh AES256_GCM keyset, or None without tink."""
    if tink_aead is None:
        return None
    tink_aead.register()
    handle = tink.new_keyset_handle(tink_aead.aead_key_templates.AES256_GCM)
    return handle.primitive(tink_aead.Aead)


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
    tk = tink_primitive()

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
        assert key.decrypt(kl_ct) == pt and store.decrypt(kl_ct) == pt
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

        candidates: list[tuple[str, Callable[[Any], object], bytes]] = [
            (KL_ENC, key.encrypt, pt),
            (CR_ENC, crypto_encrypt, pt),
            (KL_DEC, key.decrypt, kl_ct),
            (KL_STORE_DEC, store.decrypt, kl_ct),
            (CR_DEC, lambda ct, nonce=nonce: aes.decrypt(nonce, ct, None), crypto_ct),
        ]
        if tk is not None:
            tink_ct = tk.encrypt(pt, b"")
            assert tk.decrypt(tink_ct, b"") == pt
            candidates[2:2] = [(TINK_ENC, lambda pt: tk.encrypt(pt, b""), pt)]
            candidates.append((TINK_DEC, lambda ct: tk.decrypt(ct, b""), tink_ct))
        candidates += [
            ("ctypes: bare kl_key_encrypt_into call", bare_call, pt),
            ("ctypes: kl_key_encrypt, previous binding shape", old_shape, pt),
        ]

        # Interleaved, so background load hits every candidate alike.
        res: dict[str, Timing] = {}
        for _ in range(2):
            for name, fn, arg in candidates:
                best, median = measure(fn, arg)
                prev = res.get(name)
                res[name] = (best, median) if prev is None or best < prev[0] else prev
        rows.append((size, res))

    c = c_loop(lib_path)
    with tempfile.TemporaryDirectory() as d:
        layer = {size: python_layer(key, size, Path(d)) for size in SIZES}

    print(f"commit {git_commit()}; library {lib_path}; crypto provider {PROVIDER}")
    print(f"Python {platform.python_version()}, cryptography {CRYPTOGRAPHY_VERSION}, "
          f"tink {TINK_VERSION or 'not installed'}, "
          f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs".rstrip())
    print(f"best (median) of {REPEATS} repeats of ~{TARGET_SECONDS} s\n")
    if tk is None:
        print("note: `tink` is not importable here: the Tink rows and the keylife / Tink "
              "ratios are skipped (pip install tink)\n")
    print("| | " + " | ".join(fmt_size(s) for s in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for name in rows[0][1]:
        print(f"| {name} | " + " | ".join(fmt_cell(size, res[name]) for size, res in rows) + " |")
    if c:
        for op in ("encrypt", "decrypt"):
            cells = [fmt_cell(size, c[op][size]) for size in SIZES]
            print(f"| C loop: kl_key_{op}_into (Rust-side cost) | " + " | ".join(cells) + " |")
    else:
        print("note: no C compiler: the C loop (Rust-side cost) and Python-layer rows are skipped")
    if all(layer.values()):
        for name in ("Key.encrypt", "previous shape"):
            cells = [f"{fmt_time(layer[s][name][0])} ({fmt_time(layer[s][name][1])})" for s in SIZES]
            print(f"| Python layer only ({name}, no-op C function) | " + " | ".join(cells) + " |")

    # Ratios of best times: below 1, keylife is faster (or, for the C-loop
    # rows, Python reaches that share of the Rust-side throughput).
    ratios: list[tuple[str, Callable[[dict[str, Timing], int], float]]] = [
        ("encrypt: keylife / cryptography", lambda r, s: r[KL_ENC][0] / r[CR_ENC][0]),
        ("decrypt: keylife / cryptography", lambda r, s: r[KL_DEC][0] / r[CR_DEC][0]),
    ]
    if tk is not None:
        ratios += [
            ("encrypt: keylife / Tink", lambda r, s: r[KL_ENC][0] / r[TINK_ENC][0]),
            ("decrypt: keylife / Tink", lambda r, s: r[KL_DEC][0] / r[TINK_DEC][0]),
        ]
    ratios.append(("decrypt: Store.decrypt / Key.decrypt", lambda r, s: r[KL_STORE_DEC][0] / r[KL_DEC][0]))
    if c:
        ratios += [
            ("encrypt throughput: Python Key.encrypt / C loop",
             lambda r, s: c["encrypt"][s][0] / r[KL_ENC][0]),
            ("decrypt throughput: Python Key.decrypt / C loop",
             lambda r, s: c["decrypt"][s][0] / r[KL_DEC][0]),
            ("decrypt throughput: Python Store.decrypt / C loop",
             lambda r, s: c["decrypt"][s][0] / r[KL_STORE_DEC][0]),
        ]
    print("\n| ratio (best times) | " + " | ".join(fmt_size(s) for s in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for label, ratio in ratios:
        print(f"| {label} | " + " | ".join(f"{ratio(res, size):.2f}x" for size, res in rows) + " |")
    if tk is None:
        print("(keylife / Tink: skipped, `tink` is not importable)")
    print()
    for size, res in rows:
        kl = res[KL_ENC][0]
        cr = res[CR_ENC][0]
        line = f"{fmt_size(size)}: keylife / cryptography = {kl / cr:.2f}x"
        if c and layer[size]:
            py = layer[size]["Key.encrypt"][0]
            cl = c["encrypt"][size][0]
            line += f"; C loop + Python layer = {fmt_time(cl + py)} = {(cl + py) / cr:.2f}x"
        print(line)

if __name__ == "__main__":
    main()
