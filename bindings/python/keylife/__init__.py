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

Governance and audit: ``Store.set_policy`` (TOML), ``Store.compliance_report``,
``Store.register_principal`` and ``Key.grant`` (``Operation`` flags),
``Store.request_approval`` / ``Key.approve`` / ``Store.submit_approvals`` (dual
control), ``Store.verify_audit``, ``Store.export_audit_jsonl``,
``Store.audit_checkpoint``, ``Store.verify_integrity``, ``Store.rotate_kek``.
"""

from __future__ import annotations

import ctypes
import datetime
import enum
import json
from ctypes import byref, c_size_t, c_uint32, c_uint64
from typing import Callable, Iterable, NamedTuple, Optional, Union

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


def install_crypto_provider(name: str) -> None:
    """Makes the crypto provider ``name`` the process default: ``"rustcrypto"``
    (pure Rust, the default) or ``"aws-lc"`` (AWS-LC's assembly AES-GCM and
    P-256, in libraries built with the ``aws-lc`` feature). Stores opened
    afterwards run on it. Call it once, before opening stores; installing the
    installed provider again is a no-op.

    Raises ``UnsupportedError`` for ``"aws-lc"`` in a library built without
    it, ``InvalidArgumentError`` for an unknown name, ``ConflictError`` when
    another provider was installed before.
    """
    check(lib.kl_crypto_provider_install(_s(name)))


def default_crypto_provider() -> str:
    """The name of the process's default crypto provider."""
    return lib.kl_crypto_provider_default().decode()


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


class Operation(enum.IntFlag):
    """Use operations a grant allows; combine with ``|``."""

    ENCRYPT = _ffi.KL_OP_ENCRYPT
    DECRYPT = _ffi.KL_OP_DECRYPT
    REWRAP = _ffi.KL_OP_REWRAP
    SIGN = _ffi.KL_OP_SIGN
    VERIFY = _ffi.KL_OP_VERIFY
    MAC = _ffi.KL_OP_MAC
    VERIFY_MAC = _ffi.KL_OP_VERIFY_MAC
    DERIVE = _ffi.KL_OP_DERIVE
    AGREE = _ffi.KL_OP_AGREE


class ApprovalOperation(enum.IntEnum):
    """Operations a policy can put under dual control."""

    DESTROY = _ffi.KL_APPROVAL_DESTROY
    SCHEDULE_DESTRUCTION = _ffi.KL_APPROVAL_SCHEDULE_DESTRUCTION
    EXPORT = _ffi.KL_APPROVAL_EXPORT
    RESTORE = _ffi.KL_APPROVAL_RESTORE
    POLICY_CHANGE = _ffi.KL_APPROVAL_POLICY_CHANGE
    COMPROMISED_DECRYPT = _ffi.KL_APPROVAL_COMPROMISED_DECRYPT


class AuditVerification(NamedTuple):
    """What ``Store.verify_audit`` found in an intact log."""

    entries: int
    head_seq: int
    head_mac: str


class IntegrityReport(NamedTuple):
    """What ``Store.verify_integrity`` checked."""

    keys: int
    audit_entries: int


class Argon2Params(NamedTuple):
    """Argon2id costs (RFC 9106) for a new passphrase store."""

    memory_kib: int
    iterations: int
    parallelism: int


#: RFC 9106 §4's second recommendation, what ``Store.open`` uses by default.
ARGON2_RECOMMENDED = Argon2Params(64 * 1024, 3, 4)


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


# ----- the hot path (see _ffi.HOT) -----

_OVERHEAD = _ffi.KL_CIPHERTEXT_OVERHEAD
_ZERO = c_size_t(0)  # passed by value, never written: safe to share
_encrypt_into = _ffi.HOT["kl_key_encrypt_into"]
_decrypt_into = _ffi.HOT["kl_key_decrypt_into"]
_store_decrypt = _ffi.HOT["kl_store_decrypt"]

# Per input length, the ctypes objects a call needs besides the data: the
# length as a c_size_t (passed by value, never written, so shared between
# threads) and the type of the exact-size output array. One dict lookup
# replaces two constructions (measured ~0.25 µs a call). Bounded, so odd
# sizes cannot grow it without limit.
_CACHE_MAX = 4096
_ENC: dict = {}  # plaintext length -> (c_size_t(len), c_char * (len + overhead))
_DEC: dict = {}  # ciphertext length -> (c_size_t(len), c_char * (len - overhead))
_LEN: dict = {}  # length -> c_size_t(length)


def _shape(cache: dict, n: int, out_len: int):
    sh = (c_size_t(n), ctypes.c_char * max(out_len, 1))
    if len(cache) < _CACHE_MAX:
        cache[n] = sh
    return sh


def _length(n: int):
    # Only for n >= 1: a c_size_t(0) is falsy, so `_LEN.get(0) or ...`
    # would miss every time (empty inputs use _ZERO instead).
    v = c_size_t(n)
    if len(_LEN) < _CACHE_MAX:
        _LEN[n] = v
    return v


def _text(data) -> bytes:
    """A str (or bytes) as NUL-terminated UTF-8 input."""
    return data.encode("utf-8") if isinstance(data, str) else _b(data)


def _millis(when) -> int:
    """None, a timezone-aware datetime, or milliseconds since the epoch."""
    if when is None:
        return 0
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            raise InvalidArgumentError("expires_at must be timezone-aware (e.g. tz=timezone.utc)")
        return int(when.timestamp() * 1000)
    ms = int(when)
    if ms <= 0:
        raise InvalidArgumentError("expires_at must be after the Unix epoch")
    return ms


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
        # The same address as a c_void_p, for the unchecked hot-path calls.
        self._fast = ctypes.c_void_p(ctypes.cast(ptr, ctypes.c_void_p).value)

    @property
    def _handle(self):
        if self._ptr is None:
            raise ClosedError(f"this {type(self).__name__} is closed")
        return self._ptr

    def close(self) -> None:
        """Frees the C handle. Idempotent."""
        self._fast = None
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
        argon2: Optional[Argon2Params] = None,
    ) -> "Store":
        """Opens (creating when missing) a store at ``path`` (``backend`` is
        ``"sqlite"`` or ``"file"``), unlocked with a 32-byte raw ``kek`` or a
        ``passphrase``. ``argon2`` sets the Argon2id costs of a passphrase
        store this call creates (default ``ARGON2_RECOMMENDED``; an existing
        store keeps the costs in its header)."""
        backends = {"file": _ffi.KL_BACKEND_FILE, "sqlite": _ffi.KL_BACKEND_SQLITE}
        if backend not in backends:
            raise InvalidArgumentError(f"unknown backend {backend!r}")
        if (kek is None) == (passphrase is None):
            raise InvalidArgumentError("give exactly one of kek and passphrase")
        if argon2 is not None:
            if passphrase is None:
                raise InvalidArgumentError("argon2 costs apply to passphrase stores only")
            m, t, p = (int(x) for x in argon2)
            out = _ffi.P_store()
            check(
                lib.kl_store_open_passphrase(
                    backends[backend], _s(str(path)), _s(passphrase), m, t, p, _s(principal),
                    int(role), byref(out),
                )
            )
            return cls(out)
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
        sv = self._fast
        if sv is None:
            raise ClosedError("this Store is closed")
        ct = ciphertext if type(ciphertext) is bytes else _b(ciphertext)
        if aad:
            aad = aad if type(aad) is bytes else _b(aad)
            aad_len = _LEN.get(len(aad)) or _length(len(aad))
        else:
            aad, aad_len = None, _ZERO
        n = len(ct)
        ct_len, out_type = _DEC.get(n) or _shape(_DEC, n, n - _OVERHEAD)
        pt_len = (_LEN.get(n - _OVERHEAD) or _length(n - _OVERHEAD)) if n > _OVERHEAD else _ZERO
        out = out_type()
        got = c_size_t()
        r = _store_decrypt(sv, ct, ct_len, aad, aad_len, out, pt_len, byref(got))
        if r:
            raise errors.error_for(r)
        return out.raw if n > _OVERHEAD else b""

    def list(self, purpose: Purpose | None = None, state: State | None = None, owner: str = "") -> list:
        """Inventory: the metadata (dicts) of every key matching the filter."""
        raw = _fill(
            lib.kl_store_list_json, self._handle, int(purpose or 0), int(state or 0), _s(owner),
            size=4096, text=True,
        )
        return json.loads(raw)

    @property
    def crypto_provider(self) -> str:
        """The name of the crypto provider this store runs on."""
        return lib.kl_store_crypto_provider(self._handle).decode()

    def maintenance(self) -> int:
        """Applies due date-driven transitions; returns how many keys changed."""
        n = c_size_t(0)
        check(lib.kl_store_maintenance(self._handle, byref(n)))
        return n.value

    # ----- audit and integrity -----

    def flush_audit(self) -> None:
        """Writes buffered audit entries to the store now."""
        check(lib.kl_store_flush_audit(self._handle))

    def verify_audit(self) -> AuditVerification:
        """Verifies the whole tamper-evident audit log (seals, MACs, links,
        sequence, head); raises IntegrityError naming the first broken entry.
        Auditors and administrators. The verification is itself audited."""
        n, seq, got = c_uint64(), c_uint64(), c_size_t()
        mac = ctypes.create_string_buffer(_ffi.KL_AUDIT_HEAD_MAC_HEX_LEN + 1)
        check(lib.kl_store_verify_audit(self._handle, byref(n), byref(seq), mac, len(mac), byref(got)))
        return AuditVerification(n.value, seq.value, mac.value.decode("ascii"))

    def export_audit_jsonl(self, from_seq: int = 1, to_seq: Optional[int] = None) -> str:
        """The verified audit log as JSON Lines (one entry per line), entries
        ``from_seq`` to ``to_seq`` (default: the head when this call starts;
        reading the log adds an entry, which the next export includes)."""
        if to_seq is None:
            to_seq = self.verify_audit().head_seq
        if from_seq > to_seq:
            return ""
        return _fill(
            lib.kl_store_export_audit_jsonl, self._handle, int(from_seq), int(to_seq),
            size=4096, text=True,
        )

    def audit_entries(self, from_seq: int = 1, to_seq: Optional[int] = None) -> list:
        """The verified audit entries as dicts (see ``export_audit_jsonl``)."""
        return [json.loads(line) for line in self.export_audit_jsonl(from_seq, to_seq).splitlines()]

    def audit_checkpoint(self, signer: "Key") -> str:
        """Signs the audit log's head with an Active signing key; returns the
        checkpoint JSON to keep outside the store."""
        return _fill(
            lib.kl_store_audit_checkpoint, self._handle, signer._handle,
            size=_ffi.KL_AUDIT_CHECKPOINT_JSON_MAX, text=True,
        )

    def verify_audit_checkpoint(self, checkpoint: str, signer: "Key") -> int:
        """Checks a checkpoint's signature with ``signer`` (any of its
        versions), then that the log still holds the entry it vouches for.
        Returns the number of entries now in the log. Raises
        AuthenticationError for a bad signature, IntegrityError for a log cut
        back or rewritten."""
        n = c_uint64()
        check(lib.kl_store_verify_audit_checkpoint(self._handle, _text(checkpoint), signer._handle, byref(n)))
        return n.value

    def verify_integrity(self) -> IntegrityReport:
        """Checks every stored key record against the audit log (a record
        restored from an older copy, or deleted, fails with IntegrityError)."""
        keys, entries = c_uint64(), c_uint64()
        check(lib.kl_store_verify_integrity(self._handle, byref(keys), byref(entries)))
        return IntegrityReport(keys.value, entries.value)

    # ----- governance -----

    def set_policy(self, toml: str) -> None:
        """Puts a TOML policy in force (its version must increase). Raises
        PolicyError with the line and field for an invalid policy."""
        check(lib.kl_store_set_policy_toml(self._handle, _text(toml)))

    def policy(self) -> Optional[str]:
        """The policy in force as canonical TOML, or None when none was set."""
        try:
            return _fill(lib.kl_store_policy_toml, self._handle, size=1024, text=True)
        except NotFoundError:
            return None

    def compliance_report(self) -> dict:
        """Every key checked against the policy in force."""
        return json.loads(_fill(lib.kl_store_compliance_report_json, self._handle, size=4096, text=True))

    def register_principal(self, name: str, role: Role = Role.APPLICATION) -> None:
        """Registers a principal so grants can name it (administrators)."""
        check(lib.kl_store_register_principal(self._handle, _s(name), int(role)))

    def register_approver(self, name: str, public_key: bytes) -> None:
        """Registers an approver's P-256 public key (SPKI DER or SEC 1)."""
        pk = _b(public_key)
        check(lib.kl_store_register_approver(self._handle, _s(name), pk, len(pk)))

    def request_approval(
        self,
        operation: ApprovalOperation,
        key: Union["Key", str, None] = None,
        parameters: Optional[dict] = None,
        ttl_seconds: int = 3600,
    ) -> str:
        """Starts a dual-control request; returns its JSON for the approvers."""
        key_id = key.id if isinstance(key, Key) else (key or "")
        params = json.dumps(parameters) if parameters else ""
        return _fill(
            lib.kl_store_request_approval, self._handle, int(operation), _s(key_id), _s(params),
            int(ttl_seconds), size=1024, text=True,
        )

    def submit_approvals(self, request: str, approvals: Iterable[Union[str, dict]]) -> None:
        """Submits approvals (JSON strings from ``Key.approve`` or dicts) for a
        request this principal made; the approved operation consumes them."""
        items = [a if isinstance(a, str) else json.dumps(a) for a in approvals]
        check(lib.kl_store_submit_approvals(self._handle, _text(request), _text("[" + ",".join(items) + "]")))

    # ----- KEK -----

    def rotate_kek(self, new_kek: bytes, progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Moves the store to a new 32-byte raw KEK, re-sealing every record;
        ``progress(done, total)`` is called as it goes (it must not call
        keylife on this store). An exception raised by ``progress`` does not
        stop the rotation; it is re-raised when the rotation returns."""
        k = _b(new_kek)
        raised = []
        cb = _ffi.kl_progress_fn()  # a NULL function pointer: no progress
        if progress is not None:
            def trampoline(_user_data, done, total):
                try:
                    progress(done, total)
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    if not raised:
                        raised.append(e)

            cb = _ffi.kl_progress_fn(trampoline)
        check(lib.kl_store_rotate_kek(self._handle, k, len(k), cb, None))
        if raised:
            raise raised[0]

    def kek_rotation_pending(self) -> bool:
        """Whether an interrupted KEK rotation should be finished."""
        v = c_uint32()
        check(lib.kl_store_kek_rotation_pending(self._handle, byref(v)))
        return bool(v.value)

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


def policy_digest(toml: str) -> str:
    """The digest (hex SHA-256 of the canonical form) of a TOML policy: the
    ``policy_digest`` parameter of a POLICY_CHANGE approval request."""
    return _fill(lib.kl_policy_digest, _text(toml), size=_ffi.KL_POLICY_DIGEST_HEX_LEN + 1, text=True)


def approval_request_canonical_bytes(request: str) -> bytes:
    """The exact bytes an approver signs for a request (ECDSA P-256/SHA-256)."""
    return _fill(lib.kl_approval_request_canonical_bytes, _text(request), size=512)


def verify_audit_checkpoint_signature(checkpoint: str, public_key: bytes) -> None:
    """Checks only a checkpoint's signature with the signer's public key (SPKI
    DER or SEC 1), without the store. Raises AuthenticationError if invalid."""
    pk = _b(public_key)
    check(lib.kl_audit_checkpoint_verify(_text(checkpoint), pk, len(pk)))


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

    # ----- versions -----

    def compromise_version(self, version: int, reason: str = "") -> None:
        """Marks one version compromised; the others keep working."""
        check(lib.kl_key_compromise_version(self._handle, int(version), _s(reason)))

    def destroy_version(self, version: int, reason: str = "") -> None:
        """Destroys one (non-primary) version's material."""
        check(lib.kl_key_destroy_version(self._handle, int(version), _s(reason)))

    def set_min_decryption_version(self, version: int) -> None:
        """Refuses processing with versions below ``version`` (moves forward only)."""
        check(lib.kl_key_set_min_decryption_version(self._handle, int(version)))

    # ----- grants and approvals -----

    def grant(self, principal: str, operations, expires_at=None) -> None:
        """Lets a registered principal perform ``operations`` (``Operation``
        flags, or an iterable of them) on this key until ``expires_at`` (a
        timezone-aware datetime, milliseconds since the epoch, or None)."""
        if isinstance(operations, int):
            bits = int(operations)
        else:
            bits = 0
            for op in operations:
                bits |= int(op)
        check(lib.kl_key_grant(self._handle, _s(principal), bits, _millis(expires_at)))

    def revoke_grant(self, principal: str) -> None:
        check(lib.kl_key_revoke_grant(self._handle, _s(principal)))

    def approve(self, approver_name: str, request: str) -> str:
        """Signs a dual-control request with this (the approver's own) Active
        signing key; returns the approval JSON for ``Store.submit_approvals``."""
        return _fill(lib.kl_key_approve, self._handle, _s(approver_name), _text(request), size=256, text=True)

    # ----- AEAD -----

    # encrypt and decrypt know their output size exactly: one call to the
    # fixed-size entry points (kl_key_*_into), unchecked (see _ffi.HOT), with
    # a fresh exact-size output array; bindings/python/BENCH.md has numbers.

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        kv = self._fast
        if kv is None:
            raise ClosedError("this Key is closed")
        pt = plaintext if type(plaintext) is bytes else _b(plaintext)
        if aad:
            aad = aad if type(aad) is bytes else _b(aad)
            aad_len = _LEN.get(len(aad)) or _length(len(aad))
        else:
            aad, aad_len = None, _ZERO
        n = len(pt)
        pt_len, out_type = _ENC.get(n) or _shape(_ENC, n, n + _OVERHEAD)
        out = out_type()
        r = _encrypt_into(kv, pt, pt_len, aad, aad_len, out)
        if r:
            raise errors.error_for(r)
        return out.raw

    def decrypt(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        kv = self._fast
        if kv is None:
            raise ClosedError("this Key is closed")
        ct = ciphertext if type(ciphertext) is bytes else _b(ciphertext)
        if aad:
            aad = aad if type(aad) is bytes else _b(aad)
            aad_len = _LEN.get(len(aad)) or _length(len(aad))
        else:
            aad, aad_len = None, _ZERO
        n = len(ct)
        ct_len, out_type = _DEC.get(n) or _shape(_DEC, n, n - _OVERHEAD)
        out = out_type()
        r = _decrypt_into(kv, ct, ct_len, aad, aad_len, out)
        if r:
            raise errors.error_for(r)
        return out.raw if n > _OVERHEAD else b""

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
