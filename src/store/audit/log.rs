//! The tamper-evident audit log, kept in the store itself.
//!
//! Every audit event becomes one entry, stored as a sealed record
//! `audit/<seq>` (seq from 1, zero-padded so ids sort in order). Entries are
//! chained and keyed:
//!
//! ```text
//! mac_n = HMAC-SHA-256(audit_key, "keylife/audit/v1\0" || JSON(entry_n without mac))
//! entry_n.prev = mac_{n-1}            (32 zero bytes for n = 1)
//! ```
//!
//! The audit key is a random key wrapped in the store header beside the
//! record keys, so only holders of the KEK can extend the chain. Editing an
//! entry breaks its seal and its MAC; deleting, inserting or reordering
//! breaks the sequence and the `prev` links; cutting entries off the end is
//! caught by the sealed head record `meta/audit-head` and — against someone
//! who can also roll that back — by signed checkpoints held elsewhere
//! ([`crate::AuditCheckpoint`]).
//!
//! Durability: an entry for a state change is committed in the same atomic
//! backend commit as the change itself. Successful cryptographic uses
//! (encrypt, sign, …) are buffered and written in batches
//! ([`crate::StoreOptions::audit_buffer`]), before any later durable entry,
//! on [`crate::KeyStore::flush_audit`], and when the store is dropped; a
//! process killed in between loses at most one buffer of *use* entries,
//! never a state change, a refusal or a failure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::base::encoding::hex;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto;
use crate::governance::audit::{Operation, Outcome};
use crate::governance::principal::Principal;
use crate::key::{KeyId, Timestamp};
use crate::store::backend::{Backend, Expect, WriteOp};
use crate::store::seal::Sealer;

pub(crate) const ENTRY_PREFIX: &str = "audit/";
const HEAD_ID: &str = "meta/audit-head";
/// Where the log starts after an archival (`KeyStore::archive_audit`).
pub(crate) const BASE_ID: &str = "meta/audit-base";
const MAC_DOMAIN: &[u8] = b"keylife/audit/v1\0";

/// One entry of the audit log, as stored and as exported (JSON Lines).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When the operation happened.
    pub at: Timestamp,
    /// Who asked.
    pub principal: String,
    /// What was asked.
    pub operation: Operation,
    /// On which key.
    pub key_id: Option<KeyId>,
    /// On which version.
    pub version: Option<u32>,
    /// How it ended.
    pub outcome: Outcome,
    /// The error kind, when it did not succeed.
    pub error: Option<String>,
    /// The caller's reason, or the error message.
    pub reason: Option<String>,
    /// How many operations this entry stands for: 1, or — for successful
    /// uses aggregated per principal, operation, key and version
    /// ([`crate::AuditUses::Aggregate`]) — their exact count between `at`
    /// and `last_at`.
    pub count: u64,
    /// Time of the last aggregated operation (aggregated entries only).
    pub last_at: Option<Timestamp>,
    /// For operations that wrote the key's record: the record's write
    /// counter afterwards. A stored record older than its last audited
    /// generation was rolled back ([`crate::KeyStore::verify_integrity`]).
    pub generation: Option<u64>,
    /// Hex MAC of the previous entry.
    pub prev: String,
    /// Hex MAC of this entry.
    pub mac: String,
}

impl AuditEntry {
    /// The entry as one JSON line.
    ///
    /// # Errors
    /// Only if serialization fails, which it does not for these types.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal(format!("audit encoding: {e}")))
    }
}

/// An event waiting to be written (principal kept as a cheap handle).
pub(crate) struct Draft {
    pub(crate) at: Timestamp,
    pub(crate) principal: Principal,
    pub(crate) operation: Operation,
    pub(crate) key_id: Option<KeyId>,
    pub(crate) version: Option<u32>,
    pub(crate) outcome: Outcome,
    pub(crate) error: Option<&'static str>,
    pub(crate) reason: Option<String>,
    pub(crate) generation: Option<u64>,
    pub(crate) count: u64,
    pub(crate) last_at: Option<Timestamp>,
}

impl Draft {
    /// Use operations that succeeded may be buffered; everything else is
    /// written before the call returns.
    pub(crate) fn bufferable(&self) -> bool {
        self.outcome == Outcome::Success && Draft::bufferable_use(self.operation)
    }

    /// Operations whose successes may be buffered (and aggregated): the
    /// uses of keys, and the reads of metadata and of the inventory, which
    /// change nothing (issue 14: a `load` from C or Python was a durable
    /// commit each).
    pub(crate) fn bufferable_use(op: Operation) -> bool {
        use Operation::*;
        matches!(
            op,
            Encrypt
                | Decrypt
                | Rewrap
                | Sign
                | Verify
                | Mac
                | VerifyMac
                | Derive
                | Agree
                | ReadMetadata
                | List
        )
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct Head {
    seq: u64,
    #[serde(with = "crate::base::encoding::hex32")]
    mac: [u8; 32],
}

struct HeadState {
    head: Head,
    /// Backend revision of the head record (0: not written yet).
    revision: u64,
}

pub(crate) struct AuditLog {
    head: Mutex<HeadState>,
    buffer: Mutex<Vec<Draft>>,
    /// Aggregated successful uses, one shard per group of threads, so
    /// threads counting uses do not contend on one lock and one cache line
    /// (`count_use`). Merged into `buffer` by every commit.
    shards: [Shard; SHARDS],
    /// Entries in the shards (approximate between merges: a flush trigger).
    pending: AtomicUsize,
    /// Earliest `at` in the shards, in milliseconds (`i64::MAX`: none).
    oldest: AtomicI64,
}

const SHARDS: usize = 16;

/// One lock per cache line pair (no false sharing between shards).
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Vec<Draft>>);

/// The shard of the calling thread: threads take shards round-robin.
fn my_shard() -> usize {
    use std::sync::atomic::AtomicUsize as Counter;
    static NEXT: Counter = Counter::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    MINE.try_with(|m| *m).unwrap_or(0)
}

fn entry_id(seq: u64) -> String {
    format!("{ENTRY_PREFIX}{seq:020}")
}

fn mac_of(key: &[u8], entry: &AuditEntry) -> Result<[u8; 32]> {
    let mut unmacked = entry.clone();
    unmacked.mac.clear();
    let json = serde_json::to_vec(&unmacked)
        .map_err(|e| Error::internal(format!("audit encoding: {e}")))?;
    Ok(crypto::hmac_sha256(key, &[MAC_DOMAIN, &json]))
}

fn read_head(backend: &dyn Backend, sealer: &Sealer) -> Result<HeadState> {
    match backend.get(HEAD_ID)? {
        None => Ok(HeadState {
            head: Head {
                seq: 0,
                mac: [0; 32],
            },
            revision: 0,
        }),
        Some(rec) => {
            let plain = sealer.open(HEAD_ID, &rec.value)?;
            let head: Head = serde_json::from_slice(plain.expose_secret()).map_err(|_| {
                Error::new(
                    ErrorKind::Integrity,
                    format!("record {HEAD_ID} does not decode"),
                )
            })?;
            Ok(HeadState {
                head,
                revision: rec.revision,
            })
        }
    }
}

impl AuditLog {
    pub(crate) fn open(backend: &dyn Backend, sealer: &Sealer) -> Result<AuditLog> {
        Ok(AuditLog {
            head: Mutex::new(read_head(backend, sealer)?),
            buffer: Mutex::new(Vec::new()),
            shards: Default::default(),
            pending: AtomicUsize::new(0),
            oldest: AtomicI64::new(i64::MAX),
        })
    }

    /// Buffers a successful use. With `aggregate`, a use of the same
    /// principal, operation, key and version as a buffered one only counts.
    /// Returns true when the buffer should be written: `limit` entries, or
    /// the oldest waited `max_age`.
    pub(crate) fn buffer(
        &self,
        draft: Draft,
        limit: usize,
        aggregate: bool,
        max_age: core::time::Duration,
    ) -> Result<bool> {
        let mut b = self
            .buffer
            .lock()
            .map_err(|_| Error::internal("audit buffer poisoned"))?;
        let at = draft.at;
        let same = |d: &&mut Draft| {
            d.operation == draft.operation
                && d.key_id == draft.key_id
                && d.version == draft.version
                && d.outcome == draft.outcome
                && d.principal == draft.principal
        };
        match b.iter_mut().find(same).filter(|_| aggregate) {
            Some(d) => {
                d.count += 1;
                d.last_at = Some(at);
            }
            None => b.push(draft),
        }
        let oldest = b.first().map_or(at, |d| d.at);
        let age = u64::try_from(at.as_millis().saturating_sub(oldest.as_millis())).unwrap_or(0);
        Ok(b.len() >= limit || u128::from(age) >= max_age.as_millis())
    }

    /// Counts one more success of a use into its aggregate in the calling
    /// thread's shard (creating the aggregate on the window's first use).
    /// Returns whether the buffers are due to be written: `limit` entries
    /// in all, or the oldest waited `max_age`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn count_use(
        &self,
        at: Timestamp,
        principal: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        limit: usize,
        max_age: core::time::Duration,
    ) -> Result<bool> {
        let shard = self
            .shards
            .get(my_shard())
            .ok_or_else(|| Error::internal("audit shard index"))?;
        let mut b = shard
            .0
            .lock()
            .map_err(|_| Error::internal("audit buffer poisoned"))?;
        let found = b.iter_mut().find(|d| {
            d.operation == op
                && d.key_id == key
                && d.version == version
                && d.principal == *principal
        });
        match found {
            Some(d) => {
                d.count += 1;
                d.last_at = Some(at);
            }
            None => {
                b.push(Draft {
                    at,
                    principal: principal.clone(),
                    operation: op,
                    key_id: key,
                    version,
                    outcome: Outcome::Success,
                    error: None,
                    reason: None,
                    generation: None,
                    count: 1,
                    last_at: None,
                });
                self.pending.fetch_add(1, Ordering::AcqRel);
                // Under the shard lock, so a merge's rescan sees it.
                self.oldest.fetch_min(at.as_millis(), Ordering::AcqRel);
            }
        }
        drop(b);
        let oldest = self.oldest.load(Ordering::Acquire).min(at.as_millis());
        let age = u64::try_from(at.as_millis().saturating_sub(oldest)).unwrap_or(0);
        Ok(self.pending.load(Ordering::Acquire) >= limit || u128::from(age) >= max_age.as_millis())
    }

    /// Moves every shard's aggregates into `buffer` (the caller holds its
    /// lock), oldest first.
    fn merge_shards(&self, buffer: &mut Vec<Draft>) -> Result<()> {
        let before = buffer.len();
        for shard in &self.shards {
            let mut b = shard
                .0
                .lock()
                .map_err(|_| Error::internal("audit buffer poisoned"))?;
            self.pending.fetch_sub(b.len(), Ordering::AcqRel);
            buffer.append(&mut b);
        }
        // Entries pushed after their shard was drained set `oldest` again
        // after this reset, or are found by the rescan below.
        self.oldest.store(i64::MAX, Ordering::Release);
        for shard in &self.shards {
            let b = shard
                .0
                .lock()
                .map_err(|_| Error::internal("audit buffer poisoned"))?;
            if let Some(first) = b.iter().map(|d| d.at.as_millis()).min() {
                self.oldest.fetch_min(first, Ordering::AcqRel);
            }
        }
        if buffer.len() != before {
            buffer.sort_by_key(|d| d.at);
        }
        Ok(())
    }

    /// Writes the buffered entries, then `drafts`, in one commit together
    /// with `extra` (a state change). Returns the revisions of `extra`.
    ///
    /// On a conflict (another writer moved the head, or an `extra`
    /// precondition failed), the head is re-read and the conflict returned:
    /// the caller retries with fresh state. The buffer is only emptied once
    /// its entries are committed.
    pub(crate) fn commit(
        &self,
        backend: &dyn Backend,
        sealer: &Sealer,
        drafts: &[Draft],
        extra: Vec<WriteOp>,
    ) -> Result<Vec<u64>> {
        let mut head = self
            .head
            .lock()
            .map_err(|_| Error::internal("audit head poisoned"))?;
        let mut buffer = self
            .buffer
            .lock()
            .map_err(|_| Error::internal("audit buffer poisoned"))?;
        self.merge_shards(&mut buffer)?;
        // Other processes appending move the head; each move costs one retry.
        for _attempt in 0..64 {
            let mut ops = extra.clone();
            let n_extra = ops.len();
            let mut cur = head.head;
            for d in buffer.iter().chain(drafts) {
                let mut e = AuditEntry {
                    seq: cur.seq + 1,
                    at: d.at,
                    principal: d.principal.name().to_owned(),
                    operation: d.operation,
                    key_id: d.key_id,
                    version: d.version,
                    outcome: d.outcome,
                    error: d.error.map(str::to_owned),
                    reason: d.reason.clone(),
                    count: d.count,
                    last_at: d.last_at,
                    generation: d.generation,
                    prev: hex(&cur.mac),
                    mac: String::new(),
                };
                let mac = mac_of(sealer.audit_key(), &e)?;
                e.mac = hex(&mac);
                let json = serde_json::to_vec(&e)
                    .map_err(|err| Error::internal(format!("audit encoding: {err}")))?;
                let id = entry_id(e.seq);
                ops.push(WriteOp::Put {
                    value: sealer.seal(&id, &json)?,
                    id,
                    expect: Expect::Absent,
                });
                cur = Head { seq: e.seq, mac };
            }
            if cur.seq != head.head.seq {
                let json = serde_json::to_vec(&cur)
                    .map_err(|e| Error::internal(format!("audit encoding: {e}")))?;
                let expect = if head.revision == 0 {
                    Expect::Absent
                } else {
                    Expect::Revision(head.revision)
                };
                ops.push(WriteOp::Put {
                    value: sealer.seal(HEAD_ID, &json)?,
                    id: HEAD_ID.to_owned(),
                    expect,
                });
            }
            if ops.is_empty() {
                return Ok(Vec::new());
            }
            match backend.commit(&ops) {
                Ok(revs) => {
                    if cur.seq != head.head.seq {
                        head.revision = revs.last().copied().unwrap_or(head.revision);
                        head.head = cur;
                    }
                    buffer.clear();
                    return Ok(revs[..n_extra].to_vec());
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    let fresh = read_head(backend, sealer)?;
                    if fresh.revision != head.revision {
                        // Another writer appended: retry on the new head.
                        *head = fresh;
                        continue;
                    }
                    // The head did not move. An entry beyond it cannot be
                    // written legitimately (entries and head are committed
                    // together) — unless another writer appended between
                    // our two reads, which a second look at the head, taken
                    // after the entry, rules out.
                    let next = entry_id(fresh.head.seq + 1);
                    if backend.get(&next)?.is_some() {
                        let again = read_head(backend, sealer)?;
                        if again.revision == fresh.revision {
                            return Err(Error::new(
                                ErrorKind::Integrity,
                                format!(
                                    "audit log: record {next} exists beyond the head: the log was tampered with"
                                ),
                            ));
                        }
                        *head = again;
                        continue;
                    }
                    // The caller's own precondition failed: let it reload.
                    *head = fresh;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            "audit log head kept moving",
        ))
    }

    pub(crate) fn has_buffered(&self) -> bool {
        let any = |m: &Mutex<Vec<Draft>>| m.lock().map(|b| !b.is_empty()).unwrap_or(false);
        any(&self.buffer) || self.shards.iter().any(|s| any(&s.0))
    }
}

/// What [`crate::KeyStore::verify_audit`] found in an intact log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AuditVerification {
    /// Number of entries checked.
    pub entries: u64,
    /// Sequence number of the last entry.
    pub head_seq: u64,
    /// Hex MAC of the last entry (what a checkpoint signs).
    pub head_mac: String,
}

/// What remains of the entries an archival removed: the last one's
/// sequence number and MAC (the next entry links to it), and what
/// `verify_integrity` and restores need from them — each key's last
/// logged record generation, and the keys destroyed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Base {
    pub(crate) seq: u64,
    pub(crate) mac: String,
    pub(crate) generations: std::collections::BTreeMap<KeyId, u64>,
    pub(crate) destroyed: std::collections::BTreeSet<KeyId>,
}

impl Base {
    pub(crate) fn mac_bytes(&self) -> Result<[u8; 32]> {
        crate::base::encoding::parse_hex::<32>(&self.mac).ok_or_else(|| {
            Error::new(
                ErrorKind::Integrity,
                format!("record {BASE_ID} has a malformed MAC"),
            )
        })
    }

    /// Folds one archived entry in.
    pub(crate) fn absorb(&mut self, e: &AuditEntry) {
        if let Some(k) = e.key_id {
            if let Some(g) = e.generation {
                let best = self.generations.entry(k).or_insert(g);
                *best = (*best).max(g);
            }
            if e.operation == Operation::Destroy && e.outcome == Outcome::Success {
                self.destroyed.insert(k);
            }
        }
        self.seq = e.seq;
        self.mac.clone_from(&e.mac);
    }
}

/// The log's base, when part of it was archived.
pub(crate) fn base(backend: &dyn Backend, sealer: &Sealer) -> Result<Option<Base>> {
    let Some(rec) = backend.get(BASE_ID)? else {
        return Ok(None);
    };
    let plain = sealer.open(BASE_ID, &rec.value)?;
    serde_json::from_slice(plain.expose_secret())
        .map(Some)
        .map_err(|_| {
            Error::new(
                ErrorKind::Integrity,
                format!("record {BASE_ID} does not decode"),
            )
        })
}

/// Walks the log from its start (or its base, after an archival): every
/// seal, MAC, `prev` link and sequence number, then the head record. Calls
/// `each` for every verified entry.
pub(crate) fn verify(
    backend: &dyn Backend,
    sealer: &Sealer,
    each: impl FnMut(&AuditEntry) -> Result<()>,
) -> Result<AuditVerification> {
    match base(backend, sealer)? {
        Some(b) => verify_from(backend, sealer, b.seq, b.mac_bytes()?, each),
        None => verify_from(backend, sealer, 0, [0; 32], each),
    }
}

/// Deletes the entries up to `seq` (archived: the base record holds what
/// verification needs of them), in batches. Idempotent: an interrupted
/// prune is finished by the next one, and verification skips entries at
/// or before the base meanwhile.
pub(crate) fn prune(backend: &dyn Backend, seq: u64) -> Result<u64> {
    let last = entry_id(seq);
    let mut deleted = 0u64;
    loop {
        let page = backend.scan(ENTRY_PREFIX, None, 512)?;
        let ops: Vec<WriteOp> = page
            .into_iter()
            .map(|(id, _)| id)
            .take_while(|id| *id <= last)
            .map(|id| WriteOp::Delete {
                id,
                expect: Expect::Any,
            })
            .collect();
        if ops.is_empty() {
            return Ok(deleted);
        }
        deleted += ops.len() as u64;
        backend.commit(&ops)?;
    }
}

/// [`verify`] from entry `start + 1` on, trusting that entry `start` (when
/// not 0) has the MAC `start_mac` — what a verified checkpoint vouches for.
/// `entries` in the result counts only the entries checked.
pub(crate) fn verify_from(
    backend: &dyn Backend,
    sealer: &Sealer,
    start: u64,
    start_mac: [u8; 32],
    mut each: impl FnMut(&AuditEntry) -> Result<()>,
) -> Result<AuditVerification> {
    let broken = |msg: String| Error::new(ErrorKind::Integrity, format!("audit log: {msg}"));
    let mut expect_seq = start + 1;
    let mut prev = start_mac;
    let mut after: Option<String> = (start > 0).then(|| entry_id(start));
    loop {
        let page = backend.scan(ENTRY_PREFIX, after.as_deref(), 512)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (id, rec) in page {
            let plain = sealer.open(&id, &rec.value)?;
            let entry: AuditEntry = serde_json::from_slice(plain.expose_secret())
                .map_err(|_| broken(format!("record {id} does not decode")))?;
            if id != entry_id(entry.seq) {
                return Err(broken(format!("record {id} holds entry {}", entry.seq)));
            }
            if entry.seq != expect_seq {
                return Err(broken(format!(
                    "entry {expect_seq} is missing (next present is {}): entries were deleted or reordered",
                    entry.seq
                )));
            }
            if entry.prev != hex(&prev) {
                return Err(broken(format!(
                    "entry {} does not link to entry {}",
                    entry.seq,
                    entry.seq - 1
                )));
            }
            let mac = mac_of(sealer.audit_key(), &entry)?;
            if !crypto::ct_eq(hex(&mac).as_bytes(), entry.mac.as_bytes()) {
                return Err(broken(format!(
                    "entry {} fails its MAC: it was altered",
                    entry.seq
                )));
            }
            each(&entry)?;
            prev = mac;
            expect_seq += 1;
        }
    }
    let last = expect_seq - 1;
    let head = read_head(backend, sealer)?;
    if head.head.seq != last || head.head.mac != prev {
        return Err(broken(format!(
            "the log ends at entry {last} but its head record says {}: entries were cut off the end",
            head.head.seq
        )));
    }
    Ok(AuditVerification {
        entries: last - start,
        head_seq: last,
        head_mac: hex(&prev),
    })
}

/// Reads one entry (no chain check).
pub(crate) fn entry(
    backend: &dyn Backend,
    sealer: &Sealer,
    seq: u64,
) -> Result<Option<AuditEntry>> {
    let id = entry_id(seq);
    let Some(rec) = backend.get(&id)? else {
        return Ok(None);
    };
    let plain = sealer.open(&id, &rec.value)?;
    serde_json::from_slice(plain.expose_secret())
        .map(Some)
        .map_err(|_| {
            Error::new(
                ErrorKind::Integrity,
                format!("audit log: record {id} does not decode"),
            )
        })
}
