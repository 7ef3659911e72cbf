//! A revoked key stops working: in-process, a state change is visible to
//! every live handle before the call that made it returns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use common::Fixture;
use keylife::purpose::{Aead, Signing};
use keylife::{ErrorKind, KeySpec};

fn revocation_stops_every_thread(revoke: &str) {
    const THREADS: usize = 8;
    let f = Fixture::new();
    let key = f
        .store
        .create_active(KeySpec::<Aead>::new("shared"))
        .unwrap();
    let id = key.id();
    let revoked = Arc::new(AtomicBool::new(false));
    let ok_before = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            // Each thread holds its own Key<Aead, Active> handle.
            let k = f.store.load_active::<Aead>(&id).unwrap();
            let (revoked, ok_before, start) = (revoked.clone(), ok_before.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                loop {
                    // Read the flag *before* the call: if the revoking call
                    // had already returned, this encryption must fail.
                    let after = revoked.load(Ordering::SeqCst);
                    match k.encrypt(b"payload", b"") {
                        Ok(_) => {
                            assert!(!after, "encrypted after the revoking call returned");
                            ok_before.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::WrongState, "{e}");
                            // And it stays refused.
                            assert_eq!(
                                k.encrypt(b"p", b"").unwrap_err().kind(),
                                ErrorKind::WrongState
                            );
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    start.wait();
    // Let the threads get going, then revoke through yet another handle.
    while ok_before.load(Ordering::Relaxed) < 200 {
        std::thread::yield_now();
    }
    match revoke {
        "compromise" => drop(key.compromise("incident").unwrap()),
        "suspend" => drop(key.suspend("hold").unwrap()),
        "deactivate" => drop(key.deactivate("retire").unwrap()),
        _ => unreachable!(),
    }
    revoked.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().expect("worker thread panicked");
    }
    assert!(ok_before.load(Ordering::Relaxed) >= 200);
}

#[test]
fn compromise_stops_every_live_handle() {
    revocation_stops_every_thread("compromise");
}

#[test]
fn suspend_stops_every_live_handle() {
    revocation_stops_every_thread("suspend");
}

#[test]
fn deactivate_stops_every_live_handle() {
    revocation_stops_every_thread("deactivate");
}

#[test]
fn concurrent_rotations_and_signing_stay_consistent() {
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Signing>::new("s")).unwrap();
    let id = key.id();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let k = f.store.load_active::<Signing>(&id).unwrap();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let sig = k.sign(b"m").unwrap();
                    k.rotate().unwrap();
                    k.verify(b"m", &sig).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread panicked");
    }
    let info = key.info().unwrap();
    assert_eq!(info.primary_version, 21);
    assert_eq!(info.versions.len(), 21);
}

/// Two stores on one backend stand for two processes (each has its own key
/// cells; only records are shared). The SQLite variant of this test runs real
/// processes.
#[test]
fn another_process_sees_a_compromise_within_the_refresh_interval() {
    let f = Fixture::new();
    let key = f
        .store
        .create_active(KeySpec::<Aead>::new("shared"))
        .unwrap();
    let id = key.id();

    let mut eager = keylife::StoreOptions::default();
    eager.refresh_interval = std::time::Duration::ZERO;
    let b = f.reopen(eager);
    let kb = b.load_active::<Aead>(&id).unwrap();
    kb.encrypt(b"before", b"").unwrap();

    let mut lazy = keylife::StoreOptions::default();
    lazy.refresh_interval = std::time::Duration::from_secs(3600);
    let c = f.reopen(lazy);
    let kc = c.load_active::<Aead>(&id).unwrap();
    kc.encrypt(b"before", b"").unwrap();

    let _compromised = key.compromise("incident").unwrap();
    // Interval 0: the very next use notices.
    assert_eq!(
        kb.encrypt(b"after", b"").unwrap_err().kind(),
        ErrorKind::WrongState
    );
    assert_eq!(kb.state(), keylife::StateName::Compromised);
    // Interval 1 h: the bound is the interval — this handle has not looked
    // yet. (Documented: the delay is at most one interval.)
    assert!(kc.encrypt(b"stale", b"").is_ok());
}

#[test]
fn another_process_sees_rotation_and_usage_without_losing_versions() {
    let f = Fixture::new();
    let mut eager = keylife::StoreOptions::default();
    eager.refresh_interval = std::time::Duration::ZERO;
    let key = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let id = key.id();
    let b = f.reopen(eager);
    let kb = b.load_active::<Aead>(&id).unwrap();
    // Both rotate "at once": compare-and-swap makes one retry on the other's
    // record, so both rotations land and no version is lost.
    assert_eq!(key.rotate().unwrap(), 2);
    assert_eq!(kb.rotate().unwrap(), 3);
    let ct = kb.encrypt(b"m", b"").unwrap();
    assert_eq!(keylife::CiphertextInfo::parse(&ct).unwrap().key_version, 3);
    let info = b.info(&id).unwrap();
    assert_eq!(info.versions.len(), 3);
    assert_eq!(info.primary_version, 3);
}
