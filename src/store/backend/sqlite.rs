//! The SQLite backend: the embedded default (bundled SQLite, no system
//! library needed).
//!
//! One table of opaque sealed records:
//!
//! ```sql
//! CREATE TABLE records (
//!     id       TEXT    PRIMARY KEY NOT NULL,
//!     value    BLOB    NOT NULL,
//!     revision INTEGER NOT NULL
//! ) WITHOUT ROWID;
//! ```
//!
//! Settings, applied on every connection:
//! - `journal_mode=WAL` — readers never block the writer, several processes
//!   share the file;
//! - `synchronous=FULL` — the WAL is fsynced at every commit, so an
//!   acknowledged commit survives a process kill and a power loss;
//! - `busy_timeout` — a writer waits for another process's transaction
//!   instead of failing at once ([`SqliteOptions::busy_timeout`]);
//! - `secure_delete=ON` — deleted and overwritten record bytes are zeroed in
//!   the database pages (old page images can stay in the `-wal` file until
//!   the next checkpoint: see [`SqliteBackend::checkpoint`]).
//!
//! The schema is versioned with `PRAGMA user_version` and marked as
//! keylife's with `PRAGMA application_id`. A new file is built under a
//! temporary name and hard-linked into place, so a file at the store's path
//! is always a complete keylife database: an empty, truncated or foreign
//! file is refused, never silently replaced by a fresh store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::file::sync_dir;
use super::{Backend, Expect, Record, WriteOp, prefix_upper_bound, to_revision};
use crate::base::{Error, ErrorKind, Result};

/// `PRAGMA application_id` of a keylife database: "KLIF".
const APPLICATION_ID: i64 = 0x4B4C_4946;

/// Schema migrations; entry `n` takes the schema from version `n` to `n + 1`.
/// Append only: a released entry is never edited.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the record table.
    "CREATE TABLE records (
         id       TEXT    PRIMARY KEY NOT NULL,
         value    BLOB    NOT NULL,
         revision INTEGER NOT NULL
     ) WITHOUT ROWID;",
];

// Every migration is listed, and the version a database gets is the
// number of migrations applied to it.
const _: () = assert!(MIGRATIONS.len() == SqliteBackend::SCHEMA_VERSION as usize);

/// The 16-byte magic at the start of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Size of the SQLite database header.
const SQLITE_HEADER_LEN: usize = 100;

/// Options for [`SqliteBackend::open_with`].
///
/// ```
/// use std::time::Duration;
/// use keylife::backend::SqliteOptions;
/// let options = SqliteOptions::new().busy_timeout(Duration::from_secs(10));
/// assert_eq!(options.busy_timeout_value(), Duration::from_secs(10));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    busy_timeout: Duration,
    create: bool,
    max_page_count: Option<u32>,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            create: true,
            max_page_count: None,
        }
    }
}

impl SqliteOptions {
    /// The defaults: 5 s busy timeout, create the file if missing, no size
    /// limit.
    #[must_use]
    pub fn new() -> SqliteOptions {
        SqliteOptions::default()
    }

    /// How long a commit waits for another connection's write transaction
    /// before failing with [`ErrorKind::Storage`] ("database is locked").
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> SqliteOptions {
        self.busy_timeout = timeout;
        self
    }

    /// The configured busy timeout.
    #[must_use]
    pub fn busy_timeout_value(&self) -> Duration {
        self.busy_timeout
    }

    /// Whether a missing file is created (default) or reported as
    /// [`ErrorKind::NotFound`].
    #[must_use]
    pub fn create_if_missing(mut self, create: bool) -> SqliteOptions {
        self.create = create;
        self
    }

    /// A quota: the database may not grow beyond this many pages (SQLite's
    /// `max_page_count`, 4 KiB pages). A commit that would exceed it fails
    /// like a full disk and changes nothing.
    #[must_use]
    pub fn max_page_count(mut self, pages: u32) -> SqliteOptions {
        self.max_page_count = Some(pages);
        self
    }
}

/// Records in a SQLite database file, shared safely by several threads and
/// processes.
///
/// Every commit is one `BEGIN IMMEDIATE` transaction: all preconditions are
/// checked, all writes applied, and the WAL fsynced before `commit` returns.
/// Open one `SqliteBackend` per process (or several: each has its own
/// connections); concurrent writers are serialised by SQLite's lock and
/// compare-and-swap revisions make lost updates impossible.
///
/// Each backend holds two connections: one for commits and one for reads
/// and [`Backend::change_counter`], so readers (and the change polling that
/// cross-process revocation relies on) never queue behind a commit waiting
/// for another process's lock.
///
/// Open one with [`SqliteBackend::open`] or [`SqliteBackend::open_with`].
pub struct SqliteBackend {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    path: PathBuf,
    /// Commits made through `writer`. `PRAGMA data_version` on `reader`
    /// already changes for them (another connection); counting them too
    /// keeps the counter correct even if reads and writes ever share one.
    own_commits: AtomicU64,
}

impl core::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// The schema version this build writes and reads. Databases with a
    /// newer version are refused with [`ErrorKind::UnsupportedVersion`].
    pub const SCHEMA_VERSION: u32 = 1;

    /// Opens the database at `path`, creating it if missing, with default
    /// [`SqliteOptions`].
    ///
    /// ```
    /// use keylife::backend::{Backend, Expect, SqliteBackend};
    /// let dir = tempfile::tempdir().expect("temporary directory");
    /// let path = dir.path().join("keys.db");
    ///
    /// let db = SqliteBackend::open(&path)?;
    /// assert_eq!(db.put("key/1", b"sealed".to_vec(), Expect::Absent)?, 1);
    /// drop(db);
    ///
    /// let db = SqliteBackend::open(&path)?;           // durable across reopen
    /// assert_eq!(db.get("key/1")?.map(|r| r.revision), Some(1));
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`SqliteBackend::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteBackend> {
        SqliteBackend::open_with(path, SqliteOptions::default())
    }

    /// Opens the database at `path` with `options`.
    ///
    /// ```
    /// use keylife::backend::{SqliteBackend, SqliteOptions};
    /// use keylife::ErrorKind;
    /// let dir = tempfile::tempdir().expect("temporary directory");
    /// let missing = dir.path().join("absent.db");
    /// let err = SqliteBackend::open_with(&missing, SqliteOptions::new().create_if_missing(false))
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::UnsupportedVersion`] if the schema is newer than
    ///   [`SqliteBackend::SCHEMA_VERSION`] (nothing is changed);
    /// - [`ErrorKind::Integrity`] if the file is not a SQLite database, is
    ///   empty, truncated or corrupted (the message names the file);
    /// - [`ErrorKind::NotFound`] if the file is missing and
    ///   [`SqliteOptions::create_if_missing`] is off;
    /// - [`ErrorKind::Storage`] for another application's database, an
    ///   unwritable file or directory, or any other SQLite failure.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteBackend> {
        let path = path.as_ref().to_path_buf();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => check_header(&path)?,
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!("{} is not a regular file", path.display()),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !options.create {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("no database at {}", path.display()),
                    ));
                }
                create_new(&path, &options)?;
            }
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!("cannot access {}: {e}", path.display()),
                ));
            }
        }
        let connect = || {
            Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| sql_err(&path, "cannot open", &e))
        };
        let mut writer = connect()?;
        prepare(&mut writer, &path, &options)?;
        let reader = connect()?;
        reader
            .busy_timeout(options.busy_timeout)
            .and_then(|()| reader.pragma_update(None, "query_only", "ON"))
            .map_err(|e| sql_err(&path, "cannot configure", &e))?;
        Ok(SqliteBackend {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            path,
            own_commits: AtomicU64::new(0),
        })
    }

    /// The database file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies every committed page from the `-wal` file into the database
    /// and truncates the WAL to zero bytes, so no old page image (for
    /// example a destroyed key's sealed record) remains in it.
    ///
    /// # Errors
    /// [`ErrorKind::Storage`] if the checkpoint cannot run to completion
    /// (another connection is reading or writing).
    pub fn checkpoint(&self) -> Result<()> {
        let conn = lock(&self.writer, &self.path)?;
        let (busy, _log, _done): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.err("checkpoint of", &e))?;
        if busy != 0 {
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "checkpoint of {} could not complete: database is busy",
                    self.path.display()
                ),
            ));
        }
        Ok(())
    }

    /// Runs SQLite's full `PRAGMA integrity_check` (reads every page; takes
    /// time proportional to the database size).
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] listing the first problems found;
    /// [`ErrorKind::Storage`] if the check cannot run.
    pub fn integrity_check(&self) -> Result<()> {
        let conn = lock(&self.reader, &self.path)?;
        let mut stmt = conn
            .prepare("PRAGMA integrity_check(10)")
            .map_err(|e| self.err("integrity check of", &e))?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.err("integrity check of", &e))?;
        if problems.len() == 1 && problems[0] == "ok" {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "database {} is damaged: {}",
                    self.path.display(),
                    problems.join("; ")
                ),
            ))
        }
    }

    fn err(&self, what: &str, e: &rusqlite::Error) -> Error {
        sql_err(&self.path, what, e)
    }
}

fn lock<'a>(conn: &'a Mutex<Connection>, path: &Path) -> Result<MutexGuard<'a, Connection>> {
    conn.lock().map_err(|_| {
        Error::new(
            ErrorKind::Storage,
            format!("sqlite backend {} lock poisoned", path.display()),
        )
    })
}

/// Maps a SQLite failure to a keylife error whose message names the file.
fn sql_err(path: &Path, what: &str, e: &rusqlite::Error) -> Error {
    let p = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => Error::new(
            ErrorKind::Storage,
            format!("{what} {p}: the database or disk is full"),
        ),
        Some(ErrorCode::ReadOnly) => Error::new(
            ErrorKind::Storage,
            format!("{what} {p}: the database is read-only ({e})"),
        ),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::new(
            ErrorKind::Storage,
            format!("{what} {p}: database is locked (busy timeout expired)"),
        ),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::new(
            ErrorKind::Integrity,
            format!("{what} {p}: the file is damaged or not a SQLite database ({e})"),
        ),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => Error::new(
            ErrorKind::Storage,
            format!("{what} {p}: cannot open or create the file ({e})"),
        ),
        _ => Error::new(ErrorKind::Storage, format!("{what} {p}: {e}")),
    }
}

/// Refuses anything that is not a whole SQLite database — an empty file, a
/// bad header, a truncated file — before SQLite would treat it as a new or
/// shorter database.
///
/// The size checks only apply when the `-wal` file is missing or empty
/// (before and after reading the database): with a non-empty WAL, SQLite
/// may legitimately be between a checkpoint's page writes and its final
/// size, and recovery from the WAL repairs that. A failing size check is
/// retried once, in case a checkpoint ran between the reads.
fn check_header(path: &Path) -> Result<()> {
    match check_file(path)? {
        None => Ok(()),
        Some(_) => match check_file(path)? {
            None => Ok(()),
            Some(why) => Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "{} is truncated ({why}); refusing to open it or start a fresh store over it",
                    path.display()
                ),
            )),
        },
    }
}

/// `Ok(Some(reason))` when the file is shorter than its header says.
fn check_file(path: &Path) -> Result<Option<String>> {
    use std::io::Read;
    let wal = {
        let mut p = path.as_os_str().to_owned();
        p.push("-wal");
        PathBuf::from(p)
    };
    let wal_empty = || match std::fs::metadata(&wal) {
        Ok(m) => m.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    let read_err = |e: std::io::Error| {
        Error::new(
            ErrorKind::Storage,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let empty_before = wal_empty();
    let mut head = Vec::with_capacity(SQLITE_HEADER_LEN);
    let file = std::fs::File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    file.take(SQLITE_HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let refuse = |why: String| {
        Err(Error::new(
            ErrorKind::Integrity,
            format!(
                "{} is not a SQLite database ({why}); refusing to open it or start a fresh store over it",
                path.display()
            ),
        ))
    };
    if head.len() < SQLITE_HEADER_LEN {
        return refuse(format!("only {} bytes", head.len()));
    }
    if !head.starts_with(SQLITE_MAGIC) {
        return refuse("bad header".into());
    }
    let be32 = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536,
        n if n >= 512 && n.is_power_of_two() => u64::from(n),
        n => return refuse(format!("invalid page size {n}")),
    };
    if !(empty_before && wal_empty()) {
        return Ok(None);
    }
    if len % page_size != 0 {
        return Ok(Some(format!(
            "{len} bytes is not a whole number of {page_size}-byte pages"
        )));
    }
    // The in-header page count is valid when "version-valid-for" (offset
    // 92) equals the change counter (offset 24).
    let pages = u64::from(be32(28));
    if be32(92) == be32(24) && pages * page_size > len {
        return Ok(Some(format!(
            "{len} bytes, but the header says {pages} pages of {page_size} bytes"
        )));
    }
    Ok(None)
}

/// Builds a complete, empty keylife database under a temporary name in the
/// same directory and hard-links it into place. A crash leaves either no
/// file or a complete one at `path` (never an empty one), and a concurrent
/// creator's database is never replaced.
fn create_new(path: &Path, options: &SqliteOptions) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map_or_else(|| "keylife.db".into(), |n| n.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".{name}.init-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let res = (|| {
        let mut conn = Connection::open_with_flags(
            &tmp,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_err(path, "cannot create", &e))?;
        prepare(&mut conn, path, options)?;
        conn.close()
            .map_err(|(_, e)| sql_err(path, "cannot create", &e))?;
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Storage,
                format!("cannot create {}: {e}", path.display()),
            )
        };
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => sync_dir(&dir).map_err(io),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io(e)),
        }
    })();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = tmp.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    res
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks the schema version, applies the connection settings and runs any
/// pending migration. Nothing is written to a database that is refused.
fn prepare(conn: &mut Connection, path: &Path, options: &SqliteOptions) -> Result<()> {
    let e = |what: &'static str| move |err: rusqlite::Error| sql_err(path, what, &err);
    conn.busy_timeout(options.busy_timeout)
        .map_err(e("cannot configure"))?;
    // Read-only inspection first: a refused database is left untouched.
    let version = check_version(conn, path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(e("cannot enable WAL on"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            ErrorKind::Storage,
            format!(
                "cannot enable WAL on {} (journal mode is {mode})",
                path.display()
            ),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(e("cannot configure"))?;
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(e("cannot configure"))?;
    if let Some(pages) = options.max_page_count {
        let _: i64 = conn
            .pragma_update_and_check(None, "max_page_count", pages, |r| r.get(0))
            .map_err(e("cannot configure"))?;
    }
    if version < SqliteBackend::SCHEMA_VERSION {
        migrate(conn, path)?;
    }
    // Touch the record table's root page: a truncated or corrupted file
    // fails here, at open, rather than at the first read.
    conn.query_row(
        "SELECT count(*) FROM (SELECT 1 FROM records LIMIT 1)",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_err(e("cannot read"))?;
    Ok(())
}

/// The schema version, after checking that the database is keylife's (or
/// empty) and not newer than this build.
fn check_version(conn: &Connection, path: &Path) -> Result<u32> {
    let e = |err: rusqlite::Error| sql_err(path, "cannot read", &err);
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(e)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(e)?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(e)?;
    let foreign = || {
        Error::new(
            ErrorKind::Storage,
            format!(
                "{} is a SQLite database of another application (application_id {app:#x}, user_version {version}), not a keylife store",
                path.display()
            ),
        )
    };
    if app == 0 && (version != 0 || objects != 0) {
        return Err(foreign());
    }
    if app != 0 && app != APPLICATION_ID {
        return Err(foreign());
    }
    let version = u32::try_from(version).map_err(|_| foreign())?;
    if version > SqliteBackend::SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "{} has schema version {version}, newer than this build supports ({})",
                path.display(),
                SqliteBackend::SCHEMA_VERSION
            ),
        ));
    }
    Ok(version)
}

/// Runs the pending migrations in one write transaction (re-checking the
/// version under the lock, as another process may have migrated first).
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let e = |err: rusqlite::Error| sql_err(path, "cannot migrate", &err);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(e)?;
    let from = check_version(&tx, path)?;
    let from_idx = usize::try_from(from).map_err(|_| Error::internal("schema version"))?;
    for step in MIGRATIONS.iter().skip(from_idx) {
        tx.execute_batch(step).map_err(e)?;
    }
    if from < SqliteBackend::SCHEMA_VERSION {
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(e)?;
        tx.pragma_update(None, "user_version", SqliteBackend::SCHEMA_VERSION)
            .map_err(e)?;
    }
    tx.commit().map_err(e)
}

/// The statement of one page of a prefix scan, and its lower bound
/// (parameters: lower bound, then the upper bound when there is one, then
/// the limit). Range bounds on the primary key (not LIKE), so SQLite seeks
/// the index instead of scanning the table — and one lower bound only:
/// given both `id >= prefix` and `id > after`, SQLite seeks on one and may
/// pick the prefix, re-reading every earlier page on each call (a
/// paginated scan of n records then reads O(n²) rows).
fn scan_sql<'a>(prefix: &'a str, start_after: Option<&'a str>, bounded: bool) -> (String, &'a str) {
    let (lower, op) = match start_after {
        Some(after) if after >= prefix => (after, ">"),
        _ => (prefix, ">="),
    };
    let sql = if bounded {
        format!(
            "SELECT id, value, revision FROM records WHERE id {op} ?1 AND id < ?2 ORDER BY id LIMIT ?3"
        )
    } else {
        format!("SELECT id, value, revision FROM records WHERE id {op} ?1 ORDER BY id LIMIT ?2")
    };
    (sql, lower)
}

impl Backend for SqliteBackend {
    fn get(&self, id: &str) -> Result<Option<Record>> {
        let conn = lock(&self.reader, &self.path)?;
        let row: Option<(Vec<u8>, i64)> = conn
            .prepare_cached("SELECT value, revision FROM records WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err("cannot read", &e))?;
        row.map(|(value, rev)| {
            Ok(Record {
                value,
                revision: to_revision(id, rev)?,
            })
        })
        .transpose()
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>> {
        let mut conn = lock(&self.writer, &self.path)?;
        let e = |err: rusqlite::Error| self.err("cannot commit to", &err);
        // Dropping `tx` without `commit` rolls everything back.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        // Every precondition is checked against the state before the
        // commit, as the memory backend does.
        for op in ops {
            let (WriteOp::Put { id, expect, .. } | WriteOp::Delete { id, expect }) = op;
            if matches!(expect, Expect::Any) {
                continue;
            }
            let cur: Option<i64> = tx
                .prepare_cached("SELECT revision FROM records WHERE id = ?1")
                .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
                .map_err(e)?;
            let cur = cur.map(|c| to_revision(id, c)).transpose()?;
            expect.check(id, cur)?;
        }
        let mut revs = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Put { id, value, .. } => {
                    let rev: i64 = tx
                        .prepare_cached(
                            "INSERT INTO records (id, value, revision) VALUES (?1, ?2, 1)
                             ON CONFLICT (id) DO UPDATE
                                 SET value = excluded.value, revision = records.revision + 1
                             RETURNING revision",
                        )
                        .and_then(|mut s| s.query_row(rusqlite::params![id, value], |r| r.get(0)))
                        .map_err(e)?;
                    revs.push(to_revision(id, rev)?);
                }
                WriteOp::Delete { id, .. } => {
                    tx.prepare_cached("DELETE FROM records WHERE id = ?1")
                        .and_then(|mut s| s.execute([id]))
                        .map_err(e)?;
                    revs.push(0);
                }
            }
        }
        tx.commit().map_err(e)?;
        self.own_commits.fetch_add(1, Ordering::AcqRel);
        Ok(revs)
    }

    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = prefix_upper_bound(prefix);
        let (sql, lower) = scan_sql(prefix, start_after, upper.is_some());
        let mut args: Vec<&dyn rusqlite::ToSql> = vec![&lower];
        if let Some(u) = &upper {
            args.push(u);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        args.push(&limit);
        let conn = lock(&self.reader, &self.path)?;
        let mut stmt = conn
            .prepare_cached(&sql)
            .map_err(|e| self.err("cannot read", &e))?;
        let rows = stmt
            .query_map(args.as_slice(), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| self.err("cannot read", &e))?;
        rows.into_iter()
            .map(|(id, value, rev)| {
                let revision = to_revision(&id, rev)?;
                Ok((id, Record { value, revision }))
            })
            .collect()
    }

    fn change_counter(&self) -> Result<u64> {
        let conn = lock(&self.reader, &self.path)?;
        // `data_version` changes when another connection — this backend's
        // writer, or any connection of any process — commits.
        let other: i64 = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.err("cannot read", &e))?;
        let own = self.own_commits.load(Ordering::Acquire);
        Ok(other.cast_unsigned().wrapping_shl(32).wrapping_add(own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("key/").as_deref(), Some("key0"));
        assert_eq!(prefix_upper_bound("").as_deref(), None);
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(
            prefix_upper_bound("a\u{10FFFF}").as_deref(),
            Some("b"),
            "a maximal last char is dropped and the previous one bumped"
        );
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
    }

    #[test]
    fn a_late_page_of_a_scan_costs_what_an_early_one_does() -> Result<()> {
        // SQLite's own count of virtual-machine steps, not a timing: the
        // page after 19,000 of 20,000 records must not re-read the 19,000.
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Storage, e.to_string()))?;
        let db = SqliteBackend::open(dir.path().join("pages.db"))?;
        let ops: Vec<WriteOp> = (0..20_000)
            .map(|i| WriteOp::Put {
                id: format!("audit/{i:020}"),
                value: vec![1],
                expect: Expect::Any,
            })
            .collect();
        db.commit(&ops)?;
        let steps = |after: Option<&str>| -> Result<i32> {
            let conn = lock(&db.reader, &db.path)?;
            let (sql, lower) = scan_sql("audit/", after, true);
            let mut stmt = conn.prepare(&sql).map_err(|e| db.err("scan", &e))?;
            let upper = prefix_upper_bound("audit/").unwrap_or_default();
            let n = stmt
                .query_map(rusqlite::params![lower, upper, 100i64], |_| Ok(()))
                .map_err(|e| db.err("scan", &e))?
                .count();
            assert_eq!(n, 100);
            Ok(stmt.get_status(rusqlite::StatementStatus::VmStep))
        };
        let early = steps(None)?;
        let late = steps(Some(&format!("audit/{:020}", 19_000)))?;
        assert!(
            late <= early * 2,
            "a late page took {late} VM steps, an early one {early}"
        );
        Ok(())
    }

    #[test]
    fn scan_uses_the_primary_key_range() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Storage, e.to_string()))?;
        let db = SqliteBackend::open(dir.path().join("plan.db"))?;
        let conn = lock(&db.reader, &db.path)?;
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id, value, revision FROM records
                 WHERE id >= ?1 AND id < ?2 AND id > ?3 ORDER BY id LIMIT 5",
            )
            .and_then(|mut s| {
                s.query_map(["key/", "key0", "key/a"], |r| r.get::<_, String>(3))?
                    .collect()
            })
            .map_err(|e| db.err("plan", &e))?;
        let plan = plan.join("\n");
        assert!(plan.contains("SEARCH records USING PRIMARY KEY"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        Ok(())
    }

    #[test]
    fn sqlite_errors_name_the_file_and_the_cause() {
        let path = Path::new("/data/keys.db");
        let fail =
            |code: i32| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        let full = sql_err(path, "cannot commit to", &fail(rusqlite::ffi::SQLITE_FULL));
        assert_eq!(full.kind(), ErrorKind::Storage);
        assert!(full.to_string().contains("full"), "{full}");
        assert!(full.to_string().contains("/data/keys.db"), "{full}");
        let ro = sql_err(
            path,
            "cannot commit to",
            &fail(rusqlite::ffi::SQLITE_READONLY),
        );
        assert!(ro.to_string().contains("read-only"), "{ro}");
        let busy = sql_err(path, "cannot commit to", &fail(rusqlite::ffi::SQLITE_BUSY));
        assert!(busy.to_string().contains("database is locked"), "{busy}");
        let bad = sql_err(path, "cannot read", &fail(rusqlite::ffi::SQLITE_NOTADB));
        assert_eq!(bad.kind(), ErrorKind::Integrity);
    }
}
