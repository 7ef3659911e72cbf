//! The dynamic handle [`KeyHandle`]: a key whose purpose and state are known
//! only at run time — the handle under the C ABI, Python and the CLI.
//!
//! It has every operation and transition of the typed [`Key<P, S>`], checked
//! by the same rules: each call goes to the store's operations, which check
//! the live purpose and state against the key model's tables
//! (`key::lifecycle::check_use`, `key::lifecycle::next_state`). Nothing here
//! restates a rule. Like a typed handle, whose transitions take `self`, a
//! transition that was attempted and failed *consumes* the handle: later
//! calls fail with [`ErrorKind::AlreadyConsumed`] (load the key again).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{AnyKey, Key, KeyCell, KeyStore};
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, KeyId, Result, Timestamp};
use crate::governance::audit::AuditCheckpoint;
use crate::key::lifecycle::{self, Transition, check_use};
use crate::key::{
    KeyInfo, KeyPurpose, KeySpec, KeyState, Operation, PublicKey, Purpose, StateName, VersionState,
};

/// A handle on a key of any purpose, in any state: the run-time twin of
/// [`Key<P, S>`], for code that learns the purpose and state at run time
/// (the C ABI, Python, the CLI).
///
/// Every method checks the live purpose and state with the rules the types
/// of [`Key<P, S>`] encode, and fails with [`ErrorKind::WrongPurpose`] or
/// [`ErrorKind::WrongState`] where the typed method would not exist.
///
/// ```
/// use keylife::{ErrorKind, KeyHandle, KeySpec, KeyStore, Principal, Purpose, StateName, purpose::Aead};
/// let store = KeyStore::in_memory(Principal::admin("ops"))?;
/// let key = store.create_handle(Purpose::Aead, KeySpec::<Aead>::new("orders"))?;
/// assert_eq!(key.encrypt(b"x", b"").unwrap_err().kind(), ErrorKind::WrongState);
/// key.activate()?;
/// let ct = key.encrypt(b"order #1", b"")?;
/// assert_eq!(key.sign(b"x").unwrap_err().kind(), ErrorKind::WrongPurpose);
/// let again = store.load_handle(&key.id())?;
/// assert_eq!(again.state()?, StateName::Active);
/// assert_eq!(again.decrypt(&ct, b"")?, b"order #1");
/// # Ok::<(), keylife::Error>(())
/// ```
pub struct KeyHandle {
    store: KeyStore,
    cell: Arc<KeyCell>,
    purpose: Purpose,
    consumed: AtomicBool,
}

impl core::fmt::Debug for KeyHandle {
    /// Id, purpose and state only — never material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyHandle")
            .field("id", &self.cell.id)
            .field("purpose", &self.purpose)
            .field("consumed", &self.consumed.load(Ordering::Relaxed))
            .finish()
    }
}

impl<P: KeyPurpose, S: KeyState> From<Key<P, S>> for KeyHandle {
    fn from(k: Key<P, S>) -> KeyHandle {
        let (store, cell) = k.into_parts();
        KeyHandle::new(store, cell, P::PURPOSE)
    }
}

impl KeyStore {
    /// Creates a key of `purpose` — chosen at run time — with the options of
    /// `spec` (of any purpose type: only its options are used). As
    /// [`KeyStore::create`], the key starts PreActive.
    ///
    /// # Errors
    /// As [`KeyStore::create`].
    pub fn create_handle<Q: KeyPurpose>(
        &self,
        purpose: Purpose,
        spec: KeySpec<Q>,
    ) -> Result<KeyHandle> {
        crate::key::with_purpose_type!(purpose, P => {
            self.create::<P>(spec.retype()).map(KeyHandle::from)
        })
    }

    /// Creates many keys of `purpose` in one durable commit, as
    /// [`KeyStore::create_many`]: PreActive, all or nothing.
    ///
    /// # Errors
    /// As [`KeyStore::create_many`].
    pub fn create_many_handles<Q: KeyPurpose>(
        &self,
        purpose: Purpose,
        specs: impl IntoIterator<Item = KeySpec<Q>>,
    ) -> Result<Vec<KeyHandle>> {
        crate::key::with_purpose_type!(purpose, P => {
            self.create_many::<P>(specs.into_iter().map(KeySpec::retype))
                .map(|keys| keys.into_iter().map(KeyHandle::from).collect())
        })
    }

    /// [`KeyStore::create_many_active`] for a purpose known at run time:
    /// every key created Active, all in one durable commit.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, Purpose, StateName, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let keys = store.create_many_active_handles(
    ///     Purpose::Mac,
    ///     (0..3).map(|i| KeySpec::<Aead>::new(&format!("tenant-{i}"))),
    /// )?;
    /// assert!(keys.iter().all(|k| k.state().ok() == Some(StateName::Active)));
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KeyStore::create_many_active`].
    pub fn create_many_active_handles<Q: KeyPurpose>(
        &self,
        purpose: Purpose,
        specs: impl IntoIterator<Item = KeySpec<Q>>,
    ) -> Result<Vec<KeyHandle>> {
        crate::key::with_purpose_type!(purpose, P => {
            self.create_many_active::<P>(specs.into_iter().map(KeySpec::retype))
                .map(|keys| keys.into_iter().map(KeyHandle::from).collect())
        })
    }

    /// Imports raw key material as a new PreActive key of `purpose`, as
    /// [`KeyStore::import_raw`].
    ///
    /// # Security warning
    /// As [`KeyStore::import_raw`]: material that existed outside keylife
    /// may have been copied.
    ///
    /// # Errors
    /// As [`KeyStore::import_raw`].
    #[cfg(feature = "hazmat")]
    pub fn import_handle<Q: KeyPurpose>(
        &self,
        purpose: Purpose,
        spec: KeySpec<Q>,
        material: &[u8],
    ) -> Result<KeyHandle> {
        crate::key::with_purpose_type!(purpose, P => {
            self.import_raw::<P>(spec.retype(), material).map(KeyHandle::from)
        })
    }

    /// Loads a key of any purpose, in whatever state it is in, as a
    /// [`KeyHandle`].
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::Integrity`] for a tampered
    /// record; as [`KeyStore::load`].
    pub fn load_handle(&self, id: &KeyId) -> Result<KeyHandle> {
        let purpose = self.info(id)?.purpose;
        crate::key::with_purpose_type!(purpose, P => {
            self.load::<P>(id).map(KeyHandle::from)
        })
    }
}

impl KeyHandle {
    fn new(store: KeyStore, cell: Arc<KeyCell>, purpose: Purpose) -> KeyHandle {
        KeyHandle {
            store,
            cell,
            purpose,
            consumed: AtomicBool::new(false),
        }
    }

    /// The key's id (also on a consumed handle).
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.cell.id
    }

    /// The key's purpose (also on a consumed handle).
    #[must_use]
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// Whether a failed transition consumed this handle.
    #[must_use]
    pub fn is_consumed(&self) -> bool {
        self.consumed.load(Ordering::Acquire)
    }

    /// The store and cell, unless the handle was consumed.
    pub(super) fn live(&self) -> Result<(&KeyStore, &KeyCell)> {
        if self.is_consumed() {
            return Err(Error::new(
                ErrorKind::AlreadyConsumed,
                "this handle was consumed by a failed transition; load the key again \
                 (KeyStore::load_handle, kl_key_load)",
            ));
        }
        Ok((&self.store, &self.cell))
    }

    /// The key's live state: the state in the store now, whichever handle
    /// changed it.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyConsumed`].
    pub fn state(&self) -> Result<StateName> {
        let (_, cell) = self.live()?;
        Ok(cell.read().map_or(StateName::Destroyed, |d| d.state()))
    }

    /// The key's metadata (audited as a metadata read).
    ///
    /// # Errors
    /// As [`KeyStore::info`]; [`ErrorKind::AlreadyConsumed`].
    pub fn info(&self) -> Result<KeyInfo> {
        let (store, cell) = self.live()?;
        store.info(&cell.id)
    }

    /// Checks — without doing anything or auditing — that the key's purpose
    /// and live state allow `op`, so a caller can refuse early (the C ABI
    /// does, before it reports a buffer size). The operation itself checks
    /// again.
    ///
    /// # Errors
    /// [`ErrorKind::WrongPurpose`], [`ErrorKind::WrongState`],
    /// [`ErrorKind::AlreadyConsumed`]; [`ErrorKind::Internal`] for an
    /// operation that is not a use of a key.
    pub fn check(&self, op: Operation) -> Result<()> {
        let (store, cell) = self.live()?;
        store.prepare(cell)?;
        check_use(&cell.read()?.info, op)
    }

    /// This handle as a typed [`Key<P, S>`] (sharing the key's live state),
    /// if the key has purpose `P` and its live state is one `S` stands for:
    /// the bridge to the typed API (audit checkpoints, transport, backup).
    ///
    /// # Errors
    /// [`ErrorKind::WrongPurpose`], [`ErrorKind::WrongState`],
    /// [`ErrorKind::AlreadyConsumed`].
    pub fn typed<P: KeyPurpose, S: KeyState>(&self) -> Result<Key<P, S>> {
        let (store, cell) = self.live()?;
        if self.purpose != P::PURPOSE {
            return Err(Error::wrong_purpose(
                &format!("using it as a {} key", P::PURPOSE),
                self.purpose,
            ));
        }
        let state = cell.read()?.state();
        if !S::NAMES.contains(&state) {
            return Err(Error::wrong_state(
                &format!("using it as a {} key", S::NAMES[0]),
                state,
            ));
        }
        Ok(Key::from_cell(store.clone(), Arc::clone(&self.cell)))
    }

    /// Checks an audit checkpoint's signature against every version of
    /// this signing key that still has a public key, newest first, so
    /// checkpoints outlive rotations. (The log itself:
    /// [`KeyStore::verify_audit_against`].)
    ///
    /// # Errors
    /// [`ErrorKind::WrongPurpose`] unless a signing key;
    /// [`ErrorKind::AuthenticationFailed`] when it was signed by another key
    /// or no version verifies it.
    pub fn verify_checkpoint(&self, checkpoint: &AuditCheckpoint) -> Result<()> {
        let (store, cell) = self.live()?;
        if self.purpose != Purpose::Signing {
            return Err(Error::wrong_purpose(
                "checkpoint verification",
                self.purpose,
            ));
        }
        if checkpoint.signer != cell.id {
            return Err(Error::new(
                ErrorKind::AuthenticationFailed,
                format!(
                    "the checkpoint was signed by key {}, not {}",
                    checkpoint.signer, cell.id
                ),
            ));
        }
        let versions = store.info(&cell.id)?.versions;
        for v in versions.iter().rev() {
            if let Ok(pk) = store.op_public_key(cell, Some(v.number))
                && checkpoint.verify(&pk).is_ok()
            {
                return Ok(());
            }
        }
        Err(Error::new(
            ErrorKind::AuthenticationFailed,
            "the checkpoint's signature does not verify with this key",
        ))
    }

    // ----- transitions -----

    /// Runs a transition. Not allowed from the live state: refused, the
    /// handle stays usable. Attempted and failed (permission, policy,
    /// approvals, a concurrent change): the handle is consumed, as a typed
    /// transition consumes its `self`.
    fn go(&self, t: Transition, reason: &str) -> Result<()> {
        let (store, cell) = self.live()?;
        lifecycle::next_state(&cell.read()?.info, t)?;
        store.transition(cell, t, reason).map(drop).map_err(|e| {
            self.consumed.store(true, Ordering::Release);
            Error::new(
                e.kind(),
                format!(
                    "{}; the handle was consumed by the failed transition, load the key again \
                     (KeyStore::load_handle, kl_key_load)",
                    e.message().unwrap_or(e.kind().as_str())
                ),
            )
        })
    }

    /// PreActive → Active. As [`Key::activate`].
    ///
    /// # Errors
    /// [`ErrorKind::WrongState`] (handle kept); permission and storage
    /// errors (handle consumed).
    pub fn activate(&self) -> Result<()> {
        self.go(Transition::Activate, "")
    }

    /// Active → Suspended. As [`Key::suspend`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`].
    pub fn suspend(&self, reason: &str) -> Result<()> {
        self.go(Transition::Suspend, reason)
    }

    /// Suspended → Active. As [`Key::resume`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`].
    pub fn resume(&self) -> Result<()> {
        self.go(Transition::Resume, "")
    }

    /// Active or Suspended → Deactivated. As [`Key::deactivate`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`].
    pub fn deactivate(&self, reason: &str) -> Result<()> {
        self.go(Transition::Deactivate, reason)
    }

    /// PreActive, Active, Suspended or Deactivated → Compromised. As
    /// [`Key::compromise`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`].
    pub fn compromise(&self, reason: &str) -> Result<()> {
        self.go(Transition::Compromise, reason)
    }

    /// Deactivated or Compromised → PendingDestruction after `wait`. As
    /// [`Key::schedule_destruction`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`]; [`ErrorKind::Policy`] below the minimum
    /// wait (handle consumed).
    pub fn schedule_destruction(&self, wait: Duration, reason: &str) -> Result<()> {
        self.go(Transition::ScheduleDestruction { wait }, reason)
    }

    /// PendingDestruction → the state before. As [`Key::cancel_destruction`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`].
    pub fn cancel_destruction(&self) -> Result<()> {
        self.go(Transition::CancelDestruction, "")
    }

    /// PreActive → Destroyed. As [`Key::destroy`].
    ///
    /// # Errors
    /// As [`KeyHandle::activate`].
    pub fn destroy(&self, reason: &str) -> Result<()> {
        self.go(Transition::Destroy, reason)
    }

    // ----- versions and grants -----

    /// Adds a new primary version; returns its number. As [`Key::rotate`].
    ///
    /// # Errors
    /// [`ErrorKind::WrongState`] unless Active; permission and storage
    /// errors.
    pub fn rotate(&self) -> Result<u32> {
        let (store, cell) = self.live()?;
        store.op_rotate(cell)
    }

    /// As [`Key::compromise_version`].
    ///
    /// # Errors
    /// As [`Key::compromise_version`]; [`ErrorKind::WrongState`] where the
    /// typed handle has no such method.
    pub fn compromise_version(&self, version: u32, reason: &str) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_version_state(cell, version, VersionState::Compromised, reason)
    }

    /// As [`Key::destroy_version`].
    ///
    /// # Errors
    /// As [`KeyHandle::compromise_version`].
    pub fn destroy_version(&self, version: u32, reason: &str) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_version_state(cell, version, VersionState::Destroyed, reason)
    }

    /// As [`Key::set_min_decryption_version`].
    ///
    /// # Errors
    /// As [`KeyHandle::compromise_version`].
    pub fn set_min_decryption_version(&self, version: u32) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_min_decryption_version(cell, version)
    }

    /// Sets the key's owner (the team or person answerable for it), in any
    /// state; audited with the new owner. Administrators and operators.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create_handle(keylife::Purpose::Aead, KeySpec::<Aead>::new("k"))?;
    /// key.set_owner("payments")?;
    /// assert_eq!(key.info()?.owner.as_deref(), Some("payments"));
    /// assert!(key.set_owner("  ").is_err());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a blank or over-long owner;
    /// [`ErrorKind::PermissionDenied`].
    pub fn set_owner(&self, owner: &str) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_set_owner(cell, owner)
    }

    /// As [`Key::grant`].
    ///
    /// # Errors
    /// As [`Key::grant`].
    pub fn grant(
        &self,
        principal: &str,
        operations: &[Operation],
        expires_at: Option<Timestamp>,
    ) -> Result<()> {
        let (store, cell) = self.live()?;
        let grant = crate::key::Grant::new(principal, operations, expires_at);
        store.op_grant(cell, Some(grant), None)
    }

    /// As [`Key::revoke_grant`].
    ///
    /// # Errors
    /// As [`Key::revoke_grant`].
    pub fn revoke_grant(&self, principal: &str) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_grant(cell, None, Some(principal))
    }

    // ----- cryptographic operations -----

    /// As [`Key::encrypt`].
    ///
    /// # Errors
    /// As [`Key::encrypt`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_encrypt(cell, plaintext, aad)
    }

    /// As [`Key::encrypt_to`].
    ///
    /// # Errors
    /// As [`KeyHandle::encrypt`], and [`ErrorKind::InvalidArgument`] for an
    /// output of another length.
    pub fn encrypt_to(&self, plaintext: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_encrypt_to(cell, plaintext, aad, out)
    }

    /// As [`Key::decrypt`].
    ///
    /// # Errors
    /// As [`Key::decrypt`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn decrypt(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_decrypt(cell, ciphertext, aad)
    }

    /// As [`Key::decrypt_to`].
    ///
    /// # Errors
    /// As [`KeyHandle::decrypt`], and [`ErrorKind::InvalidArgument`] for an
    /// output of another length.
    pub fn decrypt_to(&self, ciphertext: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_decrypt_to(cell, ciphertext, aad, out)
    }

    /// As [`Key::rewrap`].
    ///
    /// # Errors
    /// As [`Key::rewrap`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn rewrap(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_rewrap(cell, ciphertext, aad)
    }

    /// As [`Key::sign`] (DER).
    ///
    /// # Errors
    /// As [`Key::sign`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_sign(cell, msg, false)
    }

    /// As [`Key::sign_fixed`] (64-byte `r || s`).
    ///
    /// # Errors
    /// As [`KeyHandle::sign`].
    pub fn sign_fixed(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_sign(cell, msg, true)
    }

    /// As [`Key::verify`] (DER).
    ///
    /// # Errors
    /// As [`Key::verify`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_verify(cell, msg, signature, false)
    }

    /// As [`Key::verify_fixed`].
    ///
    /// # Errors
    /// As [`KeyHandle::verify`].
    pub fn verify_fixed(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_verify(cell, msg, signature, true)
    }

    /// As [`Key::mac`].
    ///
    /// # Errors
    /// As [`Key::mac`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn mac(&self, msg: &[u8]) -> Result<[u8; 32]> {
        let (store, cell) = self.live()?;
        store.op_mac(cell, msg)
    }

    /// As [`Key::verify_mac`].
    ///
    /// # Errors
    /// As [`Key::verify_mac`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn verify_mac(&self, msg: &[u8], tag: &[u8]) -> Result<()> {
        let (store, cell) = self.live()?;
        store.op_verify_mac(cell, msg, tag)
    }

    /// As [`Key::derive`] (`version` `None`) and
    /// [`Key::derive_with_version`].
    ///
    /// # Errors
    /// As [`Key::derive_with_version`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn derive(
        &self,
        salt: &[u8],
        context: &[u8],
        len: usize,
        version: Option<u32>,
    ) -> Result<SecretBytes> {
        let (store, cell) = self.live()?;
        store.op_derive(cell, salt, context, len, version)
    }

    /// As [`Key::agree`].
    ///
    /// # Errors
    /// As [`Key::agree`]; [`ErrorKind::WrongPurpose`],
    /// [`ErrorKind::WrongState`].
    pub fn agree(
        &self,
        peer: &PublicKey,
        salt: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<SecretBytes> {
        let (store, cell) = self.live()?;
        store.op_agree(cell, peer, salt, context, len)
    }

    /// As [`Key::public_key`], for signing and agreement keys.
    ///
    /// # Errors
    /// As [`Key::public_key`]; [`ErrorKind::WrongPurpose`] for other keys.
    pub fn public_key(&self, version: Option<u32>) -> Result<PublicKey> {
        let (store, cell) = self.live()?;
        store.op_public_key(cell, version)
    }
}

#[cfg(feature = "hazmat")]
impl KeyHandle {
    /// As [`Key::hazmat_encrypt_assume_unique_nonce`].
    ///
    /// # Security warning
    /// As [`Key::hazmat_encrypt_assume_unique_nonce`]: a repeated nonce
    /// breaks AES-GCM.
    ///
    /// # Errors
    /// As [`Key::hazmat_encrypt_assume_unique_nonce`].
    pub fn hazmat_encrypt_assume_unique_nonce(
        &self,
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_raw_encrypt(cell, nonce, plaintext, aad)
    }

    /// As [`Key::hazmat_decrypt_raw`].
    ///
    /// # Errors
    /// As [`Key::hazmat_decrypt_raw`].
    pub fn hazmat_decrypt_raw(
        &self,
        nonce: &[u8],
        ciphertext_and_tag: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        let (store, cell) = self.live()?;
        store.op_raw_decrypt(cell, nonce, ciphertext_and_tag, aad)
    }

    /// As [`Key::hazmat_export_raw`].
    ///
    /// # Security warning
    /// As [`Key::hazmat_export_raw`]: the bytes are the key.
    ///
    /// # Errors
    /// As [`Key::hazmat_export_raw`].
    pub fn hazmat_export_raw(&self, version: Option<u32>) -> Result<SecretBytes> {
        let (store, cell) = self.live()?;
        store.op_export_raw(cell, version)
    }
}

impl<P: KeyPurpose> From<AnyKey<P>> for KeyHandle {
    fn from(k: AnyKey<P>) -> KeyHandle {
        let (store, cell) = k.into_parts();
        KeyHandle::new(store, cell, P::PURPOSE)
    }
}
