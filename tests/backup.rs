//! Backups through the public API: a 3-of-5 backup restored into an empty
//! store reproduces the inventory and decrypts old ciphertexts; drills
//! import nothing; every bad input is a specific error; destroyed keys stay
//! destroyed; restore under dual control.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use common::Mint;

use std::time::Duration;

use common::{DAY, Fixture};
use keylife::approval::{Approval, ApprovalRequest};
use keylife::backup::{inspect_bundle, inspect_share};
use keylife::policy::{ApprovalOperation, Policy};
use keylife::purpose::{Aead, Mac, Signing};
use keylife::{
    AnyKey, Backup, ErrorKind, Key, KeyFilter, KeyId, KeyInfo, KeySpec, KeyStore, Operation,
    Outcome, Principal, Role, StateName, StoreOptions,
};

const CUSTODIANS: [&str; 5] = ["carol", "dave", "erin", "frank", "grace"];

/// The fixture with `CUSTODIANS` registered: shares go only to registered
/// principals with the custodian role.
fn custodial(f: Fixture) -> Fixture {
    for c in CUSTODIANS {
        f.store
            .register_principal(&Principal::new(c, &[Role::Custodian]))
            .unwrap();
    }
    f
}

fn err<T>(r: keylife::Result<T>) -> keylife::Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Keys in many states, with the ciphertexts, tags and signatures they
/// made before the backup.
struct Population {
    ids: Vec<KeyId>,
    orders: KeyId,
    ct_v1: Vec<u8>,
    ct_v2: Vec<u8>,
    retired: KeyId,
    ct_retired: Vec<u8>,
    leaked: KeyId,
    ct_leaked: Vec<u8>,
    webhooks: KeyId,
    tag: [u8; 32],
    signer: KeyId,
    signature: Vec<u8>,
    tombstone: KeyId,
}

fn populate(store: &KeyStore) -> Population {
    // Two versions, both able to decrypt.
    let orders = store
        .create_active(KeySpec::<Aead>::new("orders").owner("shop"))
        .unwrap();
    let ct_v1 = orders.encrypt(b"order #1", b"tenant=7").unwrap();
    orders.rotate().unwrap();
    let ct_v2 = orders.encrypt(b"order #2", b"tenant=7").unwrap();
    // Deactivated: still decrypts.
    let retired = store
        .create_active(KeySpec::<Aead>::new("retired"))
        .unwrap();
    let ct_retired = retired.encrypt(b"old data", b"").unwrap();
    let retired = retired.deactivate("superseded").unwrap();
    // Compromised: refuses to decrypt (the state must survive the trip).
    let leaked = store.create_active(KeySpec::<Aead>::new("leaked")).unwrap();
    let ct_leaked = leaked.encrypt(b"secret", b"").unwrap();
    let leaked = leaked.compromise("laptop stolen").unwrap();
    let webhooks = store
        .create_active(KeySpec::<Mac>::new("webhooks"))
        .unwrap();
    let tag = webhooks.mac(b"event 42").unwrap();
    let signer = store
        .create_active(KeySpec::<Signing>::new("releases"))
        .unwrap();
    let signature = signer.sign(b"v1.0.0").unwrap();
    // Destroyed before it was used: travels as a tombstone.
    let tombstone = store
        .create(KeySpec::<Aead>::new("never-used"))
        .unwrap()
        .destroy("created by mistake")
        .unwrap();
    let ids = vec![
        orders.id(),
        retired.id(),
        leaked.id(),
        webhooks.id(),
        signer.id(),
        tombstone.id(),
    ];
    Population {
        ids,
        orders: orders.id(),
        ct_v1,
        ct_v2,
        retired: retired.id(),
        ct_retired,
        leaked: leaked.id(),
        ct_leaked,
        webhooks: webhooks.id(),
        tag,
        signer: signer.id(),
        signature,
        tombstone: tombstone.id(),
    }
}

fn inventory(store: &KeyStore) -> Vec<KeyInfo> {
    let mut v = store.list(&KeyFilter::new()).unwrap();
    v.sort_by_key(|i| i.id);
    v
}

fn texts(backup: &Backup, which: &[usize]) -> Vec<String> {
    which
        .iter()
        .map(|&i| backup.shares[i].text.to_string())
        .collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn three_of_five_backup_restores_exactly_into_an_empty_store() {
    let f = custodial(Fixture::new());
    let p = populate(&f.store);
    let backup = f.store.backup(&p.ids, 3, &CUSTODIANS).unwrap();

    println!(
        "\nbackup {} of {} keys, 3 of 5:",
        backup.backup_id,
        p.ids.len()
    );
    println!("bundle: {} bytes", backup.bundle.len());
    for s in &backup.shares {
        println!("  {:<6} {}", s.custodian, s.text.as_str());
    }
    assert_eq!(backup.shares.len(), 5);
    for (i, s) in backup.shares.iter().enumerate() {
        assert_eq!(s.custodian, CUSTODIANS[i]);
        let info = inspect_share(&s.text).unwrap();
        assert_eq!(info.backup_id, backup.backup_id);
        assert_eq!(
            (info.threshold, info.shares, usize::from(info.x)),
            (3, 5, i + 1)
        );
        // Debug never shows the share value.
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(s.text.split('-').nth(5).unwrap()), "{dbg}");
    }
    let header = inspect_bundle(&backup.bundle).unwrap();
    assert_eq!(header.custodians, CUSTODIANS);
    assert_eq!(header.key_count, 6);
    assert_eq!(header.threshold, 3);

    // Into an empty store elsewhere (another backend, another KEK), with
    // three of the five shares in any order.
    let other = Fixture::new();
    let shares = texts(&backup, &[4, 0, 2]);
    let report = other.store.restore(&backup.bundle, &refs(&shares)).unwrap();
    println!(
        "restored {} keys with the shares of {}",
        report.restored.len(),
        report.custodians_used.join(", ")
    );
    assert!(!report.drill);
    assert_eq!(report.restored, p.ids);
    assert!(report.skipped.is_empty());
    assert_eq!(report.custodians_used, ["grace", "carol", "erin"]);
    // One verified check value per version with material: orders v1+v2,
    // retired, leaked, webhooks, releases; none for the tombstone.
    assert_eq!(report.check_values.len(), 6);
    for (id, v, cv) in &report.check_values {
        assert_eq!(f.store.check_value(id, Some(*v)).unwrap(), *cv);
        assert_eq!(other.store.check_value(id, Some(*v)).unwrap(), *cv);
    }

    // The inventory is what was backed up: ids, names, states, versions,
    // history, dates, usage counts as persisted.
    let persisted = inventory(&f.reopen(StoreOptions::default()));
    assert_eq!(inventory(&other.store), persisted);
    let live = inventory(&f.store);
    for (a, b) in live.iter().zip(&persisted) {
        assert_eq!((a.id, a.state, &a.history), (b.id, b.state, &b.history));
        assert_eq!(a.versions.len(), b.versions.len());
    }
    let by_id = |id: KeyId| other.store.info(&id).unwrap();
    assert_eq!(by_id(p.orders).versions.len(), 2);
    assert_eq!(by_id(p.retired).state, StateName::Deactivated);
    assert_eq!(by_id(p.leaked).state, StateName::Compromised);
    assert_eq!(by_id(p.tombstone).state, StateName::Destroyed);

    // Ciphertexts, tags and signatures made before the backup work.
    let s = &other.store;
    assert_eq!(s.decrypt(&p.ct_v1, b"tenant=7").unwrap(), b"order #1");
    assert_eq!(s.decrypt(&p.ct_v2, b"tenant=7").unwrap(), b"order #2");
    assert_eq!(s.decrypt(&p.ct_retired, b"").unwrap(), b"old data");
    assert_eq!(
        err(s.decrypt(&p.ct_leaked, b"")).kind(),
        ErrorKind::WrongState
    );
    s.load_active::<Mac>(&p.webhooks)
        .unwrap()
        .verify_mac(b"event 42", &p.tag)
        .unwrap();
    let signer = s.load_active::<Signing>(&p.signer).unwrap();
    signer.verify(b"v1.0.0", &p.signature).unwrap();
    assert_eq!(
        signer.public_key(None).unwrap(),
        f.store
            .load_active::<Signing>(&p.signer)
            .unwrap()
            .public_key(None)
            .unwrap()
    );
    // The restored keys keep working and keep their lifecycle.
    let orders = s.load_active::<Aead>(&p.orders).unwrap();
    let ct = orders.encrypt(b"after", b"").unwrap();
    assert_eq!(
        f.store.decrypt(&ct, b"").unwrap(),
        b"after",
        "same key material"
    );
    assert_eq!(orders.rotate().unwrap(), 3);

    // The restored store verifies, and the log tells the story.
    other.store.verify_integrity().unwrap();
    let entries = other.store.audit_entries().unwrap();
    let restored: Vec<_> = entries
        .iter()
        .filter(|e| e.operation == Operation::Restore && e.key_id.is_some())
        .collect();
    assert_eq!(restored.len(), 6);
    assert!(restored.iter().all(|e| e.generation.is_some()));
    let summary = entries
        .iter()
        .find(|e| e.operation == Operation::Restore && e.key_id.is_none())
        .unwrap();
    assert!(
        summary
            .reason
            .as_deref()
            .unwrap()
            .contains(&backup.backup_id.to_string()),
        "{summary:?}"
    );
    let backed_up = f
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.operation == Operation::Backup && e.outcome == Outcome::Success)
        .count();
    assert_eq!(backed_up, 7, "one entry per key and one for the backup");
}

#[test]
fn any_three_shares_work_and_more_than_three_too() {
    let f = custodial(Fixture::new());
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let ct = key.encrypt(b"m", b"").unwrap();
    let backup = f.store.backup(&[key.id()], 3, &CUSTODIANS).unwrap();
    for pick in [[0, 1, 2], [2, 3, 4], [4, 1, 3], [0, 2, 4]] {
        let other = Fixture::new();
        let shares = texts(&backup, &pick);
        other.store.restore(&backup.bundle, &refs(&shares)).unwrap();
        assert_eq!(other.store.decrypt(&ct, b"").unwrap(), b"m");
    }
    let other = Fixture::new();
    let all = texts(&backup, &[0, 1, 2, 3, 4]);
    let report = other.store.restore(&backup.bundle, &refs(&all)).unwrap();
    assert_eq!(report.custodians_used.len(), 5);
    // Shares typed in lower case, with line breaks, are accepted.
    let other = Fixture::new();
    let sloppy: Vec<String> = texts(&backup, &[1, 3, 4])
        .iter()
        .map(|t| t.to_lowercase().replacen('-', "-\n   ", 3))
        .collect();
    other.store.restore(&backup.bundle, &refs(&sloppy)).unwrap();
    assert_eq!(other.store.decrypt(&ct, b"").unwrap(), b"m");
}

#[test]
fn a_restore_drill_verifies_everything_and_imports_nothing() {
    let f = custodial(Fixture::new());
    let p = populate(&f.store);
    let backup = f.store.backup(&p.ids, 3, &CUSTODIANS).unwrap();
    let shares = texts(&backup, &[1, 2, 3]);

    let other = Fixture::new();
    let report = other
        .store
        .restore_drill(&backup.bundle, &refs(&shares))
        .unwrap();
    assert!(report.drill);
    assert_eq!(report.restored, p.ids, "what a restore would write");
    assert_eq!(report.check_values.len(), 6);
    assert!(other.store.list(&KeyFilter::new()).unwrap().is_empty());
    assert_eq!(
        err(other.store.decrypt(&p.ct_v1, b"tenant=7")).kind(),
        ErrorKind::NotFound
    );
    let drills: Vec<_> = other
        .store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.operation == Operation::RestoreDrill)
        .collect();
    assert_eq!(drills.len(), 1);
    assert_eq!(drills[0].outcome, Outcome::Success);
    other.store.verify_integrity().unwrap();

    // In the store that made it, every key is already there.
    let here = f
        .store
        .restore_drill(&backup.bundle, &refs(&shares))
        .unwrap();
    assert!(here.restored.is_empty());
    assert_eq!(here.skipped.len(), 6);
    let tomb = here
        .skipped
        .iter()
        .find(|(id, _)| *id == p.tombstone)
        .unwrap();
    assert!(tomb.1.contains("never resurrected"), "{}", tomb.1);
    let live = here.skipped.iter().find(|(id, _)| *id == p.orders).unwrap();
    assert!(live.1.contains("never overwritten"), "{}", live.1);

    // A drill fails exactly as a restore would.
    let mut bad = backup.bundle.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        err(other.store.restore_drill(&bad, &refs(&shares))).kind(),
        ErrorKind::AuthenticationFailed
    );
}

#[test]
fn every_bad_input_is_a_specific_error_and_nothing_is_imported() {
    let f = custodial(Fixture::new());
    let a = f.store.create_active(KeySpec::<Aead>::new("a")).unwrap();
    let b = f.store.create_active(KeySpec::<Mac>::new("b")).unwrap();
    let ids = [a.id(), b.id()];
    let backup = f.store.backup(&ids, 3, &CUSTODIANS).unwrap();
    let another = f.store.backup(&ids, 3, &CUSTODIANS).unwrap();
    assert_ne!(backup.backup_id, another.backup_id);
    let good = texts(&backup, &[0, 1, 2]);
    let other = Fixture::new();
    let restore = |bundle: &[u8], shares: &[String]| {
        let e = err(other.store.restore(bundle, &refs(shares)));
        // Nothing imported, whatever went wrong.
        assert!(other.store.list(&KeyFilter::new()).unwrap().is_empty());
        e
    };
    let check = |e: keylife::Error, kind: ErrorKind, words: &str| {
        assert_eq!(e.kind(), kind, "{e}");
        assert!(
            e.to_string().contains(words),
            "{e:?} should mention {words:?}"
        );
    };

    // A share from another backup of the same keys.
    let mut mixed = good.clone();
    mixed[1] = another.shares[1].text.to_string();
    check(
        restore(&backup.bundle, &mixed),
        ErrorKind::InvalidArgument,
        &format!("share 2 of 3 belongs to backup {}", another.backup_id),
    );
    // Too few shares.
    check(
        restore(&backup.bundle, &good[..2]),
        ErrorKind::InvalidArgument,
        "needs 3 of its 5 shares; 2 given",
    );
    check(
        restore(&backup.bundle, &[]),
        ErrorKind::InvalidArgument,
        "0 given",
    );
    // The same share twice (three texts, two distinct shares).
    let dup = vec![good[0].clone(), good[1].clone(), good[0].clone()];
    check(
        restore(&backup.bundle, &dup),
        ErrorKind::InvalidArgument,
        "share 3 of 3 duplicates share 1 (both are carol's share",
    );
    // A single mistyped character in the middle of a share.
    let mut typo = good.clone();
    let mut chars: Vec<char> = typo[2].chars().collect();
    let at = chars.len() / 2 + usize::from(chars[chars.len() / 2] == '-');
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    typo[2] = chars.into_iter().collect();
    check(
        restore(&backup.bundle, &typo),
        ErrorKind::Malformed,
        "share 3 of 3: share checksum does not match",
    );
    // Not a share at all.
    let mut junk = good.clone();
    junk[0] = "correct horse battery staple".to_owned();
    check(
        restore(&backup.bundle, &junk),
        ErrorKind::Malformed,
        "not a keylife backup share",
    );
    // Tampered bundle: the ciphertext, or the (authenticated) header.
    let mut tampered = backup.bundle.clone();
    let mid = tampered.len() - 40;
    tampered[mid] ^= 0x01;
    check(
        restore(&tampered, &good),
        ErrorKind::AuthenticationFailed,
        "does not authenticate",
    );
    let mut header = backup.bundle.clone();
    header[13] ^= 0x01; // the creation time
    check(
        restore(&header, &good),
        ErrorKind::AuthenticationFailed,
        "does not authenticate",
    );
    // Truncated: in the body, and in the header.
    let cut = &backup.bundle[..backup.bundle.len() - 10];
    check(restore(cut, &good), ErrorKind::Malformed, "truncated");
    check(
        restore(&backup.bundle[..20], &good),
        ErrorKind::Malformed,
        "truncated",
    );
    check(
        restore(b"", &good),
        ErrorKind::Malformed,
        "not a keylife backup bundle",
    );
    let mut longer = backup.bundle.clone();
    longer.push(0);
    check(
        restore(&longer, &good),
        ErrorKind::Malformed,
        "after its end",
    );
    // A bundle from a newer format.
    let mut newer = backup.bundle.clone();
    newer[4] = 2;
    check(
        restore(&newer, &good),
        ErrorKind::UnsupportedVersion,
        "format version 2",
    );
    // The bundle of another backup with these shares: names the mismatch.
    check(
        restore(&another.bundle, &good),
        ErrorKind::InvalidArgument,
        "belongs to backup",
    );

    // And every failure was audited.
    let failed = other
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.operation == Operation::Restore && e.outcome == Outcome::Failed)
        .count();
    assert_eq!(failed, 14);
    // After all that, the right inputs still work.
    other.store.restore(&backup.bundle, &refs(&good)).unwrap();
    assert_eq!(other.store.list(&KeyFilter::new()).unwrap().len(), 2);
}

#[test]
fn a_key_destroyed_after_the_backup_stays_destroyed() {
    let f = custodial(Fixture::new());
    let keep = f.store.create_active(KeySpec::<Aead>::new("keep")).unwrap();
    let doomed = f
        .store
        .create_active(KeySpec::<Aead>::new("doomed"))
        .unwrap();
    let ct = doomed.encrypt(b"gone", b"").unwrap();
    let backup = f
        .store
        .backup(&[keep.id(), doomed.id()], 2, &CUSTODIANS[..3])
        .unwrap();
    let doomed_id = doomed.id();
    doomed
        .deactivate("retired")
        .unwrap()
        .schedule_destruction(8 * DAY, "retention over")
        .unwrap();
    f.clock.advance(9 * DAY);
    f.store.maintenance().unwrap();
    assert_eq!(
        f.store.info(&doomed_id).unwrap().state,
        StateName::Destroyed
    );

    let shares = texts(&backup, &[0, 2]);
    let report = f.store.restore(&backup.bundle, &refs(&shares)).unwrap();
    assert!(report.restored.is_empty());
    let reason = &report
        .skipped
        .iter()
        .find(|(id, _)| *id == doomed_id)
        .unwrap()
        .1;
    assert!(reason.contains("destroyed in this store"), "{reason}");
    assert!(reason.contains("never resurrected"), "{reason}");
    assert_eq!(
        f.store.info(&doomed_id).unwrap().state,
        StateName::Destroyed
    );
    assert!(f.store.decrypt(&ct, b"").is_err());
    match f.store.load::<Aead>(&doomed_id).unwrap() {
        AnyKey::Destroyed(_) => {}
        other => panic!("{:?}", other.state()),
    }
    f.store.verify_integrity().unwrap();

    // Another process's view agrees.
    let again = f.reopen(StoreOptions::default());
    assert_eq!(again.info(&doomed_id).unwrap().state, StateName::Destroyed);
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

#[test]
fn restore_needs_the_approvals_policy_asks_for() {
    let f = custodial(Fixture::new());
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let ct = key.encrypt(b"m", b"").unwrap();
    let backup = f.store.backup(&[key.id()], 2, &CUSTODIANS[..3]).unwrap();
    let shares = texts(&backup, &[0, 1]);

    let target = Fixture::new();
    let approvers: Vec<_> = ["olga", "pat", "quinn"]
        .into_iter()
        .map(Approver::new)
        .collect();
    for a in &approvers {
        target
            .store
            .register_approver(a.name, &a.key.public_key(None).unwrap())
            .unwrap();
    }
    let policy = "version = 1\n[approvals.restore]\nrequired = 2\napprovers = [\"olga\", \"pat\", \"quinn\"]\n";
    target
        .store
        .set_policy(&Policy::from_toml(policy).unwrap())
        .unwrap();

    // Without approvals: refused, nothing imported.
    assert_eq!(
        err(target.store.restore(&backup.bundle, &refs(&shares))).kind(),
        ErrorKind::ApprovalRequired
    );
    assert!(target.store.list(&KeyFilter::new()).unwrap().is_empty());
    // A drill imports nothing, so it needs none.
    target
        .store
        .restore_drill(&backup.bundle, &refs(&shares))
        .unwrap();
    // One approval is not enough.
    let req = target
        .store
        .request_approval(
            ApprovalOperation::Restore,
            None,
            &[],
            Duration::from_secs(3600),
        )
        .unwrap();
    assert_eq!(
        err(target
            .store
            .submit_approvals(&req, &[approvers[0].approve(&req)]))
        .kind(),
        ErrorKind::ApprovalRequired
    );
    target
        .store
        .submit_approvals(
            &req,
            &[approvers[0].approve(&req), approvers[2].approve(&req)],
        )
        .unwrap();
    let report = target
        .store
        .restore(&backup.bundle, &refs(&shares))
        .unwrap();
    assert_eq!(report.restored, [key.id()]);
    assert_eq!(target.store.decrypt(&ct, b"").unwrap(), b"m");
    target.store.verify_integrity().unwrap();
}

#[test]
fn only_administrators_back_up_and_restore() {
    let f = custodial(Fixture::new());
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let backup = f.store.backup(&[key.id()], 2, &CUSTODIANS[..2]).unwrap();
    let shares = texts(&backup, &[0, 1]);
    for role in [
        Role::Operator,
        Role::Application,
        Role::Auditor,
        Role::Custodian,
    ] {
        let them = f.store.mint(Principal::new("someone", &[role]));
        assert_eq!(
            err(them.backup(&[key.id()], 2, &CUSTODIANS[..2])).kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            err(them.restore(&backup.bundle, &refs(&shares))).kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            err(them.restore_drill(&backup.bundle, &refs(&shares))).kind(),
            ErrorKind::PermissionDenied
        );
    }
    let denied = f
        .store
        .audit_entries()
        .unwrap()
        .iter()
        .filter(|e| e.outcome == Outcome::Denied)
        .count();
    assert_eq!(denied, 12);
}

#[test]
fn backup_arguments_are_checked() {
    let f = custodial(Fixture::new());
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let id = key.id();
    let bad = |r: keylife::Result<Backup>, words: &str| {
        let e = err(r);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(
            e.to_string().contains(words),
            "{e} should mention {words:?}"
        );
    };
    bad(f.store.backup(&[id], 1, &CUSTODIANS), "threshold of 1 of 5");
    bad(f.store.backup(&[id], 6, &CUSTODIANS), "threshold of 6 of 5");
    bad(f.store.backup(&[id], 2, &["carol"]), "2 to 255 custodians");
    bad(f.store.backup(&[id], 2, &["carol", "carol"]), "named twice");
    bad(f.store.backup(&[id], 2, &["carol", ""]), "custodian name");
    bad(f.store.backup(&[], 2, &CUSTODIANS), "no keys");
    bad(f.store.backup(&[id, id], 2, &CUSTODIANS), "named twice");
    let unknown: KeyId = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
    assert_eq!(
        err(f.store.backup(&[unknown], 2, &CUSTODIANS)).kind(),
        ErrorKind::NotFound
    );
}
