//! The typed handle [`Key<P, S>`]: a key of purpose `P` believed to be in
//! state `S`, whose methods exist only where the purpose and state allow
//! them, and [`AnyKey`], the bridge for code that learns the state at run
//! time. Every method is one call into the store's operations
//! (`store/ops.rs`), which check the live state again — the types are the
//! compile-time front door, the operations the one place the rules run.

use core::fmt;
use core::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{KeyCell, KeyStore};
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::hpke::{AeadId, RecipientContext, setup_recipient_with};
use crate::crypto::wrap::{WrappingKey, derive_wrapping_info};
use crate::key::lifecycle::Transition;
use crate::key::{
    Active, Aead, Agreement, Compromised, Deactivated, Derivation, Destroyed, KeyId, KeyInfo,
    KeyPurpose, KeyState, Mac, PendingDestruction, PreActive, PublicKey, Signing, StateName,
    Suspended, Timestamp, VersionState,
};

/// A handle on a key of purpose `P`, believed to be in state `S`.
///
/// Obtained from [`KeyStore::create`], [`KeyStore::load`] or a transition.
/// Cheap to hold; handles on one key share its live state. Not `Clone`: a
/// transition consumes the handle, and a copy would outlive it.
pub struct Key<P: KeyPurpose, S: KeyState> {
    store: KeyStore,
    cell: Arc<KeyCell>,
    _type: PhantomData<fn() -> (P, S)>,
}

impl<P: KeyPurpose, S: KeyState> fmt::Debug for Key<P, S> {
    /// Id, purpose and state only — never material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.cell.id)
            .field("purpose", &P::PURPOSE)
            .field("state", &self.state())
            .finish()
    }
}

impl<P: KeyPurpose, S: KeyState> Key<P, S> {
    pub(crate) fn from_cell(store: KeyStore, cell: Arc<KeyCell>) -> Key<P, S> {
        Key {
            store,
            cell,
            _type: PhantomData,
        }
    }

    /// The store and cell behind this handle, for store operations
    /// implemented outside this module (transport, backup).
    pub(crate) fn parts(&self) -> (&KeyStore, &Arc<KeyCell>) {
        (&self.store, &self.cell)
    }

    /// The store and cell, giving up the typed handle.
    pub(crate) fn into_parts(self) -> (KeyStore, Arc<KeyCell>) {
        (self.store, self.cell)
    }

    fn into_state<T: KeyState>(self) -> Key<P, T> {
        Key {
            store: self.store,
            cell: self.cell,
            _type: PhantomData,
        }
    }

    fn go<T: KeyState>(self, t: Transition, reason: &str) -> Result<Key<P, T>> {
        self.store.transition(&self.cell, t, reason)?;
        Ok(self.into_state())
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.cell.id
    }

    /// The key's live state (which may differ from `S` if another handle
    /// changed it).
    #[must_use]
    pub fn state(&self) -> StateName {
        self.cell.read().map_or(StateName::Destroyed, |d| d.state())
    }

    /// The key's metadata (audited as a metadata read).
    ///
    /// # Errors
    /// As [`KeyStore::info`].
    pub fn info(&self) -> Result<KeyInfo> {
        self.store.info(&self.cell.id)
    }

    /// Re-reads the live state and returns the handle typed accordingly.
    #[must_use]
    pub fn refresh(self) -> AnyKey<P> {
        let state = self.state();
        AnyKey::from_cell(self.store, self.cell, state)
    }

    /// Lets `principal` (a registered principal) perform `operations` — use
    /// operations only — on this key until `expires_at`. Applications use
    /// keys only through grants; administrators need none. Replaces any
    /// earlier grant to the same principal. Administrators and operators.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Operation, Principal, Role, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let app = Principal::new("billing-api", &[Role::Application]);
    /// store.register_principal(&app)?;
    /// let key = store.create_active(KeySpec::<Aead>::new("invoices"))?;
    /// key.grant("billing-api", &[Operation::Encrypt, Operation::Decrypt], None)?;
    /// let as_app = store.as_principal("billing-api")?.load_active::<Aead>(&key.id())?;
    /// let ct = as_app.encrypt(b"invoice", b"")?;
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::ErrorKind::NotFound`] for an unregistered principal;
    /// [`crate::ErrorKind::InvalidArgument`] for non-use operations;
    /// [`crate::ErrorKind::PermissionDenied`].
    pub fn grant(
        &self,
        principal: &str,
        operations: &[crate::Operation],
        expires_at: Option<Timestamp>,
    ) -> Result<()> {
        let grant = crate::store::Grant::new(principal, operations, expires_at);
        self.store.op_grant(&self.cell, Some(grant), None)
    }

    /// Withdraws `principal`'s grant on this key.
    ///
    /// # Errors
    /// [`crate::ErrorKind::NotFound`] if it holds none.
    pub fn revoke_grant(&self, principal: &str) -> Result<()> {
        self.store.op_grant(&self.cell, None, Some(principal))
    }

    /// This handle as the state-erased [`AnyKey`].
    #[must_use]
    pub fn into_any(self) -> AnyKey<P> {
        self.refresh()
    }
}

// ----- transitions -----

impl<P: KeyPurpose> Key<P, PreActive> {
    /// PreActive → Active.
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`] if the key is no longer PreActive;
    /// permission and storage errors.
    pub fn activate(self) -> Result<Key<P, Active>> {
        self.go(Transition::Activate, "")
    }

    /// PreActive → Destroyed, for a key that was never used.
    ///
    /// # Errors
    /// As [`Key::activate`].
    pub fn destroy(self, reason: &str) -> Result<Key<P, Destroyed>> {
        self.go(Transition::Destroy, reason)
    }
}

impl<P: KeyPurpose> Key<P, Active> {
    /// Active → Suspended.
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`] if no longer Active; permission and
    /// storage errors.
    pub fn suspend(self, reason: &str) -> Result<Key<P, Suspended>> {
        self.go(Transition::Suspend, reason)
    }

    /// Adds a new version and makes it primary; older versions keep
    /// processing. Returns the new version number.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
    /// let key = store.create_active(KeySpec::<Aead>::new("k"))?;
    /// let old = key.encrypt(b"m", b"")?;
    /// assert_eq!(key.rotate()?, 2);
    /// assert_eq!(key.decrypt(&old, b"")?, b"m");          // v1 still processes
    /// let new = key.rewrap(&old, b"")?;                    // moved to v2
    /// assert_eq!(keylife::CiphertextInfo::parse(&new)?.key_version, 2);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`] if no longer Active; permission and
    /// storage errors.
    pub fn rotate(&self) -> Result<u32> {
        self.store.op_rotate(&self.cell)
    }
}

impl<P: KeyPurpose> Key<P, Suspended> {
    /// Suspended → Active.
    ///
    /// # Errors
    /// As [`Key::suspend`].
    pub fn resume(self) -> Result<Key<P, Active>> {
        self.go(Transition::Resume, "")
    }
}

macro_rules! deactivate {
    ($($s:ty),+) => {$(
        impl<P: KeyPurpose> Key<P, $s> {
            /// → Deactivated: no more apply operations; processing continues.
            ///
            /// # Errors
            /// [`crate::ErrorKind::WrongState`] if the live state no longer
            /// allows it; permission and storage errors.
            pub fn deactivate(self, reason: &str) -> Result<Key<P, Deactivated>> {
                self.go(Transition::Deactivate, reason)
            }
        }
    )+};
}
deactivate!(Active, Suspended);

macro_rules! compromise {
    ($($s:ty),+) => {$(
        impl<P: KeyPurpose> Key<P, $s> {
            /// → Compromised: every handle stops working at once.
            ///
            /// # Errors
            /// [`crate::ErrorKind::WrongState`] if the live state no longer
            /// allows it; permission and storage errors.
            pub fn compromise(self, reason: &str) -> Result<Key<P, Compromised>> {
                self.go(Transition::Compromise, reason)
            }
        }
    )+};
}
compromise!(PreActive, Active, Suspended, Deactivated);

macro_rules! schedule_destruction {
    ($($s:ty),+) => {$(
        impl<P: KeyPurpose> Key<P, $s> {
            /// → PendingDestruction, destroyed by the first load, use or
            /// maintenance after `wait` (at least the store's minimum).
            ///
            /// # Errors
            /// [`crate::ErrorKind::Policy`] if `wait` is below the minimum;
            /// [`crate::ErrorKind::WrongState`]; permission and storage errors.
            pub fn schedule_destruction(self, wait: Duration, reason: &str) -> Result<Key<P, PendingDestruction>> {
                self.go(Transition::ScheduleDestruction { wait }, reason)
            }
        }
    )+};
}
schedule_destruction!(Deactivated, Compromised);

macro_rules! version_management {
    ($($s:ty),+) => {$(
        impl<P: KeyPurpose> Key<P, $s> {
            /// Marks one version compromised; it no longer processes.
            ///
            /// # Errors
            /// [`crate::ErrorKind::NotFound`] for an unknown version;
            /// permission and storage errors.
            pub fn compromise_version(&self, version: u32, reason: &str) -> Result<()> {
                self.store.op_version_state(&self.cell, version, VersionState::Compromised, reason)
            }

            /// Destroys one version's material (trim). Not the primary.
            ///
            /// # Errors
            /// [`crate::ErrorKind::InvalidArgument`] for the primary version;
            /// as [`Self::compromise_version`].
            pub fn destroy_version(&self, version: u32, reason: &str) -> Result<()> {
                self.store.op_version_state(&self.cell, version, VersionState::Destroyed, reason)
            }

            /// Refuses processing with every version below `version`.
            ///
            /// # Errors
            /// [`crate::ErrorKind::InvalidArgument`] if above the primary or
            /// below the current minimum.
            pub fn set_min_decryption_version(&self, version: u32) -> Result<()> {
                self.store.op_min_decryption_version(&self.cell, version)
            }
        }
    )+};
}
version_management!(Active, Suspended, Deactivated, Compromised);

impl<P: KeyPurpose> Key<P, PendingDestruction> {
    /// Cancels the scheduled destruction; the key returns to the state it
    /// had (Deactivated or Compromised).
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`] if the date has already passed.
    pub fn cancel_destruction(self) -> Result<AnyKey<P>> {
        self.store
            .transition(&self.cell, Transition::CancelDestruction, "")?;
        Ok(self.refresh())
    }
}

// ----- cryptographic operations -----

impl Key<Aead, Active> {
    /// Encrypts with the primary version. `aad` (the encryption context) is
    /// authenticated, not encrypted; decryption needs the same bytes.
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`] if the key is no longer Active;
    /// [`crate::ErrorKind::UsageLimitExceeded`] at the invocation limit
    /// (unless the key rotates automatically); permission errors.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.store.op_encrypt(&self.cell, plaintext, aad)
    }

    /// [`Key::encrypt`] into a buffer the caller owns — exactly
    /// `plaintext.len() + CIPHERTEXT_OVERHEAD` bytes — without allocating:
    /// for bulk data and reused buffers. `out` is left untouched on error.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// use keylife::key::CIPHERTEXT_OVERHEAD;
    /// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
    /// # let key = store.create_active(KeySpec::<Aead>::new("k"))?;
    /// let mut out = vec![0u8; 5 + CIPHERTEXT_OVERHEAD];
    /// key.encrypt_to(b"hello", b"ctx", &mut out)?;
    /// assert_eq!(key.decrypt(&out, b"ctx")?, b"hello");
    /// let mut short = [0u8; 8];
    /// assert_eq!(key.encrypt_to(b"hello", b"ctx", &mut short).unwrap_err().kind(),
    ///            keylife::ErrorKind::InvalidArgument);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for an output of another
    /// length; as [`Key::encrypt`].
    pub fn encrypt_to(&self, plaintext: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        self.store.op_encrypt_to(&self.cell, plaintext, aad, out)
    }

    /// Re-encrypts a ciphertext of this key under the primary version,
    /// without returning the plaintext.
    ///
    /// # Errors
    /// As [`Key::decrypt`] and [`Key::encrypt`].
    pub fn rewrap(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.store.op_rewrap(&self.cell, ciphertext, aad)
    }
}

macro_rules! aead_process {
    ($($s:ty),+) => {$(
        impl Key<Aead, $s> {
            /// Decrypts a ciphertext of this key, with the version named in
            /// its header.
            ///
            /// # Errors
            /// [`crate::ErrorKind::AuthenticationFailed`] for a wrong context
            /// or tampered data (one opaque kind); [`crate::ErrorKind::Malformed`];
            /// [`crate::ErrorKind::VersionUnavailable`];
            /// [`crate::ErrorKind::WrongState`] (a Suspended key processes only
            /// when its spec allowed it).
            pub fn decrypt(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
                self.store.op_decrypt(&self.cell, ciphertext, aad)
            }

            /// [`Key::decrypt`] into a buffer the caller owns — exactly
            /// `ciphertext.len() - CIPHERTEXT_OVERHEAD` bytes — without
            /// allocating. On error `out` is left untouched, except that a
            /// failed authentication on the AWS-LC provider leaves it zeroed;
            /// never is unauthenticated plaintext left in it.
            ///
            /// # Errors
            /// [`crate::ErrorKind::InvalidArgument`] for an output of another
            /// length; as [`Key::decrypt`].
            pub fn decrypt_to(&self, ciphertext: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
                self.store.op_decrypt_to(&self.cell, ciphertext, aad, out)
            }
        }
    )+};
}
aead_process!(Active, Suspended, Deactivated);

impl Key<Aead, Compromised> {
    /// The audited override: re-encrypts `ciphertext` (made by this
    /// compromised key) under `target`, never exposing the plaintext.
    ///
    /// # Errors
    /// As [`KeyStore::rewrap_compromised`].
    pub fn rewrap_compromised(
        &self,
        ciphertext: &[u8],
        aad: &[u8],
        target: &Key<Aead, Active>,
        reason: &str,
    ) -> Result<Vec<u8>> {
        self.store
            .rewrap_compromised(ciphertext, aad, target, reason)
    }
}

impl Key<Signing, Active> {
    /// Signs `msg` (ECDSA P-256, SHA-256) with the primary version; DER
    /// signature, as X.509, OpenSSL and most protocols expect.
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`]; permission errors.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        self.store.op_sign(&self.cell, msg, false)
    }

    /// As [`Key::sign`], with the fixed 64-byte `r || s` encoding
    /// (IEEE P1363, as JOSE/JWS and WebCrypto use).
    ///
    /// # Errors
    /// As [`Key::sign`].
    pub fn sign_fixed(&self, msg: &[u8]) -> Result<[u8; 64]> {
        let v = self.store.op_sign(&self.cell, msg, true)?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&v);
        Ok(out)
    }
}

macro_rules! sign_process {
    ($($s:ty),+) => {$(
        impl Key<Signing, $s> {
            /// Verifies a DER signature against every version that may
            /// process, newest first.
            ///
            /// # Errors
            /// [`crate::ErrorKind::AuthenticationFailed`] if no version
            /// verifies it; [`crate::ErrorKind::WrongState`].
            pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
                self.store.op_verify(&self.cell, msg, signature, false)
            }

            /// Verifies a fixed 64-byte `r || s` signature.
            ///
            /// # Errors
            /// As [`Self::verify`].
            pub fn verify_fixed(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
                self.store.op_verify(&self.cell, msg, signature, true)
            }
        }
    )+};
}
sign_process!(Active, Suspended, Deactivated);

macro_rules! public_key {
    ($($p:ty),+) => {$(
        impl<S: KeyState> Key<$p, S> {
            /// The public key of `version` (the primary when `None`).
            ///
            /// # Errors
            /// [`crate::ErrorKind::WrongState`] once destroyed;
            /// [`crate::ErrorKind::VersionUnavailable`] for a trimmed version.
            pub fn public_key(&self, version: Option<u32>) -> Result<PublicKey> {
                self.store.op_public_key(&self.cell, version)
            }
        }
    )+};
}
public_key!(Signing, Agreement);

impl Key<Mac, Active> {
    /// HMAC-SHA-256 of `msg` with the primary version (32 bytes).
    ///
    /// # Errors
    /// [`crate::ErrorKind::WrongState`]; permission errors.
    pub fn mac(&self, msg: &[u8]) -> Result<[u8; 32]> {
        self.store.op_mac(&self.cell, msg)
    }
}

macro_rules! mac_process {
    ($($s:ty),+) => {$(
        impl Key<Mac, $s> {
            /// Verifies a 32-byte tag in constant time against every version
            /// that may process.
            ///
            /// # Errors
            /// [`crate::ErrorKind::AuthenticationFailed`] on mismatch.
            pub fn verify_mac(&self, msg: &[u8], tag: &[u8]) -> Result<()> {
                self.store.op_verify_mac(&self.cell, msg, tag)
            }
        }
    )+};
}
mac_process!(Active, Suspended, Deactivated);

impl Key<Derivation, Active> {
    /// HKDF-SHA-256 (RFC 5869) from the primary version: `salt` for extract,
    /// `context` as expand's info, `len` bytes (1..=8160).
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Derivation};
    /// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
    /// let root = store.create_active(KeySpec::<Derivation>::new("tenant-root"))?;
    /// let a = root.derive(b"", b"tenant=1", 32)?;
    /// let b = root.derive(b"", b"tenant=2", 32)?;
    /// assert_ne!(a.expose_secret(), b.expose_secret());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for a bad length;
    /// [`crate::ErrorKind::WrongState`].
    pub fn derive(&self, salt: &[u8], context: &[u8], len: usize) -> Result<SecretBytes> {
        self.store.op_derive(&self.cell, salt, context, len, None)
    }

    /// As [`Key::derive`] with an explicit (older) version, to reproduce
    /// keys derived before a rotation.
    ///
    /// # Errors
    /// As [`Key::derive`], and [`crate::ErrorKind::VersionUnavailable`].
    pub fn derive_with_version(
        &self,
        version: u32,
        salt: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<SecretBytes> {
        self.store
            .op_derive(&self.cell, salt, context, len, Some(version))
    }
}

impl Key<Agreement, Active> {
    /// ECDH with `peer`, then HKDF-SHA-256 over the shared secret with
    /// `salt` and `context`, producing `len` bytes. The raw shared secret
    /// never leaves the library (NIST SP 800-56A §5.8: always use a KDF).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] for a bad length;
    /// [`crate::ErrorKind::WrongState`].
    pub fn agree(
        &self,
        peer: &PublicKey,
        salt: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<SecretBytes> {
        self.store.op_agree(&self.cell, peer, salt, context, len)
    }
}

#[cfg(feature = "hazmat")]
impl Key<Aead, Active> {
    /// Raw AES-256-GCM encryption with a caller-chosen nonce; returns
    /// `ciphertext || tag` with no keylife header. For interoperability tests
    /// and known-answer vectors only. Counts against the usage limit.
    ///
    /// # Security warning
    /// Reusing a nonce under one key reveals the XOR of plaintexts and lets an
    /// attacker forge messages (NIST SP 800-38D §8). The caller must
    /// guarantee every nonce is unique for this key. Use [`Key::encrypt`].
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] for nonces other than 12 bytes; as
    /// [`Key::encrypt`].
    pub fn hazmat_encrypt_assume_unique_nonce(
        &self,
        nonce: &[u8],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        self.store.op_raw_encrypt(&self.cell, nonce, plaintext, aad)
    }
}

#[cfg(feature = "hazmat")]
macro_rules! aead_raw_process {
    ($($s:ty),+) => {$(
        impl Key<Aead, $s> {
            /// Raw AES-256-GCM decryption of `ciphertext || tag` with the
            /// primary version, with no keylife header. For known-answer
            /// vectors and interoperability.
            ///
            /// # Errors
            /// [`crate::ErrorKind::AuthenticationFailed`];
            /// [`crate::ErrorKind::Unsupported`] for nonces other than 12 bytes.
            pub fn hazmat_decrypt_raw(&self, nonce: &[u8], ciphertext_and_tag: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
                self.store.op_raw_decrypt(&self.cell, nonce, ciphertext_and_tag, aad)
            }
        }
    )+};
}
#[cfg(feature = "hazmat")]
aead_raw_process!(Active, Suspended, Deactivated);

#[cfg(feature = "hazmat")]
impl<P: KeyPurpose, S: KeyState> Key<P, S> {
    /// Exports the raw material of `version` (the primary when `None`):
    /// 32 bytes for AES, P-256 scalars, HMAC and HKDF keys of their length.
    /// Only keys created [`KeySpec::exportable`](crate::KeySpec::exportable), only administrators, never
    /// compromised or destroyed keys; always audited.
    ///
    /// # Security warning
    /// The returned bytes are the key. Once outside keylife nothing governs
    /// them: no state, no audit, no destruction.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Policy`] if not exportable;
    /// [`crate::ErrorKind::PermissionDenied`]; [`crate::ErrorKind::WrongState`].
    pub fn hazmat_export_raw(&self, version: Option<u32>) -> Result<SecretBytes> {
        self.store.op_export_raw(&self.cell, version)
    }
}

/// A key of purpose `P` in a state known only at run time: the bridge for
/// storage, the C ABI and Python. Match on it to get a typed handle.
#[derive(Debug)]
pub enum AnyKey<P: KeyPurpose> {
    /// PreActive.
    PreActive(Key<P, PreActive>),
    /// Active.
    Active(Key<P, Active>),
    /// Suspended.
    Suspended(Key<P, Suspended>),
    /// Deactivated.
    Deactivated(Key<P, Deactivated>),
    /// Compromised.
    Compromised(Key<P, Compromised>),
    /// PendingDestruction.
    PendingDestruction(Key<P, PendingDestruction>),
    /// Destroyed or Destroyed-Compromised.
    Destroyed(Key<P, Destroyed>),
}

impl<P: KeyPurpose> AnyKey<P> {
    pub(crate) fn from_cell(store: KeyStore, cell: Arc<KeyCell>, state: StateName) -> AnyKey<P> {
        match state {
            StateName::PreActive => AnyKey::PreActive(Key::from_cell(store, cell)),
            StateName::Active => AnyKey::Active(Key::from_cell(store, cell)),
            StateName::Suspended => AnyKey::Suspended(Key::from_cell(store, cell)),
            StateName::Deactivated => AnyKey::Deactivated(Key::from_cell(store, cell)),
            StateName::Compromised => AnyKey::Compromised(Key::from_cell(store, cell)),
            StateName::PendingDestruction => {
                AnyKey::PendingDestruction(Key::from_cell(store, cell))
            }
            StateName::Destroyed | StateName::DestroyedCompromised => {
                AnyKey::Destroyed(Key::from_cell(store, cell))
            }
        }
    }

    /// The store and cell, giving up the typed handle.
    pub(crate) fn into_parts(self) -> (KeyStore, Arc<KeyCell>) {
        match self {
            AnyKey::PreActive(k) => k.into_parts(),
            AnyKey::Active(k) => k.into_parts(),
            AnyKey::Suspended(k) => k.into_parts(),
            AnyKey::Deactivated(k) => k.into_parts(),
            AnyKey::Compromised(k) => k.into_parts(),
            AnyKey::PendingDestruction(k) => k.into_parts(),
            AnyKey::Destroyed(k) => k.into_parts(),
        }
    }

    /// The live state.
    #[must_use]
    pub fn state(&self) -> StateName {
        match self {
            AnyKey::PreActive(k) => k.state(),
            AnyKey::Active(k) => k.state(),
            AnyKey::Suspended(k) => k.state(),
            AnyKey::Deactivated(k) => k.state(),
            AnyKey::Compromised(k) => k.state(),
            AnyKey::PendingDestruction(k) => k.state(),
            AnyKey::Destroyed(k) => k.state(),
        }
    }

    /// The key's id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        match self {
            AnyKey::PreActive(k) => k.id(),
            AnyKey::Active(k) => k.id(),
            AnyKey::Suspended(k) => k.id(),
            AnyKey::Deactivated(k) => k.id(),
            AnyKey::Compromised(k) => k.id(),
            AnyKey::PendingDestruction(k) => k.id(),
            AnyKey::Destroyed(k) => k.id(),
        }
    }
}

// ----- transport primitives keyed by a managed key -----

impl Key<Agreement, Active> {
    /// SetupBaseR (RFC 9180 §5.1.1) with this key's primary version as the
    /// recipient key. Audited as an agreement.
    ///
    /// The `info` of keylife's key transport is reserved: a transported
    /// key is opened only by [`KeyStore::import_from_sender`], which imports
    /// it as a governed key, never returned raw (unless `hazmat`).
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for an `enc` that is not an uncompressed
    /// P-256 point on the curve; [`ErrorKind::PermissionDenied`] for the
    /// key-transport `info` (without `hazmat`); as [`Key::agree`].
    pub fn hpke_setup_recipient(
        &self,
        enc: &[u8],
        aead: AeadId,
        info: &[u8],
    ) -> Result<RecipientContext> {
        if !cfg!(feature = "hazmat") && info == super::transport::TRANSPORT_INFO {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "the key-transport HPKE info is reserved for KeyStore::import_from_sender",
            ));
        }
        let (store, cell) = self.parts();
        store.with_agreement_secret(cell, None, |sk| setup_recipient_with(sk, enc, aead, info))
    }

    /// Single-shot `Open` (RFC 9180 §6.1) of what [`seal`](crate::hpke::seal) produced.
    ///
    /// # Errors
    /// [`ErrorKind::AuthenticationFailed`] for a wrong key, info, aad or
    /// altered data; as [`Key::hpke_setup_recipient`].
    pub fn hpke_open(
        &self,
        enc: &[u8],
        aead: AeadId,
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        self.hpke_setup_recipient(enc, aead, info)?
            .open(aad, ciphertext)
    }
}

impl Key<Derivation, Active> {
    /// Derives a 256-bit [`WrappingKey`] from this key's primary version
    /// (HKDF-SHA-256, `info` = a fixed label then `context`). Two stores
    /// holding the same derivation key (moved with
    /// [`KeyStore::export_to_recipient`](crate::KeyStore::export_to_recipient))
    /// derive the same wrapping key for the same context. Audited as a
    /// derivation.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Derivation};
    /// # let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let root = store.create_active(KeySpec::<Derivation>::new("transport-root"))?;
    /// let a = root.derive_wrapping_key(b"to=dr-site")?;
    /// let b = root.derive_wrapping_key(b"to=dr-site")?;
    /// assert_eq!(a.check_value(), b.check_value());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Key::derive`].
    pub fn derive_wrapping_key(&self, context: &[u8]) -> Result<WrappingKey> {
        WrappingKey::derived(
            self.derive(b"", &derive_wrapping_info(context), 32)?,
            self.id(),
        )
    }
}
