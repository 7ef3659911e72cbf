//! The in-memory backend, for tests and ephemeral stores.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Backend, Expect, Record, WriteOp};
use crate::error::{Error, ErrorKind, Result};

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

fn check(records: &BTreeMap<String, Record>, id: &str, expect: Expect) -> Result<()> {
    let cur = records.get(id).map(|r| r.revision);
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => cur.is_none(),
        Expect::Revision(r) => cur == Some(r),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Conflict,
            format!("record {id} changed concurrently"),
        ))
    }
}

impl Backend for MemoryBackend {
    fn get(&self, id: &str) -> Result<Option<Record>> {
        Ok(self.lock()?.records.get(id).cloned())
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<u64>> {
        let mut g = self.lock()?;
        for op in ops {
            match op {
                WriteOp::Put { id, expect, .. } | WriteOp::Delete { id, expect } => {
                    check(&g.records, id, *expect)?
                }
            }
        }
        let mut revs = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Put { id, value, .. } => {
                    let rev = g.records.get(id).map_or(1, |r| r.revision + 1);
                    g.records.insert(
                        id.clone(),
                        Record {
                            value: value.clone(),
                            revision: rev,
                        },
                    );
                    revs.push(rev);
                }
                WriteOp::Delete { id, .. } => {
                    g.records.remove(id);
                    revs.push(0);
                }
            }
        }
        g.commits += 1;
        Ok(revs)
    }

    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Record)>> {
        let g = self.lock()?;
        let from = start_after.map_or(prefix, |s| s.max(prefix)).to_owned();
        Ok(g.records
            .range(from..)
            .filter(|(k, _)| Some(k.as_str()) != start_after)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn change_counter(&self) -> Result<u64> {
        Ok(self.lock()?.commits)
    }
}
