//! Key management operations and the audit hook.
//!
//! Groups:
//! - `lifecycle_memory/{create,create_active,create_many_1000,rotate,suspend_resume}` and
//!   the same for `lifecycle_sqlite` (a file in a temporary directory, WAL,
//!   `synchronous=FULL`: every state change is an fsynced commit);
//! - `lifecycle_postgres/{create,create_active}` (feature `postgres`, run
//!   through `scripts/pg.sh`: the server of `KEYLIFE_PG_URL`) beside
//!   `lifecycle_postgres/raw_pg_commit`, one `INSERT` of a 2 KiB row in an
//!   autocommit statement through the same `postgres` crate;
//! - `lifecycle_sqlite/raw_sqlite_commit`: the peer of the SQLite figures —
//!   one `INSERT` of a 2 KiB blob committed by rusqlite on a database of the
//!   same settings (WAL, `synchronous=FULL`) in the same directory: the
//!   rate one durable commit allows (issue 13: `create_active` ≥ 0.8× it);
//! - `audit_encrypt_64/{no_sink,memory_sink,json_lines_sink}`: a 64-byte
//!   encrypt with no audit sink, with `MemoryAuditSink`, and with a sink
//!   that formats each event as a JSON line (written to `io::sink`);
//! - `audit_suspend_resume/{no_sink,memory_sink}`: two state changes;
//! - `rotate_at_versions/{10,100,1000}` (in memory): one rotation of a key
//!   that already has that many versions (each key is rotated at most 50
//!   times before a fresh one takes over, outside the timing, so the count
//!   stays within 50 of the label); `load_versions/{10,1000}`: loading such
//!   a key into a fresh store (every version record read, opened and
//!   chained).
//!
//! There is no raw primitive to compare these with; `no_sink` is the
//! baseline of the audit groups.

// Benchmark setup either works or the run is meaningless: panicking on a
// failed setup is right here, unlike in library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keylife::purpose::Aead;
use keylife::{
    AuditEvent, AuditSink, ErrorKind, Kek, KeySpec, KeyStore, MemoryAuditSink, Principal, RawKek,
};

fn memory_store() -> KeyStore {
    KeyStore::in_memory(Principal::admin("bench")).unwrap()
}

fn sqlite_store(dir: &std::path::Path) -> KeyStore {
    let backend = keylife::backend::SqliteBackend::open(dir.join("bench.db")).unwrap();
    KeyStore::open(
        backend,
        &RawKek::new(Kek::generate().unwrap()),
        Principal::admin("bench"),
    )
    .unwrap()
}

fn lifecycle_ops(c: &mut Criterion, name: &str, store: &KeyStore, samples: usize) {
    let mut g = c.benchmark_group(name);
    g.sample_size(samples);
    creates(&mut g, store);
    // A metadata read (`info`) of one key: what every `load` from C and
    // Python does first.
    let k = store.create(KeySpec::<Aead>::new("info")).unwrap();
    g.bench_function("info", |b| {
        b.iter(|| black_box(store.info(&k.id()).unwrap()))
    });
    // Fresh keys per iteration: a key's record grows with its versions and
    // history, so reusing one key would measure ever larger records.
    g.bench_function("rotate", |b| {
        b.iter_batched(
            || store.create_active(KeySpec::<Aead>::new("r")).unwrap(),
            |k| {
                black_box(k.rotate().unwrap());
                k
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("suspend_resume", |b| {
        b.iter_batched(
            || store.create_active(KeySpec::<Aead>::new("s")).unwrap(),
            |k| k.suspend("bench").unwrap().resume().unwrap(),
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// `create`, `create_active` and `create_many_1000` on `store`.
fn creates(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    store: &KeyStore,
) {
    let mut n = 0u64;
    g.bench_function("create", |b| {
        b.iter(|| {
            n += 1;
            store
                .create(KeySpec::<Aead>::new(&format!("k{n}")))
                .unwrap()
        });
    });
    g.bench_function("create_active", |b| {
        b.iter(|| {
            n += 1;
            store
                .create_active(KeySpec::<Aead>::new(&format!("a{n}")))
                .unwrap()
        });
    });
    batch(g, store, &mut n);
}

/// `create_many_1000`: 1,000 keys in one `create_many` call (one commit);
/// criterion reports keys per second (issue 14: ≥ 50,000 on SQLite).
fn batch(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    store: &KeyStore,
    n: &mut u64,
) {
    g.throughput(criterion::Throughput::Elements(1000));
    g.bench_function("create_many_1000", |b| {
        b.iter(|| {
            *n += 1;
            let round = *n;
            store
                .create_many((0..1000).map(|i| KeySpec::<Aead>::new(&format!("b{round}-{i}"))))
                .unwrap()
        });
    });
    g.throughput(criterion::Throughput::Elements(1));
}

fn lifecycle(c: &mut Criterion) {
    lifecycle_ops(c, "lifecycle_memory", &memory_store(), 100);
    let dir = tempfile::tempdir().unwrap();
    // fsync per commit: milliseconds per operation, so fewer samples.
    lifecycle_ops(c, "lifecycle_sqlite", &sqlite_store(dir.path()), 10);
    raw_sqlite_commit(c, dir.path());
    postgres(c);
}

#[cfg(feature = "postgres")]
fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("KEYLIFE_PG_URL") else {
        eprintln!("lifecycle_postgres: not run (KEYLIFE_PG_URL unset: run through scripts/pg.sh)");
        return;
    };
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let schema = format!("bench_{}", u64::from(r[0]) << 8 | u64::from(r[1]));
    let backend = keylife::backend::PostgresBackend::connect_with(
        &url,
        &keylife::backend::PostgresOptions::new()
            .schema(&schema)
            .unwrap(),
    )
    .unwrap();
    let store = KeyStore::open(
        backend,
        &RawKek::new(Kek::generate().unwrap()),
        Principal::admin("bench"),
    )
    .unwrap();
    let mut g = c.benchmark_group("lifecycle_postgres");
    g.sample_size(10);
    creates(&mut g, &store);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE {schema}.raw (id bigserial PRIMARY KEY, body bytea NOT NULL)"
        ))
        .unwrap();
    let insert = client
        .prepare(&format!("INSERT INTO {schema}.raw (body) VALUES ($1)"))
        .unwrap();
    let body = vec![0x5au8; 2048];
    g.bench_function("raw_pg_commit", |b| {
        b.iter(|| client.execute(&insert, &[&body]).unwrap());
    });
    g.finish();
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &mut Criterion) {}

/// One durable commit of a row the size of a key record with its audit
/// entries, with the settings `SqliteBackend` uses: the floor under every
/// SQLite figure above.
fn raw_sqlite_commit(c: &mut Criterion, dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(dir.join("raw.db")).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .unwrap();
    let body = vec![0x5au8; 2048];
    let mut g = c.benchmark_group("lifecycle_sqlite");
    g.sample_size(10);
    g.bench_function("raw_sqlite_commit", |b| {
        b.iter(|| {
            conn.execute("INSERT INTO t (body) VALUES (?1)", [&body])
                .unwrap()
        });
    });
    g.finish();
}

/// Formats every event as one JSON line, as a SIEM feed would.
struct JsonLinesSink(Mutex<std::io::Sink>);

impl AuditSink for JsonLinesSink {
    fn record(&self, event: &AuditEvent<'_>) -> keylife::Result<()> {
        let line = event.to_json()?;
        let mut w = self
            .0
            .lock()
            .map_err(|_| keylife::Error::new(ErrorKind::Internal, "sink poisoned"))?;
        writeln!(w, "{line}").map_err(|e| keylife::Error::new(ErrorKind::Internal, e.to_string()))
    }
}

fn audit(c: &mut Criterion) {
    let plain = memory_store();
    let memory = memory_store().with_audit_sink(Arc::new(MemoryAuditSink::default()));
    let json = memory_store().with_audit_sink(Arc::new(JsonLinesSink(Mutex::new(std::io::sink()))));
    let pt = [0x5au8; 64];

    let mut g = c.benchmark_group("audit_encrypt_64");
    for (name, store) in [
        ("no_sink", &plain),
        ("memory_sink", &memory),
        ("json_lines_sink", &json),
    ] {
        let key = store.create_active(KeySpec::<Aead>::new("a")).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| key.encrypt(black_box(&pt), b"").unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("audit_suspend_resume");
    for (name, store) in [("no_sink", &plain), ("memory_sink", &memory)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || store.create_active(KeySpec::<Aead>::new("s")).unwrap(),
                |k| k.suspend("bench").unwrap().resume().unwrap(),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// A store with one active AEAD key rotated to `versions` versions.
fn key_with_versions(
    versions: u32,
) -> (
    Arc<keylife::backend::MemoryBackend>,
    Vec<u8>,
    KeyStore,
    keylife::KeyId,
) {
    let backend = Arc::new(keylife::backend::MemoryBackend::new());
    let kek = Kek::generate().unwrap();
    let kek_bytes = kek.expose_secret().to_vec();
    let store = KeyStore::open(
        Arc::clone(&backend),
        &RawKek::new(kek),
        Principal::admin("bench"),
    )
    .unwrap();
    let key = store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    for _ in 1..versions {
        key.rotate().unwrap();
    }
    let id = key.id();
    (backend, kek_bytes, store, id)
}

fn versions(c: &mut Criterion) {
    let mut g = c.benchmark_group("rotate_at_versions");
    for n in [10u32, 100, 1000] {
        g.bench_function(n.to_string(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let (_b, _k, store, id) = key_with_versions(n);
                    let key = store.load_active::<Aead>(&id).unwrap();
                    let batch = left.min(50);
                    let start = std::time::Instant::now();
                    for _ in 0..batch {
                        black_box(key.rotate().unwrap());
                    }
                    total += start.elapsed();
                    left -= batch;
                }
                total
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("load_versions");
    g.sample_size(10);
    for n in [10u32, 1000] {
        let (backend, kek, _store, id) = key_with_versions(n);
        g.bench_function(n.to_string(), |b| {
            b.iter_batched(
                || {
                    KeyStore::open(
                        Arc::clone(&backend),
                        &RawKek::new(Kek::from_bytes(&kek).unwrap()),
                        Principal::admin("bench"),
                    )
                    .unwrap()
                },
                |fresh| black_box(fresh.load::<Aead>(&id).unwrap()),
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn config() -> Criterion {
    // Short runs: a 2-core machine shared with other builds.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = lifecycle, audit, versions
}
criterion_main!(benches);
