//! Storage fuzz targets: sealed records, store files and SQLite databases
//! with corrupted bytes.
//!
//! Shared, like `targets.rs`, by the libFuzzer binaries and the main test
//! suite (`tests/fuzz_corpus.rs` includes this file by path). Public API
//! only: records are reached through the public `Backend` trait and the
//! backends' own constructors, never through keylife internals.
//!
//! - [`sealed_record`]: a store on a `MemoryBackend` with a few keys; the
//!   input edits, replaces, swaps, rolls back or deletes records (the store
//!   header included), then a fresh `KeyStore` on the edited records opens,
//!   lists, loads, decrypts and verifies. A record whose bytes changed never
//!   yields a usable key, a rolled-back one never passes
//!   `verify_integrity`, no plaintext is ever wrong, and an unmodified
//!   record set works in full.
//! - [`store_file`]: a `FileBackend` store file (made once, on tmpfs) with
//!   byte edits, optionally with the file checksum recomputed so the edits
//!   reach the record table; the same checks, plus: a file whose bytes
//!   changed and whose checksum was not fixed is refused at open.
//! - [`store_sqlite`] (feature `sqlite`): a `SqliteBackend` database file
//!   with byte edits; no panic, no wrong plaintext, unmodified works.

// A fuzz target reports a broken invariant by panicking.
#![allow(clippy::panic)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use keylife::backend::{Backend, FileBackend, MemoryBackend, Record};
use keylife::purpose::{Aead, Mac};
use keylife::{Kek, KeyFilter, KeyId, KeySpec, KeyStore, Principal, RawKek};

use crate::formats::edit_bytes;
use crate::targets::must;

/// Caller associated data of the samples.
const AAD: &[u8] = b"keylife-fuzz-storage";
const MAC_MSG: &[u8] = b"keylife-fuzz mac";

/// What a store fixture knows: keys, ciphertexts and a MAC tag.
struct Known {
    kek: Vec<u8>,
    /// (key id, ciphertext, plaintext) of AEAD keys.
    samples: Vec<(KeyId, Vec<u8>, Vec<u8>)>,
    aead: Vec<KeyId>,
    mac: KeyId,
    tag: [u8; 32],
}

impl Known {
    fn raw_kek(&self) -> RawKek {
        RawKek::new(must(Kek::from_bytes(&self.kek), "kek"))
    }

    /// Fills `store` with keys: `a` (two versions), `b` (deactivated),
    /// `c` (compromised, never processes) and a MAC key. `snapshot` runs
    /// once half way, after `a`'s first version (for rollbacks).
    fn populate(store: &KeyStore, kek: Vec<u8>, mut snapshot: impl FnMut()) -> Known {
        let mut samples = Vec::new();
        let a = must(store.create_active(KeySpec::<Aead>::new("a")), "create a");
        samples.push((a.id(), must(a.encrypt(b"a1", AAD), "enc"), b"a1".to_vec()));
        let b = must(store.create_active(KeySpec::<Aead>::new("b")), "create b");
        samples.push((b.id(), must(b.encrypt(&[7; 40], AAD), "enc"), vec![7; 40]));
        let m = must(store.create_active(KeySpec::<Mac>::new("m")), "create m");
        let tag = must(m.mac(MAC_MSG), "mac");
        must(store.flush_audit(), "flush");
        snapshot();
        must(a.rotate(), "rotate a");
        samples.push((a.id(), must(a.encrypt(b"a2", AAD), "enc"), b"a2".to_vec()));
        let c = must(store.create_active(KeySpec::<Aead>::new("c")), "create c");
        let c_ct = must(c.encrypt(b"c", AAD), "enc");
        let aead = vec![a.id(), b.id(), c.id()];
        must(b.deactivate("fuzz"), "deactivate b");
        must(c.compromise("fuzz"), "compromise c");
        must(store.flush_audit(), "flush");
        // c's ciphertext must never open again: kept apart from samples.
        let _ = c_ct;
        Known {
            kek,
            samples,
            aead,
            mac: m.id(),
            tag,
        }
    }
}

/// What a checked store did.
#[derive(Default)]
struct Outcome {
    /// Keys whose load succeeded.
    loaded: Vec<KeyId>,
    /// Keys a sample decrypted under (always to the right plaintext).
    decrypted: Vec<KeyId>,
    mac_ok: bool,
    integrity_ok: bool,
}

/// Uses every known key through `store`; panics on a wrong plaintext.
fn exercise(store: &KeyStore, known: &Known) -> Outcome {
    let mut out = Outcome::default();
    let _ = store.list(&KeyFilter::new());
    for id in &known.aead {
        if store.load::<Aead>(id).is_ok() {
            out.loaded.push(*id);
        }
        let _ = store.info(id);
    }
    if store.load::<Mac>(&known.mac).is_ok() {
        out.loaded.push(known.mac);
    }
    for (id, ct, pt) in &known.samples {
        if let Ok(got) = store.decrypt(ct, AAD) {
            assert_eq!(&got, pt, "a corrupted store decrypted to another plaintext");
            out.decrypted.push(*id);
        }
    }
    if let Ok(m) = store.load_active::<Mac>(&known.mac) {
        out.mac_ok = m.verify_mac(MAC_MSG, &known.tag).is_ok();
        assert!(
            m.verify_mac(MAC_MSG, &[0; 32]).is_err(),
            "a zero MAC tag verified"
        );
    }
    let _ = store.maintenance();
    out.integrity_ok = store.verify_integrity().is_ok();
    let _ = store.verify_audit();
    out
}

/// An unmodified store: everything works.
fn assert_all_works(out: &Outcome, known: &Known, what: &str) {
    assert_eq!(
        out.loaded.len(),
        known.aead.len() + 1,
        "{what}: an unmodified store did not load every key"
    );
    assert_eq!(
        out.decrypted.len(),
        known.samples.len(),
        "{what}: an unmodified store did not decrypt every sample"
    );
    assert!(
        out.mac_ok,
        "{what}: an unmodified store did not verify a MAC"
    );
    assert!(
        out.integrity_ok,
        "{what}: an unmodified store failed verify_integrity"
    );
}

/// What a store header (record `store/header`: JSON, not itself sealed —
/// its record keys are wrapped under the KEK) means: the members keylife
/// reads, without formatting or unknown members. Two headers with the
/// same meaning are the same header; anything else is a modification.
///
/// Finding `header-format-0` (fixed in `fc91a22`): a header saying
/// `"format":0` opened like format 1. The mask (read it as format 1 when
/// `KEYLIFE_FUZZ_MASK=header-format-0`) stays for replaying old campaigns.
fn header_meaning(bytes: &[u8]) -> Option<serde_json::Value> {
    use serde_json::Value;
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let slot = |s: &Value| -> Value {
        let mut out = serde_json::Map::new();
        for k in ["kek_kind", "kek_params", "record_keys"] {
            if let Some(x) = s.get(k) {
                out.insert(k.to_owned(), x.clone());
            }
        }
        Value::Object(out)
    };
    let mut out = serde_json::Map::new();
    for k in ["format", "current_epoch"] {
        if let Some(x) = v.get(k) {
            out.insert(k.to_owned(), x.clone());
        }
    }
    if crate::targets::masked("header-format-0") && v.get("format") == Some(&Value::from(0)) {
        out.insert("format".to_owned(), Value::from(1));
    }
    for k in ["kek", "next_kek"] {
        if let Some(x) = v.get(k) {
            out.insert(
                k.to_owned(),
                if x.is_null() { Value::Null } else { slot(x) },
            );
        }
    }
    Some(Value::Object(out))
}

/// Whether two store headers mean the same (see [`header_meaning`]).
fn same_header(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    a == b
        || matches!((a.and_then(header_meaning), b.and_then(header_meaning)), (Some(x), Some(y)) if x == y)
}

// ----- sealed_record -----

struct RecordFixture {
    known: Known,
    /// The final records, in id order.
    records: Vec<(String, Record)>,
    /// The records at the half-way snapshot (for rollbacks).
    older: BTreeMap<String, Record>,
}

impl RecordFixture {
    fn new() -> RecordFixture {
        let kek = must(Kek::generate(), "kek");
        let kek_bytes = kek.expose_secret().to_vec();
        let backend = Arc::new(MemoryBackend::new());
        let store = must(
            KeyStore::builder(Arc::clone(&backend))
                .clock(keylife::ManualClock::new(keylife::Timestamp(
                    1_767_225_600_000,
                )))
                .open(&RawKek::new(kek), Principal::admin("fuzz")),
            "open",
        );
        let older = RefCell::new(BTreeMap::new());
        let known = Known::populate(&store, kek_bytes, || {
            *older.borrow_mut() = must(backend.raw_records(), "raw").into_iter().collect();
        });
        drop(store);
        RecordFixture {
            known,
            records: must(backend.raw_records(), "raw"),
            older: older.into_inner(),
        }
    }
}

thread_local! {
    static RECORDS: RefCell<Option<Arc<RecordFixture>>> = const { RefCell::new(None) };
}

fn record_fixture() -> Arc<RecordFixture> {
    RECORDS.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_ref() {
            Some(f) => Arc::clone(f),
            None => {
                let f = Arc::new(crate::targets::fixture(RecordFixture::new));
                *slot = Some(Arc::clone(&f));
                f
            }
        }
    })
}

/// The key a record id names (`key/<id>`), compared as text.
fn key_of(known: &Known, id: &str) -> Option<KeyId> {
    let rest = id.strip_prefix("key/")?;
    known
        .aead
        .iter()
        .chain(std::iter::once(&known.mac))
        .find(|k| k.to_string() == rest)
        .copied()
}

/// Edits the records of a small store (groups: record, mode, length,
/// operand bytes), opens a fresh `KeyStore` on them and uses every key.
pub fn sealed_record(data: &[u8]) {
    let f = record_fixture();
    let mut records: BTreeMap<String, Record> = f.records.iter().cloned().collect();
    let ids: Vec<String> = f.records.iter().map(|(id, _)| id.clone()).collect();
    let mut rest = data;
    for _ in 0..3 {
        let [sel, mode, len, tail @ ..] = rest else {
            break;
        };
        let n = usize::from(*len).min(tail.len());
        let (ops, tail) = tail.split_at(n);
        rest = tail;
        let id = &ids[usize::from(*sel) % ids.len()];
        let other = &ids[usize::from(ops.first().copied().unwrap_or(0)) % ids.len()];
        match mode % 7 {
            0 => {
                if let Some(r) = records.get_mut(id) {
                    edit_bytes(&mut r.value, ops);
                }
            }
            // Another record's bytes (swapped or copied).
            1 => {
                if let Some(v) = records.get(other).map(|r| r.value.clone())
                    && let Some(r) = records.get_mut(id)
                {
                    r.value = v;
                }
            }
            // The same record as it was half way (a rollback).
            2 => {
                if let Some(old) = f.older.get(id) {
                    records.insert(id.clone(), old.clone());
                }
            }
            3 => {
                if let Some(r) = records.get_mut(id) {
                    r.value = ops.to_vec();
                }
            }
            4 => {
                records.remove(id);
            }
            // Revisions are compared, never interpreted.
            5 => {
                if let Some(r) = records.get_mut(id) {
                    r.revision = u64::from(ops.first().copied().unwrap_or(0)) + 1;
                }
            }
            _ => {
                // A record under a new id.
                let v = records.get(id).map(|r| r.value.clone()).unwrap_or_default();
                let name = format!("{}{}", id, ops.first().copied().unwrap_or(0) % 4);
                records.insert(
                    name,
                    Record {
                        value: v,
                        revision: 1,
                    },
                );
            }
        }
    }
    let original: BTreeMap<&str, &[u8]> = f
        .records
        .iter()
        .map(|(id, r)| (id.as_str(), r.value.as_slice()))
        .collect();
    let same = |id: &str| records.get(id).map(|r| r.value.as_slice()) == original.get(id).copied();
    let rolled_back = |id: &str| {
        !same(id)
            && records.get(id).map(|r| r.value.as_slice())
                == f.older.get(id).map(|r| r.value.as_slice())
    };
    let unmodified = ids.iter().all(|id| same(id)) && records.len() == ids.len();

    let backend = MemoryBackend::new();
    for (id, r) in &records {
        must(backend.tamper(id, r.clone()), "tamper");
    }
    let opened = KeyStore::open(backend, &f.known.raw_kek(), Principal::admin("fuzz"));
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            assert!(!unmodified, "an unmodified store did not open: {e}");
            return;
        }
    };
    let out = exercise(&store, &f.known);
    if unmodified {
        assert_all_works(&out, &f.known, "sealed_record");
        return;
    }
    let header_same = same_header(
        original.get("store/header").copied(),
        records.get("store/header").map(|r| r.value.as_slice()),
    );
    for k in out.loaded.iter().chain(&out.decrypted) {
        let Some(rid) = ids
            .iter()
            .find(|id| key_of(&f.known, id) == Some(*k))
            .cloned()
        else {
            panic!("key {k} has no record in the fixture");
        };
        assert!(
            header_same || rolled_back("store/header"),
            "key {k} usable under a modified store header"
        );
        assert!(
            same(&rid) || rolled_back(&rid),
            "key {k} usable from a modified record {rid}"
        );
    }
    // A key record with changed bytes, or an older copy, or a changed
    // audit entry: verify_integrity must notice.
    let tampered = ids.iter().any(|id| {
        (id.starts_with("key/") || id.starts_with("audit/"))
            && !same(id)
            && records.contains_key(id)
    });
    assert!(
        !(tampered && out.integrity_ok),
        "verify_integrity passed over a modified record"
    );
}

/// The record ids of the `sealed_record` fixture, in order (for seeds).
pub fn sealed_record_ids() -> Vec<String> {
    record_fixture()
        .records
        .iter()
        .map(|(id, _)| id.clone())
        .collect()
}

// ----- store_file and store_sqlite -----

fn io<T>(r: std::io::Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// A scratch directory per process, inside the building crate's target
/// directory (`KEYLIFE_FUZZ_SCRATCH` overrides the base, e.g. a tmpfs
/// for speed). Nothing is written outside it.
fn scratch() -> PathBuf {
    let base = std::env::var_os("KEYLIFE_FUZZ_SCRATCH").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join("fuzz-scratch")
        },
        PathBuf::from,
    );
    io(std::fs::create_dir_all(&base), "scratch base");
    // Our own directories of processes that are gone (fuzzers and test
    // runs end without a chance to clean up) are removed first.
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix("keylife-fuzz-"))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && pid != std::process::id()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("keylife-fuzz-{}", std::process::id()));
    io(std::fs::create_dir_all(&dir), "scratch dir");
    dir
}

struct FileFixture {
    known: Known,
    bytes: Vec<u8>,
    work: PathBuf,
}

fn file_fixture<B: Backend + 'static>(
    name: &str,
    open: impl Fn(&std::path::Path) -> keylife::Result<B>,
    finish: impl Fn(&std::path::Path),
) -> FileFixture {
    let dir = scratch();
    let path = dir.join(format!("{name}-fixture"));
    let _ = std::fs::remove_file(&path);
    let kek = must(Kek::generate(), "kek");
    let kek_bytes = kek.expose_secret().to_vec();
    let store = must(
        KeyStore::builder(must(open(&path), "backend"))
            .clock(keylife::ManualClock::new(keylife::Timestamp(
                1_767_225_600_000,
            )))
            .open(&RawKek::new(kek), Principal::admin("fuzz")),
        "open",
    );
    let known = Known::populate(&store, kek_bytes, || {});
    drop(store);
    finish(&path);
    let bytes = io(std::fs::read(&path), "read fixture");
    FileFixture {
        known,
        bytes,
        work: dir.join(format!("{name}-work")),
    }
}

/// Decodes a `FileBackend` file's record table (format version 1, see
/// `src/store/backend/file.rs`) without checking the checksum.
fn file_records(bytes: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    let body = bytes.get(25..bytes.len().checked_sub(32)?)?;
    let count = u64::from_le_bytes(bytes.get(17..25)?.try_into().ok()?);
    let mut cur = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = cur.split_at_checked(n)?;
        cur = b;
        Some(a)
    };
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let id = String::from_utf8(take(usize::try_from(n).ok()?)?.to_vec()).ok()?;
        take(8)?;
        let m = u32::from_le_bytes(take(4)?.try_into().ok()?);
        let v = take(usize::try_from(m).ok()?)?.to_vec();
        out.insert(id, v);
    }
    Some(out)
}

thread_local! {
    static FILE: RefCell<Option<Arc<FileFixture>>> = const { RefCell::new(None) };
}

/// A `FileBackend` store file with edits (4-byte groups: kind, offset (2),
/// value); a first byte with bit 0 set recomputes the file checksum after
/// the edits, so they reach the record table.
pub fn store_file(data: &[u8]) {
    let f = FILE.with(|cell| {
        let mut slot = cell.borrow_mut();
        Arc::clone(slot.get_or_insert_with(|| {
            crate::targets::fixture(|| {
                Arc::new(file_fixture("file", |p| FileBackend::open(p), |_| {}))
            })
        }))
    });
    let (fix, edits) = data
        .split_first()
        .map_or((false, &[][..]), |(b, r)| (b & 1 == 1, r));
    let mut bytes = f.bytes.clone();
    edit_bytes(&mut bytes, edits);
    if fix && bytes.len() >= 32 {
        use sha2::{Digest, Sha256};
        let n = bytes.len() - 32;
        let sum = Sha256::digest(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum);
    }
    let unmodified = bytes == f.bytes;
    io(std::fs::write(&f.work, &bytes), "write work file");
    let backend = match FileBackend::open(&f.work) {
        Ok(b) => b,
        Err(e) => {
            assert!(!unmodified, "an unmodified store file did not open: {e}");
            return;
        }
    };
    assert!(
        unmodified || fix,
        "a store file with changed bytes and a stale checksum opened"
    );
    let store = match KeyStore::open(backend, &f.known.raw_kek(), Principal::admin("fuzz")) {
        Ok(s) => s,
        Err(e) => {
            assert!(!unmodified, "an unmodified store did not open: {e}");
            return;
        }
    };
    let out = exercise(&store, &f.known);
    drop(store);
    if unmodified {
        assert_all_works(&out, &f.known, "store_file");
        return;
    }
    // With a fixed checksum: a key whose record value changed is unusable.
    if let (Some(orig), Some(now)) = (file_records(&f.bytes), file_records(&bytes)) {
        for k in out.loaded.iter().chain(&out.decrypted) {
            let Some(rid) = orig
                .keys()
                .find(|id| key_of(&f.known, id) == Some(*k))
                .cloned()
            else {
                panic!("key {k} has no record in the fixture file");
            };
            assert!(
                orig.get(&rid) == now.get(&rid),
                "key {k} usable from a modified record {rid}"
            );
            assert!(
                same_header(
                    orig.get("store/header").map(Vec::as_slice),
                    now.get("store/header").map(Vec::as_slice)
                ),
                "key {k} usable under a modified store header"
            );
        }
    }
}

#[cfg(feature = "sqlite")]
thread_local! {
    static SQLITE: RefCell<Option<Arc<FileFixture>>> = const { RefCell::new(None) };
}

/// A `SqliteBackend` database file with edits (as [`store_file`], without
/// the checksum byte: the first byte is an edit too).
#[cfg(feature = "sqlite")]
pub fn store_sqlite(data: &[u8]) {
    use keylife::backend::{SqliteBackend, SqliteOptions};
    let f = SQLITE.with(|cell| {
        let mut slot = cell.borrow_mut();
        Arc::clone(slot.get_or_insert_with(|| {
            crate::targets::fixture(|| {
                Arc::new(file_fixture(
                    "sqlite",
                    |p| SqliteBackend::open(p),
                    |p| {
                        // Fold the WAL into the database file.
                        let b = must(SqliteBackend::open(p), "reopen");
                        must(b.checkpoint(), "checkpoint");
                        drop(b);
                        for ext in ["-wal", "-shm"] {
                            let mut s = p.as_os_str().to_owned();
                            s.push(ext);
                            let _ = std::fs::remove_file(PathBuf::from(s));
                        }
                    },
                ))
            })
        }))
    });
    let mut bytes = f.bytes.clone();
    edit_bytes(&mut bytes, data);
    let unmodified = bytes == f.bytes;
    for ext in ["-wal", "-shm", "-journal"] {
        let mut s = f.work.as_os_str().to_owned();
        s.push(ext);
        let _ = std::fs::remove_file(PathBuf::from(s));
    }
    io(std::fs::write(&f.work, &bytes), "write work file");
    let options = SqliteOptions::new()
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_millis(10));
    let backend = match SqliteBackend::open_with(&f.work, options) {
        Ok(b) => b,
        Err(e) => {
            assert!(!unmodified, "an unmodified database did not open: {e}");
            return;
        }
    };
    let _ = backend.integrity_check();
    let store = match KeyStore::open(backend, &f.known.raw_kek(), Principal::admin("fuzz")) {
        Ok(s) => s,
        Err(e) => {
            assert!(!unmodified, "an unmodified store did not open: {e}");
            return;
        }
    };
    let out = exercise(&store, &f.known);
    drop(store);
    if unmodified {
        assert_all_works(&out, &f.known, "store_sqlite");
    }
}

/// The record ids the `store_file` target's own reader finds in the
/// unmodified fixture file, and how many name a known key (the oracle
/// for edits under a fixed checksum depends on both).
pub fn store_file_records() -> (Vec<String>, usize) {
    let f = FILE.with(|cell| {
        let mut slot = cell.borrow_mut();
        Arc::clone(slot.get_or_insert_with(|| {
            crate::targets::fixture(|| {
                Arc::new(file_fixture("file", |p| FileBackend::open(p), |_| {}))
            })
        }))
    });
    let ids: Vec<String> = file_records(&f.bytes)
        .map(|r| r.into_keys().collect())
        .unwrap_or_default();
    let keys = ids
        .iter()
        .filter(|id| key_of(&f.known, id).is_some())
        .count();
    (ids, keys)
}

/// The `sealed_record` fixture's record ids that name a known key.
pub fn sealed_record_key_records() -> usize {
    let f = record_fixture();
    f.records
        .iter()
        .filter(|(id, _)| key_of(&f.known, id).is_some())
        .count()
}

/// The unmodified fixture file's length (for seeds).
pub fn store_file_len() -> usize {
    FILE.with(|cell| {
        let mut slot = cell.borrow_mut();
        slot.get_or_insert_with(|| {
            crate::targets::fixture(|| {
                Arc::new(file_fixture("file", |p| FileBackend::open(p), |_| {}))
            })
        })
        .bytes
        .len()
    })
}

/// The bytes of a freshly built `store_file` fixture (see
/// `targets::ciphertext_fixture_samples`).
pub fn store_file_fixture_bytes() -> Vec<u8> {
    crate::targets::fixture(|| file_fixture("file-twin", |p| FileBackend::open(p), |_| {})).bytes
}
