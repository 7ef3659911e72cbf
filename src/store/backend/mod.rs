//! The storage contract: a small synchronous trait over opaque records.
//!
//! Backends never see plaintext: every value they hold was sealed by the core
//! (AES-256-GCM under the store key, record id bound into the associated
//! data) before it reached them. A backend only has to keep bytes, count
//! revisions and commit several writes atomically.
//!
//! Backends: [`MemoryBackend`] (tests), [`FileBackend`] (one file, small
//! keysets shipped with an application), `SqliteBackend` (the embedded
//! default, feature `sqlite`), `PostgresBackend` (one store shared by a
//! fleet of processes and machines, feature `postgres`).

mod file;
mod map;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use file::FileBackend;
pub use memory::MemoryBackend;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBackend, PostgresOptions};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteBackend, SqliteOptions};

use crate::base::Result;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::base::{Error, ErrorKind};

/// A stored value and its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Opaque sealed bytes.
    pub value: Vec<u8>,
    /// Revision, starting at 1 for a new record and increasing by one on
    /// every write. Revisions are compared, never interpreted.
    pub revision: u64,
}

/// The precondition of a write (compare-and-swap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist.
    Absent,
    /// The record must exist with exactly this revision.
    Revision(u64),
    /// No precondition.
    Any,
}

/// One write of an atomic commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Create or replace a record.
    Put {
        /// Record id.
        id: String,
        /// New sealed value.
        value: Vec<u8>,
        /// Precondition.
        expect: Expect,
    },
    /// Remove a record.
    Delete {
        /// Record id.
        id: String,
        /// Precondition.
        expect: Expect,
    },
}

impl WriteOp {
    /// The record id this write touches.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            WriteOp::Put { id, .. } | WriteOp::Delete { id, .. } => id,
        }
    }
}

/// A persistent home for sealed records.
///
/// Contract (checked for every backend by the shared contract suite):
/// - `commit` applies all of its writes or none; a failed precondition fails
///   the whole commit with [`crate::ErrorKind::Conflict`] and changes nothing;
/// - a successful `commit` is durable when it returns (for durable backends);
/// - `scan` returns records whose id starts with `prefix`, in id order,
///   starting strictly after `start_after`, at most `limit` of them;
/// - `change_counter` changes whenever any writer, in any process, commits.
pub trait Backend: Send + Sync {
    /// Reads one record.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Storage`] when the backend fails.
    fn get(&self, id: &str) -> Result<Option<Record>>;

    /// Applies `ops` atomically and returns the new revision of each written
    /// record (0 for deletes), in order.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Conflict`] when a precondition fails;
    /// [`crate::ErrorKind::Storage`] when the backend fails.
    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>>;

    /// Lists records by id prefix, paginated.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Storage`] when the backend fails.
    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>>;

    /// A value that differs after any commit by anyone. Used to notice other
    /// processes' writes (cross-process revocation).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Storage`] when the backend fails.
    fn change_counter(&self) -> Result<u64>;

    /// A cheap local hint that someone may have committed: a value that
    /// changes when the backend hears of a commit (PostgreSQL's `NOTIFY`),
    /// so a store reads [`Backend::change_counter`] at once instead of at
    /// its next refresh interval. Only a hint: correctness comes from the
    /// counter, which is still polled. `None` (the default): no such
    /// channel.
    fn change_hint(&self) -> Option<u64> {
        None
    }

    /// Convenience: a single conditional put.
    ///
    /// # Errors
    /// As [`Backend::commit`].
    fn put(&self, id: &str, value: Vec<u8>, expect: Expect) -> Result<u64> {
        let revs = self.commit(&[WriteOp::Put {
            id: id.to_owned(),
            value,
            expect,
        }])?;
        revs.first()
            .copied()
            .ok_or_else(|| crate::Error::internal("commit returned no revision"))
    }

    /// Convenience: a single conditional delete.
    ///
    /// # Errors
    /// As [`Backend::commit`].
    fn delete(&self, id: &str, expect: Expect) -> Result<()> {
        self.commit(&[WriteOp::Delete {
            id: id.to_owned(),
            expect,
        }])
        .map(|_| ())
    }
}

impl<B: Backend + ?Sized> Backend for std::sync::Arc<B> {
    fn get(&self, id: &str) -> Result<Option<Record>> {
        (**self).get(id)
    }
    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>> {
        (**self).commit(ops)
    }
    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>> {
        (**self).scan(prefix, start_after, limit)
    }
    fn change_counter(&self) -> Result<u64> {
        (**self).change_counter()
    }
    fn change_hint(&self) -> Option<u64> {
        (**self).change_hint()
    }
}

/// The smallest string greater than every string starting with `prefix`,
/// or `None` if there is none. SQLite's BINARY collation, PostgreSQL's "C"
/// collation and Rust's `str` order are all UTF-8 byte order, which is code
/// point order.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A revision read from a database column: positive, else the row was
/// damaged.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn to_revision(id: &str, rev: i64) -> Result<u64> {
    u64::try_from(rev).map_err(|_| {
        Error::new(
            ErrorKind::Integrity,
            format!("record {id} has an invalid revision {rev}"),
        )
    })
}
