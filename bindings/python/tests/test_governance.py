"""Governance and audit from Python: policy, compliance report, principals
and grants, dual control, version management, the audit log (verification,
JSON Lines, checkpoints), the integrity check, KEK rotation and passphrase
stores with explicit Argon2id costs."""

import datetime
import json

import pytest

import keylife
from keylife import ApprovalOperation, Operation, Purpose, Role, State

POLICY = """
version = 1
classifications = ["internal", "secret"]

[purpose.aead]
usage_limit = 1000
"""

DUAL_CONTROL = """
version = 1
[approvals.destroy]
required = 2
approvers = ["carol", "dave", "erin"]
[approvals.policy_change]
required = 2
approvers = ["carol", "dave", "erin"]
"""


@pytest.fixture
def store():
    with keylife.Store.memory("security-team") as s:
        yield s


def active(store, purpose=Purpose.AEAD, name="k"):
    k = store.create(purpose, name)
    k.activate()
    return k


def test_policy_in_force_digest_and_report(store):
    assert store.policy() is None
    store.set_policy(POLICY)
    canonical = store.policy()
    assert canonical.startswith("version = 1\n") and "usage_limit = 1000" in canonical
    digest = keylife.policy_digest(POLICY)
    assert len(digest) == 64 and digest == keylife.policy_digest(canonical)
    key = active(store)
    info = key.info()
    assert info["usage_limit"] == 1000
    assert info["policy_version"] == 1 and info["policy_digest"] == digest
    with pytest.raises(keylife.PolicyError, match="policy line 2"):
        store.set_policy("version = 2\nfavourite_colour = 'blue'\n")
    with pytest.raises(keylife.PolicyError, match="does not increase"):
        store.set_policy(POLICY)
    with pytest.raises(keylife.PolicyError):
        keylife.policy_digest("version = ")
    report = store.compliance_report()
    assert report["total_keys"] == 1 and report["policy_version"] == 1
    assert [f["key_id"] for f in report["without_owner"]] == [key.id]
    store.register_principal("op", Role.OPERATOR)
    with store.as_principal("op") as op:
        with pytest.raises(keylife.PermissionDeniedError):
            op.set_policy("version = 2")


def test_grants_let_registered_applications_use_keys(store):
    key = active(store)
    with pytest.raises(keylife.NotFoundError):
        key.grant("billing", Operation.ENCRYPT)
    store.register_principal("billing", Role.APPLICATION)
    with pytest.raises(keylife.AlreadyExistsError):
        store.register_principal("billing", Role.APPLICATION)
    with pytest.raises(keylife.InvalidArgumentError):
        store.register_principal("a/b")
    with pytest.raises(keylife.InvalidArgumentError):
        key.grant("billing", [])
    with store.as_principal("billing") as app:
        k_app = app.load(key.id)
        with pytest.raises(keylife.PermissionDeniedError):
            k_app.encrypt(b"invoice")
        key.grant("billing", Operation.ENCRYPT)
        ct = k_app.encrypt(b"invoice")
        with pytest.raises(keylife.PermissionDeniedError):
            app.decrypt(ct)
        soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        key.grant("billing", [Operation.ENCRYPT, Operation.DECRYPT], expires_at=soon)
        assert app.decrypt(ct) == b"invoice"
        assert key.info()["grants"][0]["operations"] == ["encrypt", "decrypt"]
        key.grant("billing", Operation.DECRYPT, expires_at=1)  # 1970: expired
        with pytest.raises(keylife.PermissionDeniedError):
            app.decrypt(ct)
        with pytest.raises(keylife.InvalidArgumentError, match="timezone"):
            key.grant("billing", Operation.DECRYPT, expires_at=datetime.datetime(2099, 1, 1))
        key.revoke_grant("billing")
        with pytest.raises(keylife.NotFoundError):
            key.revoke_grant("billing")
        with pytest.raises(keylife.PermissionDeniedError):
            k_app.grant("billing", Operation.ENCRYPT)
        k_app.close()


def test_dual_control_with_approvers_holding_their_own_keys(store):
    approvers = {}
    for name in ("carol", "dave", "erin"):
        own = keylife.Store.memory(name)
        k = active(own, Purpose.SIGNING, "approvals")
        store.register_approver(name, k.public_key_der())
        approvers[name] = (own, k)
    store.set_policy(DUAL_CONTROL)
    doomed = store.create(Purpose.MAC, "old-webhook-key")
    key_id = doomed.id
    with pytest.raises(keylife.ApprovalRequiredError):
        doomed.destroy("cleanup")
    with pytest.raises(keylife.AlreadyConsumedError):
        doomed.destroy("cleanup")

    req = store.request_approval(ApprovalOperation.DESTROY, key_id)
    assert json.loads(req)["operation"] == "destroy"
    assert keylife.approval_request_canonical_bytes(req).startswith(b"keylife-approval-v1\0")
    a_carol = approvers["carol"][1].approve("carol", req)
    a_dave = approvers["dave"][1].approve("dave", req)
    with pytest.raises(keylife.ApprovalRequiredError, match="1 valid"):
        store.submit_approvals(req, [a_carol])
    with pytest.raises(keylife.MalformedError):
        store.submit_approvals(req, ["not json"])
    store.submit_approvals(req, [a_carol, json.loads(a_dave)])
    again = store.load(key_id)
    again.destroy("approved by carol and dave")
    assert again.state is State.DESTROYED
    with pytest.raises(keylife.ApprovalRequiredError, match="already used"):
        store.submit_approvals(req, [a_carol, a_dave])

    # A policy change names the new policy's digest.
    nxt = "version = 2\n"
    with pytest.raises(keylife.ApprovalRequiredError):
        store.set_policy(nxt)
    req = store.request_approval(
        ApprovalOperation.POLICY_CHANGE, parameters={"policy_digest": keylife.policy_digest(nxt)}
    )
    store.submit_approvals(req, [approvers[n][1].approve(n, req) for n in ("dave", "erin")])
    store.set_policy(nxt)
    assert store.policy().startswith("version = 2")
    with pytest.raises(keylife.MalformedError):
        store.request_approval(ApprovalOperation.RESTORE, "not-an-id")
    for own, k in approvers.values():
        k.close()
        own.close()


def test_versions_are_managed_one_by_one(store):
    key = active(store)
    ct1 = key.encrypt(b"one")
    assert key.rotate() == 2
    ct2 = key.encrypt(b"two")
    with pytest.raises(keylife.InvalidArgumentError):
        key.destroy_version(2)
    key.compromise_version(1, "old backup leaked")
    with pytest.raises(keylife.KeylifeError):
        key.decrypt(ct1)
    assert key.decrypt(ct2) == b"two"
    key.destroy_version(1, "trim")
    with pytest.raises(keylife.VersionUnavailableError):
        key.destroy_version(1)
    with pytest.raises(keylife.NotFoundError):
        key.compromise_version(7)
    assert key.rotate() == 3
    key.set_min_decryption_version(3)
    with pytest.raises(keylife.KeylifeError):
        key.decrypt(ct2)
    with pytest.raises(keylife.InvalidArgumentError):
        key.set_min_decryption_version(2)
    assert key.info()["min_decryption_version"] == 3
    idle = store.create(Purpose.AEAD, "idle")
    with pytest.raises(keylife.WrongStateError):
        idle.compromise_version(1)
    assert idle.state is State.PRE_ACTIVE


def test_audit_log_verifies_exports_and_checkpoints(store):
    key = active(store)
    key.encrypt(b"secret stuff", aad=b"ctx")
    store.flush_audit()
    v = store.verify_audit()
    assert v.entries == v.head_seq >= 4 and len(v.head_mac) == 64
    lines = store.export_audit_jsonl()
    entries = [json.loads(line) for line in lines.splitlines()]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert len(entries) >= v.entries + 1  # includes the verification above
    # A new store registers its first administrator, then opens.
    assert [e["operation"] for e in entries[:2]] == ["register_principal", "open_store"]
    assert any(e["operation"] == "encrypt" and e["outcome"] == "success" for e in entries)
    assert "secret stuff" not in lines
    assert [e["seq"] for e in store.audit_entries(2, 3)] == [2, 3]
    assert store.export_audit_jsonl(10**9) == ""

    signer = active(store, Purpose.SIGNING, "audit-signer")
    cp = store.audit_checkpoint(signer)
    assert json.loads(cp)["signer"] == signer.id
    assert store.verify_audit_checkpoint(cp, signer) > json.loads(cp)["seq"]
    keylife.verify_audit_checkpoint_signature(cp, signer.public_key_der())
    signer.rotate()
    store.verify_audit_checkpoint(cp, signer)  # old versions still verify it
    other = active(store, Purpose.SIGNING, "other")
    with pytest.raises(keylife.AuthenticationError):
        store.verify_audit_checkpoint(cp, other)
    forged = json.loads(cp)
    forged["seq"] = 1
    with pytest.raises(keylife.AuthenticationError):
        keylife.verify_audit_checkpoint_signature(json.dumps(forged), signer.public_key_der())
    with pytest.raises(keylife.MalformedError):
        store.verify_audit_checkpoint("{", signer)
    with pytest.raises(keylife.WrongPurposeError):
        store.audit_checkpoint(key)

    report = store.verify_integrity()
    assert report.keys == 3 and report.audit_entries > v.entries
    store.register_principal("app", Role.APPLICATION)
    with store.as_principal("app") as app:
        with pytest.raises(keylife.PermissionDeniedError):
            app.verify_audit()
        with pytest.raises(keylife.PermissionDeniedError):
            app.verify_integrity()
    store.register_principal("auditor", Role.AUDITOR)
    with store.as_principal("auditor") as auditor:
        assert auditor.verify_audit().entries > v.entries
        with auditor.load(signer.id) as s_aud:
            auditor.verify_audit_checkpoint(cp, s_aud)


def test_checkpoint_exposes_a_restored_old_copy(tmp_path):
    path = tmp_path / "keys.kl"
    kek = bytes(range(32))
    with keylife.Store.open(path, kek, backend="file") as s:
        key = active(s)
        signer = active(s, Purpose.SIGNING, "signer")
        s.flush_audit()
        old = path.read_bytes()
        key.encrypt(b"later")
        cp = s.audit_checkpoint(signer)
        signer_id = signer.id
        key.close()
        signer.close()
    path.write_bytes(old)
    with keylife.Store.open(path, kek, backend="file") as s:
        s.verify_audit()  # consistent on its own
        with s.load(signer_id) as signer:
            with pytest.raises(keylife.IntegrityError):
                s.verify_audit_checkpoint(cp, signer)


def test_passphrase_store_with_cheap_costs_then_rotated_to_a_raw_kek(tmp_path):
    path = tmp_path / "keys.db"
    with pytest.raises(keylife.InvalidArgumentError):
        keylife.Store.open(path, passphrase="pw", argon2=(1024, 0, 1))
    with pytest.raises(keylife.InvalidArgumentError):
        keylife.Store.open(path, bytes(32), argon2=(1024, 1, 1))
    cheap = keylife.Argon2Params(memory_kib=1024, iterations=1, parallelism=1)
    with keylife.Store.open(path, passphrase="correct horse", argon2=cheap) as s:
        key = active(s)
        ct = key.encrypt(b"kept")
        key.close()
    with pytest.raises(keylife.WrongKekError):
        keylife.Store.open(path, passphrase="wrong horse", argon2=cheap)
    new_kek = bytes([7]) * 32
    with keylife.Store.open(path, passphrase="correct horse", argon2=cheap) as s:
        assert s.kek_rotation_pending() is False
        with pytest.raises(keylife.InvalidArgumentError):
            s.rotate_kek(b"short")
        seen = []
        s.rotate_kek(new_kek, progress=lambda done, total: seen.append((done, total)))
        assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 0
        newer = bytes([8]) * 32

        def boom(done, total):
            raise RuntimeError("progress callback failed")

        with pytest.raises(RuntimeError, match="progress callback failed"):
            s.rotate_kek(newer, progress=boom)
        assert s.kek_rotation_pending() is False  # the rotation itself finished
    with pytest.raises(keylife.WrongKekError):
        keylife.Store.open(path, new_kek)
    with keylife.Store.open(path, newer) as s:
        assert s.decrypt(ct) == b"kept"
        assert s.verify_integrity().keys == 1


def test_principal_handles_are_capabilities(store):
    """Roles come from the registry; a principal handle mints no other."""
    with pytest.raises(keylife.NotFoundError):
        store.as_principal("billing")
    store.register_principal("billing", Role.APPLICATION)
    with store.as_principal("billing") as app:
        with pytest.raises(keylife.PermissionDeniedError):
            app.as_principal("billing")
        with pytest.raises(keylife.PermissionDeniedError):
            app.create(Purpose.AEAD, "mine")
