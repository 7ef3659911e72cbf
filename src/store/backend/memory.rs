//! The in-memory backend, for tests and ephemeral stores.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Backend, Record, WriteOp, map};
use crate::base::{Error, ErrorKind, Result};

/// Records in a `BTreeMap` behind a mutex. Nothing survives the process.
///
/// Share one between several [`crate::KeyStore`]s with `Arc<MemoryBackend>`
/// to model several processes on one store.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<String, Record>,
    commits: u64,
}

impl MemoryBackend {
    /// An empty store.
    #[must_use]
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::new(ErrorKind::Storage, "memory backend lock poisoned"))
    }

    /// Every record's raw bytes, for tests that look for leaked secrets or
    /// tamper with storage.
    ///
    /// # Errors
    /// If the lock is poisoned.
    pub fn raw_records(&self) -> Result<Vec<(String, Record)>> {
        Ok(self
            .lock()?
            .records
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    /// Overwrites a record's raw bytes and revision without any check, to
    /// simulate tampering in tests.
    ///
    /// # Errors
    /// If the lock is poisoned.
    pub fn tamper(&self, id: &str, record: Record) -> Result<()> {
        let mut g = self.lock()?;
        g.records.insert(id.to_owned(), record);
        g.commits += 1;
        Ok(())
    }
}

impl Backend for MemoryBackend {
    fn get(&self, id: &str) -> Result<Option<Record>> {
        Ok(self.lock()?.records.get(id).cloned())
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>> {
        let mut g = self.lock()?;
        map::check_all(&g.records, ops)?;
        let revs = map::apply(&mut g.records, ops);
        g.commits += 1;
        Ok(revs)
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
