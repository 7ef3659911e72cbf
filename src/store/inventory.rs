//! Creating, finding and listing keys: create and import, load, info, list
//! with a [`KeyFilter`], and the maintenance pass that applies due dates.

use std::sync::Arc;

use super::backend::Expect;
use super::{AnyKey, CellData, KEY_PREFIX, Key, KeyCell, KeyStore, Loaded, authorize};
#[cfg(feature = "hazmat")]
use crate::base::secret::SecretBytes;
use crate::base::{Error, Result};
use crate::governance::audit::Operation;
use crate::key::{KeyId, KeyInfo, KeyPurpose, KeySpec, Origin, PreActive, Purpose, StateName};

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

    pub(super) fn matches(&self, i: &KeyInfo) -> bool {
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

/// What [`KeyStore::maintenance`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// `(key, state before, state after)` for every key that moved.
    pub transitions: Vec<(KeyId, StateName, StateName)>,
}

impl KeyStore {
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
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) unless the principal is an
    /// administrator or operator; [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for an
    /// inconsistent spec; storage errors.
    pub fn create<P: KeyPurpose>(&self, spec: KeySpec<P>) -> Result<Key<P, PreActive>> {
        let material = Loaded::generate(self.crypto_provider(), P::PURPOSE.default_algorithm());
        self.create_with(spec, material, Origin::Generated)
    }

    /// Creates a key and activates it — [`KeyStore::create`] then
    /// [`Key::activate`] — in one durable commit: the record is written
    /// once, Active, with both audit entries (`create`, then `activate`) in
    /// the same transaction. All or nothing: a principal that may create but
    /// not activate gets [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied)
    /// and no key.
    ///
    /// # Errors
    /// As both.
    pub fn create_active<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
    ) -> Result<Key<P, crate::key::Active>> {
        let material = Loaded::generate(self.crypto_provider(), P::PURPOSE.default_algorithm());
        let cell = self.create_cell(spec, material, Origin::Generated, true)?;
        Ok(Key::from_cell(self.clone(), cell))
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
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for material of the wrong size or out
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

    pub(super) fn create_with<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        material: Result<Loaded>,
        origin: Origin,
    ) -> Result<Key<P, PreActive>> {
        let cell = self.create_cell(spec, material, origin, false)?;
        Ok(Key::from_cell(self.clone(), cell))
    }

    /// Writes a new key record — PreActive, or Active when `activate` —
    /// in one commit with its audit entries, and registers its cell.
    fn create_cell<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        material: Result<Loaded>,
        origin: Origin,
        activate: bool,
    ) -> Result<Arc<KeyCell>> {
        self.create_cells(std::iter::once((spec, material)), origin, activate)?
            .pop()
            .ok_or_else(|| Error::internal("a create wrote no key"))
    }

    /// A new key's record, version record and audit drafts, not written.
    #[allow(clippy::too_many_arguments)]
    fn prepare_new_key<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        material: Result<Loaded>,
        origin: Origin,
        activate: bool,
        now: crate::key::Timestamp,
        policy: Option<&crate::governance::policy::Policy>,
        digest: Option<(u64, String)>,
    ) -> Result<NewKey> {
        let op = create_operation(origin);
        let spec = match policy {
            Some(p) => p.apply_to_spec(spec.checked_name()?)?,
            None => spec,
        };
        let mut info =
            spec.into_info(KeyId::random()?, now, origin, self.principal.name(), digest)?;
        let material = material?;
        let id = info.id;
        let mut drafts = vec![self.draft(&self.principal, op, Some(id), Some(1), &Ok(()), None)];
        if activate {
            crate::key::lifecycle::apply(
                &mut info,
                crate::key::lifecycle::Transition::Activate,
                now,
                self.principal.name(),
                "",
            )?;
            drafts.push(self.draft(
                &self.principal,
                Operation::Activate,
                Some(id),
                None,
                &Ok(()),
                None,
            ));
        }
        // The record's one write: its generation goes with the last entry
        // (logged generations increase strictly per key).
        if let Some(last) = drafts.last_mut() {
            last.generation = Some(1);
        }
        let writes = self.key_writes(1, &mut info, &[Some(&material)], None, Expect::Absent)?;
        Ok(NewKey {
            info,
            material,
            writes,
            drafts,
        })
    }

    /// Creates `specs.len()` keys in PreActive in **one** durable commit:
    /// every key record and version record, and each key's own audit entry,
    /// in one transaction — for provisioning many keys at once (one commit
    /// instead of one per key). All or nothing: if one spec is refused
    /// (policy, name), no key is created. The policy in force is read once
    /// for the batch. Memory grows with the batch: give a few thousand
    /// specs at a time for millions of keys.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let specs = (0..100).map(|i| KeySpec::<Aead>::new(&format!("tenant-{i}")));
    /// let keys = store.create_many(specs)?;
    /// assert_eq!(keys.len(), 100);
    /// assert_eq!(store.list(&keylife::KeyFilter::new())?.len(), 100);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KeyStore::create`], for the whole batch.
    pub fn create_many<P: KeyPurpose>(
        &self,
        specs: impl IntoIterator<Item = KeySpec<P>>,
    ) -> Result<Vec<Key<P, PreActive>>> {
        let alg = P::PURPOSE.default_algorithm();
        let items = specs
            .into_iter()
            .map(|spec| (spec, Loaded::generate(self.crypto_provider(), alg)));
        Ok(self
            .create_cells(items, Origin::Generated, false)?
            .into_iter()
            .map(|c| Key::from_cell(self.clone(), c))
            .collect())
    }

    /// [`KeyStore::create_many`], each key created Active (as
    /// [`KeyStore::create_active`]), all in one durable commit.
    ///
    /// # Errors
    /// As [`KeyStore::create_active`], for the whole batch.
    pub fn create_many_active<P: KeyPurpose>(
        &self,
        specs: impl IntoIterator<Item = KeySpec<P>>,
    ) -> Result<Vec<Key<P, crate::key::Active>>> {
        let alg = P::PURPOSE.default_algorithm();
        let items = specs
            .into_iter()
            .map(|spec| (spec, Loaded::generate(self.crypto_provider(), alg)));
        Ok(self
            .create_cells(items, Origin::Generated, true)?
            .into_iter()
            .map(|c| Key::from_cell(self.clone(), c))
            .collect())
    }

    /// Writes new keys (each spec with its material, generated or
    /// imported) in one commit with their audit entries, and registers
    /// their cells. All or nothing.
    fn create_cells<P: KeyPurpose>(
        &self,
        items: impl IntoIterator<Item = (KeySpec<P>, Result<Loaded>)>,
        origin: Origin,
        activate: bool,
    ) -> Result<Vec<Arc<KeyCell>>> {
        let op = create_operation(origin);
        let res: Result<Vec<Arc<KeyCell>>> = (|| {
            authorize(&self.principal, op)?;
            if activate {
                authorize(&self.principal, Operation::Activate)?;
            }
            let now = self.now();
            let policy = self.policy()?;
            let digest = policy.as_ref().map(|p| (p.version(), p.digest()));
            let mut keys = Vec::new();
            for (spec, material) in items {
                keys.push(self.prepare_new_key(
                    spec,
                    material,
                    origin,
                    activate,
                    now,
                    policy.as_ref(),
                    digest.clone(),
                )?);
            }
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut drafts = Vec::with_capacity(keys.len() * 2);
            let mut ops = Vec::with_capacity(keys.len() * 2);
            let mut firsts = Vec::with_capacity(keys.len());
            for k in &mut keys {
                firsts.push(ops.len());
                drafts.append(&mut k.drafts);
                ops.append(&mut k.writes.ops);
            }
            let revs = self.commit_logged(&drafts, ops)?;
            Ok(keys
                .into_iter()
                .zip(firsts)
                .map(|(k, i)| {
                    let rev = revs.get(i).copied().unwrap_or(1);
                    self.register(KeyCell::new(k.into_cell_data(rev)))
                })
                .collect())
        })();
        if let Err(e) = &res {
            self.audit(op, None, None, Err(e.clone()))?;
        }
        res
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
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound); [`ErrorKind::WrongPurpose`](crate::ErrorKind::WrongPurpose) if the key has
    /// another purpose; [`ErrorKind::Integrity`](crate::ErrorKind::Integrity) for a tampered record.
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
    /// As [`KeyStore::load`], and [`ErrorKind::WrongState`](crate::ErrorKind::WrongState) if not Active.
    pub fn load_active<P: KeyPurpose>(&self, id: &KeyId) -> Result<Key<P, crate::key::Active>> {
        match self.load::<P>(id)? {
            AnyKey::Active(k) => Ok(k),
            other => Err(Error::wrong_state("using the key", other.state())),
        }
    }

    /// A key's metadata.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound); storage and integrity errors.
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
    /// [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) unless administrator or operator;
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

    pub(super) fn for_each_key(&self, mut f: impl FnMut(KeyInfo) -> Result<()>) -> Result<()> {
        self.scan_prefix(KEY_PREFIX, |rid, rec| {
            let id: KeyId = rid[KEY_PREFIX.len()..].parse()?;
            // Prefer the live cell (exact usage counts, fresh dates).
            let live = self.live_cell(&id);
            let info = match live {
                Some(cell) => cell.read()?.snapshot(),
                None => self.open_key_record(rid, rec.clone(), |_| Ok(()))?.0.info,
            };
            f(info)
        })
    }
}

/// A created key before its commit.
struct NewKey {
    info: KeyInfo,
    material: Loaded,
    writes: super::versions::KeyWrites,
    drafts: Vec<super::audit::Draft>,
}

impl NewKey {
    fn into_cell_data(self, revision: u64) -> CellData {
        CellData::new_single(self.info, self.material, revision, self.writes)
    }
}

fn create_operation(origin: Origin) -> Operation {
    if origin == Origin::Imported {
        Operation::Import
    } else {
        Operation::Create
    }
}
