//! Cryptographic operations and version management on a loaded key, with
//! the run-time checks that back the typed API: purpose, live state, version
//! state, authorization, usage limits — and one audit event per call.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Key;
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto;
use crate::key::Operation;
use crate::key::ciphertext;
use crate::key::lifecycle::check_use;
use crate::key::{
    Active, Aead, KeyId, KeyInfo, PublicKey, Purpose, StateName, Timestamp, VersionInfo,
    VersionState,
};

use super::message::{check_out_len, open_into, open_message, seal_message, seal_message_to};
use super::{CellData, KeyCell, KeyStore, Loaded, MaterialChange, authorize};

impl KeyStore {
    /// Runs `f` on a key's data after the common checks, and audits it.
    pub(super) fn use_key<R>(
        &self,
        cell: &KeyCell,
        op: Operation,
        f: impl FnOnce(&CellData, &mut Option<u32>) -> Result<R>,
    ) -> Result<R> {
        let mut version = None;
        // One clock read per operation: dates, grants and the audit entry.
        let now = self.now();
        let res = (|| {
            authorize(&self.principal, op)?;
            self.prepare_at(cell, now)?;
            let data = cell.read()?;
            check_use(&data.info, op)?;
            super::governance::check_grant(&self.principal, op, &data.info, now)?;
            f(&data, &mut version)
        })();
        let outcome = res.as_ref().map(|_| ()).map_err(Clone::clone);
        self.audit_at(now, op, Some(cell.id), version, outcome)?;
        // Reading a public key is no use of the key.
        if res.is_ok() && op.is_use() {
            self.note_use(cell, now);
        }
        res
    }

    /// Records the UTC day of a key's last use in its metadata: at most one
    /// record write per key and day (the check is one atomic load), audited
    /// with the write. Best effort: a failure here does not undo the use it
    /// follows, and the next use tries again.
    fn note_use(&self, cell: &KeyCell, now: Timestamp) {
        const DAY_MS: i64 = 86_400_000;
        let day = now.as_millis() - now.as_millis().rem_euclid(DAY_MS);
        if cell.last_used_day.load(Ordering::Relaxed) >= day {
            return;
        }
        let res = self.mutate(cell, |info, _, drafts| {
            if info.last_used.is_some_and(|d| d.as_millis() >= day) {
                return Ok(MaterialChange::None);
            }
            info.last_used = Some(Timestamp(day));
            drafts.push(self.draft(
                &self.principal,
                Operation::RecordUse,
                Some(info.id),
                None,
                &Ok(()),
                None,
            ));
            Ok(MaterialChange::None)
        });
        if res.is_ok() {
            cell.last_used_day.fetch_max(day, Ordering::Relaxed);
        }
    }

    pub(crate) fn op_encrypt(&self, cell: &KeyCell, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.with_invocation(cell, |m, v, pid| {
            seal_message(m.aes()?, &cell.id, v, pt, aad, pid)
        })
    }

    pub(crate) fn op_encrypt_to(
        &self,
        cell: &KeyCell,
        pt: &[u8],
        aad: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        // Refused before an invocation is counted.
        check_out_len(pt.len(), out.len())?;
        self.with_invocation(cell, |m, v, pid| {
            seal_message_to(m.aes()?, &cell.id, v, pt, aad, pid, out)
        })
    }

    /// Runs one AES-GCM encryption with the primary version: the common
    /// checks, then one invocation taken from the reserved block (reserving
    /// a new block, or rotating at the limit, first when needed), then `f`
    /// with the version's key and number; one audit event.
    pub(super) fn with_invocation<R>(
        &self,
        cell: &KeyCell,
        f: impl FnOnce(&Loaded, u32, u32) -> Result<R>,
    ) -> Result<R> {
        let mut version = None;
        let now = self.now();
        let pid = crate::sys::current_pid();
        let res = (|| {
            authorize(&self.principal, Operation::Encrypt)?;
            loop {
                self.prepare_at(cell, now)?;
                {
                    let data = cell.read()?;
                    check_use(&data.info, Operation::Encrypt)?;
                    super::governance::check_grant(
                        &self.principal,
                        Operation::Encrypt,
                        &data.info,
                        now,
                    )?;
                    let (v, material) = data.primary()?;
                    let idx =
                        usize::try_from(v - 1).map_err(|_| Error::internal("version index"))?;
                    let usage = data
                        .usage
                        .get(idx)
                        .ok_or_else(|| Error::internal("usage slot missing"))?;
                    if usage.try_take(pid).is_some() {
                        version = Some(v);
                        return f(material, v, pid);
                    }
                }
                self.reserve_usage(cell)?;
            }
        })();
        let outcome = res.as_ref().map(|_| ()).map_err(Clone::clone);
        self.audit_at(now, Operation::Encrypt, Some(cell.id), version, outcome)?;
        if res.is_ok() {
            self.note_use(cell, now);
        }
        res
    }

    /// Persists a new block of invocations for the primary version before
    /// any of them is used (NIST SP 800-38D §8.3 bound, never under-counted).
    /// At the limit: rotates if the key says so, otherwise refuses.
    fn reserve_usage(&self, cell: &KeyCell) -> Result<()> {
        let block = self.inner_options().usage_block.max(1);
        let now = self.now();
        let sched = crate::Principal::scheduler();
        let usage = self.principal.clone();
        self.mutate(cell, |info, data, drafts| {
            let v = info.primary_version;
            let idx = usize::try_from(v - 1).map_err(|_| Error::internal("version index"))?;
            // Someone else in this process may already have reserved.
            if data.usage.get(idx).is_some_and(|u| u.unused() > 0) {
                return Ok(MaterialChange::None);
            }
            let limit = info.usage_limit;
            let vi = info
                .version_mut(v)
                .ok_or_else(|| Error::internal("primary version missing"))?;
            let start = vi.usage_count;
            if start >= limit {
                if info.rotate_at_usage_limit {
                    let why = Some("usage limit reached");
                    drafts.push(self.draft(
                        &sched,
                        Operation::Rotate,
                        Some(info.id),
                        Some(v + 1),
                        &Ok(()),
                        why,
                    ));
                    return rotate_info(self.crypto_provider(), info, now).map(MaterialChange::Add);
                }
                return Err(Error::new(
                    ErrorKind::UsageLimitExceeded,
                    format!(
                        "version {v} of key {} reached its limit of {limit} encryptions; rotate it",
                        info.id
                    ),
                ));
            }
            let end = start + reservation(block, limit - start);
            vi.usage_count = end;
            let why = format!("reserved invocations {start}..{end} of version {v}");
            drafts.push(self.draft(
                &usage,
                Operation::ReserveUsage,
                Some(info.id),
                Some(v),
                &Ok(()),
                Some(&why),
            ));
            Ok(MaterialChange::Reserve {
                version: v,
                start,
                end,
            })
        })
    }

    /// [`KeyStore::use_key`] for a ciphertext of this cell's key: parses
    /// it, checks it names this key, records its version, then runs `f`.
    fn with_own_ciphertext<R>(
        &self,
        cell: &KeyCell,
        op: Operation,
        ct: &[u8],
        f: impl FnOnce(&CellData, &ciphertext::Parsed<'_>) -> Result<R>,
    ) -> Result<R> {
        self.use_key(cell, op, |data, version| {
            let p = ciphertext::parse(ct)?;
            check_owner(&p.info.key_id, &cell.id)?;
            *version = Some(p.info.key_version);
            f(data, &p)
        })
    }

    pub(crate) fn op_decrypt_to(
        &self,
        cell: &KeyCell,
        ct: &[u8],
        aad: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        self.with_own_ciphertext(cell, Operation::Decrypt, ct, |data, p| {
            if out.len() != p.body.len() {
                return Err(Error::invalid(format!(
                    "the plaintext of this ciphertext is {} bytes; the output has {}",
                    p.body.len(),
                    out.len()
                )));
            }
            open_into(data.processable(p.info.key_version)?.aes()?, p, aad, out)
        })
    }

    pub(crate) fn op_decrypt(&self, cell: &KeyCell, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.with_own_ciphertext(cell, Operation::Decrypt, ct, |data, p| {
            open_message(data, p, aad, false)
        })
    }

    /// Decrypts any keylife ciphertext this principal may decrypt: the key
    /// and version are read from the header (O(1), no trial decryption).
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create_active(KeySpec::<Aead>::new("k"))?;
    /// let ct = key.encrypt(b"secret", b"ctx")?;
    /// assert_eq!(store.decrypt(&ct, b"ctx")?, b"secret");
    /// assert_eq!(store.decrypt(&ct, b"other").unwrap_err().kind(),
    ///            keylife::ErrorKind::AuthenticationFailed);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] / [`ErrorKind::UnsupportedVersion`] for bad
    /// input; [`ErrorKind::NotFound`] for an unknown key;
    /// [`ErrorKind::WrongState`] / [`ErrorKind::VersionUnavailable`] when the
    /// key or version may not process; [`ErrorKind::AuthenticationFailed`]
    /// for a wrong context or tampered ciphertext.
    pub fn decrypt(&self, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let cell = self.cell_of_ciphertext(ct)?;
        self.op_decrypt(&cell, ct, aad)
    }

    /// [`KeyStore::decrypt`] into a buffer the caller owns — exactly
    /// `ciphertext.len() - CIPHERTEXT_OVERHEAD` bytes — without allocating
    /// or copying: one pass from the ciphertext into `out`.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// use keylife::key::CIPHERTEXT_OVERHEAD;
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let ct = store.create_active(KeySpec::<Aead>::new("k"))?.encrypt(b"secret", b"ctx")?;
    /// let mut out = vec![0u8; ct.len() - CIPHERTEXT_OVERHEAD];
    /// store.decrypt_to(&ct, b"ctx", &mut out)?;
    /// assert_eq!(out, b"secret");
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an output of another length; as
    /// [`KeyStore::decrypt`]. On failure `out` is untouched, or zeroed when
    /// authentication fails on the AWS-LC provider.
    pub fn decrypt_to(&self, ct: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        let cell = self.cell_of_ciphertext(ct)?;
        self.op_decrypt_to(&cell, ct, aad, out)
    }

    /// The cell of the key a ciphertext's header names (not yet prepared:
    /// the operation does that); a failure is audited as a decryption.
    fn cell_of_ciphertext(&self, ct: &[u8]) -> Result<Arc<KeyCell>> {
        let info = match ciphertext::CiphertextInfo::parse(ct) {
            Ok(i) => i,
            Err(e) => {
                self.audit(Operation::Decrypt, None, None, Err(e.clone()))?;
                return Err(e);
            }
        };
        match self.lookup_cell(&info.key_id) {
            Ok(c) => Ok(c),
            Err(e) => {
                self.audit(
                    Operation::Decrypt,
                    Some(info.key_id),
                    Some(info.key_version),
                    Err(e.clone()),
                )?;
                Err(e)
            }
        }
    }

    /// Rewraps many ciphertexts (of any keys this principal may rewrap)
    /// under their keys' primary versions, all or nothing: the result holds
    /// one new ciphertext per input, in order, or the first failure, naming
    /// its index. Successful uses are aggregated in the audit log, so a
    /// batch costs a few commits however long it is; a ciphertext already
    /// under its key's primary version is re-encrypted too (fresh nonce).
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create_active(KeySpec::<Aead>::new("k"))?;
    /// let cts: Vec<Vec<u8>> = (0..3).map(|i| key.encrypt(&[i], b"")).collect::<Result<_, _>>()?;
    /// key.rotate()?;
    /// let new = store.rewrap_many(&cts, b"")?;
    /// assert!(new.iter().all(|c| keylife::CiphertextInfo::parse(c).map(|i| i.key_version).ok() == Some(2)));
    /// let mut bad = cts.clone();
    /// bad[1][40] ^= 1;
    /// let err = store.rewrap_many(&bad, b"").unwrap_err();
    /// assert!(err.to_string().contains("ciphertext 1"));
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KeyStore::decrypt`] and [`Key::rewrap`], for the first
    /// ciphertext that fails (its index in the message).
    pub fn rewrap_many<C: AsRef<[u8]>>(&self, cts: &[C], aad: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(cts.len());
        for (i, ct) in cts.iter().enumerate() {
            let ct = ct.as_ref();
            let res = self
                .cell_of_ciphertext(ct)
                .and_then(|cell| self.op_rewrap(&cell, ct, aad));
            match res {
                Ok(c) => out.push(c),
                Err(e) => {
                    let msg = format!("ciphertext {i} of the batch: {e}");
                    return Err(Error::new(e.kind(), msg));
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn op_rewrap(&self, cell: &KeyCell, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let pt = self.with_own_ciphertext(cell, Operation::Rewrap, ct, |data, p| {
            open_message(data, p, aad, false).map(zeroize::Zeroizing::new)
        })?;
        self.op_encrypt(cell, &pt, aad)
    }

    /// The audited decrypt-to-rewrap override: moves a ciphertext made under
    /// a **compromised** key (or a compromised version) to `target` without
    /// the plaintext ever reaching the caller.
    ///
    /// Administrators only; every call is audited with its reason.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::WrongState`] unless the
    /// source key is Compromised or the version is; errors of
    /// [`KeyStore::decrypt`] and [`Key::encrypt`].
    pub fn rewrap_compromised(
        &self,
        ct: &[u8],
        aad: &[u8],
        target: &Key<Aead, Active>,
        reason: &str,
    ) -> Result<Vec<u8>> {
        let mut version = None;
        let mut key_id = None;
        let res = (|| {
            authorize(&self.principal, Operation::CompromisedRewrap)?;
            let p = ciphertext::parse(ct)?;
            key_id = Some(p.info.key_id);
            version = Some(p.info.key_version);
            let cell = self.cell(&p.info.key_id)?;
            let data = cell.read()?;
            if data.info.purpose != Purpose::Aead {
                return Err(Error::wrong_purpose("decrypt", data.info.purpose));
            }
            let key_compromised = data.info.state == StateName::Compromised;
            let version_compromised = data
                .info
                .version(p.info.key_version)
                .is_some_and(|v| v.state == VersionState::Compromised);
            if !key_compromised && !version_compromised {
                return Err(Error::wrong_state(
                    "the compromised-key override",
                    data.info.state,
                ));
            }
            self.consume_approval(
                crate::governance::policy::ApprovalOperation::CompromisedDecrypt,
                Some(cell.id),
            )?;
            open_message(&data, &p, aad, true).map(zeroize::Zeroizing::new)
        })();
        let r = if reason.is_empty() {
            None
        } else {
            Some(reason)
        };
        self.audit_as(
            &self.principal,
            Operation::CompromisedRewrap,
            key_id,
            version,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
            r,
        )?;
        target.encrypt(&res?, aad)
    }

    pub(crate) fn op_sign(&self, cell: &KeyCell, msg: &[u8], fixed: bool) -> Result<Vec<u8>> {
        self.use_key(cell, Operation::Sign, |data, version| {
            let (v, material) = data.primary()?;
            *version = Some(v);
            let sk = material.p256()?;
            if fixed {
                sk.sign_fixed(msg).map(|s| s.to_vec())
            } else {
                sk.sign_der(msg)
            }
        })
    }

    pub(crate) fn op_verify(
        &self,
        cell: &KeyCell,
        msg: &[u8],
        sig: &[u8],
        fixed: bool,
    ) -> Result<()> {
        self.use_key(cell, Operation::Verify, |data, version| {
            for (v, m) in data.processable_versions() {
                let sk = m.p256()?;
                let ok = if fixed {
                    sk.verify_fixed(msg, sig)
                } else {
                    sk.verify_der(msg, sig)
                };
                if ok.is_ok() {
                    *version = Some(v);
                    return Ok(());
                }
            }
            Err(Error::auth())
        })
    }

    pub(crate) fn op_mac(&self, cell: &KeyCell, msg: &[u8]) -> Result<[u8; 32]> {
        self.use_key(cell, Operation::Mac, |data, version| {
            let (v, material) = data.primary()?;
            *version = Some(v);
            Ok(crypto::hmac_sha256(material.raw.expose_secret(), &[msg]))
        })
    }

    pub(crate) fn op_verify_mac(&self, cell: &KeyCell, msg: &[u8], tag: &[u8]) -> Result<()> {
        self.use_key(cell, Operation::VerifyMac, |data, version| {
            for (v, m) in data.processable_versions() {
                let expect = crypto::hmac_sha256(m.raw.expose_secret(), &[msg]);
                if crypto::ct_eq(&expect, tag) {
                    *version = Some(v);
                    return Ok(());
                }
            }
            Err(Error::auth())
        })
    }

    pub(crate) fn op_derive(
        &self,
        cell: &KeyCell,
        salt: &[u8],
        info: &[u8],
        len: usize,
        ver: Option<u32>,
    ) -> Result<SecretBytes> {
        self.use_key(cell, Operation::Derive, |data, version| {
            let v = ver.unwrap_or(data.info.primary_version);
            *version = Some(v);
            let m = data.processable(v)?;
            crypto::hkdf_sha256(m.raw.expose_secret(), salt, info, len)
        })
    }

    pub(crate) fn op_agree(
        &self,
        cell: &KeyCell,
        peer: &PublicKey,
        salt: &[u8],
        info: &[u8],
        len: usize,
    ) -> Result<SecretBytes> {
        self.use_key(cell, Operation::Agree, |data, version| {
            let (v, material) = data.primary()?;
            *version = Some(v);
            let shared = material.p256()?.diffie_hellman(peer.inner())?;
            crypto::hkdf_sha256(shared.expose_secret(), salt, info, len)
        })
    }

    pub(crate) fn op_public_key(&self, cell: &KeyCell, ver: Option<u32>) -> Result<PublicKey> {
        let purpose = cell.read()?.info.purpose;
        if !matches!(purpose, Purpose::Signing | Purpose::Agreement) {
            let e = Error::wrong_purpose("public key export", purpose);
            self.audit(Operation::ReadMetadata, Some(cell.id), ver, Err(e.clone()))?;
            return Err(e);
        }
        self.use_key(cell, Operation::ReadMetadata, |data, version| {
            let v = ver.unwrap_or(data.info.primary_version);
            *version = Some(v);
            Ok(PublicKey::from_inner(
                data.material(v)?.p256()?.public_key(),
                self.crypto_provider(),
            ))
        })
    }

    /// Runs a version-management mutation with authorization and audit.
    fn manage(
        &self,
        cell: &KeyCell,
        op: Operation,
        version: Option<u32>,
        reason: &str,
        mut f: impl FnMut(&mut KeyInfo, &CellData) -> Result<MaterialChange>,
    ) -> Result<()> {
        let r = if reason.is_empty() {
            None
        } else {
            Some(reason)
        };
        let res = (|| {
            authorize(&self.principal, op)?;
            self.prepare(cell)?;
            // The success entry is committed with the change itself.
            self.mutate(cell, |info, data, drafts| {
                let change = f(info, data)?;
                drafts.push(self.draft(&self.principal, op, Some(info.id), version, &Ok(()), r));
                Ok(change)
            })
        })();
        if let Err(e) = &res {
            self.audit_as(
                &self.principal,
                op,
                Some(cell.id),
                version,
                Err(e.clone()),
                r,
            )?;
        }
        res
    }

    pub(crate) fn op_rotate(&self, cell: &KeyCell) -> Result<u32> {
        let now = self.now();
        let mut newv = 0;
        self.manage(cell, Operation::Rotate, None, "", |info, _| {
            check_use(info, Operation::Rotate)?;
            newv = info.primary_version + 1;
            rotate_info(self.crypto_provider(), info, now).map(MaterialChange::Add)
        })?;
        Ok(newv)
    }

    pub(crate) fn op_version_state(
        &self,
        cell: &KeyCell,
        v: u32,
        to: VersionState,
        reason: &str,
    ) -> Result<()> {
        let op = if to == VersionState::Destroyed {
            Operation::DestroyVersion
        } else {
            Operation::CompromiseVersion
        };
        self.manage(cell, op, Some(v), reason, |info, _| {
            check_use(info, op)?;
            if v == info.primary_version && to == VersionState::Destroyed {
                return Err(Error::invalid(
                    "the primary version cannot be destroyed; rotate first",
                ));
            }
            let vi = info
                .version_mut(v)
                .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no version {v}")))?;
            match (vi.state, to) {
                (VersionState::Destroyed, _) => {
                    return Err(Error::new(
                        ErrorKind::VersionUnavailable,
                        format!("version {v} is already destroyed"),
                    ));
                }
                (VersionState::Compromised, VersionState::Compromised) => {
                    return Ok(MaterialChange::None);
                }
                _ => vi.state = to,
            }
            Ok(if to == VersionState::Destroyed {
                MaterialChange::DestroyVersion(v)
            } else {
                MaterialChange::None
            })
        })
    }

    pub(crate) fn op_set_owner(&self, cell: &KeyCell, owner: &str) -> Result<()> {
        let owner = owner.trim();
        if owner.is_empty() || owner.len() > 256 {
            return Err(Error::invalid("an owner is 1 to 256 bytes, not blank"));
        }
        let reason = format!("owner {owner}");
        self.manage(cell, Operation::SetOwner, None, &reason, |info, _| {
            info.owner = Some(owner.to_owned());
            Ok(MaterialChange::None)
        })
    }

    pub(crate) fn op_min_decryption_version(&self, cell: &KeyCell, v: u32) -> Result<()> {
        self.manage(
            cell,
            Operation::SetMinDecryptionVersion,
            Some(v),
            "",
            |info, _| {
                check_use(info, Operation::SetMinDecryptionVersion)?;
                if v == 0 || v > info.primary_version {
                    return Err(Error::invalid(format!(
                        "minimum decryption version must be 1..={}",
                        info.primary_version
                    )));
                }
                if v < info.min_decryption_version {
                    return Err(Error::invalid(
                        "the minimum decryption version only moves forward",
                    ));
                }
                info.min_decryption_version = v;
                Ok(MaterialChange::None)
            },
        )
    }
}

/// How many invocations to reserve with `remaining` left under the limit.
///
/// A restart counts every reserved invocation as used: the count is never
/// under-stated (NIST SP 800-38D §8.3), so what was reserved and not used
/// is lost. Far from the limit the store's block is reserved; near it the
/// reservation shrinks to an eighth of what remains (at least one), so a
/// crash or restart costs at most `min(block, max(1, remaining / 8))`
/// invocations: with a limit of 3, two encryptions and a restart leave the
/// third usable.
pub(crate) fn reservation(block: u64, remaining: u64) -> u64 {
    block.min((remaining / 8).max(1)).min(remaining)
}

fn check_owner(ct_key: &KeyId, this: &KeyId) -> Result<()> {
    if ct_key == this {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "ciphertext was made by key {ct_key}, not {this}"
        )))
    }
}

/// Adds a new primary version to `info` and returns its material.
pub(crate) fn rotate_info(
    provider: crate::CryptoProvider,
    info: &mut KeyInfo,
    now: crate::key::Timestamp,
) -> Result<Loaded> {
    let n = info
        .primary_version
        .checked_add(1)
        .ok_or_else(|| Error::invalid("too many versions"))?;
    let material = Loaded::generate(provider, info.algorithm)?;
    info.versions.push(VersionInfo::new(n, now));
    info.primary_version = n;
    info.last_rotated_at = Some(now);
    Ok(material)
}

#[cfg(feature = "hazmat")]
impl KeyStore {
    pub(crate) fn op_raw_encrypt(
        &self,
        cell: &KeyCell,
        nonce: &[u8],
        pt: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        let nonce: [u8; crypto::GCM_NONCE_LEN] = nonce.try_into().map_err(|_| {
            Error::new(
                ErrorKind::Unsupported,
                format!("AES-GCM nonces are {} bytes here", crypto::GCM_NONCE_LEN),
            )
        })?;
        self.with_invocation(cell, |m, _, _| {
            let mut out = pt.to_vec();
            let tag = m.aes()?.seal_in_place(&nonce, aad, &mut out)?;
            out.extend_from_slice(&tag);
            Ok(out)
        })
    }

    pub(crate) fn op_raw_decrypt(
        &self,
        cell: &KeyCell,
        nonce: &[u8],
        ct: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        self.use_key(cell, Operation::Decrypt, |data, version| {
            let nonce: [u8; crypto::GCM_NONCE_LEN] = nonce.try_into().map_err(|_| {
                Error::new(
                    ErrorKind::Unsupported,
                    format!("AES-GCM nonces are {} bytes here", crypto::GCM_NONCE_LEN),
                )
            })?;
            let tag_at = ct
                .len()
                .checked_sub(crypto::GCM_TAG_LEN)
                .ok_or_else(Error::auth)?;
            let mut tag = [0u8; crypto::GCM_TAG_LEN];
            tag.copy_from_slice(&ct[tag_at..]);
            let v = data.info.primary_version;
            *version = Some(v);
            let mut buf = ct[..tag_at].to_vec();
            data.processable(v)?
                .aes()?
                .open_in_place(&nonce, aad, &mut buf, &tag)?;
            Ok(buf)
        })
    }

    pub(crate) fn op_export_raw(&self, cell: &KeyCell, ver: Option<u32>) -> Result<SecretBytes> {
        let mut version = None;
        let res = (|| {
            authorize(&self.principal, Operation::Export)?;
            let data = cell.read()?;
            let (v, m) = self.export_gate(cell, &data, ver)?;
            version = Some(v);
            Ok(m.raw.duplicate())
        })();
        self.audit(
            Operation::Export,
            Some(cell.id),
            version,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }
}

impl KeyStore {
    /// The one rule for letting key material leave the store, in any form:
    /// the key was created exportable, it still has material and is not
    /// Compromised, the version may process, and the approvals policy asks
    /// for are consumed. Returns the version and its material.
    pub(crate) fn export_gate<'a>(
        &self,
        cell: &KeyCell,
        data: &'a CellData,
        version: Option<u32>,
    ) -> Result<(u32, &'a Loaded)> {
        if !data.info.exportable {
            return Err(Error::new(
                ErrorKind::Policy,
                format!("key {} was not created exportable", cell.id),
            ));
        }
        if !data.info.state.has_material() || data.info.state == StateName::Compromised {
            return Err(Error::wrong_state("Export", data.info.state));
        }
        let v = version.unwrap_or(data.info.primary_version);
        let m = data.processable(v)?;
        self.consume_approval(
            crate::governance::policy::ApprovalOperation::Export,
            Some(cell.id),
        )?;
        Ok((v, m))
    }
}
