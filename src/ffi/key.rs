//! `kl_key`: creating, loading, transitioning and using keys — pointer and
//! buffer plumbing over the core's dynamic handle, [`KeyHandle`], which
//! checks every purpose and state rule itself.

use core::ffi::c_char;
use std::time::Duration;

use super::{
    KL_CREATE_EXPORTABLE, KL_CREATE_NO_SUSPENDED_PROCESSING, Out, OutBuf, decode, free_box, guard,
    kl_result, kl_store, to_json, try_ref, try_str,
};
use crate::base::{Error, ErrorKind, Result};
use crate::key::{Aead, KeySpec};
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

/// Creates `count` keys of `purpose` named `names[0..count]`, each with
/// `owner` (`""` for none) and `flags` (as `kl_key_create_ex`), in **one**
/// durable commit (one transaction, each key with its own audit entry),
/// all PreActive. All or nothing: on any error no key is created and
/// `out_keys` is left untouched; on success `out_keys[i]` receives the
/// handle of `names[i]` (free each with `kl_key_free`). `count` 0 is a
/// no-op. For millions of keys, call it with a few thousand names at a
/// time.
///
/// Errors: `KL_ERR_NULL_POINTER` (also for a NULL name); as
/// `kl_key_create_ex`, for the whole batch.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_create_many(
    store: *const kl_store,
    purpose: u32,
    names: *const *const c_char,
    count: usize,
    owner: *const c_char,
    flags: u32,
    out_keys: *mut *mut kl_key,
) -> kl_result {
    guard(|| {
        if count == 0 {
            return Ok(());
        }
        if names.is_null() {
            return Err(super::null("names"));
        }
        if out_keys.is_null() {
            return Err(super::null("out_keys"));
        }
        if isize::try_from(count).is_err() {
            return Err(Error::new(ErrorKind::InvalidArgument, "count is too large"));
        }
        // SAFETY: per the contract, `store` and `owner` are NULL or valid,
        // and `names` (non-NULL, checked) points to `count` pointers, each
        // NULL or a NUL-terminated string.
        let (store, owner, names) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(owner, "owner")?,
                core::slice::from_raw_parts(names, count),
            )
        };
        let specs = names
            .iter()
            .map(|&n| {
                // SAFETY: as above, each entry is NULL or NUL-terminated.
                let name = unsafe { try_str(n, "names[i]")? };
                spec(name, owner, flags)
            })
            .collect::<Result<Vec<_>>>()?;
        let keys = store.store.create_many_handles(decode(purpose)?, specs)?;
        // SAFETY: `out_keys` (non-NULL, checked) is writable for `count`
        // pointers (contract); written only now that nothing can fail.
        let out = unsafe { core::slice::from_raw_parts_mut(out_keys, count) };
        for (slot, k) in out.iter_mut().zip(keys) {
            *slot = kl_key::boxed(k);
        }
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
