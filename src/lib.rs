//! # keylife — the whole life of a cryptographic key, in-process
//!
//! keylife generates, stores, governs, rotates, suspends, revokes and
//! destroys keys inside your application, following the NIST SP 800-57
//! lifecycle, with no server.
//!
//! ## Which type do I use?
//!
//! | you want to… | use |
//! |---|---|
//! | open or create a key store | [`KeyStore::open`], [`KeyStore::builder`], [`KeyStore::in_memory`] |
//! | say who is calling | [`Principal`] (bound to a store handle with [`KeyStore::as_principal`]) |
//! | create a key | [`KeyStore::create`] with a [`KeySpec`] of a purpose from [`purpose`] |
//! | use a key | [`Key<P, S>`](Key): methods exist only where the state allows them |
//! | find a key again | [`KeyStore::load`] → [`AnyKey`], or [`KeyStore::load_active`] |
//! | decrypt without knowing the key | [`KeyStore::decrypt`] (the header names the key) |
//! | verify someone's signature | [`PublicKey`] |
//! | list keys, inventory | [`KeyStore::list`] with a [`KeyFilter`]; [`KeyInfo`] |
//! | apply dates without a daemon | [`KeyStore::maintenance`]; tests use [`ManualClock`] |
//! | record every operation | an [`AuditSink`] |
//! | store keys somewhere | a [`Backend`](backend::Backend): [`backend::MemoryBackend`] … |
//! | handle errors | [`Error`] and its stable [`ErrorKind`] codes |
//!
//! ## A key's life
//!
//! ```
//! use std::time::Duration;
//! use keylife::{KeyStore, KeySpec, Principal, StateName, purpose::Aead, ErrorKind};
//!
//! let store = KeyStore::in_memory(Principal::admin("security-team"))?;
//! let key = store.create(KeySpec::<Aead>::new("customer-pii").owner("crm"))?;
//! let key = key.activate()?;
//! let ct = key.encrypt(b"jane@example.com", b"customer=42")?;
//! key.rotate()?;                                   // v2 is primary, v1 still decrypts
//! let key = key.deactivate("superseded")?;         // no more encryption
//! assert_eq!(key.decrypt(&ct, b"customer=42")?, b"jane@example.com");
//! let key = key.compromise("laptop stolen")?;      // nothing works any more
//! assert_eq!(store.decrypt(&ct, b"customer=42").unwrap_err().kind(), ErrorKind::WrongState);
//! let pending = key.schedule_destruction(Duration::from_secs(30 * 86400), "compromised")?;
//! assert_eq!(pending.state(), StateName::PendingDestruction);
//! # Ok::<(), keylife::Error>(())
//! ```

#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod audit;
mod clock;
mod crypto;
mod error;
pub mod key;
mod nonce;
mod principal;
mod secret;
mod store;

pub use audit::{AuditEvent, AuditSink, MemoryAuditSink, Operation, Outcome};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use key::{
    Algorithm, AnyKey, CiphertextInfo, Key, KeyId, KeyInfo, KeyPurpose, KeySpec, KeyState, Origin,
    PublicKey, Purpose, StateChange, StateName, Timestamp, VersionInfo, VersionState, purpose,
    state,
};
pub use principal::{Principal, Role};
pub use secret::SecretBytes;
pub use store::{
    AES_GCM_INVOCATION_LIMIT, Kek, KekProvider, KeyFilter, KeyStore, MaintenanceReport, RawKek,
    StoreBuilder, StoreOptions, backend,
};
