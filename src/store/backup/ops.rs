//! [`KeyStore::backup`], [`KeyStore::restore`] and
//! [`KeyStore::restore_drill`]; formats and types in [`crate::store::backup`].

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use zeroize::Zeroize;

use super::{
    Backup, BackupId, BundleInfo, CustodianShare, RestoreReport, encode_header, encode_share,
    parse_bundle, parse_share,
};
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::kcv::CheckValue;
use crate::crypto::{AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN, SYM_KEY_LEN, fill_random};
use crate::governance::policy::ApprovalOperation;
use crate::governance::principal::Role;
use crate::key::Operation;
use crate::key::{KeyId, KeyInfo};
use crate::store::audit::Draft;
use crate::store::backend::{Expect, WriteOp};
use crate::store::record::{self, StoredKey};
use crate::store::{KeyStore, Loaded, authorize, key_record_id};

/// The decrypted payload (see the bundle format in [`crate::store::backup`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    check_values: Vec<KcvEntry>,
    record: StoredKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KcvEntry {
    version: u32,
    value: String,
}

/// One verified key from a bundle.
struct Verified {
    generation: u64,
    info: KeyInfo,
    material: Vec<(u32, Loaded)>,
}

/// A verified bundle, ready to plan a restore.
struct Opened {
    info: BundleInfo,
    keys: Vec<Verified>,
    check_values: Vec<(KeyId, u32, CheckValue)>,
    custodians_used: Vec<String>,
}

/// What a restore does with one key.
enum Plan {
    Write { generation: u64 },
    Skip(String),
}

fn integrity(msg: String) -> Error {
    Error::new(ErrorKind::Integrity, format!("backup bundle: {msg}"))
}

/// The same error with `what` in front of its message.
fn within(what: &str, e: Error) -> Error {
    let msg = e.message().unwrap_or(e.kind().as_str()).to_owned();
    Error::new(e.kind(), format!("{what}: {msg}"))
}

impl KeyStore {
    /// Backs up keys `ids` (any state: destroyed keys travel as tombstones,
    /// without material) into an encrypted bundle under a fresh random
    /// backup key, split into one share per custodian so that any `k` of
    /// them restore it. Administrators only; audited per key.
    ///
    /// The bundle holds each key's full record — metadata, versions, state
    /// history and the material of every version that still has it — and
    /// each version's key check value. See [`crate::store::backup`] for the
    /// formats and an example.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] unless administrator, or for a
    /// custodian that is not a registered principal with the custodian
    /// role (shares go only to trusted destinations);
    /// [`ErrorKind::InvalidArgument`] for no keys, a key named twice, fewer
    /// than 2 or more than 255 custodians, an empty, duplicated or over-long
    /// custodian name, or `k` outside `2..=custodians.len()`;
    /// [`ErrorKind::NotFound`] for an unknown key; storage and integrity
    /// errors.
    pub fn backup(&self, ids: &[KeyId], k: u8, custodians: &[&str]) -> Result<Backup> {
        match self.backup_inner(ids, k, custodians) {
            Ok((backup, drafts)) => {
                self.commit_logged(&drafts, Vec::new())?;
                Ok(backup)
            }
            Err(e) => {
                self.audit(Operation::Backup, None, None, Err(e.clone()))?;
                Err(e)
            }
        }
    }

    fn backup_inner(
        &self,
        ids: &[KeyId],
        k: u8,
        custodians: &[&str],
    ) -> Result<(Backup, Vec<Draft>)> {
        authorize(&self.principal, Operation::Backup)?;
        let n = u8::try_from(custodians.len())
            .ok()
            .filter(|&n| n >= 2)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "a backup needs 2 to 255 custodians, {} named",
                    custodians.len()
                ))
            })?;
        if k < 2 || k > n {
            return Err(Error::invalid(format!(
                "a threshold of {k} of {n} custodians is not allowed: need 2 <= k <= {n}"
            )));
        }
        let mut names = HashSet::new();
        for c in custodians {
            if c.is_empty() || c.len() > 255 {
                return Err(Error::invalid(
                    "a custodian name is 1 to 255 bytes of UTF-8",
                ));
            }
            if !names.insert(*c) {
                return Err(Error::invalid(format!("custodian {c:?} is named twice")));
            }
        }
        // Shares go only to trusted destinations: registered custodians.
        for c in custodians {
            let registered = match self.registered_principal(c) {
                Ok(p) => p.has_role(Role::Custodian),
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(e),
            };
            if !registered {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "backup shares go only to registered custodians: {c:?} is not a \
                         principal with the custodian role (KeyStore::register_principal)"
                    ),
                ));
            }
        }
        if ids.is_empty() {
            return Err(Error::invalid("nothing to back up: no keys named"));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(Error::invalid(format!("key {dup} is named twice")));
        }
        let backup_id = BackupId::random()?;
        let why = format!("backup {backup_id}");

        // Each key's record and check values, one key lock at a time.
        let mut entries: Vec<(SecretBytes, String)> = Vec::with_capacity(ids.len());
        let mut drafts = Vec::with_capacity(ids.len() + 1);
        for id in ids {
            let cell = self.cell(id)?;
            let data = cell.read()?;
            let mut material: Vec<(u32, &Loaded)> = Vec::new();
            let mut kcvs = Vec::new();
            for (i, m) in data.material.iter().enumerate() {
                if let Some(m) = m {
                    let v =
                        u32::try_from(i + 1).map_err(|_| Error::internal("too many versions"))?;
                    material.push((v, m));
                    let cv = CheckValue::of(m.raw.expose_secret());
                    kcvs.push(format!(r#"{{"version":{v},"value":"{cv}"}}"#));
                }
            }
            let rec = record::encode(data.generation, &data.info, &material)?;
            entries.push((rec, kcvs.join(",")));
            drafts.push(self.draft(
                &self.principal,
                Operation::Backup,
                Some(*id),
                None,
                &Ok(()),
                Some(&why),
            ));
        }
        let payload = payload_json(&entries)?;
        drop(entries);

        let info = BundleInfo {
            backup_id,
            created_at: self.now(),
            key_count: u32::try_from(ids.len()).map_err(|_| Error::invalid("too many keys"))?,
            threshold: k,
            custodians: custodians.iter().map(|c| (*c).to_owned()).collect(),
        };
        let sealed_len = GCM_NONCE_LEN + payload.len() + GCM_TAG_LEN;
        let header = encode_header(&info, sealed_len)?;
        // The backup key encrypts this one message; the nonce is random
        // anyway, so nothing depends on that.
        let key = SecretBytes::random(SYM_KEY_LEN)?;
        let mut nonce = [0u8; GCM_NONCE_LEN];
        fill_random(&mut nonce)?;
        // One exact-size allocation: the plaintext is sealed in place and
        // never copied into a buffer that could reallocate.
        let mut bundle = Vec::with_capacity(header.len() + sealed_len);
        bundle.extend_from_slice(&header);
        bundle.extend_from_slice(&nonce);
        bundle.extend_from_slice(payload.expose_secret());
        drop(payload);
        let sealed = {
            let (aad, rest) = bundle.split_at_mut(header.len());
            let buf = rest.get_mut(GCM_NONCE_LEN..).unwrap_or_default();
            AesGcmKey::new(key.expose_secret()).and_then(|k| k.seal_in_place(&nonce, aad, buf))
        };
        let tag = match sealed {
            Ok(t) => t,
            Err(e) => {
                bundle.zeroize();
                return Err(e);
            }
        };
        bundle.extend_from_slice(&tag);

        let shares = crate::crypto::shamir::split(key.expose_secret(), k, n)?;
        let shares = shares
            .iter()
            .zip(custodians)
            .map(|(s, c)| CustodianShare {
                custodian: (*c).to_owned(),
                text: encode_share(&backup_id, k, n, s.x, s.y.expose_secret()),
            })
            .collect();
        drafts.push(self.draft(
            &self.principal,
            Operation::Backup,
            None,
            None,
            &Ok(()),
            Some(&format!(
                "{why}: {} key(s), {k} of {n} shares for {}",
                ids.len(),
                custodians.join(", ")
            )),
        ));
        Ok((
            Backup {
                backup_id,
                bundle,
                shares,
            },
            drafts,
        ))
    }

    /// Restores the keys of a backup bundle with at least k of its shares.
    ///
    /// Keys keep their ids, versions, metadata, state and history, so data
    /// encrypted before the backup decrypts after the restore. A key
    /// already in this store is never overwritten, and one destroyed here
    /// (including after the backup was taken) is never resurrected: both
    /// are skipped and listed in the report. Everything is verified before
    /// anything is written (shares, decryption, integrity, every key check
    /// value); then all keys are written in one commit. Administrators only,
    /// with the approvals policy requires for `restore`; audited per key.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for a bundle that is not one or is cut
    /// short, or a share that is not one or has a typo (checksum);
    /// [`ErrorKind::UnsupportedVersion`] for a bundle or share from a newer
    /// format; [`ErrorKind::InvalidArgument`] for a share of another
    /// backup, the same share twice, or fewer shares than the threshold;
    /// [`ErrorKind::AuthenticationFailed`] for an altered bundle or a wrong
    /// share; [`ErrorKind::Integrity`] when a check value does not match;
    /// [`ErrorKind::ApprovalRequired`]; [`ErrorKind::PermissionDenied`];
    /// [`ErrorKind::Conflict`] if a key appeared meanwhile (nothing is
    /// written).
    pub fn restore(&self, bundle: &[u8], shares: &[&str]) -> Result<RestoreReport> {
        self.restore_with(bundle, shares, false)
    }

    /// A restore drill: everything [`KeyStore::restore`] checks —
    /// shares, decryption and integrity of the bundle, every key check
    /// value, which keys would be restored or skipped here — without
    /// writing any key. Audited as a drill. Needs no approvals.
    ///
    /// # Errors
    /// As [`KeyStore::restore`], except approvals and conflicts.
    pub fn restore_drill(&self, bundle: &[u8], shares: &[&str]) -> Result<RestoreReport> {
        self.restore_with(bundle, shares, true)
    }

    fn restore_with(&self, bundle: &[u8], shares: &[&str], drill: bool) -> Result<RestoreReport> {
        let op = if drill {
            Operation::RestoreDrill
        } else {
            Operation::Restore
        };
        let res = (|| {
            authorize(&self.principal, op)?;
            let opened = open_bundle(self.crypto_provider(), bundle, shares)?;
            let plans = self.plan(&opened.keys)?;
            self.restore_planned(opened, plans, drill, op)
        })();
        if let Err(e) = &res {
            self.audit(op, None, None, Err(e.clone()))?;
        }
        res
    }

    /// Decides, per key, whether to write it, by what is in this store and
    /// in its audit log.
    fn plan(&self, keys: &[Verified]) -> Result<Vec<Plan>> {
        let sealer = self.sealer()?;
        // From the log: keys destroyed here, and the last generation
        // written per key (a rewritten record must not be older).
        let mut destroyed: HashSet<KeyId> = HashSet::new();
        let mut logged: HashMap<KeyId, u64> = HashMap::new();
        // What archived entries contributed, kept in the log's base.
        if let Some(b) = crate::store::audit::base(&*self.inner.backend, &sealer)? {
            destroyed.extend(b.destroyed);
            logged.extend(b.generations);
        }
        self.flush_audit()?;
        crate::store::audit::verify(&*self.inner.backend, &sealer, |e| {
            if let Some(k) = e.key_id {
                if e.operation == Operation::Destroy && e.outcome == crate::Outcome::Success {
                    destroyed.insert(k);
                }
                if let Some(g) = e.generation {
                    let best = logged.entry(k).or_insert(g);
                    *best = (*best).max(g);
                }
            }
            Ok(())
        })?;
        let mut plans = Vec::with_capacity(keys.len());
        for key in keys {
            let id = key.info.id;
            let rid = key_record_id(&id);
            let plan = match self.inner.backend.get(&rid)? {
                Some(rec) => {
                    let plain = sealer.open(&rid, &rec.value)?;
                    let here = record::decode(&rid, plain.expose_secret())?.info.state;
                    if here.has_material() {
                        Plan::Skip(format!(
                            "already in this store (state {here}; backed up as {}): an existing key is never overwritten",
                            key.info.state
                        ))
                    } else {
                        Plan::Skip(format!(
                            "destroyed in this store (state {here}): a destroyed key is never resurrected"
                        ))
                    }
                }
                None if destroyed.contains(&id) => Plan::Skip(
                    "destroyed in this store (audit log): a destroyed key is never resurrected"
                        .to_owned(),
                ),
                None => Plan::Write {
                    generation: logged
                        .get(&id)
                        .map_or(key.generation, |g| key.generation.max(g + 1)),
                },
            };
            plans.push(plan);
        }
        Ok(plans)
    }

    fn restore_planned(
        &self,
        opened: Opened,
        plans: Vec<Plan>,
        drill: bool,
        op: Operation,
    ) -> Result<RestoreReport> {
        let why = format!("backup {}", opened.info.backup_id);
        let mut report = RestoreReport {
            bundle: opened.info.clone(),
            drill,
            restored: Vec::new(),
            skipped: Vec::new(),
            check_values: opened.check_values,
            custodians_used: opened.custodians_used,
        };
        let mut drafts = Vec::new();
        let mut puts = Vec::new();
        let mut written = Vec::new();
        for (key, plan) in opened.keys.iter().zip(plans) {
            let id = key.info.id;
            match plan {
                Plan::Skip(reason) => report.skipped.push((id, reason)),
                Plan::Write { generation } => {
                    report.restored.push(id);
                    if drill {
                        continue;
                    }
                    let material: Vec<(u32, &Loaded)> =
                        key.material.iter().map(|(v, m)| (*v, m)).collect();
                    let value = self.seal_key(generation, &key.info, &material)?;
                    puts.push(WriteOp::Put {
                        id: key_record_id(&id),
                        value,
                        expect: Expect::Absent,
                    });
                    let mut d =
                        self.draft(&self.principal, op, Some(id), None, &Ok(()), Some(&why));
                    d.generation = Some(generation);
                    drafts.push(d);
                    written.push((id, generation));
                }
            }
        }
        let summary = format!(
            "{why}{}: {} key(s) {}, {} skipped; shares of {}",
            if drill { " (drill)" } else { "" },
            report.restored.len(),
            if drill { "restorable" } else { "restored" },
            report.skipped.len(),
            report.custodians_used.join(", ")
        );
        drafts.push(self.draft(&self.principal, op, None, None, &Ok(()), Some(&summary)));
        if !puts.is_empty() {
            self.consume_approval(ApprovalOperation::Restore, None)?;
        }
        self.commit_logged(&drafts, puts)?;
        for (id, g) in written {
            self.saw_generation(&id, g);
        }
        Ok(report)
    }
}

/// `{"keys":[{"check_values":[…],"record":<record>},…]}` in one zeroizing
/// buffer of the exact size (records hold key material).
fn payload_json(entries: &[(SecretBytes, String)]) -> Result<SecretBytes> {
    const OPEN: &[u8] = b"{\"keys\":[";
    const CLOSE: &[u8] = b"]}";
    let heads: Vec<String> = entries
        .iter()
        .map(|(_, kcv)| format!(r#"{{"check_values":[{kcv}],"record":"#))
        .collect();
    let total = OPEN.len()
        + CLOSE.len()
        + entries
            .iter()
            .zip(&heads)
            .map(|((rec, _), h)| h.len() + rec.len() + 1)
            .sum::<usize>()
        + entries.len().saturating_sub(1);
    let mut out = SecretBytes::zeroed(total);
    let buf = out.expose_secret_mut();
    let mut pos = 0;
    let mut put = |bytes: &[u8]| -> Result<()> {
        let dst = buf
            .get_mut(pos..pos + bytes.len())
            .ok_or_else(|| Error::internal("backup payload size"))?;
        dst.copy_from_slice(bytes);
        pos += bytes.len();
        Ok(())
    };
    put(OPEN)?;
    for (i, ((rec, _), head)) in entries.iter().zip(&heads).enumerate() {
        if i > 0 {
            put(b",")?;
        }
        put(head.as_bytes())?;
        put(rec.expose_secret())?;
        put(b"}")?;
    }
    put(CLOSE)?;
    if pos != total {
        return Err(Error::internal("backup payload size"));
    }
    Ok(out)
}

/// Parses the bundle and the shares, combines the shares, decrypts and
/// verifies everything. Writes nothing.
fn open_bundle(provider: crate::CryptoProvider, bundle: &[u8], shares: &[&str]) -> Result<Opened> {
    let parsed = parse_bundle(bundle)?;
    let info = parsed.info;
    let id = info.backup_id;
    let n = u8::try_from(info.custodians.len()).unwrap_or(u8::MAX);
    let mut points: Vec<(u8, SecretBytes)> = Vec::with_capacity(shares.len());
    let mut used = Vec::new();
    for (i, text) in shares.iter().enumerate() {
        let what = format!("share {} of {}", i + 1, shares.len());
        let s = parse_share(text).map_err(|e| within(&what, e))?;
        if s.info.backup_id != id {
            return Err(Error::invalid(format!(
                "{what} belongs to backup {}, not to this bundle's backup {id}",
                s.info.backup_id
            )));
        }
        if s.info.threshold != info.threshold || s.info.shares != n {
            return Err(Error::invalid(format!(
                "{what} is one of a {}-of-{} split, but the bundle says {}-of-{n}",
                s.info.threshold, s.info.shares, info.threshold
            )));
        }
        let custodian = info
            .custodians
            .get(usize::from(s.info.x) - 1)
            .cloned()
            .unwrap_or_default();
        if let Some(j) = points.iter().position(|(x, _)| *x == s.info.x) {
            return Err(Error::invalid(format!(
                "{what} duplicates share {} (both are {custodian}'s share, number {})",
                j + 1,
                s.info.x
            )));
        }
        if s.y.len() != SYM_KEY_LEN {
            return Err(Error::malformed(format!(
                "{what} holds {} bytes; a backup key share is {SYM_KEY_LEN}",
                s.y.len()
            )));
        }
        points.push((s.info.x, s.y));
        used.push(custodian);
    }
    if points.len() < usize::from(info.threshold) {
        return Err(Error::invalid(format!(
            "backup {id} needs {} of its {n} shares; {} given",
            info.threshold,
            points.len()
        )));
    }
    let refs: Vec<(u8, &[u8])> = points
        .iter()
        .map(|(x, y)| (*x, y.expose_secret()))
        .collect();
    let key = crate::crypto::shamir::combine(&refs)?;
    drop(points);

    let body = parsed.body;
    let (nonce, rest) = body.split_at(GCM_NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - GCM_TAG_LEN);
    let nonce: [u8; GCM_NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| Error::internal("nonce length"))?;
    let tag: [u8; GCM_TAG_LEN] = tag.try_into().map_err(|_| Error::internal("tag length"))?;
    let mut plain = SecretBytes::from_slice(ct);
    AesGcmKey::new(key.expose_secret())?
        .open_in_place(&nonce, parsed.header, plain.expose_secret_mut(), &tag)
        .map_err(|_| {
            Error::new(
                ErrorKind::AuthenticationFailed,
                format!("backup bundle {id} does not authenticate: the bundle was altered, or a share is not the one made for it"),
            )
        })?;
    let payload: Payload = serde_json::from_slice(plain.expose_secret()).map_err(|e| {
        integrity(format!(
            "authentic but does not decode (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    drop(plain);
    if u32::try_from(payload.keys.len()).ok() != Some(info.key_count) {
        return Err(integrity(format!(
            "the header says {} keys but the payload holds {}",
            info.key_count,
            payload.keys.len()
        )));
    }
    let mut keys = Vec::with_capacity(payload.keys.len());
    let mut check_values = Vec::new();
    let mut ids = HashSet::new();
    for entry in payload.keys {
        let StoredKey {
            generation,
            info: kinfo,
            material,
            chain,
        } = entry.record;
        let kid = kinfo.id;
        // Bundles hold every key with its versions inline.
        if chain.is_some() {
            return Err(integrity(format!(
                "key {kid} has a version chain in a bundle"
            )));
        }
        if !ids.insert(kid) {
            return Err(integrity(format!("key {kid} appears twice")));
        }
        if entry.check_values.len() != material.len() {
            return Err(integrity(format!(
                "key {kid}: {} check values for {} versions with material",
                entry.check_values.len(),
                material.len()
            )));
        }
        let mut loaded = Vec::with_capacity(material.len());
        for m in material {
            let v = m.version;
            if kinfo.version(v).is_none() {
                return Err(integrity(format!(
                    "key {kid} has material for unknown version {v}"
                )));
            }
            let recorded: CheckValue = entry
                .check_values
                .iter()
                .find(|c| c.version == v)
                .ok_or_else(|| integrity(format!("key {kid} version {v} has no check value")))?
                .value
                .parse()?;
            let actual = CheckValue::of(m.key.expose_secret());
            if actual != recorded {
                return Err(integrity(format!(
                    "key {kid} version {v}: check value {actual} differs from the recorded {recorded}"
                )));
            }
            check_values.push((kid, v, actual));
            let l = Loaded::new(provider, kinfo.algorithm, m.key)
                .map_err(|e| within(&format!("backup bundle: key {kid} version {v}"), e))?;
            loaded.push((v, l));
        }
        if !kinfo.state.has_material() && !loaded.is_empty() {
            return Err(integrity(format!(
                "key {kid} is {} but carries material",
                kinfo.state
            )));
        }
        keys.push(Verified {
            generation,
            info: kinfo,
            material: loaded,
        });
    }
    Ok(Opened {
        info,
        keys,
        check_values,
        custodians_used: used,
    })
}
