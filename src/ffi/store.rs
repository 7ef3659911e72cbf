//! `kl_store`: opening stores, principals, store-wide operations.

use core::ffi::{c_char, c_void};

use zeroize::Zeroizing;

use super::{
    KL_BACKEND_FILE, KL_BACKEND_POSTGRES, KL_BACKEND_SQLITE, KL_KEK_PASSPHRASE, KL_KEK_RAW, Out,
    OutBuf, decode, guard, guard_void, kl_result, try_bytes, try_ref, try_str,
};
use crate::base::{Error, ErrorKind, Result};
use crate::governance::principal::Principal;
use crate::key::StateName;
use crate::store::backend::FileBackend;
use crate::store::{Argon2Params, Kek, KekProvider, KeyFilter, KeyStore, PassphraseKek, RawKek};

/// A handle on a key store, acting for one principal (a name and a role).
///
/// Create it with `kl_store_open_memory` (or another `kl_store_open_*`),
/// derive handles for other principals with `kl_store_as_principal`, and
/// release each handle with `kl_store_free`. The store itself lives as long
/// as any handle on it, or any `kl_key` loaded through one: keys keep their
/// store alive, so a store handle may be freed before its keys.
///
/// Thread safety: a `kl_store` may be used from any number of threads at
/// once.
pub struct kl_store {
    pub(crate) store: KeyStore,
}

impl kl_store {
    fn boxed(store: KeyStore) -> *mut kl_store {
        Box::into_raw(Box::new(kl_store { store }))
    }
}

fn principal(name: &str, role: u32) -> Result<Principal> {
    let role = decode(role)?;
    if name.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "the principal name must not be empty",
        ));
    }
    Ok(Principal::new(name, &[role]))
}

/// Opens a new, empty, in-memory store under a random key-encryption key,
/// acting as the principal `principal_name` with role `role` (a
/// `KL_ROLE_*` value), who becomes the store's first administrator.
/// Everything is lost when the last handle is freed: for tests and
/// examples.
///
/// On success `*out` receives a new handle — the opening handle, the only
/// kind that mints principal handles (`kl_store_as_principal`); free it
/// with `kl_store_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for an unknown
/// role, an empty name or a name that is not UTF-8;
/// `KL_ERR_PERMISSION_DENIED` unless `role` is `KL_ROLE_ADMINISTRATOR`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_open_memory(
    principal_name: *const c_char,
    role: u32,
    out: *mut *mut kl_store,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `principal_name` is NULL or a
        // NUL-terminated string and `out` NULL or writable.
        let (name, out) = unsafe {
            (
                try_str(principal_name, "principal_name")?,
                Out::new(out, "out")?,
            )
        };
        let store = KeyStore::in_memory(principal(name, role)?)?;
        out.write(kl_store::boxed(store));
        Ok(())
    })
}

/// Opens (creating it when missing) a persistent store at `path`, unlocked
/// with a key-encryption key, acting as `principal_name` with role `role`
/// (a `KL_ROLE_*` value).
///
/// - `backend`: `KL_BACKEND_FILE` (one file, small keysets shipped with an
///   application), `KL_BACKEND_SQLITE` (the embedded default; several
///   processes may share it) or `KL_BACKEND_POSTGRES` (one store shared by
///   a fleet; `path` is then a libpq connection string or URL, never
///   repeated in error messages since it may hold a password). SQLite and
///   PostgreSQL need builds with the `sqlite` (default) and `postgres`
///   features, else `KL_ERR_UNSUPPORTED`.
/// - `kek_kind`: `KL_KEK_RAW` — `kek` is exactly 32 random bytes, kept
///   somewhere safe; or `KL_KEK_PASSPHRASE` — `kek` is a UTF-8 passphrase
///   (stretched with Argon2id; slow on purpose).
///
/// The principal must be registered in the store with exactly that role
/// (roles come from the store's registry); in a new store it must be an
/// administrator, and becomes the store's first.
///
/// The library copies `kek`; the caller should wipe its copy. On success
/// `*out` receives a new handle — the opening handle, the only kind that
/// mints principal handles (`kl_store_as_principal`); free it with
/// `kl_store_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for an unknown
/// backend, KEK kind or role, or a raw KEK that is not 32 bytes;
/// `KL_ERR_NOT_FOUND` for an unregistered principal;
/// `KL_ERR_PERMISSION_DENIED` for another role than the registered one;
/// `KL_ERR_WRONG_KEK` when the KEK does not open an existing store;
/// `KL_ERR_INTEGRITY` for a damaged file; `KL_ERR_STORAGE` for I/O errors;
/// `KL_ERR_UNAVAILABLE` when the PostgreSQL server cannot be reached;
/// `KL_ERR_UNSUPPORTED_VERSION` for a store from a newer keylife.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_open(
    backend: u32,
    path: *const c_char,
    kek_kind: u32,
    kek: *const u8,
    kek_len: usize,
    principal_name: *const c_char,
    role: u32,
    out: *mut *mut kl_store,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or writable (output).
        let (path, kek, name, out) = unsafe {
            (
                try_str(path, "path")?,
                try_bytes(kek, kek_len, "kek")?,
                try_str(principal_name, "principal_name")?,
                Out::new(out, "out")?,
            )
        };
        let who = principal(name, role)?;
        let provider = kek_provider(kek_kind, kek)?;
        out.write(kl_store::boxed(open_backend(
            backend, path, &*provider, who,
        )?));
        Ok(())
    })
}

/// The KEK provider of a `KL_KEK_*` kind and its bytes.
fn kek_provider(kek_kind: u32, kek: &[u8]) -> Result<Box<dyn KekProvider>> {
    Ok(match kek_kind {
        KL_KEK_RAW => Box::new(RawKek::new(Kek::from_bytes(kek)?)),
        KL_KEK_PASSPHRASE => Box::new(PassphraseKek::new(&passphrase(kek)?)),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("unknown KEK kind {other} (KL_KEK_*)"),
            ));
        }
    })
}

/// A UTF-8 passphrase from KEK bytes, in memory that is wiped on drop.
fn passphrase(kek: &[u8]) -> Result<Zeroizing<String>> {
    core::str::from_utf8(kek)
        .map(|p| Zeroizing::new(p.to_owned()))
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, "the passphrase is not UTF-8"))
}

fn open_backend(
    backend: u32,
    path: &str,
    kek: &dyn KekProvider,
    who: Principal,
) -> Result<KeyStore> {
    match backend {
        KL_BACKEND_FILE => KeyStore::open(FileBackend::open(path)?, kek, who),
        KL_BACKEND_SQLITE => open_sqlite(path, kek, who),
        KL_BACKEND_POSTGRES => open_postgres(path, None, kek, who),
        other => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown backend {other} (KL_BACKEND_*)"),
        )),
    }
}

/// As `kl_store_open` with `KL_KEK_PASSPHRASE`, with explicit Argon2id
/// costs (RFC 9106) for a store this call creates: `memory_kib` KiB of
/// memory (at least 8 × `parallelism`), `iterations` passes (at least 1),
/// `parallelism` lanes (1 to 2^24 - 1). `kl_store_open` uses RFC 9106 §4's
/// second recommendation: 65536 KiB, 3 passes, 4 lanes. An existing store
/// keeps the costs recorded in its header, whatever these say.
///
/// `passphrase` is a NUL-terminated UTF-8 string; the library wipes its
/// copies, the caller should wipe theirs. On success `*out` receives a new
/// handle; free it with `kl_store_free`.
///
/// Errors: as `kl_store_open`, and `KL_ERR_INVALID_ARGUMENT` for costs
/// Argon2id refuses or an empty passphrase.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_open_passphrase(
    backend: u32,
    path: *const c_char,
    passphrase: *const c_char,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    principal_name: *const c_char,
    role: u32,
    out: *mut *mut kl_store,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each string is NULL or NUL-terminated
        // and `out` NULL or writable.
        let (path, pass, name, out) = unsafe {
            (
                try_str(path, "path")?,
                try_str(passphrase, "passphrase")?,
                try_str(principal_name, "principal_name")?,
                Out::new(out, "out")?,
            )
        };
        let who = principal(name, role)?;
        let kek =
            PassphraseKek::new(pass).params(Argon2Params::new(memory_kib, iterations, parallelism));
        out.write(kl_store::boxed(open_backend(backend, path, &kek, who)?));
        Ok(())
    })
}

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &str, kek: &dyn KekProvider, who: Principal) -> Result<KeyStore> {
    KeyStore::open(crate::store::backend::SqliteBackend::open(path)?, kek, who)
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &str, _: &dyn KekProvider, _: Principal) -> Result<KeyStore> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "this keylife build has no SQLite backend (feature `sqlite`)",
    ))
}

#[cfg(feature = "postgres")]
fn open_postgres(
    conninfo: &str,
    schema: Option<&str>,
    kek: &dyn KekProvider,
    who: Principal,
) -> Result<KeyStore> {
    use crate::store::backend::{PostgresBackend, PostgresOptions};
    let mut options = PostgresOptions::new();
    if let Some(s) = schema {
        options = options.schema(s)?;
    }
    KeyStore::open(PostgresBackend::connect_with(conninfo, &options)?, kek, who)
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_: &str, _: Option<&str>, _: &dyn KekProvider, _: Principal) -> Result<KeyStore> {
    Err(Error::new(
        ErrorKind::Unsupported,
        "this keylife build has no PostgreSQL backend (feature `postgres`)",
    ))
}

/// As `kl_store_open` with `KL_BACKEND_POSTGRES`, with the tables in
/// `schema` (NULL: `keylife`), so that several stores share one database.
/// `schema` is 1 to 48 characters of `a-z`, `0-9` and `_`, not starting
/// with a digit; it is created when missing.
///
/// Errors: as `kl_store_open`, and `KL_ERR_INVALID_ARGUMENT` for a bad
/// schema name or connection string.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_open_postgres(
    conninfo: *const c_char,
    schema: *const c_char,
    kek_kind: u32,
    kek: *const u8,
    kek_len: usize,
    principal_name: *const c_char,
    role: u32,
    out: *mut *mut kl_store,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL (`schema` may be)
        // or valid for its length (inputs) or writable (output).
        let (conninfo, schema, kek, name, out) = unsafe {
            (
                try_str(conninfo, "conninfo")?,
                if schema.is_null() {
                    None
                } else {
                    Some(try_str(schema, "schema")?)
                },
                try_bytes(kek, kek_len, "kek")?,
                try_str(principal_name, "principal_name")?,
                Out::new(out, "out")?,
            )
        };
        let who = principal(name, role)?;
        let provider = kek_provider(kek_kind, kek)?;
        out.write(kl_store::boxed(open_postgres(
            conninfo, schema, &*provider, who,
        )?));
        Ok(())
    })
}

/// Returns, in `*out`, a new handle on the same store acting for the
/// registered principal `principal_name`, with the roles the store's
/// registry holds for it (`kl_store_register_principal`). Only a handle
/// returned by `kl_store_open*` mints principal handles: a principal handle
/// cannot mint another, so code given one cannot act as anyone else. Both
/// handles must be freed with `kl_store_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_PERMISSION_DENIED` from a handle
/// that did not open the store; `KL_ERR_NOT_FOUND` for an unregistered
/// name.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_as_principal(
    store: *const kl_store,
    principal_name: *const c_char,
    out: *mut *mut kl_store,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `store` is NULL or a live handle,
        // `principal_name` NULL or a NUL-terminated string, `out` NULL or
        // writable.
        let (store, name, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(principal_name, "principal_name")?,
                Out::new(out, "out")?,
            )
        };
        let other = store.store.as_principal(name)?;
        out.write(kl_store::boxed(other));
        Ok(())
    })
}

/// Frees a store handle. `NULL` is a no-op. Keys loaded through it stay
/// valid (they keep the store alive). The handle must not be used
/// afterwards, nor freed twice.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_free(store: *mut kl_store) {
    guard_void(|| {
        if !store.is_null() {
            // SAFETY: a pointer from `kl_store::boxed`, freed once (contract).
            drop(unsafe { Box::from_raw(store) });
        }
    });
}

/// Decrypts any keylife ciphertext this principal may decrypt: the key and
/// version are read from the ciphertext's header (no trial decryption).
/// `aad` is the associated data given to `kl_key_encrypt`.
///
/// The plaintext (`ciphertext_len - KL_CIPHERTEXT_OVERHEAD` bytes) is written
/// to the caller buffer `(out, out_cap, out_len)`; see the buffer rules at
/// the top of this header.
///
/// Errors: `KL_ERR_MALFORMED` / `KL_ERR_UNSUPPORTED_VERSION` for bad input;
/// `KL_ERR_NOT_FOUND` for an unknown key; `KL_ERR_WRONG_STATE` /
/// `KL_ERR_VERSION_UNAVAILABLE` when the key may not decrypt;
/// `KL_ERR_AUTHENTICATION_FAILED` for a wrong `aad` or tampered data;
/// `KL_ERR_PERMISSION_DENIED`; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_decrypt(
    store: *const kl_store,
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
        let (store, ct, aad, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_bytes(ciphertext, ciphertext_len, "ciphertext")?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        if let Some(n) = ct.len().checked_sub(super::KL_CIPHERTEXT_OVERHEAD) {
            out.require(n)?;
        }
        let pt = Zeroizing::new(store.store.decrypt(ct, aad)?);
        out.fill(&pt, false)
    })
}

/// As `kl_store_decrypt`, for callers that size the output themselves (the
/// hot path of language bindings): `out` must be valid for writes of
/// exactly `ciphertext_len - KL_CIPHERTEXT_OVERHEAD` bytes, and the
/// plaintext is decrypted straight into it (no intermediate buffer).
/// Nothing is written on failure, except that when authentication fails on
/// a store using the `"aws-lc"` crypto provider, `out` is left zeroed. `out`
/// may overlap `ciphertext` or `aad` (the call then copies the overlapping
/// input first).
///
/// Errors: as `kl_store_decrypt`, without `KL_ERR_BUFFER_TOO_SMALL`;
/// `KL_ERR_MALFORMED` for a ciphertext shorter than
/// `KL_CIPHERTEXT_OVERHEAD`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_decrypt_into(
    store: *const kl_store,
    ciphertext: *const u8,
    ciphertext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `store` is NULL or a live handle.
        let store = unsafe { try_ref(store, "store")? };
        // SAFETY: per the contract, each input is NULL or valid for its
        // length, and `out` for the plaintext's length.
        unsafe {
            super::key_ops::exact_into(
                [
                    (ciphertext, ciphertext_len, "ciphertext"),
                    (aad, aad_len, "aad"),
                ],
                out,
                super::key_ops::plaintext_len,
                |ct, aad, dst| store.store.decrypt_to(ct, aad, dst),
            )
        }
    })
}

/// Writes the inventory — the metadata of every key matching the filter —
/// as a NUL-terminated JSON array of key-info objects (the format of
/// `kl_key_info_json`) into `(out, out_cap, out_len)`.
///
/// Filter: `purpose` is a `KL_PURPOSE_*` value or 0 for any; `state` a
/// `KL_STATE_*` value or 0 for any; `owner` an owner name or `""` for any.
/// The list may change between a size query and the real call; retry on
/// `KL_ERR_BUFFER_TOO_SMALL`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for unknown
/// filter values; `KL_ERR_PERMISSION_DENIED`; storage errors;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_list_json(
    store: *const kl_store,
    purpose: u32,
    state: u32,
    owner: *const c_char,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, owner, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(owner, "owner")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        let mut filter = KeyFilter::new();
        if purpose != 0 {
            filter = filter.purpose(decode(purpose)?);
        }
        if state != 0 {
            filter = filter.state(decode::<StateName>(state)?);
        }
        if !owner.is_empty() {
            filter = filter.owner(owner);
        }
        let list = store.store.list(&filter)?;
        let json = serde_json::to_string(&list)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("JSON encoding: {e}")))?;
        out.fill(json.as_bytes(), true)
    })
}

/// Applies every due date-driven transition (activation dates, ends of
/// cryptoperiods, destruction dates) to every key of the store, and writes
/// the number of keys whose state changed to `*out_changed`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_PERMISSION_DENIED` unless the
/// principal is an administrator or operator; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_maintenance(
    store: *const kl_store,
    out_changed: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, out) = unsafe {
            (
                try_ref(store, "store")?,
                Out::new(out_changed, "out_changed")?,
            )
        };
        let report = store.store.maintenance()?;
        out.write(report.transitions.len());
        Ok(())
    })
}

/// A progress callback: `user_data` as given to the call that takes the
/// callback, then the work done so far and the total (e.g. records
/// re-sealed out of records to re-seal). Called on the calling thread,
/// while the library holds locks on the store: it must not call keylife
/// functions on the same store.
pub type kl_progress_fn = Option<extern "C" fn(user_data: *mut c_void, done: u64, total: u64)>;

/// Moves the store to a new key-encryption key: `new_kek`, exactly 32
/// random bytes (the library copies them; wipe your copy). A fresh record
/// key is sealed under it, every record is re-sealed, then the old KEK and
/// record keys are dropped. From then on the store opens only with
/// `new_kek` (`kl_store_open` with `KL_KEK_RAW`).
///
/// `progress` may be NULL; when set it is called with `user_data` as
/// records are re-sealed (see `kl_progress_fn`). `user_data` is passed
/// through untouched and may be NULL.
///
/// Crash-safe: if the process dies midway, the store opens under either
/// KEK and calling this again with the same `new_kek` finishes the job
/// (`kl_store_kek_rotation_pending` tells). Run it while no other process
/// writes to the store. Administrators only; audited.
///
/// Errors: `KL_ERR_NULL_POINTER` (`store`, `new_kek`);
/// `KL_ERR_INVALID_ARGUMENT` for a KEK that is not 32 bytes;
/// `KL_ERR_PERMISSION_DENIED`; `KL_ERR_WRONG_KEK` when resuming an
/// interrupted rotation with another new KEK; `KL_ERR_CONFLICT` when another
/// writer interfered (run it again); storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_rotate_kek(
    store: *const kl_store,
    new_kek: *const u8,
    new_kek_len: usize,
    progress: kl_progress_fn,
    user_data: *mut c_void,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `store` is NULL or a live handle and
        // `new_kek` NULL or valid for `new_kek_len` bytes.
        let (store, kek) = unsafe {
            (
                try_ref(store, "store")?,
                try_bytes(new_kek, new_kek_len, "new_kek")?,
            )
        };
        let new = RawKek::new(Kek::from_bytes(kek)?);
        let mut report = |done: u64, total: u64| {
            if let Some(f) = progress {
                f(user_data, done, total);
            }
        };
        store.store.rotate_kek(&new, &mut report)
    })
}

/// Writes 1 to `*out_pending` when a KEK rotation was interrupted and should
/// be finished with `kl_store_rotate_kek` (with the same new KEK), else 0.
///
/// Errors: `KL_ERR_NULL_POINTER`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_kek_rotation_pending(
    store: *const kl_store,
    out_pending: *mut u32,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, out) = unsafe {
            (
                try_ref(store, "store")?,
                Out::new(out_pending, "out_pending")?,
            )
        };
        let pending = store.store.kek_rotation_pending()?;
        out.write(u32::from(pending));
        Ok(())
    })
}

fn provider_name(p: crate::CryptoProvider) -> *const c_char {
    // NUL-terminated copies of `CryptoProvider::name`, static for C.
    let s: &'static core::ffi::CStr = match p {
        crate::CryptoProvider::RustCrypto => c"rustcrypto",
        #[cfg(feature = "aws-lc")]
        crate::CryptoProvider::AwsLc => c"aws-lc",
    };
    s.as_ptr()
}

/// Makes the crypto provider called `name` the process default: `"rustcrypto"`
/// (RustCrypto, pure Rust) or `"aws-lc"` (AWS-LC's assembly AES-GCM and
/// P-256; libraries built with the `aws-lc` feature, where it is already
/// the default — as in the library `scripts/test-c.sh` builds). Stores
/// opened afterwards run on it; stores already open keep theirs. Providers
/// interoperate: ciphertexts and signatures of one are accepted by the
/// other. Call it once, before opening stores; installing the provider that
/// is already installed succeeds.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_UNSUPPORTED` for `"aws-lc"` in a
/// build without it; `KL_ERR_INVALID_ARGUMENT` for an unknown name;
/// `KL_ERR_CONFLICT` when another provider was installed before.
#[unsafe(no_mangle)]
pub extern "C" fn kl_crypto_provider_install(name: *const c_char) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `name` is NULL or a NUL-terminated string.
        let name = unsafe { try_str(name, "name")? };
        crate::CryptoProvider::from_name(name)?.install_default()
    })
}

/// The name of the process's default crypto provider: the one
/// `kl_crypto_provider_install` installed, else `"aws-lc"` in a library
/// built with it, else `"rustcrypto"`. A static string: do not free it.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kl_crypto_provider_default() -> *const c_char {
    provider_name(crate::CryptoProvider::get_default())
}

/// The name of the crypto provider `store` runs on, or NULL for a NULL
/// `store`. A static string: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_crypto_provider(store: *const kl_store) -> *const c_char {
    // SAFETY: per the contract, `store` is NULL or a live handle.
    match unsafe { try_ref(store, "store") } {
        Ok(s) => provider_name(s.store.crypto_provider()),
        Err(_) => core::ptr::null(),
    }
}

/// 1 if the process's default crypto provider (`kl_crypto_provider_default`)
/// runs in a FIPS 140-3 module in FIPS mode, else 0. Only a library built
/// with the `fips` feature (`"aws-lc"` on AWS-LC's FIPS module) reports 1.
/// It covers that provider's AES-256-GCM, ECDSA and ECDH, not every
/// primitive keylife uses: HMAC, HKDF, SHA-256, key wrap, Argon2id and key
/// generation stay outside the module (the crate's `crypto::provider` docs,
/// "FIPS mode"), so it is no claim of FIPS 140-3 validation. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kl_crypto_provider_fips_mode() -> u32 {
    u32::from(crate::CryptoProvider::get_default().fips_mode())
}

/// 1 if the crypto provider `store` runs on is in FIPS mode (as
/// `kl_crypto_provider_fips_mode`), 0 if not or for a NULL `store`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_fips_mode(store: *const kl_store) -> u32 {
    // SAFETY: per the contract, `store` is NULL or a live handle.
    match unsafe { try_ref(store, "store") } {
        Ok(s) => u32::from(s.store.crypto_provider().fips_mode()),
        Err(_) => 0,
    }
}

/// Decrypts the keylife stream in the file `in_path` (from
/// `kl_key_encrypt_file`; the header names key and version) into the file
/// `out_path`, which is replaced only when every segment authenticated: a
/// damaged, truncated or reordered stream leaves no plaintext behind. The
/// plaintext length goes to `plaintext_len` unless it is NULL.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for a path
/// that is not UTF-8; `KL_ERR_NOT_FOUND` for a missing input or an unknown
/// key; `KL_ERR_MALFORMED` / `KL_ERR_UNSUPPORTED_VERSION` for a file that
/// is not a keylife stream; `KL_ERR_AUTHENTICATION_FAILED`;
/// `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED`; `KL_ERR_STORAGE`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_decrypt_file(
    store: *const kl_store,
    in_path: *const c_char,
    out_path: *const c_char,
    aad: *const u8,
    aad_len: usize,
    plaintext_len: *mut u64,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid (paths
        // NUL-terminated, `aad` for `aad_len` bytes).
        let (store, input, output, aad) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(in_path, "in_path")?,
                try_str(out_path, "out_path")?,
                try_bytes(aad, aad_len, "aad")?,
            )
        };
        let n = store
            .store
            .decrypt_file(input.as_ref(), output.as_ref(), aad)?;
        super::write_optional(plaintext_len, n);
        Ok(())
    })
}
