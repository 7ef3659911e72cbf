//! Opening a store: [`StoreOptions`], [`StoreBuilder`], and the ways to get
//! a [`KeyStore`] handle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::audit::AuditLog;
use super::backend::{Backend, MemoryBackend};
use super::{Kek, KekProvider, KeyStore, RawKek, StoreInner, seal, sync};
use crate::base::time::{Clock, SystemClock};
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::provider::CryptoProvider;
use crate::governance::audit::{AuditSink, Operation};
use crate::governance::principal::Principal;

/// Store-wide settings. Policy files (governance) refine them per key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Invocations reserved per persisted write for AES-GCM counting. Larger
    /// blocks mean fewer writes and a larger over-count after a crash or
    /// restart, which counts reserved invocations as used. Near a key's
    /// usage limit the reservation shrinks to an eighth of what remains (at
    /// least one), so a restart never costs more than that.
    pub usage_block: u64,
    /// Shortest waiting period accepted by `schedule_destruction`
    /// (default 7 days, as AWS KMS's minimum).
    pub min_destruction_wait: Duration,
    /// How often, at most, a handle asks the backend whether another process
    /// committed (default 250 ms). A key revoked by another process stops
    /// working here within this interval (plus the time of one call); a
    /// state change made through this store is visible at once.
    pub refresh_interval: Duration,
    /// Successful use operations (encrypt, sign, …) and metadata reads
    /// (`info`, `list`) whose audit entries are written together in one
    /// commit (default 256; 1 writes each at once).
    /// State changes, refusals and failures are always written before the
    /// call returns, in the same commit as the change.
    pub audit_buffer: usize,
    /// How successful uses enter the audit log (default: aggregated).
    pub audit_uses: AuditUses,
    /// Buffered use entries are written once the oldest waited this long
    /// (default 1 s), at the next operation.
    pub audit_flush_interval: Duration,
    /// Which implementation runs AES-GCM and P-256 for this store's keys
    /// and records (default: the process default,
    /// [`CryptoProvider::get_default`]). Providers interoperate: stores
    /// with different providers can share one backend.
    pub crypto_provider: CryptoProvider,
}

/// How successful use operations (encrypt, decrypt, sign, verify, MAC,
/// derive, agree, rewrap) are recorded in the built-in audit log. Refusals,
/// failures and every other operation always get one entry each, written
/// before the call returns. External [`AuditSink`]s get every event either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditUses {
    /// One entry per principal, operation, key and version per flush window,
    /// with the exact count and the first and last time: an in-process key
    /// store performs millions of uses a second, and a sealed, chained entry
    /// for each would cost more than the cryptography (see benches/README.md).
    Aggregate,
    /// One entry per operation.
    Each,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            usage_block: 4096,
            min_destruction_wait: Duration::from_secs(7 * 24 * 3600),
            refresh_interval: Duration::from_millis(250),
            audit_buffer: 256,
            audit_uses: AuditUses::Aggregate,
            audit_flush_interval: Duration::from_secs(1),
            crypto_provider: CryptoProvider::get_default(),
        }
    }
}

/// Configures and opens a [`KeyStore`].
pub struct StoreBuilder {
    backend: Box<dyn Backend>,
    clock: Arc<dyn Clock>,
    /// Whether `clock` is the system clock (not replaced by `clock()`).
    system_clock: bool,
    sinks: Vec<Arc<dyn AuditSink>>,
    options: StoreOptions,
}

impl StoreBuilder {
    /// Uses `clock` instead of the system clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> StoreBuilder {
        self.clock = Arc::new(clock);
        self.system_clock = false;
        self
    }

    /// Sends every audit event to `sink` as well.
    #[must_use]
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> StoreBuilder {
        self.sinks.push(sink);
        self
    }

    /// Store-wide options.
    #[must_use]
    pub fn options(mut self, options: StoreOptions) -> StoreBuilder {
        self.options = options;
        self
    }

    /// Opens the store (initialising it when empty) with the KEK from `kek`,
    /// acting as `principal`, and returns the opening handle (see
    /// [`KeyStore`]).
    ///
    /// `principal` must be registered in the store with exactly these
    /// roles: roles come from the registry, never from the caller. In a
    /// store without an administrator yet — a new one — it must be an
    /// administrator, and is registered as the store's first.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a principal the store does not know;
    /// [`ErrorKind::PermissionDenied`] for other roles than the registered
    /// ones, or a first principal that is not an administrator;
    /// [`ErrorKind::WrongKek`] when the KEK does not open an existing store;
    /// [`ErrorKind::UnsupportedVersion`] for a store from a newer keylife;
    /// [`ErrorKind::Integrity`] for a damaged header; storage errors.
    pub fn open(self, kek: &dyn KekProvider, principal: Principal) -> Result<KeyStore> {
        self.open_as(kek, principal, false)
    }

    fn open_as(
        self,
        kek: &dyn KekProvider,
        principal: Principal,
        name_only: bool,
    ) -> Result<KeyStore> {
        if name_only && !self.exists()? {
            return Err(Error::new(
                ErrorKind::NotFound,
                "no store here yet (an administrator creates it)",
            ));
        }
        let (sealer, kek) = seal::open(&*self.backend, kek)?;
        let sync = sync::Sync::new(&*self.backend, self.system_clock)?;
        let log = AuditLog::open(&*self.backend, &sealer)?;
        let inner = Arc::new(StoreInner {
            seen: Mutex::new(HashMap::new()),
            sync,
            log,
            backend: self.backend,
            sealer: RwLock::new(Arc::new(sealer)),
            kek: Mutex::new(kek),
            clock: self.clock,
            has_sinks: AtomicBool::new(!self.sinks.is_empty()),
            sinks: RwLock::new(self.sinks),
            cells: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            options: self.options,
        });
        let mut store = KeyStore {
            inner,
            principal,
            opener: true,
        };
        store.principal = match name_only {
            // Roles come from the registry; the name must already be in it.
            true => store.registered_principal(store.principal.name())?,
            false => store.opening_principal()?,
        };
        store.audit(Operation::OpenStore, None, None, Ok(()))?;
        Ok(store)
    }

    /// Whether the backend holds a store already (its header), so that
    /// [`StoreBuilder::open`] would open rather than create one.
    ///
    /// # Errors
    /// Storage errors.
    pub fn exists(&self) -> Result<bool> {
        Ok(seal::read_header(&*self.backend)?.is_some())
    }

    /// Opens an existing store acting as the registered principal `name`,
    /// with the roles the store's registry holds for it — for callers that
    /// know a name but not its roles, such as the `keylife` command line.
    /// It never creates a store or registers anyone: a new store is
    /// created with [`StoreBuilder::open`] and an administrator.
    ///
    /// ```
    /// use keylife::{ErrorKind, KeyStore, Principal, RawKek, Kek, Role, backend::MemoryBackend};
    /// use std::sync::Arc;
    /// let backend = Arc::new(MemoryBackend::new());
    /// let kek = RawKek::new(Kek::generate()?);
    /// let err = KeyStore::builder(backend.clone()).open_registered(&kek, "ops").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound); // no store yet, and none created
    /// assert!(!KeyStore::builder(backend.clone()).exists()?);
    /// let admin = KeyStore::open(backend.clone(), &kek, Principal::admin("ops"))?;
    /// admin.register_principal(&Principal::new("audit", &[Role::Auditor]))?;
    /// let auditor = KeyStore::builder(backend.clone()).open_registered(&kek, "audit")?;
    /// assert!(auditor.principal().has_role(Role::Auditor));
    /// let err = KeyStore::builder(backend).open_registered(&kek, "nobody").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a name the registry does not hold
    /// (in a new store, every name); otherwise as [`StoreBuilder::open`].
    pub fn open_registered(self, kek: &dyn KekProvider, name: &str) -> Result<KeyStore> {
        self.open_as(kek, Principal::new(name, &[]), true)
    }
}

impl KeyStore {
    /// Starts configuring a store on `backend`.
    #[must_use]
    pub fn builder(backend: impl Backend + 'static) -> StoreBuilder {
        StoreBuilder {
            backend: Box::new(backend),
            clock: Arc::new(SystemClock),
            system_clock: true,
            sinks: Vec::new(),
            options: StoreOptions::default(),
        }
    }

    /// Opens a store on `backend` with default settings.
    ///
    /// # Errors
    /// As [`StoreBuilder::open`].
    pub fn open(
        backend: impl Backend + 'static,
        kek: &dyn KekProvider,
        principal: Principal,
    ) -> Result<KeyStore> {
        KeyStore::builder(backend).open(kek, principal)
    }

    /// An ephemeral in-memory store under a random KEK.
    ///
    /// # Errors
    /// If the OS random source fails.
    pub fn in_memory(principal: Principal) -> Result<KeyStore> {
        KeyStore::open(
            MemoryBackend::new(),
            &RawKek::new(Kek::generate()?),
            principal,
        )
    }

    /// A handle on the same store acting for the registered principal
    /// `name`, with the roles the store's registry holds for it. Only the
    /// opening handle mints principal handles; a principal handle cannot
    /// mint another, so code given one cannot become anyone else.
    ///
    /// ```
    /// use keylife::{ErrorKind, KeySpec, KeyStore, Principal, Role, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// store.register_principal(&Principal::new("billing", &[Role::Application]))?;
    /// let billing = store.as_principal("billing")?;
    /// assert!(billing.principal().has_role(Role::Application));
    /// assert!(!billing.principal().has_role(Role::Administrator));
    /// // A principal handle mints nothing, and unknown names are refused.
    /// assert_eq!(billing.as_principal("ops").unwrap_err().kind(), ErrorKind::PermissionDenied);
    /// assert_eq!(store.as_principal("nobody").unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] from a handle that did not open the
    /// store; [`ErrorKind::NotFound`] for an unregistered name.
    pub fn as_principal(&self, name: &str) -> Result<KeyStore> {
        if !self.opener {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "only the handle that opened the store mints principal handles; \
                     this one acts for {}",
                    self.principal.name()
                ),
            ));
        }
        Ok(KeyStore {
            inner: self.inner.clone(),
            principal: self.registered_principal(name)?,
            opener: false,
        })
    }

    /// Whether this is the handle that opened the store (and may mint
    /// principal handles).
    #[must_use]
    pub fn is_opener(&self) -> bool {
        self.opener
    }

    /// Adds an audit sink to the store (all handles see it).
    #[must_use]
    pub fn with_audit_sink(self, sink: Arc<dyn AuditSink>) -> KeyStore {
        if let Ok(mut g) = self.inner.sinks.write() {
            g.push(sink);
            self.inner.has_sinks.store(true, Ordering::Release);
        }
        self
    }
}
