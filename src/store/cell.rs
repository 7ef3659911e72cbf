//! A loaded key, shared by every handle on it in this process.
//!
//! All [`crate::Key`] handles on one key id share one `KeyCell`. State
//! changes take the write lock and are persisted before it is released;
//! every use takes the read lock and re-checks the live state, so a key that
//! one thread revokes stops working for every other thread before the
//! revoking call returns.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::base::{Error, ErrorKind, Result};
use crate::key::{KeyId, KeyInfo, StateName, VersionState};

use super::record::{Loaded, StoredKey};
use super::versions::{self, Digest32};

pub(crate) struct KeyCell {
    pub(crate) id: KeyId,
    data: RwLock<CellData>,
    /// Milliseconds of the next date-driven transition (`i64::MAX`: none).
    next_due: AtomicI64,
    /// The store's sync epoch this cell was last checked against.
    epoch: AtomicU64,
    /// Milliseconds of the UTC day of the last recorded use (`i64::MIN`:
    /// none): read on every use, so the record is written once a day.
    pub(crate) last_used_day: AtomicI64,
}

pub(crate) struct CellData {
    pub(crate) info: KeyInfo,
    /// Material by version index (version - 1); `None` once destroyed.
    pub(crate) material: Vec<Option<Loaded>>,
    /// Per-version invocation counters (see [`Usage`]).
    pub(crate) usage: Vec<Usage>,
    /// Backend revision of the record this was loaded from or written as.
    pub(crate) revision: u64,
    /// The record's own write counter (see `record.rs`).
    pub(crate) generation: u64,
    /// Per version, the hash of its version record's plaintext, and the
    /// chain's head after it (`versions.rs`).
    pub(crate) items: Vec<Digest32>,
    pub(crate) heads: Vec<Digest32>,
    /// Whether the stored record is in the split layout (else its next
    /// write writes every version record).
    pub(crate) split: bool,
}

/// Invocation counting with block reservation.
///
/// The persisted `usage_count` of a version is the end of the last range
/// reserved by any process. This process hands out indices in
/// `[next, end)`; when the range is used up it persists a new end first, so
/// the persisted count is never below the true one, whatever crashes.
///
/// A range belongs to the process that reserved it: after `fork()` the child
/// inherits the parent's counters, and would otherwise spend the same range
/// as the parent (under-counting). A range taken in another process id is
/// treated as exhausted, so the child reserves its own.
pub(crate) struct Usage {
    pub(crate) next: AtomicU64,
    pub(crate) end: AtomicU64,
    pub(crate) pid: AtomicU32,
}

impl Default for Usage {
    fn default() -> Usage {
        Usage::at(0)
    }
}

impl Usage {
    fn at(persisted: u64) -> Usage {
        Usage {
            next: AtomicU64::new(persisted),
            end: AtomicU64::new(persisted),
            pid: AtomicU32::new(crate::sys::current_pid()),
        }
    }

    /// Takes one invocation index from the reserved range, if any is left.
    pub(crate) fn try_take(&self, pid: u32) -> Option<u64> {
        if self.pid.load(Ordering::Acquire) != pid {
            return None;
        }
        let end = self.end.load(Ordering::Acquire);
        let mut cur = self.next.load(Ordering::Relaxed);
        loop {
            if cur >= end {
                return None;
            }
            match self
                .next
                .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(cur),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Reserved but not yet handed out in this process.
    pub(crate) fn unused(&self) -> u64 {
        if self.pid.load(Ordering::Acquire) != crate::sys::current_pid() {
            return 0;
        }
        self.end
            .load(Ordering::Acquire)
            .saturating_sub(self.next.load(Ordering::Acquire))
    }
}

impl CellData {
    /// A cell from a decoded key record with its versions (inline, or read
    /// from version records whose plaintexts hash to `items`).
    pub(crate) fn from_stored(
        provider: crate::CryptoProvider,
        stored: StoredKey,
        revision: u64,
        items: Option<Vec<Digest32>>,
    ) -> Result<CellData> {
        let StoredKey {
            generation,
            info,
            material,
            chain: _,
        } = stored;
        let mut slots: Vec<Option<Loaded>> = (0..info.versions.len()).map(|_| None).collect();
        for m in material {
            let idx = usize::try_from(m.version.saturating_sub(1)).unwrap_or(usize::MAX);
            let slot = slots.get_mut(idx).ok_or_else(|| {
                Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "key {} has material for unknown version {}",
                        info.id, m.version
                    ),
                )
            })?;
            *slot = Some(Loaded::new(provider, info.algorithm, m.key)?);
        }
        let usage = info
            .versions
            .iter()
            .map(|v| Usage::at(v.usage_count))
            .collect();
        let split = items.is_some();
        let items = match items {
            Some(items) => items,
            // Inline: what the version records would hold.
            None => info
                .versions
                .iter()
                .zip(&slots)
                .map(|(v, m)| {
                    versions::encode(v, m.as_ref()).map(|p| versions::item_hash(p.expose_secret()))
                })
                .collect::<Result<_>>()?,
        };
        let heads = versions::heads_of(&info.id, &items);
        Ok(CellData {
            info,
            material: slots,
            usage,
            revision,
            generation,
            items,
            heads,
            split,
        })
    }

    /// Material of version `n` if it exists and has not been destroyed.
    pub(crate) fn material(&self, n: u32) -> Result<&Loaded> {
        let idx = usize::try_from(n.wrapping_sub(1)).unwrap_or(usize::MAX);
        match self.material.get(idx) {
            Some(Some(m)) => Ok(m),
            Some(None) => Err(Error::new(
                ErrorKind::VersionUnavailable,
                format!("version {n} of key {} was destroyed", self.info.id),
            )),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("key {} has no version {n}", self.info.id),
            )),
        }
    }

    /// The primary version, for apply operations (encrypt, sign, MAC,
    /// derive, agree): never a version marked compromised — protection
    /// applied with exposed material protects nothing (NIST SP 800-57 Part 1
    /// §5.3.4); the key must be rotated first.
    pub(crate) fn primary(&self) -> Result<(u32, &Loaded)> {
        let n = self.info.primary_version;
        match self.info.version(n).map(|v| v.state) {
            Some(VersionState::Enabled) => Ok((n, self.material(n)?)),
            _ => Err(Error::new(
                ErrorKind::VersionUnavailable,
                format!(
                    "primary version {n} of key {} is compromised: rotate the key before applying protection",
                    self.info.id
                ),
            )),
        }
    }

    /// Checks that version `n` may be used to process (decrypt, verify).
    pub(crate) fn processable(&self, n: u32) -> Result<&Loaded> {
        let v = self.info.version(n).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("key {} has no version {n}", self.info.id),
            )
        })?;
        match v.state {
            VersionState::Enabled => {}
            VersionState::Compromised => {
                return Err(Error::new(
                    ErrorKind::VersionUnavailable,
                    format!("version {n} of key {} is compromised", self.info.id),
                ));
            }
            VersionState::Destroyed => {
                return Err(Error::new(
                    ErrorKind::VersionUnavailable,
                    format!("version {n} of key {} was destroyed", self.info.id),
                ));
            }
        }
        if n < self.info.min_decryption_version {
            return Err(Error::new(
                ErrorKind::VersionUnavailable,
                format!(
                    "version {n} of key {} is below the minimum decryption version {}",
                    self.info.id, self.info.min_decryption_version
                ),
            ));
        }
        self.material(n)
    }

    /// Versions usable for processing, newest first.
    pub(crate) fn processable_versions(&self) -> impl Iterator<Item = (u32, &Loaded)> {
        (1..=self.info.primary_version)
            .rev()
            .filter_map(|n| self.processable(n).ok().map(|m| (n, m)))
    }

    /// A metadata snapshot with usage counts as seen from this process.
    pub(crate) fn snapshot(&self) -> KeyInfo {
        let mut info = self.info.clone();
        for (v, u) in info.versions.iter_mut().zip(&self.usage) {
            v.usage_count = v.usage_count.saturating_sub(u.unused());
        }
        info
    }

    pub(crate) fn state(&self) -> StateName {
        self.info.state
    }
}

impl KeyCell {
    pub(crate) fn new(data: CellData) -> KeyCell {
        let due = data.info.next_due().map_or(i64::MAX, |t| t.as_millis());
        let used = data.info.last_used.map_or(i64::MIN, |t| t.as_millis());
        KeyCell {
            id: data.info.id,
            data: RwLock::new(data),
            next_due: AtomicI64::new(due),
            epoch: AtomicU64::new(0),
            last_used_day: AtomicI64::new(used),
        }
    }

    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, CellData>> {
        self.data
            .read()
            .map_err(|_| Error::internal("key lock poisoned"))
    }

    pub(crate) fn write(&self) -> Result<RwLockWriteGuard<'_, CellData>> {
        self.data
            .write()
            .map_err(|_| Error::internal("key lock poisoned"))
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn set_epoch(&self, e: u64) {
        self.epoch.store(e, Ordering::Release);
    }

    pub(crate) fn is_due(&self, now_ms: i64) -> bool {
        now_ms >= self.next_due.load(Ordering::Acquire)
    }

    pub(crate) fn set_next_due(&self, info: &KeyInfo) {
        let due = info.next_due().map_or(i64::MAX, |t| t.as_millis());
        self.next_due.store(due, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::Usage;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_range_reserved_in_another_process_is_never_spent_here() {
        let me = std::process::id();
        let u = Usage::default();
        u.end.store(10, Ordering::Release);
        assert_eq!(u.try_take(me), Some(0));
        assert_eq!(u.unused(), 9);
        // As a forked child sees its parent's counters.
        u.pid.store(me.wrapping_add(1), Ordering::Release);
        assert_eq!(u.try_take(me), None);
        assert_eq!(u.unused(), 0);
        // Its own reservation works again.
        u.pid.store(me, Ordering::Release);
        assert_eq!(u.try_take(me), Some(1));
    }
}
