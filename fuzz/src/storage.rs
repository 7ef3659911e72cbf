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
//!   with byte edits; the same checks as `store_file`. Both compare the
//!   records the store itself read (through a recording `Backend`
//!   wrapper), never through a parser of the target's own.
//! - [`kek_header`]: the KEK parameters of a passphrase store's header,
//!   edited; refused at once beyond the opener's limit, opened only when
//!   they mean the same.

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
        // The KEK parameters are JSON inside a byte array: compared as
        // JSON when they are, so formatting alone is no change of meaning.
        if let Some(p) = s
            .get("kek_params")
            .and_then(|x| serde_json::from_value::<Vec<u8>>(x.clone()).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            out.insert("kek_params".to_owned(), p);
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

/// The key a record belongs to — its key record `key/<id>` or one of its
/// version records `ver/<id>/<n>` — compared as text.
fn key_of(known: &Known, id: &str) -> Option<KeyId> {
    let rest = id
        .strip_prefix("key/")
        .or_else(|| id.strip_prefix("ver/").and_then(|r| r.split('/').next()))?;
    known
        .aead
        .iter()
        .chain(std::iter::once(&known.mac))
        .find(|k| k.to_string() == rest)
        .copied()
}

/// Whether a record is one `verify_integrity` must vouch for: key
/// records, version records and audit entries.
fn integrity_checked(id: &str) -> bool {
    id.starts_with("key/") || id.starts_with("ver/") || id.starts_with("audit/")
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
        assert!(
            header_same || rolled_back("store/header"),
            "key {k} usable under a modified store header"
        );
        // Its key record and every version record, as in the fixture (or
        // an older copy, which verify_integrity must then catch).
        let mut found = false;
        for rid in ids.iter().filter(|id| key_of(&f.known, id) == Some(*k)) {
            found = true;
            assert!(
                same(rid) || rolled_back(rid),
                "key {k} usable from a modified record {rid}"
            );
        }
        assert!(found, "key {k} has no record in the fixture");
    }
    // A key record with changed bytes, or an older copy, or a changed
    // audit entry: verify_integrity must notice.
    let tampered = ids
        .iter()
        .any(|id| integrity_checked(id) && !same(id) && records.contains_key(id));
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
    /// Every record of the unmodified file, as the backend reads it.
    records: BTreeMap<String, Vec<u8>>,
    work: PathBuf,
}

/// Every record a backend holds, read through the public `Backend` trait
/// (the library's own reader: the oracles parse no file format).
fn backend_records(b: &dyn Backend) -> keylife::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = b.scan("", after.as_deref(), 256)?;
        let Some((last, _)) = page.last() else {
            return Ok(out);
        };
        after = Some(last.clone());
        out.extend(page.into_iter().map(|(id, r)| (id, r.value)));
    }
}

/// A backend that records every value its reads returned and every value
/// the store wrote, per record id. The oracles judge what the store
/// actually read — a separate read of a damaged database may be answered
/// differently from one moment to the next (a read that failed before a
/// write can succeed after it).
struct Recording<B> {
    inner: B,
    log: Arc<std::sync::Mutex<ReadLog>>,
}

#[derive(Default)]
struct ReadLog {
    read: BTreeMap<String, std::collections::BTreeSet<Vec<u8>>>,
    written: BTreeMap<String, std::collections::BTreeSet<Vec<u8>>>,
}

impl ReadLog {
    /// Values read for `id` that the store did not write itself.
    fn foreign(&self, id: &str) -> impl Iterator<Item = &Vec<u8>> {
        let own = self.written.get(id);
        self.read
            .get(id)
            .into_iter()
            .flatten()
            .filter(move |v| !own.is_some_and(|w| w.contains(*v)))
    }
}

impl<B: Backend> Recording<B> {
    fn new(inner: B) -> (Recording<B>, Arc<std::sync::Mutex<ReadLog>>) {
        let log = Arc::new(std::sync::Mutex::new(ReadLog::default()));
        (
            Recording {
                inner,
                log: Arc::clone(&log),
            },
            log,
        )
    }

    fn note(&self, id: &str, value: &[u8], written: bool) {
        if let Ok(mut l) = self.log.lock() {
            let map = if written { &mut l.written } else { &mut l.read };
            map.entry(id.to_owned()).or_default().insert(value.to_vec());
        }
    }
}

impl<B: Backend> Backend for Recording<B> {
    fn get(&self, id: &str) -> keylife::Result<Option<Record>> {
        let r = self.inner.get(id)?;
        if let Some(rec) = &r {
            self.note(id, &rec.value, false);
        }
        Ok(r)
    }
    fn commit(&self, ops: &[keylife::backend::WriteOp]) -> keylife::Result<Vec<u64>> {
        for op in ops {
            if let keylife::backend::WriteOp::Put { id, value, .. } = op {
                self.note(id, value, true);
            }
        }
        self.inner.commit(ops)
    }
    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> keylife::Result<Vec<(String, Record)>> {
        let page = self.inner.scan(prefix, start_after, limit)?;
        for (id, rec) in &page {
            self.note(id, &rec.value, false);
        }
        Ok(page)
    }
    fn change_counter(&self) -> keylife::Result<u64> {
        self.inner.change_counter()
    }
}

/// The oracle of both file targets, after `exercise` on an edited file,
/// on what the store read (`log`): a key that loaded or decrypted was read
/// only as in the fixture (or as the store itself wrote it since) — its
/// key record and every version record — under a header that means the
/// same; `verify_integrity` never passes over a key record, version record
/// or audit entry read with other bytes.
fn assert_changed_records_unusable(f: &FileFixture, log: &ReadLog, out: &Outcome, what: &str) {
    let changed = |id: &str| log.foreign(id).any(|v| Some(v) != f.records.get(id));
    for k in out.loaded.iter().chain(&out.decrypted) {
        let mut found = false;
        for rid in f
            .records
            .keys()
            .filter(|id| key_of(&f.known, id) == Some(*k))
        {
            found = true;
            assert!(
                !changed(rid),
                "{what}: key {k} usable from a modified record {rid}"
            );
        }
        assert!(found, "{what}: key {k} has no record in the fixture");
        let original = f.records.get("store/header").map(Vec::as_slice);
        for h in log.foreign("store/header") {
            assert!(
                same_header(original, Some(h)),
                "{what}: key {k} usable under a modified store header"
            );
        }
    }
    let tampered = log
        .read
        .keys()
        .any(|id| integrity_checked(id) && f.records.contains_key(id) && changed(id));
    assert!(
        !(tampered && out.integrity_ok),
        "{what}: verify_integrity passed over a modified record"
    );
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
    let records = must(
        backend_records(&must(open(&path), "reopen")),
        "read fixture records",
    );
    FileFixture {
        known,
        bytes,
        records,
        work: dir.join(format!("{name}-work")),
    }
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
    let (backend, log) = Recording::new(backend);
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
    // With a fixed checksum: a key whose record changed is unusable.
    let log = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_changed_records_unusable(&f, &log, &out, "store_file");
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
    let (backend, log) = Recording::new(backend);
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
        return;
    }
    let log = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_changed_records_unusable(&f, &log, &out, "store_sqlite");
}

/// The record ids `FileBackend` reads from the unmodified fixture file,
/// and how many name a known key (the oracle for edits under a fixed
/// checksum depends on both).
pub fn store_file_records() -> (Vec<String>, usize) {
    let f = FILE.with(|cell| {
        let mut slot = cell.borrow_mut();
        Arc::clone(slot.get_or_insert_with(|| {
            crate::targets::fixture(|| {
                Arc::new(file_fixture("file", |p| FileBackend::open(p), |_| {}))
            })
        }))
    });
    let ids: Vec<String> = f.records.keys().cloned().collect();
    let keys = ids
        .iter()
        .filter(|id| key_of(&f.known, id).is_some())
        .count();
    (ids, keys)
}

/// How many of the `sealed_record` fixture's records belong to a known
/// key: (key records, version records).
pub fn sealed_record_key_records() -> (usize, usize) {
    let f = record_fixture();
    let mine = |p: &str| {
        f.records
            .iter()
            .filter(|(id, _)| id.starts_with(p) && key_of(&f.known, id).is_some())
            .count()
    };
    (mine("key/"), mine("ver/"))
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

// ----- kek_header -----

/// The passphrase of the `kek_header` fixture.
const PASSPHRASE: &str = "keylife fuzz passphrase";

/// The costs the `kek_header` fixture's store was made with (tiny, so an
/// input runs Argon2id in microseconds).
fn fixture_costs() -> keylife::Argon2Params {
    keylife::Argon2Params::new(32, 1, 2)
}

/// The most the target's opener accepts (`PassphraseKek::max_costs`):
/// anything a header asks beyond it must be refused before any work.
fn opener_max() -> keylife::Argon2Params {
    keylife::Argon2Params::new(256, 3, 4)
}

struct KekHeaderFixture {
    records: Vec<(String, Record)>,
    header: Vec<u8>,
    key: KeyId,
    ct: Vec<u8>,
}

fn kek_header_fixture() -> Arc<KekHeaderFixture> {
    thread_local! {
        static KEK_HEADER: RefCell<Option<Arc<KekHeaderFixture>>> = const { RefCell::new(None) };
    }
    KEK_HEADER.with(|cell| {
        let mut slot = cell.borrow_mut();
        Arc::clone(slot.get_or_insert_with(|| {
            Arc::new(crate::targets::fixture(|| {
                let backend = Arc::new(MemoryBackend::new());
                let kek = keylife::PassphraseKek::new(PASSPHRASE).params(fixture_costs());
                let store = must(
                    KeyStore::builder(Arc::clone(&backend))
                        .clock(keylife::ManualClock::new(keylife::Timestamp(
                            1_767_225_600_000,
                        )))
                        .open(&kek, Principal::admin("fuzz")),
                    "open",
                );
                let key = must(store.create_active(KeySpec::<Aead>::new("k")), "create");
                let ct = must(key.encrypt(b"kek header", AAD), "enc");
                must(store.flush_audit(), "flush");
                let key = key.id();
                drop(store);
                let records = must(backend.raw_records(), "raw");
                let header = records
                    .iter()
                    .find(|(id, _)| id == "store/header")
                    .map(|(_, r)| r.value.clone())
                    .unwrap_or_else(|| panic!("the fixture store has no header"));
                KekHeaderFixture {
                    records,
                    header,
                    key,
                    ct,
                }
            }))
        }))
    })
}

/// The Argon2id costs a header's current `kek_params` ask for, read
/// without keylife: `kek_params` is a JSON array of bytes holding
/// `{"salt":[..],"argon2id":{"memory_kib":..,"iterations":..,"parallelism":..}}`.
fn asked_costs(header: &[u8]) -> Option<(u64, u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(header).ok()?;
    let bytes: Vec<u8> = serde_json::from_value(v.get("kek")?.get("kek_params")?.clone()).ok()?;
    let p: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let a = p.get("argon2id")?;
    Some((
        a.get("memory_kib")?.as_u64()?,
        a.get("iterations")?.as_u64()?,
        a.get("parallelism")?.as_u64()?,
    ))
}

/// Rewrites the current slot's `kek_params` (JSON bytes inside the header
/// JSON) with `edit`; `None` when the header has no such member.
fn with_params(header: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(header).ok()?;
    let slot = v.get_mut("kek")?.get_mut("kek_params")?;
    let mut bytes: Vec<u8> = serde_json::from_value(slot.clone()).ok()?;
    edit(&mut bytes);
    *slot = serde_json::to_value(bytes).ok()?;
    serde_json::to_vec(&v).ok()
}

/// Sets one member of the current slot's Argon2id costs (or the salt) to a
/// fuzzer value, keeping the rest of the parameters as they are.
fn set_cost(header: &[u8], field: u8, value: u32) -> Option<Vec<u8>> {
    with_params(header, |bytes| {
        let Ok(mut p) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return;
        };
        let n = serde_json::Value::from(value);
        match field % 5 {
            0 => p["argon2id"]["memory_kib"] = n,
            1 => p["argon2id"]["iterations"] = n,
            2 => p["argon2id"]["parallelism"] = n,
            3 => {
                if let Some(s) = p["salt"].as_array_mut() {
                    let i = usize::try_from(value >> 8).unwrap_or(0) % s.len().max(1);
                    if let Some(b) = s.get(i).and_then(serde_json::Value::as_u64) {
                        s[i] = serde_json::Value::from(b ^ u64::from(value & 0xff));
                    }
                }
            }
            _ => {
                // A member the parameters do not have (deny_unknown_fields).
                p["argon2id"][format!("x{}", value % 3)] = n;
            }
        }
        if let Ok(b) = serde_json::to_vec(&p) {
            *bytes = b;
        }
    })
}

/// Edits the KEK parameters of a passphrase store's header — the part of
/// the header read before anything is authenticated — and opens the store
/// with the right (or, when the first byte's top bit is set, a wrong)
/// passphrase and an opener limit of [`opener_max`].
///
/// Modes (first byte, low bits): 0 byte edits of the whole header; 1 byte
/// edits of the `kek_params` bytes; 2 up to four cost or salt settings
/// (groups: field, u32 LE); 3 `kek_params` replaced by the input; 4 the
/// `kek_kind` replaced by the input's text.
///
/// Must hold: no panic; a refusal is one of the specific kinds below; costs
/// above the opener's limit or keylife's bounds never run (the limit makes
/// every accepted derivation microseconds, so a timeout is a finding); the
/// store opens only with the right passphrase, under a header that means
/// the same as the fixture's, and then decrypts its sample.
pub fn kek_header(data: &[u8]) {
    use keylife::ErrorKind;
    let f = kek_header_fixture();
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let wrong = first & 0x80 != 0;
    let header = match first & 7 {
        0 => {
            let mut h = f.header.clone();
            edit_bytes(&mut h, rest);
            Some(h)
        }
        1 => with_params(&f.header, |b| edit_bytes(b, rest)),
        2 => {
            let mut h = Some(f.header.clone());
            for g in rest.chunks_exact(5).take(4) {
                let value = u32::from_le_bytes([g[1], g[2], g[3], g[4]]);
                h = h.and_then(|h| set_cost(&h, g[0], value));
            }
            h
        }
        3 => with_params(&f.header, |b| *b = rest.to_vec()),
        4 => serde_json::from_slice::<serde_json::Value>(&f.header)
            .ok()
            .and_then(|mut v| {
                v["kek"]["kek_kind"] = String::from_utf8_lossy(rest).into_owned().into();
                serde_json::to_vec(&v).ok()
            }),
        _ => None,
    };
    let Some(header) = header else {
        return;
    };
    let backend = MemoryBackend::new();
    for (id, r) in &f.records {
        let value = if id == "store/header" {
            header.clone()
        } else {
            r.value.clone()
        };
        must(
            backend.tamper(
                id,
                Record {
                    value,
                    revision: r.revision,
                },
            ),
            "tamper",
        );
    }
    let pass = if wrong {
        "not the passphrase"
    } else {
        PASSPHRASE
    };
    let opener = keylife::PassphraseKek::new(pass).max_costs(opener_max());
    // Byte-identical must open; equal in meaning (JSON formatting aside)
    // may; anything else must not.
    let unmodified = header == f.header;
    let same = same_header(Some(&f.header), Some(&header));
    match KeyStore::open(backend, &opener, Principal::admin("fuzz")) {
        Ok(store) => {
            assert!(!wrong, "a store opened with the wrong passphrase");
            assert!(
                same,
                "a store opened under KEK parameters that mean something else"
            );
            let max = opener_max();
            if let Some((m, i, p)) = asked_costs(&header) {
                assert!(
                    m <= u64::from(max.memory_kib)
                        && i <= u64::from(max.iterations)
                        && p <= u64::from(max.parallelism),
                    "a store opened although its header asks for more than the opener's limit"
                );
            }
            let pt = must(
                store.decrypt(&f.ct, AAD),
                "decrypt under an equivalent header",
            );
            assert_eq!(pt, b"kek header", "wrong plaintext");
            assert!(store.load::<Aead>(&f.key).is_ok(), "the key did not load");
        }
        Err(e) => {
            assert!(
                !unmodified || wrong,
                "the unmodified header with the right passphrase did not open: {e}"
            );
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Malformed
                        | ErrorKind::Integrity
                        | ErrorKind::WrongKek
                        | ErrorKind::UnsupportedVersion
                ),
                "a damaged header was refused with a vague error ({:?}): {e}",
                e.kind()
            );
        }
    }
}

/// The `kek_header` fixture's header bytes (for seeds and tests).
pub fn kek_header_fixture_header() -> Vec<u8> {
    kek_header_fixture().header.clone()
}
