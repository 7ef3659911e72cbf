//! Hazardous-materials entry points, compiled only with the `hazmat`
//! feature; declared in the header under `#if defined(KEYLIFE_HAZMAT)`.
//! For interoperability tests and known-answer vectors.

use core::ffi::c_char;

use zeroize::Zeroizing;

use super::{
    Out, OutBuf, decode, guard, kl_key, kl_result, kl_secret, kl_store, try_bytes, try_ref, try_str,
};
use crate::key::Operation;

const GCM_TAG_LEN: usize = 16;

/// **Security warning: the returned bytes are the key.** Once outside
/// keylife nothing governs them: no state, no audit, no destruction.
///
/// Exports the raw material of the key's primary version (32 bytes for AES
/// and P-256 scalars; HMAC and HKDF keys of their length). Only for keys
/// created with `KL_CREATE_EXPORTABLE`, only for administrators, never for
/// compromised or destroyed keys; always audited.
///
/// On success `*out` receives a new `kl_secret`; free it with
/// `kl_secret_free`.
///
/// Errors: `KL_ERR_POLICY` if not exportable; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_WRONG_STATE`; `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_hazmat_export_raw(
    key: *const kl_key,
    out: *mut *mut kl_secret,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, Out::new(out, "out")?) };
        let s = key.0.hazmat_export_raw(None)?;
        out.write(kl_secret::boxed(s));
        Ok(())
    })
}

/// **Security warning: plaintext key material that existed outside keylife
/// may have been copied.** Prefer generated keys.
///
/// Imports raw key material as a new PreActive key of `purpose` named
/// `name`, with `flags` as in `kl_key_create_ex`: 32 bytes for AES-256-GCM
/// and P-256 scalars, 16 to 1024 bytes for HMAC and HKDF keys.
///
/// On success `*out` receives a new handle; free it with `kl_key_free`.
///
/// Errors: `KL_ERR_INVALID_ARGUMENT` for material of the wrong size, an
/// unknown purpose or flag; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_NULL_POINTER`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_hazmat_import_raw(
    store: *const kl_store,
    purpose: u32,
    name: *const c_char,
    material: *const u8,
    material_len: usize,
    flags: u32,
    out: *mut *mut kl_key,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or writable (output).
        let (store, name, material, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(name, "name")?,
                try_bytes(material, material_len, "material")?,
                Out::new(out, "out")?,
            )
        };
        let spec = super::key::spec(name, "", flags)?;
        let k = store
            .store
            .import_handle(decode(purpose)?, spec, material)?;
        out.write(kl_key::boxed(k));
        Ok(())
    })
}

/// **Security warning: reusing a nonce under one key reveals the XOR of the
/// plaintexts and lets an attacker forge messages (NIST SP 800-38D §8). The
/// caller must guarantee every nonce is unique for this key.** Use
/// `kl_key_encrypt`.
///
/// Raw AES-256-GCM encryption with an Active AEAD key's primary version and
/// a caller-chosen 12-byte nonce; writes `ciphertext || tag`
/// (`plaintext_len + 16` bytes, no keylife header) to
/// `(out, out_cap, out_len)`. Counts against the usage limit.
///
/// Errors: `KL_ERR_UNSUPPORTED` for nonces other than 12 bytes; as
/// `kl_key_encrypt`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_hazmat_encrypt_assume_unique_nonce(
    key: *const kl_key,
    nonce: *const u8,
    nonce_len: usize,
    plaintext: *const u8,
    plaintext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, nonce, pt, aad, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(nonce, nonce_len, "nonce")?,
                try_bytes(plaintext, plaintext_len, "plaintext")?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Encrypt)?;
        out.require(pt.len().saturating_add(GCM_TAG_LEN))?;
        out.fill(
            &key.0.hazmat_encrypt_assume_unique_nonce(nonce, pt, aad)?,
            false,
        )
    })
}

/// Raw AES-256-GCM decryption of `ciphertext || tag` (no keylife header)
/// with the key's primary version and a 12-byte nonce; writes the plaintext
/// (`ciphertext_len - 16` bytes) to `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED`; `KL_ERR_UNSUPPORTED` for nonces
/// other than 12 bytes; as `kl_key_decrypt`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_hazmat_decrypt_raw(
    key: *const kl_key,
    nonce: *const u8,
    nonce_len: usize,
    ciphertext: *const u8,
    ciphertext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, nonce, ct, aad, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(nonce, nonce_len, "nonce")?,
                try_bytes(ciphertext, ciphertext_len, "ciphertext")?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Decrypt)?;
        if let Some(n) = ct.len().checked_sub(GCM_TAG_LEN) {
            out.require(n)?;
        }
        out.fill(
            &Zeroizing::new(key.0.hazmat_decrypt_raw(nonce, ct, aad)?),
            false,
        )
    })
}
