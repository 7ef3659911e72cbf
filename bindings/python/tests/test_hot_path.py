"""Key.encrypt / Key.decrypt / Store.decrypt go through unchecked ctypes
calls (argtypes None, see keylife._ffi.HOT): every input type and size, empty
inputs, errors, closed handles and threads must behave exactly like the
checked calls."""

import threading

import pytest

import keylife
from keylife import Purpose


@pytest.fixture
def key():
    with keylife.Store.memory("hot") as s:
        k = s.create(Purpose.AEAD, "hot")
        k.activate()
        yield s, k
        k.close()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 64, 1000, 16 * 1024, 70_000])
def test_round_trip_every_size(key, size):
    store, k = key
    pt = bytes(i % 251 for i in range(size))
    for aad in (b"", b"ctx", bytes(300)):
        ct = k.encrypt(pt, aad)
        assert len(ct) == size + keylife._ffi.KL_CIPHERTEXT_OVERHEAD
        assert k.decrypt(ct, aad) == pt
        assert store.decrypt(ct, aad) == pt
        with pytest.raises(keylife.AuthenticationError):
            k.decrypt(ct, aad + b"!")
        with pytest.raises(keylife.AuthenticationError):
            store.decrypt(ct, aad + b"!")


def test_bytes_like_inputs(key):
    store, k = key
    for pt in (bytearray(b"abc"), memoryview(b"abc"), b"abc"):
        ct = k.encrypt(pt, aad=bytearray(b"a"))
        assert k.decrypt(bytearray(ct), memoryview(b"a")) == b"abc"
        assert store.decrypt(memoryview(ct), b"a") == b"abc"
    with pytest.raises(TypeError):
        k.encrypt("text")
    with pytest.raises(TypeError):
        k.encrypt(b"m", aad="text")


def test_short_or_tampered_ciphertexts(key):
    store, k = key
    ct = k.encrypt(b"m")
    for bad in (b"", ct[:10], ct[:49]):
        with pytest.raises(keylife.MalformedError):
            k.decrypt(bad)
        with pytest.raises(keylife.MalformedError):
            store.decrypt(bad)
    assert k.decrypt(k.encrypt(b"")) == b""
    assert store.decrypt(k.encrypt(b"")) == b""
    flipped = bytearray(ct)
    flipped[-1] ^= 1
    with pytest.raises(keylife.AuthenticationError):
        k.decrypt(bytes(flipped))


def test_state_purpose_and_closed_handles(key):
    store, k = key
    ct = k.encrypt(b"m")
    signer = store.create(Purpose.SIGNING, "s")
    signer.activate()
    with pytest.raises(keylife.WrongPurposeError):
        signer.encrypt(b"m")
    with pytest.raises(keylife.WrongPurposeError):
        signer.decrypt(ct)
    k.deactivate()
    with pytest.raises(keylife.WrongStateError, match="deactivated"):
        k.encrypt(b"m")
    assert k.decrypt(ct) == b"m"
    other = store.load(k.id)
    other.close()
    with pytest.raises(keylife.ClosedError):
        other.encrypt(b"m")
    with pytest.raises(keylife.ClosedError):
        other.decrypt(ct)
    store.register_principal("x", keylife.Role.ADMINISTRATOR)
    s2 = store.as_principal("x")
    s2.close()
    with pytest.raises(keylife.ClosedError):
        s2.decrypt(ct)


def test_threads_share_a_key(key):
    store, k = key
    failures = []

    def work(i):
        try:
            for j in range(200):
                pt = bytes([i]) * (j % 70)
                ct = k.encrypt(pt, aad=bytes([j]))
                assert k.decrypt(ct, bytes([j])) == pt
                assert store.decrypt(ct, bytes([j])) == pt
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
