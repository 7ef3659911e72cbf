//! The mutation engine: every change to a key record goes through
//! `KeyStore::mutate` (compare-and-swap, sealed, audited in the same
//! commit), and every state change through `KeyStore::transition`.

use super::audit::Draft;
use super::backend::Expect;
use super::{CellData, KeyCell, KeyStore, Loaded, MaterialChange, authorize, cell};
use crate::base::{Error, ErrorKind, Result};
use crate::key::lifecycle::{self, Transition};
use crate::key::{KeyInfo, StateName};

impl KeyStore {
    /// The one path by which a key record changes: under the cell's write
    /// lock, `f` edits a copy of the metadata and says what happens to the
    /// material; the result is sealed and committed with compare-and-swap
    /// on the record's revision; only then does the cell change. If another
    /// process wrote first, the record is reloaded and `f` runs again.
    pub(crate) fn mutate(
        &self,
        cell: &KeyCell,
        mut f: impl FnMut(&mut KeyInfo, &CellData, &mut Vec<Draft>) -> Result<MaterialChange>,
    ) -> Result<()> {
        let mut data = cell.write()?;
        let mut drafts = Vec::new();
        // Each attempt that loses to another writer reloads the record first;
        // several processes changing one key can take a few rounds.
        for _attempt in 0..64 {
            drafts.clear();
            let mut info = data.info.clone();
            let change = f(&mut info, &data, &mut drafts)?;
            // (The change first: comparing the metadata walks every version.)
            if matches!(change, MaterialChange::None) && info == data.info {
                drop(data);
                return self.commit_logged(&drafts, Vec::new()).map(|_| ());
            }
            // Each version's material after the change.
            let mut keep: Vec<Option<&Loaded>> = Vec::with_capacity(data.material.len() + 1);
            match &change {
                MaterialChange::DestroyAll => keep.resize(data.material.len(), None),
                MaterialChange::DestroyVersion(v) => {
                    let gone = usize::try_from(v.wrapping_sub(1)).unwrap_or(usize::MAX);
                    keep.extend(
                        data.material
                            .iter()
                            .enumerate()
                            .map(|(i, m)| if i == gone { None } else { m.as_ref() }),
                    );
                }
                _ => keep.extend(data.material.iter().map(Option::as_ref)),
            }
            if let MaterialChange::Add(m) = &change {
                keep.push(Some(m));
            }
            let generation = data.generation + 1;
            // Only the version records that changed are written (one for a
            // rotation or a usage reservation), with the key record.
            let writes = self.key_writes(
                generation,
                &mut info,
                &keep,
                Some(&*data),
                Expect::Revision(data.revision),
            )?;
            // Every record write is audited with its generation.
            let mut covered = false;
            for d in drafts.iter_mut().filter(|d| d.key_id == Some(cell.id)) {
                d.generation = Some(generation);
                covered = true;
            }
            if !covered {
                return Err(Error::internal("a key record write without an audit entry"));
            }
            drop(keep);
            let mut writes = writes;
            let ops = std::mem::take(&mut writes.ops);
            match self.commit_logged(&drafts, ops) {
                Ok(revs) => {
                    data.revision = revs.first().copied().unwrap_or(data.revision + 1);
                    data.generation = generation;
                    let data = &mut *data;
                    writes.apply(&mut data.items, &mut data.heads);
                    data.split = true;
                    self.saw_generation(&cell.id, generation);
                    match change {
                        MaterialChange::None => {}
                        MaterialChange::Add(m) => {
                            data.material.push(Some(m));
                            data.usage.push(cell::Usage::default());
                        }
                        MaterialChange::DestroyVersion(v) => {
                            if let Some(slot) = data
                                .material
                                .get_mut(usize::try_from(v - 1).unwrap_or(usize::MAX))
                            {
                                *slot = None;
                            }
                        }
                        MaterialChange::DestroyAll => {
                            data.material.iter_mut().for_each(|m| *m = None)
                        }
                        MaterialChange::Reserve {
                            version,
                            start,
                            end,
                        } => {
                            // Under the write lock: no reader is taking
                            // indices while the range is replaced.
                            if let Some(u) = data
                                .usage
                                .get(usize::try_from(version - 1).unwrap_or(usize::MAX))
                            {
                                use std::sync::atomic::Ordering::Release;
                                u.next.store(start, Release);
                                u.end.store(end, Release);
                                u.pid.store(crate::sys::current_pid(), Release);
                            }
                        }
                    }
                    data.info = info;
                    cell.set_next_due(&data.info);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    // Another process changed the key: reload and retry on
                    // its version. Keep this process's unused reservation
                    // out of the count (it is simply abandoned).
                    let fresh = self.load_data(&cell.id)?;
                    *data = fresh;
                    cell.set_next_due(&data.info);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("key {} kept changing under concurrent writers", cell.id),
        ))
    }

    /// Performs a transition on behalf of this handle's principal.
    pub(crate) fn transition(
        &self,
        cell: &KeyCell,
        t: Transition,
        reason: &str,
    ) -> Result<StateName> {
        let op = t.operation();
        let res = (|| {
            authorize(&self.principal, op)?;
            self.prepare(cell)?;
            if let Transition::ScheduleDestruction { wait: asked } = t {
                let wait = self.min_destruction_wait()?;
                if asked < wait {
                    return Err(Error::new(
                        ErrorKind::Policy,
                        format!(
                            "destruction must be at least {} days away",
                            wait.as_secs() / 86_400
                        ),
                    ));
                }
            }
            // Dual control, where policy asks for it (checked against the
            // live state first, so a refused transition spends nothing).
            let gate = match t {
                Transition::ScheduleDestruction { .. } => {
                    Some(crate::governance::policy::ApprovalOperation::ScheduleDestruction)
                }
                Transition::Destroy => Some(crate::governance::policy::ApprovalOperation::Destroy),
                _ => None,
            };
            if let Some(gate) = gate {
                lifecycle::next_state(&cell.read()?.info, t)?;
                self.consume_approval(gate, Some(cell.id))?;
            }
            let now = self.now();
            let mut to = StateName::PreActive;
            let r = if reason.is_empty() {
                None
            } else {
                Some(reason)
            };
            self.mutate(cell, |info, _, drafts| {
                to = lifecycle::apply(info, t, now, self.principal.name(), reason)?;
                drafts.push(self.draft(&self.principal, op, Some(info.id), None, &Ok(()), r));
                Ok(if to.has_material() {
                    MaterialChange::None
                } else {
                    MaterialChange::DestroyAll
                })
            })?;
            Ok(to)
        })();
        if let Err(e) = &res {
            let r = if reason.is_empty() {
                None
            } else {
                Some(reason)
            };
            self.audit_as(&self.principal, op, Some(cell.id), None, Err(e.clone()), r)?;
        }
        res
    }
}
