//! The key model: purposes and states (as run-time names and as types), the
//! transition table, specs, inventory metadata and the ciphertext format. It
//! knows nothing of stores; the handles that use it, [`crate::Key<P, S>`]
//! (typed) and [`crate::KeyHandle`] (dynamic), live in the store layer.
//!
//! A [`crate::Key<P, S>`] is a key of purpose `P` in state `S`. Methods
//! exist only where NIST SP 800-57 allows them: `encrypt` only on
//! `Key<Aead, Active>`, `sign` only on `Key<Signing, Active>`, `decrypt` on
//! Active, Suspended and Deactivated AEAD keys. Transitions take `self` and
//! return the key in its next state, so the old handle cannot be used again.
//! The type is what the handle *believed*; every call also checks the live
//! state (another handle may have revoked the key) and fails with
//! [`crate::ErrorKind::WrongState`] if it changed.
//!
//! # What does not compile
//!
//! Encrypting with a Deactivated key:
//!
//! ```compile_fail,E0599
//! # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
//! # let store = KeyStore::in_memory(Principal::admin("doc"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?.deactivate("end of use")?;
//! key.encrypt(b"data", b"")?; // no `encrypt` on Key<Aead, Deactivated>
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! Signing with an AEAD key:
//!
//! ```compile_fail,E0599
//! # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
//! # let store = KeyStore::in_memory(Principal::admin("doc"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?;
//! key.sign(b"data")?; // no `sign` on Key<Aead, Active>
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! Using a key after a transition consumed it:
//!
//! ```compile_fail,E0382
//! # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
//! # let store = KeyStore::in_memory(Principal::admin("doc"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?;
//! let suspended = key.suspend("investigation")?;
//! key.encrypt(b"data", b"")?; // `key` was moved into `suspend`
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! Activating a Destroyed key:
//!
//! ```compile_fail,E0599
//! # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
//! # let store = KeyStore::in_memory(Principal::admin("doc"))?;
//! let key = store.create(KeySpec::<Aead>::new("k"))?.destroy("never used")?;
//! key.activate()?; // no `activate` on Key<Aead, Destroyed>
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! Decrypting with a Compromised key (only the audited override exists):
//!
//! ```compile_fail,E0599
//! # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
//! # let store = KeyStore::in_memory(Principal::admin("doc"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?;
//! let ct = key.encrypt(b"data", b"")?;
//! let key = key.compromise("leaked")?;
//! key.decrypt(&ct, b"")?;
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! The same calls on the right types compile and run:
//!
//! ```
//! # use keylife::{KeyStore, KeySpec, Principal, purpose::{Aead, Signing}};
//! # let store = KeyStore::in_memory(Principal::admin("doc"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?;
//! let ct = key.encrypt(b"data", b"")?;
//! let key = key.deactivate("end of use")?;
//! assert_eq!(key.decrypt(&ct, b"")?, b"data");
//! let signer = store.create_active(KeySpec::<Signing>::new("s"))?;
//! let sig = signer.sign(b"data")?;
//! signer.verify(b"data", &sig)?;
//! # Ok::<(), keylife::Error>(())
//! ```

pub(crate) mod ciphertext;
mod info;
pub(crate) mod lifecycle;
mod operation;

mod spec;
pub(crate) mod stream;
mod types;

pub use self::ciphertext::{
    CiphertextInfo, FORMAT_VERSION as CIPHERTEXT_FORMAT_VERSION,
    HEADER_LEN as CIPHERTEXT_HEADER_LEN, OVERHEAD as CIPHERTEXT_OVERHEAD,
};
pub use self::info::{Grant, KeyInfo, Origin, StateChange, VersionInfo, VersionState};
pub use self::operation::Operation;
pub use self::spec::KeySpec;
pub use self::stream::{
    DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, STREAM_FORMAT, STREAM_HEADER_LEN,
    StreamInfo,
};
pub use self::types::{Algorithm, Purpose, StateName};
pub use crate::base::{KeyId, Timestamp};
pub use crate::crypto::public::PublicKey;

mod sealed {
    pub trait Sealed {}
}

/// A lifecycle state as a type. Sealed: the set is fixed.
pub trait KeyState: sealed::Sealed + Send + Sync + 'static {
    /// The run-time states this type stands for.
    const NAMES: &'static [StateName];
}

/// A purpose as a type. Sealed: the set is fixed.
pub trait KeyPurpose: sealed::Sealed + Send + Sync + 'static {
    /// The run-time purpose.
    const PURPOSE: Purpose;
}

macro_rules! states {
    ($($(#[$doc:meta])* $name:ident => [$($rt:ident),+];)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl KeyState for $name {
            const NAMES: &'static [StateName] = &[$(StateName::$rt),+];
        }
    )+};
}

macro_rules! purposes {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl KeyPurpose for $name {
            const PURPOSE: Purpose = Purpose::$name;
        }
    )+};
}

/// Runs `$body` with the type alias `$P` bound to the purpose type of the
/// run-time purpose `$purpose` (the bridge from a [`Purpose`] value to the
/// generic API).
macro_rules! with_purpose_type {
    ($purpose:expr, $P:ident => $body:expr) => {
        match $purpose {
            $crate::key::Purpose::Aead => {
                type $P = $crate::key::Aead;
                $body
            }
            $crate::key::Purpose::Signing => {
                type $P = $crate::key::Signing;
                $body
            }
            $crate::key::Purpose::Mac => {
                type $P = $crate::key::Mac;
                $body
            }
            $crate::key::Purpose::Agreement => {
                type $P = $crate::key::Agreement;
                $body
            }
            $crate::key::Purpose::Derivation => {
                type $P = $crate::key::Derivation;
                $body
            }
        }
    };
}
pub(crate) use with_purpose_type;

/// The state types (zero-sized, uninhabited).
pub mod state {
    use super::{KeyState, StateName, sealed};
    states! {
        /// Generated, not yet usable.
        PreActive => [PreActive];
        /// In use.
        Active => [Active];
        /// Temporarily out of use.
        Suspended => [Suspended];
        /// Processing only.
        Deactivated => [Deactivated];
        /// Exposed; only the audited rewrap override may read with it.
        Compromised => [Compromised];
        /// Waiting for its destruction date.
        PendingDestruction => [PendingDestruction];
        /// Material gone (also covers Destroyed-Compromised).
        Destroyed => [Destroyed, DestroyedCompromised];
    }
}

/// The purpose types (zero-sized, uninhabited).
pub mod purpose {
    use super::{KeyPurpose, Purpose, sealed};
    purposes! {
        /// AES-256-GCM authenticated encryption.
        Aead;
        /// ECDSA P-256 / SHA-256 signatures.
        Signing;
        /// HMAC-SHA-256.
        Mac;
        /// ECDH P-256 key agreement.
        Agreement;
        /// HKDF-SHA-256 derivation.
        Derivation;
    }
}

pub use self::purpose::{Aead, Agreement, Derivation, Mac, Signing};
pub use self::state::{
    Active, Compromised, Deactivated, Destroyed, PendingDestruction, PreActive, Suspended,
};
