//! Several processes on one SQLite store see each other's revocations within
//! the refresh interval and lose no version to compare-and-swap, with real
//! processes: the test re-executes
//! its own binary in a child role selected by an environment variable.
//!
//! More trials (default 5 per interval), rotations (default 25 per process)
//! and rotating processes (default 2); `--nocapture` prints the delays:
//!
//! ```sh
//! KEYLIFE_XPROC_TRIALS=50 KEYLIFE_XPROC_ROTATIONS=200 KEYLIFE_XPROC_PROCESSES=4 \
//!     cargo test --release --test cross_process -- --nocapture
//! ```
//!
//! - Revocation: process B encrypts in a loop with a live Active handle;
//!   process A (the test) compromises the key; B must refuse with
//!   `WrongState` within 5 × `refresh_interval` + 2 s (a correctness bound
//!   for a loaded machine, not a benchmark). B notices through SQLite's
//!   `data_version`, polled at most once per interval. A times from
//!   `compromise()` returning to reading B's refusal line from the pipe; B
//!   also reports, by the wall clock, when the refused call started and
//!   returned (the return includes writing the refusal's audit entry and
//!   the buffered ones).
//! - Rotation: two (or more) processes rotate one key at once; afterwards
//!   it has exactly `1 + P·N` versions, one primary, every version's
//!   material, one success audit entry per rotation, and the processes got
//!   distinct version numbers.
//!
//! Under concurrent writers `rotate` and `encrypt` can give up with
//! `Conflict` (not documented on either); the rotating processes retry,
//! and count and print how often.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keylife::backend::SqliteBackend;
use keylife::purpose::Aead;
use keylife::{
    CiphertextInfo, ErrorKind, Kek, KeyId, KeySpec, KeyStore, Operation, Outcome, Principal,
    RawKek, StateName, StoreOptions, VersionState,
};

const ROLE: &str = "KEYLIFE_XPROC_ROLE";
const DB: &str = "KEYLIFE_XPROC_DB";
const KEY: &str = "KEYLIFE_XPROC_KEY";
const INTERVAL_MS: &str = "KEYLIFE_XPROC_INTERVAL_MS";
const ROTATIONS: &str = "KEYLIFE_XPROC_ROTATIONS";
const KEK_BYTES: [u8; 32] = [0x3c; 32];
/// A child gives up (and fails) after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

fn kek() -> RawKek {
    RawKek::new(Kek::from_bytes(&KEK_BYTES).unwrap())
}

/// Every process opens the store as an administrator of its own name; the
/// first opener (`process-a`, the store's first administrator) registers
/// the others, since roles come from the store's registry.
fn open(db: &Path, name: &str, options: StoreOptions) -> KeyStore {
    let store = KeyStore::builder(SqliteBackend::open(db).unwrap())
        .options(options)
        .open(&kek(), Principal::admin(name))
        .unwrap();
    if name == "process-a" {
        for other in ["process-b", "rotator", "checker"] {
            match store.register_principal(&Principal::admin(other)) {
                Ok(()) => {}
                Err(e) if e.kind() == keylife::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    store
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map_or(default, |s| s.parse().expect(name))
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

// ----- child roles -----

/// Runs the child role named in the environment, if any.
fn child_role() -> bool {
    let Ok(role) = std::env::var(ROLE) else {
        return false;
    };
    let db = std::env::var(DB).unwrap();
    let id: KeyId = std::env::var(KEY).unwrap().parse().unwrap();
    match role.as_str() {
        "encrypt" => encrypt_until_refused(Path::new(&db), &id),
        "rotate" => rotate_many(Path::new(&db), &id),
        other => panic!("unknown role {other}"),
    }
    true
}

/// Process B: encrypt until refused; report the refusal at once.
fn encrypt_until_refused(db: &Path, id: &KeyId) {
    let mut options = StoreOptions::default();
    options.refresh_interval = Duration::from_millis(env_or(INTERVAL_MS, 250));
    // One reservation for the whole run: B writes nothing to the key while
    // it encrypts (a reservation's compare-and-swap would also notice the
    // compromise), so what is measured is the refresh mechanism alone.
    options.usage_block = 1 << 31;
    let store = open(db, "process-b", options);
    let key = store.load_active::<Aead>(id).unwrap();
    key.encrypt(b"first", b"").unwrap();
    let started = Instant::now();
    let mut ok = 0u64;
    while started.elapsed() < CHILD_LIFETIME {
        let call = unix_micros();
        match key.encrypt(b"payload", b"ctx") {
            Ok(_) => {
                ok += 1;
                // READY once B is in its loop: with a zero phase, A's
                // compromise could otherwise land before B's first loop
                // encryption on a loaded machine.
                if ok == 1 {
                    println!("\nREADY");
                    std::io::stdout().flush().unwrap();
                }
            }
            Err(e) => {
                let at = unix_micros();
                // Report first, then make sure the refusal sticks.
                println!("\nREFUSED {:?} {call} {at} {ok}", e.kind());
                std::io::stdout().flush().unwrap();
                let again = key.encrypt(b"again", b"").unwrap_err().kind();
                println!("\nSTILL {again:?} {:?}", key.state());
                return;
            }
        }
    }
    panic!("never refused");
}

/// One of two rotating processes: wait for "GO" on stdin, rotate N times,
/// encrypting after each rotation, and print what it got.
fn rotate_many(db: &Path, id: &KeyId) {
    let n = env_or(ROTATIONS, 25);
    let store = open(db, "rotator", StoreOptions::default());
    let key = store.load_active::<Aead>(id).unwrap();
    println!("\nREADY");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_eq!(go.trim(), "GO");
    let (mut rotate_conflicts, mut encrypt_conflicts) = (0u64, 0u64);
    for _ in 0..n {
        let v = retry_conflicts(&mut rotate_conflicts, || key.rotate());
        let ct = retry_conflicts(&mut encrypt_conflicts, || {
            key.encrypt(&v.to_le_bytes(), b"rotation")
        });
        println!("\nROTATED {v} {}", hex(&ct));
    }
    println!("\nDONE {rotate_conflicts} {encrypt_conflicts}");
}

/// Calls `f` until it does not fail with `Conflict`, counting the
/// conflicts; any other error fails the test. Under concurrent writers a
/// call can give up with `Conflict` (keylife's compare-and-swap loop on the
/// key record stops after eight attempts; nothing was written then): a
/// limitation reported with this test, not documented on `rotate` or
/// `encrypt`.
fn retry_conflicts<T>(conflicts: &mut u64, mut f: impl FnMut() -> keylife::Result<T>) -> T {
    loop {
        match f() {
            Ok(t) => return t,
            Err(e) if e.kind() == ErrorKind::Conflict && *conflicts < 10_000 => {
                *conflicts += 1;
                println!("\nCONFLICT {e}");
            }
            Err(e) => panic!("{e}"),
        }
    }
}

// ----- the parent side -----

/// Spawns this test binary running `test` in a child role.
fn spawn(test: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// Lines of a child's stdout with the instant each arrived; and its stderr.
struct Lines {
    rx: mpsc::Receiver<(String, Instant)>,
    err: std::thread::JoinHandle<String>,
    stdin: Option<ChildStdin>,
    child: Child,
    /// Lines `expect` passed over.
    skipped: Vec<String>,
}

impl Lines {
    fn new(mut child: Child) -> Lines {
        let out = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                let now = Instant::now();
                let l = l.trim().to_owned();
                if !l.is_empty() && tx.send((l, now)).is_err() {
                    break;
                }
            }
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut err_pipe, &mut s);
            s
        });
        Lines {
            rx,
            err,
            stdin: child.stdin.take(),
            child,
            skipped: Vec::new(),
        }
    }

    /// The next line starting with `prefix` (others are skipped), or a
    /// failure with the child's output after `timeout`.
    fn expect(&mut self, prefix: &str, timeout: Duration) -> (String, Instant) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((l, at)) if l.starts_with(prefix) => return (l, at),
                Ok((l, _)) => self.skipped.push(l),
                Err(_) => self.fail(&format!("no {prefix} line within {timeout:?}")),
            }
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.rx.try_iter().map(|(l, _)| l).collect();
        let err = std::mem::replace(&mut self.err, std::thread::spawn(String::new));
        panic!(
            "child: {why} ({status})\nstdout:\n{}\nstderr:\n{}",
            rest.join("\n"),
            err.join().unwrap()
        );
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        let err = self.err.join().unwrap();
        assert!(status.success(), "child failed ({status}):\n{err}");
    }
}

/// What one revocation trial measured.
struct Trial {
    /// From `compromise()` returning in A to B's refusal line arriving in A
    /// (the asserted figure: it includes everything, pipe included).
    observed: Duration,
    /// By the wall clocks of A and B (microseconds, B minus A): when B
    /// started the call that was refused, and when that call returned.
    /// The start may precede A's return: the commit lands before
    /// `compromise()` returns.
    call_started_us: i128,
    call_returned_us: i128,
}

fn revocation_trial(test: &str, interval: Duration, phase: Duration) -> Trial {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let a = open(&db, "process-a", StoreOptions::default());
    let key = a.create_active(KeySpec::<Aead>::new("shared")).unwrap();
    let id = key.id();
    let interval_ms = interval.as_millis().to_string();
    let mut b = Lines::new(spawn(
        test,
        &[
            (ROLE, "encrypt".into()),
            (DB, db.display().to_string()),
            (KEY, id.to_string()),
            (INTERVAL_MS, interval_ms),
        ],
    ));
    b.expect("READY", Duration::from_secs(60));
    // Not synchronisation: spreads the compromise over B's refresh cycle.
    std::thread::sleep(phase);
    let _compromised = key.compromise("stolen laptop").unwrap();
    let returned = Instant::now();
    let wall = i128::try_from(unix_micros()).unwrap();
    // A correctness bound, not a benchmark: generous for a loaded machine.
    let bound = interval * 5 + Duration::from_secs(2);
    let (line, arrived) = b.expect("REFUSED", bound);
    let t: Vec<&str> = line.split(' ').collect();
    assert_eq!(t[1], "WrongState", "B refused with the wrong error: {line}");
    let call: i128 = t[2].parse().unwrap();
    let at: i128 = t[3].parse().unwrap();
    let successes: u64 = t[4].parse().unwrap();
    let (still, _) = b.expect("STILL", Duration::from_secs(60));
    assert_eq!(
        still,
        format!(
            "STILL {:?} {:?}",
            ErrorKind::WrongState,
            StateName::Compromised
        )
    );
    b.finish();
    let observed = arrived.saturating_duration_since(returned);
    assert!(
        observed < bound,
        "B refused {observed:?} after the compromise (bound {bound:?})"
    );
    assert!(successes > 0, "B never encrypted in its loop");
    Trial {
        observed,
        call_started_us: call - wall,
        call_returned_us: at - wall,
    }
}

fn revocation_delays(test: &str, interval: Duration) {
    let trials = env_or("KEYLIFE_XPROC_TRIALS", 5);
    let mut all = Vec::new();
    for t in 0..trials {
        let phase = interval.mul_f64(t as f64 / trials as f64);
        all.push(revocation_trial(test, interval, phase));
    }
    let ms = |us: i128| format!("{:.1}", us as f64 / 1e3);
    let list = |f: &dyn Fn(&Trial) -> i128| {
        let mut v: Vec<i128> = all.iter().map(f).collect();
        v.sort_unstable();
        let v: Vec<String> = v.into_iter().map(ms).collect();
        format!("[{}]", v.join(", "))
    };
    println!(
        "refresh_interval {interval:?}, {trials} trials, ms after compromise() returned in A:\n  \
         B's refusal line read by A {}\n  \
         B's refused call started  {} (wall clocks)\n  \
         B's refused call returned {} (wall clocks)",
        list(&|t| i128::try_from(t.observed.as_micros()).unwrap()),
        list(&|t| t.call_started_us),
        list(&|t| t.call_returned_us),
    );
}

#[test]
fn compromise_stops_another_process_within_100ms_interval() {
    if child_role() {
        return;
    }
    revocation_delays(
        "compromise_stops_another_process_within_100ms_interval",
        Duration::from_millis(100),
    );
}

#[test]
fn compromise_stops_another_process_within_default_interval() {
    if child_role() {
        return;
    }
    let interval = StoreOptions::default().refresh_interval;
    assert_eq!(interval, Duration::from_millis(250));
    revocation_delays(
        "compromise_stops_another_process_within_default_interval",
        interval,
    );
}

#[test]
fn compromise_stops_another_process_at_once_with_zero_interval() {
    if child_role() {
        return;
    }
    revocation_delays(
        "compromise_stops_another_process_at_once_with_zero_interval",
        Duration::ZERO,
    );
}

#[test]
fn two_processes_rotating_one_key_lose_no_version() {
    if child_role() {
        return;
    }
    let n = env_or(ROTATIONS, 25);
    let processes = usize::try_from(env_or("KEYLIFE_XPROC_PROCESSES", 2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let a = open(&db, "process-a", StoreOptions::default());
    let id = a
        .create_active(KeySpec::<Aead>::new("rotated"))
        .unwrap()
        .id();
    let envs = [
        (ROLE, "rotate".to_owned()),
        (DB, db.display().to_string()),
        (KEY, id.to_string()),
        (ROTATIONS, n.to_string()),
    ];
    let test = "two_processes_rotating_one_key_lose_no_version";
    let mut children: Vec<Lines> = (0..processes)
        .map(|_| Lines::new(spawn(test, &envs)))
        .collect();
    for c in &mut children {
        c.expect("READY", Duration::from_secs(60));
    }
    // All start together.
    for c in &mut children {
        writeln!(c.stdin.as_mut().unwrap(), "GO").unwrap();
    }
    let mut got: Vec<Vec<u32>> = Vec::new();
    let mut conflicts = Vec::new();
    let mut messages = BTreeSet::new();
    let mut cts: Vec<(u32, Vec<u8>)> = Vec::new();
    for c in &mut children {
        let mut mine = Vec::new();
        for _ in 0..n {
            let (l, _) = c.expect("ROTATED", Duration::from_secs(120));
            let t: Vec<&str> = l.split(' ').collect();
            let v: u32 = t[1].parse().unwrap();
            mine.push(v);
            cts.push((v, unhex(t[2])));
        }
        let (done, _) = c.expect("DONE", Duration::from_secs(60));
        let t: Vec<u64> = done
            .split(' ')
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect();
        conflicts.push((t[0], t[1]));
        got.push(mine);
        messages.extend(
            c.skipped
                .iter()
                .filter_map(|l| l.strip_prefix("CONFLICT "))
                .map(str::to_owned),
        );
    }
    for c in children {
        c.finish();
    }
    let total = processes * usize::try_from(n).unwrap();
    let last = u32::try_from(total + 1).unwrap();
    // Each process saw its own numbers increase; together they are exactly
    // 2..=1+P·N, each once.
    for mine in &got {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
    }
    let all: BTreeSet<u32> = got.iter().flatten().copied().collect();
    assert_eq!(all.len(), total, "duplicate versions: {got:?}");
    assert_eq!(all, (2..=last).collect::<BTreeSet<u32>>());
    for (i, mine) in got.iter().enumerate() {
        println!("process {} got versions {mine:?}", i + 1);
    }
    let interleaved = got
        .iter()
        .all(|mine| mine.windows(2).any(|w| w[1] > w[0] + 1));
    println!("every process was overtaken at least once: {interleaved}");
    println!("Conflict errors returned (rotate, encrypt) per process, each retried: {conflicts:?}");
    for m in &messages {
        println!("  conflict: {m}");
    }

    // A fresh view of the store: one primary, no version lost.
    let check = open(&db, "checker", StoreOptions::default());
    let info = check.info(&id).unwrap();
    assert_eq!(info.versions.len(), total + 1);
    assert_eq!(info.primary_version, last);
    assert_eq!(info.state, StateName::Active);
    for (i, v) in info.versions.iter().enumerate() {
        assert_eq!(v.number, u32::try_from(i + 1).unwrap());
        assert_eq!(v.state, VersionState::Enabled);
    }
    // Every version's material is there: each ciphertext decrypts.
    for (v, ct) in &cts {
        let version = CiphertextInfo::parse(ct).unwrap().key_version;
        assert!(
            version >= *v,
            "encrypted under an older version than it rotated to"
        );
        let pt = check.decrypt(ct, b"rotation").unwrap();
        assert_eq!(pt, v.to_le_bytes());
    }
    // The log: one success entry per rotation, one failure entry per
    // rotation that gave up.
    let entries = check.audit_entries().unwrap();
    let rotate = |outcome: Outcome| {
        entries
            .iter()
            .filter(|e| {
                e.operation == Operation::Rotate && e.key_id == Some(id) && e.outcome == outcome
            })
            .count()
    };
    assert_eq!(rotate(Outcome::Success), total);
    let gave_up = usize::try_from(conflicts.iter().map(|c| c.0).sum::<u64>()).unwrap();
    let failed = rotate(Outcome::Failed);
    println!("rotations that gave up: {gave_up}, failed Rotate entries in the log: {failed}");
    assert_eq!(
        failed, gave_up,
        "failed rotations without their audit entry"
    );
}
