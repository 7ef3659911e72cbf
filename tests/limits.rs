//! Bounds on what keylife reads before it can trust it: oversized or
//! over-nested documents, a giant store header and a giant record each fail
//! fast with a specific error, before any parsing, decryption or deep
//! recursion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::sync::Arc;
use std::time::{Duration, Instant};

use keylife::approval::{ApprovalRequest, ApproverRegistry};
use keylife::audit::AuditCheckpoint;
use keylife::backend::{Backend, MemoryBackend, Record};
use keylife::purpose::Aead;
use keylife::{ErrorKind, Kek, KeySpec, KeyStore, Policy, Principal, RawKek};

/// Runs `f`, which must fail with `kind` within a second.
fn fails_fast<T: std::fmt::Debug>(
    what: &str,
    kind: ErrorKind,
    f: impl FnOnce() -> keylife::Result<T>,
) {
    let start = Instant::now();
    let e = f().expect_err(what);
    assert_eq!(e.kind(), kind, "{what}: {e}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{what}: {:?}",
        start.elapsed()
    );
}

#[test]
fn oversized_and_over_nested_documents_are_refused() {
    let big = format!("version = 1\n# {}\n", "x".repeat(1024 * 1024));
    fails_fast("a 1 MiB policy", ErrorKind::Policy, || {
        Policy::from_toml(&big)
    });
    let big_json = format!("{{\"version\": 1, \"x\": \"{}\"}}", "x".repeat(1024 * 1024));
    fails_fast("a 1 MiB JSON policy", ErrorKind::Policy, || {
        Policy::from_json(&big_json)
    });
    // 100,000 nested arrays would overflow a recursive parser's stack.
    let deep = format!(
        "version = 1\nx = {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    fails_fast("deeply nested TOML", ErrorKind::Policy, || {
        Policy::from_toml(&deep)
    });
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    fails_fast("deeply nested JSON", ErrorKind::Policy, || {
        Policy::from_json(&deep_json)
    });
    let padded = format!("{{\"seq\": 1, \"pad\": \"{}\"}}", " ".repeat(64 * 1024));
    fails_fast("a 64 KiB checkpoint", ErrorKind::Malformed, || {
        AuditCheckpoint::from_json(&padded)
    });
    fails_fast("a 64 KiB request", ErrorKind::Malformed, || {
        ApprovalRequest::from_json(&padded)
    });
    let huge = format!("{{\"a\": \"{}\"}}", "A".repeat(1024 * 1024));
    fails_fast("a 1 MiB registry", ErrorKind::Malformed, || {
        ApproverRegistry::from_json(&huge)
    });
    // Real documents are far below the limits.
    let p = Policy::from_toml(include_str!("../examples/policy.toml")).unwrap();
    assert_eq!(Policy::from_toml(&p.to_toml().unwrap()).unwrap(), p);
}

#[test]
fn a_giant_header_or_record_is_refused_before_it_is_read() {
    let kek = Kek::generate().unwrap().expose_secret().to_vec();
    let raw = || RawKek::new(Kek::from_bytes(&kek).unwrap());
    let backend = Arc::new(MemoryBackend::new());
    let store = KeyStore::open(Arc::clone(&backend), &raw(), Principal::admin("ops")).unwrap();
    let id = store.create_active(KeySpec::<Aead>::new("k")).unwrap().id();
    drop(store);
    // A record of 17 MiB: refused as tampering, not decrypted.
    let rid = format!("key/{id}");
    let rec = backend.get(&rid).unwrap().unwrap();
    let mut value = rec.value.clone();
    value.resize(17 * 1024 * 1024, 0);
    backend
        .tamper(
            &rid,
            Record {
                value,
                revision: rec.revision + 1,
            },
        )
        .unwrap();
    let store = KeyStore::open(Arc::clone(&backend), &raw(), Principal::admin("ops")).unwrap();
    fails_fast("a 17 MiB record", ErrorKind::Integrity, || {
        store.load::<Aead>(&id)
    });
    drop(store);
    // A header of 2 MiB: refused at open.
    let h = backend.get("store/header").unwrap().unwrap();
    let mut text = String::from_utf8(h.value.clone()).unwrap();
    text.insert_str(1, &format!("\"pad\":\"{}\",", " ".repeat(2 * 1024 * 1024)));
    backend
        .tamper(
            "store/header",
            Record {
                value: text.into_bytes(),
                revision: h.revision + 1,
            },
        )
        .unwrap();
    fails_fast("a 2 MiB header", ErrorKind::Integrity, || {
        KeyStore::open(Arc::clone(&backend), &raw(), Principal::admin("ops"))
    });
}
