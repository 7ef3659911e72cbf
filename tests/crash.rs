//! Crash safety: a process killed at any point loses no acknowledged
//! operation, and an acknowledged operation's audit entry survives the kill.
//!
//! Bigger runs (the default is 30 kills, under a minute in a debug build):
//!
//! ```sh
//! KEYLIFE_CRASH_ITERATIONS=200 cargo test --release --test crash -- --nocapture
//! KEYLIFE_CRASH_SEED=0x1234 cargo test --test crash -- --nocapture   # another schedule
//! KEYLIFE_CRASH_VERBOSE=1 ...                                         # one line per kill
//! ```
//!
//! The same test runs on PostgreSQL (`acknowledged_operations_survive_sigkill_postgres`,
//! feature `postgres`, a server from `scripts/pg.sh`; 100 kills by default):
//! a kill there drops the client's connection mid-transaction, and the
//! server must roll back exactly what was not acknowledged.
//!
//! The test re-executes its own binary as a child process that opens a
//! SQLite store (`usage_block` 8; successful uses audited one entry each
//! at once, buffered one entry each, or buffered and aggregated) and
//! performs random creates, activations, encryptions, rotations, suspends,
//! resumes, deactivations, compromises, scheduled and cancelled
//! destructions, destroys and version trims, appending an intent line (`B`)
//! before and an acknowledgement line (`A`) after each call to a file. The
//! parent SIGKILLs the child after a random delay (sometimes while it is
//! still opening the store), reopens the store and checks that nothing
//! acknowledged was lost:
//!
//! - the store opens and SQLite's `integrity_check` passes (SQLite);
//! - the audit log verifies (seals, MACs, chain, head);
//! - every key is exactly in its last acknowledged state (state, primary
//!   version, trimmed versions, pre-pending state) — or, for the one key
//!   the in-flight call touched, in the state that call would give; no key
//!   exists that nobody created;
//! - every acknowledged ciphertext decrypts to its plaintext exactly when
//!   the key's state and the version allow it, and otherwise fails with
//!   the right error (`WrongState`, `VersionUnavailable`);
//! - usage counts are never below the acknowledged encryptions (and at most
//!   one reserved block above them per process);
//! - the log holds exactly one success entry per acknowledged state change
//!   (plus the in-flight one iff it landed), one per acknowledged
//!   encryption when uses are not buffered (buffered and aggregated ones
//!   may be lost, as documented, never invented), and none for calls
//!   nobody made.
//!
//! All iterations run on one store, so later ones reopen a store that has
//! been killed many times. The printed seed reproduces the schedule
//! (operations, delays, options); where a kill lands still depends on timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keylife::backend::{Backend, SqliteBackend};
use keylife::purpose::Aead;
use keylife::{
    AnyKey, AuditUses, CiphertextInfo, ErrorKind, Kek, KeyFilter, KeyId, KeyInfo, KeySpec,
    KeyStore, Operation, Outcome, Principal, RawKek, StateName, StoreOptions, VersionState,
};

const TEST_NAME: &str = "acknowledged_operations_survive_sigkill";
#[cfg(feature = "postgres")]
const PG_TEST_NAME: &str = "acknowledged_operations_survive_sigkill_postgres";

/// Where the store lives: a SQLite file, or a schema on the PostgreSQL
/// server of `KEYLIFE_PG_URL`. Passed to the child as `sqlite:<path>` or
/// `postgres:<schema>`.
#[derive(Clone, Debug)]
enum Target {
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl Target {
    fn encode(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite:{}", p.display()),
            #[cfg(feature = "postgres")]
            Target::Postgres(schema) => format!("postgres:{schema}"),
        }
    }

    fn decode(s: &str) -> Target {
        if let Some(p) = s.strip_prefix("sqlite:") {
            return Target::Sqlite(PathBuf::from(p));
        }
        #[cfg(feature = "postgres")]
        if let Some(schema) = s.strip_prefix("postgres:") {
            return Target::Postgres(schema.to_owned());
        }
        panic!("unknown store target {s:?}")
    }

    fn test_name(&self) -> &'static str {
        match self {
            Target::Sqlite(_) => TEST_NAME,
            #[cfg(feature = "postgres")]
            Target::Postgres(_) => PG_TEST_NAME,
        }
    }

    /// Opens the backend; on SQLite also runs its integrity check.
    fn open(&self) -> Result<Arc<dyn Backend>, String> {
        match self {
            Target::Sqlite(p) => {
                let b = SqliteBackend::open(p).map_err(|e| e.to_string())?;
                b.integrity_check()
                    .map_err(|e| format!("integrity check: {e}"))?;
                Ok(Arc::new(b))
            }
            #[cfg(feature = "postgres")]
            Target::Postgres(schema) => {
                let url = std::env::var("KEYLIFE_PG_URL")
                    .expect("KEYLIFE_PG_URL (run through scripts/pg.sh)");
                let options = keylife::backend::PostgresOptions::new()
                    .schema(schema)
                    .map_err(|e| e.to_string())?;
                keylife::backend::PostgresBackend::connect_with(&url, &options)
                    .map(|b| Arc::new(b) as Arc<dyn Backend>)
                    .map_err(|e| e.to_string())
            }
        }
    }
}
const CHILD_DB: &str = "KEYLIFE_CRASH_CHILD_DB";
const CHILD_ACKS: &str = "KEYLIFE_CRASH_CHILD_ACKS";
const CHILD_SEED: &str = "KEYLIFE_CRASH_CHILD_SEED";
const CHILD_AUDIT: &str = "KEYLIFE_CRASH_CHILD_AUDIT";
const READY: &str = "KEYLIFE_CRASH_CHILD_READY";
const DEFAULT_ITERATIONS: u64 = 30;
const DEFAULT_SEED: u64 = 0x6b65_796c_6966_6521;
const KEK_BYTES: [u8; 32] = [0x5a; 32];
/// Small, so that encryptions reserve (and persist) counts often.
const USAGE_BLOCK: u64 = 8;
const CHILD_PRINCIPAL: &str = "crash-child";
const CHECK_PRINCIPAL: &str = "crash-check";
/// Above the default 7-day minimum.
const DESTRUCTION_WAIT: Duration = Duration::from_secs(8 * 86_400);
/// A child that is never killed stops by itself (and fails the test).
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

fn kek() -> RawKek {
    RawKek::new(Kek::from_bytes(&KEK_BYTES).unwrap())
}

// ----- a small seeded PRNG (SplitMix64): reproducible, no dependency -----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }
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

fn state_from_str(s: &str) -> StateName {
    (1..=8)
        .filter_map(StateName::from_code)
        .find(|st| st.as_str() == s)
        .unwrap_or_else(|| panic!("unknown state {s}"))
}

// ----- what a key looks like, as far as the harness tracks it -----

#[derive(Clone, Debug, PartialEq, Eq)]
struct Summary {
    state: StateName,
    primary: u32,
    /// Versions trimmed with `destroy_version`, ascending.
    destroyed: Vec<u32>,
    before_pending: Option<StateName>,
}

impl Summary {
    fn new_key() -> Summary {
        Summary {
            state: StateName::PreActive,
            primary: 1,
            destroyed: Vec::new(),
            before_pending: None,
        }
    }

    fn of(info: &KeyInfo) -> Summary {
        Summary {
            state: info.state,
            primary: info.primary_version,
            destroyed: info
                .versions
                .iter()
                .filter(|v| v.state == VersionState::Destroyed)
                .map(|v| v.number)
                .collect(),
            before_pending: info.state_before_pending,
        }
    }

    /// The summary after `op` succeeds.
    fn after(&self, op: Op) -> Summary {
        let mut s = self.clone();
        match op {
            Op::Encrypt => {}
            Op::Activate | Op::Resume => s.state = StateName::Active,
            Op::Rotate => s.primary += 1,
            Op::Suspend => s.state = StateName::Suspended,
            Op::Deactivate => s.state = StateName::Deactivated,
            Op::Compromise => s.state = StateName::Compromised,
            Op::ScheduleDestruction => {
                s.before_pending = Some(s.state);
                s.state = StateName::PendingDestruction;
            }
            Op::CancelDestruction => {
                s.state = s
                    .before_pending
                    .take()
                    .expect("pending key has a prior state");
            }
            Op::Destroy => s.state = StateName::Destroyed,
            Op::DestroyVersion(v) => {
                s.destroyed.push(v);
                s.destroyed.sort_unstable();
            }
        }
        s
    }

    fn encode(&self) -> String {
        let destroyed = if self.destroyed.is_empty() {
            "-".to_owned()
        } else {
            let v: Vec<String> = self.destroyed.iter().map(u32::to_string).collect();
            v.join(",")
        };
        let bp = self.before_pending.map_or("-", StateName::as_str);
        format!(
            "{} {} {} {}",
            self.state.as_str(),
            self.primary,
            destroyed,
            bp
        )
    }

    fn decode(t: &[&str]) -> Summary {
        Summary {
            state: state_from_str(t[0]),
            primary: t[1].parse().unwrap(),
            destroyed: if t[2] == "-" {
                Vec::new()
            } else {
                t[2].split(',').map(|v| v.parse().unwrap()).collect()
            },
            before_pending: (t[3] != "-").then(|| state_from_str(t[3])),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Activate,
    Encrypt,
    Rotate,
    Suspend,
    Resume,
    Deactivate,
    Compromise,
    ScheduleDestruction,
    CancelDestruction,
    Destroy,
    DestroyVersion(u32),
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Activate => "activate",
            Op::Encrypt => "encrypt",
            Op::Rotate => "rotate",
            Op::Suspend => "suspend",
            Op::Resume => "resume",
            Op::Deactivate => "deactivate",
            Op::Compromise => "compromise",
            Op::ScheduleDestruction => "schedule_destruction",
            Op::CancelDestruction => "cancel_destruction",
            Op::Destroy => "destroy",
            Op::DestroyVersion(_) => "destroy_version",
        }
    }

    /// The audit operation a successful call records.
    fn audit_name(name: &str) -> Operation {
        match name {
            "create" => Operation::Create,
            "activate" => Operation::Activate,
            "encrypt" => Operation::Encrypt,
            "rotate" => Operation::Rotate,
            "suspend" => Operation::Suspend,
            "resume" => Operation::Resume,
            "deactivate" => Operation::Deactivate,
            "compromise" => Operation::Compromise,
            "schedule_destruction" => Operation::ScheduleDestruction,
            "cancel_destruction" => Operation::CancelDestruction,
            "destroy" => Operation::Destroy,
            "destroy_version" => Operation::DestroyVersion,
            other => panic!("unknown operation {other}"),
        }
    }

    /// The operations the harness may try on a key in `s` (with weights).
    fn choices(s: &Summary) -> Vec<(Op, u64)> {
        let trim: Vec<(Op, u64)> = (1..s.primary)
            .find(|v| !s.destroyed.contains(v))
            .map(|v| (Op::DestroyVersion(v), 6))
            .into_iter()
            .collect();
        let mut c = match s.state {
            StateName::PreActive => vec![(Op::Activate, 80), (Op::Compromise, 5), (Op::Destroy, 8)],
            StateName::Active => vec![
                (Op::Encrypt, 40),
                (Op::Rotate, 20),
                (Op::Suspend, 15),
                (Op::Deactivate, 5),
                (Op::Compromise, 3),
            ],
            StateName::Suspended => {
                vec![(Op::Resume, 60), (Op::Deactivate, 10), (Op::Compromise, 5)]
            }
            StateName::Deactivated => vec![(Op::ScheduleDestruction, 20), (Op::Compromise, 10)],
            StateName::Compromised => vec![(Op::ScheduleDestruction, 20)],
            StateName::PendingDestruction => vec![(Op::CancelDestruction, 30)],
            StateName::Destroyed | StateName::DestroyedCompromised => Vec::new(),
        };
        if matches!(
            s.state,
            StateName::Active
                | StateName::Suspended
                | StateName::Deactivated
                | StateName::Compromised
        ) {
            c.extend(trim);
        }
        c
    }
}

/// How the child's store audits successful uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuditMode {
    /// `audit_buffer` 1: each entry committed before the call returns.
    Unbuffered,
    /// Buffered (256), one entry per use.
    Each,
    /// Buffered (256) and aggregated (the default).
    Aggregate,
}

impl AuditMode {
    fn name(self) -> &'static str {
        match self {
            AuditMode::Unbuffered => "unbuffered",
            AuditMode::Each => "buffered-each",
            AuditMode::Aggregate => "buffered-aggregate",
        }
    }

    fn parse(s: &str) -> AuditMode {
        [AuditMode::Unbuffered, AuditMode::Each, AuditMode::Aggregate]
            .into_iter()
            .find(|m| m.name() == s)
            .unwrap_or_else(|| panic!("audit mode {s}"))
    }

    fn apply(self, o: &mut StoreOptions) {
        match self {
            AuditMode::Unbuffered => o.audit_buffer = 1,
            AuditMode::Each => {
                o.audit_buffer = 256;
                o.audit_uses = AuditUses::Each;
            }
            AuditMode::Aggregate => {
                o.audit_buffer = 256;
                o.audit_uses = AuditUses::Aggregate;
            }
        }
    }
}

// ----- the child: random operations until killed -----

struct ChildKey {
    handle: Option<AnyKey<Aead>>,
    sum: Summary,
}

fn child(db: &str) {
    let acks = std::env::var(CHILD_ACKS).unwrap();
    let seed: u64 = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
    let audit = AuditMode::parse(&std::env::var(CHILD_AUDIT).unwrap());
    let born = Instant::now();
    let mut rng = Rng(seed);
    let mut options = StoreOptions::default();
    options.usage_block = USAGE_BLOCK;
    audit.apply(&mut options);
    let store = KeyStore::builder(Target::decode(db).open().unwrap())
        .options(options)
        .open(&kek(), Principal::admin(CHILD_PRINCIPAL))
        .unwrap();
    // Hold one handle per key, as an application would: the handle keeps
    // the key's usage reservation alive between calls.
    let mut keys: BTreeMap<KeyId, ChildKey> = BTreeMap::new();
    for info in store.list(&KeyFilter::new()).unwrap() {
        let handle = store.load::<Aead>(&info.id).unwrap();
        let sum = Summary::of(&info);
        keys.insert(
            info.id,
            ChildKey {
                handle: Some(handle),
                sum,
            },
        );
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&acks)
        .unwrap();
    // One write per line: a kill leaves whole lines and at most one partial
    // last line (no fsync: a killed process loses nothing the kernel has).
    let mut line = |s: String| out.write_all(format!("{s}\n").as_bytes()).unwrap();
    println!("\n{READY}");
    std::io::stdout().flush().unwrap();
    let mut n = 0u64;
    while born.elapsed() < CHILD_LIFETIME {
        n += 1;
        let usable = keys
            .values()
            .filter(|k| {
                matches!(
                    k.sum.state,
                    StateName::PreActive | StateName::Active | StateName::Suspended
                )
            })
            .count();
        let active: Vec<KeyId> = keys
            .iter()
            .filter(|(_, k)| k.sum.state == StateName::Active)
            .map(|(id, _)| *id)
            .collect();
        let r = rng.below(100);
        // Enough keys in use; the store's key count grows slowly past 300
        // (retired keys stay, and every op scans the key list).
        if usable < 3 || (r < 4 && usable < 24 && keys.len() < 300) {
            let name = format!("k-{seed:016x}-{n}");
            let sp = rng.below(2) == 1;
            line(format!("B {n} create {name} {}", u8::from(sp)));
            let key = store
                .create(KeySpec::<Aead>::new(&name).suspended_processing(sp))
                .unwrap();
            let sum = Summary::new_key();
            assert_eq!(key.state(), sum.state);
            line(format!(
                "A {n} create {} {} {}",
                key.id(),
                sum.encode(),
                u8::from(sp)
            ));
            keys.insert(
                key.id(),
                ChildKey {
                    handle: Some(key.into_any()),
                    sum,
                },
            );
            continue;
        }
        let (id, op) = if r < 55 && !active.is_empty() {
            (rng.pick(&active), Op::Encrypt)
        } else {
            // Mostly keys still in use; sometimes retired ones (schedule
            // and cancel destruction, compromise, trims).
            let in_use = rng.below(4) != 0;
            let live: Vec<KeyId> = keys
                .iter()
                .filter(|(_, k)| {
                    if in_use {
                        matches!(
                            k.sum.state,
                            StateName::PreActive | StateName::Active | StateName::Suspended
                        )
                    } else {
                        k.sum.state.has_material()
                    }
                })
                .map(|(id, _)| *id)
                .collect();
            let id = rng.pick(&live);
            let choices = Op::choices(&keys[&id].sum);
            let total: u64 = choices.iter().map(|c| c.1).sum();
            let mut x = rng.below(total);
            let op = choices
                .iter()
                .find(|c| {
                    if x < c.1 {
                        true
                    } else {
                        x -= c.1;
                        false
                    }
                })
                .unwrap()
                .0;
            (id, op)
        };
        let k = keys.get_mut(&id).unwrap();
        let expected = k.sum.after(op);
        let handle = k.handle.take().unwrap();
        if op == Op::Encrypt {
            let len = 1 + usize::try_from(rng.below(48)).unwrap();
            let pt = rng.bytes(len);
            let aad = format!("ctx-{n}");
            line(format!(
                "B {n} encrypt {id} {} {}",
                expected.encode(),
                expected.primary
            ));
            let AnyKey::Active(key) = handle else {
                panic!("harness: encrypt on a {:?} key", handle.state())
            };
            let ct = key.encrypt(&pt, aad.as_bytes()).unwrap();
            let v = CiphertextInfo::parse(&ct).unwrap().key_version;
            assert_eq!(v, expected.primary, "encrypted under a non-primary version");
            line(format!(
                "A {n} encrypt {id} {} {v} {} {} {}",
                expected.encode(),
                hex(&ct),
                hex(&pt),
                hex(aad.as_bytes())
            ));
            k.handle = Some(key.into_any());
            continue;
        }
        line(format!("B {n} {} {id} {}", op.name(), expected.encode()));
        let handle = apply(handle, op, &expected);
        assert_eq!(handle.state(), expected.state, "{op:?} on {id}");
        line(format!("A {n} {} {id} {}", op.name(), expected.encode()));
        k.handle = Some(handle);
        k.sum = expected;
    }
    panic!("the child was never killed");
}

/// Performs `op` through the typed API.
fn apply(handle: AnyKey<Aead>, op: Op, expected: &Summary) -> AnyKey<Aead> {
    const WHY: &str = "crash test";
    match (op, handle) {
        (Op::Activate, AnyKey::PreActive(k)) => k.activate().unwrap().into_any(),
        (Op::Destroy, AnyKey::PreActive(k)) => k.destroy(WHY).unwrap().into_any(),
        (Op::Rotate, AnyKey::Active(k)) => {
            assert_eq!(k.rotate().unwrap(), expected.primary);
            k.into_any()
        }
        (Op::Suspend, AnyKey::Active(k)) => k.suspend(WHY).unwrap().into_any(),
        (Op::Resume, AnyKey::Suspended(k)) => k.resume().unwrap().into_any(),
        (Op::Deactivate, AnyKey::Active(k)) => k.deactivate(WHY).unwrap().into_any(),
        (Op::Deactivate, AnyKey::Suspended(k)) => k.deactivate(WHY).unwrap().into_any(),
        (Op::Compromise, AnyKey::PreActive(k)) => k.compromise(WHY).unwrap().into_any(),
        (Op::Compromise, AnyKey::Active(k)) => k.compromise(WHY).unwrap().into_any(),
        (Op::Compromise, AnyKey::Suspended(k)) => k.compromise(WHY).unwrap().into_any(),
        (Op::Compromise, AnyKey::Deactivated(k)) => k.compromise(WHY).unwrap().into_any(),
        (Op::ScheduleDestruction, AnyKey::Deactivated(k)) => k
            .schedule_destruction(DESTRUCTION_WAIT, WHY)
            .unwrap()
            .into_any(),
        (Op::ScheduleDestruction, AnyKey::Compromised(k)) => k
            .schedule_destruction(DESTRUCTION_WAIT, WHY)
            .unwrap()
            .into_any(),
        (Op::CancelDestruction, AnyKey::PendingDestruction(k)) => k.cancel_destruction().unwrap(),
        (Op::DestroyVersion(v), AnyKey::Active(k)) => {
            k.destroy_version(v, WHY).unwrap();
            k.into_any()
        }
        (Op::DestroyVersion(v), AnyKey::Suspended(k)) => {
            k.destroy_version(v, WHY).unwrap();
            k.into_any()
        }
        (Op::DestroyVersion(v), AnyKey::Deactivated(k)) => {
            k.destroy_version(v, WHY).unwrap();
            k.into_any()
        }
        (Op::DestroyVersion(v), AnyKey::Compromised(k)) => {
            k.destroy_version(v, WHY).unwrap();
            k.into_any()
        }
        (op, h) => panic!("harness: {op:?} on a {:?} key", h.state()),
    }
}

// ----- the parent: acknowledgements, kill, reopen, check -----

/// One acknowledged encryption.
struct AckedCt {
    key: KeyId,
    version: u32,
    ct: Vec<u8>,
    pt: Vec<u8>,
    aad: Vec<u8>,
}

#[derive(Default)]
struct KeyModel {
    sum: Option<Summary>,
    suspended_processing: bool,
    /// Acknowledged encryptions per version.
    encrypts: BTreeMap<u32, u64>,
    /// Acknowledged plus in-flight encryptions per version.
    attempts: BTreeMap<u32, u64>,
    /// Sessions (child processes) that encrypted under each version.
    sessions: BTreeMap<u32, u64>,
}

/// The call that was running when the child died: begun, not acknowledged.
#[derive(Debug)]
struct InFlight {
    op: String,
    key: Option<KeyId>,
    /// For a create: the new key's name.
    name: Option<String>,
    expected: Option<Summary>,
}

#[derive(Default)]
struct Session {
    /// Acknowledged calls: (operation, key) → count.
    acked: BTreeMap<(String, KeyId), u64>,
    in_flight: Option<InFlight>,
    /// Keys this session encrypted under, per version.
    encrypted: BTreeSet<(KeyId, u32)>,
    acks: u64,
}

#[derive(Default)]
struct Totals {
    acked: BTreeMap<String, u64>,
    in_flight: BTreeMap<String, u64>,
    in_flight_landed: BTreeMap<String, u64>,
    early_kills: u64,
    /// Spawn to ready, summed.
    startup: Duration,
    /// Reopen and checks, summed.
    checking: Duration,
    idle_kills: u64,
}

struct Harness {
    db: Target,
    acks: PathBuf,
    keys: BTreeMap<KeyId, KeyModel>,
    cts: Vec<AckedCt>,
    /// Highest audit sequence number seen so far.
    audit_seen: u64,
    totals: Totals,
}

fn spawn_child(db: &Target, acks: &Path, seed: u64, audit: AuditMode) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args(["--exact", db.test_name(), "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, db.encode())
        .env(CHILD_ACKS, acks)
        .env(CHILD_SEED, seed.to_string())
        .env(CHILD_AUDIT, audit.name())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Reads a child's stdout on a thread: reports READY, then keeps draining.
fn watch_stdout(child: &mut Child) -> (mpsc::Receiver<()>, std::thread::JoinHandle<String>) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut all = String::new();
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if l.contains(READY) {
                let _ = tx.send(());
            }
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    (rx, t)
}

fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

impl Harness {
    /// One child: spawn, let it work, kill it, check the store.
    fn iteration(&mut self, i: u64, rng: &mut Rng) {
        let child_seed = rng.next();
        let audit = [AuditMode::Unbuffered, AuditMode::Each, AuditMode::Aggregate]
            [usize::try_from(rng.below(3)).unwrap()];
        let early = rng.below(8) == 0;
        // Mostly 5–80 ms after the child is ready; sometimes longer, to
        // build up history; sometimes during start-up (opening the store).
        let delay = Duration::from_millis(match rng.below(10) {
            _ if early => rng.below(25),
            0 | 1 => 80 + rng.below(320),
            _ => 5 + rng.below(76),
        });
        std::fs::write(&self.acks, b"").unwrap();
        let spawned = Instant::now();
        let mut child = spawn_child(&self.db, &self.acks, child_seed, audit);
        let (ready, out) = watch_stdout(&mut child);
        let err = drain(child.stderr.take());
        let mut died = None;
        if early {
            self.totals.early_kills += 1;
        } else {
            // Bounded wait for the child to open the store.
            match ready.recv_timeout(Duration::from_secs(60)) {
                Ok(()) => self.totals.startup += spawned.elapsed(),
                Err(_) => died = Some("never became ready"),
            }
        }
        if died.is_none() {
            std::thread::sleep(delay);
            if child.try_wait().unwrap().is_some() {
                died = Some("exited before the kill");
            }
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let (out, err) = (out.join().unwrap(), err.join().unwrap());
        if let Some(why) = died {
            panic!("iteration {i}: child {why} ({status})\nstdout:\n{out}\nstderr:\n{err}");
        }
        let session = self.read_acks(i);
        if session.acks == 0 && !early {
            self.totals.idle_kills += 1;
        }
        let checked = Instant::now();
        self.check(i, &session, audit, false);
        self.totals.checking += checked.elapsed();
        if std::env::var_os("KEYLIFE_CRASH_VERBOSE").is_some() {
            println!(
                "  kill {i}: after {delay:?}{}, audit {}, {} acknowledged, in flight {:?}",
                if early { " from spawn" } else { "" },
                audit.name(),
                session.acks,
                session.in_flight.as_ref().map(|f| &f.op)
            );
        }
    }

    /// Parses the child's acknowledgements into the model.
    fn read_acks(&mut self, i: u64) -> Session {
        let raw = std::fs::read_to_string(&self.acks).unwrap();
        let mut s = Session::default();
        // Only whole lines count; a partial last line was being written.
        let whole = raw.rfind('\n').map_or("", |end| &raw[..end]);
        let mut begun: Option<(u64, InFlight)> = None;
        for l in whole.lines() {
            let t: Vec<&str> = l.split(' ').collect();
            let n: u64 = t[1].parse().unwrap();
            match t[0] {
                "B" => {
                    assert!(begun.is_none(), "iteration {i}: two calls began at once");
                    let f = if t[2] == "create" {
                        InFlight {
                            op: "create".into(),
                            key: None,
                            name: Some(t[3].to_owned()),
                            expected: Some(Summary::new_key()),
                        }
                    } else {
                        InFlight {
                            op: t[2].to_owned(),
                            key: Some(t[3].parse().unwrap()),
                            name: None,
                            expected: Some(Summary::decode(&t[4..8])),
                        }
                    };
                    begun = Some((n, f));
                }
                "A" => {
                    let (bn, f) = begun.take().expect("an acknowledgement without a begin");
                    assert_eq!(bn, n, "iteration {i}: acknowledgement out of order");
                    let op = t[2].to_owned();
                    assert_eq!(op, f.op);
                    let id: KeyId = t[3].parse().unwrap();
                    let sum = Summary::decode(&t[4..8]);
                    let m = self.keys.entry(id).or_default();
                    if op == "create" {
                        assert!(m.sum.is_none(), "key id {id} created twice");
                        m.suspended_processing = t[8] == "1";
                    }
                    m.sum = Some(sum);
                    if op == "encrypt" {
                        let v: u32 = t[8].parse().unwrap();
                        *m.encrypts.entry(v).or_default() += 1;
                        *m.attempts.entry(v).or_default() += 1;
                        s.encrypted.insert((id, v));
                        self.cts.push(AckedCt {
                            key: id,
                            version: v,
                            ct: unhex(t[9]),
                            pt: unhex(t[10]),
                            aad: unhex(t[11]),
                        });
                    }
                    *s.acked.entry((op.clone(), id)).or_default() += 1;
                    *self.totals.acked.entry(op).or_default() += 1;
                    s.acks += 1;
                }
                other => panic!("iteration {i}: bad acknowledgement line {other:?}"),
            }
        }
        if let Some((_, f)) = begun {
            if f.op == "encrypt" {
                let id = f.key.unwrap();
                let v = f.expected.as_ref().unwrap().primary;
                *self
                    .keys
                    .get_mut(&id)
                    .unwrap()
                    .attempts
                    .entry(v)
                    .or_default() += 1;
                s.encrypted.insert((id, v));
            }
            *self.totals.in_flight.entry(f.op.clone()).or_default() += 1;
            s.in_flight = Some(f);
        }
        for (id, v) in &s.encrypted {
            *self
                .keys
                .get_mut(id)
                .unwrap()
                .sessions
                .entry(*v)
                .or_default() += 1;
        }
        s
    }

    /// Reopens the store and checks it against the model; adopts the
    /// in-flight call's effect when it landed.
    fn check(&mut self, i: u64, s: &Session, audit: AuditMode, all_cts: bool) {
        let ctx = |what: &str| format!("iteration {i}: {what}");
        let backend = self
            .db
            .open()
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("the store does not reopen")));
        let mut options = StoreOptions::default();
        options.usage_block = USAGE_BLOCK;
        let store = KeyStore::builder(backend)
            .options(options)
            .open(&kek(), Principal::admin(CHECK_PRINCIPAL))
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("KeyStore::open")));
        let stored: BTreeMap<KeyId, KeyInfo> = store
            .list(&KeyFilter::new())
            .unwrap()
            .into_iter()
            .map(|k| (k.id, k))
            .collect();

        // Keys: exactly the acknowledged state, or what the in-flight call
        // would make of it.
        let f = s.in_flight.as_ref();
        let mut landed = false;
        for (id, m) in &mut self.keys {
            let Some(info) = stored.get(id) else {
                panic!("{}", ctx(&format!("acknowledged key {id} is missing")));
            };
            let acked = m.sum.clone().unwrap();
            let actual = Summary::of(info);
            let flight = f.filter(|f| f.key == Some(*id));
            if actual != acked {
                let expected = flight.and_then(|f| f.expected.clone());
                assert_eq!(
                    Some(&actual),
                    expected.as_ref(),
                    "{}",
                    ctx(&format!(
                        "key {id} is not in its acknowledged state {acked:?} (in flight: {flight:?})"
                    ))
                );
                landed = true;
                m.sum = Some(actual);
            }
            assert_eq!(info.suspended_processing, m.suspended_processing);
            assert_eq!(info.min_decryption_version, 1);
            // Usage: never below the acknowledged encryptions; above them by
            // at most one abandoned block per process per version.
            for (v, acked_n) in &m.encrypts {
                let count = info.version(*v).unwrap().usage_count;
                let attempts = m.attempts[v];
                let bound = attempts + USAGE_BLOCK * m.sessions[v];
                assert!(
                    count >= *acked_n,
                    "{}",
                    ctx(&format!(
                        "key {id} v{v}: usage count {count} below {acked_n} acknowledged encryptions"
                    ))
                );
                assert!(
                    count <= bound,
                    "{}",
                    ctx(&format!(
                        "key {id} v{v}: usage count {count} above {attempts} attempts + one block per process ({bound})"
                    ))
                );
            }
        }
        let unknown: Vec<&KeyInfo> = stored
            .values()
            .filter(|k| !self.keys.contains_key(&k.id))
            .collect();
        match (unknown.as_slice(), f) {
            ([], _) => {}
            ([k], Some(f)) if f.op == "create" && f.name.as_deref() == Some(k.name.as_str()) => {
                assert_eq!(
                    Summary::of(k),
                    Summary::new_key(),
                    "{}",
                    ctx("in-flight create")
                );
                landed = true;
                let m = self.keys.entry(k.id).or_default();
                m.sum = Some(Summary::of(k));
                m.suspended_processing = k.suspended_processing;
            }
            (extra, _) => panic!(
                "{}",
                ctx(&format!(
                    "{} keys nobody created: {:?} (in flight: {f:?})",
                    extra.len(),
                    extra.iter().map(|k| &k.name).collect::<Vec<_>>()
                ))
            ),
        }
        if let Some(f) = f
            && landed
        {
            *self
                .totals
                .in_flight_landed
                .entry(f.op.clone())
                .or_default() += 1;
        }

        // The audit log verifies (`audit_entries` runs the same full
        // verification as `verify_audit`: seals, MACs, chain, head), and
        // holds this session's calls.
        let entries = store
            .audit_entries()
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("audit log verification")));
        let mut logged: BTreeMap<(String, KeyId), u64> = BTreeMap::new();
        for e in entries
            .iter()
            .filter(|e| e.seq > self.audit_seen && e.principal == CHILD_PRINCIPAL)
        {
            assert_eq!(
                e.outcome,
                Outcome::Success,
                "{}",
                ctx(&format!("the child logged a failure: {e:?}"))
            );
            if let Some(k) = e.key_id {
                // Aggregated use entries stand for `count` calls.
                *logged.entry((format!("{:?}", e.operation), k)).or_default() += e.count;
            }
        }
        let mut expect: BTreeSet<(String, KeyId)> = s.acked.keys().cloned().collect();
        let flight_key = f.and_then(|f| {
            let id = f
                .key
                .or_else(|| unknown.first().filter(|_| f.op == "create").map(|k| k.id))?;
            Some((f.op.clone(), id))
        });
        expect.extend(flight_key.clone());
        for (op, id) in &expect {
            let operation = Op::audit_name(op);
            let got = logged.remove(&(format!("{operation:?}"), *id)).unwrap_or(0);
            let acked = s.acked.get(&(op.clone(), *id)).copied().unwrap_or(0);
            let in_flight = u64::from(flight_key.as_ref() == Some(&(op.clone(), *id)));
            let what = format!(
                "{op} on {id}: {got} audit entries, {acked} acknowledged, {in_flight} in flight"
            );
            if op == "encrypt" {
                // Successful uses are buffered (one by one, or aggregated
                // with a count) unless audit_buffer is 1: a
                // kill may lose buffered ones, never invent any.
                let min = if audit == AuditMode::Unbuffered {
                    acked
                } else {
                    0
                };
                assert!(got >= min && got <= acked + in_flight, "{}", ctx(&what));
            } else {
                // State changes commit with their entry: exactly the
                // acknowledged ones, plus the in-flight one if it landed.
                let want = acked + u64::from(in_flight == 1 && landed);
                assert_eq!(got, want, "{}", ctx(&what));
            }
        }
        logged.retain(|(op, _), _| {
            !matches!(
                op.as_str(),
                "ReadMetadata" | "List" | "OpenStore" | "Decrypt" | "ReserveUsage" | "RecordUse"
            )
        });
        assert!(
            logged.is_empty(),
            "{}",
            ctx(&format!("audit entries for calls nobody made: {logged:?}"))
        );
        self.audit_seen = entries.last().map_or(0, |e| e.seq);

        // Ciphertexts: the new ones (all of them at the end, and a sample
        // of older ones each time) decrypt exactly when the key may.
        let new_from = self.cts.len() - usize::try_from(s.acked_encrypts()).unwrap();
        let mut sample: Vec<usize> = (new_from..self.cts.len()).collect();
        if all_cts {
            sample = (0..self.cts.len()).collect();
        } else if new_from > 0 {
            let mut r = Rng(i);
            sample.extend((0..32).map(|_| usize::try_from(r.below(new_from as u64)).unwrap()));
        }
        for idx in sample {
            let c = &self.cts[idx];
            let info = &stored[&c.key];
            let got = store.decrypt(&c.ct, &c.aad);
            match may_decrypt(info, c.version) {
                Ok(()) => assert_eq!(
                    got.as_deref().map_err(|e| e.to_string()),
                    Ok(c.pt.as_slice()),
                    "{}",
                    ctx(&format!(
                        "acknowledged ciphertext of {} v{}",
                        c.key, c.version
                    ))
                ),
                Err(kind) => assert_eq!(
                    got.map_err(|e| e.kind()).err(),
                    Some(kind),
                    "{}",
                    ctx(&format!(
                        "ciphertext of {} v{} in state {:?}",
                        c.key, c.version, info.state
                    ))
                ),
            }
        }
        if all_cts {
            let v = store.verify_audit().unwrap();
            assert!(v.entries >= self.audit_seen, "{}", ctx("verify_audit"));
        }
    }
}

impl Session {
    fn acked_encrypts(&self) -> u64 {
        self.acked
            .iter()
            .filter(|((op, _), _)| op == "encrypt")
            .map(|(_, n)| n)
            .sum()
    }
}

/// Whether `info` allows decrypting with version `v`, else the error kind.
fn may_decrypt(info: &KeyInfo, v: u32) -> Result<(), ErrorKind> {
    let key_ok = match info.state {
        StateName::Active | StateName::Deactivated => true,
        StateName::Suspended => info.suspended_processing,
        _ => false,
    };
    if !key_ok {
        return Err(ErrorKind::WrongState);
    }
    let vi = info.version(v).ok_or(ErrorKind::NotFound)?;
    if vi.state != VersionState::Enabled || v < info.min_decryption_version {
        return Err(ErrorKind::VersionUnavailable);
    }
    Ok(())
}

#[test]
fn acknowledged_operations_survive_sigkill() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        child(&db);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run(
        Target::Sqlite(dir.path().join("store.db")),
        dir.path(),
        DEFAULT_ITERATIONS,
    );
}

/// The same on PostgreSQL: each kill drops the child's connection, often
/// inside a transaction.
#[cfg(feature = "postgres")]
#[test]
fn acknowledged_operations_survive_sigkill_postgres() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        child(&db);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).unwrap();
    run(
        Target::Postgres(format!("crash_{}", u64::from_le_bytes(r))),
        dir.path(),
        100,
    );
}

fn run(db: Target, dir: &Path, default_iterations: u64) {
    let iterations: u64 = std::env::var("KEYLIFE_CRASH_ITERATIONS")
        .ok()
        .map_or(default_iterations, |s| {
            s.parse().expect("KEYLIFE_CRASH_ITERATIONS")
        });
    let seed = std::env::var("KEYLIFE_CRASH_SEED")
        .ok()
        .map_or(DEFAULT_SEED, |s| {
            let s = s.trim_start_matches("0x");
            u64::from_str_radix(s, 16).expect("KEYLIFE_CRASH_SEED (hex)")
        });
    println!(
        "crash test on {}: {iterations} kills, seed {seed:#x} (KEYLIFE_CRASH_SEED={seed:#x})",
        db.encode()
    );
    let mut h = Harness {
        db,
        acks: dir.join("acks.log"),
        keys: BTreeMap::new(),
        cts: Vec::new(),
        audit_seen: 0,
        totals: Totals::default(),
    };
    // The store's first administrator is the checker; it registers the
    // child, since every opener's roles come from the store's registry.
    let setup = KeyStore::open(
        h.db.open().unwrap(),
        &kek(),
        Principal::admin(CHECK_PRINCIPAL),
    )
    .unwrap();
    setup
        .register_principal(&Principal::admin(CHILD_PRINCIPAL))
        .unwrap();
    drop(setup);
    let mut rng = Rng(seed);
    let start = Instant::now();
    for i in 0..iterations {
        h.iteration(i, &mut rng);
    }
    // A last full pass: every acknowledged ciphertext, whole audit log.
    h.check(iterations, &Session::default(), AuditMode::Aggregate, true);
    let t = &h.totals;
    println!(
        "crash test: {iterations} kills in {:.1} s ({} before the child was ready, {} with nothing acknowledged), seed {seed:#x}",
        start.elapsed().as_secs_f64(),
        t.early_kills,
        t.idle_kills
    );
    println!(
        "  {} keys, {} acknowledged ciphertexts, {} audit entries",
        h.keys.len(),
        h.cts.len(),
        h.audit_seen
    );
    println!(
        "  child start-up (spawn to store open) {:.1} s, checking {:.1} s in total",
        t.startup.as_secs_f64(),
        t.checking.as_secs_f64()
    );
    println!("  acknowledged: {:?}", t.acked);
    println!("  in flight at the kill: {:?}", t.in_flight);
    println!("  of which landed: {:?}", t.in_flight_landed);
    assert!(
        t.acked.get("encrypt").copied().unwrap_or(0) > 0 && t.acked.len() >= 5,
        "the children acknowledged too little to test anything: {:?}",
        t.acked
    );
}
