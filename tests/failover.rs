//! Failover on a replicated pair (feature `postgres`; run through
//! `bash scripts/pg.sh --replica`, which starts a primary and a synchronous
//! standby and sets `KEYLIFE_PG_FAILOVER_URL` — both hosts,
//! `target_session_attrs=read-write` — and the two `pg_ctl` commands).
//!
//! A write loop (creates and rotations) runs on a store opened with the
//! two-host connection string; the primary is killed (`pg_ctl stop -m
//! immediate`) and the standby promoted. The store reconnects by itself (no
//! reopening): calls fail with `Unavailable` during the switch, then
//! succeed on the new primary, where every acknowledged create and rotation
//! is found. `KEYLIFE_FAILOVER_SECONDS` lengthens the loop around the
//! failover (default: 1 s before, until 1 s of successes after).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keylife::backend::{PostgresBackend, PostgresOptions};
use keylife::purpose::Aead;
use keylife::{ErrorKind, Kek, KeySpec, KeyStore, Principal, RawKek};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this test through `bash scripts/pg.sh --replica`")
    })
}

fn sh(cmd: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} >/dev/null"))
        .status()
        .unwrap();
    assert!(status.success(), "{cmd} failed");
}

#[test]
fn a_promoted_standby_has_every_acknowledged_write() {
    let url = env("KEYLIFE_PG_FAILOVER_URL");
    let primary = env("KEYLIFE_PG_CTL");
    let standby = env("KEYLIFE_PG_STANDBY_CTL");
    let seconds: u64 = std::env::var("KEYLIFE_FAILOVER_SECONDS")
        .ok()
        .map_or(1, |s| s.parse().expect("KEYLIFE_FAILOVER_SECONDS"));
    let kek = Kek::generate().unwrap().expose_secret().to_vec();
    let open = || {
        KeyStore::open(
            PostgresBackend::connect_with(
                &url,
                &PostgresOptions::new()
                    .schema("failover")
                    .unwrap()
                    .connect_timeout(Duration::from_secs(1)),
            )
            .unwrap(),
            &RawKek::new(Kek::from_bytes(&kek).unwrap()),
            Principal::admin("failover"),
        )
        .unwrap()
    };
    let store = Arc::new(open());
    let rotated = store
        .create_active(KeySpec::<Aead>::new("rotated"))
        .unwrap();
    let rotated_id = rotated.id();

    let stop = Arc::new(AtomicBool::new(false));
    let promoted = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, promoted, after) =
            (store.clone(), stop.clone(), promoted.clone(), after.clone());
        std::thread::spawn(move || {
            let (mut created, mut versions) = (Vec::new(), BTreeSet::new());
            let (mut refused, mut unknown, mut first_ok_after) = (0u32, 0u32, None);
            let mut i = 0u32;
            while !stop.load(Ordering::Acquire) {
                i += 1;
                let r = if i.is_multiple_of(2) {
                    store
                        .create_active(KeySpec::<Aead>::new(&format!("k{i}")))
                        .map(|k| created.push(k.id()))
                } else {
                    rotated
                        .rotate()
                        .map(|v| assert!(versions.insert(v), "version {v} twice"))
                };
                match r {
                    Ok(()) => {
                        if promoted.load(Ordering::Acquire) {
                            after.fetch_add(1, Ordering::AcqRel);
                            first_ok_after.get_or_insert_with(Instant::now);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Unavailable => {
                        refused += 1;
                        if e.to_string().contains("outcome is unknown") {
                            unknown += 1;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("a call failed with {:?}: {e}", e.kind()),
                }
            }
            (created, versions, refused, unknown, first_ok_after)
        })
    };
    std::thread::sleep(Duration::from_secs(seconds));
    let killed_at = Instant::now();
    sh(&format!("{primary} stop -m immediate"));
    sh(&format!("{standby} promote"));
    promoted.store(true, Ordering::Release);
    // Let the writer work on the new primary for a while.
    let deadline = Instant::now() + Duration::from_secs(60);
    while after.load(Ordering::Acquire) < 20 * seconds && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    let (created, versions, refused, unknown, first_ok_after) = writer.join().unwrap();
    let recovered = first_ok_after.expect("no call succeeded after the promotion");
    assert!(after.load(Ordering::Acquire) > 0);

    // A fresh store: it can only reach the promoted standby now.
    let fresh = open();
    let mut missing = 0;
    for id in &created {
        if fresh.info(id).is_err() {
            missing += 1;
        }
    }
    let info = fresh.info(&rotated_id).unwrap();
    let numbers: Vec<u32> = info.versions.iter().map(|v| v.number).collect();
    assert_eq!(
        numbers,
        (1..=u32::try_from(numbers.len()).unwrap()).collect::<Vec<_>>(),
        "versions are not 1..=n, each once"
    );
    let highest = versions.last().copied().unwrap_or(1);
    fresh.verify_integrity().unwrap();
    fresh.verify_audit().unwrap();
    println!(
        "failover: {} creates and {} rotations acknowledged, {missing} missing on the new primary; \
         primary version {} (highest acknowledged {highest}, {unknown} in doubt); {refused} calls refused; \
         first success {:.2} s after the kill",
        created.len(),
        versions.len(),
        info.primary_version,
        recovered.duration_since(killed_at).as_secs_f64()
    );
    assert_eq!(
        missing, 0,
        "acknowledged creates are missing after failover"
    );
    assert!(
        info.primary_version >= highest && info.primary_version <= highest + unknown,
        "primary {} vs highest acknowledged {highest} ({unknown} in doubt)",
        info.primary_version
    );
}
