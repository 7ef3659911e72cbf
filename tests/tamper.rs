//! Storage tamper detection and bad input on the durable backends: every
//! edited record or damaged container is refused, never loaded.
//!
//! Records are edited behind the store's back — in SQLite with a raw
//! connection, in the single file by rewriting it with a correct checksum —
//! and every edit must surface as [`ErrorKind::Integrity`] naming the
//! record. Damage to the container itself (garbage, truncation, a flipped
//! byte under the file checksum, a newer version) must be refused at open,
//! naming the file, and must change nothing on disk.
//!
//! Not covered here: restoring an *old* revision of one record (a rollback)
//! is not yet detectable by the core.

// A test fails by panicking; `expect` messages say which step failed.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keylife::backend::{Backend, Expect, FileBackend};
#[cfg(feature = "sqlite")]
use keylife::backend::{SqliteBackend, SqliteOptions};
use keylife::{
    ErrorKind, Kek, KeyFilter, KeyId, KeySpec, KeyStore, Principal, RawKek, purpose::Aead,
};

const AAD: &[u8] = b"tenant=7";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

impl Kind {
    fn file_name(self) -> &'static str {
        match self {
            Kind::File => "store.keys",
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => "store.db",
        }
    }

    fn backend(self, path: &Path) -> keylife::Result<Arc<dyn Backend>> {
        Ok(match self {
            Kind::File => Arc::new(FileBackend::open(path)?),
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => Arc::new(SqliteBackend::open(path)?),
        })
    }

    /// The error opening `path` must give.
    fn open_err(self, path: &Path, what: &str) -> keylife::Error {
        match self.backend(path) {
            Ok(_) => panic!("{what}: {} opened", path.display()),
            Err(e) => e,
        }
    }

    /// A record's stored value, read behind the backend's back.
    fn raw_get(self, path: &Path, id: &str) -> Vec<u8> {
        match self {
            Kind::File => {
                let (_, records) = file_format::parse(&std::fs::read(path).expect("read"));
                records
                    .into_iter()
                    .find(|(rid, _, _)| rid == id)
                    .map(|(_, _, v)| v)
                    .expect("record exists")
            }
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => rusqlite::Connection::open(path)
                .and_then(|c| {
                    c.query_row("SELECT value FROM records WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                })
                .expect("raw read"),
        }
    }

    /// Writes a record's value behind the backend's back (creating it with
    /// revision 1 if missing), keeping the container itself valid.
    fn raw_put(self, path: &Path, id: &str, value: &[u8]) {
        match self {
            Kind::File => {
                let (version, mut records) =
                    file_format::parse(&std::fs::read(path).expect("read"));
                match records.iter_mut().find(|(rid, _, _)| rid == id) {
                    Some(r) => r.2 = value.to_vec(),
                    None => {
                        records.push((id.to_owned(), 1, value.to_vec()));
                        records.sort();
                    }
                }
                std::fs::write(path, file_format::write(version, &records)).expect("write");
            }
            #[cfg(feature = "sqlite")]
            Kind::Sqlite => {
                let c = rusqlite::Connection::open(path).expect("raw open");
                c.execute(
                    "INSERT INTO records (id, value, revision) VALUES (?1, ?2, 1)
                     ON CONFLICT (id) DO UPDATE SET value = excluded.value",
                    rusqlite::params![id, value],
                )
                .expect("raw write");
            }
        }
    }
}

/// The single-file format as documented in `src/store/backend/file.rs`,
/// re-implemented here so tests can forge a file with a valid checksum.
mod file_format {
    use sha2::{Digest, Sha256};

    pub const MAGIC: &[u8] = b"KEYLIFE-FILE\0";
    pub const VERSION_AT: usize = 13;

    pub type Rec = (String, u64, Vec<u8>);

    pub fn parse(bytes: &[u8]) -> (u32, Vec<Rec>) {
        assert!(bytes.starts_with(MAGIC));
        let body = &bytes[..bytes.len() - 32];
        assert_eq!(Sha256::digest(body).as_slice(), &bytes[bytes.len() - 32..]);
        let mut at = MAGIC.len();
        let mut take = |n: usize| {
            let s = &body[at..at + n];
            at += n;
            s
        };
        let version = u32::from_le_bytes(take(4).try_into().expect("u32"));
        let count = u64::from_le_bytes(take(8).try_into().expect("u64"));
        let mut records = Vec::new();
        for _ in 0..count {
            let n = u32::from_le_bytes(take(4).try_into().expect("u32")) as usize;
            let id = String::from_utf8(take(n).to_vec()).expect("utf-8 id");
            let rev = u64::from_le_bytes(take(8).try_into().expect("u64"));
            let n = u32::from_le_bytes(take(4).try_into().expect("u32")) as usize;
            records.push((id, rev, take(n).to_vec()));
        }
        (version, records)
    }

    pub fn write(version: u32, records: &[Rec]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(records.len() as u64).to_le_bytes());
        for (id, rev, value) in records {
            out.extend_from_slice(&u32::try_from(id.len()).expect("id length").to_le_bytes());
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&rev.to_le_bytes());
            out.extend_from_slice(
                &u32::try_from(value.len())
                    .expect("value length")
                    .to_le_bytes(),
            );
            out.extend_from_slice(value);
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }
}

/// A store with two active AEAD keys and one ciphertext under each.
struct Seeded {
    kind: Kind,
    dir: tempfile::TempDir,
    path: PathBuf,
    kek: Vec<u8>,
    /// `(key id, ciphertext, plaintext)`.
    keys: Vec<(KeyId, Vec<u8>, Vec<u8>)>,
}

fn seed(kind: Kind) -> Seeded {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join(kind.file_name());
    let kek = Kek::generate().expect("kek").expose_secret().to_vec();
    let mut keys = Vec::new();
    {
        let store = KeyStore::open(
            kind.backend(&path).expect("backend"),
            &RawKek::new(Kek::from_bytes(&kek).expect("kek")),
            Principal::admin("tamper"),
        )
        .expect("open store");
        for i in 0..2 {
            let key = store
                .create_active(KeySpec::<Aead>::new(&format!("k{i}")))
                .expect("create");
            let pt = format!("card number {i}").into_bytes();
            let ct = key.encrypt(&pt, AAD).expect("encrypt");
            keys.push((key.id(), ct, pt));
        }
    }
    #[cfg(feature = "sqlite")]
    if kind == Kind::Sqlite {
        // Everything into the main file, so raw edits of it are complete.
        SqliteBackend::open(&path)
            .and_then(|b| b.checkpoint())
            .expect("checkpoint");
    }
    Seeded {
        kind,
        dir,
        path,
        kek,
        keys,
    }
}

impl Seeded {
    fn open(&self) -> keylife::Result<KeyStore> {
        KeyStore::open(
            self.kind.backend(&self.path)?,
            &RawKek::new(Kek::from_bytes(&self.kek)?),
            Principal::admin("tamper"),
        )
    }

    fn record_id(&self, key: usize) -> String {
        format!("key/{}", self.keys[key].0)
    }

    /// Opens the store, lists every key and decrypts every ciphertext.
    fn check_everything(&self) -> keylife::Result<()> {
        let store = self.open()?;
        assert_eq!(store.list(&KeyFilter::new())?.len(), self.keys.len());
        for (_, ct, pt) in &self.keys {
            assert_eq!(&store.decrypt(ct, AAD)?, pt);
        }
        Ok(())
    }
}

fn expect_integrity_naming<T: std::fmt::Debug>(r: keylife::Result<T>, name: &str, what: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.kind(), ErrorKind::Integrity, "{what}: {e}");
    assert!(
        e.to_string().contains(name),
        "{what}: the error does not name {name}: {e}"
    );
}

/// Byte-level damage checks, common to both backends.
mod cases {
    use super::*;

    pub fn flipped_byte_in_a_key_record_is_an_integrity_error_naming_it(kind: Kind) {
        let s = seed(kind);
        let rid = s.record_id(0);
        let original = kind.raw_get(&s.path, &rid);
        // Epoch, nonce, first ciphertext byte, middle, last tag byte.
        for pos in [1, 5, 17, original.len() / 2, original.len() - 1] {
            let mut bad = original.clone();
            bad[pos] ^= 0x01;
            kind.raw_put(&s.path, &rid, &bad);
            let store = s.open().expect("the header is intact, so the store opens");
            let what = format!("byte {pos} flipped");
            expect_integrity_naming(store.load::<Aead>(&s.keys[0].0), &rid, &what);
            expect_integrity_naming(store.decrypt(&s.keys[0].1, AAD), &rid, &what);
            expect_integrity_naming(store.list(&KeyFilter::new()), &rid, &what);
            // The other key's record is untouched and still works.
            assert_eq!(
                store.decrypt(&s.keys[1].1, AAD).expect("other key"),
                s.keys[1].2
            );
        }
        kind.raw_put(&s.path, &rid, &original);
        s.check_everything().expect("restored record opens again");
    }

    pub fn swapped_records_are_integrity_errors_naming_each(kind: Kind) {
        let s = seed(kind);
        let (r0, r1) = (s.record_id(0), s.record_id(1));
        let (v0, v1) = (kind.raw_get(&s.path, &r0), kind.raw_get(&s.path, &r1));
        kind.raw_put(&s.path, &r0, &v1);
        kind.raw_put(&s.path, &r1, &v0);
        let store = s.open().expect("open");
        expect_integrity_naming(store.load::<Aead>(&s.keys[0].0), &r0, "swapped");
        expect_integrity_naming(store.load::<Aead>(&s.keys[1].0), &r1, "swapped");
        expect_integrity_naming(store.decrypt(&s.keys[1].1, AAD), &r1, "swapped");
        drop(store);
        kind.raw_put(&s.path, &r0, &v0);
        kind.raw_put(&s.path, &r1, &v1);
        s.check_everything().expect("swapped back");
    }

    pub fn record_copied_to_a_new_id_is_an_integrity_error(kind: Kind) {
        let s = seed(kind);
        let copy_id: KeyId = "00112233445566778899aabbccddeeff".parse().expect("key id");
        let copy_rid = format!("key/{copy_id}");
        kind.raw_put(&s.path, &copy_rid, &kind.raw_get(&s.path, &s.record_id(0)));
        let store = s.open().expect("open");
        expect_integrity_naming(store.load::<Aead>(&copy_id), &copy_rid, "replayed");
        expect_integrity_naming(store.list(&KeyFilter::new()), &copy_rid, "replayed");
        assert_eq!(
            store.decrypt(&s.keys[0].1, AAD).expect("original"),
            s.keys[0].2
        );
    }

    pub fn wrong_kek_is_refused_and_changes_nothing(kind: Kind) {
        let s = seed(kind);
        let before = std::fs::read(&s.path).expect("read");
        for _ in 0..2 {
            let e = KeyStore::open(
                kind.backend(&s.path).expect("backend"),
                &RawKek::new(Kek::generate().expect("kek")),
                Principal::admin("intruder"),
            )
            .expect_err("a wrong KEK must not open the store");
            assert_eq!(e.kind(), ErrorKind::WrongKek, "{e}");
        }
        assert_eq!(std::fs::read(&s.path).expect("read"), before);
        s.check_everything().expect("the right KEK still opens it");
    }

    /// Garbage, empty and truncated files are refused (naming the file),
    /// never opened as a fresh store, and left as they were.
    pub fn damaged_container_is_refused_and_left_alone(kind: Kind) {
        let s = seed(kind);
        let good = std::fs::read(&s.path).expect("read");
        let garbage: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
            .collect();
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            ("empty".into(), Vec::new()),
            ("garbage".into(), garbage),
            ("text".into(), b"not a key store at all\n".to_vec()),
        ];
        let cuts = [1, 12, 50, 99, 100, 4096, good.len() / 2, good.len() - 1];
        for cut in cuts.into_iter().filter(|&c| c < good.len()) {
            cases.push((format!("truncated to {cut} bytes"), good[..cut].to_vec()));
        }
        let name = s.path.display().to_string();
        for (what, bytes) in cases {
            std::fs::write(&s.path, &bytes).expect("write");
            // Refused by the backend itself, at open, naming the file.
            let e = kind.open_err(&s.path, &what);
            assert_eq!(e.kind(), ErrorKind::Integrity, "{what}: {e}");
            assert!(e.to_string().contains(&name), "{what}: {e}");
            assert_eq!(
                s.check_everything().map_err(|e| e.kind()),
                Err(ErrorKind::Integrity),
                "{what}"
            );
            assert_eq!(
                std::fs::read(&s.path).expect("read"),
                bytes,
                "{what}: file was changed"
            );
        }
        std::fs::write(&s.path, &good).expect("restore");
        s.check_everything().expect("restored file opens");
    }

    /// A location where nothing can be created: a missing directory, a
    /// directory without write permission, or — where permission bits are
    /// not enforced (tests running as root) — a directory of sysfs, which
    /// refuses file creation even to root.
    pub fn unwritable_location_is_a_clear_storage_error(kind: Kind) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut paths = vec![
            dir.path()
                .join("missing")
                .join("sub")
                .join(kind.file_name()),
        ];
        let ro = dir.path().join("read-only");
        std::fs::create_dir(&ro).expect("mkdir");
        set_mode(&ro, 0o555);
        if permission_bits_enforced(&ro) {
            paths.push(ro.join(kind.file_name()));
        } else if Path::new("/sys/kernel").is_dir() {
            paths.push(PathBuf::from(format!(
                "/sys/keylife-test-{}-{}",
                std::process::id(),
                kind.file_name()
            )));
        }
        for path in &paths {
            let e = kind.open_err(path, "nothing can be created there");
            assert_eq!(e.kind(), ErrorKind::Storage, "{}: {e}", path.display());
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            assert!(!path.exists());
        }
        assert!(paths.len() >= 2, "no read-only location was tested");
        set_mode(&ro, 0o755);
    }

    /// An existing store made read-only: refused at open or at the first
    /// commit, with a storage error, and unchanged. Only meaningful where
    /// permission bits are enforced; as root, a read-only file is
    /// writable, so the test checks instead that the store is a directory
    /// entry that cannot be replaced: its path points at a directory.
    pub fn read_only_store_is_a_clear_storage_error(kind: Kind) {
        let s = seed(kind);
        if permission_bits_enforced(s.dir.path()) {
            set_mode(&s.path, 0o444);
            set_mode(s.dir.path(), 0o555);
            let before = std::fs::read(&s.path).expect("read");
            let res = kind.backend(&s.path).and_then(|b| {
                b.put("store/probe", b"x".to_vec(), Expect::Absent)
                    .map(|_| ())
            });
            set_mode(s.dir.path(), 0o755);
            set_mode(&s.path, 0o644);
            let e = res.expect_err("writing a read-only store must fail");
            assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
            assert!(e.to_string().contains(&s.path.display().to_string()), "{e}");
            assert_eq!(std::fs::read(&s.path).expect("read"), before);
        } else {
            let d = s.dir.path().join("a-directory");
            std::fs::create_dir(&d).expect("mkdir");
            let e = kind.open_err(&d, "a directory is not a store");
            assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
            assert!(e.to_string().contains(&d.display().to_string()), "{e}");
        }
        s.check_everything().expect("store intact");
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Whether this process is subject to permission bits (not root): probes
/// a directory that must be read-only.
fn permission_bits_enforced(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let was = std::fs::metadata(dir).expect("stat").permissions().mode();
    set_mode(dir, 0o555);
    let probe = dir.join(".probe");
    let enforced = std::fs::File::create(&probe).is_err();
    let _ = std::fs::remove_file(&probe);
    set_mode(dir, was);
    enforced
}

macro_rules! for_backend {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn flipped_byte_in_a_key_record_is_an_integrity_error_naming_it() {
                cases::flipped_byte_in_a_key_record_is_an_integrity_error_naming_it($kind);
            }
            #[test]
            fn swapped_records_are_integrity_errors_naming_each() {
                cases::swapped_records_are_integrity_errors_naming_each($kind);
            }
            #[test]
            fn record_copied_to_a_new_id_is_an_integrity_error() {
                cases::record_copied_to_a_new_id_is_an_integrity_error($kind);
            }
            #[test]
            fn wrong_kek_is_refused_and_changes_nothing() {
                cases::wrong_kek_is_refused_and_changes_nothing($kind);
            }
            #[test]
            fn damaged_container_is_refused_and_left_alone() {
                cases::damaged_container_is_refused_and_left_alone($kind);
            }
            #[test]
            fn unwritable_location_is_a_clear_storage_error() {
                cases::unwritable_location_is_a_clear_storage_error($kind);
            }
            #[test]
            fn read_only_store_is_a_clear_storage_error() {
                cases::read_only_store_is_a_clear_storage_error($kind);
            }
        }
    };
}

for_backend!(file, Kind::File);
#[cfg(feature = "sqlite")]
for_backend!(sqlite, Kind::Sqlite);

/// Damage only the single-file format can suffer.
mod file_only {
    use super::*;

    /// Every single-byte flip anywhere in the file is caught by the file
    /// checksum (or, in the version field, by the version check), and
    /// reported naming the file.
    #[test]
    fn every_byte_flip_in_the_file_is_refused_naming_the_file() {
        let s = seed(Kind::File);
        let good = std::fs::read(&s.path).expect("read");
        let name = s.path.display().to_string();
        for pos in 0..good.len() {
            let mut bad = good.clone();
            bad[pos] ^= 0x01;
            std::fs::write(&s.path, &bad).expect("write");
            let e = FileBackend::open(&s.path).expect_err(&format!("flip at {pos} accepted"));
            let version_field =
                (file_format::VERSION_AT..file_format::VERSION_AT + 4).contains(&pos);
            let want = if version_field && pos > file_format::VERSION_AT {
                ErrorKind::UnsupportedVersion
            } else {
                ErrorKind::Integrity
            };
            assert_eq!(e.kind(), want, "flip at {pos}: {e}");
            assert!(e.to_string().contains(&name), "flip at {pos}: {e}");
            assert_eq!(std::fs::read(&s.path).expect("read"), bad);
        }
        std::fs::write(&s.path, &good).expect("restore");
        s.check_everything().expect("restored");
    }

    #[test]
    fn newer_format_version_is_unsupported_and_left_alone() {
        let s = seed(Kind::File);
        let (_, records) = file_format::parse(&std::fs::read(&s.path).expect("read"));
        let newer = file_format::write(2, &records);
        std::fs::write(&s.path, &newer).expect("write");
        let e = FileBackend::open(&s.path).expect_err("newer format");
        assert_eq!(e.kind(), ErrorKind::UnsupportedVersion, "{e}");
        assert!(e.to_string().contains(&s.path.display().to_string()), "{e}");
        assert_eq!(std::fs::read(&s.path).expect("read"), newer);
    }

    /// A full disk while writing the replacement file: the commit fails
    /// with a storage error saying so, and the store is unchanged on disk
    /// and in memory. The full disk is `/dev/full` standing in for the
    /// backend's temporary file (`<path>.tmp`, see file.rs).
    #[test]
    fn full_disk_fails_the_commit_and_changes_nothing() {
        if !Path::new("/dev/full").exists() {
            panic!("/dev/full is needed to simulate a full disk");
        }
        let s = seed(Kind::File);
        let before = std::fs::read(&s.path).expect("read");
        let b = FileBackend::open(&s.path).expect("open");
        let counter = b.change_counter().expect("counter");
        let tmp = s.dir.path().join("store.keys.tmp");
        std::os::unix::fs::symlink("/dev/full", &tmp).expect("symlink");
        let e = b
            .put("probe/new", b"x".to_vec(), Expect::Absent)
            .expect_err("a full disk must fail the commit");
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
        assert!(e.to_string().contains("disk is full"), "{e}");
        assert!(e.to_string().contains(&s.path.display().to_string()), "{e}");
        assert_eq!(std::fs::read(&s.path).expect("read"), before);
        assert_eq!(b.get("probe/new").expect("get"), None);
        assert_eq!(b.change_counter().expect("counter"), counter);
        // With space again, the same commit succeeds.
        let _ = std::fs::remove_file(&tmp);
        assert_eq!(
            b.put("probe/new", b"x".to_vec(), Expect::Absent)
                .expect("put"),
            1
        );
        drop(b);
        s.check_everything().expect("store intact");
    }
}

/// Damage only a SQLite database can suffer.
#[cfg(feature = "sqlite")]
mod sqlite_only {
    use super::*;

    fn raw(path: &Path) -> rusqlite::Connection {
        rusqlite::Connection::open(path).expect("raw open")
    }

    #[test]
    fn newer_schema_version_is_unsupported_and_changes_nothing() {
        let s = seed(Kind::Sqlite);
        raw(&s.path)
            .pragma_update(None, "user_version", SqliteBackend::SCHEMA_VERSION + 1)
            .expect("set user_version");
        let before = std::fs::read(&s.path).expect("read");
        let e = SqliteBackend::open(&s.path).expect_err("newer schema");
        assert_eq!(e.kind(), ErrorKind::UnsupportedVersion, "{e}");
        assert!(e.to_string().contains(&s.path.display().to_string()), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("{}", SqliteBackend::SCHEMA_VERSION + 1)),
            "{e}"
        );
        assert_eq!(
            std::fs::read(&s.path).expect("read"),
            before,
            "a refused database was changed"
        );
        raw(&s.path)
            .pragma_update(None, "user_version", SqliteBackend::SCHEMA_VERSION)
            .expect("reset user_version");
        s.check_everything()
            .expect("opens at the supported version");
    }

    #[test]
    fn another_applications_database_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("other.db");
        raw(&path)
            .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);")
            .expect("create");
        let before = std::fs::read(&path).expect("read");
        let e = SqliteBackend::open(&path).expect_err("foreign database");
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
        assert!(e.to_string().contains("not a keylife store"), "{e}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }

    /// A corrupted b-tree page: refused at open (or the full integrity
    /// check fails), never read as an empty store.
    #[test]
    fn corrupted_page_is_an_integrity_error_naming_the_file() {
        let s = seed(Kind::Sqlite);
        let mut bytes = std::fs::read(&s.path).expect("read");
        let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
        let page = if page == 1 { 65536 } else { page };
        assert!(bytes.len() >= 2 * page, "at least two pages");
        // Page 2 onwards holds the record table; smash every page header.
        for start in (page..bytes.len()).step_by(page) {
            bytes[start..start + 12].fill(0xEE);
        }
        std::fs::write(&s.path, &bytes).expect("write");
        let e = s
            .check_everything()
            .expect_err("corruption must be noticed");
        assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
        assert!(e.to_string().contains(&s.path.display().to_string()), "{e}");
    }

    /// A full disk (a size quota, which SQLite reports exactly like a full
    /// disk): the commit fails with a storage error saying so, and nothing
    /// that was stored changes.
    #[test]
    fn full_disk_fails_the_commit_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("small.db");
        let b =
            SqliteBackend::open_with(&path, SqliteOptions::new().max_page_count(8)).expect("open");
        let big = vec![0xAB; 3000];
        let mut stored = 0;
        let e = loop {
            match b.put(&format!("key/{stored:04}"), big.clone(), Expect::Absent) {
                Ok(_) => stored += 1,
                Err(e) => break e,
            }
            assert!(stored < 100, "the quota was never reached");
        };
        assert!(stored > 0);
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
        assert!(e.to_string().contains("full"), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        // An atomic multi-record commit that does not fit leaves nothing.
        let e = b
            .commit(&[
                keylife::backend::WriteOp::Delete {
                    id: "key/0000".into(),
                    expect: Expect::Revision(1),
                },
                keylife::backend::WriteOp::Put {
                    id: "key/big".into(),
                    value: vec![1; 20_000],
                    expect: Expect::Absent,
                },
            ])
            .expect_err("does not fit");
        assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
        let all = b.scan("key/", None, 1000).expect("scan");
        assert_eq!(all.len(), stored);
        assert!(all.iter().all(|(_, r)| r.value == big && r.revision == 1));
        b.integrity_check().expect("database intact");
    }
}

/// Finding `header-format-0` (store_file campaign at 0523384): a store
/// header saying `"format":0` opened like format 1. Format 0 does not exist;
/// the header's format member is not itself authenticated, so `read_header`
/// must refuse every number it never wrote.
#[test]
fn regression_store_header_format_0_is_refused() {
    use keylife::backend::{Backend, MemoryBackend, Record};
    use keylife::{ErrorKind, Kek, KeyStore, Principal, RawKek};
    use std::sync::Arc;
    let kek = Kek::generate().unwrap_or_else(|e| panic!("{e}"));
    let bytes = kek.expose_secret().to_vec();
    let backend = Arc::new(MemoryBackend::new());
    drop(
        KeyStore::open(
            Arc::clone(&backend),
            &RawKek::new(kek),
            Principal::admin("t"),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let rec = backend
        .get("store/header")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no header"));
    let text = String::from_utf8(rec.value.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("\"format\":1"), "{text}");
    let bad = text.replacen("\"format\":1", "\"format\":0", 1);
    backend
        .tamper(
            "store/header",
            Record {
                value: bad.into_bytes(),
                revision: rec.revision + 1,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let kek = RawKek::new(Kek::from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}")));
    match KeyStore::open(Arc::clone(&backend), &kek, Principal::admin("t")) {
        Ok(_) => panic!("a store header of format 0 opened"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::Integrity | ErrorKind::UnsupportedVersion
            ),
            "{e}"
        ),
    }
}
