"""Crypto provider selection through the C ABI (kl_crypto_provider_*)."""

import pytest

import keylife
from keylife import ConflictError, InvalidArgumentError, UnsupportedError


def test_default_provider_and_store_provider():
    assert keylife.default_crypto_provider() == "rustcrypto"
    # Installing the installed default is a no-op, any number of times.
    keylife.install_crypto_provider("rustcrypto")
    keylife.install_crypto_provider("rustcrypto")
    assert keylife.default_crypto_provider() == "rustcrypto"
    with keylife.Store.memory() as store:
        assert store.crypto_provider == "rustcrypto"
        key = store.create(keylife.Purpose.AEAD, "k")
        key.activate()
        assert key.decrypt(key.encrypt(b"m")) == b"m"


def test_unknown_and_unavailable_providers_are_refused():
    with pytest.raises(InvalidArgumentError, match="unknown crypto provider"):
        keylife.install_crypto_provider("openssl")
    # The test library is built without the aws-lc feature; with it, the
    # default installed above makes aws-lc a conflict.
    with pytest.raises((UnsupportedError, ConflictError)):
        keylife.install_crypto_provider("aws-lc")
    assert keylife.default_crypto_provider() == "rustcrypto"


def test_closed_store_has_no_provider():
    store = keylife.Store.memory()
    store.close()
    with pytest.raises(keylife.ClosedError):
        store.crypto_provider
