//! The audit log's API on [`KeyStore`]: recording events (in the same
//! commit as the change they describe), sinks, verification, export,
//! checkpoints, and the integrity check of every record against the log.
//! The log's format and hash chain are in `log.rs`.

mod log;

pub use self::log::{AuditEntry, AuditVerification};
pub(crate) use self::log::{AuditLog, Draft, base, verify};

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::base::{Error, ErrorKind, Result};
use crate::governance::audit::{AuditEvent, Operation, Outcome};
use crate::governance::principal::Principal;
use crate::key::{KeyId, Timestamp};
use crate::store::backend::WriteOp;
use crate::store::{AuditUses, KEY_PREFIX, Key, KeyStore, authorize, key_record_id};

/// What [`KeyStore::verify_integrity`] checked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IntegrityReport {
    /// Key records opened and checked.
    pub keys: u64,
    /// Audit entries verified.
    pub audit_entries: u64,
}

impl KeyStore {
    /// Checks every stored key record against the audit log: each must open
    /// (seal intact, right id) and be at least as new as the last write the
    /// log recorded for it — a record restored from an older copy fails.
    /// Also verifies the log itself. Auditors and administrators.
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] naming the first bad record;
    /// [`ErrorKind::PermissionDenied`].
    pub fn verify_integrity(&self) -> Result<IntegrityReport> {
        let res = (|| {
            authorize(&self.principal, Operation::VerifyIntegrity)?;
            self.flush_audit()?;
            let sealer = self.sealer()?;
            // Generations logged by archived entries come from the base.
            let mut audited: HashMap<KeyId, u64> = log::base(&*self.inner.backend, &sealer)?
                .map(|b| b.generations.into_iter().collect())
                .unwrap_or_default();
            let log = log::verify(&*self.inner.backend, &sealer, |e| {
                if let (Some(k), Some(g)) = (e.key_id, e.generation) {
                    // Each write of a key record is logged with the next
                    // generation. A generation that does not increase means
                    // a write was based on a rolled-back copy of the record
                    // (which that write would otherwise hide).
                    let last = audited.entry(k).or_insert(0);
                    if g <= *last {
                        return Err(Error::new(
                            ErrorKind::Integrity,
                            format!(
                                "audit entry {}: key/{k} written at generation {g} after generation \
                                 {last}: a write was based on a rolled-back record",
                                e.seq
                            ),
                        ));
                    }
                    *last = g;
                }
                Ok(())
            })?;
            let mut keys = 0u64;
            // Versions per key in the split layout (0: versions inline).
            let mut counts: HashMap<KeyId, u32> = HashMap::new();
            self.scan_prefix(KEY_PREFIX, |rid, rec| {
                let (stored, items, _) = self.open_key_record(rid, rec.clone(), |stored| {
                    if rid != key_record_id(&stored.info.id) {
                        return Err(Error::new(
                            ErrorKind::Integrity,
                            format!("record {rid} holds another key"),
                        ));
                    }
                    let logged = audited.get(&stored.info.id).copied().unwrap_or(0);
                    if stored.generation < logged {
                        return Err(Error::new(
                            ErrorKind::Integrity,
                            format!(
                                "record {rid} was rolled back: generation {} but the audit log records generation {logged}",
                                stored.generation
                            ),
                        ));
                    }
                    // Version records: checked against the chain next.
                    Ok(())
                })?;
                audited.remove(&stored.info.id);
                // Versions in the split layout (0: inline).
                let chained = items.map_or(0, |i| u32::try_from(i.len()).unwrap_or(u32::MAX));
                counts.insert(stored.info.id, chained);
                keys += 1;
                Ok(())
            })?;
            if let Some(missing) = audited.keys().next() {
                return Err(Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "record key/{missing} is in the audit log but missing from the store: it was deleted"
                    ),
                ));
            }
            // No version record outside a key's chain (left by a deleted
            // key record, or planted).
            self.scan_prefix(crate::store::versions::VERSION_PREFIX, |rid, _| {
                let owned = crate::store::versions::parse_version_record_id(rid)
                    .is_some_and(|(k, n)| counts.get(&k).is_some_and(|c| n <= *c));
                if owned {
                    Ok(())
                } else {
                    Err(Error::new(
                        ErrorKind::Integrity,
                        format!("record {rid} belongs to no version of a stored key"),
                    ))
                }
            })?;
            Ok(IntegrityReport {
                keys,
                audit_entries: log.entries,
            })
        })();
        self.audit(
            Operation::VerifyIntegrity,
            None,
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }

    /// Records one audit event, for this handle's principal.
    pub(crate) fn audit(
        &self,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: Result<()>,
    ) -> Result<()> {
        self.audit_as(&self.principal, op, key, version, res, None)
    }

    /// Records a use operation's event with the time the operation read.
    pub(crate) fn audit_at(
        &self,
        at: Timestamp,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: Result<()>,
    ) -> Result<()> {
        // The hot path: a success counted into this thread's aggregate for
        // the use (one short lock of its own shard; nothing built after the
        // window's first use).
        let o = &self.inner.options;
        if res.is_ok()
            && o.audit_uses == AuditUses::Aggregate
            && o.audit_buffer > 1
            && !self.inner.has_sinks.load(Ordering::Acquire)
            && Draft::bufferable_use(op)
        {
            let flush = self.inner.log.count_use(
                at,
                &self.principal,
                op,
                key,
                version,
                o.audit_buffer,
                o.audit_flush_interval,
            )?;
            if flush {
                self.flush_audit()?;
            }
            return Ok(());
        }
        self.record_draft(Self::draft_at(
            at,
            &self.principal,
            op,
            key,
            version,
            &res,
            None,
        ))
    }

    pub(crate) fn audit_as(
        &self,
        who: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: Result<()>,
        reason: Option<&str>,
    ) -> Result<()> {
        let draft = self.draft(who, op, key, version, &res, reason);
        self.record_draft(draft)
    }

    pub(super) fn record_draft(&self, draft: Draft) -> Result<()> {
        let o = &self.inner.options;
        if draft.bufferable() && o.audit_buffer > 1 {
            self.dispatch(std::slice::from_ref(&draft))?;
            let aggregate = o.audit_uses == AuditUses::Aggregate;
            if self
                .inner
                .log
                .buffer(draft, o.audit_buffer, aggregate, o.audit_flush_interval)?
            {
                self.flush_audit()?;
            }
            Ok(())
        } else {
            self.commit_logged(std::slice::from_ref(&draft), Vec::new())
                .map(|_| ())
        }
    }

    pub(crate) fn draft(
        &self,
        who: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: &Result<()>,
        reason: Option<&str>,
    ) -> Draft {
        Self::draft_at(self.now(), who, op, key, version, res, reason)
    }

    pub(super) fn draft_at(
        at: Timestamp,
        who: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: &Result<()>,
        reason: Option<&str>,
    ) -> Draft {
        let (outcome, error, msg) = match res {
            Ok(()) => (Outcome::Success, None, None),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                (Outcome::Denied, Some(e.kind().as_str()), e.message())
            }
            Err(e) => (Outcome::Failed, Some(e.kind().as_str()), e.message()),
        };
        Draft {
            at,
            principal: who.clone(),
            operation: op,
            key_id: key,
            version,
            outcome,
            error,
            reason: reason.or(msg).map(str::to_owned),
            generation: None,
            count: 1,
            last_at: None,
        }
    }

    /// Commits `drafts` to the audit log together with `extra` writes, then
    /// hands the events to the external sinks. Returns `extra`'s revisions.
    pub(super) fn commit_logged(&self, drafts: &[Draft], extra: Vec<WriteOp>) -> Result<Vec<u64>> {
        let sealer = self.sealer()?;
        let revs = self
            .inner
            .log
            .commit(&*self.inner.backend, &sealer, drafts, extra)?;
        self.dispatch(drafts)?;
        Ok(revs)
    }

    pub(super) fn dispatch(&self, drafts: &[Draft]) -> Result<()> {
        if !self.inner.has_sinks.load(Ordering::Acquire) {
            return Ok(());
        }
        let sinks = self
            .inner
            .sinks
            .read()
            .map_err(|_| Error::internal("audit sinks poisoned"))?;
        for d in drafts {
            for s in sinks.iter() {
                let reason = d.reason.as_deref();
                s.record(&AuditEvent {
                    at: d.at,
                    principal: d.principal.name(),
                    operation: d.operation,
                    key_id: d.key_id,
                    version: d.version,
                    outcome: d.outcome,
                    error: d.error,
                    reason,
                })?;
            }
        }
        Ok(())
    }

    /// Writes buffered audit entries now.
    ///
    /// # Errors
    /// Storage errors.
    pub fn flush_audit(&self) -> Result<()> {
        self.commit_logged(&[], Vec::new()).map(|_| ())
    }

    /// Verifies the whole audit log (seals, MACs, links, sequence, head) and
    /// returns its head. Auditors and administrators.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// store.create(KeySpec::<Aead>::new("k"))?;
    /// let v = store.verify_audit()?;
    /// assert!(v.entries >= 2); // open, create
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] naming the first broken entry;
    /// [`ErrorKind::PermissionDenied`].
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        self.read_audit(|_| Ok(()))
    }

    /// Verifies the log and writes it as JSON Lines (one [`AuditEntry`] per
    /// line), for SIEMs. Returns the number of entries written.
    ///
    /// # Errors
    /// As [`KeyStore::verify_audit`]; I/O errors as [`ErrorKind::Storage`].
    pub fn export_audit_jsonl(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        self.read_audit(|e| {
            writeln!(out, "{}", e.to_json()?)
                .map_err(|err| Error::new(ErrorKind::Storage, format!("audit export: {err}")))
        })
        .map(|v| v.entries)
    }

    /// Every entry, verified (for tests and small tools; large logs should
    /// use [`KeyStore::export_audit_jsonl`]).
    ///
    /// # Errors
    /// As [`KeyStore::verify_audit`].
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let mut out = Vec::new();
        self.read_audit(|e| {
            out.push(e.clone());
            Ok(())
        })?;
        Ok(out)
    }

    pub(super) fn read_audit(
        &self,
        each: impl FnMut(&AuditEntry) -> Result<()>,
    ) -> Result<AuditVerification> {
        self.audited_read(|| log::verify(&*self.inner.backend, &*self.sealer()?, each))
    }

    /// A read of the log: authorized for auditors and administrators,
    /// buffered entries written first, audited itself.
    fn audited_read(
        &self,
        read: impl FnOnce() -> Result<AuditVerification>,
    ) -> Result<AuditVerification> {
        let res = (|| {
            authorize(&self.principal, Operation::ReadAudit)?;
            self.flush_audit()?;
            read()
        })();
        let audited = self.audit(
            Operation::ReadAudit,
            None,
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        // A broken log may refuse the entry recording its own verification:
        // report the verification's finding first.
        let v = res?;
        audited?;
        Ok(v)
    }

    /// Signs the current head of the audit log with `signer`, for an outside
    /// party to keep (see [`AuditCheckpoint`](crate::governance::audit::AuditCheckpoint)).
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Signing};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let signer = store.create_active(KeySpec::<Signing>::new("audit-signer"))?;
    /// let cp = store.audit_checkpoint(&signer)?;
    /// cp.verify(&signer.public_key(None)?)?;
    /// store.verify_audit_against(&cp)?;
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KeyStore::verify_audit`] and [`Key::sign`].
    pub fn audit_checkpoint(
        &self,
        signer: &Key<crate::key::Signing, crate::key::Active>,
    ) -> Result<crate::governance::audit::AuditCheckpoint> {
        let v = self.verify_audit()?;
        let at = self.now();
        let bytes =
            crate::governance::audit::checkpoint_bytes(v.head_seq, &v.head_mac, at, &signer.id());
        let signature = signer.sign(&bytes)?;
        Ok(crate::governance::audit::AuditCheckpoint {
            seq: v.head_seq,
            head_mac: v.head_mac,
            at,
            signer: signer.id(),
            signature,
        })
    }

    /// The MAC of entry `seq` as the log holds it now — from the entry, or
    /// from the base when it was the last one archived. `Ok(None)` when the
    /// log ends before `seq`.
    fn mac_at(&self, seq: u64) -> Result<Option<String>> {
        let backend = &*self.inner.backend;
        let sealer = self.sealer()?;
        let base = log::base(backend, &sealer)?;
        match &base {
            Some(b) if seq == b.seq => return Ok(Some(b.mac.clone())),
            Some(b) if seq < b.seq => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "audit log: entry {seq} was archived (the log starts after entry {}): \
                         check this checkpoint against the archive",
                        b.seq
                    ),
                ));
            }
            _ => {}
        }
        Ok(log::entry(backend, &sealer, seq)?.map(|e| e.mac))
    }

    /// Whether the log still holds the entry `checkpoint` vouches for.
    fn check_checkpoint_entry(
        &self,
        checkpoint: &crate::governance::audit::AuditCheckpoint,
    ) -> Result<[u8; 32]> {
        let bad = |msg: String| Error::new(ErrorKind::Integrity, format!("audit log: {msg}"));
        match self.mac_at(checkpoint.seq)? {
            Some(m) if crate::crypto::ct_eq(m.as_bytes(), checkpoint.head_mac.as_bytes()) => {
                crate::base::encoding::parse_hex::<32>(&m)
                    .ok_or_else(|| bad(format!("entry {} has a malformed MAC", checkpoint.seq)))
            }
            Some(_) => Err(bad(format!(
                "entry {} differs from the checkpoint: the log was rewritten",
                checkpoint.seq
            ))),
            None => Err(bad(format!(
                "the entry {} a checkpoint vouches for is gone: entries were cut off",
                checkpoint.seq
            ))),
        }
    }

    /// Archives the log up to a signed checkpoint: verifies the log, writes
    /// every entry up to the checkpoint's (after any earlier archival) to
    /// `out` as JSON Lines, records a base — the checkpoint's entry and MAC,
    /// each key's last logged record generation, the keys destroyed — and
    /// removes those entries. The log stays verifiable from the base on
    /// (and rollback detection keeps working); the archive is verifiable on
    /// its own against the checkpoint, whose MAC is its last line's.
    /// Administrators only; audited. An interrupted archival is finished by
    /// calling it again with the same checkpoint. Returns the number of
    /// entries written to `out`.
    ///
    /// `out` is flushed before anything is removed: give it a flush that
    /// makes the archive durable (`keylife audit archive` syncs the file and
    /// renames it into place there), so a crash never loses entries.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::{Aead, Signing}};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let signer = store.create_active(KeySpec::<Signing>::new("audit-signer"))?;
    /// store.create(KeySpec::<Aead>::new("k"))?;
    /// let cp = store.audit_checkpoint(&signer)?;
    /// let mut archive = Vec::new();
    /// let n = store.archive_audit(&cp, &signer.public_key(None)?, &mut archive)?;
    /// assert_eq!(n, cp.seq);
    /// store.create(KeySpec::<Aead>::new("later"))?;
    /// let v = store.verify_audit()?; // from the base on
    /// assert!(v.entries < v.head_seq);
    /// store.verify_integrity()?;
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::AuthenticationFailed`] for a checkpoint `signer` did not
    /// sign; [`ErrorKind::Integrity`] when the log does not verify or does
    /// not hold the checkpoint's entry; [`ErrorKind::InvalidArgument`] for a
    /// checkpoint before the current base; [`ErrorKind::PermissionDenied`];
    /// I/O errors on `out` as [`ErrorKind::Storage`] (nothing is removed
    /// then).
    pub fn archive_audit(
        &self,
        checkpoint: &crate::governance::audit::AuditCheckpoint,
        signer: &crate::PublicKey,
        out: &mut dyn std::io::Write,
    ) -> Result<u64> {
        let reason = format!("entries up to {} archived", checkpoint.seq);
        let res = (|| {
            authorize(&self.principal, Operation::ArchiveAudit)?;
            checkpoint.verify(signer)?;
            self.flush_audit()?;
            let backend = &*self.inner.backend;
            let sealer = self.sealer()?;
            let old = log::base(backend, &sealer)?;
            let mut base = old.clone().unwrap_or_default();
            if checkpoint.seq < base.seq {
                return Err(Error::invalid(format!(
                    "the log is archived up to entry {} already; this checkpoint is at {}",
                    base.seq, checkpoint.seq
                )));
            }
            let mut written = 0u64;
            log::verify(backend, &sealer, |e| {
                if e.seq <= checkpoint.seq {
                    writeln!(out, "{}", e.to_json()?).map_err(|err| {
                        Error::new(ErrorKind::Storage, format!("audit archive: {err}"))
                    })?;
                    base.absorb(e);
                    written += 1;
                }
                Ok(())
            })?;
            out.flush()
                .map_err(|err| Error::new(ErrorKind::Storage, format!("audit archive: {err}")))?;
            self.check_checkpoint_entry(checkpoint)?;
            if base.seq != checkpoint.seq {
                return Err(Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "audit log: entry {} was not found while archiving",
                        checkpoint.seq
                    ),
                ));
            }
            if old.as_ref().is_none_or(|o| o.seq != base.seq) {
                let put =
                    self.sealed_put(log::BASE_ID, &base, crate::store::backend::Expect::Any)?;
                let draft = self.draft(
                    &self.principal,
                    Operation::ArchiveAudit,
                    None,
                    None,
                    &Ok(()),
                    Some(&reason),
                );
                self.commit_logged(std::slice::from_ref(&draft), vec![put])?;
            }
            log::prune(backend, checkpoint.seq)?;
            Ok(written)
        })();
        if let Err(e) = &res {
            self.audit_as(
                &self.principal,
                Operation::ArchiveAudit,
                None,
                None,
                Err(e.clone()),
                Some(&reason),
            )?;
        }
        res
    }

    /// Verifies only what was added to the log since a checkpoint: the
    /// checkpoint's signature under `signer` (the public key of the key
    /// that signed it), the checkpoint's entry against the log, and every
    /// entry after it — seals, MACs, links, sequence, head. Work is
    /// proportional to the entries added since, not to the log: an auditor
    /// who verified the whole log once and kept a signed checkpoint checks
    /// a day's additions in the time they take. `entries` in the result
    /// counts the entries checked. Auditors and administrators.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::{Aead, Signing}};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let signer = store.create_active(KeySpec::<Signing>::new("audit-signer"))?;
    /// let cp = store.audit_checkpoint(&signer)?;
    /// store.create(KeySpec::<Aead>::new("later"))?;
    /// let v = store.verify_audit_since(&cp, &signer.public_key(None)?)?;
    /// assert!(v.entries < v.head_seq); // only the new entries were read
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::AuthenticationFailed`] for a checkpoint `signer` did not
    /// sign; [`ErrorKind::Integrity`] when the log no longer holds the
    /// checkpoint's entry or anything after it is broken;
    /// [`ErrorKind::PermissionDenied`].
    pub fn verify_audit_since(
        &self,
        checkpoint: &crate::governance::audit::AuditCheckpoint,
        signer: &crate::PublicKey,
    ) -> Result<AuditVerification> {
        self.audited_read(|| {
            checkpoint.verify(signer)?;
            let mac = self.check_checkpoint_entry(checkpoint)?;
            log::verify_from(
                &*self.inner.backend,
                &*self.sealer()?,
                checkpoint.seq,
                mac,
                |_| Ok(()),
            )
        })
    }

    /// Verifies the log and that it still contains the entry a checkpoint
    /// vouched for: a log cut back or rewritten before the checkpoint fails.
    /// (Check the checkpoint's signature with [`crate::governance::audit::AuditCheckpoint::verify`].)
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] if the log no longer matches the checkpoint.
    pub fn verify_audit_against(
        &self,
        checkpoint: &crate::governance::audit::AuditCheckpoint,
    ) -> Result<AuditVerification> {
        let v = self.verify_audit()?;
        self.check_checkpoint_entry(checkpoint)?;
        Ok(v)
    }
}
