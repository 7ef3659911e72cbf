//! Key versions in records of their own (`src/store/versions.rs`):
//! rotation writes one version record, not every version again; version
//! records that are missing, extra, moved or older copies are refused; keys
//! stored with their versions inline (written before this layout, and as
//! restores write them) load and move to the new layout on their first
//! change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use std::sync::Arc;

use common::Fixture;
use keylife::backend::{Backend, Expect, Record};
use keylife::purpose::Aead;
use keylife::{ErrorKind, Kek, KeyId, KeySpec, KeyStore, Principal, RawKek, Role, StoreOptions};

/// Bytes and records (audit entries aside) one rotation writes at version
/// 10 and at version 300: the same, give or take a digit of a number.
#[test]
fn a_rotation_writes_the_same_at_version_300_as_at_version_10() {
    let backend = Arc::new(common::Counting::default());
    let store = KeyStore::builder(Arc::clone(&backend))
        .open(
            &RawKek::new(Kek::generate().unwrap()),
            Principal::admin("ops"),
        )
        .unwrap();
    let key = store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let mut written = Vec::new();
    for v in 2..=300u32 {
        let (_, r0, b0) = backend.counts();
        assert_eq!(key.rotate().unwrap(), v);
        let (_, r1, b1) = backend.counts();
        written.push((v, b1 - b0, r1 - r0));
    }
    let at = |v: u32| written.iter().find(|w| w.0 == v).copied().unwrap();
    let (_, b10, r10) = at(10);
    let (_, b300, r300) = at(300);
    println!(
        "rotation to version 10: {b10} bytes in {r10} records; to 300: {b300} bytes in {r300} records"
    );
    // The key record and the new version record.
    assert_eq!((r10, r300), (2, 2));
    assert!(b300 <= b10 + 16, "{b10} -> {b300} bytes");
    // Everything still opens from a fresh store.
    let fresh = KeyStore::open(
        Arc::clone(&backend),
        &RawKek::new(Kek::from_bytes(&[0; 32]).unwrap()),
        Principal::admin("ops"),
    );
    assert_eq!(fresh.unwrap_err().kind(), ErrorKind::WrongKek);
    let info = store.info(&key.id()).unwrap();
    assert_eq!(info.versions.len(), 300);
    store.verify_integrity().unwrap();
}

fn version_rid(id: &KeyId, n: u32) -> String {
    format!("ver/{id}/{n:010}")
}

/// A key with three versions, its ciphertext under version 1, and the
/// fixture's records of version 1 as they were after creation.
fn three_versions(f: &Fixture) -> (KeyId, Vec<u8>, Record) {
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let id = key.id();
    let v1_at_creation = f.backend.get(&version_rid(&id, 1)).unwrap().unwrap();
    let ct = key.encrypt(b"m", b"").unwrap();
    key.rotate().unwrap();
    key.rotate().unwrap();
    (id, ct, v1_at_creation)
}

fn refused(f: &Fixture, id: &KeyId, what: &str) {
    let fresh = f.reopen(StoreOptions::default());
    let e = fresh.load::<Aead>(id).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{what}: {e}");
    let e = fresh.verify_integrity().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{what}: {e}");
}

#[test]
fn an_older_copy_of_a_version_record_is_refused() {
    let f = Fixture::new();
    let (id, _, v1_at_creation) = three_versions(&f);
    // Version 1's record after the first encryption (its usage count
    // reserved) differs from the one written at creation.
    let now = f.backend.get(&version_rid(&id, 1)).unwrap().unwrap();
    assert_ne!(now.value, v1_at_creation.value);
    f.backend
        .tamper(
            &version_rid(&id, 1),
            Record {
                value: v1_at_creation.value,
                revision: now.revision + 1,
            },
        )
        .unwrap();
    refused(&f, &id, "older version 1");
}

#[test]
fn a_missing_moved_or_extra_version_record_is_refused() {
    type Edit = fn(&Fixture, &KeyId);
    let edits: [(&str, Edit); 4] = [
        ("version 2 deleted", |f, id| {
            f.backend.delete(&version_rid(id, 2), Expect::Any).unwrap();
        }),
        ("the last version deleted", |f, id| {
            f.backend.delete(&version_rid(id, 3), Expect::Any).unwrap();
        }),
        ("version 3's record under version 2", |f, id| {
            let v3 = f.backend.get(&version_rid(id, 3)).unwrap().unwrap();
            f.backend.tamper(&version_rid(id, 2), v3).unwrap();
        }),
        ("a copy of version 3 as version 4", |f, id| {
            let v3 = f.backend.get(&version_rid(id, 3)).unwrap().unwrap();
            f.backend.tamper(&version_rid(id, 4), v3).unwrap();
        }),
    ];
    for (what, edit) in edits {
        let f = Fixture::new();
        let (id, _, _) = three_versions(&f);
        edit(&f, &id);
        refused(&f, &id, what);
    }
}

/// A version record left without its key record (the key record deleted)
/// fails `verify_integrity` even when the audit log cannot name the key.
#[test]
fn a_version_record_of_no_key_fails_verify_integrity() {
    let f = Fixture::new();
    let (id, _, _) = three_versions(&f);
    let v1 = f.backend.get(&version_rid(&id, 1)).unwrap().unwrap();
    // Another key's id: one of another store.
    let stranger = Fixture::new()
        .store
        .create(KeySpec::<Aead>::new("elsewhere"))
        .unwrap()
        .id();
    f.backend.tamper(&version_rid(&stranger, 1), v1).unwrap();
    let e = f.store.verify_integrity().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(e.to_string().contains(&stranger.to_string()), "{e}");
}

/// Restores write keys with their versions inline (the bundle's form, and
/// the form of every store written before version records): such a key
/// loads and works, its first change moves it to version records, and
/// both forms pass `verify_integrity` and reopen.
#[test]
fn an_inline_key_loads_and_moves_to_version_records_on_its_first_change() {
    let f = Fixture::new();
    for c in ["carol", "dave"] {
        f.store
            .register_principal(&Principal::new(c, &[Role::Custodian]))
            .unwrap();
    }
    let (id, ct, _) = three_versions(&f);
    let backup = f.store.backup(&[id], 2, &["carol", "dave"]).unwrap();
    let shares: Vec<&str> = backup.shares.iter().map(|s| s.text.as_str()).collect();

    let other = Fixture::new();
    other.store.restore(&backup.bundle, &shares).unwrap();
    assert!(
        other.backend.get(&version_rid(&id, 1)).unwrap().is_none(),
        "a restore writes the key inline"
    );
    other.store.verify_integrity().unwrap();
    let fresh = other.reopen(StoreOptions::default());
    assert_eq!(fresh.decrypt(&ct, b"").unwrap(), b"m");
    let key = fresh.load_active::<Aead>(&id).unwrap();
    assert_eq!(key.rotate().unwrap(), 4);
    for n in 1..=4 {
        assert!(
            other.backend.get(&version_rid(&id, n)).unwrap().is_some(),
            "version {n} was not written"
        );
    }
    fresh.verify_integrity().unwrap();
    let again = other.reopen(StoreOptions::default());
    assert_eq!(again.decrypt(&ct, b"").unwrap(), b"m");
    assert_eq!(again.info(&id).unwrap().versions.len(), 4);
    again.verify_integrity().unwrap();
}

/// Destroying a version rewrites its record without material; restoring
/// the record as it was (with the material) is refused.
#[test]
fn destroyed_material_cannot_be_brought_back_by_an_old_version_record() {
    let f = Fixture::new();
    let (id, ct, _) = three_versions(&f);
    let with_material = f.backend.get(&version_rid(&id, 1)).unwrap().unwrap();
    let key = f.store.load_active::<Aead>(&id).unwrap();
    key.destroy_version(1, "trim").unwrap();
    assert_eq!(
        f.store.decrypt(&ct, b"").unwrap_err().kind(),
        ErrorKind::VersionUnavailable
    );
    let now = f.backend.get(&version_rid(&id, 1)).unwrap().unwrap();
    assert!(now.value.len() < with_material.value.len());
    f.backend
        .tamper(
            &version_rid(&id, 1),
            Record {
                value: with_material.value,
                revision: now.revision + 1,
            },
        )
        .unwrap();
    refused(&f, &id, "version 1 with its destroyed material");
}
