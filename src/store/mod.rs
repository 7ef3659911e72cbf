//! [`KeyStore`]: the principal-bound handle through which every key is
//! created, found, used and changed.

mod audit_log;
pub mod backend;
pub mod backup;
mod cell;
mod dynamic;
mod governance;
mod kek;
mod ops;
mod record;
mod seal;
mod sync;
pub(crate) mod transport;
mod typed;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

pub use self::audit_log::{AuditEntry, AuditVerification};
pub use self::dynamic::KeyHandle;
pub use self::kek::{Argon2Params, Kek, KekProvider, PassphraseKek, RawKek};
pub use self::typed::{AnyKey, Key};
pub use crate::crypto::AES_GCM_INVOCATION_LIMIT;
pub use crate::key::Grant;
pub(crate) use cell::{CellData, KeyCell};
pub(crate) use record::Loaded;

use self::audit_log::{AuditLog, Draft};

use self::backend::{Backend, Expect, MemoryBackend, WriteOp};
use self::seal::Sealer;
#[cfg(feature = "hazmat")]
use crate::base::secret::SecretBytes;
use crate::base::time::{Clock, SystemClock};
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::provider::CryptoProvider;
use crate::governance::audit::{AuditEvent, AuditSink, Operation, Outcome};
use crate::governance::principal::{Principal, Role};
use crate::key::lifecycle::{self, Transition};
use crate::key::{
    KeyId, KeyInfo, KeyPurpose, KeySpec, Origin, PreActive, Purpose, StateName, Timestamp,
};

const KEY_PREFIX: &str = "key/";
/// Cells kept alive without a handle (see `KeyStore::track`).
const RECENT_CELLS: usize = 1024;

/// Store-wide settings. Policy files (governance) refine them per key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Invocations reserved per persisted write for AES-GCM counting. Larger
    /// blocks mean fewer writes and a larger over-count after a crash.
    pub usage_block: u64,
    /// Shortest waiting period accepted by `schedule_destruction`
    /// (default 7 days, as AWS KMS's minimum).
    pub min_destruction_wait: Duration,
    /// How often, at most, a handle asks the backend whether another process
    /// committed (default 250 ms). A key revoked by another process stops
    /// working here within this interval (plus the time of one call); a
    /// state change made through this store is visible at once.
    pub refresh_interval: Duration,
    /// Successful use operations (encrypt, sign, …) whose audit entries are
    /// written together in one commit (default 256; 1 writes each at once).
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
    /// acting as `principal`.
    ///
    /// # Errors
    /// [`ErrorKind::WrongKek`] when the KEK does not open an existing store;
    /// [`ErrorKind::UnsupportedVersion`] for a store from a newer keylife;
    /// [`ErrorKind::Integrity`] for a damaged header; storage errors.
    pub fn open(self, kek: &dyn KekProvider, principal: Principal) -> Result<KeyStore> {
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
        let store = KeyStore { inner, principal };
        store.audit(Operation::OpenStore, None, None, Ok(()))?;
        Ok(store)
    }
}

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
/// Cloning is cheap; clones share the store. Keys are found by id; each
/// returned [`Key`] carries this handle's principal.
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
}

impl core::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyStore")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
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

    /// Another handle on the same store, acting for `principal`.
    #[must_use]
    pub fn as_principal(&self, principal: Principal) -> KeyStore {
        KeyStore {
            inner: self.inner.clone(),
            principal,
        }
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

    /// Creates a key in PreActive with fresh material from the OS CSPRNG.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, StateName, purpose::Signing};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create(KeySpec::<Signing>::new("release-signing").owner("release-team"))?;
    /// assert_eq!(key.state(), StateName::PreActive);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] unless the principal is an
    /// administrator or operator; [`ErrorKind::InvalidArgument`] for an
    /// inconsistent spec; storage errors.
    pub fn create<P: KeyPurpose>(&self, spec: KeySpec<P>) -> Result<Key<P, PreActive>> {
        let material = Loaded::generate(self.crypto_provider(), P::PURPOSE.default_algorithm());
        self.create_with(spec, material, Origin::Generated)
    }

    /// Creates a key and activates it: [`KeyStore::create`] then
    /// [`Key::activate`].
    ///
    /// # Errors
    /// As both.
    pub fn create_active<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
    ) -> Result<Key<P, crate::key::Active>> {
        self.create(spec)?.activate()
    }

    /// Imports raw key material as a new PreActive key.
    ///
    /// Material formats: 32 bytes for AES-256-GCM; a 32-byte big-endian
    /// scalar for P-256 keys; 16 to 1024 bytes for HMAC and HKDF keys.
    ///
    /// # Security warning
    /// Material that existed outside keylife may have been copied. Prefer
    /// generated keys, or wrapped import.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for material of the wrong size or out
    /// of range; as [`KeyStore::create`].
    #[cfg(feature = "hazmat")]
    pub fn import_raw<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        material: &[u8],
    ) -> Result<Key<P, PreActive>> {
        let alg = P::PURPOSE.default_algorithm();
        let ok_len = match alg {
            crate::key::Algorithm::HmacSha256 | crate::key::Algorithm::HkdfSha256 => {
                (16..=1024).contains(&material.len())
            }
            _ => material.len() == 32,
        };
        let loaded = if ok_len {
            Loaded::new(
                self.crypto_provider(),
                alg,
                SecretBytes::from_slice(material),
            )
        } else {
            Err(Error::invalid(format!(
                "{} bytes is not a valid {:?} key size",
                material.len(),
                alg
            )))
        };
        self.create_with(spec, loaded, Origin::Imported)
    }

    fn create_with<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        material: Result<Loaded>,
        origin: Origin,
    ) -> Result<Key<P, PreActive>> {
        let op = if origin == Origin::Imported {
            Operation::Import
        } else {
            Operation::Create
        };
        let res: Result<Arc<KeyCell>> = (|| {
            authorize(&self.principal, op)?;
            let now = self.now();
            let policy = self.policy()?;
            let spec = match &policy {
                Some(p) => p.apply_to_spec(spec.checked_name()?)?,
                None => spec,
            };
            let info = spec.into_info(
                KeyId::random()?,
                now,
                origin,
                self.principal.name(),
                policy.map(|p| (p.version(), p.digest())),
            )?;
            let material = material?;
            let id = info.id;
            let sealed = self.seal_key(1, &info, &[(1, &material)])?;
            let mut draft = self.draft(&self.principal, op, Some(id), Some(1), &Ok(()), None);
            draft.generation = Some(1);
            let put = WriteOp::Put {
                id: key_record_id(&id),
                value: sealed,
                expect: Expect::Absent,
            };
            let revs = self.commit_logged(std::slice::from_ref(&draft), vec![put])?;
            let rev = revs.first().copied().unwrap_or(1);
            let data = CellData::new_single(info, material, rev);
            Ok(self.register(KeyCell::new(data)))
        })();
        if let Err(e) = &res {
            self.audit(op, None, None, Err(e.clone()))?;
        }
        Ok(Key::from_cell(self.clone(), res?))
    }

    /// Loads a key of purpose `P` in whatever state it is in.
    ///
    /// ```
    /// use keylife::{AnyKey, KeyStore, KeySpec, Principal, purpose::Mac};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let id = store.create(KeySpec::<Mac>::new("webhooks"))?.id();
    /// match store.load::<Mac>(&id)? {
    ///     AnyKey::PreActive(k) => { k.activate()?; }
    ///     other => panic!("unexpected state {:?}", other.state()),
    /// }
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::WrongPurpose`] if the key has
    /// another purpose; [`ErrorKind::Integrity`] for a tampered record.
    pub fn load<P: KeyPurpose>(&self, id: &KeyId) -> Result<AnyKey<P>> {
        let res = self.cell(id).and_then(|cell| {
            let purpose = cell.read()?.info.purpose;
            if purpose != P::PURPOSE {
                return Err(Error::wrong_purpose(
                    &format!("loading as {}", P::PURPOSE),
                    purpose,
                ));
            }
            Ok(cell)
        });
        if let Err(e) = &res {
            self.audit(Operation::ReadMetadata, Some(*id), None, Err(e.clone()))?;
        }
        let cell = res?;
        let state = cell.read()?.state();
        Ok(AnyKey::from_cell(self.clone(), cell, state))
    }

    /// Loads a key that must be Active.
    ///
    /// # Errors
    /// As [`KeyStore::load`], and [`ErrorKind::WrongState`] if not Active.
    pub fn load_active<P: KeyPurpose>(&self, id: &KeyId) -> Result<Key<P, crate::key::Active>> {
        match self.load::<P>(id)? {
            AnyKey::Active(k) => Ok(k),
            other => Err(Error::wrong_state("using the key", other.state())),
        }
    }

    /// A key's metadata.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; storage and integrity errors.
    pub fn info(&self, id: &KeyId) -> Result<KeyInfo> {
        let res = (|| {
            authorize(&self.principal, Operation::ReadMetadata)?;
            let cell = self.cell(id)?;
            let data = cell.read()?;
            Ok(data.snapshot())
        })();
        self.audit(
            Operation::ReadMetadata,
            Some(*id),
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }

    /// Metadata of every key matching `filter` (inventory).
    ///
    /// ```
    /// use keylife::{KeyFilter, KeyStore, KeySpec, Principal, Purpose, purpose::{Aead, Mac}};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// store.create(KeySpec::<Aead>::new("a").owner("team-a"))?;
    /// store.create(KeySpec::<Mac>::new("b").owner("team-b"))?;
    /// let mine = store.list(&KeyFilter::new().owner("team-a"))?;
    /// assert_eq!(mine.len(), 1);
    /// assert_eq!(mine[0].purpose, Purpose::Aead);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// Storage and integrity errors.
    pub fn list(&self, filter: &KeyFilter) -> Result<Vec<KeyInfo>> {
        let res = (|| {
            authorize(&self.principal, Operation::List)?;
            let mut out = Vec::new();
            self.for_each_key(|info| {
                if filter.matches(&info) {
                    out.push(info);
                }
                Ok(())
            })?;
            Ok(out)
        })();
        self.audit(
            Operation::List,
            None,
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }

    /// Applies every due date-driven transition (activation dates, ends of
    /// cryptoperiods, destruction dates) to every key, and reports what
    /// changed. Keys are also brought up to date whenever they are loaded or
    /// used; this call is for keys nobody touches.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] unless administrator or operator;
    /// storage errors.
    pub fn maintenance(&self) -> Result<MaintenanceReport> {
        let res = (|| {
            authorize(&self.principal, Operation::Maintenance)?;
            let mut ids = Vec::new();
            self.for_each_key(|info| {
                ids.push((info.id, info.state));
                Ok(())
            })?;
            let mut report = MaintenanceReport::default();
            for (id, before) in ids {
                // `cell` brings the key up to date (dates, other processes).
                let cell = self.cell(&id)?;
                let after = cell.read()?.state();
                if after != before {
                    report.transitions.push((id, before, after));
                }
            }
            Ok(report)
        })();
        self.audit(
            Operation::Maintenance,
            None,
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
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

    fn for_each_key(&self, mut f: impl FnMut(KeyInfo) -> Result<()>) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self.inner.backend.scan(KEY_PREFIX, after.as_deref(), 256)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (rid, rec) in page {
                let id: KeyId = rid[KEY_PREFIX.len()..].parse()?;
                // Prefer the live cell (exact usage counts, fresh dates).
                let live = self.live_cell(&id);
                let info = match live {
                    Some(cell) => cell.read()?.snapshot(),
                    None => {
                        let plain = self.sealer()?.open(&rid, &rec.value)?;
                        record::decode(&rid, plain.expose_secret())?.info
                    }
                };
                f(info)?;
            }
        }
        Ok(())
    }

    fn live_cell(&self, id: &KeyId) -> Option<Arc<KeyCell>> {
        self.inner
            .cells
            .lock()
            .ok()
            .and_then(|m| m.get(id).and_then(Weak::upgrade))
    }

    fn register(&self, cell: KeyCell) -> Arc<KeyCell> {
        let cell = Arc::new(cell);
        if let Ok(mut m) = self.inner.cells.lock() {
            self.track(&mut m, &cell);
        }
        cell
    }

    /// Records a newly loaded or created cell: in the map every handle
    /// shares (pruned of dead entries as it grows, so memory follows the
    /// keys in use, not every key ever loaded), and among the recently used
    /// cells kept alive without a handle — so a key loaded per request keeps
    /// its reserved invocations instead of reserving (and persisting) a new
    /// block each time.
    fn track(&self, map: &mut HashMap<KeyId, Weak<KeyCell>>, cell: &Arc<KeyCell>) {
        if map.len() > 1024 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(cell.id, Arc::downgrade(cell));
        if let Ok(mut recent) = self.inner.recent.lock() {
            if recent.len() >= RECENT_CELLS {
                recent.clear();
            }
            recent.insert(cell.id, cell.clone());
        }
    }

    /// The shared cell for `id`, loading it if no handle holds it, with
    /// due date-driven transitions applied.
    pub(crate) fn cell(&self, id: &KeyId) -> Result<Arc<KeyCell>> {
        let cell = self.lookup_cell(id)?;
        self.prepare(&cell)?;
        Ok(cell)
    }

    /// [`KeyStore::cell`] without applying dates and other processes'
    /// changes: for callers that prepare the cell themselves next (each
    /// use does), so a use reads the clock once.
    pub(crate) fn lookup_cell(&self, id: &KeyId) -> Result<Arc<KeyCell>> {
        let cell = match self.live_cell(id) {
            Some(c) => c,
            None => {
                let mut map = self
                    .inner
                    .cells
                    .lock()
                    .map_err(|_| Error::internal("cell map poisoned"))?;
                if let Some(c) = map.get(id).and_then(Weak::upgrade) {
                    c
                } else {
                    let data = self.load_data(id)?;
                    let cell = Arc::new(KeyCell::new(data));
                    self.track(&mut map, &cell);
                    cell
                }
            }
        };
        Ok(cell)
    }

    fn load_data(&self, id: &KeyId) -> Result<CellData> {
        let rid = key_record_id(id);
        let rec = self
            .inner
            .backend
            .get(&rid)?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no key {id}")))?;
        let plain = self.sealer()?.open(&rid, &rec.value)?;
        let stored = record::decode(&rid, plain.expose_secret())?;
        self.check_generation(&rid, id, stored.generation)?;
        if stored.info.id != *id {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!("record {rid} holds another key"),
            ));
        }
        CellData::from_stored(self.crypto_provider(), stored, rec.revision)
    }

    fn seal_key(
        &self,
        generation: u64,
        info: &KeyInfo,
        material: &[(u32, &Loaded)],
    ) -> Result<Vec<u8>> {
        let plain = record::encode(generation, info, material)?;
        self.sealer()?
            .seal(&key_record_id(&info.id), plain.expose_secret())
    }

    /// Rollback detection within this process: a record read back with an
    /// older generation than one already seen was restored from an old copy.
    fn check_generation(&self, rid: &str, id: &KeyId, generation: u64) -> Result<()> {
        let mut seen = self
            .inner
            .seen
            .lock()
            .map_err(|_| Error::internal("generation map poisoned"))?;
        let best = seen.entry(*id).or_insert(generation);
        if generation < *best {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "record {rid} was rolled back: generation {generation} after {best} was seen"
                ),
            ));
        }
        *best = generation;
        Ok(())
    }

    fn saw_generation(&self, id: &KeyId, generation: u64) {
        if let Ok(mut seen) = self.inner.seen.lock() {
            let best = seen.entry(*id).or_insert(generation);
            *best = (*best).max(generation);
        }
    }

    /// Checks every stored key record against the audit log: each must open
    /// (seal intact, right id) and be at least as new as the last write the
    /// log recorded for it — a record restored from an older copy fails.
    /// Also verifies the log itself. Auditors and administrators.
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] naming the first bad record;
    /// [`ErrorKind::PermissionDenied`].
    pub fn verify_integrity(&self) -> Result<IntegrityReport> {
        let res = (|| {
            authorize(&self.principal, Operation::VerifyIntegrity)?;
            self.flush_audit()?;
            let sealer = self.sealer()?;
            let mut audited: HashMap<KeyId, u64> = HashMap::new();
            let log = audit_log::verify(&*self.inner.backend, &sealer, |e| {
                if let (Some(k), Some(g)) = (e.key_id, e.generation) {
                    let best = audited.entry(k).or_insert(g);
                    *best = (*best).max(g);
                }
                Ok(())
            })?;
            let mut keys = 0u64;
            let mut after: Option<String> = None;
            loop {
                let page = self.inner.backend.scan(KEY_PREFIX, after.as_deref(), 256)?;
                let Some((last, _)) = page.last() else { break };
                after = Some(last.clone());
                for (rid, rec) in page {
                    let plain = sealer.open(&rid, &rec.value)?;
                    let stored = record::decode(&rid, plain.expose_secret())?;
                    if rid != key_record_id(&stored.info.id) {
                        return Err(Error::new(
                            ErrorKind::Integrity,
                            format!("record {rid} holds another key"),
                        ));
                    }
                    let logged = audited.remove(&stored.info.id).unwrap_or(0);
                    if stored.generation < logged {
                        return Err(Error::new(
                            ErrorKind::Integrity,
                            format!(
                                "record {rid} was rolled back: generation {} but the audit log records generation {logged}",
                                stored.generation
                            ),
                        ));
                    }
                    keys += 1;
                }
            }
            if let Some(missing) = audited.keys().next() {
                return Err(Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "record key/{missing} is in the audit log but missing from the store: it was deleted"
                    ),
                ));
            }
            Ok(IntegrityReport {
                keys,
                audit_entries: log.entries,
            })
        })();
        self.audit(
            Operation::VerifyIntegrity,
            None,
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }

    fn sealer(&self) -> Result<Arc<Sealer>> {
        self.inner
            .sealer
            .read()
            .map(|s| s.clone())
            .map_err(|_| Error::internal("sealer lock poisoned"))
    }

    /// Moves the store to a new KEK: a fresh record key under `new`, every
    /// record re-sealed with it, then the old KEK and record keys dropped.
    /// `progress(done, total)` is called as records are re-sealed.
    ///
    /// Crash-safe: if the process dies at any point, the store opens under
    /// either KEK, and calling `rotate_kek` again (with the same `new`)
    /// finishes the job. Run it while no other process writes to the store:
    /// a process that opened the store before the rotation keeps sealing with
    /// the old record key until it reopens.
    ///
    /// ```
    /// use keylife::{Kek, KeyStore, KeySpec, Principal, RawKek, backend::MemoryBackend, purpose::Aead};
    /// use std::sync::Arc;
    /// let backend = Arc::new(MemoryBackend::new());
    /// let (old, new) = (Kek::generate()?, Kek::generate()?);
    /// let new_bytes = new.expose_secret().to_vec();
    /// let store = KeyStore::open(backend.clone(), &RawKek::new(old), Principal::admin("ops"))?;
    /// let key = store.create_active(KeySpec::<Aead>::new("k"))?;
    /// let ct = key.encrypt(b"m", b"")?;
    /// store.rotate_kek(&RawKek::new(new), &mut |done, total| println!("{done}/{total}"))?;
    /// let reopened = KeyStore::open(backend, &RawKek::new(Kek::from_bytes(&new_bytes)?), Principal::admin("ops"))?;
    /// assert_eq!(reopened.decrypt(&ct, b"")?, b"m");
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] unless administrator;
    /// [`ErrorKind::WrongKek`] when resuming with another new KEK; storage
    /// errors (the rotation can then be resumed).
    pub fn rotate_kek(
        &self,
        new: &dyn KekProvider,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let res = self.rotate_kek_inner(new, progress);
        self.audit(Operation::RotateKek, None, None, res.clone())?;
        res
    }

    fn rotate_kek_inner(
        &self,
        new: &dyn KekProvider,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        authorize(&self.principal, Operation::RotateKek)?;
        // Buffered audit entries go out under the old record key first.
        self.flush_audit()?;
        let backend = &*self.inner.backend;
        let mut kek = self
            .inner
            .kek
            .lock()
            .map_err(|_| Error::internal("kek lock poisoned"))?;
        let (sealer, new_kek) = seal::begin_rotation(backend, &kek, new)?;
        let sealer = Arc::new(sealer);
        *self
            .inner
            .sealer
            .write()
            .map_err(|_| Error::internal("sealer lock poisoned"))? = sealer.clone();
        *kek = new_kek;
        // Count first, for progress; then re-seal page by page.
        let mut total = 0u64;
        self.scan_all(|_, _| {
            total += 1;
            Ok(())
        })?;
        let mut done = 0u64;
        progress(done, total);
        self.scan_all(|id, rec| {
            self.reseal_record(&sealer, id, rec)?;
            done += 1;
            progress(done.min(total), total);
            Ok(())
        })?;
        // Nothing may remain under an old record key before it is dropped.
        self.scan_all(|id, rec| match Sealer::epoch_of(&rec.value) {
            Some(e) if e == sealer.current_epoch() => Ok(()),
            _ => Err(Error::new(ErrorKind::Conflict, format!("record {id} was written under the old KEK during rotation; run rotate_kek again"))),
        })?;
        seal::finish_rotation(backend)
    }

    /// Whether a KEK rotation was interrupted and should be resumed with
    /// [`KeyStore::rotate_kek`].
    ///
    /// # Errors
    /// Storage errors.
    pub fn kek_rotation_pending(&self) -> Result<bool> {
        seal::rotation_pending(&*self.inner.backend)
    }

    /// Every record except the header, page by page.
    fn scan_all(&self, mut f: impl FnMut(&str, &backend::Record) -> Result<()>) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self.inner.backend.scan("", after.as_deref(), 256)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (id, rec) in &page {
                if id != seal::HEADER_ID {
                    f(id, rec)?;
                }
            }
        }
        Ok(())
    }

    fn reseal_record(&self, sealer: &Sealer, id: &str, rec: &backend::Record) -> Result<()> {
        // A live key cell caches its record's revision: hold its lock so a
        // concurrent change cannot slip between read and write.
        let cell = id
            .strip_prefix(KEY_PREFIX)
            .and_then(|h| h.parse::<KeyId>().ok())
            .and_then(|k| self.live_cell(&k));
        let mut guard = match &cell {
            Some(c) => Some(c.write()?),
            None => None,
        };
        let mut rec = rec.clone();
        for _ in 0..8 {
            let Some(value) = sealer.reseal(id, &rec.value)? else {
                return Ok(());
            };
            match self.inner.backend.commit(&[WriteOp::Put {
                id: id.to_owned(),
                value,
                expect: Expect::Revision(rec.revision),
            }]) {
                Ok(revs) => {
                    if let Some(g) = guard.as_mut()
                        && g.revision == rec.revision
                    {
                        g.revision = revs.first().copied().unwrap_or(g.revision);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    rec = match self.inner.backend.get(id)? {
                        Some(r) => r,
                        None => return Ok(()),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("record {id} kept changing during KEK rotation"),
        ))
    }

    /// Brings a cell up to date before use: first other processes' writes
    /// (checked at most every [`StoreOptions::refresh_interval`]), then due
    /// date-driven transitions.
    pub(crate) fn prepare(&self, cell: &KeyCell) -> Result<()> {
        self.prepare_at(cell, self.now())
    }

    /// As [`KeyStore::prepare`], with the time already read.
    pub(crate) fn prepare_at(&self, cell: &KeyCell, now: Timestamp) -> Result<()> {
        let epoch = self.inner.sync.current_epoch(
            &*self.inner.backend,
            self.inner.options.refresh_interval,
            now.as_millis(),
        )?;
        if cell.epoch() != epoch {
            let fresh_rev = self
                .inner
                .backend
                .get(&key_record_id(&cell.id))?
                .map(|r| r.revision);
            let mut data = cell.write()?;
            if fresh_rev != Some(data.revision) {
                *data = self.load_data(&cell.id)?;
                cell.set_next_due(&data.info);
            }
            cell.set_epoch(epoch);
        }
        if cell.is_due(now.as_millis()) {
            self.refresh_due(cell)?;
        }
        Ok(())
    }

    /// Applies due date-driven transitions to a cell (as the scheduler).
    pub(crate) fn refresh_due(&self, cell: &KeyCell) -> Result<()> {
        let now = self.now();
        let sched = Principal::scheduler();
        self.mutate(cell, |info, _, drafts| {
            let before = info.history.len();
            let (_, destroy) = lifecycle::apply_due(info, now);
            // Scheduled rotation: an Active key past its rotation period.
            if info.state == StateName::Active && info.rotation_due().is_some_and(|d| d <= now) {
                let v = info.primary_version + 1;
                let why = Some("rotation period elapsed");
                drafts.push(self.draft(
                    &sched,
                    Operation::Rotate,
                    Some(info.id),
                    Some(v),
                    &Ok(()),
                    why,
                ));
                return ops::rotate_info(self.crypto_provider(), info, now)
                    .map(MaterialChange::Add);
            }
            for c in &info.history[before..] {
                let op = match c.to {
                    StateName::Active => Operation::Activate,
                    StateName::Deactivated => Operation::Deactivate,
                    _ => Operation::Destroy,
                };
                drafts.push(self.draft(&sched, op, Some(info.id), None, &Ok(()), Some(&c.reason)));
            }
            Ok(if destroy {
                MaterialChange::DestroyAll
            } else {
                MaterialChange::None
            })
        })
    }

    /// The one path by which a key record changes: under the cell's write
    /// lock, `f` edits a copy of the metadata and says what happens to the
    /// material; the result is sealed and committed with compare-and-swap
    /// on the record's revision; only then does the cell change. If another
    /// process wrote first, the record is reloaded and `f` runs again.
    pub(crate) fn mutate(
        &self,
        cell: &KeyCell,
        mut f: impl FnMut(&mut KeyInfo, &CellData, &mut Vec<Draft>) -> Result<MaterialChange>,
    ) -> Result<()> {
        let mut data = cell.write()?;
        let mut drafts = Vec::new();
        // Each attempt that loses to another writer reloads the record first;
        // several processes changing one key can take a few rounds.
        for _attempt in 0..64 {
            drafts.clear();
            let mut info = data.info.clone();
            let change = f(&mut info, &data, &mut drafts)?;
            if info == data.info && matches!(change, MaterialChange::None) {
                drop(data);
                return self.commit_logged(&drafts, Vec::new()).map(|_| ());
            }
            let mut keep: Vec<(u32, &Loaded)> = Vec::new();
            let drop_all = matches!(change, MaterialChange::DestroyAll);
            for (i, m) in data.material.iter().enumerate() {
                let n = u32::try_from(i + 1).map_err(|_| Error::internal("too many versions"))?;
                let dropped =
                    drop_all || matches!(&change, MaterialChange::DestroyVersion(v) if *v == n);
                if let (Some(m), false) = (m, dropped) {
                    keep.push((n, m));
                }
            }
            if let MaterialChange::Add(m) = &change {
                keep.push((info.primary_version, m));
            }
            let generation = data.generation + 1;
            let sealed = self.seal_key(generation, &info, &keep)?;
            // Every record write is audited with its generation.
            let mut covered = false;
            for d in drafts.iter_mut().filter(|d| d.key_id == Some(cell.id)) {
                d.generation = Some(generation);
                covered = true;
            }
            if !covered {
                return Err(Error::internal("a key record write without an audit entry"));
            }
            drop(keep);
            let rid = key_record_id(&cell.id);
            let put = WriteOp::Put {
                id: rid,
                value: sealed,
                expect: Expect::Revision(data.revision),
            };
            match self.commit_logged(&drafts, vec![put]) {
                Ok(revs) => {
                    data.revision = revs.first().copied().unwrap_or(data.revision + 1);
                    data.generation = generation;
                    self.saw_generation(&cell.id, generation);
                    match change {
                        MaterialChange::None => {}
                        MaterialChange::Add(m) => {
                            data.material.push(Some(m));
                            data.usage.push(cell::Usage::default());
                        }
                        MaterialChange::DestroyVersion(v) => {
                            if let Some(slot) = data
                                .material
                                .get_mut(usize::try_from(v - 1).unwrap_or(usize::MAX))
                            {
                                *slot = None;
                            }
                        }
                        MaterialChange::DestroyAll => {
                            data.material.iter_mut().for_each(|m| *m = None)
                        }
                        MaterialChange::Reserve {
                            version,
                            start,
                            end,
                        } => {
                            // Under the write lock: no reader is taking
                            // indices while the range is replaced.
                            if let Some(u) = data
                                .usage
                                .get(usize::try_from(version - 1).unwrap_or(usize::MAX))
                            {
                                use std::sync::atomic::Ordering::Release;
                                u.next.store(start, Release);
                                u.end.store(end, Release);
                                u.pid.store(crate::sys::current_pid(), Release);
                            }
                        }
                    }
                    data.info = info;
                    cell.set_next_due(&data.info);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    // Another process changed the key: reload and retry on
                    // its version. Keep this process's unused reservation
                    // out of the count (it is simply abandoned).
                    let fresh = self.load_data(&cell.id)?;
                    *data = fresh;
                    cell.set_next_due(&data.info);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("key {} kept changing under concurrent writers", cell.id),
        ))
    }

    /// Performs a transition on behalf of this handle's principal.
    pub(crate) fn transition(
        &self,
        cell: &KeyCell,
        t: Transition,
        reason: &str,
    ) -> Result<StateName> {
        let op = t.operation();
        let res = (|| {
            authorize(&self.principal, op)?;
            self.prepare(cell)?;
            if let Transition::ScheduleDestruction { wait: asked } = t {
                let wait = self.min_destruction_wait()?;
                if asked < wait {
                    return Err(Error::new(
                        ErrorKind::Policy,
                        format!(
                            "destruction must be at least {} days away",
                            wait.as_secs() / 86_400
                        ),
                    ));
                }
            }
            // Dual control, where policy asks for it (checked against the
            // live state first, so a refused transition spends nothing).
            let gate = match t {
                Transition::ScheduleDestruction { .. } => {
                    Some(crate::governance::policy::ApprovalOperation::ScheduleDestruction)
                }
                Transition::Destroy => Some(crate::governance::policy::ApprovalOperation::Destroy),
                _ => None,
            };
            if let Some(gate) = gate {
                lifecycle::next_state(&cell.read()?.info, t)?;
                self.consume_approval(gate, Some(cell.id))?;
            }
            let now = self.now();
            let mut to = StateName::PreActive;
            let r = if reason.is_empty() {
                None
            } else {
                Some(reason)
            };
            self.mutate(cell, |info, _, drafts| {
                to = lifecycle::apply(info, t, now, self.principal.name(), reason)?;
                drafts.push(self.draft(&self.principal, op, Some(info.id), None, &Ok(()), r));
                Ok(if to.has_material() {
                    MaterialChange::None
                } else {
                    MaterialChange::DestroyAll
                })
            })?;
            Ok(to)
        })();
        if let Err(e) = &res {
            let r = if reason.is_empty() {
                None
            } else {
                Some(reason)
            };
            self.audit_as(&self.principal, op, Some(cell.id), None, Err(e.clone()), r)?;
        }
        res
    }

    /// Records one audit event, for this handle's principal.
    pub(crate) fn audit(
        &self,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: Result<()>,
    ) -> Result<()> {
        self.audit_as(&self.principal, op, key, version, res, None)
    }

    /// Records a use operation's event with the time the operation read.
    pub(crate) fn audit_at(
        &self,
        at: Timestamp,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: Result<()>,
    ) -> Result<()> {
        // The hot path: a success counted into this thread's aggregate for
        // the use (one short lock of its own shard; nothing built after the
        // window's first use).
        let o = &self.inner.options;
        if res.is_ok()
            && o.audit_uses == AuditUses::Aggregate
            && o.audit_buffer > 1
            && !self.inner.has_sinks.load(Ordering::Acquire)
            && Draft::bufferable_use(op)
        {
            let flush = self.inner.log.count_use(
                at,
                &self.principal,
                op,
                key,
                version,
                o.audit_buffer,
                o.audit_flush_interval,
            )?;
            if flush {
                self.flush_audit()?;
            }
            return Ok(());
        }
        self.record_draft(Self::draft_at(
            at,
            &self.principal,
            op,
            key,
            version,
            &res,
            None,
        ))
    }

    pub(crate) fn audit_as(
        &self,
        who: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: Result<()>,
        reason: Option<&str>,
    ) -> Result<()> {
        let draft = self.draft(who, op, key, version, &res, reason);
        self.record_draft(draft)
    }

    fn record_draft(&self, draft: Draft) -> Result<()> {
        let o = &self.inner.options;
        if draft.bufferable() && o.audit_buffer > 1 {
            self.dispatch(std::slice::from_ref(&draft))?;
            let aggregate = o.audit_uses == AuditUses::Aggregate;
            if self
                .inner
                .log
                .buffer(draft, o.audit_buffer, aggregate, o.audit_flush_interval)?
            {
                self.flush_audit()?;
            }
            Ok(())
        } else {
            self.commit_logged(std::slice::from_ref(&draft), Vec::new())
                .map(|_| ())
        }
    }

    pub(crate) fn draft(
        &self,
        who: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: &Result<()>,
        reason: Option<&str>,
    ) -> Draft {
        Self::draft_at(self.now(), who, op, key, version, res, reason)
    }

    fn draft_at(
        at: Timestamp,
        who: &Principal,
        op: Operation,
        key: Option<KeyId>,
        version: Option<u32>,
        res: &Result<()>,
        reason: Option<&str>,
    ) -> Draft {
        let (outcome, error, msg) = match res {
            Ok(()) => (Outcome::Success, None, None),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                (Outcome::Denied, Some(e.kind().as_str()), e.message())
            }
            Err(e) => (Outcome::Failed, Some(e.kind().as_str()), e.message()),
        };
        Draft {
            at,
            principal: who.clone(),
            operation: op,
            key_id: key,
            version,
            outcome,
            error,
            reason: reason.or(msg).map(str::to_owned),
            generation: None,
            count: 1,
            last_at: None,
        }
    }

    /// Commits `drafts` to the audit log together with `extra` writes, then
    /// hands the events to the external sinks. Returns `extra`'s revisions.
    fn commit_logged(&self, drafts: &[Draft], extra: Vec<WriteOp>) -> Result<Vec<u64>> {
        let sealer = self.sealer()?;
        let revs = self
            .inner
            .log
            .commit(&*self.inner.backend, &sealer, drafts, extra)?;
        self.dispatch(drafts)?;
        Ok(revs)
    }

    fn dispatch(&self, drafts: &[Draft]) -> Result<()> {
        if !self.inner.has_sinks.load(Ordering::Acquire) {
            return Ok(());
        }
        let sinks = self
            .inner
            .sinks
            .read()
            .map_err(|_| Error::internal("audit sinks poisoned"))?;
        for d in drafts {
            for s in sinks.iter() {
                let reason = d.reason.as_deref();
                s.record(&AuditEvent {
                    at: d.at,
                    principal: d.principal.name(),
                    operation: d.operation,
                    key_id: d.key_id,
                    version: d.version,
                    outcome: d.outcome,
                    error: d.error,
                    reason,
                })?;
            }
        }
        Ok(())
    }

    /// Writes buffered audit entries now.
    ///
    /// # Errors
    /// Storage errors.
    pub fn flush_audit(&self) -> Result<()> {
        self.commit_logged(&[], Vec::new()).map(|_| ())
    }

    /// Verifies the whole audit log (seals, MACs, links, sequence, head) and
    /// returns its head. Auditors and administrators.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// store.create(KeySpec::<Aead>::new("k"))?;
    /// let v = store.verify_audit()?;
    /// assert!(v.entries >= 2); // open, create
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] naming the first broken entry;
    /// [`ErrorKind::PermissionDenied`].
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        self.read_audit(|_| Ok(()))
    }

    /// Verifies the log and writes it as JSON Lines (one [`AuditEntry`] per
    /// line), for SIEMs. Returns the number of entries written.
    ///
    /// # Errors
    /// As [`KeyStore::verify_audit`]; I/O errors as [`ErrorKind::Storage`].
    pub fn export_audit_jsonl(&self, out: &mut dyn std::io::Write) -> Result<u64> {
        self.read_audit(|e| {
            writeln!(out, "{}", e.to_json()?)
                .map_err(|err| Error::new(ErrorKind::Storage, format!("audit export: {err}")))
        })
        .map(|v| v.entries)
    }

    /// Every entry, verified (for tests and small tools; large logs should
    /// use [`KeyStore::export_audit_jsonl`]).
    ///
    /// # Errors
    /// As [`KeyStore::verify_audit`].
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let mut out = Vec::new();
        self.read_audit(|e| {
            out.push(e.clone());
            Ok(())
        })?;
        Ok(out)
    }

    fn read_audit(&self, each: impl FnMut(&AuditEntry) -> Result<()>) -> Result<AuditVerification> {
        let res = (|| {
            authorize(&self.principal, Operation::ReadAudit)?;
            self.flush_audit()?;
            audit_log::verify(&*self.inner.backend, &*self.sealer()?, each)
        })();
        let audited = self.audit(
            Operation::ReadAudit,
            None,
            None,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        // A broken log may refuse the entry recording its own verification:
        // report the verification's finding first.
        let v = res?;
        audited?;
        Ok(v)
    }

    /// Signs the current head of the audit log with `signer`, for an outside
    /// party to keep (see [`AuditCheckpoint`](crate::governance::audit::AuditCheckpoint)).
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Signing};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let signer = store.create_active(KeySpec::<Signing>::new("audit-signer"))?;
    /// let cp = store.audit_checkpoint(&signer)?;
    /// cp.verify(&signer.public_key(None)?)?;
    /// store.verify_audit_against(&cp)?;
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KeyStore::verify_audit`] and [`Key::sign`].
    pub fn audit_checkpoint(
        &self,
        signer: &Key<crate::key::Signing, crate::key::Active>,
    ) -> Result<crate::governance::audit::AuditCheckpoint> {
        let v = self.verify_audit()?;
        let at = self.now();
        let bytes =
            crate::governance::audit::checkpoint_bytes(v.head_seq, &v.head_mac, at, &signer.id());
        let signature = signer.sign(&bytes)?;
        Ok(crate::governance::audit::AuditCheckpoint {
            seq: v.head_seq,
            head_mac: v.head_mac,
            at,
            signer: signer.id(),
            signature,
        })
    }

    /// Verifies the log and that it still contains the entry a checkpoint
    /// vouched for: a log cut back or rewritten before the checkpoint fails.
    /// (Check the checkpoint's signature with [`crate::governance::audit::AuditCheckpoint::verify`].)
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] if the log no longer matches the checkpoint.
    pub fn verify_audit_against(
        &self,
        checkpoint: &crate::governance::audit::AuditCheckpoint,
    ) -> Result<AuditVerification> {
        let v = self.verify_audit()?;
        let entry = audit_log::entry(&*self.inner.backend, &*self.sealer()?, checkpoint.seq)?;
        match entry {
            Some(e) if crate::crypto::ct_eq(e.mac.as_bytes(), checkpoint.head_mac.as_bytes()) => {
                Ok(v)
            }
            Some(_) => Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "audit log: entry {} differs from the checkpoint: the log was rewritten",
                    checkpoint.seq
                ),
            )),
            None => Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "audit log ends at entry {} but a checkpoint vouches for entry {}: entries were cut off",
                    v.head_seq, checkpoint.seq
                ),
            )),
        }
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
    fn new_single(info: KeyInfo, material: Loaded, revision: u64) -> CellData {
        CellData {
            info,
            material: vec![Some(material)],
            generation: 1,
            usage: vec![cell::Usage::default()],
            revision,
        }
    }
}

fn key_record_id(id: &KeyId) -> String {
    format!("{KEY_PREFIX}{id}")
}

/// The built-in role rules. Per-key grants and policy refine them
/// (governance); the check lives here so every path goes through it.
fn authorize(p: &Principal, op: Operation) -> Result<()> {
    use Operation::*;
    let allowed: &[Role] = match op {
        OpenStore | ReadMetadata | List => &[
            Role::Administrator,
            Role::Operator,
            Role::Application,
            Role::Auditor,
            Role::Custodian,
        ],
        Encrypt | Decrypt | Rewrap | Sign | Verify | Mac | VerifyMac | Derive | Agree => {
            &[Role::Administrator, Role::Application]
        }
        Create
        | Import
        | Activate
        | Suspend
        | Resume
        | Deactivate
        | Compromise
        | ScheduleDestruction
        | CancelDestruction
        | Rotate
        | CompromiseVersion
        | SetMinDecryptionVersion
        | Maintenance
        | Destroy
        | DestroyVersion => &[Role::Administrator, Role::Operator],
        CompromisedRewrap | Export | RotateKek => &[Role::Administrator],
        Backup | Restore | RestoreDrill => &[Role::Administrator],
        ReadAudit | VerifyIntegrity => &[Role::Administrator, Role::Auditor],
        SetPolicy | RegisterPrincipal => &[Role::Administrator],
        Grant | RevokeGrant => &[Role::Administrator, Role::Operator],
        RequestApproval | SubmitApprovals => &[
            Role::Administrator,
            Role::Operator,
            Role::Application,
            Role::Custodian,
        ],
        // Internal bookkeeping, done on behalf of whoever encrypts.
        ReserveUsage => &[Role::Administrator, Role::Application],
    };
    if p.has_any(allowed) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("principal {} may not perform {op:?}", p.name()),
        ))
    }
}

/// Inventory query. Empty fields match everything.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct KeyFilter {
    /// Owner equals.
    pub owner: Option<String>,
    /// State equals.
    pub state: Option<StateName>,
    /// Purpose equals.
    pub purpose: Option<Purpose>,
    /// Name equals.
    pub name: Option<String>,
    /// Label `(name, value)` present.
    pub label: Option<(String, String)>,
    /// Classification equals.
    pub classification: Option<String>,
}

impl KeyFilter {
    /// Matches every key.
    #[must_use]
    pub fn new() -> KeyFilter {
        KeyFilter::default()
    }

    /// Only keys owned by `owner`.
    #[must_use]
    pub fn owner(mut self, owner: &str) -> KeyFilter {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Only keys in `state`.
    #[must_use]
    pub fn state(mut self, state: StateName) -> KeyFilter {
        self.state = Some(state);
        self
    }

    /// Only keys of `purpose`.
    #[must_use]
    pub fn purpose(mut self, purpose: Purpose) -> KeyFilter {
        self.purpose = Some(purpose);
        self
    }

    /// Only keys named `name`.
    #[must_use]
    pub fn name(mut self, name: &str) -> KeyFilter {
        self.name = Some(name.to_owned());
        self
    }

    /// Only keys classified `level`.
    #[must_use]
    pub fn classification(mut self, level: &str) -> KeyFilter {
        self.classification = Some(level.to_owned());
        self
    }

    /// Only keys with label `key` = `value`.
    #[must_use]
    pub fn label(mut self, key: &str, value: &str) -> KeyFilter {
        self.label = Some((key.to_owned(), value.to_owned()));
        self
    }

    fn matches(&self, i: &KeyInfo) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|o| i.owner.as_ref() == Some(o))
            && self.state.is_none_or(|s| i.state == s)
            && self.purpose.is_none_or(|p| i.purpose == p)
            && self.name.as_ref().is_none_or(|n| &i.name == n)
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| i.labels.get(k) == Some(v))
            && self
                .classification
                .as_ref()
                .is_none_or(|c| i.classification.as_ref() == Some(c))
    }
}

/// What [`KeyStore::verify_integrity`] checked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IntegrityReport {
    /// Key records opened and checked.
    pub keys: u64,
    /// Audit entries verified.
    pub audit_entries: u64,
}

/// What [`KeyStore::maintenance`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// `(key, state before, state after)` for every key that moved.
    pub transitions: Vec<(KeyId, StateName, StateName)>,
}
