//! DESIGN principle 5: in-process, a state change is visible to every live
//! handle before the call that made it returns.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use common::Fixture;
use keylife::purpose::{Aead, Signing};
use keylife::{ErrorKind, KeySpec};

fn revocation_stops_every_thread(revoke: &str) {
    const THREADS: usize = 8;
    let f = Fixture::new();
    let key = f.store.create_active(KeySpec::<Aead>::new("shared")).unwrap();
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
                            assert_eq!(k.encrypt(b"p", b"").unwrap_err().kind(), ErrorKind::WrongState);
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
