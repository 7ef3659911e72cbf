"""Governance and audit helpers that need no store: policy digests,
approval requests' signed bytes, audit checkpoint signatures.

The store-level calls (``Store.set_policy``, ``Store.request_approval``,
``Store.verify_audit``, ...) are methods of ``keylife.Store``; ``Key.grant``
and ``Key.approve`` are methods of ``keylife.Key``.
"""

from __future__ import annotations

from . import _ffi
from ._ffi import lib
from ._util import _b, _fill, _text
from .errors import check


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
