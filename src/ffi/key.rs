//! `kl_key`: creating, loading, transitioning and using keys.

use core::ffi::c_char;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use zeroize::Zeroizing;

use super::{
    KL_CIPHERTEXT_OVERHEAD, KL_CREATE_EXPORTABLE, KL_CREATE_NO_SUSPENDED_PROCESSING, KL_MAC_LEN,
    KL_SIGNATURE_FIXED_LEN, Out, OutBuf, guard, guard_void, kl_result, kl_secret, kl_store,
    purpose_constant, purpose_from, state_constant, try_bytes, try_ref, try_str,
};
use crate::base::{Error, ErrorKind, Result};
use crate::key::{
    KeyId, KeyPurpose, KeySpec, PublicKey, Purpose, StateName,
    purpose::{Aead, Agreement, Derivation, Mac, Signing},
};
use crate::store::{AnyKey, KeyStore};

/// A key of any purpose, in the state its handle last saw.
#[derive(Debug)]
pub(crate) enum DynKey {
    Aead(AnyKey<Aead>),
    Signing(AnyKey<Signing>),
    Mac(AnyKey<Mac>),
    Agreement(AnyKey<Agreement>),
    Derivation(AnyKey<Derivation>),
}

/// Runs `$e` with `$k` bound to the typed `Key<P, S>` inside an `AnyKey`.
macro_rules! each_state {
    ($any:expr, $k:ident => $e:expr) => {
        match $any {
            AnyKey::PreActive($k) => $e,
            AnyKey::Active($k) => $e,
            AnyKey::Suspended($k) => $e,
            AnyKey::Deactivated($k) => $e,
            AnyKey::Compromised($k) => $e,
            AnyKey::PendingDestruction($k) => $e,
            AnyKey::Destroyed($k) => $e,
        }
    };
}
pub(crate) use each_state;

/// Runs `$e` with `$a` bound to the `AnyKey<P>` inside a `DynKey`.
macro_rules! each_purpose {
    ($dk:expr, $a:ident => $e:expr) => {
        match $dk {
            DynKey::Aead($a) => $e,
            DynKey::Signing($a) => $e,
            DynKey::Mac($a) => $e,
            DynKey::Agreement($a) => $e,
            DynKey::Derivation($a) => $e,
        }
    };
}
pub(crate) use each_purpose;

/// The state an `AnyKey` variant stands for.
fn variant_state<P: KeyPurpose>(k: &AnyKey<P>) -> StateName {
    match k {
        AnyKey::PreActive(_) => StateName::PreActive,
        AnyKey::Active(_) => StateName::Active,
        AnyKey::Suspended(_) => StateName::Suspended,
        AnyKey::Deactivated(_) => StateName::Deactivated,
        AnyKey::Compromised(_) => StateName::Compromised,
        AnyKey::PendingDestruction(_) => StateName::PendingDestruction,
        AnyKey::Destroyed(_) => StateName::Destroyed,
    }
}

fn is_stale<P: KeyPurpose>(k: &AnyKey<P>) -> bool {
    let live = match k.state() {
        StateName::DestroyedCompromised => StateName::Destroyed,
        s => s,
    };
    live != variant_state(k)
}

impl DynKey {
    pub(crate) fn purpose(&self) -> Purpose {
        match self {
            DynKey::Aead(_) => Purpose::Aead,
            DynKey::Signing(_) => Purpose::Signing,
            DynKey::Mac(_) => Purpose::Mac,
            DynKey::Agreement(_) => Purpose::Agreement,
            DynKey::Derivation(_) => Purpose::Derivation,
        }
    }

    pub(crate) fn state(&self) -> StateName {
        each_purpose!(self, a => a.state())
    }

    fn is_stale(&self) -> bool {
        each_purpose!(self, a => is_stale(a))
    }

    /// The same key, typed by its live state (another handle may have
    /// changed it).
    fn refreshed(self) -> DynKey {
        match self {
            DynKey::Aead(a) => DynKey::Aead(each_state!(a, k => k.refresh())),
            DynKey::Signing(a) => DynKey::Signing(each_state!(a, k => k.refresh())),
            DynKey::Mac(a) => DynKey::Mac(each_state!(a, k => k.refresh())),
            DynKey::Agreement(a) => DynKey::Agreement(each_state!(a, k => k.refresh())),
            DynKey::Derivation(a) => DynKey::Derivation(each_state!(a, k => k.refresh())),
        }
    }

    fn load(store: &KeyStore, id: &KeyId) -> Result<DynKey> {
        let purpose = store.info(id)?.purpose;
        Ok(match purpose {
            Purpose::Aead => DynKey::Aead(store.load(id)?),
            Purpose::Signing => DynKey::Signing(store.load(id)?),
            Purpose::Mac => DynKey::Mac(store.load(id)?),
            Purpose::Agreement => DynKey::Agreement(store.load(id)?),
            Purpose::Derivation => DynKey::Derivation(store.load(id)?),
        })
    }
}

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
pub struct kl_key {
    pub(super) id: KeyId,
    purpose: Purpose,
    slot: RwLock<Option<DynKey>>,
}

fn consumed() -> Error {
    Error::new(
        ErrorKind::AlreadyConsumed,
        "this handle was consumed by a failed transition; load the key again with kl_key_load",
    )
}

impl kl_key {
    fn boxed(k: DynKey) -> *mut kl_key {
        let id = each_purpose!(&k, a => a.id());
        Box::into_raw(Box::new(kl_key {
            id,
            purpose: k.purpose(),
            slot: RwLock::new(Some(k)),
        }))
    }

    /// Runs an operation on the key, typed by its live state.
    pub(super) fn with<R>(&self, f: impl FnOnce(&DynKey) -> Result<R>) -> Result<R> {
        {
            let g = self.slot.read().unwrap_or_else(PoisonError::into_inner);
            let k = g.as_ref().ok_or_else(consumed)?;
            if !k.is_stale() {
                return f(k);
            }
        }
        let mut g = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        let k = g.take().ok_or_else(consumed)?.refreshed();
        let r = f(&k);
        *g = Some(k);
        r
    }

    /// Runs a transition: takes the key out, and puts back what `f` returns
    /// (nothing when the transition consumed the key and failed).
    fn transition(&self, t: Transition<'_>) -> Result<()> {
        let mut g = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        let k = g.take().ok_or_else(consumed)?.refreshed();
        let (back, res) = match k {
            DynKey::Aead(a) => wrap(transition(a, &t), DynKey::Aead),
            DynKey::Signing(a) => wrap(transition(a, &t), DynKey::Signing),
            DynKey::Mac(a) => wrap(transition(a, &t), DynKey::Mac),
            DynKey::Agreement(a) => wrap(transition(a, &t), DynKey::Agreement),
            DynKey::Derivation(a) => wrap(transition(a, &t), DynKey::Derivation),
        };
        *g = back;
        res
    }
}

#[derive(Clone, Copy, Debug)]
enum Transition<'a> {
    Activate,
    Suspend(&'a str),
    Resume,
    Deactivate(&'a str),
    Compromise(&'a str),
    ScheduleDestruction(Duration, &'a str),
    CancelDestruction,
    Destroy(&'a str),
}

impl Transition<'_> {
    fn name(&self) -> &'static str {
        match self {
            Transition::Activate => "activate",
            Transition::Suspend(_) => "suspend",
            Transition::Resume => "resume",
            Transition::Deactivate(_) => "deactivate",
            Transition::Compromise(_) => "compromise",
            Transition::ScheduleDestruction(..) => "schedule_destruction",
            Transition::CancelDestruction => "cancel_destruction",
            Transition::Destroy(_) => "destroy",
        }
    }
}

type Step<K> = (Option<K>, Result<()>);

fn wrap<P: KeyPurpose>(s: Step<AnyKey<P>>, f: fn(AnyKey<P>) -> DynKey) -> Step<DynKey> {
    (s.0.map(f), s.1)
}

/// The outcome of a typed transition: on error the key was consumed.
fn done<P: KeyPurpose>(r: Result<AnyKey<P>>) -> Step<AnyKey<P>> {
    match r {
        Ok(k) => (Some(k), Ok(())),
        Err(e) => {
            let msg = format!(
                "{e}; the handle was consumed by the failed transition, load the key again with kl_key_load"
            );
            (None, Err(Error::new(e.kind(), msg)))
        }
    }
}

fn transition<P: KeyPurpose>(k: AnyKey<P>, t: &Transition<'_>) -> Step<AnyKey<P>> {
    use AnyKey as A;
    use Transition as T;
    match (k, *t) {
        (A::PreActive(k), T::Activate) => done(k.activate().map(A::Active)),
        (A::PreActive(k), T::Destroy(r)) => done(k.destroy(r).map(A::Destroyed)),
        (A::PreActive(k), T::Compromise(r)) => done(k.compromise(r).map(A::Compromised)),
        (A::Active(k), T::Suspend(r)) => done(k.suspend(r).map(A::Suspended)),
        (A::Active(k), T::Deactivate(r)) => done(k.deactivate(r).map(A::Deactivated)),
        (A::Active(k), T::Compromise(r)) => done(k.compromise(r).map(A::Compromised)),
        (A::Suspended(k), T::Resume) => done(k.resume().map(A::Active)),
        (A::Suspended(k), T::Deactivate(r)) => done(k.deactivate(r).map(A::Deactivated)),
        (A::Suspended(k), T::Compromise(r)) => done(k.compromise(r).map(A::Compromised)),
        (A::Deactivated(k), T::Compromise(r)) => done(k.compromise(r).map(A::Compromised)),
        (A::Deactivated(k), T::ScheduleDestruction(w, r)) => {
            done(k.schedule_destruction(w, r).map(A::PendingDestruction))
        }
        (A::Compromised(k), T::ScheduleDestruction(w, r)) => {
            done(k.schedule_destruction(w, r).map(A::PendingDestruction))
        }
        (A::PendingDestruction(k), T::CancelDestruction) => done(k.cancel_destruction()),
        (other, t) => {
            let e = Error::new(
                ErrorKind::WrongState,
                format!("{} is not allowed in state {}", t.name(), other.state()),
            );
            (Some(other), Err(e))
        }
    }
}

pub(super) fn wrong_purpose(op: &str, p: Purpose) -> Error {
    Error::new(
        ErrorKind::WrongPurpose,
        format!("{op} is not allowed for a {p} key"),
    )
}

pub(super) fn wrong_state(op: &str, s: StateName) -> Error {
    Error::new(
        ErrorKind::WrongState,
        format!("{op} is not allowed in state {s}"),
    )
}

pub(super) fn id_from_hex(s: &str) -> Result<KeyId> {
    s.parse()
}

// ----- creation, loading, release -----

pub(crate) fn check_flags(flags: u32) -> Result<()> {
    let known = KL_CREATE_EXPORTABLE | KL_CREATE_NO_SUSPENDED_PROCESSING;
    if flags & !known != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown flag bits {:#x} (KL_CREATE_*)", flags & !known),
        ));
    }
    Ok(())
}

pub(crate) fn spec<P: KeyPurpose>(name: &str, owner: &str, flags: u32) -> KeySpec<P> {
    let mut s = KeySpec::<P>::new(name)
        .exportable(flags & KL_CREATE_EXPORTABLE != 0)
        .suspended_processing(flags & KL_CREATE_NO_SUSPENDED_PROCESSING == 0);
    if !owner.is_empty() {
        s = s.owner(owner);
    }
    s
}

fn create_dyn(
    store: &KeyStore,
    purpose: Purpose,
    name: &str,
    owner: &str,
    flags: u32,
) -> Result<DynKey> {
    check_flags(flags)?;
    Ok(match purpose {
        Purpose::Aead => DynKey::Aead(store.create(spec(name, owner, flags))?.into_any()),
        Purpose::Signing => DynKey::Signing(store.create(spec(name, owner, flags))?.into_any()),
        Purpose::Mac => DynKey::Mac(store.create(spec(name, owner, flags))?.into_any()),
        Purpose::Agreement => DynKey::Agreement(store.create(spec(name, owner, flags))?.into_any()),
        Purpose::Derivation => {
            DynKey::Derivation(store.create(spec(name, owner, flags))?.into_any())
        }
    })
}

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
        let k = create_dyn(&store.store, purpose_from(purpose)?, name, "", 0)?;
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
        let k = create_dyn(&store.store, purpose_from(purpose)?, name, owner, flags)?;
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
        let k = DynKey::load(&store.store, &id_from_hex(id)?)?;
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
    guard_void(|| {
        if !key.is_null() {
            // SAFETY: a pointer from `kl_key::boxed`, freed once (contract).
            drop(unsafe { Box::from_raw(key) });
        }
    });
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
        out.fill(key.id.to_string().as_bytes(), true)
    })
}

/// Writes the key's purpose (a `KL_PURPOSE_*` value) to `*out`. Works on
/// consumed handles too.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_purpose(key: *const kl_key, out: *mut u32) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, Out::new(out, "out")?) };
        out.write(purpose_constant(key.purpose));
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
        let s = key.with(|k| Ok(k.state()))?;
        out.write(state_constant(s));
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
        let info = key.with(|k| each_purpose!(k, a => each_state!(a, t => t.info())))?;
        let json = serde_json::to_string(&info)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("JSON encoding: {e}")))?;
        out.fill(json.as_bytes(), true)
    })
}

// ----- transitions -----

/// Runs a transition entry point whose only inputs are the key and a
/// reason.
fn reasoned(
    key: *mut kl_key,
    reason: *const c_char,
    t: for<'a> fn(&'a str) -> Transition<'a>,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, reason) = unsafe {
            (
                try_ref(key.cast_const(), "key")?,
                try_str(reason, "reason")?,
            )
        };
        key.transition(t(reason))
    })
}

/// PreActive → Active. See `kl_key` for what a failed transition does to
/// the handle.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED` unless administrator or
/// operator; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_activate(key: *mut kl_key) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `key` is NULL or a live handle.
        let key = unsafe { try_ref(key.cast_const(), "key")? };
        key.transition(Transition::Activate)
    })
}

/// Active → Suspended, recording `reason` (`""` for none). Errors as
/// `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_suspend(key: *mut kl_key, reason: *const c_char) -> kl_result {
    reasoned(key, reason, |r| Transition::Suspend(r))
}

/// Suspended → Active. Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_resume(key: *mut kl_key) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `key` is NULL or a live handle.
        let key = unsafe { try_ref(key.cast_const(), "key")? };
        key.transition(Transition::Resume)
    })
}

/// Active or Suspended → Deactivated: no more encryption, signing, MAC or
/// derivation; decryption and verification continue. Errors as
/// `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_deactivate(key: *mut kl_key, reason: *const c_char) -> kl_result {
    reasoned(key, reason, |r| Transition::Deactivate(r))
}

/// PreActive, Active, Suspended or Deactivated → Compromised: the key stops
/// working through every handle at once. Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_compromise(key: *mut kl_key, reason: *const c_char) -> kl_result {
    reasoned(key, reason, |r| Transition::Compromise(r))
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
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, reason) = unsafe {
            (
                try_ref(key.cast_const(), "key")?,
                try_str(reason, "reason")?,
            )
        };
        key.transition(Transition::ScheduleDestruction(
            Duration::from_secs(wait_seconds),
            reason,
        ))
    })
}

/// PendingDestruction → the state the key had before (Deactivated or
/// Compromised). Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_cancel_destruction(key: *mut kl_key) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `key` is NULL or a live handle.
        let key = unsafe { try_ref(key.cast_const(), "key")? };
        key.transition(Transition::CancelDestruction)
    })
}

/// PreActive → Destroyed, for a key that was never used: its material is
/// wiped, its metadata kept. (Used keys are destroyed through
/// `kl_key_schedule_destruction`.) Errors as `kl_key_activate`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_destroy(key: *mut kl_key, reason: *const c_char) -> kl_result {
    reasoned(key, reason, |r| Transition::Destroy(r))
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
        let v = key.with(|k| {
            each_purpose!(k, a => match a {
                AnyKey::Active(t) => t.rotate(),
                other => Err(wrong_state("rotate", other.state())),
            })
        })?;
        out.write(v);
        Ok(())
    })
}

// ----- version management -----

/// Which version-management call.
#[derive(Clone, Copy)]
enum VersionOp<'a> {
    Compromise(u32, &'a str),
    Destroy(u32, &'a str),
    MinDecryption(u32),
}

/// Runs a version-management call on a key in a state that has versions to
/// manage (Active, Suspended, Deactivated, Compromised).
fn manage_version(key: *const kl_key, op: VersionOp<'_>) -> Result<()> {
    // SAFETY: per the contract, `key` is NULL or a live handle.
    let key = unsafe { try_ref(key, "key")? };
    key.with(|k| {
        each_purpose!(k, a => {
            macro_rules! run {
                ($t:expr) => {
                    match op {
                        VersionOp::Compromise(v, r) => $t.compromise_version(v, r),
                        VersionOp::Destroy(v, r) => $t.destroy_version(v, r),
                        VersionOp::MinDecryption(v) => $t.set_min_decryption_version(v),
                    }
                };
            }
            match a {
                AnyKey::Active(t) => run!(t),
                AnyKey::Suspended(t) => run!(t),
                AnyKey::Deactivated(t) => run!(t),
                AnyKey::Compromised(t) => run!(t),
                other => Err(wrong_state("version management", other.state())),
            }
        })
    })
}

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
    guard(|| {
        // SAFETY: per the contract, `reason` is NULL or NUL-terminated.
        let reason = unsafe { try_str(reason, "reason")? };
        manage_version(key, VersionOp::Compromise(version, reason))
    })
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
    guard(|| {
        // SAFETY: per the contract, `reason` is NULL or NUL-terminated.
        let reason = unsafe { try_str(reason, "reason")? };
        manage_version(key, VersionOp::Destroy(version, reason))
    })
}

/// Refuses decryption (and verification) with every version below
/// `version`, e.g. once all data was rewrapped to newer versions. The
/// minimum only moves forward and may not pass the primary version. States
/// and errors as `kl_key_compromise_version`, and `KL_ERR_INVALID_ARGUMENT`
/// for a version of 0, above the primary, or below the current minimum.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_set_min_decryption_version(key: *const kl_key, version: u32) -> kl_result {
    guard(|| manage_version(key, VersionOp::MinDecryption(version)))
}

// ----- AEAD -----

fn aead<'a>(k: &'a DynKey, op: &str) -> Result<&'a AnyKey<Aead>> {
    match k {
        DynKey::Aead(a) => Ok(a),
        other => Err(wrong_purpose(op, other.purpose())),
    }
}

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
        let ct = key.with(|k| match aead(k, "encrypt")? {
            AnyKey::Active(t) => {
                out.require(pt.len().saturating_add(KL_CIPHERTEXT_OVERHEAD))?;
                t.encrypt(pt, aad)
            }
            other => Err(wrong_state("encrypt", other.state())),
        })?;
        out.fill(&ct, false)
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
        let pt = key.with(|k| {
            let a = aead(k, "decrypt")?;
            if let Some(n) = ct.len().checked_sub(KL_CIPHERTEXT_OVERHEAD) {
                out.require(n)?;
            }
            match a {
                AnyKey::Active(t) => t.decrypt(ct, aad),
                AnyKey::Suspended(t) => t.decrypt(ct, aad),
                AnyKey::Deactivated(t) => t.decrypt(ct, aad),
                other => Err(wrong_state("decrypt", other.state())),
            }
        })?;
        let pt = Zeroizing::new(pt);
        out.fill(&pt, false)
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
        let dst = unsafe { out.as_mut_slice() };
        key.with(|k| match aead(k, "encrypt")? {
            AnyKey::Active(t) => t.encrypt_to(pt, aad, dst),
            other => Err(wrong_state("encrypt", other.state())),
        })
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
        let dst = unsafe { out.as_mut_slice() };
        key.with(|k| match aead(k, "decrypt")? {
            AnyKey::Active(t) => t.decrypt_to(ct, aad, dst),
            AnyKey::Suspended(t) => t.decrypt_to(ct, aad, dst),
            AnyKey::Deactivated(t) => t.decrypt_to(ct, aad, dst),
            other => Err(wrong_state("decrypt", other.state())),
        })
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
        let new = key.with(|k| match aead(k, "rewrap")? {
            AnyKey::Active(t) => {
                out.require(ct.len())?;
                t.rewrap(ct, aad)
            }
            other => Err(wrong_state("rewrap", other.state())),
        })?;
        out.fill(&new, false)
    })
}

// ----- signatures -----

pub(super) fn signing<'a>(k: &'a DynKey, op: &str) -> Result<&'a AnyKey<Signing>> {
    match k {
        DynKey::Signing(a) => Ok(a),
        other => Err(wrong_purpose(op, other.purpose())),
    }
}

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
        let sig = key.with(|k| match signing(k, "sign")? {
            AnyKey::Active(t) if fixed => {
                out.require(KL_SIGNATURE_FIXED_LEN)?;
                t.sign_fixed(msg).map(|s| s.to_vec())
            }
            AnyKey::Active(t) => t.sign(msg),
            other => Err(wrong_state("sign", other.state())),
        })?;
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
        key.with(|k| {
            let a = signing(k, "verify")?;
            macro_rules! v {
                ($t:expr) => {
                    if fixed {
                        $t.verify_fixed(msg, sig)
                    } else {
                        $t.verify(msg, sig)
                    }
                };
            }
            match a {
                AnyKey::Active(t) => v!(t),
                AnyKey::Suspended(t) => v!(t),
                AnyKey::Deactivated(t) => v!(t),
                other => Err(wrong_state("verify", other.state())),
            }
        })
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

fn public_key_of(k: &DynKey) -> Result<PublicKey> {
    match k {
        DynKey::Signing(a) => each_state!(a, t => t.public_key(None)),
        DynKey::Agreement(a) => each_state!(a, t => t.public_key(None)),
        other => Err(wrong_purpose("public key export", other.purpose())),
    }
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
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, OutBuf::new(out, out_cap, out_len)?) };
        let der = key.with(public_key_of)?.to_spki_der()?;
        out.fill(&der, false)
    })
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
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe {
            (
                try_ref(key, "key")?,
                OutBuf::new(out.cast::<u8>(), out_cap, out_len)?,
            )
        };
        let pem = key.with(public_key_of)?.to_spki_pem()?;
        out.fill(pem.as_bytes(), true)
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
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, OutBuf::new(out, out_cap, out_len)?) };
        let pt = key.with(public_key_of)?.to_sec1();
        out.fill(&pt, false)
    })
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

fn mac_key<'a>(k: &'a DynKey, op: &str) -> Result<&'a AnyKey<Mac>> {
    match k {
        DynKey::Mac(a) => Ok(a),
        other => Err(wrong_purpose(op, other.purpose())),
    }
}

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
        let tag = key.with(|k| match mac_key(k, "mac")? {
            AnyKey::Active(t) => {
                out.require(KL_MAC_LEN)?;
                t.mac(msg)
            }
            other => Err(wrong_state("mac", other.state())),
        })?;
        out.fill(&tag, false)
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
        key.with(|k| match mac_key(k, "verify_mac")? {
            AnyKey::Active(t) => t.verify_mac(msg, tag),
            AnyKey::Suspended(t) => t.verify_mac(msg, tag),
            AnyKey::Deactivated(t) => t.verify_mac(msg, tag),
            other => Err(wrong_state("verify_mac", other.state())),
        })
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
        let secret = key.with(|k| match k {
            DynKey::Derivation(AnyKey::Active(t)) => t.derive(salt, ctx, len),
            DynKey::Derivation(other) => Err(wrong_state("derive", other.state())),
            other => Err(wrong_purpose("derive", other.purpose())),
        })?;
        out.write(kl_secret::boxed(secret));
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
        let secret = key.with(|k| match k {
            DynKey::Agreement(AnyKey::Active(t)) => {
                let peer = parse_public_key(peer)?;
                t.agree(&peer, salt, ctx, len)
            }
            DynKey::Agreement(other) => Err(wrong_state("agree", other.state())),
            other => Err(wrong_purpose("agree", other.purpose())),
        })?;
        out.write(kl_secret::boxed(secret));
        Ok(())
    })
}

/// For `hazmat`: the key inside a handle.
#[cfg(feature = "hazmat")]
pub(crate) fn with_key<R>(key: &kl_key, f: impl FnOnce(&DynKey) -> Result<R>) -> Result<R> {
    key.with(f)
}

/// For `hazmat`: a new handle.
#[cfg(feature = "hazmat")]
pub(crate) fn boxed_key(k: DynKey) -> *mut kl_key {
    kl_key::boxed(k)
}

/// For `hazmat`: the AEAD view of a key.
#[cfg(feature = "hazmat")]
pub(crate) fn aead_of<'a>(k: &'a DynKey, op: &str) -> Result<&'a AnyKey<Aead>> {
    aead(k, op)
}

#[cfg(feature = "hazmat")]
pub(crate) fn wrong_state_err(op: &str, s: StateName) -> Error {
    wrong_state(op, s)
}
