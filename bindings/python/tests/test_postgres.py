"""The PostgreSQL backend from Python (``Store.open(..., backend="postgres")``),
against the server scripts/pg.sh starts (``KEYLIFE_PG_URL``)."""

import os
import secrets

import pytest

import keylife

URL = os.environ.get("KEYLIFE_PG_URL")
if URL is None:
    if os.environ.get("CI"):
        raise RuntimeError("KEYLIFE_PG_URL is not set: run the tests through scripts/pg.sh")
    pytest.skip("no PostgreSQL server (run through scripts/pg.sh)", allow_module_level=True)


def _schema() -> str:
    return "py_" + secrets.token_hex(6)


def test_two_stores_share_keys_through_postgres():
    kek = secrets.token_bytes(32)
    schema = _schema()
    with keylife.Store.open(URL, kek, backend="postgres", schema=schema) as a:
        key = a.create(keylife.Purpose.AEAD, "shared")
        key.activate()
        ct = key.encrypt(b"fleet", b"ctx")
        with keylife.Store.open(URL, kek, backend="postgres", schema=schema) as b:
            assert b.decrypt(ct, b"ctx") == b"fleet"
            # A compromise in one store is seen by the other.
            key.compromise("leaked")
            theirs = b.load(key.id)
            with pytest.raises(keylife.WrongStateError):
                theirs.encrypt(b"m")


def test_bad_connections_raise_specific_errors_without_the_password():
    password = next(kv.split("=", 1)[1] for kv in URL.split() if kv.startswith("password="))
    kek = secrets.token_bytes(32)
    closed = " ".join("port=1" if kv.startswith("port=") else kv for kv in URL.split())
    with pytest.raises(keylife.UnavailableError) as e:
        keylife.Store.open(closed, kek, backend="postgres", schema=_schema())
    assert password not in str(e.value)
    with pytest.raises(keylife.InvalidArgumentError) as e:
        keylife.Store.open(URL + " port=x", kek, backend="postgres", schema=_schema())
    assert password not in str(e.value)
    with pytest.raises(keylife.InvalidArgumentError):
        keylife.Store.open(URL, kek, backend="postgres", schema="Bad-Name")
    with pytest.raises(keylife.InvalidArgumentError):
        keylife.Store.open("/tmp/x.db", kek, backend="sqlite", schema="s")
