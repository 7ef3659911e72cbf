//! Restoring an old copy of one record (e.g. a key's Active record over its
//! later Compromised one, or an old usage count) is detected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use common::Fixture;
use keylife::purpose::Aead;
use keylife::{ErrorKind, KeySpec, StoreOptions};

fn record(f: &Fixture, id: &keylife::KeyId) -> keylife::backend::Record {
    f.backend
        .raw_records()
        .unwrap()
        .into_iter()
        .find(|(k, _)| *k == format!("key/{id}"))
        .unwrap()
        .1
}

#[test]
fn a_restored_older_record_is_caught_on_read_in_a_running_process() {
    let f = Fixture::new();
    let mut eager = StoreOptions::default();
    eager.refresh_interval = std::time::Duration::ZERO;
    let other = f.reopen(eager);
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let id = key.id();
    let active_copy = record(&f, &id);
    // The other process has seen the key.
    let k2 = other.load_active::<Aead>(&id).unwrap();
    let _ = key.compromise("incident").unwrap();
    // It notices the compromise.
    assert_eq!(
        k2.encrypt(b"m", b"").unwrap_err().kind(),
        ErrorKind::WrongState
    );
    // An attacker puts the old Active record back.
    f.backend.tamper(&format!("key/{id}"), active_copy).unwrap();
    let e = k2.encrypt(b"m", b"").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
    assert!(
        e.to_string().contains(&format!("key/{id}")) && e.to_string().contains("rolled back"),
        "{e}"
    );
}

#[test]
fn a_restored_older_record_is_caught_by_verify_integrity_in_a_fresh_process() {
    let f = Fixture::new();
    let key = f
        .store
        .create_active(KeySpec::<Aead>::new("k").usage_limit(100))
        .unwrap();
    let id = key.id();
    f.store.verify_integrity().unwrap();
    let before = record(&f, &id);
    for _ in 0..10 {
        key.encrypt(b"m", b"").unwrap();
    }
    drop(key.compromise("leak").unwrap());
    // Rolled back to an Active record with a lower usage count.
    f.backend.tamper(&format!("key/{id}"), before).unwrap();
    let fresh = f.reopen(StoreOptions::default());
    let e = fresh.verify_integrity().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(
        e.to_string().contains(&format!("key/{id}")) && e.to_string().contains("rolled back"),
        "{e}"
    );
}

#[test]
fn a_rolled_back_record_stays_detected_after_a_fresh_process_writes_it() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let id = key.id();
    let active_copy = record(&f, &id);
    let key = key.deactivate("superseded").unwrap();
    // Rolled back one write: the Active copy, one generation behind.
    f.backend.tamper(&format!("key/{id}"), active_copy).unwrap();
    // A fresh process that never saw the newer record uses the key and
    // writes it once more (the day's first use), reaching the logged
    // generation again; the log still shows the rollback.
    let fresh = f.reopen(StoreOptions::default());
    fresh
        .load_active::<Aead>(&id)
        .unwrap()
        .encrypt(b"m", b"")
        .unwrap();
    let e = fresh.verify_integrity().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(e.to_string().contains("rolled-back"), "{e}");
    drop(key);
}

#[test]
fn a_deleted_record_is_caught_by_verify_integrity() {
    use keylife::backend::Backend;
    let f = Fixture::new();
    let id = f.store.create(KeySpec::<Aead>::new("k")).unwrap().id();
    let report = f.store.verify_integrity().unwrap();
    assert_eq!(report.keys, 1);
    f.backend
        .delete(&format!("key/{id}"), keylife::backend::Expect::Any)
        .unwrap();
    let e = f
        .reopen(StoreOptions::default())
        .verify_integrity()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(e.to_string().contains("deleted"), "{e}");
}

#[test]
fn an_intact_store_passes_after_rotation_reservations_and_destruction() {
    let mut o = StoreOptions::default();
    o.usage_block = 2;
    let f = Fixture::with_options(o);
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    for _ in 0..7 {
        key.encrypt(b"m", b"").unwrap();
    }
    key.rotate().unwrap();
    let key = key.deactivate("d").unwrap();
    let _p = key.schedule_destruction(common::DAY * 7, "x").unwrap();
    f.clock.advance(common::DAY * 8);
    f.store.maintenance().unwrap();
    let r = f.store.verify_integrity().unwrap();
    assert_eq!(r.keys, 1);
    assert!(r.audit_entries > 10);
}
