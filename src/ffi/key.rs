//! `kl_key`: creating, loading, transitioning and using keys — pointer and
//! buffer plumbing over the core's dynamic handle, [`KeyHandle`], which
//! checks every purpose and state rule itself.

use core::ffi::c_char;
use std::time::Duration;

use zeroize::Zeroizing;

use super::{
    KL_CIPHERTEXT_OVERHEAD, KL_CREATE_EXPORTABLE, KL_CREATE_NO_SUSPENDED_PROCESSING, KL_MAC_LEN,
    KL_SIGNATURE_FIXED_LEN, Out, OutBuf, decode, free_box, guard, kl_result, kl_secret, kl_store,
    to_json, try_bytes, try_ref, try_str,
};
use crate::base::{Error, ErrorKind, Result};
use crate::key::{Aead, KeySpec, Operation, PublicKey};
use crate::store::KeyHandle;

/// A handle on one key: its id, its purpose, and the state it is in.
///
/// Create one with `kl_key_create`, `kl_key_create_ex` or `kl_key_load`;
/// release it with `kl_key_free`. A handle keeps its store alive.
///
/// Transitions (`kl_key_activate`, `kl_key_suspend`, ...) change the handle
/// in place. As in the Rust API, where a transition consumes the key, a
/// transition that fails *after it was attempted* (refused by permission or
/// policy, or lost to a concurrent change) consumes the handle: every later
/// call on it returns `KL_ERR_ALREADY_CONSUMED`, except `kl_key_id`,
/// `kl_key_purpose` and `kl_key_free`. Load the key again with
/// `kl_key_load`. A transition the key's state does not allow at all
/// returns `KL_ERR_WRONG_STATE` and leaves the handle as it was.
///
/// Several handles on one key share its live state: a key compromised
/// through one handle stops working through every other handle at once.
///
/// Thread safety: a `kl_key` may be used from several threads at once;
/// operations on one handle may serialise behind a transition on it.
pub struct kl_key(pub(super) KeyHandle);

impl kl_key {
    pub(super) fn boxed(k: KeyHandle) -> *mut kl_key {
        Box::into_raw(Box::new(kl_key(k)))
    }
}

/// Checks `KL_CREATE_*` flags and builds the options of a key to create
/// (the purpose is chosen by `KeyStore::create_handle`).
pub(super) fn spec(name: &str, owner: &str, flags: u32) -> Result<KeySpec<Aead>> {
    let known = KL_CREATE_EXPORTABLE | KL_CREATE_NO_SUSPENDED_PROCESSING;
    if flags & !known != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown flag bits {:#x} (KL_CREATE_*)", flags & !known),
        ));
    }
    let mut s = KeySpec::new(name)
        .exportable(flags & KL_CREATE_EXPORTABLE != 0)
        .suspended_processing(flags & KL_CREATE_NO_SUSPENDED_PROCESSING == 0);
    if !owner.is_empty() {
        s = s.owner(owner);
    }
    Ok(s)
}

/// An entry point whose only input is the key.
fn on_key(key: *const kl_key, f: impl FnOnce(&KeyHandle) -> Result<()>) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `key` is NULL or a live handle.
        let key = unsafe { try_ref(key, "key")? };
        f(&key.0)
    })
}

/// An entry point whose inputs are the key and a reason (`""` for none).
fn with_reason(
    key: *const kl_key,
    reason: *const c_char,
    f: impl FnOnce(&KeyHandle, &str) -> Result<()>,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, reason) = unsafe { (try_ref(key, "key")?, try_str(reason, "reason")?) };
        f(&key.0, reason)
    })
}

// ----- creation, loading, release -----

/// Creates a key of `purpose` (a `KL_PURPOSE_*` value) named `name`, with
/// fresh material, in state PreActive (activate it with `kl_key_activate`).
/// Same as `kl_key_create_ex(store, purpose, name, "", 0, out)`.
///
/// On success `*out` receives a new handle; free it with `kl_key_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for an unknown
/// purpose or a name that is empty or longer than 256 bytes;
/// `KL_ERR_PERMISSION_DENIED` unless the principal is an administrator or
/// operator; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_create(
    store: *const kl_store,
    purpose: u32,
    name: *const c_char,
    out: *mut *mut kl_key,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, name, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(name, "name")?,
                Out::new(out, "out")?,
            )
        };
        let k = store
            .store
            .create_handle(decode(purpose)?, spec(name, "", 0)?)?;
        out.write(kl_key::boxed(k));
        Ok(())
    })
}

/// As `kl_key_create`, with an `owner` (`""` for none) and `flags`, a
/// bitwise OR of `KL_CREATE_*` values (0 for the defaults). Unknown flag
/// bits give `KL_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_create_ex(
    store: *const kl_store,
    purpose: u32,
    name: *const c_char,
    owner: *const c_char,
    flags: u32,
    out: *mut *mut kl_key,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, name, owner, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(name, "name")?,
                try_str(owner, "owner")?,
                Out::new(out, "out")?,
            )
        };
        let k = store
            .store
            .create_handle(decode(purpose)?, spec(name, owner, flags)?)?;
        out.write(kl_key::boxed(k));
        Ok(())
    })
}

/// Loads the key whose id is `id_hex` (32 hex digits, as `kl_key_id`
/// writes it), in whatever state it is in, with due date-driven
/// transitions applied.
///
/// On success `*out` receives a new handle; free it with `kl_key_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for an id that is not
/// 32 hex digits; `KL_ERR_NOT_FOUND`; `KL_ERR_INTEGRITY` for a tampered
/// record; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_load(
    store: *const kl_store,
    id_hex: *const c_char,
    out: *mut *mut kl_key,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, id, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(id_hex, "id_hex")?,
                Out::new(out, "out")?,
            )
        };
        let k = store.store.load_handle(&id.parse()?)?;
        out.write(kl_key::boxed(k));
        Ok(())
    })
}

/// Frees a key handle (consumed or not). `NULL` is a no-op. The key itself
/// stays in the store; the handle must not be used afterwards, nor freed
/// twice. Key material held in memory for this handle is zeroized once no
/// handle on the key remains.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_free(key: *mut kl_key) {
    // SAFETY: a pointer from `kl_key::boxed`, freed once (contract).
    unsafe { free_box(key) }
}

// ----- getters -----

/// Writes the key's id — 32 lower-case hex digits and a NUL, so
/// `KL_KEY_ID_HEX_LEN + 1` bytes — into `(out, out_cap, out_len)`.
/// Works on consumed handles too.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_id(
    key: *const kl_key,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe {
            (
                try_ref(key, "key")?,
                OutBuf::new(out.cast::<u8>(), out_cap, out_len)?,
            )
        };
        out.fill(key.0.id().to_string().as_bytes(), true)
    })
}

/// Writes the key's purpose (a `KL_PURPOSE_*` value) to `*out`. Works on
/// consumed handles too.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_purpose(key: *const kl_key, out: *mut u32) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, Out::new(out, "out")?) };
        out.write(key.0.purpose().code());
        Ok(())
    })
}

/// Writes the key's live state (a `KL_STATE_*` value) to `*out`: the state
/// in the store now, whichever handle changed it.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_state(key: *const kl_key, out: *mut u32) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, Out::new(out, "out")?) };
        out.write(key.0.state()?.code());
        Ok(())
    })
}

/// Writes the key's metadata as a NUL-terminated JSON object into
/// `(out, out_cap, out_len)`: id, name, owner, purpose, algorithm, state,
/// dates (milliseconds since the Unix epoch), versions with usage counts,
/// state history, labels. Never key material.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_PERMISSION_DENIED`; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_info_json(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, OutBuf::new(out, out_cap, out_len)?) };
        out.fill(to_json(&key.0.info()?)?.as_bytes(), true)
    })
}

// ----- transitions -----

/// PreActive → Active. See `kl_key` for what a failed transition does to
/// the handle.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED` unless administrator or
/// operator; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_activate(key: *mut kl_key) -> kl_result {
    on_key(key, |k| k.activate())
}

/// Active → Suspended, recording `reason` (`""` for none). Errors as
/// `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_suspend(key: *mut kl_key, reason: *const c_char) -> kl_result {
    with_reason(key, reason, |k, r| k.suspend(r))
}

/// Suspended → Active. Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_resume(key: *mut kl_key) -> kl_result {
    on_key(key, |k| k.resume())
}

/// Active or Suspended → Deactivated: no more encryption, signing, MAC or
/// derivation; decryption and verification continue. Errors as
/// `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_deactivate(key: *mut kl_key, reason: *const c_char) -> kl_result {
    with_reason(key, reason, |k, r| k.deactivate(r))
}

/// PreActive, Active, Suspended or Deactivated → Compromised: the key stops
/// working through every handle at once. Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_compromise(key: *mut kl_key, reason: *const c_char) -> kl_result {
    with_reason(key, reason, |k, r| k.compromise(r))
}

/// Deactivated or Compromised → PendingDestruction: the key is destroyed by
/// the first load, use or `kl_store_maintenance` at least `wait_seconds`
/// from now, unless cancelled with `kl_key_cancel_destruction` before.
///
/// Errors: as `kl_key_activate`, and `KL_ERR_POLICY` when `wait_seconds` is
/// below the store's minimum waiting period (7 days by default). A policy
/// refusal consumes the handle, like every attempted transition that fails.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_schedule_destruction(
    key: *mut kl_key,
    wait_seconds: u64,
    reason: *const c_char,
) -> kl_result {
    with_reason(key, reason, |k, r| {
        k.schedule_destruction(Duration::from_secs(wait_seconds), r)
    })
}

/// PendingDestruction → the state the key had before (Deactivated or
/// Compromised). Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_cancel_destruction(key: *mut kl_key) -> kl_result {
    on_key(key, |k| k.cancel_destruction())
}

/// PreActive → Destroyed, for a key that was never used: its material is
/// wiped, its metadata kept. (Used keys are destroyed through
/// `kl_key_schedule_destruction`.) Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_destroy(key: *mut kl_key, reason: *const c_char) -> kl_result {
    with_reason(key, reason, |k, r| k.destroy(r))
}

/// Adds a new version to an Active key and makes it the primary one (older
/// versions keep decrypting and verifying); writes the new version number
/// to `*out_version`. The handle stays Active.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_STATE` unless Active; `KL_ERR_PERMISSION_DENIED`; storage
/// errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_rotate(key: *const kl_key, out_version: *mut u32) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, Out::new(out_version, "out_version")?) };
        out.write(key.0.rotate()?);
        Ok(())
    })
}

// ----- version management -----

/// Marks one version of the key compromised: it no longer encrypts,
/// decrypts, signs or verifies, while the other versions keep working.
/// Recording `reason` (`""` for none). The key must be Active, Suspended,
/// Deactivated or Compromised. The handle is never consumed.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_STATE`; `KL_ERR_NOT_FOUND` for an unknown version;
/// `KL_ERR_VERSION_UNAVAILABLE` for a destroyed version;
/// `KL_ERR_PERMISSION_DENIED` unless administrator or operator; storage
/// errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_compromise_version(
    key: *const kl_key,
    version: u32,
    reason: *const c_char,
) -> kl_result {
    with_reason(key, reason, |k, r| k.compromise_version(version, r))
}

/// Destroys one version's material (trimming old versions after a
/// rotation): ciphertexts of that version no longer decrypt. The primary
/// version cannot be destroyed (rotate first). States and errors as
/// `kl_key_compromise_version`, and `KL_ERR_INVALID_ARGUMENT` for the
/// primary version.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_destroy_version(
    key: *const kl_key,
    version: u32,
    reason: *const c_char,
) -> kl_result {
    with_reason(key, reason, |k, r| k.destroy_version(version, r))
}

/// Refuses decryption (and verification) with every version below
/// `version`, e.g. once all data was rewrapped to newer versions. The
/// minimum only moves forward and may not pass the primary version. States
/// and errors as `kl_key_compromise_version`, and `KL_ERR_INVALID_ARGUMENT`
/// for a version of 0, above the primary, or below the current minimum.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_set_min_decryption_version(key: *const kl_key, version: u32) -> kl_result {
    on_key(key, |k| k.set_min_decryption_version(version))
}

// ----- AEAD -----

/// Encrypts `plaintext` with an Active AEAD key (AES-256-GCM, fresh random
/// nonce, primary version). `aad` — the encryption context — is
/// authenticated but not encrypted; decryption needs the same bytes.
///
/// The keylife ciphertext (`plaintext_len + KL_CIPHERTEXT_OVERHEAD` bytes:
/// header naming key and version, nonce, ciphertext, tag) is written to
/// `(out, out_cap, out_len)`. The size is checked before encrypting, so a
/// size query costs no invocation of the key.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE` unless Active;
/// `KL_ERR_USAGE_LIMIT_EXCEEDED`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_encrypt(
    key: *const kl_key,
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
        let (key, pt, aad, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(plaintext, plaintext_len, "plaintext")?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Encrypt)?;
        out.require(pt.len().saturating_add(KL_CIPHERTEXT_OVERHEAD))?;
        out.fill(&key.0.encrypt(pt, aad)?, false)
    })
}

/// Decrypts a ciphertext of this key (Active, Deactivated, or Suspended
/// when the key allows it) with the version named in its header. The
/// plaintext (`ciphertext_len - KL_CIPHERTEXT_OVERHEAD` bytes) is written
/// to `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_MALFORMED`;
/// `KL_ERR_INVALID_ARGUMENT` for another key's ciphertext;
/// `KL_ERR_VERSION_UNAVAILABLE`; `KL_ERR_AUTHENTICATION_FAILED` for a wrong
/// `aad` or tampered data; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_decrypt(
    key: *const kl_key,
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
        let (key, ct, aad, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(ciphertext, ciphertext_len, "ciphertext")?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Decrypt)?;
        if let Some(n) = ct.len().checked_sub(KL_CIPHERTEXT_OVERHEAD) {
            out.require(n)?;
        }
        out.fill(&Zeroizing::new(key.0.decrypt(ct, aad)?), false)
    })
}

/// As `kl_key_encrypt`, for callers that size the output themselves — the
/// hot path of language bindings, where every argument costs: `out` must be
/// valid for writes of exactly `plaintext_len + KL_CIPHERTEXT_OVERHEAD`
/// bytes (a ciphertext's length is fixed by its plaintext's), and that many
/// bytes are written on success. Nothing is written on failure. `out` may
/// overlap `plaintext` or `aad` (encrypting in place): the call then copies
/// the overlapping input first.
///
/// Errors: as `kl_key_encrypt`, without `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_encrypt_into(
    key: *const kl_key,
    plaintext: *const u8,
    plaintext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length; `out` is NULL or valid for `plaintext_len +
        // KL_CIPHERTEXT_OVERHEAD` bytes (checked against isize::MAX here).
        let (key, pt, aad) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(plaintext, plaintext_len, "plaintext")?,
                try_bytes(aad, aad_len, "aad")?,
            )
        };
        let mut out = exact_out(out, pt.len().checked_add(KL_CIPHERTEXT_OVERHEAD))?;
        let mut held = Default::default();
        let [pt, aad] = out.detach([pt, aad], &mut held);
        // SAFETY: `out` is valid for `len` bytes of writes (the contract),
        // and no input still refers to its bytes (`detach`).
        key.0.encrypt_to(pt, aad, unsafe { out.as_mut_slice() })
    })
}

/// An output of a length the caller knows exactly (`*_into` calls).
struct ExactOut {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
}

fn exact_out(out: *mut u8, len: Option<usize>) -> Result<ExactOut> {
    let len = len
        .filter(|n| isize::try_from(*n).is_ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "the input is too large"))?;
    let ptr = core::ptr::NonNull::new(out).ok_or_else(|| super::null("out"))?;
    Ok(ExactOut { ptr, len })
}

impl ExactOut {
    /// Whether the output's bytes share memory with `input`.
    fn overlaps(&self, input: &[u8]) -> bool {
        let (o, i) = (self.ptr.as_ptr() as usize, input.as_ptr() as usize);
        !input.is_empty()
            && self.len != 0
            && o < i.saturating_add(input.len())
            && i < o.saturating_add(self.len)
    }

    /// `inputs`, each copied into `held` if it shares memory with the
    /// output (a caller encrypting or decrypting in place), so the output
    /// can be written while they are read. Copies are wiped on drop.
    fn detach<'a, const N: usize>(
        &self,
        inputs: [&'a [u8]; N],
        held: &'a mut [Zeroizing<Vec<u8>>; N],
    ) -> [&'a [u8]; N] {
        let mut out = inputs;
        for (slot, copy) in out.iter_mut().zip(held.iter_mut()) {
            if self.overlaps(slot) {
                copy.extend_from_slice(slot);
                *slot = copy.as_slice();
            }
        }
        out
    }

    /// The output as a slice.
    ///
    /// # Safety
    /// `ptr` is valid for `len` bytes of writes (the `*_into` contract),
    /// and nothing else reads or writes those bytes while the slice lives
    /// (the caller passed every input through [`ExactOut::detach`]).
    unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as the function's contract.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

/// As `kl_key_decrypt`, for callers that size the output themselves: `out`
/// must be valid for writes of exactly `ciphertext_len -
/// KL_CIPHERTEXT_OVERHEAD` bytes, and that many bytes of plaintext are
/// written on success. Nothing is written on failure — except that when
/// authentication fails on a store using the `"aws-lc"` crypto provider,
/// `out` is left zeroed (AWS-LC decrypts while it authenticates, then
/// clears); unauthenticated plaintext is never left there. `out` may
/// overlap the inputs (the call then copies the overlapping input first). (With
/// `ciphertext_len == KL_CIPHERTEXT_OVERHEAD` the plaintext is empty and
/// `out` may be any non-NULL pointer.)
///
/// Errors: as `kl_key_decrypt`, without `KL_ERR_BUFFER_TOO_SMALL`;
/// `KL_ERR_MALFORMED` for a ciphertext shorter than
/// `KL_CIPHERTEXT_OVERHEAD`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_decrypt_into(
    key: *const kl_key,
    ciphertext: *const u8,
    ciphertext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length; `out` is NULL or valid for `ciphertext_len -
        // KL_CIPHERTEXT_OVERHEAD` bytes.
        let (key, ct, aad) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(ciphertext, ciphertext_len, "ciphertext")?,
                try_bytes(aad, aad_len, "aad")?,
            )
        };
        if out.is_null() {
            return Err(super::null("out"));
        }
        let n = ct.len().checked_sub(KL_CIPHERTEXT_OVERHEAD).ok_or_else(|| {
            Error::new(
                ErrorKind::Malformed,
                format!(
                    "a keylife ciphertext has at least {KL_CIPHERTEXT_OVERHEAD} bytes, this one {}",
                    ct.len()
                ),
            )
        })?;
        let mut out = exact_out(out, Some(n))?;
        let mut held = Default::default();
        let [ct, aad] = out.detach([ct, aad], &mut held);
        // SAFETY: `out` is valid for `len` bytes of writes (the contract),
        // and no input still refers to its bytes (`detach`).
        key.0.decrypt_to(ct, aad, unsafe { out.as_mut_slice() })
    })
}

/// Re-encrypts a ciphertext of this Active key under its primary version,
/// without the plaintext leaving the library. The new ciphertext has the
/// same length as the old one and is written to `(out, out_cap, out_len)`.
///
/// Errors: as `kl_key_decrypt` and `kl_key_encrypt`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_rewrap(
    key: *const kl_key,
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
        let (key, ct, aad, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(ciphertext, ciphertext_len, "ciphertext")?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Rewrap)?;
        out.require(ct.len())?;
        out.fill(&key.0.rewrap(ct, aad)?, false)
    })
}

// ----- signatures -----

fn sign_common(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    fixed: bool,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, msg, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        let sig = if fixed {
            key.0.check(Operation::Sign)?;
            out.require(KL_SIGNATURE_FIXED_LEN)?;
            key.0.sign_fixed(msg)?
        } else {
            key.0.sign(msg)?
        };
        out.fill(&sig, false)
    })
}

/// Signs `msg` (ECDSA P-256 with SHA-256) with an Active signing key's
/// primary version. The DER signature (at most `KL_SIGNATURE_DER_MAX_LEN`
/// bytes) is written to `(out, out_cap, out_len)`; verify it with
/// `kl_key_verify`, or elsewhere with the key's exported public key.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_sign(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    sign_common(key, msg, msg_len, out, out_cap, out_len, false)
}

/// As `kl_key_sign`, with the fixed-width `r || s` encoding
/// (`KL_SIGNATURE_FIXED_LEN` = 64 bytes, as JOSE and WebCrypto use).
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_sign_fixed(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    sign_common(key, msg, msg_len, out, out_cap, out_len, true)
}

fn verify_common(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    sig: *const u8,
    sig_len: usize,
    fixed: bool,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (key, msg, sig) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                try_bytes(sig, sig_len, "signature")?,
            )
        };
        if fixed {
            key.0.verify_fixed(msg, sig)
        } else {
            key.0.verify(msg, sig)
        }
    })
}

/// Verifies a DER signature of `msg` against every version of this key
/// that may verify (Active, Deactivated, or Suspended when allowed).
/// Returns `KL_OK` when it is valid.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED` when it is not (one opaque code
/// for every invalid or malformed signature); `KL_ERR_NULL_POINTER`;
/// `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_verify(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> kl_result {
    verify_common(key, msg, msg_len, signature, signature_len, false)
}

/// As `kl_key_verify`, for a fixed-width 64-byte `r || s` signature.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_verify_fixed(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> kl_result {
    verify_common(key, msg, msg_len, signature, signature_len, true)
}

/// Writes an encoding of the key's primary public key (`encode` returns
/// the bytes, with the NUL for text) to `(out, out_cap, out_len)`.
fn public_key_out(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    encode: impl FnOnce(&PublicKey) -> Result<Vec<u8>>,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, OutBuf::new(out, out_cap, out_len)?) };
        out.fill(&encode(&key.0.public_key(None)?)?, false)
    })
}

/// Writes the public key of a signing or agreement key's primary version as
/// DER SubjectPublicKeyInfo (RFC 5480) into `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE` for other purposes; `KL_ERR_WRONG_STATE` once
/// destroyed; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_public_key_der(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    public_key_out(key, out, out_cap, out_len, |pk| pk.to_spki_der())
}

/// As `kl_key_public_key_der`, as NUL-terminated PEM text
/// (`-----BEGIN PUBLIC KEY-----`), e.g. for `openssl dgst -verify`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_public_key_pem(
    key: *const kl_key,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    public_key_out(key, out.cast::<u8>(), out_cap, out_len, |pk| {
        let mut text = pk.to_spki_pem()?.into_bytes();
        text.push(0);
        Ok(text)
    })
}

/// As `kl_key_public_key_der`, as an uncompressed SEC 1 point
/// (`04 || x || y`, 65 bytes).
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_public_key_sec1(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    public_key_out(key, out, out_cap, out_len, |pk| Ok(pk.to_sec1().to_vec()))
}

/// Verifies a DER ECDSA P-256/SHA-256 signature of `msg` with a public key
/// given as DER SubjectPublicKeyInfo or a SEC 1 point (compressed or
/// uncompressed) — a key made elsewhere, e.g. by OpenSSL. Needs no store.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED` for an invalid signature;
/// `KL_ERR_MALFORMED` for a bad public key; `KL_ERR_NULL_POINTER`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_public_key_verify(
    public_key: *const u8,
    public_key_len: usize,
    msg: *const u8,
    msg_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (pk, msg, sig) = unsafe {
            (
                try_bytes(public_key, public_key_len, "public_key")?,
                try_bytes(msg, msg_len, "msg")?,
                try_bytes(signature, signature_len, "signature")?,
            )
        };
        parse_public_key(pk)?.verify(msg, sig)
    })
}

/// A P-256 public key as SPKI DER (starts with a SEQUENCE) or SEC 1.
pub(super) fn parse_public_key(b: &[u8]) -> Result<PublicKey> {
    match b.first() {
        Some(0x30) => PublicKey::from_spki_der(b),
        Some(0x02..=0x04) => PublicKey::from_sec1(b),
        _ => Err(Error::new(
            ErrorKind::Malformed,
            "a public key is DER SubjectPublicKeyInfo or a SEC 1 point",
        )),
    }
}

// ----- MAC -----

/// Computes the HMAC-SHA-256 tag of `msg` with an Active MAC key's primary
/// version; writes `KL_MAC_LEN` (32) bytes to `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_mac(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, msg, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Mac)?;
        out.require(KL_MAC_LEN)?;
        out.fill(&key.0.mac(msg)?, false)
    })
}

/// Verifies a tag of `msg` in constant time against every version that may
/// verify. Returns `KL_OK` when it matches.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED` on mismatch;
/// `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_WRONG_PURPOSE`;
/// `KL_ERR_WRONG_STATE`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_verify_mac(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    tag: *const u8,
    tag_len: usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (key, msg, tag) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                try_bytes(tag, tag_len, "tag")?,
            )
        };
        key.0.verify_mac(msg, tag)
    })
}

// ----- derivation and agreement -----

/// Derives `len` bytes (1 to 8160) with HKDF-SHA-256 (RFC 5869) from an
/// Active derivation key's primary version: `salt` for extract, `context`
/// as expand's info. The same inputs give the same bytes.
///
/// On success `*out` receives a new `kl_secret`; read it with
/// `kl_secret_data`/`kl_secret_len` and free it with `kl_secret_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_INVALID_ARGUMENT`
/// for a bad length; `KL_ERR_PERMISSION_DENIED`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_derive(
    key: *const kl_key,
    salt: *const u8,
    salt_len: usize,
    context: *const u8,
    context_len: usize,
    len: usize,
    out: *mut *mut kl_secret,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or writable (output).
        let (key, salt, ctx, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(salt, salt_len, "salt")?,
                try_bytes(context, context_len, "context")?,
                Out::new(out, "out")?,
            )
        };
        out.write(kl_secret::boxed(key.0.derive(salt, ctx, len, None)?));
        Ok(())
    })
}

/// ECDH (P-256) between an Active agreement key and `peer_public_key`
/// (DER SubjectPublicKeyInfo or a SEC 1 point), then HKDF-SHA-256 over the
/// shared secret with `salt` and `context`, producing `len` bytes (1 to
/// 8160). The raw shared secret never leaves the library (NIST SP 800-56A
/// §5.8). Both parties derive the same bytes from the same salt and
/// context.
///
/// On success `*out` receives a new `kl_secret`; free it with
/// `kl_secret_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_MALFORMED` for a
/// bad peer key; `KL_ERR_INVALID_ARGUMENT` for a bad length.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_agree(
    key: *const kl_key,
    peer_public_key: *const u8,
    peer_public_key_len: usize,
    salt: *const u8,
    salt_len: usize,
    context: *const u8,
    context_len: usize,
    len: usize,
    out: *mut *mut kl_secret,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or writable (output).
        let (key, peer, salt, ctx, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(peer_public_key, peer_public_key_len, "peer_public_key")?,
                try_bytes(salt, salt_len, "salt")?,
                try_bytes(context, context_len, "context")?,
                Out::new(out, "out")?,
            )
        };
        // Purpose and state before the peer key is parsed.
        key.0.check(Operation::Agree)?;
        let secret = key.0.agree(&parse_public_key(peer)?, salt, ctx, len)?;
        out.write(kl_secret::boxed(secret));
        Ok(())
    })
}
