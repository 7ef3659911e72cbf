"""``Key``: a handle on one key, and ``verify_signature`` for public keys
outside any store."""

from __future__ import annotations

import datetime
import json
import os
from ctypes import byref, c_uint32, c_uint64
from typing import Any, Iterable, Optional, Union

from . import _ffi, _util, errors
from ._ffi import lib
from ._managed import Managed
from ._util import (
    _OVERHEAD,
    _ZERO,
    _b,
    _fill,
    _length,
    _millis,
    _need_hazmat,
    _s,
    _shape,
    _take_secret,
    _text,
)
from .errors import ClosedError, KeylifeError, check


def _path(p: Union[str, "os.PathLike[str]"]) -> bytes:
    """A file path for the C ABI (UTF-8, as the library requires)."""
    return os.fsdecode(os.fspath(p)).encode("utf-8")
from .types import Operation, Purpose, State

# The unchecked hot-path twins (see _ffi.HOT). Module globals, so that
# bench.py can swap one for a no-op to measure the Python layer alone.
_encrypt_into = _ffi.HOT["kl_key_encrypt_into"]
_decrypt_into = _ffi.HOT["kl_key_decrypt_into"]

# The shared shape caches, bound by assignment and not by `from ._util
# import`: CPython 3.11 compiles `name.get(...)` on an imported name as an
# attribute load plus a call (a bound method object per call) instead of
# LOAD_METHOD; measured +0.04 µs per `.get` on the hot path.
_ENC = _util._ENC
_DEC = _util._DEC
_LEN = _util._LEN


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

    def info(self) -> dict[str, Any]:
        """Everything keylife knows about the key except its material."""
        return json.loads(_fill(lib.kl_key_info_json, self._handle, size=2048, text=True))

    # ----- transitions -----

    def activate(self) -> None:
        check(lib.kl_key_activate(self._handle))

    def set_owner(self, owner: str) -> None:
        """Sets the key's owner (the team or person answerable for it)."""
        check(lib.kl_key_set_owner(self._handle, _s(owner)))

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

    def grant(
        self,
        principal: str,
        operations: Union[Operation, int, Iterable[Union[Operation, int]]],
        expires_at: Union[datetime.datetime, int, float, None] = None,
    ) -> None:
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
        a: Optional[bytes]  # an annotation only: no code
        if aad:
            a = aad if type(aad) is bytes else _b(aad)
            aad_len = _LEN.get(len(a)) or _length(len(a))
        else:
            a, aad_len = None, _ZERO
        n = len(pt)
        pt_len, out_type = _ENC.get(n) or _shape(_ENC, n, n + _OVERHEAD)
        out = out_type()
        r = _encrypt_into(kv, pt, pt_len, a, aad_len, out)
        if r:
            raise errors.error_for(r)
        return out.raw

    def decrypt(self, ciphertext: bytes, aad: bytes = b"") -> bytes:
        kv = self._fast
        if kv is None:
            raise ClosedError("this Key is closed")
        ct = ciphertext if type(ciphertext) is bytes else _b(ciphertext)
        a: Optional[bytes]  # an annotation only: no code
        if aad:
            a = aad if type(aad) is bytes else _b(aad)
            aad_len = _LEN.get(len(a)) or _length(len(a))
        else:
            a, aad_len = None, _ZERO
        n = len(ct)
        ct_len, out_type = _DEC.get(n) or _shape(_DEC, n, n - _OVERHEAD)
        out = out_type()
        r = _decrypt_into(kv, ct, ct_len, a, aad_len, out)
        if r:
            raise errors.error_for(r)
        return out.raw if n > _OVERHEAD else b""

    def encrypt_file(self, src: Union[str, "os.PathLike[str]"], dst: Union[str, "os.PathLike[str]"],
                     aad: bytes = b"") -> int:
        """Encrypts the file `src` into a keylife stream at `dst` in
        constant memory (1 MiB segments under a per-file key; truncation,
        reordering and swaps between files are detected). `dst` is
        replaced whole or not at all. Returns the plaintext length."""
        a = _b(aad)
        n = c_uint64(0)
        check(lib.kl_key_encrypt_file(self._handle, _path(src), _path(dst), a, len(a), byref(n)))
        return n.value

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


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verifies a DER ECDSA P-256/SHA-256 signature with a public key given as
    SPKI DER or a SEC 1 point. Raises AuthenticationError if invalid."""
    pk, m, s = _b(public_key), _b(message), _b(signature)
    check(lib.kl_public_key_verify(pk, len(pk), m, len(m), s, len(s)))
