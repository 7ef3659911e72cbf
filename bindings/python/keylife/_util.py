"""Helpers shared by the handle classes: argument conversion, output
buffers, secrets, and the hot path's cached ctypes shapes."""

from __future__ import annotations

import ctypes
import datetime
from ctypes import byref, c_size_t
from typing import Any, Callable, Literal, Union, overload

from . import _ffi
from ._ffi import lib
from .errors import InvalidArgumentError, UnsupportedError, check

# ----- arguments -----


def _b(data: Any) -> bytes:
    """Bytes-like input as something ctypes passes as `const uint8_t *`."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError("expected bytes, not str (encode it first)")
    return bytes(data)


def _s(text: str) -> bytes:
    return text.encode("utf-8")


def _text(data: Union[str, bytes]) -> bytes:
    """A str (or bytes) as NUL-terminated UTF-8 input."""
    return data.encode("utf-8") if isinstance(data, str) else _b(data)


def _millis(when: Union[datetime.datetime, int, float, None]) -> int:
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


def _need_hazmat() -> None:
    if not _ffi.HAZMAT:
        raise UnsupportedError("this libkeylife was built without the `hazmat` feature")


# ----- outputs -----


@overload
def _fill(fn: Callable[..., int], *args: Any, size: int = ..., text: Literal[False] = ...) -> bytes: ...
@overload
def _fill(fn: Callable[..., int], *args: Any, size: int = ..., text: Literal[True]) -> str: ...


def _fill(fn: Callable[..., int], *args: Any, size: int = 256, text: bool = False) -> Union[bytes, str]:
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


def _take_secret(ptr: Any) -> bytearray:
    """Copies a kl_secret into a bytearray and frees (zeroizes) it."""
    try:
        n = lib.kl_secret_len(ptr)
        addr = lib.kl_secret_data(ptr)
        return bytearray((ctypes.c_uint8 * n).from_address(addr)) if n else bytearray()
    finally:
        lib.kl_secret_free(ptr)


# ----- the hot path (see _ffi.HOT; used by key.py and store.py) -----

_OVERHEAD = _ffi.KL_CIPHERTEXT_OVERHEAD
_ZERO = c_size_t(0)  # passed by value, never written: safe to share

# Per input length, the ctypes objects a call needs besides the data: the
# length as a c_size_t (passed by value, never written, so shared between
# threads) and the type of the exact-size output array. One dict lookup
# replaces two constructions (measured ~0.25 µs a call). Bounded, so odd
# sizes cannot grow it without limit. key.py and store.py bind these dicts
# to their own globals by assignment (see the note in key.py); they are
# mutated in place, never rebound.
_CACHE_MAX = 4096
_ENC: dict[int, Any] = {}  # plaintext length -> (c_size_t(len), c_char * (len + overhead))
_DEC: dict[int, Any] = {}  # ciphertext length -> (c_size_t(len), c_char * (len - overhead))
_LEN: dict[int, c_size_t] = {}  # length -> c_size_t(length)


def _shape(cache: dict[int, Any], n: int, out_len: int) -> Any:
    sh = (c_size_t(n), ctypes.c_char * max(out_len, 1))
    if len(cache) < _CACHE_MAX:
        cache[n] = sh
    return sh


def _length(n: int) -> c_size_t:
    # Only for n >= 1: a c_size_t(0) is falsy, so `_LEN.get(0) or ...`
    # would miss every time (empty inputs use _ZERO instead).
    v = c_size_t(n)
    if len(_LEN) < _CACHE_MAX:
        _LEN[n] = v
    return v
