//! The lifecycle end to end: transitions, dates, versions, rotation,
//! ciphertext handling, bad input, authorization and audit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use common::Mint;

use common::{DAY, Fixture};
use keylife::purpose::{Aead, Agreement, Derivation, Mac, Signing};
use keylife::{
    AnyKey, CiphertextInfo, ErrorKind, KeyFilter, KeySpec, Operation, Outcome, Principal,
    PublicKey, Role, StateName, StoreOptions, VersionState,
};

fn kind<T: std::fmt::Debug>(r: keylife::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

#[test]
fn full_walk_records_every_transition() {
    let f = Fixture::new();
    let key = f
        .store
        .create(KeySpec::<Aead>::new("pii").owner("crm"))
        .unwrap();
    assert_eq!(key.state(), StateName::PreActive);
    let key = key.activate().unwrap();
    let ct = key.encrypt(b"jane", b"ctx").unwrap();
    assert_eq!(key.rotate().unwrap(), 2);
    let key = key.suspend("audit hold").unwrap();
    assert_eq!(key.decrypt(&ct, b"ctx").unwrap(), b"jane");
    let key = key.resume().unwrap();
    let key = key.deactivate("superseded").unwrap();
    assert_eq!(key.decrypt(&ct, b"ctx").unwrap(), b"jane");
    let key = key.compromise("laptop stolen").unwrap();
    assert_eq!(kind(f.store.decrypt(&ct, b"ctx")), ErrorKind::WrongState);
    let pending = key.schedule_destruction(7 * DAY, "compromised").unwrap();
    assert_eq!(pending.state(), StateName::PendingDestruction);
    f.clock.advance(7 * DAY);
    let report = f.store.maintenance().unwrap();
    assert_eq!(
        report.transitions,
        vec![(
            pending.id(),
            StateName::PendingDestruction,
            StateName::DestroyedCompromised
        )]
    );

    let info = f.store.info(&pending.id()).unwrap();
    assert_eq!(info.state, StateName::DestroyedCompromised);
    let path: Vec<_> = info.history.iter().map(|c| c.to).collect();
    assert_eq!(
        path,
        vec![
            StateName::PreActive,
            StateName::Active,
            StateName::Suspended,
            StateName::Active,
            StateName::Deactivated,
            StateName::Compromised,
            StateName::PendingDestruction,
            StateName::DestroyedCompromised,
        ]
    );
    assert_eq!(info.history[5].reason, "laptop stolen");
    assert_eq!(info.history[5].principal, "alice");
    assert_eq!(info.history[7].principal, "keylife:scheduler");
    assert_eq!(info.versions.len(), 2);
    assert_eq!(info.owner.as_deref(), Some("crm"));
    assert!(info.last_rotated_at.is_some());
    // Destroyed: nothing decrypts, metadata stays.
    assert_eq!(kind(f.store.decrypt(&ct, b"ctx")), ErrorKind::WrongState);
    assert!(matches!(
        f.store.load::<Aead>(&info.id).unwrap(),
        AnyKey::Destroyed(_)
    ));
}

#[test]
fn stale_typed_handles_fail_with_wrong_state() {
    let f = Fixture::new();
    let id = f
        .store
        .create_active(KeySpec::<Aead>::new("k"))
        .unwrap()
        .id();
    let a = f.store.load_active::<Aead>(&id).unwrap();
    let b = f.store.load_active::<Aead>(&id).unwrap();
    let _a = a.deactivate("done").unwrap();
    // b still believes Active.
    assert_eq!(kind(b.encrypt(b"x", b"")), ErrorKind::WrongState);
    assert_eq!(kind(b.rotate()), ErrorKind::WrongState);
    assert_eq!(kind(b.suspend("x")), ErrorKind::WrongState);
    // But it can be re-typed from the live state.
    assert!(
        matches!(f.store.load_active::<Aead>(&id).map(|_| ()), Err(e) if e.kind() == ErrorKind::WrongState)
    );
}

#[test]
fn invalid_transitions_are_refused() {
    let f = Fixture::new();
    let pre = f.store.create(KeySpec::<Mac>::new("m")).unwrap();
    let id = pre.id();
    let destroyed = pre.destroy("never used").unwrap();
    assert_eq!(destroyed.state(), StateName::Destroyed);
    // A Destroyed key cannot come back, even via a stale PreActive handle.
    match f.store.load::<Mac>(&id).unwrap() {
        AnyKey::Destroyed(_) => {}
        other => panic!("unexpected {:?}", other.state()),
    }
    let active = f.store.create_active(KeySpec::<Mac>::new("m2")).unwrap();
    let id2 = active.id();
    let stale_pre = match f.store.load::<Mac>(&id2).unwrap() {
        AnyKey::Active(k) => k,
        _ => unreachable!(),
    };
    let deact = active.deactivate("x").unwrap();
    // Deactivated cannot be resumed or suspended through stale handles.
    assert_eq!(kind(stale_pre.suspend("x")), ErrorKind::WrongState);
    // Deactivated → PendingDestruction → cancel → Deactivated.
    let pending = deact.schedule_destruction(30 * DAY, "cleanup").unwrap();
    match pending.cancel_destruction().unwrap() {
        AnyKey::Deactivated(k) => assert_eq!(k.state(), StateName::Deactivated),
        other => panic!("cancel went to {:?}", other.state()),
    }
}

#[test]
fn destruction_waiting_period_is_enforced_and_cancellable() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let ct = key.encrypt(b"m", b"").unwrap();
    let key = key.compromise("leak").unwrap();
    let id = key.id();
    // Below the 7-day minimum.
    assert_eq!(
        kind(key.schedule_destruction(DAY, "too soon")),
        ErrorKind::Policy
    );
    let key = match f.store.load::<Aead>(&id).unwrap() {
        AnyKey::Compromised(k) => k,
        other => panic!("{:?}", other.state()),
    };
    let pending = key.schedule_destruction(10 * DAY, "cleanup").unwrap();
    let info = f.store.info(&id).unwrap();
    assert_eq!(info.destruction_date, Some(common::T0.plus(10 * DAY)));
    // Cancel returns to Compromised, not to Active.
    let back = pending.cancel_destruction().unwrap();
    assert_eq!(back.state(), StateName::Compromised);
    let AnyKey::Compromised(key) = back else {
        panic!()
    };
    let pending = key.schedule_destruction(8 * DAY, "again").unwrap();
    f.clock.advance(8 * DAY);
    // The date passed: loading applies it; cancel is too late.
    assert_eq!(kind(pending.cancel_destruction()), ErrorKind::WrongState);
    assert_eq!(
        f.store.info(&id).unwrap().state,
        StateName::DestroyedCompromised
    );
    assert_eq!(kind(f.store.decrypt(&ct, b"")), ErrorKind::WrongState);
}

#[test]
fn activation_date_and_cryptoperiod_apply_on_load_use_and_maintenance() {
    let f = Fixture::new();
    let later = common::T0.plus(2 * DAY);
    let key = f
        .store
        .create(
            KeySpec::<Aead>::new("scheduled")
                .activation_date(later)
                .cryptoperiod(30 * DAY),
        )
        .unwrap();
    let id = key.id();
    assert!(matches!(
        f.store.load::<Aead>(&id).unwrap(),
        AnyKey::PreActive(_)
    ));
    f.clock.advance(2 * DAY);
    // Applied on load, by the scheduler.
    let active = f.store.load_active::<Aead>(&id).unwrap();
    let info = f.store.info(&id).unwrap();
    assert_eq!(info.activated_at, Some(later));
    assert_eq!(info.deactivation_date, Some(later.plus(30 * DAY)));
    assert_eq!(info.history.last().unwrap().principal, "keylife:scheduler");
    let ct = active.encrypt(b"m", b"").unwrap();
    f.clock.advance(30 * DAY);
    // Applied on use: the Active handle stops encrypting, decryption goes on.
    assert_eq!(kind(active.encrypt(b"m", b"")), ErrorKind::WrongState);
    assert_eq!(f.store.decrypt(&ct, b"").unwrap(), b"m");
    assert_eq!(f.store.info(&id).unwrap().state, StateName::Deactivated);

    // Maintenance moves keys nobody touches.
    let k2 = f
        .store
        .create(KeySpec::<Mac>::new("m").activation_date(f.clock_now().plus(DAY)))
        .unwrap()
        .id();
    drop(active);
    f.clock.advance(DAY);
    let report = f.store.maintenance().unwrap();
    assert!(
        report
            .transitions
            .contains(&(k2, StateName::PreActive, StateName::Active))
    );
}

trait ClockNow {
    fn clock_now(&self) -> keylife::Timestamp;
}
impl ClockNow for Fixture {
    fn clock_now(&self) -> keylife::Timestamp {
        use keylife::Clock;
        self.clock.now()
    }
}

#[test]
fn versions_rotation_trim_and_min_decryption_version() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let c1 = key.encrypt(b"one", b"").unwrap();
    key.rotate().unwrap();
    let c2 = key.encrypt(b"two", b"").unwrap();
    key.rotate().unwrap();
    let c3 = key.encrypt(b"three", b"").unwrap();
    for (ct, v) in [(&c1, 1), (&c2, 2), (&c3, 3)] {
        assert_eq!(CiphertextInfo::parse(ct).unwrap().key_version, v);
    }
    // Rewrap moves to the primary.
    let r1 = key.rewrap(&c1, b"").unwrap();
    assert_eq!(CiphertextInfo::parse(&r1).unwrap().key_version, 3);
    assert_eq!(key.decrypt(&r1, b"").unwrap(), b"one");
    // Compromise a single version: only its ciphertexts stop.
    key.compromise_version(2, "v2 leaked").unwrap();
    assert_eq!(kind(key.decrypt(&c2, b"")), ErrorKind::VersionUnavailable);
    assert_eq!(key.decrypt(&c1, b"").unwrap(), b"one");
    // Trim: the primary cannot be destroyed, older ones can.
    assert_eq!(
        kind(key.destroy_version(3, "x")),
        ErrorKind::InvalidArgument
    );
    key.destroy_version(2, "trim").unwrap();
    assert_eq!(
        kind(key.destroy_version(2, "again")),
        ErrorKind::VersionUnavailable
    );
    assert_eq!(kind(key.destroy_version(9, "x")), ErrorKind::NotFound);
    // Minimum decryption version retires v1 in bulk.
    key.set_min_decryption_version(3).unwrap();
    assert_eq!(kind(key.decrypt(&c1, b"")), ErrorKind::VersionUnavailable);
    assert_eq!(key.decrypt(&c3, b"").unwrap(), b"three");
    assert_eq!(
        kind(key.set_min_decryption_version(2)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(key.set_min_decryption_version(4)),
        ErrorKind::InvalidArgument
    );
    let info = key.info().unwrap();
    assert_eq!(info.primary_version, 3);
    assert_eq!(info.min_decryption_version, 3);
    assert_eq!(info.version(2).unwrap().state, VersionState::Destroyed);
    assert_eq!(info.version(1).unwrap().state, VersionState::Enabled);
}

#[test]
fn compromised_rewrap_override_is_explicit_and_audited() {
    let f = Fixture::new();
    let old = f.store.create_active(KeySpec::<Aead>::new("old")).unwrap();
    let target = f.store.create_active(KeySpec::<Aead>::new("new")).unwrap();
    let ct = old.encrypt(b"payload", b"ctx").unwrap();
    // Not compromised: the override refuses.
    assert_eq!(
        kind(f.store.rewrap_compromised(&ct, b"ctx", &target, "x")),
        ErrorKind::WrongState
    );
    let old = old.compromise("leak").unwrap();
    let moved = old
        .rewrap_compromised(&ct, b"ctx", &target, "incident 42")
        .unwrap();
    assert_eq!(CiphertextInfo::parse(&moved).unwrap().key_id, target.id());
    assert_eq!(target.decrypt(&moved, b"ctx").unwrap(), b"payload");
    // Only administrators.
    let app = f.store.mint(Principal::new("svc", &[Role::Application]));
    let target_app = app.load_active::<Aead>(&target.id()).unwrap();
    assert_eq!(
        kind(app.rewrap_compromised(&ct, b"ctx", &target_app, "x")),
        ErrorKind::PermissionDenied
    );
    let events = f.audit.events();
    let ev = events
        .iter()
        .find(|e| e.operation == Operation::CompromisedRewrap && e.outcome == Outcome::Success)
        .expect("audited");
    assert_eq!(ev.reason.as_deref(), Some("incident 42"));
    assert!(
        events
            .iter()
            .any(|e| e.operation == Operation::CompromisedRewrap && e.outcome == Outcome::Denied)
    );
}

#[test]
fn malformed_and_misdirected_ciphertexts_get_specific_errors() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let other = f
        .store
        .create_active(KeySpec::<Aead>::new("other"))
        .unwrap();
    let ct = key.encrypt(b"hello world", b"ctx").unwrap();
    assert_eq!(
        ct.len(),
        b"hello world".len() + keylife::key::CIPHERTEXT_OVERHEAD
    );

    assert_eq!(kind(f.store.decrypt(&[], b"ctx")), ErrorKind::Malformed);
    assert_eq!(
        kind(f.store.decrypt(&ct[..40], b"ctx")),
        ErrorKind::Malformed
    );
    let mut v2 = ct.clone();
    v2[0] = 2;
    assert_eq!(
        kind(f.store.decrypt(&v2, b"ctx")),
        ErrorKind::UnsupportedVersion
    );
    let mut alg = ct.clone();
    alg[1] = 77;
    assert_eq!(kind(f.store.decrypt(&alg, b"ctx")), ErrorKind::Malformed);
    let mut v0 = ct.clone();
    v0[18..22].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(kind(f.store.decrypt(&v0, b"ctx")), ErrorKind::Malformed);
    let mut v9 = ct.clone();
    v9[18..22].copy_from_slice(&9u32.to_be_bytes());
    assert_eq!(kind(f.store.decrypt(&v9, b"ctx")), ErrorKind::NotFound);
    let mut unknown = ct.clone();
    unknown[2..18].copy_from_slice(&[0xAB; 16]);
    assert_eq!(kind(f.store.decrypt(&unknown, b"ctx")), ErrorKind::NotFound);
    // Moved to another existing key: the header is authenticated.
    let mut moved = ct.clone();
    moved[2..18].copy_from_slice(other.id().as_bytes());
    assert_eq!(
        kind(f.store.decrypt(&moved, b"ctx")),
        ErrorKind::AuthenticationFailed
    );
    // Wrong context, flipped bits anywhere: one opaque kind.
    assert_eq!(
        kind(f.store.decrypt(&ct, b"other ctx")),
        ErrorKind::AuthenticationFailed
    );
    for i in [22, 30, 34, 40, ct.len() - 1] {
        let mut t = ct.clone();
        t[i] ^= 1;
        assert_eq!(
            kind(f.store.decrypt(&t, b"ctx")),
            ErrorKind::AuthenticationFailed,
            "byte {i}"
        );
    }
    // Asking a key to decrypt another key's ciphertext.
    assert_eq!(kind(other.decrypt(&ct, b"ctx")), ErrorKind::InvalidArgument);
    // Large associated data takes the heap path and still binds.
    let big_aad = vec![7u8; 4096];
    let ct2 = key.encrypt(b"m", &big_aad).unwrap();
    assert_eq!(key.decrypt(&ct2, &big_aad).unwrap(), b"m");
    let mut big2 = big_aad.clone();
    big2[4000] ^= 1;
    assert_eq!(
        kind(key.decrypt(&ct2, &big2)),
        ErrorKind::AuthenticationFailed
    );
}

#[test]
fn suspended_processing_follows_the_spec() {
    let f = Fixture::new();
    let strict = f
        .store
        .create_active(KeySpec::<Aead>::new("strict").suspended_processing(false))
        .unwrap();
    let ct = strict.encrypt(b"m", b"").unwrap();
    let strict = strict.suspend("hold").unwrap();
    assert_eq!(kind(strict.decrypt(&ct, b"")), ErrorKind::WrongState);
    let strict = strict.resume().unwrap();
    assert_eq!(strict.decrypt(&ct, b"").unwrap(), b"m");
    strict.encrypt(b"again", b"").unwrap();
}

#[test]
fn usage_limit_refuses_or_rotates() {
    let mut o = StoreOptions::default();
    o.usage_block = 3;
    let f = Fixture::with_options(o);
    let key = f
        .store
        .create_active(KeySpec::<Aead>::new("limited").usage_limit(10))
        .unwrap();
    for _ in 0..10 {
        key.encrypt(b"m", b"").unwrap();
    }
    assert_eq!(kind(key.encrypt(b"m", b"")), ErrorKind::UsageLimitExceeded);
    assert_eq!(key.info().unwrap().version(1).unwrap().usage_count, 10);
    // Rotation gives a fresh budget.
    key.rotate().unwrap();
    key.encrypt(b"m", b"").unwrap();

    let auto = f
        .store
        .create_active(
            KeySpec::<Aead>::new("auto")
                .usage_limit(4)
                .rotate_at_usage_limit(true),
        )
        .unwrap();
    let mut versions = Vec::new();
    for _ in 0..9 {
        let ct = auto.encrypt(b"m", b"").unwrap();
        versions.push(CiphertextInfo::parse(&ct).unwrap().key_version);
    }
    assert_eq!(versions, vec![1, 1, 1, 1, 2, 2, 2, 2, 3]);
    let info = auto.info().unwrap();
    assert_eq!(info.primary_version, 3);
    assert!(
        f.audit
            .events()
            .iter()
            .any(|e| e.operation == Operation::Rotate && e.principal == "keylife:scheduler")
    );
    // The default limit is the SP 800-38D bound.
    let dflt = f
        .store
        .create(KeySpec::<Aead>::new("d"))
        .unwrap()
        .info()
        .unwrap();
    assert_eq!(dflt.usage_limit, 1 << 32);
    assert_eq!(
        kind(
            f.store
                .create(KeySpec::<Aead>::new("x").usage_limit((1 << 32) + 1))
        ),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn usage_counts_are_reserved_before_use_so_a_crash_never_undercounts() {
    let mut o = StoreOptions::default();
    o.usage_block = 8;
    let f = Fixture::with_options(o.clone());
    let key = f
        .store
        .create_active(KeySpec::<Aead>::new("k").usage_limit(20))
        .unwrap();
    let id = key.id();
    for _ in 0..5 {
        key.encrypt(b"m", b"").unwrap();
    }
    // "Crash": another process opens the same records without this
    // process's in-memory counters.
    let other = f.reopen(o);
    let persisted = other.info(&id).unwrap().version(1).unwrap().usage_count;
    assert!(persisted >= 5, "persisted {persisted} < 5 true uses");
    // Near the limit reservations shrink to an eighth of what remains:
    // 0..2, 2..4, 4..6 of 20 (the block of 8 would have been 0..8).
    assert_eq!(persisted, 6);
    // The other process continues from the persisted bound, and the total
    // across both never exceeds the limit.
    let k2 = other.load_active::<Aead>(&id).unwrap();
    let mut ok = 5;
    loop {
        match k2.encrypt(b"m", b"") {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::UsageLimitExceeded);
                break;
            }
        }
        match key.encrypt(b"m", b"") {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::UsageLimitExceeded),
        }
    }
    assert!(ok <= 20, "{ok} encryptions exceeded the limit of 20");
}

#[test]
fn roles_are_enforced_and_refusals_audited() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let id = key.id();
    let ct = key.encrypt(b"m", b"").unwrap();

    let svc = Principal::new("svc", &[Role::Application]);
    f.store.register_principal(&svc).unwrap();
    key.grant("svc", &[Operation::Encrypt, Operation::Decrypt], None)
        .unwrap();
    let app = f.store.mint(svc);
    let k = app.load_active::<Aead>(&id).unwrap();
    k.encrypt(b"m", b"").unwrap();
    assert_eq!(app.decrypt(&ct, b"").unwrap(), b"m");
    assert_eq!(kind(k.rotate()), ErrorKind::PermissionDenied);
    assert_eq!(kind(k.suspend("x")), ErrorKind::PermissionDenied);
    assert_eq!(
        kind(app.create(KeySpec::<Aead>::new("x"))),
        ErrorKind::PermissionDenied
    );

    let auditor = f.store.mint(Principal::new("eve", &[Role::Auditor]));
    assert_eq!(kind(auditor.decrypt(&ct, b"")), ErrorKind::PermissionDenied);
    let ka = auditor.load_active::<Aead>(&id).unwrap();
    assert_eq!(kind(ka.encrypt(b"m", b"")), ErrorKind::PermissionDenied);
    assert_eq!(auditor.list(&KeyFilter::new()).unwrap().len(), 1);
    assert_eq!(auditor.info(&id).unwrap().id, id);

    let op = f.store.mint(Principal::new("ops", &[Role::Operator]));
    let ko = op.load_active::<Aead>(&id).unwrap();
    assert_eq!(kind(ko.encrypt(b"m", b"")), ErrorKind::PermissionDenied);
    ko.rotate().unwrap();

    let events = f.audit.events();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.outcome == Outcome::Denied)
        .collect();
    assert_eq!(denied.len(), 6, "{denied:#?}");
    assert!(
        denied.iter().any(|e| e.principal == "svc"
            && e.operation == Operation::Rotate
            && e.key_id == Some(id))
    );
    assert!(
        denied
            .iter()
            .any(|e| e.principal == "eve" && e.operation == Operation::Decrypt)
    );
}

#[test]
fn every_operation_leaves_exactly_one_audit_event() {
    let f = Fixture::new();
    let before = f.audit.events().len();
    let key = f.store.create(KeySpec::<Signing>::new("s")).unwrap();
    let key = key.activate().unwrap();
    let sig = key.sign(b"m").unwrap();
    key.verify(b"m", &sig).unwrap();
    assert!(key.verify(b"x", &sig).is_err());
    key.public_key(None).unwrap();
    key.info().unwrap();
    let events = f.audit.events();
    let ops: Vec<_> = events[before..]
        .iter()
        .map(|e| (e.operation, e.outcome))
        .collect();
    assert_eq!(
        ops,
        vec![
            (Operation::Create, Outcome::Success),
            (Operation::Activate, Outcome::Success),
            (Operation::Sign, Outcome::Success),
            // The day's first use, recorded in the key's metadata.
            (Operation::RecordUse, Outcome::Success),
            (Operation::Verify, Outcome::Success),
            (Operation::Verify, Outcome::Failed),
            (Operation::ReadMetadata, Outcome::Success),
            (Operation::ReadMetadata, Outcome::Success),
        ]
    );
    let last = &events[before + 2];
    assert_eq!(last.version, Some(1));
    assert_eq!(last.key_id, Some(key.id()));
    assert_eq!(last.principal, "alice");
}

#[test]
fn signing_mac_derivation_and_agreement_work_across_rotation() {
    let f = Fixture::new();
    let s = f.store.create_active(KeySpec::<Signing>::new("s")).unwrap();
    let der = s.sign(b"msg").unwrap();
    let fixed = s.sign_fixed(b"msg").unwrap();
    let pk1 = s.public_key(None).unwrap();
    s.rotate().unwrap();
    // Old signatures still verify through the key (version 1 processes).
    s.verify(b"msg", &der).unwrap();
    s.verify_fixed(b"msg", &fixed).unwrap();
    assert_eq!(
        kind(s.verify(b"msg!", &der)),
        ErrorKind::AuthenticationFailed
    );
    assert_eq!(
        kind(s.verify(b"msg", b"\x30\x00")),
        ErrorKind::AuthenticationFailed
    );
    // And through the exported public key, in every format.
    PublicKey::from_spki_der(&pk1.to_spki_der().unwrap())
        .unwrap()
        .verify(b"msg", &der)
        .unwrap();
    PublicKey::from_spki_pem(&pk1.to_spki_pem().unwrap())
        .unwrap()
        .verify_fixed(b"msg", &fixed)
        .unwrap();
    PublicKey::from_sec1(&pk1.to_sec1())
        .unwrap()
        .verify(b"msg", &der)
        .unwrap();
    assert_ne!(s.public_key(None).unwrap(), pk1);
    assert_eq!(s.public_key(Some(1)).unwrap(), pk1);
    let s = s.deactivate("retired").unwrap();
    s.verify(b"msg", &der).unwrap();

    let m = f.store.create_active(KeySpec::<Mac>::new("m")).unwrap();
    let tag = m.mac(b"data").unwrap();
    m.verify_mac(b"data", &tag).unwrap();
    m.rotate().unwrap();
    m.verify_mac(b"data", &tag).unwrap();
    assert_ne!(m.mac(b"data").unwrap(), tag);
    let mut bad = tag;
    bad[0] ^= 1;
    assert_eq!(
        kind(m.verify_mac(b"data", &bad)),
        ErrorKind::AuthenticationFailed
    );
    assert_eq!(
        kind(m.verify_mac(b"data", &tag[..16])),
        ErrorKind::AuthenticationFailed
    );

    let d = f
        .store
        .create_active(KeySpec::<Derivation>::new("d"))
        .unwrap();
    let a = d.derive(b"salt", b"tenant=1", 32).unwrap();
    assert_eq!(a, d.derive(b"salt", b"tenant=1", 32).unwrap());
    assert_ne!(a, d.derive(b"salt", b"tenant=2", 32).unwrap());
    d.rotate().unwrap();
    assert_ne!(a, d.derive(b"salt", b"tenant=1", 32).unwrap());
    assert_eq!(
        a,
        d.derive_with_version(1, b"salt", b"tenant=1", 32).unwrap()
    );
    assert_eq!(kind(d.derive(b"", b"", 0)), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(d.derive(b"", b"", 255 * 32 + 1)),
        ErrorKind::InvalidArgument
    );

    let alice = f
        .store
        .create_active(KeySpec::<Agreement>::new("a"))
        .unwrap();
    let bob = f
        .store
        .create_active(KeySpec::<Agreement>::new("b"))
        .unwrap();
    let ab = alice
        .agree(&bob.public_key(None).unwrap(), b"", b"session", 32)
        .unwrap();
    let ba = bob
        .agree(&alice.public_key(None).unwrap(), b"", b"session", 32)
        .unwrap();
    assert_eq!(ab, ba);
    assert_ne!(
        ab,
        alice
            .agree(&bob.public_key(None).unwrap(), b"", b"other", 32)
            .unwrap()
    );
}

#[test]
fn purposes_are_checked_on_load() {
    let f = Fixture::new();
    let id = f.store.create(KeySpec::<Aead>::new("k")).unwrap().id();
    assert_eq!(kind(f.store.load::<Signing>(&id)), ErrorKind::WrongPurpose);
    assert_eq!(
        kind(f.store.load::<Aead>(&"00".repeat(16).parse().unwrap())),
        ErrorKind::NotFound
    );
    assert_eq!(kind("xyz".parse::<keylife::KeyId>()), ErrorKind::Malformed);
}

#[test]
fn inventory_lists_and_filters() {
    let f = Fixture::new();
    f.store
        .create(
            KeySpec::<Aead>::new("a")
                .owner("team-a")
                .label("classification", "secret"),
        )
        .unwrap();
    f.store
        .create_active(KeySpec::<Mac>::new("b").owner("team-b"))
        .unwrap();
    f.store
        .create_active(KeySpec::<Aead>::new("c").owner("team-a"))
        .unwrap();
    assert_eq!(f.store.list(&KeyFilter::new()).unwrap().len(), 3);
    assert_eq!(
        f.store
            .list(&KeyFilter::new().owner("team-a"))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        f.store
            .list(&KeyFilter::new().state(StateName::Active))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        f.store
            .list(&KeyFilter::new().purpose(keylife::Purpose::Mac))
            .unwrap()
            .len(),
        1
    );
    let secret = f
        .store
        .list(&KeyFilter::new().label("classification", "secret"))
        .unwrap();
    assert_eq!(secret.len(), 1);
    assert_eq!(secret[0].name, "a");
    // JSON for reports.
    let json = serde_json::to_string(&secret[0]).unwrap();
    assert!(json.contains("\"state\":\"pre_active\""), "{json}");
}

#[test]
fn bad_specs_are_rejected() {
    let f = Fixture::new();
    assert_eq!(
        kind(f.store.create(KeySpec::<Aead>::new(""))),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(f.store.create(KeySpec::<Aead>::new("x").usage_limit(0))),
        ErrorKind::InvalidArgument
    );
    let t = common::T0;
    assert_eq!(
        kind(
            f.store.create(
                KeySpec::<Aead>::new("x")
                    .activation_date(t.plus(DAY))
                    .deactivation_date(t)
            )
        ),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(
            f.store
                .create(KeySpec::<Aead>::new("x").cryptoperiod(std::time::Duration::ZERO))
        ),
        ErrorKind::InvalidArgument
    );
    // Nothing was stored.
    assert!(f.store.list(&KeyFilter::new()).unwrap().is_empty());
}

#[test]
fn debug_output_never_contains_material() {
    let f = Fixture::new();
    let key = f
        .store
        .create_active(KeySpec::<Derivation>::new("d"))
        .unwrap();
    let dbg = format!("{key:?}");
    assert!(
        dbg.contains(&key.id().to_string()) && dbg.contains("Active"),
        "{dbg}"
    );
    let secret = key.derive(b"", b"x", 32).unwrap();
    assert_eq!(format!("{secret:?}"), "SecretBytes([REDACTED; 32])");
    assert!(!format!("{:?}", f.store).contains("kek"));
    assert_eq!(
        format!("{:?}", keylife::Kek::generate().unwrap()),
        "Kek([REDACTED])"
    );
}

#[test]
fn wrong_kek_and_tampered_records_are_detected() {
    let f = Fixture::new();
    let a = f
        .store
        .create_active(KeySpec::<Aead>::new("a"))
        .unwrap()
        .id();
    let b = f
        .store
        .create_active(KeySpec::<Aead>::new("b"))
        .unwrap()
        .id();
    let other_kek = keylife::Kek::generate().unwrap();
    let err = keylife::KeyStore::open(
        f.backend.clone(),
        &keylife::RawKek::new(other_kek),
        Principal::admin("x"),
    )
    .expect_err("wrong KEK must not open");
    assert_eq!(err.kind(), ErrorKind::WrongKek);

    let raw = f.backend.raw_records().unwrap();
    let rec = |id: &keylife::KeyId| {
        raw.iter()
            .find(|(k, _)| k == &format!("key/{id}"))
            .unwrap()
            .1
            .clone()
    };
    // Swap two records between ids.
    let (ra, rb) = (rec(&a), rec(&b));
    f.backend.tamper(&format!("key/{a}"), rb.clone()).unwrap();
    f.backend.tamper(&format!("key/{b}"), ra.clone()).unwrap();
    let fresh = f.reopen(StoreOptions::default());
    let e = fresh.info(&a).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(e.to_string().contains(&format!("key/{a}")), "{e}");
    // Flip one byte.
    let mut flipped = ra.clone();
    let mid = flipped.value.len() / 2;
    flipped.value[mid] ^= 0x40;
    f.backend.tamper(&format!("key/{a}"), flipped).unwrap();
    let fresh = f.reopen(StoreOptions::default());
    assert_eq!(fresh.info(&a).unwrap_err().kind(), ErrorKind::Integrity);
    assert_eq!(
        fresh.list(&KeyFilter::new()).unwrap_err().kind(),
        ErrorKind::Integrity
    );
}

#[test]
fn key_ids_are_unique() {
    let f = Fixture::new();
    let mut ids = std::collections::HashSet::new();
    for i in 0..500 {
        assert!(
            ids.insert(
                f.store
                    .create(KeySpec::<Mac>::new(&format!("k{i}")))
                    .unwrap()
                    .id()
            )
        );
    }
}

/// Fuzz finding `compromised-primary`: a compromised primary version never
/// applies protection; rotation gives a clean primary.
#[test]
fn a_compromised_primary_version_applies_nothing_until_rotation() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    key.compromise_version(1, "v1 leaked").unwrap();
    assert_eq!(kind(key.encrypt(b"m", b"")), ErrorKind::VersionUnavailable);
    assert_eq!(key.rotate().unwrap(), 2);
    let ct = key.encrypt(b"m", b"").unwrap();
    assert_eq!(CiphertextInfo::parse(&ct).unwrap().key_version, 2);
    let s = f.store.create_active(KeySpec::<Signing>::new("s")).unwrap();
    s.compromise_version(1, "leak").unwrap();
    assert_eq!(kind(s.sign(b"m")), ErrorKind::VersionUnavailable);
    let m = f.store.create_active(KeySpec::<Mac>::new("m")).unwrap();
    m.compromise_version(1, "leak").unwrap();
    assert_eq!(kind(m.mac(b"m")), ErrorKind::VersionUnavailable);
}

/// Loading a key per request reuses its reserved invocations (the store
/// keeps recently used keys alive) instead of persisting a new block each
/// time.
#[test]
fn loading_per_request_does_not_waste_the_usage_budget() {
    let f = Fixture::new();
    let id = f
        .store
        .create_active(KeySpec::<Aead>::new("k"))
        .unwrap()
        .id();
    for _ in 0..10 {
        let k = f.store.load_active::<Aead>(&id).unwrap();
        k.encrypt(b"m", b"").unwrap();
    }
    let used = f.store.info(&id).unwrap().version(1).unwrap().usage_count;
    assert_eq!(used, 10);
    let reservations = f
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.operation == keylife::Operation::ReserveUsage)
        .count();
    assert_eq!(reservations, 1);
}

/// Exactly the minimum waiting period is accepted, even as the real clock
/// ticks between the call and the check.
#[test]
fn the_minimum_destruction_wait_itself_is_accepted() {
    let store = keylife::KeyStore::in_memory(Principal::admin("ops")).unwrap();
    let min = store.options().min_destruction_wait;
    for i in 0..300 {
        let key = store
            .create_active(KeySpec::<Mac>::new(&format!("k{i}")))
            .unwrap()
            .deactivate("done")
            .unwrap();
        key.schedule_destruction(min, "exactly the minimum")
            .unwrap();
    }
}

#[test]
fn last_use_is_recorded_per_day_and_the_report_flags_keys_unused_too_long() {
    use common::T0;
    use keylife::report::ComplianceReport;
    use keylife::{Policy, Timestamp};
    let f = Fixture::new();
    let used = f.store.create_active(KeySpec::<Aead>::new("used")).unwrap();
    let idle = f.store.create_active(KeySpec::<Aead>::new("idle")).unwrap();
    let fresh = f
        .store
        .create_active(KeySpec::<Aead>::new("fresh"))
        .unwrap();
    assert_eq!(used.info().unwrap().last_used, None);
    // Reading metadata or a public key is no use.
    let signer = f.store.create_active(KeySpec::<Signing>::new("s")).unwrap();
    signer.public_key(None).unwrap();
    signer.info().unwrap();
    assert_eq!(signer.info().unwrap().last_used, None);
    let day0 = Timestamp(T0.as_millis() - T0.as_millis().rem_euclid(86_400_000));
    // Several uses on one day: one record write, one audit entry.
    let ct = used.encrypt(b"m", b"").unwrap();
    used.decrypt(&ct, b"").unwrap();
    used.encrypt(b"m", b"").unwrap();
    idle.encrypt(b"m", b"").unwrap();
    assert_eq!(used.info().unwrap().last_used, Some(day0));
    let records = |id| {
        f.store
            .audit_entries()
            .unwrap()
            .iter()
            .filter(|e| e.operation == Operation::RecordUse && e.key_id == Some(id))
            .count()
    };
    assert_eq!(records(used.id()), 1);
    // Forty days on, only `used` is used again.
    f.clock.advance(40 * DAY);
    used.encrypt(b"m", b"").unwrap();
    assert_eq!(used.info().unwrap().last_used, Some(day0.plus(40 * DAY)));
    assert_eq!(records(used.id()), 2);
    // It survives a restart.
    let other = f.reopen(StoreOptions::default());
    assert_eq!(
        other.info(&idle.id()).unwrap().last_used,
        Some(day0),
        "recorded in the sealed key record"
    );
    // A policy allowing 30 days unused flags `idle` (last used 40 days ago)
    // and `fresh` (never used since activation), not `used`.
    let policy = Policy::from_toml("version = 1\n[purpose.aead]\nmax_unused_days = 30\n").unwrap();
    let keys = f.store.list(&KeyFilter::new()).unwrap();
    let report = ComplianceReport::build(&keys, &policy, f.store.now());
    let flagged: Vec<_> = report.unused.iter().map(|x| x.key_id).collect();
    assert_eq!(flagged.len(), 2, "{:?}", report.unused);
    assert!(flagged.contains(&idle.id()) && flagged.contains(&fresh.id()));
    let idle_finding = report
        .unused
        .iter()
        .find(|x| x.key_id == idle.id())
        .unwrap();
    assert!(
        idle_finding.detail.contains("last used on"),
        "{}",
        idle_finding.detail
    );
    assert!(
        idle_finding.detail.contains("40 days ago"),
        "{}",
        idle_finding.detail
    );
    // The limit is validated like every period.
    assert!(Policy::from_toml("version = 1\n[purpose.aead]\nmax_unused_days = 0\n").is_err());
}

/// `create_active` writes the key once: one backend commit carrying the
/// Active record and both audit entries (create, then activate), and the
/// store verifies afterwards (issue 13: one durable commit per key).
#[test]
fn create_active_is_one_commit_with_both_audit_entries() {
    use std::sync::Arc;

    let backend = Arc::new(common::Counting::default());
    let store = keylife::KeyStore::builder(Arc::clone(&backend))
        // Audit entries go out with the record write, not buffered apart.
        .open(
            &keylife::RawKek::new(keylife::Kek::generate().unwrap()),
            Principal::admin("ops"),
        )
        .unwrap();
    store.flush_audit().unwrap();
    let before = backend.counts().0;
    let key = store
        .create_active(
            KeySpec::<Aead>::new("k").cryptoperiod(std::time::Duration::from_secs(30 * 86_400)),
        )
        .unwrap();
    assert_eq!(
        backend.counts().0 - before,
        1,
        "create_active took more than one commit"
    );
    let info = key.info().unwrap();
    assert_eq!(info.state, StateName::Active);
    assert!(info.activated_at.is_some());
    // The cryptoperiod applied at activation, as with create + activate.
    assert!(info.deactivation_date.is_some());
    let ops: Vec<_> = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.key_id == Some(key.id()))
        .map(|e| (e.operation, e.outcome, e.generation))
        .collect();
    assert_eq!(
        ops[..2],
        [
            (Operation::Create, Outcome::Success, None),
            (Operation::Activate, Outcome::Success, Some(1)),
        ]
    );
    store.verify_integrity().unwrap();
    assert_eq!(
        key.decrypt(&key.encrypt(b"m", b"").unwrap(), b"").unwrap(),
        b"m"
    );
}
