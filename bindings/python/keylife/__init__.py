"""keylife: the whole life of a cryptographic key, in-process.

Python bindings over the C ABI (``include/keylife.h``) with ctypes.

>>> import keylife
>>> with keylife.Store.memory("ops") as store:
...     key = store.create(keylife.Purpose.AEAD, "orders")
...     key.activate()
...     ct = key.encrypt(b"order #1", aad=b"tenant=7")
...     store.decrypt(ct, aad=b"tenant=7")
b'order #1'

Handles (``Store``, ``Key``) free their C object on ``close()``, at the end of
a ``with`` block, or when garbage-collected. Secrets (``derive``, ``agree``,
``hazmat_export_raw``) are returned as ``bytearray`` so callers can wipe them.
Errors are ``KeylifeError`` subclasses, one per result code.
"""

from __future__ import annotations

import ctypes
import enum
import json
from ctypes import byref, c_size_t, c_uint32

from . import _ffi, errors
from ._ffi import lib
from .errors import (  # noqa: F401  (re-exported)
    AlreadyConsumedError,
    AlreadyExistsError,
    ApprovalRequiredError,
    AuthenticationError,
    BufferTooSmallError,
    ClosedError,
    ConflictError,
    IntegrityError,
    InternalError,
    InvalidArgumentError,
    KeylifeError,
    MalformedError,
    NotFoundError,
    NullPointerError,
    PanicError,
    PermissionDeniedError,
    PolicyError,
    StorageError,
    UnsupportedError,
    UnsupportedVersionError,
    UsageLimitExceededError,
    VersionUnavailableError,
    WrongKekError,
    WrongPurposeError,
    WrongStateError,
    check,
)

__version__ = _ffi.KEYLIFE_VERSION
HAZMAT = _ffi.HAZMAT


def library_version() -> str:
    """The version of the loaded C library."""
    return lib.kl_version().decode()


class Purpose(enum.IntEnum):
    AEAD = _ffi.KL_PURPOSE_AEAD
    SIGNING = _ffi.KL_PURPOSE_SIGNING
    MAC = _ffi.KL_PURPOSE_MAC
    AGREEMENT = _ffi.KL_PURPOSE_AGREEMENT
    DERIVATION = _ffi.KL_PURPOSE_DERIVATION


class State(enum.IntEnum):
    PRE_ACTIVE = _ffi.KL_STATE_PRE_ACTIVE
    ACTIVE = _ffi.KL_STATE_ACTIVE
    SUSPENDED = _ffi.KL_STATE_SUSPENDED
    DEACTIVATED = _ffi.KL_STATE_DEACTIVATED
    COMPROMISED = _ffi.KL_STATE_COMPROMISED
    PENDING_DESTRUCTION = _ffi.KL_STATE_PENDING_DESTRUCTION
    DESTROYED = _ffi.KL_STATE_DESTROYED
    DESTROYED_COMPROMISED = _ffi.KL_STATE_DESTROYED_COMPROMISED


class Role(enum.IntEnum):
    ADMINISTRATOR = _ffi.KL_ROLE_ADMINISTRATOR
    OPERATOR = _ffi.KL_ROLE_OPERATOR
    APPLICATION = _ffi.KL_ROLE_APPLICATION
    AUDITOR = _ffi.KL_ROLE_AUDITOR
    CUSTODIAN = _ffi.KL_ROLE_CUSTODIAN


# ----- helpers -----


def _b(data) -> bytes:
    """Bytes-like input as something ctypes passes as `const uint8_t *`."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError("expected bytes, not str (encode it first)")
    return bytes(data)


def _s(text: str) -> bytes:
    return text.encode("utf-8")


def _fill(fn, *args, size: int = 256, text: bool = False):
    """Calls a `(out, out_cap, out_len)` function; retries once with the size
    the library asks for."""
    n = c_size_t(0)
    buf = ctypes.create_string_buffer(max(size, 1))
    r = fn(*args, buf, size, byref(n))
    if r == _ffi.KL_ERR_BUFFER_TOO_SMALL:
        size = n.value
        buf = ctypes.create_string_buffer(size)
        r = fn(*args, buf, size, byref(n))
    check(r)
    if text:
        return buf.raw[: n.value - 1].decode("utf-8")
    return buf.raw[: n.value]


_OVERHEAD = _ffi.KL_CIPHERTEXT_OVERHEAD
_buffer = ctypes.create_string_buffer
_encrypt = lib.kl_key_encrypt
_decrypt = lib.kl_key_decrypt


def _take_secret(ptr) -> bytearray:
    """Copies a kl_secret into a bytearray and frees (zeroizes) it."""
    try:
        n = lib.kl_secret_len(ptr)
        addr = lib.kl_secret_data(ptr)
        return bytearray((ctypes.c_uint8 * n).from_address(addr)) if n else bytearray()
    finally:
        lib.kl_secret_free(ptr)


class Managed:
    """A Python object owning one C handle: ``close()``, ``with``, and a
    ``__del__`` fallback."""

    _free = None  # the kl_*_free function

    def __init__(self, ptr):
        self._ptr = ptr

    @property
    def _handle(self):
        if self._ptr is None:
            raise ClosedError(f"this {type(self).__name__} is closed")
        return self._ptr

    def close(self) -> None:
        """Frees the C handle. Idempotent."""
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr is not None:
            type(self)._free(ptr)

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


class Store(Managed):
    """A key store handle acting for one principal (a name and a role).

    Thread-safe; keys loaded through it keep the store alive after close().
    """

    _free = staticmethod(lib.kl_store_free)

    @classmethod
    def memory(cls, principal: str = "python", role: Role = Role.ADMINISTRATOR) -> "Store":
        """A new in-memory store (gone when the last handle closes)."""
        out = _ffi.P_store()
        check(lib.kl_store_open_memory(_s(principal), int(role), byref(out)))
        return cls(out)

    @classmethod
    def open(
        cls,
        path: str,
        kek: bytes | None = None,
        *,
        passphrase: str | None = None,
        backend: str = "sqlite",
        principal: str = "python",
        role: Role = Role.ADMINISTRATOR,
    ) -> "Store":
        """Opens (creating when missing) a store at ``path`` (``backend`` is
        ``"sqlite"`` or ``"file"``), unlocked with a 32-byte raw ``kek`` or a
        ``passphrase``."""
        backends = {"file": _ffi.KL_BACKEND_FILE, "sqlite": _ffi.KL_BACKEND_SQLITE}
        if backend not in backends:
            raise InvalidArgumentError(f"unknown backend {backend!r}")
        if (kek is None) == (passphrase is None):
            raise InvalidArgumentError("give exactly one of kek and passphrase")
        kind, secret = (
            (_ffi.KL_KEK_RAW, _b(kek)) if kek is not None else (_ffi.KL_KEK_PASSPHRASE, _s(passphrase))
        )
        out = _ffi.P_store()
        check(
            lib.kl_store_open(
                backends[backend], _s(str(path)), kind, secret, len(secret), _s(principal),
                int(role), byref(out),
            )
        )
        return cls(out)

    def as_principal(self, name: str, role: Role) -> "Store":
        """Another handle on the same store, acting for ``name`` as ``role``."""
        out = _ffi.P_store()
        check(lib.kl_store_as_principal(self._handle, _s(name), int(role), byref(out)))
        return Store(out)

    def create(
        self,
        purpose: Purpose,
        name: str,
        *,
        owner: str = "",
        exportable: bool = False,
        suspended_processing: bool = True,
    ) -> "Key":
        """Creates a key (PreActive) with fresh material."""
        flags = (_ffi.KL_CREATE_EXPORTABLE if exportable else 0) | (
            0 if suspended_processing else _ffi.KL_CREATE_NO_SUSPENDED_PROCESSING
        )
        out = _ffi.P_key()
        check(lib.kl_key_create_ex(self._handle, int(purpose), _s(name), _s(owner), flags, byref(out)))
        return Key(out)

    def load(self, key_id: str) -> "Key":
        """Loads a key by its 32-hex-digit id, in its live state."""
        out = _ffi.P_key()
        check(lib.kl_key_load(self._handle, _s(key_id), byref(out)))
        return Key(out)

    def decrypt(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """Decrypts any keylife ciphertext (the header names the key)."""
        ct, aad = _b(ciphertext), _b(aad)
        size = max(len(ct) - _ffi.KL_CIPHERTEXT_OVERHEAD, 0)
        return _fill(lib.kl_store_decrypt, self._handle, ct, len(ct), aad, len(aad), size=size)

    def list(self, purpose: Purpose | None = None, state: State | None = None, owner: str = "") -> list:
        """Inventory: the metadata (dicts) of every key matching the filter."""
        raw = _fill(
            lib.kl_store_list_json, self._handle, int(purpose or 0), int(state or 0), _s(owner),
            size=4096, text=True,
        )
        return json.loads(raw)

    def maintenance(self) -> int:
        """Applies due date-driven transitions; returns how many keys changed."""
        n = c_size_t(0)
        check(lib.kl_store_maintenance(self._handle, byref(n)))
        return n.value

    def hazmat_import_raw(self, purpose: Purpose, name: str, material, *, exportable: bool = False) -> "Key":
        """**Security warning**: material that existed outside keylife may have
        been copied. Imports raw key material as a PreActive key (hazmat builds)."""
        _need_hazmat()
        m = _b(material)
        out = _ffi.P_key()
        flags = _ffi.KL_CREATE_EXPORTABLE if exportable else 0
        check(lib.kl_key_hazmat_import_raw(self._handle, int(purpose), _s(name), m, len(m), flags, byref(out)))
        return Key(out)


def _need_hazmat() -> None:
    if not HAZMAT:
        raise UnsupportedError("this libkeylife was built without the `hazmat` feature")


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verifies a DER ECDSA P-256/SHA-256 signature with a public key given as
    SPKI DER or a SEC 1 point. Raises AuthenticationError if invalid."""
    pk, m, s = _b(public_key), _b(message), _b(signature)
    check(lib.kl_public_key_verify(pk, len(pk), m, len(m), s, len(s)))


class Key(Managed):
    """A handle on one key. Transitions change it in place; one that is
    attempted and fails consumes it (``AlreadyConsumedError`` afterwards;
    ``id`` still works, so ``store.load(key.id)`` gets it back)."""

    _free = staticmethod(lib.kl_key_free)

    def __repr__(self) -> str:
        if self.closed:
            return "Key(closed)"
        try:
            return f"Key(id={self.id}, purpose={self.purpose.name}, state={self.state.name})"
        except KeylifeError:
            return f"Key(id={self.id}, consumed)"

    # ----- metadata -----

    @property
    def id(self) -> str:
        return _fill(lib.kl_key_id, self._handle, size=_ffi.KL_KEY_ID_HEX_LEN + 1, text=True)

    @property
    def purpose(self) -> Purpose:
        v = c_uint32(0)
        check(lib.kl_key_purpose(self._handle, byref(v)))
        return Purpose(v.value)

    @property
    def state(self) -> State:
        v = c_uint32(0)
        check(lib.kl_key_state(self._handle, byref(v)))
        return State(v.value)

    def info(self) -> dict:
        """Everything keylife knows about the key except its material."""
        return json.loads(_fill(lib.kl_key_info_json, self._handle, size=2048, text=True))

    # ----- transitions -----

    def activate(self) -> None:
        check(lib.kl_key_activate(self._handle))

    def suspend(self, reason: str = "") -> None:
        check(lib.kl_key_suspend(self._handle, _s(reason)))

    def resume(self) -> None:
        check(lib.kl_key_resume(self._handle))

    def deactivate(self, reason: str = "") -> None:
        check(lib.kl_key_deactivate(self._handle, _s(reason)))

    def compromise(self, reason: str = "") -> None:
        check(lib.kl_key_compromise(self._handle, _s(reason)))

    def schedule_destruction(self, wait_seconds: int, reason: str = "") -> None:
        check(lib.kl_key_schedule_destruction(self._handle, int(wait_seconds), _s(reason)))

    def cancel_destruction(self) -> None:
        check(lib.kl_key_cancel_destruction(self._handle))

    def destroy(self, reason: str = "") -> None:
        check(lib.kl_key_destroy(self._handle, _s(reason)))

    def rotate(self) -> int:
        v = c_uint32(0)
        check(lib.kl_key_rotate(self._handle, byref(v)))
        return v.value

    # ----- AEAD -----

    # encrypt and decrypt know their output size exactly: one call, no
    # retry, no generic helper (the hot path; see the benchmark note in
    # bindings/python/README.md).

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        pt = plaintext if type(plaintext) is bytes else _b(plaintext)
        aad = aad if type(aad) is bytes else _b(aad)
        size = len(pt) + _OVERHEAD
        buf = _buffer(size)
        n = c_size_t()
        r = _encrypt(self._handle, pt, len(pt), aad, len(aad), buf, size, byref(n))
        if r:
            raise errors.error_for(r)
        return buf.raw

    def decrypt(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        ct = ciphertext if type(ciphertext) is bytes else _b(ciphertext)
        aad = aad if type(aad) is bytes else _b(aad)
        size = max(len(ct) - _OVERHEAD, 0)
        buf = _buffer(size)
        n = c_size_t()
        r = _decrypt(self._handle, ct, len(ct), aad, len(aad), buf, size, byref(n))
        if r:
            raise errors.error_for(r)
        return buf.raw[: n.value]

    def rewrap(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        ct, aad = _b(ciphertext), _b(aad)
        return _fill(lib.kl_key_rewrap, self._handle, ct, len(ct), aad, len(aad), size=len(ct))

    # ----- signatures, MAC -----

    def sign(self, message: bytes, *, fixed: bool = False) -> bytes:
        m = _b(message)
        if fixed:
            return _fill(lib.kl_key_sign_fixed, self._handle, m, len(m), size=_ffi.KL_SIGNATURE_FIXED_LEN)
        return _fill(lib.kl_key_sign, self._handle, m, len(m), size=_ffi.KL_SIGNATURE_DER_MAX_LEN)

    def verify(self, message: bytes, signature: bytes, *, fixed: bool = False) -> None:
        """Raises AuthenticationError unless the signature is valid."""
        m, s = _b(message), _b(signature)
        fn = lib.kl_key_verify_fixed if fixed else lib.kl_key_verify
        check(fn(self._handle, m, len(m), s, len(s)))

    def public_key_der(self) -> bytes:
        return _fill(lib.kl_key_public_key_der, self._handle, size=128)

    def public_key_pem(self) -> str:
        return _fill(lib.kl_key_public_key_pem, self._handle, size=256, text=True)

    def public_key_sec1(self) -> bytes:
        return _fill(lib.kl_key_public_key_sec1, self._handle, size=65)

    def mac(self, message: bytes) -> bytes:
        m = _b(message)
        return _fill(lib.kl_key_mac, self._handle, m, len(m), size=_ffi.KL_MAC_LEN)

    def verify_mac(self, message: bytes, tag: bytes) -> None:
        m, t = _b(message), _b(tag)
        check(lib.kl_key_verify_mac(self._handle, m, len(m), t, len(t)))

    # ----- secrets out -----

    def derive(self, length: int, context: bytes = b"", salt: bytes = b"") -> bytearray:
        """HKDF-SHA-256 output, as a bytearray the caller can wipe."""
        s, c = _b(salt), _b(context)
        out = _ffi.P_secret()
        check(lib.kl_key_derive(self._handle, s, len(s), c, len(c), length, byref(out)))
        return _take_secret(out)

    def agree(self, peer_public_key: bytes, length: int, context: bytes = b"", salt: bytes = b"") -> bytearray:
        """ECDH with the peer's public key (SPKI DER or SEC 1), through HKDF."""
        p, s, c = _b(peer_public_key), _b(salt), _b(context)
        out = _ffi.P_secret()
        check(lib.kl_key_agree(self._handle, p, len(p), s, len(s), c, len(c), length, byref(out)))
        return _take_secret(out)

    # ----- hazmat -----

    def hazmat_export_raw(self) -> bytearray:
        """**Security warning**: the returned bytes are the key."""
        _need_hazmat()
        out = _ffi.P_secret()
        check(lib.kl_key_hazmat_export_raw(self._handle, byref(out)))
        return _take_secret(out)

    def hazmat_encrypt_assume_unique_nonce(self, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """**Security warning**: a repeated nonce breaks AES-GCM. Raw
        ``ciphertext || tag``, no keylife header."""
        _need_hazmat()
        n, pt, a = _b(nonce), _b(plaintext), _b(aad)
        return _fill(
            lib.kl_key_hazmat_encrypt_assume_unique_nonce, self._handle, n, len(n), pt, len(pt),
            a, len(a), size=len(pt) + 16,
        )

    def hazmat_decrypt_raw(self, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        _need_hazmat()
        n, ct, a = _b(nonce), _b(ciphertext), _b(aad)
        return _fill(
            lib.kl_key_hazmat_decrypt_raw, self._handle, n, len(n), ct, len(ct), a, len(a),
            size=max(len(ct) - 16, 0),
        )
