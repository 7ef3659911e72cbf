//! Batch creation (issue 14 item 5): `KeyStore::create_many` and
//! `create_many_active` write every key of a batch in one durable commit,
//! each key with its own audit entry; all or nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use keylife::purpose::{Aead, Signing};
use keylife::{
    ErrorKind, Kek, KeyFilter, KeySpec, KeyStore, Principal, RawKek, StateName, StoreOptions,
};

fn counted() -> (Arc<common::Counting>, KeyStore) {
    let backend = Arc::new(common::Counting::default());
    let store = KeyStore::builder(Arc::clone(&backend))
        .options(StoreOptions::default())
        .open(
            &RawKek::new(Kek::generate().unwrap()),
            Principal::admin("ops"),
        )
        .unwrap();
    store.flush_audit().unwrap();
    (backend, store)
}

/// Audit entries of `operation` ("create", "activate", …) in the log.
fn entries(store: &KeyStore, operation: &str) -> usize {
    let mut out = Vec::new();
    store.export_audit_jsonl(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["operation"] == operation && v["outcome"] == "success"
        })
        .count()
}

#[test]
fn a_batch_is_one_commit_with_one_audit_entry_per_key() {
    let (backend, store) = counted();
    let before = backend.counts().0;
    let keys = store
        .create_many((0..300).map(|i| KeySpec::<Aead>::new(&format!("tenant-{i}"))))
        .unwrap();
    assert_eq!(
        backend.counts().0 - before,
        1,
        "the batch took more than one commit"
    );
    assert_eq!(keys.len(), 300);
    let ids: std::collections::BTreeSet<_> = keys.iter().map(|k| k.id()).collect();
    assert_eq!(ids.len(), 300, "ids repeat");
    assert_eq!(entries(&store, "create"), 300);
    let listed = store.list(&KeyFilter::new()).unwrap();
    assert_eq!(listed.len(), 300);
    assert!(listed.iter().all(|k| k.state == StateName::PreActive));
    // The keys are ordinary keys: names kept, usable once activated.
    let k = keys.into_iter().nth(17).unwrap();
    assert_eq!(k.info().unwrap().name, "tenant-17");
    let k = k.activate().unwrap();
    assert_eq!(
        k.decrypt(&k.encrypt(b"m", b"").unwrap(), b"").unwrap(),
        b"m"
    );
    store.verify_integrity().unwrap();
}

#[test]
fn active_batches_are_one_commit_and_every_key_is_active() {
    let (backend, store) = counted();
    let before = backend.counts().0;
    let keys = store
        .create_many_active((0..50).map(|i| KeySpec::<Signing>::new(&format!("s{i}"))))
        .unwrap();
    assert_eq!(backend.counts().0 - before, 1);
    assert_eq!(entries(&store, "create"), 50);
    assert_eq!(entries(&store, "activate"), 50);
    for k in &keys {
        let sig = k.sign(b"release").unwrap();
        k.verify(b"release", &sig).unwrap();
    }
    store.verify_integrity().unwrap();
}

#[test]
fn one_bad_spec_creates_no_key_at_all() {
    let (backend, store) = counted();
    let before = backend.counts().0;
    let specs = (0..20).map(|i| {
        // The 13th spec has a name over 256 bytes.
        let name = if i == 12 {
            "x".repeat(300)
        } else {
            format!("k{i}")
        };
        KeySpec::<Aead>::new(&name)
    });
    let e = store.create_many(specs).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    // The refusal itself is audited (and flushed): at most that one write.
    store.flush_audit().unwrap();
    assert!(backend.counts().0 - before <= 1);
    assert!(store.list(&KeyFilter::new()).unwrap().is_empty());
    assert_eq!(entries(&store, "create"), 0);
    // An empty batch writes nothing.
    let before = backend.counts().0;
    assert!(
        store
            .create_many(Vec::<KeySpec<Aead>>::new())
            .unwrap()
            .is_empty()
    );
    assert_eq!(backend.counts().0, before);
}

#[test]
fn principals_who_may_not_create_get_no_batch() {
    let (_, store) = counted();
    store
        .register_principal(&Principal::new("app", &[keylife::Role::Application]))
        .unwrap();
    let app = store.as_principal("app").unwrap();
    let e = app
        .create_many((0..3).map(|i| KeySpec::<Aead>::new(&format!("k{i}"))))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(store.list(&KeyFilter::new()).unwrap().is_empty());
}
