//! KEK providers, wrong-KEK detection, and KEK rotation that survives a
//! crash at every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;
use common::Mint;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use keylife::backend::{Backend, MemoryBackend, Record, WriteOp};
use keylife::purpose::Aead;
use keylife::{
    Argon2Params, ErrorKind, Kek, KekProvider, KeySpec, KeyStore, PassphraseKek, Principal, RawKek,
};

fn admin() -> Principal {
    Principal::admin("ops")
}

fn cheap(pass: &str) -> PassphraseKek {
    PassphraseKek::new(pass).params(Argon2Params::new(256, 1, 1))
}

fn raw(b: &[u8]) -> RawKek {
    RawKek::new(Kek::from_bytes(b).unwrap())
}

#[test]
fn passphrase_store_opens_only_with_its_passphrase() {
    let backend = Arc::new(MemoryBackend::new());
    let store = KeyStore::open(backend.clone(), &cheap("hunter2 but longer"), admin()).unwrap();
    let key = store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let ct = key.encrypt(b"m", b"").unwrap();
    drop((key, store));
    // Parameters come from the header, whatever the provider's defaults.
    let again = KeyStore::open(
        backend.clone(),
        &PassphraseKek::new("hunter2 but longer"),
        admin(),
    )
    .unwrap();
    assert_eq!(again.decrypt(&ct, b"").unwrap(), b"m");
    let e = KeyStore::open(backend.clone(), &cheap("hunter3 but longer"), admin()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongKek);
    let e = KeyStore::open(backend.clone(), &raw(&[7; 32]), admin()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongKek);
    assert!(e.to_string().contains("argon2id"), "{e}");
    let e = KeyStore::open(MemoryBackend::new(), &cheap(""), admin()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let bad = PassphraseKek::new("x").params(Argon2Params::new(1, 0, 0));
    assert_eq!(
        KeyStore::open(MemoryBackend::new(), &bad, admin())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn raw_kek_from_file_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let hex = dir.path().join("kek.hex");
    std::fs::write(&hex, format!("{}\n", "ab".repeat(32))).unwrap();
    let bin = dir.path().join("kek.bin");
    std::fs::write(&bin, [0xab; 32]).unwrap();
    let backend = Arc::new(MemoryBackend::new());
    KeyStore::open(backend.clone(), &RawKek::from_file(&hex).unwrap(), admin()).unwrap();
    // Same key, other encoding: opens the same store.
    KeyStore::open(backend.clone(), &RawKek::from_file(&bin).unwrap(), admin()).unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "not a key").unwrap();
    assert_eq!(
        RawKek::from_file(&bad).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        RawKek::from_file(&dir.path().join("missing"))
            .unwrap_err()
            .kind(),
        ErrorKind::Storage
    );
    assert_eq!(
        RawKek::from_env("KEYLIFE_TEST_SURELY_UNSET")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn damaged_or_newer_headers_are_refused() {
    let backend = Arc::new(MemoryBackend::new());
    KeyStore::open(backend.clone(), &raw(&[1; 32]), admin()).unwrap();
    let rec = backend.get("store/header").unwrap().unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&rec.value).unwrap();
    json["format"] = 99.into();
    backend
        .tamper(
            "store/header",
            Record {
                value: serde_json::to_vec(&json).unwrap(),
                revision: rec.revision + 1,
            },
        )
        .unwrap();
    assert_eq!(
        KeyStore::open(backend.clone(), &raw(&[1; 32]), admin())
            .unwrap_err()
            .kind(),
        ErrorKind::UnsupportedVersion
    );
    backend
        .tamper(
            "store/header",
            Record {
                value: b"{garbage".to_vec(),
                revision: rec.revision + 2,
            },
        )
        .unwrap();
    assert_eq!(
        KeyStore::open(backend.clone(), &raw(&[1; 32]), admin())
            .unwrap_err()
            .kind(),
        ErrorKind::Integrity
    );
}

#[test]
fn kek_rotation_reseals_everything_and_reports_progress() {
    let backend = Arc::new(MemoryBackend::new());
    let store = KeyStore::open(backend.clone(), &raw(&[1; 32]), admin()).unwrap();
    let mut cts = Vec::new();
    for i in 0..10 {
        let k = store
            .create_active(KeySpec::<Aead>::new(&format!("k{i}")))
            .unwrap();
        cts.push(k.encrypt(format!("m{i}").as_bytes(), b"").unwrap());
    }
    store.flush_audit().unwrap();
    let before = backend.raw_records().unwrap();
    // Every record but the header: keys, audit entries, the audit head.
    let n = before.len() as u64 - 1;
    assert!(n > 20, "{n}");
    let mut seen = Vec::new();
    store
        .rotate_kek(&cheap("new passphrase"), &mut |d, t| seen.push((d, t)))
        .unwrap();
    assert_eq!(seen.first(), Some(&(0, n)));
    assert_eq!(seen.last(), Some(&(n, n)));
    assert_eq!(seen.len() as u64, n + 1);
    // Every record's bytes changed.
    let after = backend.raw_records().unwrap();
    for (id, rec) in &before {
        if id != "store/header" {
            let new = after.iter().find(|(i, _)| i == id).unwrap();
            assert_ne!(new.1.value, rec.value, "{id} was not re-sealed");
        }
    }
    // The live store keeps working; the old KEK no longer opens the store.
    assert_eq!(store.decrypt(&cts[0], b"").unwrap(), b"m0");
    assert_eq!(
        KeyStore::open(backend.clone(), &raw(&[1; 32]), admin())
            .unwrap_err()
            .kind(),
        ErrorKind::WrongKek
    );
    let reopened = KeyStore::open(backend.clone(), &cheap("new passphrase"), admin()).unwrap();
    for (i, ct) in cts.iter().enumerate() {
        assert_eq!(
            reopened.decrypt(ct, b"").unwrap(),
            format!("m{i}").as_bytes()
        );
    }
    assert!(!reopened.kek_rotation_pending().unwrap());
    // Operators may not rotate the KEK.
    let op = reopened.mint(Principal::new("op", &[keylife::Role::Operator]));
    assert_eq!(
        op.rotate_kek(&raw(&[3; 32]), &mut |_, _| {})
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
}

/// A backend whose commits start failing after a budget: a crash at that
/// point of a multi-step operation.
struct Crashing {
    inner: Arc<MemoryBackend>,
    budget: AtomicI64,
}

impl Backend for Crashing {
    fn get(&self, id: &str) -> keylife::Result<Option<Record>> {
        self.inner.get(id)
    }
    fn commit(&self, ops: &[WriteOp]) -> keylife::Result<Vec<u64>> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(keylife::Error::new(ErrorKind::Storage, "simulated crash"));
        }
        self.inner.commit(ops)
    }
    fn scan(&self, p: &str, a: Option<&str>, l: usize) -> keylife::Result<Vec<(String, Record)>> {
        self.inner.scan(p, a, l)
    }
    fn change_counter(&self) -> keylife::Result<u64> {
        self.inner.change_counter()
    }
}

#[test]
fn kek_rotation_interrupted_at_every_step_opens_under_either_kek_and_resumes() {
    const KEYS: usize = 5;
    let old = [1u8; 32];
    let new = [2u8; 32];
    // Records to re-seal: keys, audit entries and head (measured below).
    let mut steps = None;
    let mut crash_after = 0;
    // 1 header write + one re-seal per record + 1 final header write.
    while steps.is_none_or(|s| crash_after < s) {
        let inner = Arc::new(MemoryBackend::new());
        let setup = KeyStore::open(inner.clone(), &raw(&old), admin()).unwrap();
        let mut cts = Vec::new();
        for i in 0..KEYS {
            let k = setup
                .create_active(KeySpec::<Aead>::new(&format!("k{i}")))
                .unwrap();
            cts.push(k.encrypt(&[u8::try_from(i).unwrap(); 8], b"").unwrap());
        }
        setup.flush_audit().unwrap();
        drop(setup);
        let records = inner.raw_records().unwrap().len() as i64 - 1;
        steps = Some(records + 2);
        let crashing = Crashing {
            inner: inner.clone(),
            budget: AtomicI64::new(i64::MAX),
        };
        let crashing = Arc::new(crashing);
        let store = KeyStore::open(crashing.clone(), &raw(&old), admin()).unwrap();
        crashing.budget.store(crash_after, Ordering::SeqCst);
        let err = store.rotate_kek(&raw(&new), &mut |_, _| {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Storage, "crash after {crash_after}");
        drop(store);

        let check = |kek: &[u8; 32]| {
            let s = KeyStore::open(inner.clone(), &raw(kek), admin())?;
            for (i, ct) in cts.iter().enumerate() {
                assert_eq!(
                    s.decrypt(ct, b"")?,
                    vec![u8::try_from(i).unwrap(); 8],
                    "crash after {crash_after}"
                );
            }
            Ok::<_, keylife::Error>(s)
        };
        // The old KEK always opens, with every key readable.
        let s = check(&old).unwrap();
        // The new one too, once the rotation had begun.
        match check(&new) {
            Ok(_) => assert!(crash_after >= 1),
            Err(e) => {
                assert_eq!(crash_after, 0);
                assert_eq!(e.kind(), ErrorKind::WrongKek);
            }
        }
        assert_eq!(s.kek_rotation_pending().unwrap(), crash_after >= 1);
        // Resume (a rotation to a *different* KEK is refused meanwhile).
        if crash_after >= 1 {
            assert_eq!(
                s.rotate_kek(&raw(&[9; 32]), &mut |_, _| {})
                    .unwrap_err()
                    .kind(),
                ErrorKind::WrongKek
            );
        }
        s.rotate_kek(&raw(&new), &mut |_, _| {}).unwrap();
        check(&new).unwrap();
        assert_eq!(
            check(&old).unwrap_err().kind(),
            ErrorKind::WrongKek,
            "crash after {crash_after}"
        );
        // The audit log survived every step intact.
        check(&new).unwrap().verify_audit().unwrap();
        crash_after += 1;
    }
    assert!(steps.unwrap() > 10);
}

// Make sure a provider's kind is visible in messages (used above).
#[test]
fn provider_kinds_are_stable() {
    assert_eq!(raw(&[0; 32]).kind(), "raw");
    assert_eq!(cheap("x").kind(), "argon2id");
    assert!(!format!("{:?}", cheap("secret-pass")).contains("secret-pass"));
}

/// A store header is not sealed, so its Argon2id costs are read before
/// anything authenticates them: a hostile header must not make `open`
/// allocate terabytes or run for hours. Each edit below is refused at once
/// with `Integrity`, before any Argon2id work.
#[test]
fn hostile_argon2_costs_in_the_header_fail_fast() {
    use std::time::Instant;

    /// Rewrites every `kek_params` (JSON bytes) in the header with `edit`.
    fn edit_params(v: &mut serde_json::Value, edit: &dyn Fn(&mut serde_json::Value)) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if k == "kek_params" {
                        let bytes: Vec<u8> = serde_json::from_value(child.clone()).unwrap();
                        let mut params: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                        edit(&mut params["argon2id"]);
                        *child =
                            serde_json::to_value(serde_json::to_vec(&params).unwrap()).unwrap();
                    } else {
                        edit_params(child, edit);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for child in items {
                    edit_params(child, edit);
                }
            }
            _ => {}
        }
    }

    type Edit<'a> = &'a dyn Fn(&mut serde_json::Value);
    let cases: [(&str, Edit<'_>); 5] = [
        ("4 TiB of memory", &|a| a["memory_kib"] = u32::MAX.into()),
        ("2^32 - 1 passes", &|a| a["iterations"] = u32::MAX.into()),
        ("2^24 lanes", &|a| a["parallelism"] = (1u32 << 24).into()),
        ("2 GiB for 32 passes", &|a| {
            a["memory_kib"] = (2u32 * 1024 * 1024).into();
            a["iterations"] = 32.into();
        }),
        ("no lanes", &|a| a["parallelism"] = 0.into()),
    ];
    for (what, edit) in cases {
        let backend = std::sync::Arc::new(MemoryBackend::new());
        drop(KeyStore::open(backend.clone(), &cheap("hunter2 hunter2"), admin()).unwrap());
        let rec = backend.get("store/header").unwrap().unwrap();
        let mut header: serde_json::Value = serde_json::from_slice(&rec.value).unwrap();
        let before = header.clone();
        edit_params(&mut header, edit);
        assert_ne!(
            header, before,
            "{what}: the header has no Argon2id parameters"
        );
        let value = serde_json::to_vec(&header).unwrap();
        backend
            .tamper(
                "store/header",
                Record {
                    value,
                    revision: rec.revision + 1,
                },
            )
            .unwrap();
        let started = Instant::now();
        let e = KeyStore::open(backend.clone(), &cheap("hunter2 hunter2"), admin()).unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.kind(), ErrorKind::Integrity, "{what}: {e}");
        assert!(e.to_string().contains("Argon2id"), "{what}: {e}");
        assert!(took.as_secs() < 1, "{what}: refused after {took:?}");
    }
    // The same bounds refuse such costs when a store is created.
    let greedy = PassphraseKek::new("x").params(Argon2Params::new(u32::MAX, 1, 1));
    let e = KeyStore::open(MemoryBackend::new(), &greedy, admin()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

/// `PassphraseKek::max_costs` lowers what an opener accepts below
/// keylife's bounds: a store made with costs above it is refused at once
/// (`Integrity`, naming the cost), one at or below it opens.
#[test]
fn max_costs_refuses_a_header_above_the_openers_limit() {
    let backend = std::sync::Arc::new(MemoryBackend::new());
    let made = PassphraseKek::new("pw pw pw").params(Argon2Params::new(2048, 2, 2));
    drop(KeyStore::open(backend.clone(), &made, admin()).unwrap());
    for (max, what) in [
        (Argon2Params::new(1024, 2, 2), "KiB of memory"),
        (Argon2Params::new(2048, 1, 2), "passes"),
        (Argon2Params::new(2048, 2, 1), "lanes"),
    ] {
        let strict = PassphraseKek::new("pw pw pw").max_costs(max);
        let e = KeyStore::open(backend.clone(), &strict, admin()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    let exact = PassphraseKek::new("pw pw pw").max_costs(Argon2Params::new(2048, 2, 2));
    KeyStore::open(backend.clone(), &exact, admin()).unwrap();
    // The limit is checked before the passphrase: a wrong one still gets
    // the cost error, not WrongKek, when the costs are too high.
    let wrong = PassphraseKek::new("other").max_costs(Argon2Params::new(8, 1, 1));
    let e = KeyStore::open(backend, &wrong, admin()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
    assert!(format!("{wrong:?}").contains("max"));
    assert!(!format!("{wrong:?}").contains("other"));
}

/// Finding `argon2-unknown-member` (the `kek_header` fuzz target's seeds,
/// 2026-12-04): an unknown member in the header's Argon2id costs (a cost
/// a newer writer might add) was ignored, so the store opened with a
/// derivation other than the header describes. It is refused now.
#[test]
fn an_unknown_argon2_member_in_the_header_is_refused() {
    let backend = std::sync::Arc::new(MemoryBackend::new());
    drop(KeyStore::open(backend.clone(), &cheap("pw pw pw"), admin()).unwrap());
    let rec = backend.get("store/header").unwrap().unwrap();
    let mut header: serde_json::Value = serde_json::from_slice(&rec.value).unwrap();
    let bytes: Vec<u8> = serde_json::from_value(header["kek"]["kek_params"].clone()).unwrap();
    let mut params: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    params["argon2id"]["secret_len"] = 16.into();
    header["kek"]["kek_params"] =
        serde_json::to_value(serde_json::to_vec(&params).unwrap()).unwrap();
    backend
        .tamper(
            "store/header",
            Record {
                value: serde_json::to_vec(&header).unwrap(),
                revision: rec.revision + 1,
            },
        )
        .unwrap();
    let e = KeyStore::open(backend, &cheap("pw pw pw"), admin()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
    assert!(e.to_string().contains("Argon2id"), "{e}");
}
