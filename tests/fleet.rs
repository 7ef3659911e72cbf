//! A fleet on one PostgreSQL store (feature `postgres`; a server from
//! `scripts/pg.sh`): 8 processes use keys (encrypt and decrypt in a loop)
//! while this one creates, rotates and compromises them; the time from the
//! compromise's acknowledgement until *every* process refuses the key is
//! measured over 50 trials, with `LISTEN/NOTIFY` and by polling alone
//! (`PostgresOptions::listen(false)`, the default 250 ms refresh interval).
//!
//! Printed, not asserted (times on a shared 2-core machine are no test):
//! p50, p99 and max per mode. Asserted: every process refuses every
//! compromised key (`WrongState`) within 5 s, and no process ever fails
//! otherwise. `KEYLIFE_FLEET_TRIALS` and `KEYLIFE_FLEET_PROCESSES` change
//! the sizes, `KEYLIFE_FLEET_PAUSE_MS` the pause between two uses in each
//! process (default 1 ms: with 8 processes on 2 cores, the fleet's own load
//! then dominates the latency; see benches/STORAGE.md).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keylife::backend::{PostgresBackend, PostgresOptions};
use keylife::purpose::Aead;
use keylife::{AnyKey, ErrorKind, Kek, KeyId, KeySpec, KeyStore, Principal, RawKek};

const TEST: &str = "revocation_reaches_every_process_of_a_fleet";
const CHILD: &str = "KEYLIFE_FLEET_CHILD";
const KEK: &str = "KEYLIFE_FLEET_KEK";

fn url() -> String {
    std::env::var("KEYLIFE_PG_URL")
        .expect("KEYLIFE_PG_URL is not set: run the PostgreSQL tests through scripts/pg.sh")
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn open(schema: &str, kek: &[u8], listen: bool, who: &str) -> KeyStore {
    KeyStore::open(
        PostgresBackend::connect_with(
            &url(),
            &PostgresOptions::new()
                .schema(schema)
                .unwrap()
                .listen(listen)
                .pool_size(2),
        )
        .unwrap(),
        &RawKek::new(Kek::from_bytes(kek).unwrap()),
        Principal::admin(who),
    )
    .unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A fleet member: for each `key <id>` line, loads the key, uses it until
/// it is refused, and reports `refused <id> <unix ns>`.
fn child(spec: &str) {
    let (schema, listen) = spec.split_once(':').unwrap();
    let kek = unhex(&std::env::var(KEK).unwrap());
    let store = open(schema, &kek, listen == "1", "fleet");
    let pause: u64 = std::env::var("KEYLIFE_FLEET_PAUSE_MS")
        .ok()
        .map_or(1, |s| s.parse().expect("KEYLIFE_FLEET_PAUSE_MS"));
    // After the harness's "test … ... " (no newline): a marker, not a line.
    println!("KEYLIFE_FLEET_UP");
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let Some(id) = line.strip_prefix("key ") else {
            break;
        };
        let id: KeyId = id.parse().unwrap();
        let AnyKey::Active(key) = store.load::<Aead>(&id).unwrap() else {
            panic!("key {id} is not active");
        };
        let ct = key.encrypt(b"fleet", b"").unwrap();
        println!("ready {id}");
        let start = std::time::Instant::now();
        loop {
            let r = key
                .encrypt(b"fleet", b"")
                .and_then(|_| store.decrypt(&ct, b"").map(|_| ()));
            match r {
                Ok(()) => {
                    assert!(start.elapsed() < Duration::from_secs(30), "never refused");
                    std::thread::sleep(Duration::from_millis(pause));
                }
                Err(e) if e.kind() == ErrorKind::WrongState => {
                    println!("refused {id} {}", now_ns());
                    break;
                }
                Err(e) => panic!("key {id}: {e}"),
            }
        }
    }
}

struct Member {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Member {
    fn line(&mut self) -> String {
        let mut l = String::new();
        assert!(
            self.stdout.read_line(&mut l).unwrap() > 0,
            "a fleet process died"
        );
        l.trim_end().to_owned()
    }
}

fn spawn(schema: &str, listen: bool, kek: &[u8]) -> Member {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{schema}:{}", u8::from(listen)))
        .env(KEK, hex(kek))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut m = Member {
        child,
        stdin,
        stdout,
    };
    // The test harness prints its own lines first.
    while !m.line().ends_with("KEYLIFE_FLEET_UP") {}
    m
}

#[test]
fn revocation_reaches_every_process_of_a_fleet() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let env_n = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .map_or(default, |s| s.parse().expect(name))
    };
    let trials = env_n("KEYLIFE_FLEET_TRIALS", 50);
    let processes = env_n("KEYLIFE_FLEET_PROCESSES", 8);
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let schema = format!("fleet_{}", hex(&r));
    let kek = Kek::generate().unwrap().expose_secret().to_vec();
    let admin = open(&schema, &kek, false, "admin");
    admin
        .register_principal(&Principal::admin("fleet"))
        .unwrap();
    for (label, listen) in [("notify", true), ("polling", false)] {
        let mut fleet: Vec<Member> = (0..processes)
            .map(|_| spawn(&schema, listen, &kek))
            .collect();
        let mut worst = Vec::with_capacity(trials);
        for t in 0..trials {
            let key = admin
                .create_active(KeySpec::<Aead>::new(&format!("{label}-{t}")))
                .unwrap();
            let id = key.id();
            for m in &mut fleet {
                writeln!(m.stdin, "key {id}").unwrap();
            }
            for m in &mut fleet {
                assert_eq!(m.line(), format!("ready {id}"));
            }
            // The fleet also sees a rotation before the compromise, and
            // settles on the new version: each process's first use of it
            // reserves a block of invocations, a write of the key record
            // (8 writes, each making the others reload the key), which
            // would otherwise queue in front of the compromise.
            key.rotate().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            key.compromise("leaked").unwrap();
            let acked = now_ns();
            let mut slowest = 0u128;
            for m in &mut fleet {
                let l = m.line();
                let at: u128 = l
                    .strip_prefix(&format!("refused {id} "))
                    .unwrap_or_else(|| panic!("unexpected line {l:?}"))
                    .parse()
                    .unwrap();
                slowest = slowest.max(at.saturating_sub(acked));
            }
            worst.push(slowest as f64 / 1e6);
        }
        for mut m in fleet {
            drop(m.stdin);
            assert!(m.child.wait().unwrap().success(), "a fleet process failed");
        }
        worst.sort_by(f64::total_cmp);
        let pct = |p: usize| worst[(worst.len() - 1) * p / 100];
        println!(
            "fleet of {processes}, {label}: until every process refuses: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({trials} trials)",
            pct(50),
            pct(99),
            worst[worst.len() - 1]
        );
    }
}
