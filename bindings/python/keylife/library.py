"""The loaded library: its version and the process's crypto provider."""

from __future__ import annotations

from ._ffi import lib
from ._util import _s
from .errors import check


def library_version() -> str:
    """The version of the loaded C library."""
    return lib.kl_version().decode()


def install_crypto_provider(name: str) -> None:
    """Makes the crypto provider ``name`` the process default: ``"rustcrypto"``
    (pure Rust) or ``"aws-lc"`` (AWS-LC's assembly AES-GCM and P-256, in
    libraries built with the ``aws-lc`` feature, where it is already the
    default, as in the library this package is tested with). Stores opened
    afterwards run on it. Call it once, before opening stores; installing the
    installed provider again is a no-op.

    Raises ``UnsupportedError`` for ``"aws-lc"`` in a library built without
    it, ``InvalidArgumentError`` for an unknown name, ``ConflictError`` when
    another provider was installed before.
    """
    check(lib.kl_crypto_provider_install(_s(name)))


def default_crypto_provider() -> str:
    """The name of the process's default crypto provider: the installed one,
    else ``"aws-lc"`` when the library has it, else ``"rustcrypto"``."""
    return lib.kl_crypto_provider_default().decode()


def fips_mode() -> bool:
    """Whether the process's default crypto provider runs in a FIPS 140-3
    module in FIPS mode: only in a library built with the ``fips`` feature.
    It covers that provider's AES-256-GCM, ECDSA and ECDH, not every
    primitive keylife uses (HMAC, HKDF, key wrap, Argon2id and key generation
    stay outside the module), so it is no claim of FIPS 140-3 validation."""
    return bool(lib.kl_crypto_provider_fips_mode())
