"""Enumerations, flags and result tuples of the C ABI."""

from __future__ import annotations

import enum
from typing import NamedTuple

from . import _ffi


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
    TRUST_DESTINATION = _ffi.KL_APPROVAL_TRUST_DESTINATION


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
