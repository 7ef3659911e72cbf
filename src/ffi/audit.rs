//! `kl_store` audit and integrity: verifying the tamper-evident audit log,
//! exporting it, signed checkpoints, checking every record against it.

use core::ffi::c_char;

use super::key::kl_key;
use super::key_ops::parse_public_key;
use super::{
    KL_AUDIT_CHECKPOINT_JSON_MAX, KL_AUDIT_HEAD_MAC_HEX_LEN, Out, OutBuf, guard, kl_result,
    kl_store, try_bytes, try_ref, try_str,
};
use crate::base::{Error, ErrorKind, Result};
use crate::governance::audit::AuditCheckpoint;

/// Writes audit entries still buffered in memory to the store now. (Every
/// audit read flushes first; this is for a clean shutdown or a checkpoint
/// taken elsewhere.)
///
/// Errors: `KL_ERR_NULL_POINTER`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_flush_audit(store: *const kl_store) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `store` is NULL or a live handle.
        let store = unsafe { try_ref(store, "store")? };
        store.store.flush_audit()
    })
}

/// Verifies the whole audit log — every entry's seal and MAC, the chain of
/// `prev` links, the sequence numbers, the head record — and reports it:
/// the number of entries to `*out_entries`, the last entry's sequence
/// number to `*out_head_seq`, and its MAC (`KL_AUDIT_HEAD_MAC_HEX_LEN` hex
/// digits and a NUL) to `(out_head_mac, out_head_mac_cap, out_head_mac_len)`.
/// The buffer size is checked before any work is done.
///
/// The verification is itself audited: the log grows by one entry (after
/// the head reported). Auditors and administrators.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INTEGRITY` naming the first
/// broken entry (a log that was edited, reordered, cut or spliced);
/// `KL_ERR_PERMISSION_DENIED`; `KL_ERR_BUFFER_TOO_SMALL`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_verify_audit(
    store: *const kl_store,
    out_entries: *mut u64,
    out_head_seq: *mut u64,
    out_head_mac: *mut c_char,
    out_head_mac_cap: usize,
    out_head_mac_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, entries, seq, mac) = unsafe {
            (
                try_ref(store, "store")?,
                Out::new(out_entries, "out_entries")?,
                Out::new(out_head_seq, "out_head_seq")?,
                OutBuf::new(
                    out_head_mac.cast::<u8>(),
                    out_head_mac_cap,
                    out_head_mac_len,
                )?,
            )
        };
        mac.require(KL_AUDIT_HEAD_MAC_HEX_LEN + 1)?;
        let v = store.store.verify_audit()?;
        mac.fill(v.head_mac.as_bytes(), true)?;
        entries.write(v.entries);
        seq.write(v.head_seq);
        Ok(())
    })
}

/// Verifies the audit log (as `kl_store_verify_audit`) and writes the
/// entries with `from_seq <= seq <= to_seq` as JSON Lines — one JSON object
/// per line, each ending in `\n`, for a SIEM — NUL-terminated, into
/// `(out, out_cap, out_len)`. Sequence numbers start at 1; pass 1 and
/// `UINT64_MAX` for the whole log.
///
/// Each line has: `seq`, `at` (milliseconds since the Unix epoch),
/// `principal`, `operation`, `key_id`, `version`, `outcome`, `error`,
/// `reason`, `generation`, `prev` and `mac` (hex). Never key material,
/// plaintext or associated data.
///
/// Reading the log is itself audited, so the whole log grows by one entry
/// with every call: to size a buffer, query a fixed range — take the head
/// sequence number from `kl_store_verify_audit` and pass it as `to_seq` —
/// and the size stays the same between the query and the real call.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` when
/// `from_seq > to_seq`; as `kl_store_verify_audit`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_export_audit_jsonl(
    store: *const kl_store,
    from_seq: u64,
    to_seq: u64,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, out) = unsafe {
            (
                try_ref(store, "store")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        if from_seq > to_seq {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("from_seq {from_seq} is after to_seq {to_seq}"),
            ));
        }
        let mut text = String::new();
        for e in store.store.audit_entries()? {
            if (from_seq..=to_seq).contains(&e.seq) {
                text.push_str(&e.to_json()?);
                text.push('\n');
            }
        }
        out.fill(text.as_bytes(), true)
    })
}

/// Verifies the audit log and signs its head with `signer`, an Active
/// signing key (of this store or another), writing the checkpoint as a
/// NUL-terminated JSON object into `(out, out_cap, out_len)`:
/// `{"seq":…,"head_mac":"…","at":…,"signer":"<key id>","signature":"<hex DER>"}`.
///
/// Keep the checkpoint outside the store (an auditor, a SIEM, a
/// transparency log): `kl_store_verify_audit_checkpoint` later proves the
/// log was not cut back or rewritten before that point. A buffer of
/// `KL_AUDIT_CHECKPOINT_JSON_MAX` bytes always suffices; a smaller one is
/// refused before anything is signed. The principal must be allowed to
/// read the audit log (auditor or administrator) and the signer's principal
/// to sign (administrator or application with a grant).
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE` unless the signer is
/// Active; `KL_ERR_BUFFER_TOO_SMALL`; as `kl_store_verify_audit`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_audit_checkpoint(
    store: *const kl_store,
    signer: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, signer, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_ref(signer, "signer")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        out.require(KL_AUDIT_CHECKPOINT_JSON_MAX)?;
        let cp = store.store.audit_checkpoint(&signer.0.typed()?)?;
        out.fill(cp.to_json()?.as_bytes(), true)
    })
}

fn parse_checkpoint(json: &str) -> Result<AuditCheckpoint> {
    AuditCheckpoint::from_json(json)
}

/// Verifies a checkpoint made by `kl_store_audit_checkpoint`: its
/// signature, with the public keys of `signer`'s versions (the key that
/// made it, loaded by the id in the checkpoint's `signer` field; it may
/// have been rotated or deactivated since), then the whole audit log, and
/// that the log still holds the entry the checkpoint vouches for, with the
/// same MAC. On success writes the number of entries now in the log to
/// `*out_entries`. Auditors and administrators.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for a checkpoint that
/// is not checkpoint JSON; `KL_ERR_AUTHENTICATION_FAILED` when the
/// signature does not verify with this key; `KL_ERR_INTEGRITY` when the log
/// was cut back or rewritten before the checkpoint;
/// `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_WRONG_PURPOSE`;
/// `KL_ERR_PERMISSION_DENIED`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_verify_audit_checkpoint(
    store: *const kl_store,
    checkpoint_json: *const c_char,
    signer: *const kl_key,
    out_entries: *mut u64,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, json, signer, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(checkpoint_json, "checkpoint_json")?,
                try_ref(signer, "signer")?,
                Out::new(out_entries, "out_entries")?,
            )
        };
        let cp = parse_checkpoint(json)?;
        signer.0.verify_checkpoint(&cp)?;
        let v = store.store.verify_audit_against(&cp)?;
        out.write(v.entries);
        Ok(())
    })
}

/// Checks only a checkpoint's signature, with the signer's public key as
/// DER SubjectPublicKeyInfo or a SEC 1 point (`kl_key_public_key_der`) —
/// for an outside party that holds the checkpoint and the public key but
/// not the store. Needs no store. Returns `KL_OK` when it verifies.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for bad checkpoint
/// JSON or a bad public key; `KL_ERR_AUTHENTICATION_FAILED` when the
/// signature does not verify.
#[unsafe(no_mangle)]
pub extern "C" fn kl_audit_checkpoint_verify(
    checkpoint_json: *const c_char,
    public_key: *const u8,
    public_key_len: usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (json, pk) = unsafe {
            (
                try_str(checkpoint_json, "checkpoint_json")?,
                try_bytes(public_key, public_key_len, "public_key")?,
            )
        };
        let cp = parse_checkpoint(json)?;
        cp.verify(&parse_public_key(pk)?)
    })
}

/// Checks every stored key record against the audit log: each must open
/// (seal intact, right id) and be at least as new as the last write the log
/// recorded for it, so a record restored from an older copy, or deleted,
/// fails. Verifies the log too. On success writes the number of key records
/// checked to `*out_keys` and of audit entries verified to
/// `*out_audit_entries`. Auditors and administrators; audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INTEGRITY` naming the first bad
/// record; `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_verify_integrity(
    store: *const kl_store,
    out_keys: *mut u64,
    out_audit_entries: *mut u64,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, keys, entries) = unsafe {
            (
                try_ref(store, "store")?,
                Out::new(out_keys, "out_keys")?,
                Out::new(out_audit_entries, "out_audit_entries")?,
            )
        };
        let r = store.store.verify_integrity()?;
        keys.write(r.keys);
        entries.write(r.audit_entries);
        Ok(())
    })
}
