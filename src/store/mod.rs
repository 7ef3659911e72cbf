//! [`KeyStore`]: the principal-bound handle through which every key is
//! created, found, used and changed.

mod audit;
pub mod backend;
pub mod backup;
mod cache;
mod cell;
mod destinations;
mod dynamic;
mod governance;
mod inventory;
mod kek;
mod message;
mod mutate;
mod open;
mod ops;
mod record;
mod seal;
mod stream;
mod sync;
pub(crate) mod transport;
mod typed;
pub(crate) mod versions;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock, Weak};

pub use self::audit::{AuditEntry, AuditVerification, IntegrityReport};
pub use self::destinations::{DestinationKind, TrustedDestination};
pub use self::dynamic::KeyHandle;
pub(crate) use self::governance::authorize;
pub use self::inventory::{KeyFilter, MaintenanceReport};
pub use self::kek::{Argon2Params, Kek, KekProvider, PassphraseKek, RawKek};
pub use self::open::{AuditUses, StoreBuilder, StoreOptions};
pub use self::typed::{AnyKey, Key};
pub use crate::crypto::AES_GCM_INVOCATION_LIMIT;
pub use crate::key::Grant;
pub(crate) use cell::{CellData, KeyCell};
pub(crate) use record::Loaded;

use self::audit::AuditLog;

use self::backend::Backend;
use self::seal::Sealer;
use crate::base::time::Clock;
use crate::crypto::provider::CryptoProvider;
use crate::governance::audit::AuditSink;
use crate::governance::principal::Principal;
use crate::key::{KeyId, KeyInfo, Timestamp};

const KEY_PREFIX: &str = "key/";
/// Cells kept alive without a handle (see `KeyStore::track`).
const RECENT_CELLS: usize = 1024;

pub(crate) struct StoreInner {
    /// Highest record generation seen per key (rollback detection).
    seen: Mutex<HashMap<KeyId, u64>>,
    sync: sync::Sync,
    log: AuditLog,
    backend: Box<dyn Backend>,
    sealer: RwLock<Arc<Sealer>>,
    /// The KEK that opened the store, kept for KEK rotation.
    kek: Mutex<Kek>,
    clock: Arc<dyn Clock>,
    sinks: RwLock<Vec<Arc<dyn AuditSink>>>,
    /// Whether `sinks` is non-empty (read without the lock on every use).
    has_sinks: AtomicBool,
    cells: Mutex<HashMap<KeyId, Weak<KeyCell>>>,
    /// Recently loaded or created cells, kept alive (bounded).
    recent: Mutex<HashMap<KeyId, Arc<KeyCell>>>,
    options: StoreOptions,
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // Best effort: write buffered use entries before the store goes away.
        if self.log.has_buffered()
            && let Ok(sealer) = self.sealer.read()
        {
            let _ = self.log.commit(&*self.backend, &sealer, &[], Vec::new());
        }
    }
}

/// A handle on a key store, bound to the [`Principal`] it acts for.
///
/// Handles are capabilities. The handle [`KeyStore::open`] returns — the
/// one that unlocked the store with its KEK — acts for the principal it was
/// opened as, with the roles the store's registry holds for it, and is the
/// only handle that mints others ([`KeyStore::as_principal`]). A handle
/// minted for a principal acts with that principal's registered roles and
/// can neither mint another nor change its roles. Cloning is cheap and
/// keeps these rights; clones share the store. Each returned [`Key`]
/// carries its handle's principal.
///
/// ```
/// use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
/// let store = KeyStore::in_memory(Principal::admin("ops"))?;
/// let key = store.create(KeySpec::<Aead>::new("orders"))?.activate()?;
/// let ct = key.encrypt(b"order #1", b"tenant=7")?;
/// assert_eq!(store.decrypt(&ct, b"tenant=7")?, b"order #1");
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<StoreInner>,
    principal: Principal,
    /// Whether this is the opening handle (it unlocked the store), the only
    /// kind that mints principal handles.
    opener: bool,
}

impl core::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyStore")
            .field("principal", &self.principal)
            .field("opener", &self.opener)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// The principal this handle acts for.
    #[must_use]
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The store's current time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Store-wide options.
    #[must_use]
    pub fn options(&self) -> &StoreOptions {
        &self.inner.options
    }

    // ----- internals shared with key handles and ops -----

    pub(crate) fn inner_options(&self) -> &StoreOptions {
        &self.inner.options
    }

    /// The crypto provider that runs this store's keys
    /// ([`StoreOptions::crypto_provider`]).
    #[must_use]
    pub fn crypto_provider(&self) -> CryptoProvider {
        self.inner.options.crypto_provider
    }
}

/// What a mutation does to key material.
// Transient, one per mutation; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum MaterialChange {
    None,
    /// A new version (number = the new `primary_version`).
    Add(Loaded),
    DestroyVersion(u32),
    DestroyAll,
    /// A usage range `[start, end)` for `version`, persisted as its count.
    Reserve {
        version: u32,
        start: u64,
        end: u64,
    },
}

impl CellData {
    /// A key just written with one version, in the split layout.
    fn new_single(
        info: KeyInfo,
        material: Loaded,
        revision: u64,
        writes: versions::KeyWrites,
    ) -> CellData {
        CellData {
            info,
            material: vec![Some(material)],
            generation: 1,
            usage: vec![cell::Usage::default()],
            revision,
            items: Vec::new(),
            heads: Vec::new(),
            split: true,
        }
        .with_chain(writes)
    }
}

impl CellData {
    fn with_chain(mut self, writes: versions::KeyWrites) -> CellData {
        writes.apply(&mut self.items, &mut self.heads);
        self
    }
}

fn key_record_id(id: &KeyId) -> String {
    format!("{KEY_PREFIX}{id}")
}
