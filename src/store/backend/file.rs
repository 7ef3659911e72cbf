//! The single-file backend, for small keysets shipped with an application.
//!
//! The whole record map lives in memory; every commit rewrites the file
//! atomically: a temporary file in the same directory is written and
//! fsynced, renamed over the store, and the directory is fsynced. A crash
//! at any point leaves the old file or the new one, never a mix.
//!
//! File format, version 1 (integers little-endian):
//!
//! ```text
//! 0    13  magic b"KEYLIFE-FILE\0"
//! 13   4   format version (u32) = 1
//! 17   8   record count (u64)
//!          then for each record, in ascending id order:
//!            4  id length (u32)     n  id (UTF-8)
//!            8  revision (u64, ≥ 1)
//!            4  value length (u32)  m  value (sealed by the core)
//! ..   32  SHA-256 of every byte before it
//! ```
//!
//! The values are already sealed (encrypted and authenticated per record)
//! by the core; the checksum catches truncation and corruption of the file
//! as a whole, so a damaged file is refused with [`ErrorKind::Integrity`]
//! naming it — it is never silently replaced by an empty store.
//!
//! A sidecar lock file, `<path>.lock`, is locked exclusively (`flock`-style,
//! [`std::fs::File::try_lock`]) for the lifetime of the [`FileBackend`]: a
//! second writer, in this process or another, is refused at open rather
//! than made to wait. The lock file itself is never deleted (deleting it
//! would let two writers lock two different files).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{Backend, Record, WriteOp, map};
use crate::base::{Error, ErrorKind, Result};

const MAGIC: &[u8; 13] = b"KEYLIFE-FILE\0";
const FORMAT_VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;
/// Magic, version and record count.
const HEAD_LEN: usize = MAGIC.len() + 4 + 8;

/// Records in one file, rewritten atomically on every commit, with an
/// exclusive lock held while the backend is open.
///
/// Suited to keysets of up to a few thousand keys: reads are served from
/// memory, and each commit writes the whole file and fsyncs it twice.
///
/// Open one with [`FileBackend::open`].
pub struct FileBackend {
    path: PathBuf,
    state: Mutex<State>,
    /// Holds the exclusive lock on `<path>.lock`; dropping it unlocks.
    _lock: File,
}

struct State {
    records: BTreeMap<String, Record>,
    commits: u64,
    /// What the file looked like after this backend last read or wrote it.
    seen: Option<Stamp>,
}

/// Enough of a file's metadata to notice that someone else replaced it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    ino: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            ino: std::os::unix::fs::MetadataExt::ino(&m),
        })
    }
}

impl core::fmt::Debug for FileBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileBackend {
    /// Opens the store file at `path`, creating an empty one if it does not
    /// exist, and locks it for the lifetime of the returned value.
    ///
    /// ```
    /// use keylife::backend::{Backend, Expect, FileBackend};
    /// let dir = tempfile::tempdir().expect("temporary directory");
    /// let path = dir.path().join("app.keys");
    ///
    /// let store = FileBackend::open(&path)?;            // creates the file
    /// store.put("key/1", b"sealed".to_vec(), Expect::Absent)?;
    /// drop(store);                                       // releases the lock
    ///
    /// let store = FileBackend::open(&path)?;
    /// assert_eq!(store.get("key/1")?.map(|r| r.value), Some(b"sealed".to_vec()));
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::Storage`] "store is locked by another process" if
    ///   another `FileBackend` (here or in another process) has it open;
    /// - [`ErrorKind::Integrity`] if the file is empty, truncated, corrupted
    ///   or not a keylife file (the message names the file);
    /// - [`ErrorKind::UnsupportedVersion`] for a file written by a newer
    ///   format version;
    /// - [`ErrorKind::Storage`] for I/O failures (unwritable directory, …).
    pub fn open(path: impl AsRef<Path>) -> Result<FileBackend> {
        let path = path.as_ref().to_path_buf();
        let lock = lock_sidecar(&path)?;
        let (records, seen) = match std::fs::read(&path) {
            Ok(bytes) => {
                let records = decode(&path, &bytes)?;
                (records, Stamp::of(&path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let records = BTreeMap::new();
                write_atomic(&path, &encode(&records)?)?;
                (records, Stamp::of(&path))
            }
            Err(e) => return Err(io_err(&path, "cannot read", &e)),
        };
        Ok(FileBackend {
            path,
            state: Mutex::new(State {
                records,
                commits: 0,
                seen,
            }),
            _lock: lock,
        })
    }

    /// The store file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            Error::new(
                ErrorKind::Storage,
                format!("file backend {} lock poisoned", self.path.display()),
            )
        })
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn io_err(path: &Path, what: &str, e: &std::io::Error) -> Error {
    let p = path.display();
    let msg = match e.kind() {
        std::io::ErrorKind::StorageFull => format!("{what} {p}: the disk is full"),
        std::io::ErrorKind::ReadOnlyFilesystem => {
            format!("{what} {p}: the file system is read-only")
        }
        std::io::ErrorKind::PermissionDenied => format!("{what} {p}: permission denied ({e})"),
        _ => format!("{what} {p}: {e}"),
    };
    Error::new(ErrorKind::Storage, msg)
}

// `File::try_lock` is stable since Rust 1.89 (the crate's rust-version).
fn lock_sidecar(path: &Path) -> Result<File> {
    let lock_path = with_suffix(path, ".lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| {
            io_err(
                path,
                &format!("cannot create lock file {} for", lock_path.display()),
                &e,
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::new(
            ErrorKind::Storage,
            format!(
                "store {} is locked by another process (or another open FileBackend)",
                path.display()
            ),
        )),
        Err(TryLockError::Error(e)) => Err(io_err(path, "cannot lock", &e)),
    }
}

/// Makes a rename or link in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for syncing here; the rename is
        // durable once the file system commits its metadata.
        let _ = dir;
        Ok(())
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Temp file, fsync, rename over `path`, fsync the directory. Only the
/// holder of the sidecar lock writes, so the temporary name can be fixed.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, "cannot write", &e));
    }
    sync_dir(&parent_dir(path)).map_err(|e| {
        io_err(
            path,
            "replaced, but could not sync the directory of (the change may not survive a power loss)",
            &e,
        )
    })
}

fn encode(records: &BTreeMap<String, Record>) -> Result<Vec<u8>> {
    let size = HEAD_LEN
        + CHECKSUM_LEN
        + records
            .iter()
            .map(|(id, r)| 16 + id.len() + r.value.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let count = u64::try_from(records.len()).map_err(|_| Error::invalid("too many records"))?;
    out.extend_from_slice(&count.to_le_bytes());
    let len32 = |what: &str, id: &str, n: usize| {
        u32::try_from(n).map_err(|_| Error::invalid(format!("{what} of record {id} is too long")))
    };
    for (id, r) in records {
        out.extend_from_slice(&len32("id", id, id.len())?.to_le_bytes());
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&r.revision.to_le_bytes());
        out.extend_from_slice(&len32("value", id, r.value.len())?.to_le_bytes());
        out.extend_from_slice(&r.value);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

fn decode(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Record>> {
    let p = path.display();
    let damaged = |why: &str| {
        Error::new(
            ErrorKind::Integrity,
            format!(
                "store file {p} is damaged ({why}); refusing to open it — restore it from a backup"
            ),
        )
    };
    if bytes.len() < MAGIC.len() || !bytes.starts_with(MAGIC) {
        return Err(if MAGIC.starts_with(bytes) {
            damaged(&format!("truncated to {} bytes", bytes.len()))
        } else {
            Error::new(
                ErrorKind::Integrity,
                format!("{p} is not a keylife store file (bad magic); refusing to open it"),
            )
        });
    }
    let version = bytes
        .get(MAGIC.len()..MAGIC.len() + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| damaged("truncated header"))?;
    // The version is checked before the checksum: a newer format may
    // protect itself differently.
    if version > FORMAT_VERSION {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "store file {p} has format version {version}, newer than this build supports ({FORMAT_VERSION})"
            ),
        ));
    }
    if version == 0 {
        return Err(damaged("format version 0"));
    }
    if bytes.len() < HEAD_LEN + CHECKSUM_LEN {
        return Err(damaged(&format!("truncated to {} bytes", bytes.len())));
    }
    let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != sum {
        return Err(damaged(
            "checksum mismatch: the file is truncated or corrupted",
        ));
    }
    let mut cur = Cursor {
        rest: &body[HEAD_LEN - 8..],
    };
    let malformed = || damaged("malformed record table under a valid checksum");
    let count = cur.u64().ok_or_else(malformed)?;
    let mut records = BTreeMap::new();
    let mut last: Option<String> = None;
    for _ in 0..count {
        let id_len = cur.u32().ok_or_else(malformed)?;
        let id = cur.take(id_len).ok_or_else(malformed)?;
        let id = String::from_utf8(id.to_vec()).map_err(|_| malformed())?;
        let revision = cur.u64().ok_or_else(malformed)?;
        let value_len = cur.u32().ok_or_else(malformed)?;
        let value = cur.take(value_len).ok_or_else(malformed)?.to_vec();
        if revision == 0 || last.as_ref().is_some_and(|l| *l >= id) {
            return Err(malformed());
        }
        last = Some(id.clone());
        records.insert(id, Record { value, revision });
    }
    if !cur.rest.is_empty() {
        return Err(malformed());
    }
    Ok(records)
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u32) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
}

impl Backend for FileBackend {
    fn get(&self, id: &str) -> Result<Option<Record>> {
        Ok(self.lock()?.records.get(id).cloned())
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>> {
        let mut g = self.lock()?;
        // The lock makes this a no-op in practice; it guards against a
        // writer that ignored the lock and replaced the file.
        let now = Stamp::of(&self.path);
        if now != g.seen {
            let bytes =
                std::fs::read(&self.path).map_err(|e| io_err(&self.path, "cannot read", &e))?;
            g.records = decode(&self.path, &bytes)?;
            g.seen = now;
            g.commits += 1;
        }
        map::check_all(&g.records, ops)?;
        let mut next = g.records.clone();
        let revs = map::apply(&mut next, ops);
        let bytes = encode(&next)?;
        let written = write_atomic(&self.path, &bytes);
        // Once the rename happened the file holds `next`, even if syncing
        // the directory failed: memory follows the file.
        let now = Stamp::of(&self.path);
        if written.is_ok() || now != g.seen {
            g.records = next;
            g.seen = now;
            g.commits += 1;
        }
        written.map(|()| revs)
    }

    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>> {
        Ok(map::scan(&self.lock()?.records, prefix, start_after, limit))
    }

    fn change_counter(&self) -> Result<u64> {
        Ok(self.lock()?.commits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_every_truncation_is_refused() -> Result<()> {
        let mut m = BTreeMap::new();
        m.insert(
            "key/a".to_owned(),
            Record {
                value: vec![1, 2, 3],
                revision: 4,
            },
        );
        m.insert(
            "store/header".to_owned(),
            Record {
                value: vec![],
                revision: 1,
            },
        );
        let bytes = encode(&m)?;
        let path = Path::new("/x/store.keys");
        assert_eq!(decode(path, &bytes)?, m);
        for n in 0..bytes.len() {
            let res = decode(path, &bytes[..n]);
            assert!(res.is_err(), "a file cut at {n} bytes was accepted");
            let Err(err) = res else { continue };
            assert_eq!(err.kind(), ErrorKind::Integrity, "cut at {n}: {err}");
            assert!(err.to_string().contains("/x/store.keys"), "{err}");
        }
        Ok(())
    }
}
