"""Crypto provider selection through the C ABI (kl_crypto_provider_*)."""

import pytest

import keylife
from keylife import ConflictError, InvalidArgumentError


def test_default_provider_and_store_provider():
    # The package's library is built with the aws-lc feature
    # (scripts/test-python.sh): AWS-LC without any call.
    assert keylife.default_crypto_provider() == "aws-lc"
    assert keylife.fips_mode() is False
    # Installing the installed default is a no-op, any number of times.
    keylife.install_crypto_provider("aws-lc")
    keylife.install_crypto_provider("aws-lc")
    assert keylife.default_crypto_provider() == "aws-lc"
    with keylife.Store.memory() as store:
        assert store.crypto_provider == "aws-lc"
        # The general AWS-LC build, not its FIPS module (feature `fips`).
        assert store.fips_mode is False
        key = store.create(keylife.Purpose.AEAD, "k")
        key.activate()
        assert key.decrypt(key.encrypt(b"m")) == b"m"


def test_unknown_and_unavailable_providers_are_refused():
    with pytest.raises(InvalidArgumentError, match="unknown crypto provider"):
        keylife.install_crypto_provider("openssl")
    # aws-lc was installed above: the other provider is a conflict now.
    with pytest.raises(ConflictError):
        keylife.install_crypto_provider("rustcrypto")
    assert keylife.default_crypto_provider() == "aws-lc"


def test_closed_store_has_no_provider():
    store = keylife.Store.memory()
    store.close()
    with pytest.raises(keylife.ClosedError):
        store.crypto_provider
    with pytest.raises(keylife.ClosedError):
        store.fips_mode
