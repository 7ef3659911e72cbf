//! Faults of a real PostgreSQL server under a keylife store (feature
//! `postgres`; `scripts/pg.sh` starts the server and sets `KEYLIFE_PG_URL`
//! and `KEYLIFE_PG_CTL`). The kill -9 loop is in `tests/crash.rs`
//! (`acknowledged_operations_survive_sigkill_postgres`); the contract suite
//! in `tests/backend_contract.rs`.
//!
//! - the server stopped (`pg_ctl stop -m immediate`) and started again
//!   during a write loop: calls fail with `Unavailable` while it is down,
//!   work again after, nothing acknowledged is lost, no version twice;
//! - the store's connections killed with `pg_terminate_backend`: the next
//!   calls succeed on fresh connections;
//! - two stores (own pools) rotating one key at once: every acknowledged
//!   version exists once, versions are contiguous, one primary;
//! - a record damaged in SQL: refused as tampering;
//! - bad connection settings: a specific error that never shows the
//!   password.
//!
//! Every test on the server runs alone (the `postgres-server` test group in
//! `.config/nextest.toml`), since one of them stops it; the tests here also
//! retry what a restart would interrupt, should they run beside it anyway.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keylife::backend::{Backend, PostgresBackend, PostgresOptions};
use keylife::purpose::Aead;
use keylife::{AnyKey, ErrorKind, Kek, KeyId, KeySpec, KeyStore, Principal, RawKek};

fn url() -> String {
    std::env::var("KEYLIFE_PG_URL")
        .expect("KEYLIFE_PG_URL is not set: run the PostgreSQL tests through scripts/pg.sh")
}

/// A schema of this test's own.
fn schema(tag: &str) -> String {
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let mut n = [0u8; 8];
    n[..6].copy_from_slice(&r);
    format!("{tag}_{}", u64::from_le_bytes(n))
}

fn backend(schema: &str) -> PostgresBackend {
    PostgresBackend::connect_with(
        &url(),
        &PostgresOptions::new()
            .schema(schema)
            .unwrap()
            .connect_timeout(Duration::from_secs(2)),
    )
    .unwrap()
}

fn kek_bytes() -> Vec<u8> {
    Kek::generate().unwrap().expose_secret().to_vec()
}

fn store(schema: &str, kek: &[u8]) -> KeyStore {
    KeyStore::open(
        backend(schema),
        &RawKek::new(Kek::from_bytes(kek).unwrap()),
        Principal::admin("pg-test"),
    )
    .unwrap()
}

/// A plain client for the test's own SQL.
fn admin() -> postgres::Client {
    postgres::Client::connect(&url(), postgres::NoTls).unwrap()
}

/// Runs `pg_ctl <args>` on the test server as its owner.
fn pg_ctl(args: &str) {
    let ctl = std::env::var("KEYLIFE_PG_CTL").expect("KEYLIFE_PG_CTL (scripts/pg.sh)");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{ctl} {args} >/dev/null"))
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {args} failed");
}

/// Retries `f` while the server is briefly away (another test restarting
/// it): up to 30 s.
fn retry<T>(mut f: impl FnMut() -> keylife::Result<T>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if e.kind() == ErrorKind::Unavailable && start.elapsed().as_secs() < 30 => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Versions of a key: their numbers must be 1..=n, each once, and the
/// primary the highest.
fn check_versions(store: &KeyStore, id: &KeyId) -> u32 {
    let info = store.info(id).unwrap();
    let numbers: Vec<u32> = info.versions.iter().map(|v| v.number).collect();
    let expected: Vec<u32> = (1..=u32::try_from(numbers.len()).unwrap()).collect();
    assert_eq!(numbers, expected, "versions are not 1..=n, each once");
    assert_eq!(info.primary_version, *numbers.last().unwrap());
    info.primary_version
}

#[test]
fn server_restart_during_writes_fails_clearly_and_loses_nothing() {
    let schema = schema("restart");
    let kek = kek_bytes();
    let store = Arc::new(store(&schema, &kek));
    let rotated = store
        .create_active(KeySpec::<Aead>::new("rotated"))
        .unwrap();
    let rotated_id = rotated.id();

    let stop = Arc::new(AtomicBool::new(false));
    let down = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop, down) = (store.clone(), stop.clone(), down.clone());
        std::thread::spawn(move || {
            let mut created = Vec::new();
            let mut versions = BTreeSet::new();
            let (mut unavailable, mut ok_after_down, mut unknown) = (0u32, 0u32, 0u32);
            let mut i = 0u32;
            while !stop.load(Ordering::Acquire) {
                i += 1;
                let r = if i.is_multiple_of(2) {
                    store
                        .create_active(KeySpec::<Aead>::new(&format!("k{i}")))
                        .map(|k| created.push(k.id()))
                } else {
                    rotated.rotate().map(|v| {
                        assert!(versions.insert(v), "version {v} acknowledged twice");
                    })
                };
                match r {
                    Ok(()) => {
                        if down.load(Ordering::Acquire) {
                            ok_after_down += 1;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Unavailable => {
                        unavailable += 1;
                        if e.to_string().contains("outcome is unknown") {
                            unknown += 1;
                        }
                        assert!(!e.to_string().contains("password"), "{e}");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("a call failed with {:?} (not Unavailable): {e}", e.kind()),
                }
            }
            (created, versions, unavailable, ok_after_down, unknown)
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    pg_ctl("stop -m immediate");
    down.store(true, Ordering::Release);
    // Calls fail while the server is down…
    let refused = store
        .create(KeySpec::<Aead>::new("while-down"))
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
    std::thread::sleep(Duration::from_millis(500));
    pg_ctl("start");
    // …and work again once it is back, with no reopening.
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Release);
    let (created, versions, unavailable, ok_after_down, unknown) = writer.join().unwrap();
    assert!(unavailable > 0, "the writer never saw the server down");
    assert!(ok_after_down > 0, "no call succeeded after the restart");
    assert!(!created.is_empty() && !versions.is_empty());

    // A fresh store on the same tables: every acknowledged key and version.
    let fresh = self::store(&schema, &kek);
    for id in &created {
        assert!(fresh.info(id).is_ok(), "acknowledged key {id} is missing");
    }
    let primary = check_versions(&fresh, &rotated_id);
    let highest = *versions.last().unwrap();
    // An in-doubt rotation may have landed after the last acknowledged one.
    assert!(
        primary >= highest && primary <= highest + unknown,
        "primary {primary}, highest acknowledged {highest}, in doubt {unknown}"
    );
    fresh.verify_integrity().unwrap();
    fresh.verify_audit().unwrap();
    println!(
        "restart: {} keys and {} rotations acknowledged, {unavailable} calls refused while down ({unknown} in doubt), {ok_after_down} succeeded after",
        created.len(),
        versions.len()
    );
}

#[test]
fn terminated_connections_are_replaced_without_an_error() {
    let schema = schema("terminate");
    let kek = kek_bytes();
    let store = store(&schema, &kek);
    let key = retry(|| store.create_active(KeySpec::<Aead>::new("k")));
    let mut admin = admin();
    for round in 0..3 {
        // Every keylife connection of this test (the admin client has no
        // application name), as an operator's pg_terminate_backend would.
        let killed: i64 = admin
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = 'keylife' AND pid <> pg_backend_pid()) t",
                &[],
            )
            .unwrap()
            .get(0);
        assert!(killed > 0 || round > 0, "no keylife connection to kill");
        // The next calls run on fresh connections, with no error.
        let v = retry(|| key.rotate());
        assert_eq!(v, round + 2);
        let info = retry(|| store.info(&key.id()));
        assert_eq!(info.primary_version, round + 2);
    }
}

#[test]
fn two_stores_rotating_one_key_lose_no_version() {
    let schema = schema("rotate");
    let kek = kek_bytes();
    let a = store(&schema, &kek);
    let id = retry(|| a.create_active(KeySpec::<Aead>::new("shared"))).id();
    let b = store(&schema, &kek);
    let rotate_many = |s: KeyStore| {
        std::thread::spawn(move || {
            let AnyKey::Active(k) = retry(|| s.load::<Aead>(&id)) else {
                panic!("the key is active");
            };
            (0..15).map(|_| retry(|| k.rotate())).collect::<Vec<u32>>()
        })
    };
    let (ta, tb) = (rotate_many(a), rotate_many(b));
    let (va, vb) = (ta.join().unwrap(), tb.join().unwrap());
    let all: BTreeSet<u32> = va.iter().chain(&vb).copied().collect();
    assert_eq!(all.len(), 30, "a version was acknowledged to both stores");
    let fresh = store(&schema, &kek);
    assert_eq!(check_versions(&fresh, &id), 31);
    assert_eq!(all, (2..=31).collect());
}

#[test]
fn a_record_damaged_in_sql_is_refused_as_tampering() {
    let schema = schema("tamper");
    let kek = kek_bytes();
    let store = store(&schema, &kek);
    let key = retry(|| store.create_active(KeySpec::<Aead>::new("victim")));
    let ct = key.encrypt(b"payload", b"").unwrap();
    drop(key);
    drop(store);
    let n = admin()
        .execute(
            &format!(
                "UPDATE {schema}.records SET value = set_byte(value, 40, get_byte(value, 40) # 1)
                 WHERE id LIKE 'key/%'"
            ),
            &[],
        )
        .unwrap();
    assert_eq!(n, 1);
    let fresh = retry(|| {
        KeyStore::open(
            backend(&schema),
            &RawKek::new(Kek::from_bytes(&kek).unwrap()),
            Principal::admin("pg-test"),
        )
    });
    assert_eq!(
        fresh.decrypt(&ct, b"").unwrap_err().kind(),
        ErrorKind::Integrity
    );
    assert_eq!(
        fresh.verify_integrity().unwrap_err().kind(),
        ErrorKind::Integrity
    );
}

#[test]
fn connection_errors_are_specific_and_never_show_the_password() {
    let good = url();
    let password = good
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("password="))
        .expect("the test URL has a password")
        .to_owned();
    let options = PostgresOptions::new().connect_timeout(Duration::from_secs(2));
    // A wrong password: the server refuses (Storage), and says why.
    let wrong = good.replace(&password, "not-the-password-0123");
    let e = PostgresBackend::connect_with(&wrong, &options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-password-0123"), "{e}");
    // Nobody listening: Unavailable.
    let closed = good
        .split_whitespace()
        .map(|kv| {
            if kv.starts_with("port=") {
                "port=1"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let e = PostgresBackend::connect_with(&closed, &options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(!e.to_string().contains(&password), "{e}");
    // A string that does not parse is not repeated.
    let e =
        PostgresBackend::connect_with(&format!("{good} port=notanumber"), &options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(!e.to_string().contains(&password), "{e}");
    // A bad schema name is refused before any connection.
    assert_eq!(
        PostgresOptions::new()
            .schema("Robert'); DROP TABLE")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    // Debug and target() name the server, not the password.
    let b = retry(|| PostgresBackend::connect_with(&good, &options));
    let shown = format!("{b:?} {}", b.target());
    assert!(shown.contains("keylife@127.0.0.1:"), "{shown}");
    assert!(!shown.contains(&password), "{shown}");
    assert!(b.change_counter().is_ok());
}

/// Revocation across stores with their own connections (as two processes
/// would have): a key compromised in one store is refused by the other
/// — within one refresh interval by polling, at the next use after the
/// notification with `LISTEN`. Prints the latency distribution over 50
/// trials for both (figures for the report, not asserted: times on a shared
/// machine are not a test); asserts that every trial ends in a refusal.
#[test]
fn a_compromise_reaches_another_store_by_notify_and_by_polling() {
    let schema = schema("revoke");
    let kek = kek_bytes();
    let open = |listen: bool| {
        KeyStore::open(
            PostgresBackend::connect_with(
                &url(),
                &PostgresOptions::new()
                    .schema(&schema)
                    .unwrap()
                    .listen(listen),
            )
            .unwrap(),
            &RawKek::new(Kek::from_bytes(&kek).unwrap()),
            Principal::admin("pg-test"),
        )
        .unwrap()
    };
    let revoker = open(false);
    for (label, listen) in [("notify", true), ("polling", false)] {
        let user = open(listen);
        let mut ms = Vec::new();
        for i in 0..50 {
            let key = retry(|| revoker.create_active(KeySpec::<Aead>::new(&format!("{label}{i}"))));
            let AnyKey::Active(theirs) = retry(|| user.load::<Aead>(&key.id())) else {
                panic!("the key is active");
            };
            theirs.encrypt(b"m", b"").unwrap();
            key.compromise("leaked").unwrap();
            let t = Instant::now();
            loop {
                match theirs.encrypt(b"m", b"") {
                    Ok(_) => {
                        assert!(t.elapsed() < Duration::from_secs(5), "never refused");
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::WrongState, "{e}");
                        break;
                    }
                }
            }
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let pct = |p: usize| ms[(ms.len() - 1) * p / 100];
        println!(
            "revocation latency, {label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} trials",
            pct(50),
            pct(99),
            ms[ms.len() - 1],
            ms.len()
        );
    }
}

/// `sslmode=verify-full`: TLS to a server whose certificate chains to the
/// given CA and names the host; refused for another CA, for a host name the
/// certificate does not carry, and for the unverified modes.
#[test]
fn tls_verify_full_connects_only_to_the_right_server() {
    let ca = std::env::var("KEYLIFE_PG_CA").expect("KEYLIFE_PG_CA (scripts/pg.sh)");
    let other = std::env::var("KEYLIFE_PG_OTHER_CA").expect("KEYLIFE_PG_OTHER_CA");
    let base: Vec<String> = url()
        .split_whitespace()
        .filter(|kv| !kv.starts_with("host="))
        .map(str::to_owned)
        .collect();
    let base = base.join(" ");
    let options = PostgresOptions::new()
        .schema(&schema("tls"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2));
    // The certificate names localhost; the server listens on 127.0.0.1.
    let good = format!(
        "{base} host=localhost hostaddr=127.0.0.1 application_name=keylife-tls sslmode=verify-full sslrootcert='{ca}'"
    );
    let b = retry(|| PostgresBackend::connect_with(&good, &options));
    b.change_counter().unwrap();
    let tls: i64 = admin()
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'keylife-tls' AND s.ssl",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(tls >= 1, "the connection is not TLS");
    // Another CA: the chain does not verify.
    let e = PostgresBackend::connect_with(&good.replace(&ca, &other), &options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
    // The right CA, but a name the certificate does not carry.
    let by_address = format!("{base} host=127.0.0.1 sslmode=verify-full sslrootcert='{ca}'");
    let e = PostgresBackend::connect_with(&by_address, &options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
    // Modes that would accept such a server are refused up front.
    for mode in ["require", "verify-ca"] {
        let e = PostgresBackend::connect_with(
            &format!("{base} host=127.0.0.1 sslmode={mode}"),
            &options,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    // A root file that is not there.
    let e = PostgresBackend::connect_with(
        &format!("{base} host=localhost sslmode=verify-full sslrootcert=/nonexistent/ca.pem"),
        &options,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

/// `create_many` on PostgreSQL: one transaction for the batch (the
/// `unnest` statements), every key visible to another store afterwards.
#[test]
fn a_batch_of_keys_lands_in_one_transaction() {
    let schema = schema("batch");
    let kek = kek_bytes();
    let store = store(&schema, &kek);
    let before = retry(|| backend(&schema).change_counter());
    let keys =
        retry(|| store.create_many((0..200).map(|i| KeySpec::<Aead>::new(&format!("tenant-{i}")))));
    assert_eq!(keys.len(), 200);
    // One commit: the change counter moved once.
    assert_eq!(backend(&schema).change_counter().unwrap(), before + 1);
    let other = self::store(&schema, &kek);
    assert_eq!(other.list(&keylife::KeyFilter::new()).unwrap().len(), 200);
    other.verify_integrity().unwrap();
}
