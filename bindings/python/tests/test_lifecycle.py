"""The lifecycle through the Python bindings."""

import gc
import threading

import pytest

import keylife
from keylife import Purpose, Role, State


@pytest.fixture
def store():
    with keylife.Store.memory("pytest") as s:
        yield s


def test_versions_agree():
    assert keylife.library_version() == keylife.__version__


def test_aead_lifecycle(store):
    key = store.create(Purpose.AEAD, "customer-pii", owner="crm")
    assert key.state is State.PRE_ACTIVE
    assert key.purpose is Purpose.AEAD
    with pytest.raises(keylife.WrongStateError):
        key.encrypt(b"x")
    key.activate()
    ct = key.encrypt(b"jane@example.com", aad=b"customer=42")
    assert len(ct) == 16 + 50
    assert key.decrypt(ct, b"customer=42") == b"jane@example.com"
    assert store.decrypt(ct, b"customer=42") == b"jane@example.com"
    with pytest.raises(keylife.AuthenticationError):
        store.decrypt(ct, b"customer=43")
    tampered = bytearray(ct)
    tampered[-1] ^= 1
    with pytest.raises(keylife.AuthenticationError):
        key.decrypt(bytes(tampered), b"customer=42")
    with pytest.raises(keylife.MalformedError):
        store.decrypt(b"\x01short")
    assert key.rotate() == 2
    new = key.rewrap(ct, b"customer=42")
    assert new[18:22] == b"\x00\x00\x00\x02"
    key.suspend("audit hold")
    assert key.state is State.SUSPENDED
    assert key.decrypt(new, b"customer=42") == b"jane@example.com"
    key.resume()
    key.deactivate("superseded")
    with pytest.raises(keylife.WrongStateError):
        key.encrypt(b"x")
    assert key.decrypt(ct, b"customer=42") == b"jane@example.com"
    key.compromise("laptop stolen")
    with pytest.raises(keylife.WrongStateError):
        store.decrypt(ct, b"customer=42")
    key.schedule_destruction(30 * 86400, "compromised")
    assert key.state is State.PENDING_DESTRUCTION
    key.cancel_destruction()
    assert key.state is State.COMPROMISED
    info = key.info()
    assert info["owner"] == "crm" and info["state"] == "compromised"
    assert [h["to"] for h in info["history"]][-1] == "compromised"
    again = store.load(key.id)
    assert again.state is State.COMPROMISED
    key.close()
    again.close()


def test_never_used_key_is_destroyed(store):
    with store.create(Purpose.MAC, "m") as k:
        k.destroy("never used")
        assert k.state is State.DESTROYED


def test_signing_mac_derive_agree(store):
    signer = store.create(Purpose.SIGNING, "release")
    signer.activate()
    sig = signer.sign(b"release-1.0")
    signer.verify(b"release-1.0", sig)
    with pytest.raises(keylife.AuthenticationError):
        signer.verify(b"release-1.1", sig)
    fixed = signer.sign(b"m", fixed=True)
    assert len(fixed) == 64
    signer.verify(b"m", fixed, fixed=True)
    keylife.verify_signature(signer.public_key_der(), b"release-1.0", sig)
    keylife.verify_signature(signer.public_key_sec1(), b"release-1.0", sig)
    assert signer.public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")

    mac = store.create(Purpose.MAC, "hooks")
    mac.activate()
    tag = mac.mac(b"payload")
    assert len(tag) == 32
    mac.verify_mac(b"payload", tag)
    with pytest.raises(keylife.AuthenticationError):
        mac.verify_mac(b"payload!", tag)

    root = store.create(Purpose.DERIVATION, "tenant-root")
    root.activate()
    a = root.derive(32, context=b"tenant=1")
    assert isinstance(a, bytearray) and len(a) == 32
    assert a == root.derive(32, context=b"tenant=1")
    assert a != root.derive(32, context=b"tenant=2")
    with pytest.raises(keylife.InvalidArgumentError):
        root.derive(0)

    alice = store.create(Purpose.AGREEMENT, "alice")
    bob = store.create(Purpose.AGREEMENT, "bob")
    alice.activate()
    bob.activate()
    ab = alice.agree(bob.public_key_sec1(), 32, context=b"ctx", salt=b"s")
    ba = bob.agree(alice.public_key_der(), 32, context=b"ctx", salt=b"s")
    assert ab == ba and isinstance(ab, bytearray)


def test_wrong_purpose(store):
    k = store.create(Purpose.AEAD, "k")
    k.activate()
    with pytest.raises(keylife.WrongPurposeError):
        k.sign(b"m")
    with pytest.raises(keylife.WrongPurposeError):
        k.public_key_der()


def test_a_failed_transition_consumes_the_key(store):
    k = store.create(Purpose.AEAD, "k")
    store.register_principal("payments", Role.APPLICATION)
    with store.as_principal("payments") as app:
        h = app.load(k.id)
        with pytest.raises(keylife.PermissionDeniedError):
            h.activate()
        with pytest.raises(keylife.AlreadyConsumedError):
            h.state
        assert h.id == k.id  # still readable, to load it again
        assert "Key(id=" in repr(h)
        h.close()
    assert k.state is State.PRE_ACTIVE


def test_closed_handles_and_context_managers(store):
    k = store.create(Purpose.MAC, "k")
    k.close()
    k.close()  # idempotent
    assert k.closed
    with pytest.raises(keylife.ClosedError):
        k.state
    # Keys keep their store alive.
    s = keylife.Store.memory("short-lived")
    k2 = s.create(Purpose.MAC, "k2")
    s.close()
    k2.activate()
    assert len(k2.mac(b"x")) == 32
    del k2
    gc.collect()


def test_errors_carry_codes_and_messages(store):
    with pytest.raises(keylife.InvalidArgumentError) as e:
        store.create(Purpose.AEAD, "")
    assert e.value.code == 1 and "name" in str(e.value)
    with pytest.raises(keylife.NotFoundError):
        store.load("000102030405060708090a0b0c0d0e0f")
    with pytest.raises(keylife.MalformedError):
        store.load("nope")
    with pytest.raises(keylife.InvalidArgumentError):
        store.create(99, "bad purpose")
    assert issubclass(keylife.WrongStateError, keylife.KeylifeError)


def test_inventory_and_maintenance(store):
    store.create(Purpose.AEAD, "a", owner="team-a")
    store.create(Purpose.MAC, "b", owner="team-b")
    mine = store.list(owner="team-a")
    assert [k["name"] for k in mine] == ["a"]
    assert len(store.list(purpose=Purpose.MAC)) == 1
    assert len(store.list(state=State.ACTIVE)) == 0
    assert store.maintenance() == 0


def test_persistent_stores(tmp_path):
    kek = bytes(range(32))
    for backend, name in (("sqlite", "k.db"), ("file", "k.kl")):
        path = tmp_path / name
        with keylife.Store.open(path, kek, backend=backend) as s:
            k = s.create(Purpose.AEAD, "kept")
            k.activate()
            ct = k.encrypt(b"persisted")
            kid = k.id
            k.close()
        with pytest.raises(keylife.WrongKekError):
            keylife.Store.open(path, bytes(32), backend=backend)
        with keylife.Store.open(path, kek, backend=backend) as s:
            assert s.decrypt(ct) == b"persisted"
            assert s.load(kid).state is State.ACTIVE


def test_threads_share_a_store(store):
    shared = store.create(Purpose.AEAD, "shared")
    shared.activate()
    errors = []

    def work(i):
        try:
            for j in range(20):
                msg = f"{i}/{j}".encode()
                assert store.decrypt(shared.encrypt(msg, b"t"), b"t") == msg
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_create_many_is_all_or_nothing():
    with keylife.Store.memory() as store:
        keys = store.create_many(keylife.Purpose.AEAD, [f"tenant-{i}" for i in range(50)])
        assert len({k.id for k in keys}) == 50
        assert len(store.list()) == 50
        keys[7].activate()
        assert keys[7].decrypt(keys[7].encrypt(b"m")) == b"m"
        assert store.create_many(keylife.Purpose.AEAD, []) == []
        with pytest.raises(keylife.InvalidArgumentError):
            store.create_many(keylife.Purpose.MAC, ["ok", "x" * 300])
        assert len(store.list()) == 50


def test_large_files_stream(store, tmp_path):
    key = store.create(Purpose.AEAD, "files", owner="ops")
    key.activate()
    data = bytes(range(256)) * (12 * 1024 + 3)  # about 3 MiB: four segments
    src, sealed, back = tmp_path / "a", tmp_path / "a.kl", tmp_path / "b"
    src.write_bytes(data)
    assert key.encrypt_file(src, sealed, b"ctx") == len(data)
    blob = sealed.read_bytes()
    assert blob[0] == 2 and len(blob) == 65 + len(data) + 4 * 16
    assert store.decrypt_file(str(sealed), str(back), b"ctx") == len(data)
    assert back.read_bytes() == data
    with pytest.raises(keylife.AuthenticationError):
        store.decrypt_file(sealed, tmp_path / "c", b"other")
    # Cut at the first segment boundary: refused, and no output is left.
    cut = tmp_path / "cut.kl"
    cut.write_bytes(blob[: 65 + (1 << 20) + 16])
    with pytest.raises(keylife.AuthenticationError):
        store.decrypt_file(cut, tmp_path / "never", b"ctx")
    assert not (tmp_path / "never").exists()
    with pytest.raises(keylife.NotFoundError):
        key.encrypt_file(tmp_path / "missing", tmp_path / "x")


def test_set_owner(store):
    key = store.create(Purpose.MAC, "orphan")
    key.set_owner("payments")
    assert key.info()["owner"] == "payments"
    with pytest.raises(keylife.InvalidArgumentError):
        key.set_owner("   ")
