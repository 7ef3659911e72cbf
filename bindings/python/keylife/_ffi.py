"""The C ABI, declared once.

Every symbol of ``include/keylife.h`` gets its ``argtypes`` and ``restype``
here, at import; ``tests/test_header.py`` parses the header and checks each
declaration and constant against this module.

The library is looked up in this order: the package directory, the
``KEYLIFE_LIB`` environment variable (a path to the library file), then the
cargo target directory (``$CARGO_TARGET_DIR`` or ``target/`` at the
repository root, two levels above this package's directory: ``debug`` or
``release``, the most recently built).
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, c_char_p, c_size_t, c_uint32, c_uint64, c_void_p
from pathlib import Path

# ----- constants (checked against the header) -----

KL_OK = 0
KL_ERR_INVALID_ARGUMENT = 1
KL_ERR_BUFFER_TOO_SMALL = 2
KL_ERR_NULL_POINTER = 3
KL_ERR_PANIC = 4
KL_ERR_ALREADY_CONSUMED = 5
KL_ERR_NOT_FOUND = 10
KL_ERR_ALREADY_EXISTS = 11
KL_ERR_WRONG_STATE = 12
KL_ERR_WRONG_PURPOSE = 13
KL_ERR_UNSUPPORTED = 14
KL_ERR_MALFORMED = 15
KL_ERR_AUTHENTICATION_FAILED = 16
KL_ERR_PERMISSION_DENIED = 17
KL_ERR_APPROVAL_REQUIRED = 18
KL_ERR_USAGE_LIMIT_EXCEEDED = 19
KL_ERR_CONFLICT = 20
KL_ERR_INTEGRITY = 21
KL_ERR_WRONG_KEK = 22
KL_ERR_STORAGE = 23
KL_ERR_POLICY = 24
KL_ERR_UNSUPPORTED_VERSION = 25
KL_ERR_VERSION_UNAVAILABLE = 26
KL_ERR_UNAVAILABLE = 27
KL_ERR_INTERNAL = 99

KL_PURPOSE_AEAD = 1
KL_PURPOSE_SIGNING = 2
KL_PURPOSE_MAC = 3
KL_PURPOSE_AGREEMENT = 4
KL_PURPOSE_DERIVATION = 5

KL_STATE_PRE_ACTIVE = 1
KL_STATE_ACTIVE = 2
KL_STATE_SUSPENDED = 3
KL_STATE_DEACTIVATED = 4
KL_STATE_COMPROMISED = 5
KL_STATE_PENDING_DESTRUCTION = 6
KL_STATE_DESTROYED = 7
KL_STATE_DESTROYED_COMPROMISED = 8

KL_ROLE_ADMINISTRATOR = 1
KL_ROLE_OPERATOR = 2
KL_ROLE_APPLICATION = 3
KL_ROLE_AUDITOR = 4
KL_ROLE_CUSTODIAN = 5

KL_BACKEND_FILE = 1
KL_BACKEND_SQLITE = 2
KL_BACKEND_POSTGRES = 3
KL_KEK_RAW = 1
KL_KEK_PASSPHRASE = 2

KL_CREATE_EXPORTABLE = 1
KL_CREATE_NO_SUSPENDED_PROCESSING = 2

KL_OP_ENCRYPT = 1
KL_OP_DECRYPT = 2
KL_OP_REWRAP = 4
KL_OP_SIGN = 8
KL_OP_VERIFY = 16
KL_OP_MAC = 32
KL_OP_VERIFY_MAC = 64
KL_OP_DERIVE = 128
KL_OP_AGREE = 256

KL_APPROVAL_DESTROY = 1
KL_APPROVAL_SCHEDULE_DESTRUCTION = 2
KL_APPROVAL_EXPORT = 3
KL_APPROVAL_RESTORE = 4
KL_APPROVAL_POLICY_CHANGE = 5
KL_APPROVAL_COMPROMISED_DECRYPT = 6
KL_APPROVAL_TRUST_DESTINATION = 7

KL_KEY_ID_HEX_LEN = 32
KL_CIPHERTEXT_OVERHEAD = 50
KL_SIGNATURE_DER_MAX_LEN = 72
KL_SIGNATURE_FIXED_LEN = 64
KL_MAC_LEN = 32
KL_AUDIT_HEAD_MAC_HEX_LEN = 64
KL_AUDIT_CHECKPOINT_JSON_MAX = 512
KL_POLICY_DIGEST_HEX_LEN = 64

KEYLIFE_VERSION_MAJOR = 0
KEYLIFE_VERSION_MINOR = 1
KEYLIFE_VERSION_PATCH = 0
KEYLIFE_VERSION = "0.1.0"

# ----- opaque handles -----


class kl_store(ctypes.Structure):
    """Opaque."""


class kl_key(ctypes.Structure):
    """Opaque."""


class kl_secret(ctypes.Structure):
    """Opaque."""


# ----- C types as ctypes (the header test uses this table too) -----

kl_result = c_uint32
P_store = POINTER(kl_store)
P_key = POINTER(kl_key)
P_secret = POINTER(kl_secret)
#: typedef void (*kl_progress_fn)(void *user_data, uint64_t done, uint64_t total);
kl_progress_fn = ctypes.CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)

#: How each C type of the header is declared here.
C_TYPES = {
    "void": None,
    "kl_result": kl_result,
    "uint32_t": c_uint32,
    "uint64_t": c_uint64,
    "size_t": c_size_t,
    # Inputs: bytes (or None for NULL) pass without a copy.
    "const char *": c_char_p,
    "const char * const *": POINTER(c_char_p),
    "const uint8_t *": c_char_p,
    # Outputs: caller buffers (ctypes string buffers).
    "char *": c_void_p,
    "uint8_t *": c_void_p,
    "size_t *": POINTER(c_size_t),
    "uint32_t *": POINTER(c_uint32),
    "uint64_t *": POINTER(c_uint64),
    "void *": c_void_p,
    "kl_progress_fn": kl_progress_fn,
    "const kl_store *": P_store,
    "kl_store *": P_store,
    "kl_store **": POINTER(P_store),
    "const kl_key *": P_key,
    "kl_key *": P_key,
    "kl_key **": POINTER(P_key),
    "const kl_secret *": P_secret,
    "kl_secret *": P_secret,
    "kl_secret **": POINTER(P_secret),
}

#: Return type restype overrides: a returned `const uint8_t *` is an address.
RETURN_TYPES = {"const uint8_t *": c_void_p}

#: Every function of the header: name -> (return C type, [argument C types]).
FUNCTIONS: dict[str, tuple[str, list[str]]] = {
    "kl_result_str": ("const char *", ["uint32_t"]),
    "kl_last_error": ("size_t", ["char *", "size_t"]),
    "kl_version": ("const char *", []),
    "kl_crypto_provider_install": ("kl_result", ["const char *"]),
    "kl_crypto_provider_default": ("const char *", []),
    "kl_store_crypto_provider": ("const char *", ["const kl_store *"]),
    "kl_crypto_provider_fips_mode": ("uint32_t", []),
    "kl_store_fips_mode": ("uint32_t", ["const kl_store *"]),
    "kl_secret_data": ("const uint8_t *", ["const kl_secret *"]),
    "kl_secret_len": ("size_t", ["const kl_secret *"]),
    "kl_secret_free": ("void", ["kl_secret *"]),
    "kl_store_open_memory": ("kl_result", ["const char *", "uint32_t", "kl_store **"]),
    "kl_store_open": (
        "kl_result",
        ["uint32_t", "const char *", "uint32_t", "const uint8_t *", "size_t", "const char *",
         "uint32_t", "kl_store **"],
    ),
    "kl_store_as_principal": (
        "kl_result", ["const kl_store *", "const char *", "kl_store **"]),
    "kl_store_free": ("void", ["kl_store *"]),
    "kl_store_decrypt": (
        "kl_result",
        ["const kl_store *", "const uint8_t *", "size_t", "const uint8_t *", "size_t",
         "uint8_t *", "size_t", "size_t *"],
    ),
    "kl_store_decrypt_file": (
        "kl_result",
        ["const kl_store *", "const char *", "const char *", "const uint8_t *", "size_t",
         "uint64_t *"],
    ),
    "kl_store_decrypt_into": (
        "kl_result",
        ["const kl_store *", "const uint8_t *", "size_t", "const uint8_t *", "size_t",
         "uint8_t *"],
    ),
    "kl_store_list_json": (
        "kl_result",
        ["const kl_store *", "uint32_t", "uint32_t", "const char *", "uint8_t *", "size_t",
         "size_t *"],
    ),
    "kl_store_open_postgres": (
        "kl_result",
        ["const char *", "const char *", "uint32_t", "const uint8_t *", "size_t", "const char *",
         "uint32_t", "kl_store **"],
    ),
    "kl_store_open_passphrase": (
        "kl_result",
        ["uint32_t", "const char *", "const char *", "uint32_t", "uint32_t", "uint32_t",
         "const char *", "uint32_t", "kl_store **"],
    ),
    "kl_store_maintenance": ("kl_result", ["const kl_store *", "size_t *"]),
    "kl_store_rotate_kek": (
        "kl_result", ["const kl_store *", "const uint8_t *", "size_t", "kl_progress_fn", "void *"]),
    "kl_store_kek_rotation_pending": ("kl_result", ["const kl_store *", "uint32_t *"]),
    "kl_key_create": ("kl_result", ["const kl_store *", "uint32_t", "const char *", "kl_key **"]),
    "kl_key_create_ex": (
        "kl_result",
        ["const kl_store *", "uint32_t", "const char *", "const char *", "uint32_t",
         "kl_key **"],
    ),
    "kl_key_create_many": (
        "kl_result",
        ["const kl_store *", "uint32_t", "const char * const *", "size_t", "const char *",
         "uint32_t", "kl_key **"],
    ),
    "kl_key_load": ("kl_result", ["const kl_store *", "const char *", "kl_key **"]),
    "kl_key_free": ("void", ["kl_key *"]),
    "kl_key_id": ("kl_result", ["const kl_key *", "char *", "size_t", "size_t *"]),
    "kl_key_purpose": ("kl_result", ["const kl_key *", "uint32_t *"]),
    "kl_key_state": ("kl_result", ["const kl_key *", "uint32_t *"]),
    "kl_key_info_json": ("kl_result", ["const kl_key *", "uint8_t *", "size_t", "size_t *"]),
    "kl_key_activate": ("kl_result", ["kl_key *"]),
    "kl_key_suspend": ("kl_result", ["kl_key *", "const char *"]),
    "kl_key_set_owner": ("kl_result", ["const kl_key *", "const char *"]),
    "kl_key_resume": ("kl_result", ["kl_key *"]),
    "kl_key_deactivate": ("kl_result", ["kl_key *", "const char *"]),
    "kl_key_compromise": ("kl_result", ["kl_key *", "const char *"]),
    "kl_key_schedule_destruction": ("kl_result", ["kl_key *", "uint64_t", "const char *"]),
    "kl_key_cancel_destruction": ("kl_result", ["kl_key *"]),
    "kl_key_destroy": ("kl_result", ["kl_key *", "const char *"]),
    "kl_key_rotate": ("kl_result", ["const kl_key *", "uint32_t *"]),
    "kl_key_compromise_version": ("kl_result", ["const kl_key *", "uint32_t", "const char *"]),
    "kl_key_destroy_version": ("kl_result", ["const kl_key *", "uint32_t", "const char *"]),
    "kl_key_set_min_decryption_version": ("kl_result", ["const kl_key *", "uint32_t"]),
}
_AEAD = ["const kl_key *", "const uint8_t *", "size_t", "const uint8_t *", "size_t",
         "uint8_t *", "size_t", "size_t *"]
_SIGN = ["const kl_key *", "const uint8_t *", "size_t", "uint8_t *", "size_t", "size_t *"]
_VERIFY = ["const kl_key *", "const uint8_t *", "size_t", "const uint8_t *", "size_t"]
_PUB = ["const kl_key *", "uint8_t *", "size_t", "size_t *"]
_INTO = ["const kl_key *", "const uint8_t *", "size_t", "const uint8_t *", "size_t", "uint8_t *"]
_TEXT = ["uint8_t *", "size_t", "size_t *"]
_RAW = ["const kl_key *", "const uint8_t *", "size_t", "const uint8_t *", "size_t",
        "const uint8_t *", "size_t", "uint8_t *", "size_t", "size_t *"]
FUNCTIONS.update({
    "kl_key_encrypt": ("kl_result", _AEAD),
    "kl_key_decrypt": ("kl_result", _AEAD),
    "kl_key_encrypt_into": ("kl_result", _INTO),
    "kl_key_decrypt_into": ("kl_result", _INTO),
    "kl_key_rewrap": ("kl_result", _AEAD),
    "kl_key_encrypt_file": (
        "kl_result",
        ["const kl_key *", "const char *", "const char *", "const uint8_t *", "size_t",
         "uint64_t *"],
    ),
    "kl_key_sign": ("kl_result", _SIGN),
    "kl_key_sign_fixed": ("kl_result", _SIGN),
    "kl_key_verify": ("kl_result", _VERIFY),
    "kl_key_verify_fixed": ("kl_result", _VERIFY),
    "kl_key_public_key_der": ("kl_result", _PUB),
    "kl_key_public_key_pem": ("kl_result", ["const kl_key *", "char *", "size_t", "size_t *"]),
    "kl_key_public_key_sec1": ("kl_result", _PUB),
    "kl_public_key_verify": (
        "kl_result",
        ["const uint8_t *", "size_t", "const uint8_t *", "size_t", "const uint8_t *", "size_t"],
    ),
    "kl_key_mac": ("kl_result", _SIGN),
    "kl_key_verify_mac": ("kl_result", _VERIFY),
    "kl_key_derive": (
        "kl_result",
        ["const kl_key *", "const uint8_t *", "size_t", "const uint8_t *", "size_t", "size_t",
         "kl_secret **"],
    ),
    "kl_key_agree": (
        "kl_result",
        ["const kl_key *", "const uint8_t *", "size_t", "const uint8_t *", "size_t",
         "const uint8_t *", "size_t", "size_t", "kl_secret **"],
    ),
})

FUNCTIONS.update({
    # audit and integrity
    "kl_store_flush_audit": ("kl_result", ["const kl_store *"]),
    "kl_store_verify_audit": (
        "kl_result",
        ["const kl_store *", "uint64_t *", "uint64_t *", "char *", "size_t", "size_t *"],
    ),
    "kl_store_export_audit_jsonl": (
        "kl_result", ["const kl_store *", "uint64_t", "uint64_t"] + _TEXT),
    "kl_store_audit_checkpoint": ("kl_result", ["const kl_store *", "const kl_key *"] + _TEXT),
    "kl_store_verify_audit_checkpoint": (
        "kl_result", ["const kl_store *", "const char *", "const kl_key *", "uint64_t *"]),
    "kl_audit_checkpoint_verify": ("kl_result", ["const char *", "const uint8_t *", "size_t"]),
    "kl_store_verify_integrity": ("kl_result", ["const kl_store *", "uint64_t *", "uint64_t *"]),
    # governance
    "kl_store_set_policy_toml": ("kl_result", ["const kl_store *", "const char *"]),
    "kl_store_policy_toml": ("kl_result", ["const kl_store *", "char *", "size_t", "size_t *"]),
    "kl_policy_digest": ("kl_result", ["const char *", "char *", "size_t", "size_t *"]),
    "kl_store_compliance_report_json": ("kl_result", ["const kl_store *"] + _TEXT),
    "kl_store_register_principal": ("kl_result", ["const kl_store *", "const char *", "uint32_t"]),
    "kl_store_register_approver": (
        "kl_result", ["const kl_store *", "const char *", "const uint8_t *", "size_t"]),
    "kl_key_grant": ("kl_result", ["const kl_key *", "const char *", "uint32_t", "uint64_t"]),
    "kl_key_revoke_grant": ("kl_result", ["const kl_key *", "const char *"]),
    "kl_store_request_approval": (
        "kl_result",
        ["const kl_store *", "uint32_t", "const char *", "const char *", "uint64_t"] + _TEXT,
    ),
    "kl_store_submit_approvals": ("kl_result", ["const kl_store *", "const char *", "const char *"]),
    "kl_key_approve": ("kl_result", ["const kl_key *", "const char *", "const char *"] + _TEXT),
    "kl_approval_request_canonical_bytes": ("kl_result", ["const char *"] + _TEXT),
})

#: Declared under `#if defined(KEYLIFE_HAZMAT)`: present only in hazmat builds.
HAZMAT_FUNCTIONS: dict[str, tuple[str, list[str]]] = {
    "kl_key_hazmat_export_raw": ("kl_result", ["const kl_key *", "kl_secret **"]),
    "kl_key_hazmat_import_raw": (
        "kl_result",
        ["const kl_store *", "uint32_t", "const char *", "const uint8_t *", "size_t",
         "uint32_t", "kl_key **"],
    ),
    "kl_key_hazmat_encrypt_assume_unique_nonce": ("kl_result", _RAW),
    "kl_key_hazmat_decrypt_raw": ("kl_result", _RAW),
}

# ----- loading -----

_NAMES = {"linux": "libkeylife.so", "darwin": "libkeylife.dylib", "win32": "keylife.dll"}


def _candidates() -> list[Path]:
    name = _NAMES.get(sys.platform, "libkeylife.so")
    here = Path(__file__).resolve().parent
    out = [here / name]
    env = os.environ.get("KEYLIFE_LIB")
    if env:
        out.append(Path(env))
    target = os.environ.get("CARGO_TARGET_DIR")
    roots = [Path(target)] if target else []
    roots.append(here.parent.parent.parent / "target")
    for root in roots:
        built = [root / p / name for p in ("debug", "release")]
        built = [b for b in built if b.exists()]
        out.extend(sorted(built, key=lambda b: b.stat().st_mtime, reverse=True))
    return out


def _load() -> tuple[ctypes.CDLL, Path]:
    tried = []
    for path in _candidates():
        if path.exists():
            return ctypes.CDLL(str(path)), path
        tried.append(str(path))
    raise OSError(
        "libkeylife not found; build it with `cargo build` or set KEYLIFE_LIB. Tried: "
        + ", ".join(tried)
    )


lib, LIBRARY_PATH = _load()


def _declare(name: str, ret: str, args: list[str]) -> None:
    fn = getattr(lib, name)
    fn.restype = RETURN_TYPES.get(ret, C_TYPES[ret])
    fn.argtypes = [C_TYPES[a] for a in args]


for _name, (_ret, _args) in FUNCTIONS.items():
    _declare(_name, _ret, _args)

# ----- the hot path -----
#
# ctypes converts every argument through its `argtypes` entry's
# `from_param`, which costs more than the call itself for small messages
# (measured: 8 arguments with argtypes ~2.2 µs, without ~0.7 µs). The hot
# calls therefore also exist as unchecked twins — the same symbols, fetched
# anew (``lib[name]`` returns a fresh function object) with ``argtypes =
# None`` — which callers must pass exactly the C types: a ``c_void_p``
# handle, ``bytes``, ``c_size_t`` lengths and a ``c_char`` array. Only
# keylife/key.py (Key.encrypt/decrypt) and keylife/store.py (Store.decrypt)
# call them, and tests/test_hot_path.py covers every path. The declared
# functions above stay as they are (the header test checks them).

#: kl_key_encrypt_into / kl_key_decrypt_into / kl_store_decrypt_into, unchecked.
HOT = {}
for _name in ("kl_key_encrypt_into", "kl_key_decrypt_into", "kl_store_decrypt_into"):
    _fn = lib[_name]
    _fn.restype = kl_result
    _fn.argtypes = None  # type: ignore[assignment]  # typeshed omits None (no conversion)
    HOT[_name] = _fn

#: Whether this library was built with the `hazmat` feature.
HAZMAT = all(hasattr(lib, n) for n in HAZMAT_FUNCTIONS)
if HAZMAT:
    for _name, (_ret, _args) in HAZMAT_FUNCTIONS.items():
        _declare(_name, _ret, _args)
