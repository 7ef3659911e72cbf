"""One exception hierarchy, mapped from the C ABI's result codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _ffi

if TYPE_CHECKING:
    import ctypes


class KeylifeError(Exception):
    """Base of every keylife error. ``code`` is the C result code (``None``
    for errors raised by the Python layer itself)."""

    code: int | None = None

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidArgumentError(KeylifeError, ValueError):
    code = _ffi.KL_ERR_INVALID_ARGUMENT


class BufferTooSmallError(KeylifeError):
    code = _ffi.KL_ERR_BUFFER_TOO_SMALL


class NullPointerError(KeylifeError):
    code = _ffi.KL_ERR_NULL_POINTER


class PanicError(KeylifeError):
    """A bug inside keylife, caught at the boundary."""

    code = _ffi.KL_ERR_PANIC


class AlreadyConsumedError(KeylifeError):
    """The key handle was consumed by a failed transition; load the key again."""

    code = _ffi.KL_ERR_ALREADY_CONSUMED


class NotFoundError(KeylifeError, LookupError):
    code = _ffi.KL_ERR_NOT_FOUND


class AlreadyExistsError(KeylifeError):
    code = _ffi.KL_ERR_ALREADY_EXISTS


class WrongStateError(KeylifeError):
    code = _ffi.KL_ERR_WRONG_STATE


class WrongPurposeError(KeylifeError):
    code = _ffi.KL_ERR_WRONG_PURPOSE


class UnsupportedError(KeylifeError):
    code = _ffi.KL_ERR_UNSUPPORTED


class MalformedError(KeylifeError, ValueError):
    code = _ffi.KL_ERR_MALFORMED


class AuthenticationError(KeylifeError):
    """Wrong key, wrong context or tampered data. Deliberately opaque."""

    code = _ffi.KL_ERR_AUTHENTICATION_FAILED


class PermissionDeniedError(KeylifeError, PermissionError):
    code = _ffi.KL_ERR_PERMISSION_DENIED


class ApprovalRequiredError(KeylifeError):
    code = _ffi.KL_ERR_APPROVAL_REQUIRED


class UsageLimitExceededError(KeylifeError):
    code = _ffi.KL_ERR_USAGE_LIMIT_EXCEEDED


class ConflictError(KeylifeError):
    code = _ffi.KL_ERR_CONFLICT


class IntegrityError(KeylifeError):
    code = _ffi.KL_ERR_INTEGRITY


class WrongKekError(KeylifeError):
    code = _ffi.KL_ERR_WRONG_KEK


class StorageError(KeylifeError, OSError):
    code = _ffi.KL_ERR_STORAGE


class PolicyError(KeylifeError):
    code = _ffi.KL_ERR_POLICY


class UnsupportedVersionError(KeylifeError):
    code = _ffi.KL_ERR_UNSUPPORTED_VERSION


class VersionUnavailableError(KeylifeError):
    code = _ffi.KL_ERR_VERSION_UNAVAILABLE


class UnavailableError(KeylifeError, ConnectionError):
    """The storage server cannot be reached now (down, restarting, connection
    lost): retry later."""

    code = _ffi.KL_ERR_UNAVAILABLE


class InternalError(KeylifeError):
    code = _ffi.KL_ERR_INTERNAL


class ClosedError(KeylifeError, ValueError):
    """The Python object was closed (its C handle freed)."""


#: Result code -> exception class.
BY_CODE: dict[int, type[KeylifeError]] = {
    cls.code: cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, KeylifeError) and cls.code is not None
}


def error_for(code: int) -> KeylifeError:
    """The exception for a failed call, with this thread's detailed message."""
    n = _ffi.lib.kl_last_error(None, 0)
    msg = ""
    if n:
        buf = _ctypes_buffer(n)
        if _ffi.lib.kl_last_error(buf, n) == n:
            msg = buf.value.decode("utf-8", "replace")
    if not msg:
        msg = _ffi.lib.kl_result_str(code).decode()
    return BY_CODE.get(code, KeylifeError)(msg, code)


def _ctypes_buffer(n: int) -> ctypes.Array[ctypes.c_char]:
    import ctypes

    return ctypes.create_string_buffer(n)


def check(code: int) -> None:
    """Raises the exception for ``code`` unless it is ``KL_OK``."""
    if code != _ffi.KL_OK:
        raise error_for(code)
