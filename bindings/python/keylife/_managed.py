"""The base of every Python object that owns a C handle."""

from __future__ import annotations

import ctypes
from typing import Any, Callable, ClassVar, Optional, TypeVar

from .errors import ClosedError

_M = TypeVar("_M", bound="Managed")


class Managed:
    """A Python object owning one C handle: ``close()``, ``with``, and a
    ``__del__`` fallback."""

    _free: ClassVar[Optional[Callable[[Any], None]]] = None  # the kl_*_free function

    def __init__(self, ptr: Any) -> None:
        self._ptr = ptr
        # The same address as a c_void_p, for the unchecked hot-path calls.
        self._fast: Optional[ctypes.c_void_p] = ctypes.c_void_p(ctypes.cast(ptr, ctypes.c_void_p).value)

    @property
    def _handle(self) -> Any:
        if self._ptr is None:
            raise ClosedError(f"this {type(self).__name__} is closed")
        return self._ptr

    def close(self) -> None:
        """Frees the C handle. Idempotent."""
        self._fast = None
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr is not None:
            type(self)._free(ptr)  # type: ignore[misc]

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __enter__(self: _M) -> _M:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass
