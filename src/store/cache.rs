//! The cell cache: one [`KeyCell`] per key in memory, shared by every
//! handle; loading cells from the backend, sealing key records, rollback
//! detection, and keeping cells current with other processes.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::{
    CellData, KeyCell, KeyStore, Loaded, MaterialChange, RECENT_CELLS, key_record_id, ops, record,
};
use crate::base::{Error, ErrorKind, Result};
use crate::governance::audit::Operation;
use crate::governance::principal::Principal;
use crate::key::lifecycle::{self};
use crate::key::{KeyId, KeyInfo, StateName, Timestamp};

impl KeyStore {
    pub(super) fn live_cell(&self, id: &KeyId) -> Option<Arc<KeyCell>> {
        self.inner
            .cells
            .lock()
            .ok()
            .and_then(|m| m.get(id).and_then(Weak::upgrade))
    }

    pub(super) fn register(&self, cell: KeyCell) -> Arc<KeyCell> {
        let cell = Arc::new(cell);
        if let Ok(mut m) = self.inner.cells.lock() {
            self.track(&mut m, &cell);
        }
        cell
    }

    /// Records a newly loaded or created cell: in the map every handle
    /// shares (pruned of dead entries as it grows, so memory follows the
    /// keys in use, not every key ever loaded), and among the recently used
    /// cells kept alive without a handle — so a key loaded per request keeps
    /// its reserved invocations instead of reserving (and persisting) a new
    /// block each time.
    pub(super) fn track(&self, map: &mut HashMap<KeyId, Weak<KeyCell>>, cell: &Arc<KeyCell>) {
        if map.len() > 1024 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(cell.id, Arc::downgrade(cell));
        if let Ok(mut recent) = self.inner.recent.lock() {
            if recent.len() >= RECENT_CELLS {
                recent.clear();
            }
            recent.insert(cell.id, cell.clone());
        }
    }

    /// The shared cell for `id`, loading it if no handle holds it, with
    /// due date-driven transitions applied.
    pub(crate) fn cell(&self, id: &KeyId) -> Result<Arc<KeyCell>> {
        let cell = self.lookup_cell(id)?;
        self.prepare(&cell)?;
        Ok(cell)
    }

    /// [`KeyStore::cell`] without applying dates and other processes'
    /// changes: for callers that prepare the cell themselves next (each
    /// use does), so a use reads the clock once.
    pub(crate) fn lookup_cell(&self, id: &KeyId) -> Result<Arc<KeyCell>> {
        let cell = match self.live_cell(id) {
            Some(c) => c,
            None => {
                let mut map = self
                    .inner
                    .cells
                    .lock()
                    .map_err(|_| Error::internal("cell map poisoned"))?;
                if let Some(c) = map.get(id).and_then(Weak::upgrade) {
                    c
                } else {
                    let data = self.load_data(id)?;
                    let cell = Arc::new(KeyCell::new(data));
                    self.track(&mut map, &cell);
                    cell
                }
            }
        };
        Ok(cell)
    }

    pub(super) fn load_data(&self, id: &KeyId) -> Result<CellData> {
        let rid = key_record_id(id);
        let rec = self
            .inner
            .backend
            .get(&rid)?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no key {id}")))?;
        let (stored, items, revision) = self.open_key_record(&rid, rec, |stored| {
            self.check_generation(&rid, id, stored.generation)?;
            if stored.info.id != *id {
                return Err(Error::new(
                    ErrorKind::Integrity,
                    format!("record {rid} holds another key"),
                ));
            }
            Ok(())
        })?;
        CellData::from_stored(self.crypto_provider(), stored, revision, items)
    }

    /// Opens key record `rid` (read as `rec`), runs `check` on it, and
    /// attaches its version records. The key record and its version
    /// records are separate reads, not one snapshot: when they disagree and
    /// the key record has changed meanwhile (another process wrote the
    /// key), it reads again; a disagreement with the key record unchanged
    /// is an integrity failure. Returns the record, its version hashes
    /// (`None` when inline) and the revision it was read at.
    pub(super) fn open_key_record(
        &self,
        rid: &str,
        mut rec: super::backend::Record,
        check: impl Fn(&record::StoredKey) -> Result<()>,
    ) -> Result<(
        record::StoredKey,
        Option<Vec<super::versions::Digest32>>,
        u64,
    )> {
        for _ in 0..64 {
            let plain = self.sealer()?.open(rid, &rec.value)?;
            let mut stored = record::decode(rid, plain.expose_secret())?;
            check(&stored)?;
            match self.attach_versions(rid, &mut stored) {
                Ok(items) => return Ok((stored, items, rec.revision)),
                Err(e) if e.kind() == ErrorKind::Integrity => match self.inner.backend.get(rid)? {
                    Some(fresh) if fresh.revision != rec.revision => rec = fresh,
                    _ => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("record {rid} kept changing while its versions were read"),
        ))
    }

    /// For a key record in the split layout, reads its version records into
    /// it (checked against its chain) and returns their hashes; `None` for
    /// a record with its versions inline.
    fn attach_versions(
        &self,
        rid: &str,
        stored: &mut record::StoredKey,
    ) -> Result<Option<Vec<super::versions::Digest32>>> {
        let Some(chain) = stored.chain.take() else {
            return Ok(None);
        };
        if !stored.info.versions.is_empty() || !stored.material.is_empty() {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!("record {rid} has both a version chain and inline versions"),
            ));
        }
        let read = self.read_versions(&stored.info.id, &chain)?;
        stored.info.versions = read.versions;
        stored.material = read.material;
        Ok(Some(read.items))
    }

    pub(super) fn seal_key(
        &self,
        generation: u64,
        info: &KeyInfo,
        material: &[(u32, &Loaded)],
    ) -> Result<Vec<u8>> {
        let plain = record::encode(generation, info, material)?;
        self.sealer()?
            .seal(&key_record_id(&info.id), plain.expose_secret())
    }

    /// Rollback detection within this process: a record read back with an
    /// older generation than one already seen was restored from an old copy.
    pub(super) fn check_generation(&self, rid: &str, id: &KeyId, generation: u64) -> Result<()> {
        let mut seen = self
            .inner
            .seen
            .lock()
            .map_err(|_| Error::internal("generation map poisoned"))?;
        let best = seen.entry(*id).or_insert(generation);
        if generation < *best {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "record {rid} was rolled back: generation {generation} after {best} was seen"
                ),
            ));
        }
        *best = generation;
        Ok(())
    }

    pub(super) fn saw_generation(&self, id: &KeyId, generation: u64) {
        if let Ok(mut seen) = self.inner.seen.lock() {
            let best = seen.entry(*id).or_insert(generation);
            *best = (*best).max(generation);
        }
    }

    /// Brings a cell up to date before use: first other processes' writes
    /// (checked at most every [`StoreOptions::refresh_interval`]), then due
    /// date-driven transitions.
    pub(crate) fn prepare(&self, cell: &KeyCell) -> Result<()> {
        self.prepare_at(cell, self.now())
    }

    /// As [`KeyStore::prepare`], with the time already read.
    pub(crate) fn prepare_at(&self, cell: &KeyCell, now: Timestamp) -> Result<()> {
        let epoch = self.inner.sync.current_epoch(
            &*self.inner.backend,
            self.inner.options.refresh_interval,
            now.as_millis(),
        )?;
        if cell.epoch() != epoch {
            let fresh_rev = self
                .inner
                .backend
                .get(&key_record_id(&cell.id))?
                .map(|r| r.revision);
            let mut data = cell.write()?;
            if fresh_rev != Some(data.revision) {
                *data = self.load_data(&cell.id)?;
                cell.set_next_due(&data.info);
            }
            cell.set_epoch(epoch);
        }
        if cell.is_due(now.as_millis()) {
            self.refresh_due(cell)?;
        }
        Ok(())
    }

    /// Applies due date-driven transitions to a cell (as the scheduler).
    pub(crate) fn refresh_due(&self, cell: &KeyCell) -> Result<()> {
        let now = self.now();
        let sched = Principal::scheduler();
        self.mutate(cell, |info, _, drafts| {
            let before = info.history.len();
            let (_, destroy) = lifecycle::apply_due(info, now);
            // Scheduled rotation: an Active key past its rotation period.
            if info.state == StateName::Active && info.rotation_due().is_some_and(|d| d <= now) {
                let v = info.primary_version + 1;
                let why = Some("rotation period elapsed");
                drafts.push(self.draft(
                    &sched,
                    Operation::Rotate,
                    Some(info.id),
                    Some(v),
                    &Ok(()),
                    why,
                ));
                return ops::rotate_info(self.crypto_provider(), info, now)
                    .map(MaterialChange::Add);
            }
            for c in &info.history[before..] {
                let op = match c.to {
                    StateName::Active => Operation::Activate,
                    StateName::Deactivated => Operation::Deactivate,
                    _ => Operation::Destroy,
                };
                drafts.push(self.draft(&sched, op, Some(info.id), None, &Ok(()), Some(&c.reason)));
            }
            Ok(if destroy {
                MaterialChange::DestroyAll
            } else {
                MaterialChange::None
            })
        })
    }

    /// Every record whose id starts with `prefix`, in id order, read from
    /// the backend a page at a time.
    pub(super) fn scan_prefix(
        &self,
        prefix: &str,
        mut f: impl FnMut(&str, &super::backend::Record) -> Result<()>,
    ) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self.inner.backend.scan(prefix, after.as_deref(), 256)?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            for (id, rec) in &page {
                f(id, rec)?;
            }
        }
    }
}
