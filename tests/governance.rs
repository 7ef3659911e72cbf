//! Governance through the store: grants, policy in force, dual control on
//! gated operations, scheduled destruction leaving no trace, scheduled
//! rotation, compliance report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use common::Mint;

use std::time::Duration;

use common::{DAY, Fixture};
use keylife::approval::{Approval, ApprovalRequest};
use keylife::policy::{ApprovalOperation, Policy};
use keylife::purpose::{Aead, Signing};
use keylife::{
    AnyKey, ErrorKind, Key, KeySpec, KeyStore, Operation, Outcome, Principal, Role, StateName,
};

fn kind<T: std::fmt::Debug>(r: keylife::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// An approver holding their signing key in their own keylife store.
struct Approver {
    name: &'static str,
    key: Key<Signing, keylife::state::Active>,
}

impl Approver {
    fn new(name: &'static str) -> Approver {
        let own = KeyStore::in_memory(Principal::admin(name)).unwrap();
        Approver {
            name,
            key: own
                .create_active(KeySpec::<Signing>::new("approvals"))
                .unwrap(),
        }
    }
    fn approve(&self, req: &ApprovalRequest) -> Approval {
        Approval::new(self.name, self.key.sign(&req.canonical_bytes()).unwrap())
    }
}

const DUAL_CONTROL: &str = r#"
version = 1
[approvals.destroy]
required = 2
approvers = ["carol", "dave", "erin"]
[approvals.schedule_destruction]
required = 2
approvers = ["carol", "dave", "erin"]
[approvals.policy_change]
required = 2
approvers = ["carol", "dave", "erin"]
"#;

fn dual_control() -> (Fixture, Vec<Approver>) {
    let f = Fixture::new();
    let approvers: Vec<_> = ["carol", "dave", "erin"]
        .into_iter()
        .map(Approver::new)
        .collect();
    for a in &approvers {
        f.store
            .register_approver(a.name, &a.key.public_key(None).unwrap())
            .unwrap();
    }
    f.store
        .set_policy(&Policy::from_toml(DUAL_CONTROL).unwrap())
        .unwrap();
    (f, approvers)
}

#[test]
fn applications_use_keys_only_through_current_grants() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let svc = Principal::new("svc", &[Role::Application]);
    // Grants name registered principals only.
    assert_eq!(
        kind(key.grant("svc", &[Operation::Encrypt], None)),
        ErrorKind::NotFound
    );
    f.store.register_principal(&svc).unwrap();
    assert_eq!(
        kind(f.store.register_principal(&svc)),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        kind(key.grant("svc", &[Operation::Rotate], None)),
        ErrorKind::InvalidArgument
    );
    let app = f.store.mint(svc.clone());
    let k = app.load_active::<Aead>(&key.id()).unwrap();
    assert_eq!(kind(k.encrypt(b"m", b"")), ErrorKind::PermissionDenied);
    key.grant("svc", &[Operation::Encrypt], Some(common::T0.plus(DAY)))
        .unwrap();
    let ct = k.encrypt(b"m", b"").unwrap();
    assert_eq!(kind(app.decrypt(&ct, b"")), ErrorKind::PermissionDenied);
    // An application cannot grant itself more.
    assert_eq!(
        kind(k.grant("svc", &[Operation::Decrypt], None)),
        ErrorKind::PermissionDenied
    );
    // Expiry.
    f.clock.advance(DAY);
    assert_eq!(kind(k.encrypt(b"m", b"")), ErrorKind::PermissionDenied);
    key.grant("svc", &[Operation::Encrypt, Operation::Decrypt], None)
        .unwrap();
    assert_eq!(app.decrypt(&ct, b"").unwrap(), b"m");
    key.revoke_grant("svc").unwrap();
    assert_eq!(kind(app.decrypt(&ct, b"")), ErrorKind::PermissionDenied);
    assert_eq!(kind(key.revoke_grant("svc")), ErrorKind::NotFound);
    let info = key.info().unwrap();
    assert!(info.grants.is_empty());
    let entries = f.store.audit_entries().unwrap();
    let denied = entries
        .iter()
        .filter(|e| e.principal == "svc" && e.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 5);
    assert!(
        entries
            .iter()
            .any(|e| e.operation == Operation::Grant && e.outcome == Outcome::Success)
    );
}

#[test]
fn the_policy_in_force_shapes_new_keys_and_is_versioned() {
    let f = Fixture::new();
    let v1 = Policy::from_toml(
        r#"
version = 1
classifications = ["internal", "secret"]
[purpose.aead]
usage_limit = 1000
originator_usage_days = 30
rotation_period_days = 10
rotate_at_usage_limit = true
[destruction]
min_wait_days = 3
default_wait_days = 10
"#,
    )
    .unwrap();
    f.store.set_policy(&v1).unwrap();
    let key = f
        .store
        .create(KeySpec::<Aead>::new("k").classification("secret"))
        .unwrap()
        .activate()
        .unwrap();
    let info = key.info().unwrap();
    assert_eq!(info.usage_limit, 1000);
    assert!(info.rotate_at_usage_limit);
    assert_eq!(info.deactivation_date, Some(common::T0.plus(30 * DAY)));
    assert_eq!(info.policy_version, Some(1));
    assert_eq!(info.policy_digest.as_deref(), Some(v1.digest().as_str()));
    assert_eq!(
        kind(
            f.store
                .create(KeySpec::<Aead>::new("x").classification("top-secret"))
        ),
        ErrorKind::Policy
    );
    assert_eq!(
        kind(f.store.create(KeySpec::<Aead>::new("x").usage_limit(5000))),
        ErrorKind::Policy
    );
    // The policy's destruction minimum (3 days) replaces the store's 7.
    let d = f
        .store
        .create_active(KeySpec::<Aead>::new("d"))
        .unwrap()
        .deactivate("x")
        .unwrap();
    let p = d.schedule_destruction(3 * DAY, "short").unwrap();
    assert_eq!(p.state(), StateName::PendingDestruction);
    // Scheduled rotation: after 10 days the next use rotates first.
    f.clock.advance(10 * DAY);
    let ct = key.encrypt(b"m", b"").unwrap();
    assert_eq!(keylife::CiphertextInfo::parse(&ct).unwrap().key_version, 2);
    // Versions only increase; history is kept; changes are audited.
    assert_eq!(kind(f.store.set_policy(&v1)), ErrorKind::Policy);
    let v2 = Policy::from_toml("version = 2").unwrap();
    f.store.set_policy(&v2).unwrap();
    let history = f.store.policy_history().unwrap();
    assert_eq!(history.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(f.store.policy().unwrap().unwrap().version(), 2);
    assert_eq!(
        key.info().unwrap().policy_version,
        Some(1),
        "keys keep the policy they were created under"
    );
    let sets = f.store.audit_entries().unwrap();
    assert_eq!(
        sets.iter()
            .filter(|e| e.operation == Operation::SetPolicy && e.outcome == Outcome::Success)
            .count(),
        2
    );
    // Only administrators change policy.
    let op = f.store.mint(Principal::new("op", &[Role::Operator]));
    assert_eq!(
        kind(op.set_policy(&Policy::from_toml("version = 3").unwrap())),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn destruction_needs_two_of_three_approvals() {
    let (f, approvers) = dual_control();
    let key = f
        .store
        .create_active(KeySpec::<Aead>::new("k"))
        .unwrap()
        .deactivate("x")
        .unwrap();
    let id = key.id();
    // Without approvals: refused, audited, and the key is untouched.
    assert_eq!(
        kind(key.schedule_destruction(30 * DAY, "cleanup")),
        ErrorKind::ApprovalRequired
    );
    let key = match f.store.load::<Aead>(&id).unwrap() {
        AnyKey::Deactivated(k) => k,
        other => panic!("{:?}", other.state()),
    };
    let req = f
        .store
        .request_approval(
            ApprovalOperation::ScheduleDestruction,
            Some(id),
            &[],
            Duration::from_secs(3600),
        )
        .unwrap();
    // One approval is not enough.
    assert_eq!(
        kind(
            f.store
                .submit_approvals(&req, &[approvers[0].approve(&req)])
        ),
        ErrorKind::ApprovalRequired
    );
    // The same approver twice counts once.
    let twice = [approvers[0].approve(&req), approvers[0].approve(&req)];
    assert_eq!(
        kind(f.store.submit_approvals(&req, &twice)),
        ErrorKind::ApprovalRequired
    );
    // A forged approval (signed by someone else) is refused outright.
    let forged = Approval::new("dave", approvers[0].approve(&req).signature);
    assert_eq!(
        kind(
            f.store
                .submit_approvals(&req, &[approvers[0].approve(&req), forged])
        ),
        ErrorKind::ApprovalRequired
    );
    // Two real approvals.
    let good = [approvers[0].approve(&req), approvers[1].approve(&req)];
    f.store.submit_approvals(&req, &good).unwrap();
    let pending = key.schedule_destruction(30 * DAY, "cleanup").unwrap();
    assert_eq!(pending.state(), StateName::PendingDestruction);
    // Replayed: the request was used.
    assert_eq!(
        kind(f.store.submit_approvals(&req, &good)),
        ErrorKind::ApprovalRequired
    );
    let entries = f.store.audit_entries().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.operation == Operation::ScheduleDestruction && e.outcome == Outcome::Failed)
    );
    assert!(entries.iter().any(|e| e.operation == Operation::ScheduleDestruction && e.outcome == Outcome::Success));
}

#[test]
fn approvals_are_bound_to_their_request_requester_and_lifetime() {
    let (f, approvers) = dual_control();
    let a = f.store.create(KeySpec::<Aead>::new("a")).unwrap();
    let b = f.store.create(KeySpec::<Aead>::new("b")).unwrap();
    let b_id = b.id();
    // Approved for key a, used on key b: wrong request.
    let req = f
        .store
        .request_approval(
            ApprovalOperation::Destroy,
            Some(a.id()),
            &[],
            Duration::from_secs(3600),
        )
        .unwrap();
    f.store
        .submit_approvals(
            &req,
            &[approvers[1].approve(&req), approvers[2].approve(&req)],
        )
        .unwrap();
    assert_eq!(kind(b.destroy("wrong key")), ErrorKind::ApprovalRequired);
    // Another principal cannot use them either.
    let other = f.store.mint(Principal::admin("mallory"));
    let a2 = match other.load::<Aead>(&a.id()).unwrap() {
        AnyKey::PreActive(k) => k,
        _ => unreachable!(),
    };
    assert_eq!(kind(a2.destroy("not mine")), ErrorKind::ApprovalRequired);
    // The requester's own approval does not count (separation of duties):
    // carol requests and approves.
    let carol = f.store.mint(Principal::admin("carol"));
    let req2 = carol
        .request_approval(
            ApprovalOperation::Destroy,
            Some(b_id),
            &[],
            Duration::from_secs(3600),
        )
        .unwrap();
    let err = carol
        .submit_approvals(
            &req2,
            &[approvers[0].approve(&req2), approvers[1].approve(&req2)],
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ApprovalRequired);
    assert!(err.to_string().contains("carol"), "{err}");
    // Expired.
    let req3 = f
        .store
        .request_approval(
            ApprovalOperation::Destroy,
            Some(b_id),
            &[],
            Duration::from_secs(60),
        )
        .unwrap();
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(
        kind(f.store.submit_approvals(
            &req3,
            &[approvers[0].approve(&req3), approvers[1].approve(&req3)]
        )),
        ErrorKind::ApprovalRequired
    );
    // The right request, on time: works.
    assert_eq!(a.destroy("approved").unwrap().state(), StateName::Destroyed);
}

#[test]
fn policy_changes_can_be_under_dual_control() {
    let (f, approvers) = dual_control();
    let next = Policy::from_toml("version = 2").unwrap();
    assert_eq!(kind(f.store.set_policy(&next)), ErrorKind::ApprovalRequired);
    let req = f
        .store
        .request_approval(
            ApprovalOperation::PolicyChange,
            None,
            &[("policy_digest", next.digest().as_str())],
            Duration::from_secs(3600),
        )
        .unwrap();
    f.store
        .submit_approvals(
            &req,
            &[approvers[0].approve(&req), approvers[2].approve(&req)],
        )
        .unwrap();
    // Approvals for another digest do not apply to this one.
    let other = Policy::from_toml("version = 3").unwrap();
    assert_eq!(
        kind(f.store.set_policy(&other)),
        ErrorKind::ApprovalRequired
    );
    f.store.set_policy(&next).unwrap();
    assert_eq!(f.store.policy().unwrap().unwrap().version(), 2);
}

#[cfg(all(feature = "hazmat", feature = "sqlite"))]
#[test]
fn purged_keys_leave_no_trace_of_material_but_keep_their_tombstone() {
    use keylife::backend::SqliteBackend;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let clock = keylife::ManualClock::new(common::T0);
    let store = KeyStore::builder(SqliteBackend::open(&path).unwrap())
        .clock(clock.clone())
        .open(&common::raw(&[5; 32]), Principal::admin("ops"))
        .unwrap();
    // Every sealed version of the key's record that ever held material.
    let reader = SqliteBackend::open(&path).unwrap();
    let mut sealed_versions: Vec<Vec<u8>> = Vec::new();
    let mut snap = |id: &keylife::KeyId| {
        use keylife::backend::Backend;
        let rec = reader.get(&format!("key/{id}")).unwrap().unwrap();
        sealed_versions.push(rec.value);
    };
    let key = store
        .create_active(KeySpec::<Aead>::new("doomed").exportable(true))
        .unwrap();
    let id = key.id();
    snap(&id);
    key.encrypt(b"m", b"").unwrap();
    snap(&id);
    key.rotate().unwrap();
    snap(&id);
    let material: Vec<Vec<u8>> = [1, 2]
        .iter()
        .map(|v| {
            key.hazmat_export_raw(Some(*v))
                .unwrap()
                .expose_secret()
                .to_vec()
        })
        .collect();
    let pending = key
        .deactivate("done")
        .unwrap()
        .schedule_destruction(7 * DAY, "retire")
        .unwrap();
    snap(&id);
    clock.advance(7 * DAY);
    let report = store.maintenance().unwrap();
    assert_eq!(
        report.transitions,
        vec![(id, StateName::PendingDestruction, StateName::Destroyed)]
    );
    drop(pending);
    store.flush_audit().unwrap();
    drop(store);
    drop(reader);
    let reopened = KeyStore::open(
        SqliteBackend::open(&path).unwrap(),
        &common::raw(&[5; 32]),
        Principal::admin("ops"),
    )
    .unwrap();
    let info = reopened.info(&id).unwrap();
    assert_eq!(info.state, StateName::Destroyed);
    assert_eq!(info.versions.len(), 2, "the tombstone keeps its metadata");
    assert!(matches!(
        reopened.load::<Aead>(&id).unwrap(),
        AnyKey::Destroyed(_)
    ));
    reopened.verify_integrity().unwrap();
    // Raw bytes of the database and its WAL, after a checkpoint: no key
    // material, and — what matters to someone holding the KEK — no copy of
    // any sealed record version that still held material (secure_delete).
    SqliteBackend::open(&path).unwrap().checkpoint().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
        bytes.extend(wal);
    }
    for m in &material {
        assert!(
            !bytes.windows(m.len()).any(|w| w == m.as_slice()),
            "material found in the raw file"
        );
    }
    assert_eq!(sealed_versions.len(), 4);
    for (i, v) in sealed_versions.iter().enumerate() {
        // Any 48-byte piece of the sealed ciphertext would do.
        let piece = &v[20..68];
        assert!(
            !bytes.windows(piece.len()).any(|w| w == piece),
            "sealed record version {i} with material survives in the file"
        );
    }
}

#[test]
fn the_compliance_report_comes_from_the_store() {
    let f = Fixture::new();
    f.store
        .set_policy(
            &Policy::from_toml("version = 1\n[purpose.mac]\nrotation_period_days = 30").unwrap(),
        )
        .unwrap();
    f.store
        .create_active(KeySpec::<keylife::purpose::Mac>::new("unowned"))
        .unwrap();
    f.store
        .create_active(
            KeySpec::<keylife::purpose::Mac>::new("owned")
                .owner("web")
                .rotation_period(Duration::from_secs(100 * 86_400)),
        )
        .unwrap();
    f.clock.advance(40 * DAY);
    let report = f.store.compliance_report().unwrap();
    assert_eq!(report.total_keys, 2);
    assert_eq!(report.without_owner.len(), 1);
    let json = report.to_json_pretty().unwrap();
    assert!(json.contains("\"without_owner\""), "{json}");
}

#[test]
fn auditors_may_not_request_or_submit_approvals() {
    let (f, approvers) = dual_control();
    let id = f.store.create(KeySpec::<Aead>::new("k")).unwrap().id();
    let eve = f.store.mint(Principal::new("eve", &[Role::Auditor]));
    let ttl = Duration::from_secs(60);
    assert_eq!(
        kind(eve.request_approval(ApprovalOperation::Destroy, Some(id), &[], ttl)),
        ErrorKind::PermissionDenied
    );
    let req = f
        .store
        .request_approval(ApprovalOperation::Destroy, Some(id), &[], ttl)
        .unwrap();
    let approvals = [approvers[0].approve(&req), approvers[1].approve(&req)];
    assert_eq!(
        kind(eve.submit_approvals(&req, &approvals)),
        ErrorKind::PermissionDenied
    );
    let entries = f.store.audit_entries().unwrap();
    let denied = entries
        .iter()
        .filter(|e| e.principal == "eve" && e.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 2);
}
