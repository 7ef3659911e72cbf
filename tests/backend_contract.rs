//! The backend contract, written once (`cases`) and run against every
//! backend: memory, single file, SQLite and PostgreSQL (a real server:
//! `scripts/pg.sh` starts one and sets `KEYLIFE_PG_URL`; each test gets a
//! schema of its own). `contract!` generates one
//! `#[test]` per backend per property, so a failure names both.

// A test fails by panicking; `expect` messages say which step failed.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use keylife::backend::{Backend, Expect, FileBackend, MemoryBackend, Record, WriteOp};
#[cfg(feature = "postgres")]
use keylife::backend::{PostgresBackend, PostgresOptions};
#[cfg(feature = "sqlite")]
use keylife::backend::{SqliteBackend, SqliteOptions};
use keylife::{ErrorKind, Kek, KeySpec, KeyStore, Principal, RawKek, purpose::Aead};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Memory,
    File,
    #[cfg(feature = "sqlite")]
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// One store under test, plus whatever it needs to be reopened.
struct Fixture {
    kind: Kind,
    dir: tempfile::TempDir,
    /// The memory backend's one store (its "reopen" is another handle on it).
    memory: Arc<MemoryBackend>,
    /// PostgreSQL: this test's own schema.
    #[cfg(feature = "postgres")]
    schema: String,
}

impl Fixture {
    fn new(kind: Kind) -> Fixture {
        Fixture {
            kind,
            dir: tempfile::tempdir().expect("temporary directory"),
            memory: Arc::new(MemoryBackend::new()),
            #[cfg(feature = "postgres")]
            schema: {
                let mut r = [0u8; 8];
                getrandom::fill(&mut r).expect("random");
                format!("t_{}", u64::from_le_bytes(r))
            },
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(match self.kind {
            Kind::Memory => "unused",
            Kind::File => "store.keys",
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => "store.db",
            #[cfg(feature = "postgres")]
            Kind::Postgres => "unused",
        })
    }

    /// A handle on the store. Durable backends read it from disk again.
    fn open(&self) -> Arc<dyn Backend> {
        match self.kind {
            Kind::Memory => self.memory.clone(),
            Kind::File => Arc::new(FileBackend::open(self.path()).expect("open file store")),
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => Arc::new(
                SqliteBackend::open_with(
                    self.path(),
                    SqliteOptions::new().busy_timeout(std::time::Duration::from_secs(60)),
                )
                .expect("open sqlite store"),
            ),
            #[cfg(feature = "postgres")]
            Kind::Postgres => Arc::new(
                PostgresBackend::connect_with(
                    &pg_url(),
                    &PostgresOptions::new()
                        .schema(&self.schema)
                        .expect("schema name"),
                )
                .expect("connect to PostgreSQL"),
            ),
        }
    }

    /// `n` handles for concurrent writers: separate connections where the
    /// backend allows several (SQLite), else one shared handle.
    fn handles(&self, n: usize) -> Vec<Arc<dyn Backend>> {
        match self.kind {
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => (0..n).map(|_| self.open()).collect(),
            #[cfg(feature = "postgres")]
            Kind::Postgres => (0..n).map(|_| self.open()).collect(),
            _ => {
                let one = self.open();
                vec![one; n]
            }
        }
    }
}

/// The test server's connection string: tests with the `postgres` feature
/// run under `scripts/pg.sh`, which starts the server.
#[cfg(feature = "postgres")]
fn pg_url() -> String {
    std::env::var("KEYLIFE_PG_URL").expect(
        "KEYLIFE_PG_URL is not set: run the PostgreSQL tests through scripts/pg.sh, which starts a server",
    )
}

fn kind<T: std::fmt::Debug>(r: keylife::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

fn put(id: &str, value: &[u8], expect: Expect) -> WriteOp {
    WriteOp::Put {
        id: id.to_owned(),
        value: value.to_vec(),
        expect,
    }
}

fn rec(b: &dyn Backend, id: &str) -> Option<(Vec<u8>, u64)> {
    b.get(id)
        .expect("get")
        .map(|Record { value, revision }| (value, revision))
}

fn ids(page: &[(String, Record)]) -> Vec<&str> {
    page.iter().map(|(id, _)| id.as_str()).collect()
}

/// The properties, each written once for any backend.
mod cases {
    use super::*;

    pub fn get_missing_is_none(f: &Fixture) {
        let b = f.open();
        assert_eq!(b.get("key/0000").expect("get"), None);
        assert_eq!(b.get("").expect("get of the empty id"), None);
    }

    pub fn put_absent_then_get(f: &Fixture) {
        let b = f.open();
        assert_eq!(
            b.put("key/a", b"sealed-a".to_vec(), Expect::Absent)
                .expect("put"),
            1
        );
        assert_eq!(rec(&*b, "key/a"), Some((b"sealed-a".to_vec(), 1)));
        // Arbitrary bytes, including NUL and an empty value, survive.
        b.put("key/bin", vec![0, 255, 0, 1], Expect::Absent)
            .expect("put");
        b.put("key/empty", Vec::new(), Expect::Absent).expect("put");
        assert_eq!(rec(&*b, "key/bin"), Some((vec![0, 255, 0, 1], 1)));
        assert_eq!(rec(&*b, "key/empty"), Some((Vec::new(), 1)));
    }

    pub fn revisions_start_at_one_and_step_by_one(f: &Fixture) {
        let b = f.open();
        assert_eq!(b.put("r", b"v1".to_vec(), Expect::Absent).expect("put"), 1);
        assert_eq!(
            b.put("r", b"v2".to_vec(), Expect::Revision(1))
                .expect("put"),
            2
        );
        assert_eq!(b.put("r", b"v3".to_vec(), Expect::Any).expect("put"), 3);
        assert_eq!(
            b.put("r", b"v4".to_vec(), Expect::Revision(3))
                .expect("put"),
            4
        );
        assert_eq!(rec(&*b, "r"), Some((b"v4".to_vec(), 4)));
        // A multi-record commit returns each write's revision, in order,
        // and 0 for deletes.
        b.put("s", b"s1".to_vec(), Expect::Absent).expect("put");
        let revs = b
            .commit(&[
                put("r", b"v5", Expect::Revision(4)),
                put("new", b"n1", Expect::Absent),
                WriteOp::Delete {
                    id: "s".into(),
                    expect: Expect::Revision(1),
                },
            ])
            .expect("commit");
        assert_eq!(revs, vec![5, 1, 0]);
        // An id written after a delete starts again at 1 (the core never
        // reuses key ids, so this cannot confuse a compare-and-swap).
        assert_eq!(b.put("s", b"s2".to_vec(), Expect::Absent).expect("put"), 1);
    }

    pub fn revision_mismatch_conflicts_and_changes_nothing(f: &Fixture) {
        let b = f.open();
        b.put("r", b"v1".to_vec(), Expect::Absent).expect("put");
        b.put("r", b"v2".to_vec(), Expect::Revision(1))
            .expect("put");
        for stale in [0, 1, 3, u64::MAX] {
            let e = b.put("r", b"lost".to_vec(), Expect::Revision(stale));
            assert_eq!(kind(e), ErrorKind::Conflict, "expected revision {stale}");
        }
        assert_eq!(rec(&*b, "r"), Some((b"v2".to_vec(), 2)));
        // Expecting a revision of a missing record is a conflict too.
        assert_eq!(
            kind(b.put("missing", b"x".to_vec(), Expect::Revision(1))),
            ErrorKind::Conflict
        );
        assert_eq!(rec(&*b, "missing"), None);
    }

    pub fn absent_on_existing_conflicts(f: &Fixture) {
        let b = f.open();
        b.put("r", b"first".to_vec(), Expect::Absent).expect("put");
        assert_eq!(
            kind(b.put("r", b"second".to_vec(), Expect::Absent)),
            ErrorKind::Conflict
        );
        assert_eq!(rec(&*b, "r"), Some((b"first".to_vec(), 1)));
    }

    pub fn multi_op_commit_is_atomic(f: &Fixture) {
        let b = f.open();
        b.put("a", b"a1".to_vec(), Expect::Absent).expect("put");
        b.put("b", b"b1".to_vec(), Expect::Absent).expect("put");
        let before = b.scan("", None, 100).expect("scan");
        // The failing precondition first, in the middle, and last.
        let batches = [
            vec![
                put("b", b"b2", Expect::Revision(9)),
                put("a", b"a2", Expect::Revision(1)),
                put("c", b"c1", Expect::Absent),
            ],
            vec![
                put("a", b"a2", Expect::Revision(1)),
                put("b", b"b2", Expect::Absent),
                put("c", b"c1", Expect::Absent),
            ],
            vec![
                put("a", b"a2", Expect::Revision(1)),
                WriteOp::Delete {
                    id: "b".into(),
                    expect: Expect::Revision(1),
                },
                put("c", b"c1", Expect::Absent),
                WriteOp::Delete {
                    id: "zz".into(),
                    expect: Expect::Revision(1),
                },
            ],
        ];
        for ops in &batches {
            assert_eq!(kind(b.commit(ops)), ErrorKind::Conflict, "{ops:?}");
            assert_eq!(b.scan("", None, 100).expect("scan"), before, "{ops:?}");
        }
        // The same writes with true preconditions all apply.
        let revs = b
            .commit(&[
                put("a", b"a2", Expect::Revision(1)),
                WriteOp::Delete {
                    id: "b".into(),
                    expect: Expect::Revision(1),
                },
                put("c", b"c1", Expect::Absent),
            ])
            .expect("commit");
        assert_eq!(revs, vec![2, 0, 1]);
        assert_eq!(rec(&*b, "a"), Some((b"a2".to_vec(), 2)));
        assert_eq!(rec(&*b, "b"), None);
        assert_eq!(rec(&*b, "c"), Some((b"c1".to_vec(), 1)));
    }

    pub fn delete(f: &Fixture) {
        let b = f.open();
        b.put("d", b"v".to_vec(), Expect::Absent).expect("put");
        b.put("d", b"v2".to_vec(), Expect::Any).expect("put");
        assert_eq!(
            kind(b.delete("d", Expect::Revision(1))),
            ErrorKind::Conflict
        );
        assert_eq!(kind(b.delete("d", Expect::Absent)), ErrorKind::Conflict);
        assert_eq!(rec(&*b, "d"), Some((b"v2".to_vec(), 2)));
        b.delete("d", Expect::Revision(2)).expect("delete");
        assert_eq!(rec(&*b, "d"), None);
        assert!(b.scan("", None, 10).expect("scan").is_empty());
        // Deleting what is not there: fine without a precondition, a
        // conflict with one.
        b.delete("d", Expect::Any)
            .expect("delete of a missing record");
        b.delete("d", Expect::Absent)
            .expect("delete expecting absence");
        assert_eq!(
            kind(b.delete("d", Expect::Revision(2))),
            ErrorKind::Conflict
        );
    }

    pub fn scan_orders_by_id_and_respects_prefix(f: &Fixture) {
        let b = f.open();
        let all = [
            "key/b",
            "store/header",
            "key/a",
            "keyx",
            "key",
            "key0",
            "kex",
            "key/c",
            "ke",
            "key/\u{10FFFF}",
            "key/é",
            "store/check",
            "key/",
        ];
        for id in all {
            b.put(id, id.as_bytes().to_vec(), Expect::Absent)
                .expect("put");
        }
        let keys = b.scan("key/", None, 100).expect("scan");
        assert_eq!(
            ids(&keys),
            ["key/", "key/a", "key/b", "key/c", "key/é", "key/\u{10FFFF}"]
        );
        for (id, r) in &keys {
            assert_eq!(r.value, id.as_bytes());
            assert_eq!(r.revision, 1);
        }
        assert_eq!(
            ids(&b.scan("store/", None, 100).expect("scan")),
            ["store/check", "store/header"]
        );
        assert_eq!(
            ids(&b.scan("key", None, 100).expect("scan")),
            [
                "key",
                "key/",
                "key/a",
                "key/b",
                "key/c",
                "key/é",
                "key/\u{10FFFF}",
                "key0",
                "keyx"
            ]
        );
        assert!(b.scan("nothing/", None, 100).expect("scan").is_empty());
        let mut sorted = all.to_vec();
        sorted.sort_unstable();
        assert_eq!(ids(&b.scan("", None, 100).expect("scan")), sorted);
    }

    pub fn scan_paginates_with_start_after_and_limit(f: &Fixture) {
        let b = f.open();
        let want: Vec<String> = (0..10).map(|i| format!("key/{i:02}")).collect();
        for id in want.iter().rev() {
            b.put(id, b"x".to_vec(), Expect::Absent).expect("put");
        }
        b.put("keyz", b"x".to_vec(), Expect::Absent).expect("put");
        b.put("a", b"x".to_vec(), Expect::Absent).expect("put");
        // Pages of 3 cover everything exactly once, in order.
        let mut got = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = b.scan("key/", after.as_deref(), 3).expect("scan");
            assert!(page.len() <= 3);
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            got.extend(page.into_iter().map(|(id, _)| id));
        }
        assert_eq!(got, want);
        // `start_after` need not be a stored id, and is exclusive.
        assert_eq!(
            ids(&b.scan("key/", Some("key/035"), 2).expect("scan")),
            ["key/04", "key/05"]
        );
        assert_eq!(
            ids(&b.scan("key/", Some("key/04"), 1).expect("scan")),
            ["key/05"]
        );
        // Before the prefix: starts at the prefix; past it: nothing.
        assert_eq!(
            ids(&b.scan("key/", Some("a"), 1).expect("scan")),
            ["key/00"]
        );
        assert!(b.scan("key/", Some("key/09"), 5).expect("scan").is_empty());
        assert!(b.scan("key/", Some("zzz"), 5).expect("scan").is_empty());
        assert!(b.scan("key/", None, 0).expect("scan").is_empty());
        assert_eq!(b.scan("key/", None, usize::MAX).expect("scan").len(), 10);
    }

    pub fn change_counter_changes_after_commit(f: &Fixture) {
        let b = f.open();
        let c0 = b.change_counter().expect("counter");
        b.put("r", b"1".to_vec(), Expect::Absent).expect("put");
        let c1 = b.change_counter().expect("counter");
        assert_ne!(c0, c1, "a put must change the counter");
        // Reads do not (the core polls this to notice other writers).
        b.get("r").expect("get");
        b.scan("", None, 10).expect("scan");
        assert_eq!(b.change_counter().expect("counter"), c1);
        b.delete("r", Expect::Revision(1)).expect("delete");
        let c2 = b.change_counter().expect("counter");
        assert_ne!(c1, c2, "a delete must change the counter");
        b.commit(&[
            put("x", b"x", Expect::Absent),
            put("y", b"y", Expect::Absent),
        ])
        .expect("commit");
        assert_ne!(c2, b.change_counter().expect("counter"));
    }

    /// 4 threads × 50 compare-and-swap increments of one counter record,
    /// through separate handles where the backend has them.
    pub fn concurrent_cas_loses_no_update(f: &Fixture) {
        const THREADS: usize = 4;
        const INCREMENTS: u64 = 50;
        let handles = f.handles(THREADS);
        handles[0]
            .put("counter", 0u64.to_le_bytes().to_vec(), Expect::Absent)
            .expect("put");
        let workers: Vec<_> = handles
            .into_iter()
            .map(|b| std::thread::spawn(move || increment(&*b, INCREMENTS)))
            .collect();
        for w in workers {
            w.join().expect("worker panicked");
        }
        let b = f.open();
        let (value, revision) = rec(&*b, "counter").expect("counter exists");
        assert_eq!(read_counter(&value), THREADS as u64 * INCREMENTS);
        assert_eq!(revision, THREADS as u64 * INCREMENTS + 1);
    }

    /// A KeyStore on the backend: create, rotate, encrypt; drop everything;
    /// reopen the backend (from its path) and decrypt.
    pub fn keystore_round_trip(f: &Fixture) {
        let kek = Kek::generate().expect("kek").expose_secret().to_vec();
        let provider = || RawKek::new(Kek::from_bytes(&kek).expect("kek"));
        let mut sealed = Vec::new();
        {
            let store = KeyStore::open(f.open(), &provider(), Principal::admin("contract"))
                .expect("open store");
            for i in 0..3 {
                let key = store
                    .create(KeySpec::<Aead>::new(&format!("k{i}")))
                    .expect("create")
                    .activate()
                    .expect("activate");
                let aad = format!("ctx={i}");
                let before = key
                    .encrypt(b"old version", aad.as_bytes())
                    .expect("encrypt");
                if i == 1 {
                    assert_eq!(key.rotate().expect("rotate"), 2);
                }
                let pt = format!("secret {i}");
                let ct = key.encrypt(pt.as_bytes(), aad.as_bytes()).expect("encrypt");
                sealed.push((ct, aad.clone(), pt.into_bytes()));
                sealed.push((before, aad, b"old version".to_vec()));
            }
        }
        let store = KeyStore::open(f.open(), &provider(), Principal::admin("contract"))
            .expect("reopen store");
        for (ct, aad, pt) in &sealed {
            assert_eq!(&store.decrypt(ct, aad.as_bytes()).expect("decrypt"), pt);
        }
        assert_eq!(
            store.list(&keylife::KeyFilter::new()).expect("list").len(),
            3
        );
    }

    /// Drop every handle and reopen from the path: every record is there,
    /// with the same revision.
    pub fn reopen_keeps_records_and_revisions(f: &Fixture) {
        let before = {
            let b = f.open();
            for i in 0..20u64 {
                let id = format!("key/{i:02}");
                b.put(&id, i.to_le_bytes().to_vec(), Expect::Absent)
                    .expect("put");
                for _ in 0..(i % 4) {
                    let rev = b.get(&id).expect("get").expect("exists").revision;
                    b.put(
                        &id,
                        (i * 100 + rev).to_le_bytes().to_vec(),
                        Expect::Revision(rev),
                    )
                    .expect("update");
                }
            }
            b.commit(&[
                WriteOp::Delete {
                    id: "key/07".into(),
                    expect: Expect::Any,
                },
                put("store/header", b"h", Expect::Absent),
            ])
            .expect("commit");
            b.scan("", None, 1000).expect("scan")
        };
        assert_eq!(before.len(), 20);
        let b = f.open();
        assert_eq!(b.scan("", None, 1000).expect("scan"), before);
        assert_eq!(rec(&*b, "key/07"), None);
        assert_eq!(rec(&*b, "key/03").map(|(_, r)| r), Some(4));
        // The reopened store accepts compare-and-swap on the old revisions.
        assert_eq!(
            b.put("key/03", b"next".to_vec(), Expect::Revision(4))
                .expect("put"),
            5
        );
    }
}

/// Compare-and-swap `+1` on "counter", `n` times, retrying on conflict.
fn increment(b: &dyn Backend, n: u64) {
    for _ in 0..n {
        loop {
            let r = b.get("counter").expect("get").expect("counter exists");
            let next = (read_counter(&r.value) + 1).to_le_bytes().to_vec();
            match b.put("counter", next, Expect::Revision(r.revision)) {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => panic!("increment failed: {e}"),
            }
        }
    }
}

fn read_counter(value: &[u8]) -> u64 {
    u64::from_le_bytes(value.try_into().expect("8-byte counter"))
}

macro_rules! contract {
    ($module:ident, $kind:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $case() {
                    cases::$case(&Fixture::new($kind));
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($module:ident => $kind:expr, [$($extra:ident),*];)*) => {
        $(contract!($module, $kind, [
            get_missing_is_none,
            put_absent_then_get,
            revisions_start_at_one_and_step_by_one,
            revision_mismatch_conflicts_and_changes_nothing,
            absent_on_existing_conflicts,
            multi_op_commit_is_atomic,
            delete,
            scan_orders_by_id_and_respects_prefix,
            scan_paginates_with_start_after_and_limit,
            change_counter_changes_after_commit,
            concurrent_cas_loses_no_update,
            keystore_round_trip,
            $($extra),*
        ]);)*
    };
}

all_backends! {
    memory => Kind::Memory, [];
    file => Kind::File, [reopen_keeps_records_and_revisions];
}
#[cfg(feature = "sqlite")]
all_backends! {
    sqlite => Kind::Sqlite, [reopen_keeps_records_and_revisions];
}
#[cfg(feature = "postgres")]
all_backends! {
    postgres => Kind::Postgres, [reopen_keeps_records_and_revisions];
}

/// Properties only the single-file backend has.
mod file_only {
    use super::*;

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let f = Fixture::new(Kind::File);
        let first = FileBackend::open(f.path()).expect("open");
        first.put("r", b"v".to_vec(), Expect::Absent).expect("put");
        let e = FileBackend::open(f.path()).expect_err("second open must be refused");
        assert_eq!(e.kind(), ErrorKind::Storage);
        assert!(e.to_string().contains("locked by another process"), "{e}");
        assert!(
            e.to_string().contains(&f.path().display().to_string()),
            "{e}"
        );
        drop(first);
        let again = FileBackend::open(f.path()).expect("open after the lock is released");
        assert_eq!(rec(&again, "r"), Some((b"v".to_vec(), 1)));
    }

    #[test]
    fn open_creates_a_valid_empty_store_and_a_commit_leaves_no_temporary_file() {
        let f = Fixture::new(Kind::File);
        let b = FileBackend::open(f.path()).expect("open");
        assert!(f.path().is_file());
        assert_eq!(b.path(), f.path());
        b.put("r", b"v".to_vec(), Expect::Absent).expect("put");
        let mut names: Vec<String> = std::fs::read_dir(f.dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["store.keys", "store.keys.lock"]);
    }
}

/// Properties only SQLite has: several connections and processes on one file.
#[cfg(feature = "sqlite")]
mod sqlite_only {
    use super::*;

    #[test]
    fn two_handles_see_each_others_writes_and_counters() {
        let f = Fixture::new(Kind::Sqlite);
        let a = f.open();
        let b = f.open();
        let b0 = b.change_counter().expect("counter");
        a.put("key/x", b"from a".to_vec(), Expect::Absent)
            .expect("put");
        assert_eq!(rec(&*b, "key/x"), Some((b"from a".to_vec(), 1)));
        let b1 = b.change_counter().expect("counter");
        assert_ne!(
            b0, b1,
            "a write through another connection must change the counter"
        );
        let a1 = a.change_counter().expect("counter");
        b.put("key/x", b"from b".to_vec(), Expect::Revision(1))
            .expect("put");
        assert_ne!(a1, a.change_counter().expect("counter"));
        assert_eq!(rec(&*a, "key/x"), Some((b"from b".to_vec(), 2)));
        // A's stale compare-and-swap loses.
        assert_eq!(
            kind(a.put("key/x", b"stale".to_vec(), Expect::Revision(1))),
            ErrorKind::Conflict
        );
    }

    #[test]
    fn database_is_wal_with_the_current_schema_and_no_temporary_files() {
        let f = Fixture::new(Kind::Sqlite);
        let b = SqliteBackend::open(f.path()).expect("open");
        assert_eq!(b.path(), f.path());
        b.put("r", b"v".to_vec(), Expect::Absent).expect("put");
        b.integrity_check().expect("integrity check");
        let raw = rusqlite::Connection::open(f.path()).expect("raw open");
        let mode: String = raw
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let version: u32 = raw
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SqliteBackend::SCHEMA_VERSION);
        // No leftovers from building the file under a temporary name.
        let stray: Vec<_> = std::fs::read_dir(f.dir.path())
            .expect("read dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".init-"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    /// `secure_delete`: after an overwrite and a delete, and a checkpoint,
    /// the old bytes are in neither the database file nor the WAL.
    #[test]
    fn overwritten_and_deleted_bytes_leave_no_trace_after_a_checkpoint() {
        let f = Fixture::new(Kind::Sqlite);
        let b = SqliteBackend::open(f.path()).expect("open");
        let old_a = b"OLD-VALUE-OF-A-0123456789abcdef".repeat(8);
        let old_b = b"OLD-VALUE-OF-B-0123456789abcdef".repeat(8);
        b.put("key/a", old_a.clone(), Expect::Absent).expect("put");
        b.put("key/b", old_b.clone(), Expect::Absent).expect("put");
        b.put("key/c", b"kept".to_vec(), Expect::Absent)
            .expect("put");
        b.checkpoint().expect("checkpoint");
        b.put("key/a", vec![b'n'; old_a.len()], Expect::Revision(1))
            .expect("overwrite");
        b.delete("key/b", Expect::Revision(1)).expect("delete");
        b.checkpoint().expect("checkpoint");
        let mut raw = std::fs::read(f.path()).expect("read db");
        if let Ok(wal) = std::fs::read(f.dir.path().join("store.db-wal")) {
            raw.extend_from_slice(&wal);
        }
        let contains = |needle: &[u8]| raw.windows(16).any(|w| w == &needle[..16]);
        assert!(
            !contains(&old_a),
            "an overwritten value is still in the file"
        );
        assert!(!contains(&old_b), "a deleted value is still in the file");
    }

    #[test]
    fn concurrent_first_opens_create_one_database() {
        let f = Fixture::new(Kind::Sqlite);
        let path = f.path();
        let openers: Vec<_> = (0..4)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let b = SqliteBackend::open(&path).expect("open");
                    b.put(&format!("key/{i}"), b"v".to_vec(), Expect::Absent)
                        .expect("put");
                })
            })
            .collect();
        for o in openers {
            o.join().expect("opener panicked");
        }
        let b = f.open();
        assert_eq!(b.scan("key/", None, 10).expect("scan").len(), 4);
    }

    const CHILD_DB: &str = "KEYLIFE_CONTRACT_CHILD_DB";
    const PROCESS_INCREMENTS: u64 = 40;

    /// Three processes (this one and two children running this same test
    /// in child mode) increment one record with compare-and-swap.
    #[test]
    fn cross_process_cas_loses_no_update() {
        if let Ok(path) = std::env::var(CHILD_DB) {
            // Child mode: only increment.
            let b = SqliteBackend::open_with(
                &path,
                SqliteOptions::new().busy_timeout(std::time::Duration::from_secs(60)),
            )
            .expect("child open");
            increment(&b, PROCESS_INCREMENTS);
            return;
        }
        let f = Fixture::new(Kind::Sqlite);
        let b = f.open();
        b.put("counter", 0u64.to_le_bytes().to_vec(), Expect::Absent)
            .expect("put");
        let exe = std::env::current_exe().expect("test binary");
        let children: Vec<_> = (0..2)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "sqlite_only::cross_process_cas_loses_no_update",
                        "--test-threads=1",
                        "--quiet",
                    ])
                    .env(CHILD_DB, f.path())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn child")
            })
            .collect();
        increment(&*b, PROCESS_INCREMENTS);
        for c in children {
            let out = c.wait_with_output().expect("child");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "child failed: {}\n{}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
            // The child really ran the test (not zero tests by a bad filter).
            assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
        }
        let (value, revision) = rec(&*b, "counter").expect("counter");
        assert_eq!(read_counter(&value), 3 * PROCESS_INCREMENTS);
        assert_eq!(revision, 3 * PROCESS_INCREMENTS + 1);
    }
}
