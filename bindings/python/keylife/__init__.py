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

Modules: ``_ffi`` (every C symbol, declared once), ``errors`` (the exception
hierarchy), ``_managed`` (``Managed``, the handle base class), ``types``
(enums, flags, result tuples), ``library`` (version, crypto provider),
``store`` (``Store``), ``key`` (``Key``, ``verify_signature``),
``governance`` (policy digests, approval bytes, checkpoint signatures) and
``_util`` (shared helpers). This module only re-exports their public names.
"""

from __future__ import annotations

from . import errors
from ._ffi import HAZMAT
from ._ffi import KEYLIFE_VERSION as __version__
from ._ffi import lib
from ._managed import Managed
from .errors import (
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
    UnavailableError,
    UnsupportedError,
    UnsupportedVersionError,
    UsageLimitExceededError,
    VersionUnavailableError,
    WrongKekError,
    WrongPurposeError,
    WrongStateError,
    check,
)
from .governance import (
    approval_request_canonical_bytes,
    policy_digest,
    verify_audit_checkpoint_signature,
)
from .key import Key, verify_signature
from .library import default_crypto_provider, fips_mode, install_crypto_provider, library_version
from .store import Store
from .types import (
    ARGON2_RECOMMENDED,
    ApprovalOperation,
    Argon2Params,
    AuditVerification,
    IntegrityReport,
    Operation,
    Purpose,
    Role,
    State,
)

__all__ = [
    "HAZMAT",
    # library
    "library_version",
    "install_crypto_provider",
    "default_crypto_provider",
    "fips_mode",
    # handles
    "Managed",
    "Store",
    "Key",
    # types
    "Purpose",
    "State",
    "Role",
    "Operation",
    "ApprovalOperation",
    "AuditVerification",
    "IntegrityReport",
    "Argon2Params",
    "ARGON2_RECOMMENDED",
    # functions without a handle
    "verify_signature",
    "policy_digest",
    "approval_request_canonical_bytes",
    "verify_audit_checkpoint_signature",
    # errors
    "errors",
    "check",
    "KeylifeError",
    "AlreadyConsumedError",
    "AlreadyExistsError",
    "ApprovalRequiredError",
    "AuthenticationError",
    "BufferTooSmallError",
    "ClosedError",
    "ConflictError",
    "IntegrityError",
    "InternalError",
    "InvalidArgumentError",
    "MalformedError",
    "NotFoundError",
    "NullPointerError",
    "PanicError",
    "PermissionDeniedError",
    "PolicyError",
    "StorageError",
    "UnsupportedError",
    "UnsupportedVersionError",
    "UsageLimitExceededError",
    "UnavailableError",
    "VersionUnavailableError",
    "WrongKekError",
    "WrongPurposeError",
    "WrongStateError",
    # the loaded C library (ctypes.CDLL), for low-level use
    "lib",
]
