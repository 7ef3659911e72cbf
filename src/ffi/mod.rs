//! The C ABI. `include/keylife.h` is generated from this module by cbindgen
//! (see `cbindgen.toml`); the doc comments here are the C manual.
//!
//! The conventions every entry point follows (results, the thread-local
//! last error, caller buffers, secrets, ownership, threads) are written at
//! the top of the header, from `cbindgen.toml`.

// C names: these types and constants appear in the header as they are.
#![allow(non_camel_case_types)]
// The entry points are `extern "C"` functions for C callers, which pass raw
// pointers whose validity is the documented contract of each function (as in
// rustls-ffi). Rust callers use the safe Rust API instead.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// Declared in this order so the header reads: stores, keys, audit,
// governance, hazmat.
mod store;

mod key;

mod key_ops;

mod audit;

mod governance;

#[cfg(feature = "hazmat")]
mod hazmat;

use core::ffi::c_char;
use core::ptr::NonNull;
use std::cell::RefCell;
use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use self::audit::*;
pub use self::governance::*;
#[cfg(feature = "hazmat")]
pub use self::hazmat::*;
pub use self::key::*;
pub use self::key_ops::*;
pub use self::store::*;

use crate::base::codes::CodeEnum;
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::governance::policy::ApprovalOperation;
use crate::governance::principal::Role;
use crate::key::Operation;
use crate::key::{Purpose, StateName};

/// keylife's major version.
pub const KEYLIFE_VERSION_MAJOR: u32 = 0;
/// keylife's minor version.
pub const KEYLIFE_VERSION_MINOR: u32 = 1;
/// keylife's patch version.
pub const KEYLIFE_VERSION_PATCH: u32 = 0;

/// The result of every fallible call: `KL_OK` or a `KL_ERR_*` code.
pub type kl_result = u32;

/// Success.
pub const KL_OK: kl_result = 0;
/// An argument was out of range or inconsistent (the last error says which).
pub const KL_ERR_INVALID_ARGUMENT: kl_result = 1;
/// A caller buffer was too small; `*out_len` holds the size needed.
pub const KL_ERR_BUFFER_TOO_SMALL: kl_result = 2;
/// A required pointer was NULL.
pub const KL_ERR_NULL_POINTER: kl_result = 3;
/// The library caught a panic at the boundary; this is a bug in keylife.
pub const KL_ERR_PANIC: kl_result = 4;
/// The `kl_key` handle was consumed by a failed transition; load the key
/// again with `kl_key_load`.
pub const KL_ERR_ALREADY_CONSUMED: kl_result = 5;
/// No key (or record, or version) with that identifier exists.
pub const KL_ERR_NOT_FOUND: kl_result = 10;
/// An object with that identifier already exists.
pub const KL_ERR_ALREADY_EXISTS: kl_result = 11;
/// The key is not in a state that allows the operation.
pub const KL_ERR_WRONG_STATE: kl_result = 12;
/// The key's purpose does not allow the operation.
pub const KL_ERR_WRONG_PURPOSE: kl_result = 13;
/// The algorithm, parameter or feature is not supported.
pub const KL_ERR_UNSUPPORTED: kl_result = 14;
/// Input bytes could not be parsed (ciphertext, key encoding, id).
pub const KL_ERR_MALFORMED: kl_result = 15;
/// Authentication failed: wrong key, wrong context, or tampered data.
/// Deliberately opaque.
pub const KL_ERR_AUTHENTICATION_FAILED: kl_result = 16;
/// The principal is not allowed to perform the operation.
pub const KL_ERR_PERMISSION_DENIED: kl_result = 17;
/// The operation needs approvals (dual control) that were not supplied.
pub const KL_ERR_APPROVAL_REQUIRED: kl_result = 18;
/// A usage limit (e.g. the AES-GCM invocation bound) was reached.
pub const KL_ERR_USAGE_LIMIT_EXCEEDED: kl_result = 19;
/// A concurrent writer changed the record first.
pub const KL_ERR_CONFLICT: kl_result = 20;
/// A stored record failed its integrity check.
pub const KL_ERR_INTEGRITY: kl_result = 21;
/// The key-encryption key does not open this store.
pub const KL_ERR_WRONG_KEK: kl_result = 22;
/// The storage backend failed (I/O, database, full disk).
pub const KL_ERR_STORAGE: kl_result = 23;
/// The request violates policy.
pub const KL_ERR_POLICY: kl_result = 24;
/// Data was produced by a newer, unknown format version.
pub const KL_ERR_UNSUPPORTED_VERSION: kl_result = 25;
/// The key version exists but may not be used.
pub const KL_ERR_VERSION_UNAVAILABLE: kl_result = 26;
/// The storage server cannot be reached now: retry later.
pub const KL_ERR_UNAVAILABLE: kl_result = 27;
/// An internal invariant failed; this is a bug in keylife.
pub const KL_ERR_INTERNAL: kl_result = 99;

/// The `KL_ERR_*` constant for an error kind: its code.
#[must_use]
pub const fn result_for(kind: ErrorKind) -> kl_result {
    kind.code()
}

/// Authenticated encryption (AES-256-GCM).
pub const KL_PURPOSE_AEAD: u32 = 1;
/// Signatures (ECDSA P-256 / SHA-256).
pub const KL_PURPOSE_SIGNING: u32 = 2;
/// Message authentication (HMAC-SHA-256).
pub const KL_PURPOSE_MAC: u32 = 3;
/// Key agreement (ECDH P-256, output through HKDF-SHA-256).
pub const KL_PURPOSE_AGREEMENT: u32 = 4;
/// Key derivation (HKDF-SHA-256).
pub const KL_PURPOSE_DERIVATION: u32 = 5;

/// The `KL_PURPOSE_*` constant for a purpose: its code.
#[must_use]
pub const fn purpose_constant(p: Purpose) -> u32 {
    p.code()
}

/// Generated, not yet usable.
pub const KL_STATE_PRE_ACTIVE: u32 = 1;
/// In use.
pub const KL_STATE_ACTIVE: u32 = 2;
/// Temporarily out of use; processing only where the key allows it.
pub const KL_STATE_SUSPENDED: u32 = 3;
/// Processing only (decrypt, verify).
pub const KL_STATE_DEACTIVATED: u32 = 4;
/// Known or suspected to be exposed; nothing works.
pub const KL_STATE_COMPROMISED: u32 = 5;
/// Waiting for its destruction date; cancellable.
pub const KL_STATE_PENDING_DESTRUCTION: u32 = 6;
/// Material destroyed; metadata kept.
pub const KL_STATE_DESTROYED: u32 = 7;
/// Destroyed after having been compromised.
pub const KL_STATE_DESTROYED_COMPROMISED: u32 = 8;

/// The `KL_STATE_*` constant for a state: its code.
#[must_use]
pub const fn state_constant(s: StateName) -> u32 {
    s.code()
}

/// Manages keys, policy and principals; may do everything.
pub const KL_ROLE_ADMINISTRATOR: u32 = 1;
/// Creates, rotates and changes the state of keys.
pub const KL_ROLE_OPERATOR: u32 = 2;
/// Uses keys (encrypt, sign, ...) but cannot change their state.
pub const KL_ROLE_APPLICATION: u32 = 3;
/// Reads inventory and audit; cannot use keys.
pub const KL_ROLE_AUDITOR: u32 = 4;
/// Holds backup shares; reads inventory.
pub const KL_ROLE_CUSTODIAN: u32 = 5;

/// The `KL_ROLE_*` constant for a role: its code.
#[must_use]
pub const fn role_constant(r: Role) -> u32 {
    r.code()
}

/// `kl_key_grant` operation bit: AEAD encrypt.
pub const KL_OP_ENCRYPT: u32 = 1;
/// `kl_key_grant` operation bit: AEAD decrypt.
pub const KL_OP_DECRYPT: u32 = 2;
/// `kl_key_grant` operation bit: re-encrypt under the primary version.
pub const KL_OP_REWRAP: u32 = 4;
/// `kl_key_grant` operation bit: sign.
pub const KL_OP_SIGN: u32 = 8;
/// `kl_key_grant` operation bit: verify a signature.
pub const KL_OP_VERIFY: u32 = 16;
/// `kl_key_grant` operation bit: compute a MAC.
pub const KL_OP_MAC: u32 = 32;
/// `kl_key_grant` operation bit: verify a MAC.
pub const KL_OP_VERIFY_MAC: u32 = 64;
/// `kl_key_grant` operation bit: HKDF derivation.
pub const KL_OP_DERIVE: u32 = 128;
/// `kl_key_grant` operation bit: ECDH key agreement.
pub const KL_OP_AGREE: u32 = 256;

/// The `KL_OP_*` bits and the use operations they stand for, in bit order.
/// A grant names use operations only; the tests check this table against
/// the core's notion of a use operation.
pub const OPERATION_BITS: [(u32, Operation); 9] = [
    (KL_OP_ENCRYPT, Operation::Encrypt),
    (KL_OP_DECRYPT, Operation::Decrypt),
    (KL_OP_REWRAP, Operation::Rewrap),
    (KL_OP_SIGN, Operation::Sign),
    (KL_OP_VERIFY, Operation::Verify),
    (KL_OP_MAC, Operation::Mac),
    (KL_OP_VERIFY_MAC, Operation::VerifyMac),
    (KL_OP_DERIVE, Operation::Derive),
    (KL_OP_AGREE, Operation::Agree),
];

/// Dual control: destroy key material now (`kl_key_destroy`).
pub const KL_APPROVAL_DESTROY: u32 = 1;
/// Dual control: schedule a key for destruction.
pub const KL_APPROVAL_SCHEDULE_DESTRUCTION: u32 = 2;
/// Dual control: export key material in plaintext (hazmat).
pub const KL_APPROVAL_EXPORT: u32 = 3;
/// Dual control: restore keys from a backup.
pub const KL_APPROVAL_RESTORE: u32 = 4;
/// Dual control: replace the store's policy (the request's
/// `policy_digest` parameter is the new policy's `kl_policy_digest`).
pub const KL_APPROVAL_POLICY_CHANGE: u32 = 5;
/// Dual control: the audited decrypt-to-rewrap override for a compromised
/// key.
pub const KL_APPROVAL_COMPROMISED_DECRYPT: u32 = 6;
/// Dual control: register or remove a trusted export destination (the Rust
/// API's `KeyStore::trust_recipient`; key export is not in the C ABI yet).
pub const KL_APPROVAL_TRUST_DESTINATION: u32 = 7;

/// The `KL_APPROVAL_*` constant for an approval operation: its code.
#[must_use]
pub const fn approval_constant(op: ApprovalOperation) -> u32 {
    op.code()
}

/// `kl_store_open` backend: a single file (small keysets shipped with an
/// application).
pub const KL_BACKEND_FILE: u32 = 1;
/// `kl_store_open` backend: SQLite (the embedded default; needs the
/// `sqlite` feature, on by default).
pub const KL_BACKEND_SQLITE: u32 = 2;
/// `kl_store_open` backend: PostgreSQL, one store shared by a fleet; the
/// `path` argument is a libpq connection string or URL, the tables live in
/// schema `keylife` (`kl_store_open_postgres` chooses another). Needs the
/// `postgres` feature.
pub const KL_BACKEND_POSTGRES: u32 = 3;

/// `kl_store_open` KEK kind: 32 raw bytes.
pub const KL_KEK_RAW: u32 = 1;
/// `kl_store_open` KEK kind: a UTF-8 passphrase, stretched with Argon2id.
pub const KL_KEK_PASSPHRASE: u32 = 2;

/// `kl_key_create_ex` flag: the key may be exported with the hazmat export
/// (fixed at creation).
pub const KL_CREATE_EXPORTABLE: u32 = 1;
/// `kl_key_create_ex` flag: a Suspended key may not decrypt or verify
/// (by default it may).
pub const KL_CREATE_NO_SUSPENDED_PROCESSING: u32 = 2;

/// Length of a key id in hex digits. `kl_key_id` needs a buffer of
/// `KL_KEY_ID_HEX_LEN + 1` bytes (the NUL).
pub const KL_KEY_ID_HEX_LEN: usize = 32;
/// Bytes a keylife ciphertext adds to its plaintext (header and tag).
pub const KL_CIPHERTEXT_OVERHEAD: usize = 50;
/// Upper bound of a DER ECDSA P-256 signature's length.
pub const KL_SIGNATURE_DER_MAX_LEN: usize = 72;
/// Length of a fixed-width (`r || s`) ECDSA P-256 signature.
pub const KL_SIGNATURE_FIXED_LEN: usize = 64;
/// Length of an HMAC-SHA-256 tag.
pub const KL_MAC_LEN: usize = 32;
/// Length of the audit log's head MAC in hex digits. `kl_store_verify_audit`
/// needs a buffer of `KL_AUDIT_HEAD_MAC_HEX_LEN + 1` bytes (the NUL).
pub const KL_AUDIT_HEAD_MAC_HEX_LEN: usize = 64;
/// A buffer of this many bytes always holds the JSON of
/// `kl_store_audit_checkpoint` (NUL included).
pub const KL_AUDIT_CHECKPOINT_JSON_MAX: usize = 512;
/// Length of a policy digest (`kl_policy_digest`) in hex digits; the buffer
/// needs one more byte for the NUL.
pub const KL_POLICY_DIGEST_HEX_LEN: usize = 64;

const _: () = assert!(KL_CIPHERTEXT_OVERHEAD == crate::key::ciphertext::OVERHEAD);

// cbindgen copies literal constants into the header; the codes themselves
// are declared once, in the core's enums (`code_enum!`). Each constant is
// checked against its variant at compile time, and the tests check that
// every variant has a constant.
macro_rules! same_code {
    ($($c:ident == $v:expr;)+) => {$(
        const _: () = assert!($c == $v.code());
    )+};
}
same_code! {
    KL_PURPOSE_AEAD == Purpose::Aead;
    KL_PURPOSE_SIGNING == Purpose::Signing;
    KL_PURPOSE_MAC == Purpose::Mac;
    KL_PURPOSE_AGREEMENT == Purpose::Agreement;
    KL_PURPOSE_DERIVATION == Purpose::Derivation;
    KL_STATE_PRE_ACTIVE == StateName::PreActive;
    KL_STATE_ACTIVE == StateName::Active;
    KL_STATE_SUSPENDED == StateName::Suspended;
    KL_STATE_DEACTIVATED == StateName::Deactivated;
    KL_STATE_COMPROMISED == StateName::Compromised;
    KL_STATE_PENDING_DESTRUCTION == StateName::PendingDestruction;
    KL_STATE_DESTROYED == StateName::Destroyed;
    KL_STATE_DESTROYED_COMPROMISED == StateName::DestroyedCompromised;
    KL_ROLE_ADMINISTRATOR == Role::Administrator;
    KL_ROLE_OPERATOR == Role::Operator;
    KL_ROLE_APPLICATION == Role::Application;
    KL_ROLE_AUDITOR == Role::Auditor;
    KL_ROLE_CUSTODIAN == Role::Custodian;
    KL_APPROVAL_DESTROY == ApprovalOperation::Destroy;
    KL_APPROVAL_SCHEDULE_DESTRUCTION == ApprovalOperation::ScheduleDestruction;
    KL_APPROVAL_EXPORT == ApprovalOperation::Export;
    KL_APPROVAL_RESTORE == ApprovalOperation::Restore;
    KL_APPROVAL_POLICY_CHANGE == ApprovalOperation::PolicyChange;
    KL_APPROVAL_COMPROMISED_DECRYPT == ApprovalOperation::CompromisedDecrypt;
    KL_APPROVAL_TRUST_DESTINATION == ApprovalOperation::TrustDestination;
    KL_ERR_INVALID_ARGUMENT == ErrorKind::InvalidArgument;
    KL_ERR_BUFFER_TOO_SMALL == ErrorKind::BufferTooSmall;
    KL_ERR_NULL_POINTER == ErrorKind::NullPointer;
    KL_ERR_PANIC == ErrorKind::Panic;
    KL_ERR_ALREADY_CONSUMED == ErrorKind::AlreadyConsumed;
    KL_ERR_NOT_FOUND == ErrorKind::NotFound;
    KL_ERR_ALREADY_EXISTS == ErrorKind::AlreadyExists;
    KL_ERR_WRONG_STATE == ErrorKind::WrongState;
    KL_ERR_WRONG_PURPOSE == ErrorKind::WrongPurpose;
    KL_ERR_UNSUPPORTED == ErrorKind::Unsupported;
    KL_ERR_MALFORMED == ErrorKind::Malformed;
    KL_ERR_AUTHENTICATION_FAILED == ErrorKind::AuthenticationFailed;
    KL_ERR_PERMISSION_DENIED == ErrorKind::PermissionDenied;
    KL_ERR_APPROVAL_REQUIRED == ErrorKind::ApprovalRequired;
    KL_ERR_USAGE_LIMIT_EXCEEDED == ErrorKind::UsageLimitExceeded;
    KL_ERR_CONFLICT == ErrorKind::Conflict;
    KL_ERR_INTEGRITY == ErrorKind::Integrity;
    KL_ERR_WRONG_KEK == ErrorKind::WrongKek;
    KL_ERR_STORAGE == ErrorKind::Storage;
    KL_ERR_POLICY == ErrorKind::Policy;
    KL_ERR_UNSUPPORTED_VERSION == ErrorKind::UnsupportedVersion;
    KL_ERR_VERSION_UNAVAILABLE == ErrorKind::VersionUnavailable;
    KL_ERR_UNAVAILABLE == ErrorKind::Unavailable;
    KL_ERR_INTERNAL == ErrorKind::Internal;
}

// ----- results, last error, panic boundary -----

thread_local! {
    /// The detail message of the last failed call on this thread. Never
    /// process-global: one thread's failure cannot overwrite another's.
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn set_last_error(msg: String) {
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = Some(msg);
        }
    });
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut()
            && s.is_some()
        {
            *s = None;
        }
    });
}

/// Runs an entry point's body inside the panic boundary and turns its
/// result into a `kl_result`, recording the message of a failure.
fn guard(f: impl FnOnce() -> Result<()>) -> kl_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last_error();
            KL_OK
        }
        Ok(Err(e)) => {
            set_last_error(e.to_string());
            result_for(e.kind())
        }
        Err(_) => {
            set_last_error("internal panic: a bug in keylife, please report it".to_owned());
            KL_ERR_PANIC
        }
    }
}

/// Runs a `void` function (the `kl_*_free` family) inside the panic
/// boundary: a panic there is swallowed rather than unwinding into C.
fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

fn null(what: &str) -> Error {
    Error::new(ErrorKind::NullPointer, format!("{what} is NULL"))
}

/// Returns a static, NUL-terminated description of a result code, e.g.
/// `"wrong key state"` for `KL_ERR_WRONG_STATE`, `"ok"` for `KL_OK`, and
/// `"unknown result code"` for codes this version does not know.
///
/// The string is owned by the library and lives for the whole program: do
/// not free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kl_result_str(code: u32) -> *const c_char {
    let s: &'static CStr = if code == KL_OK {
        c"ok"
    } else {
        match ErrorKind::from_code(code) {
            Some(k) => k.as_cstr(),
            None => c"unknown result code",
        }
    };
    s.as_ptr()
}

/// Copies the detail message of the most recent failed call **on the
/// calling thread** into `buf`, NUL-terminated, and returns the number of
/// bytes the message needs including the NUL (0 when the last call on this
/// thread succeeded, or no call failed yet).
///
/// The message is written only when `cap` is at least the returned size;
/// otherwise `buf` is left untouched (call again with a larger buffer).
/// `buf` may be NULL when `cap` is 0. Messages never contain key material.
///
/// Every `kl_*` call that returns a `kl_result` replaces the message: a
/// success clears it. Reading it does not clear it. Thread-safe: each
/// thread has its own message.
#[unsafe(no_mangle)]
pub extern "C" fn kl_last_error(buf: *mut c_char, cap: usize) -> usize {
    let r = catch_unwind(AssertUnwindSafe(|| {
        LAST_ERROR
            .try_with(|slot| {
                let slot = slot.try_borrow().ok()?;
                let msg = slot.as_ref()?;
                // Interior NULs cannot occur in our messages; cut at one if
                // it ever did, so C sees the whole string we report.
                let bytes = msg.as_bytes();
                let bytes = bytes
                    .iter()
                    .position(|b| *b == 0)
                    .map_or(bytes, |i| &bytes[..i]);
                let needed = bytes.len() + 1;
                if !buf.is_null() && cap >= needed {
                    // SAFETY: the caller passes a buffer valid for `cap`
                    // bytes of writes (documented contract), `needed <= cap`,
                    // and our own `bytes` cannot overlap a C buffer.
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            bytes.as_ptr(),
                            buf.cast::<u8>(),
                            bytes.len(),
                        );
                        buf.add(bytes.len()).write(0);
                    }
                }
                Some(needed)
            })
            .ok()
            .flatten()
            .unwrap_or(0)
    }));
    r.unwrap_or(0)
}

/// Returns keylife's version, `"major.minor.patch"`, as a static
/// NUL-terminated string (equal to `KEYLIFE_VERSION` of the header the
/// program was compiled with, unless it runs against another build). Do not
/// free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn kl_version() -> *const c_char {
    const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

// ----- pointer helpers -----
//
// Each entry point turns its raw pointers into references and slices in one
// place, through these `unsafe fn`s, whose safety conditions are the
// function's documented C contract.

/// A shared reference from a C pointer.
///
/// # Safety
/// `p` is NULL or points to a live `T` for `'a`.
unsafe fn try_ref<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: forwarded to the caller.
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

/// A byte input. `(NULL, 0)` is the empty slice.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes for `'a`.
unsafe fn try_bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(what));
    }
    if isize::try_from(len).is_err() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what}: length {len} is too large"),
        ));
    }
    // SAFETY: non-NULL, valid for `len` bytes (caller), `len <= isize::MAX`.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A NUL-terminated UTF-8 string input.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn try_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated (caller).
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// An output parameter: checked for NULL up front, written on success.
struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    /// `p` is NULL or valid for a write of one `T` until `write` is called.
    unsafe fn new(p: *mut T, what: &str) -> Result<Out<T>> {
        NonNull::new(p).map(Out).ok_or_else(|| null(what))
    }

    fn write(self, v: T) {
        // SAFETY: `new`'s contract: valid for one write of `T`. `write`
        // (not assignment) so no old value is dropped.
        unsafe { self.0.as_ptr().write(v) }
    }
}

/// Writes `v` to an optional output parameter: nothing when `out` is NULL.
/// Callers pass a pointer their contract makes NULL or valid for one write.
fn write_optional<T>(out: *mut T, v: T) {
    if let Some(p) = NonNull::new(out) {
        // SAFETY: the entry point's contract: a non-NULL `out` is valid for
        // one write of `T`.
        unsafe { p.as_ptr().write(v) }
    }
}

/// A caller buffer `(out, out_cap, out_len)`.
struct OutBuf {
    ptr: *mut u8,
    cap: usize,
    len: Out<usize>,
}

impl OutBuf {
    /// # Safety
    /// `out` is valid for writes of `cap` bytes (or NULL with `cap == 0`)
    /// and `len` is NULL or valid for a write of one `size_t`.
    unsafe fn new(out: *mut u8, cap: usize, len: *mut usize) -> Result<OutBuf> {
        // SAFETY: forwarded to the caller.
        let len = unsafe { Out::new(len, "out_len") }?;
        if out.is_null() && cap != 0 {
            return Err(null("out"));
        }
        Ok(OutBuf { ptr: out, cap, len })
    }

    /// Fails with `KL_ERR_BUFFER_TOO_SMALL` (reporting `needed`) before an
    /// operation whose output size is known in advance, so no work (and no
    /// AES-GCM invocation) is wasted.
    fn require(&self, needed: usize) -> Result<()> {
        if needed > self.cap {
            // SAFETY: as `Out::write`; the documented exception to "outputs
            // only on success".
            unsafe { self.len.0.as_ptr().write(needed) };
            return Err(too_small(needed, self.cap));
        }
        Ok(())
    }

    /// Writes `data` (and a NUL when `text`), or reports the size needed.
    fn fill(self, data: &[u8], text: bool) -> Result<()> {
        let needed = data.len() + usize::from(text);
        self.require(needed)?;
        if needed > 0 {
            // SAFETY: `ptr` is valid for `cap >= needed` bytes (`new`'s
            // contract; non-NULL since cap > 0) and cannot overlap `data`,
            // which the library owns.
            unsafe {
                core::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr, data.len());
                if text {
                    self.ptr.add(data.len()).write(0);
                }
            }
        }
        self.len.write(needed);
        Ok(())
    }
}

fn too_small(needed: usize, cap: usize) -> Error {
    Error::new(
        ErrorKind::BufferTooSmall,
        format!("output needs {needed} bytes, the buffer has {cap}"),
    )
}

/// The value of a code enum for a code received from C (`KL_PURPOSE_*`,
/// `KL_ROLE_*`, …), or `KL_ERR_INVALID_ARGUMENT` naming what was expected.
fn decode<T: CodeEnum>(code: u32) -> Result<T> {
    T::from_code_u32(code).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown {} {code} ({})", T::WHAT, T::C_NAMES),
        )
    })
}

/// Frees a handle made with `Box::into_raw`, inside the panic boundary;
/// NULL is a no-op (the `kl_*_free` family).
///
/// # Safety
/// `p` is NULL or a pointer from `Box::into_raw` of this type that was not
/// freed yet, and is not used afterwards.
unsafe fn free_box<T>(p: *mut T) {
    guard_void(|| {
        if !p.is_null() {
            // SAFETY: the function's contract.
            drop(unsafe { Box::from_raw(p) });
        }
    });
}

/// A value as JSON, for the `*_json` outputs.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("JSON encoding: {e}")))
}

// ----- secrets -----

/// Secret bytes owned by the library (a derived key, an agreed key,
/// exported key material).
///
/// Read with `kl_secret_data` and `kl_secret_len`; release with
/// `kl_secret_free`, which overwrites the bytes with zeros before freeing
/// them. Copy the bytes out only as far as you must, and wipe your copies.
pub struct kl_secret {
    bytes: SecretBytes,
}

impl kl_secret {
    fn boxed(bytes: SecretBytes) -> *mut kl_secret {
        Box::into_raw(Box::new(kl_secret { bytes }))
    }
}

/// Returns a pointer to the secret's bytes, valid until `kl_secret_free`.
/// Returns NULL when `secret` is NULL. Do not free the pointer.
#[unsafe(no_mangle)]
pub extern "C" fn kl_secret_data(secret: *const kl_secret) -> *const u8 {
    // SAFETY: NULL or a live `kl_secret` from this library (contract).
    match unsafe { secret.as_ref() } {
        Some(s) => s.bytes.expose_secret().as_ptr(),
        None => core::ptr::null(),
    }
}

/// Returns the secret's length in bytes (0 when `secret` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn kl_secret_len(secret: *const kl_secret) -> usize {
    // SAFETY: NULL or a live `kl_secret` from this library (contract).
    unsafe { secret.as_ref() }.map_or(0, |s| s.bytes.len())
}

/// Overwrites the secret's bytes with zeros and frees it. `NULL` is a no-op.
/// The pointer must not be used afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn kl_secret_free(secret: *mut kl_secret) {
    // SAFETY: a pointer from `kl_secret::boxed`, freed once (contract).
    // Dropping zeroizes (`SecretBytes`).
    unsafe { free_box(secret) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_its_constant() {
        for k in ErrorKind::ALL {
            assert_eq!(result_for(k), k.code(), "{k:?}");
            // SAFETY: kl_result_str returns a static NUL-terminated string.
            let s = unsafe { CStr::from_ptr(kl_result_str(k.code())) };
            assert_eq!(s.to_str().ok(), Some(k.as_str()), "{k:?}");
        }
    }

    /// `FOO_BAR` for `FooBar` or `foo_bar`.
    fn screaming(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// Every value of `T` has its `#define PREFIX_NAME code` in the
    /// header, and the header has no other constant with that prefix.
    fn header_has_every<T: CodeEnum>(header: &str, prefix: &str, name: impl Fn(T) -> String) {
        let defined: Vec<&str> = header
            .lines()
            .filter(|l| l.starts_with(&format!("#define {prefix}")))
            .collect();
        for v in T::VALUES {
            let line = format!("#define {prefix}{} {}", name(*v), v.code_u32());
            assert!(defined.contains(&line.as_str()), "missing: {line}");
        }
        assert_eq!(defined.len(), T::VALUES.len(), "{defined:?}");
    }

    #[test]
    fn every_code_enum_value_has_its_header_constant() {
        let header = include_str!("../../include/keylife.h");
        header_has_every::<Purpose>(header, "KL_PURPOSE_", |p| screaming(p.as_str()));
        header_has_every::<StateName>(header, "KL_STATE_", |s| screaming(s.as_str()));
        header_has_every::<Role>(header, "KL_ROLE_", |r| screaming(r.as_str()));
        header_has_every::<ApprovalOperation>(header, "KL_APPROVAL_", |o| screaming(o.as_str()));
        header_has_every::<ErrorKind>(header, "KL_ERR_", |k| screaming(&format!("{k:?}")));
    }

    #[test]
    fn approval_codes_round_trip() {
        for op in ApprovalOperation::ALL {
            assert_eq!(
                decode::<ApprovalOperation>(approval_constant(op)).ok(),
                Some(op)
            );
        }
        for bad in [0, 8, u32::MAX] {
            let e = decode::<ApprovalOperation>(bad).err();
            assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InvalidArgument));
        }
        assert_eq!(
            decode::<Purpose>(9).map_err(|e| e.to_string()),
            Err("invalid argument: unknown purpose 9 (KL_PURPOSE_*)".to_owned())
        );
    }

    #[test]
    fn version_constants_match_cargo() {
        assert_eq!(
            KEYLIFE_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            KEYLIFE_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            KEYLIFE_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
