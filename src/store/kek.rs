//! Key-encryption keys and where they come from.
//!
//! The KEK is the root secret of a store. It never seals records itself: it
//! wraps the store's record keys (one per KEK epoch, see `seal.rs`), so
//! [`crate::KeyStore::rotate_kek`] can move every record to a fresh record
//! key under a fresh KEK, resumably.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto;
use std::sync::Arc;

use super::backend::{self, Expect, WriteOp};
use super::seal::Sealer;
use super::{KEY_PREFIX, KeyStore, authorize, seal};
use crate::governance::audit::Operation;
use crate::key::KeyId;

/// A 256-bit key-encryption key.
pub struct Kek(SecretBytes);

impl Kek {
    /// A KEK from exactly 32 bytes.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] unless `bytes` is 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Kek> {
        crypto::check_len("a KEK", bytes.len(), 32)?;
        Ok(Kek(SecretBytes::from_slice(bytes)))
    }

    /// A fresh random KEK.
    ///
    /// # Errors
    /// If the OS random source fails.
    pub fn generate() -> Result<Kek> {
        Ok(Kek(SecretBytes::random(32)?))
    }

    /// The KEK bytes (to store them somewhere safe).
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        self.0.expose_secret()
    }

    pub(crate) fn subkey(&self, label: &str) -> Result<SecretBytes> {
        crypto::hkdf_sha256(self.0.expose_secret(), b"keylife", label.as_bytes(), 32)
    }

    pub(super) fn duplicate(&self) -> Kek {
        Kek(self.0.duplicate())
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([REDACTED])")
    }
}

/// Produces a store's KEK.
///
/// A provider may need parameters that are stored, unencrypted, in the store
/// header (a passphrase's salt and Argon2id costs, an HSM key label). They
/// are created once by [`KekProvider::init_params`] and handed back to
/// [`KekProvider::unlock`] on every open. A wrong secret is detected by the
/// store (the record keys fail to unwrap) and reported as
/// [`ErrorKind::WrongKek`].
pub trait KekProvider: Send + Sync {
    /// A stable name recorded in the store header (`"raw"`, `"argon2id"`, …).
    fn kind(&self) -> &'static str;

    /// Parameters to persist when a store (or a KEK rotation) starts using
    /// this provider.
    ///
    /// # Errors
    /// Provider-specific.
    fn init_params(&self) -> Result<Vec<u8>>;

    /// The KEK, from the persisted parameters.
    ///
    /// # Errors
    /// Provider-specific ([`ErrorKind::Malformed`] for unreadable parameters).
    fn unlock(&self, params: &[u8]) -> Result<Kek>;
}

/// A raw 32-byte KEK held by the application (from a file, an environment
/// variable, or a secret manager).
///
/// ```
/// use keylife::{Kek, KeyStore, Principal, RawKek, backend::MemoryBackend};
/// let kek = Kek::generate()?;
/// let store = KeyStore::open(MemoryBackend::new(), &RawKek::new(kek), Principal::admin("ops"))?;
/// # Ok::<(), keylife::Error>(())
/// ```
pub struct RawKek(Kek);

impl RawKek {
    /// A provider for `kek`.
    #[must_use]
    pub fn new(kek: Kek) -> RawKek {
        RawKek(kek)
    }

    /// Reads 32 raw bytes, or 64 hex digits, from a file.
    ///
    /// # Errors
    /// [`ErrorKind::Storage`] if the file cannot be read;
    /// [`ErrorKind::InvalidArgument`] if it holds neither form.
    pub fn from_file(path: &std::path::Path) -> Result<RawKek> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!("cannot read KEK file {}: {e}", path.display()),
            )
        })?;
        let bytes = SecretBytes::from_slice(&bytes);
        Self::from_encoded(bytes.expose_secret())
    }

    /// Reads 64 hex digits from an environment variable.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if unset or not 64 hex digits.
    pub fn from_env(var: &str) -> Result<RawKek> {
        let v = std::env::var(var)
            .map_err(|_| Error::invalid(format!("environment variable {var} is not set")))?;
        let v = SecretBytes::from_slice(v.as_bytes());
        Self::from_encoded(v.expose_secret())
    }

    pub(super) fn from_encoded(bytes: &[u8]) -> Result<RawKek> {
        if bytes.len() == 32 {
            return Ok(RawKek(Kek::from_bytes(bytes)?));
        }
        let text = bytes.trim_ascii();
        if text.len() == 64 {
            let mut out = SecretBytes::zeroed(32);
            for (i, pair) in text.chunks_exact(2).enumerate() {
                let s = core::str::from_utf8(pair).map_err(|_| Error::invalid("KEK is not hex"))?;
                out.expose_secret_mut()[i] =
                    u8::from_str_radix(s, 16).map_err(|_| Error::invalid("KEK is not hex"))?;
            }
            return Ok(RawKek(Kek::from_bytes(out.expose_secret())?));
        }
        Err(Error::invalid("a KEK is 32 raw bytes or 64 hex digits"))
    }
}

impl KekProvider for RawKek {
    fn kind(&self) -> &'static str {
        "raw"
    }
    fn init_params(&self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn unlock(&self, _params: &[u8]) -> Result<Kek> {
        Ok(self.0.duplicate())
    }
}

impl fmt::Debug for RawKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawKek([REDACTED])")
    }
}

/// Argon2id cost parameters (RFC 9106).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
// A member keylife does not know (a newer cost, say) must not be ignored:
// the key would be derived with other parameters than the header means.
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Params {
    /// RFC 9106 §4's second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub const RECOMMENDED: Argon2Params = Argon2Params {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// Explicit costs (validated on use).
    #[must_use]
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Argon2Params {
        Argon2Params {
            memory_kib,
            iterations,
            parallelism,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PassphraseParams {
    salt: [u8; 16],
    argon2id: Argon2Params,
}

/// A KEK derived from a passphrase with Argon2id. The salt and costs are
/// stored in the store header; the passphrase is never stored.
///
/// ```
/// use keylife::{Argon2Params, KeyStore, PassphraseKek, Principal, backend::MemoryBackend};
/// // Cheap costs for the example; the default is Argon2Params::RECOMMENDED.
/// let kek = PassphraseKek::new("correct horse battery staple").params(Argon2Params::new(1024, 1, 1));
/// let store = KeyStore::open(MemoryBackend::new(), &kek, Principal::admin("ops"))?;
/// # Ok::<(), keylife::Error>(())
/// ```
pub struct PassphraseKek {
    passphrase: SecretBytes,
    params: Argon2Params,
    max: Argon2Params,
}

impl PassphraseKek {
    /// A provider for `passphrase` with [`Argon2Params::RECOMMENDED`] costs
    /// for new stores (existing stores use the costs in their header).
    #[must_use]
    pub fn new(passphrase: &str) -> PassphraseKek {
        PassphraseKek {
            passphrase: SecretBytes::from_slice(passphrase.as_bytes()),
            params: Argon2Params::RECOMMENDED,
            max: Argon2Params::MAX,
        }
    }

    /// The largest costs this provider accepts from a store's header
    /// (default [`Argon2Params::MAX`], keylife's own bounds). The header is
    /// not sealed, so whoever can write the file chooses the costs an
    /// `open` pays before the passphrase is checked; an application that
    /// knows the costs its stores use can refuse more (as age's
    /// `max_work_factor` does for scrypt). A header asking for more in any
    /// of the three fails at once with [`ErrorKind::Integrity`].
    ///
    /// ```
    /// use keylife::{Argon2Params, ErrorKind, KeyStore, PassphraseKek, Principal, backend::MemoryBackend};
    /// use std::sync::Arc;
    /// let backend = Arc::new(MemoryBackend::new());
    /// let made = PassphraseKek::new("pw").params(Argon2Params::new(2048, 2, 1));
    /// KeyStore::open(backend.clone(), &made, Principal::admin("ops"))?;
    /// let strict = PassphraseKek::new("pw").max_costs(Argon2Params::new(1024, 2, 1));
    /// let err = KeyStore::open(backend, &strict, Principal::admin("ops")).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Integrity);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn max_costs(mut self, max: Argon2Params) -> PassphraseKek {
        self.max = max;
        self
    }

    /// Costs used when this provider initialises a store or a KEK rotation.
    #[must_use]
    pub fn params(mut self, params: Argon2Params) -> PassphraseKek {
        self.params = params;
        self
    }
}

impl fmt::Debug for PassphraseKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassphraseKek")
            .field("passphrase", &"[REDACTED]")
            .field("params", &self.params)
            .field("max", &self.max)
            .finish()
    }
}

impl Argon2Params {
    /// The most memory keylife asks Argon2id for: 2 GiB, RFC 9106 §4's
    /// first recommended option (the largest either option uses).
    pub const MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
    /// The most passes: RFC 9106 §4 and OWASP recommend 1 to 5.
    pub const MAX_ITERATIONS: u32 = 32;
    /// The most lanes: RFC 9106 §4 recommends 4.
    pub const MAX_PARALLELISM: u32 = 16;
    /// The most work, memory × passes: twice RFC 9106's first option
    /// (2 GiB, 1 pass), a few seconds on a laptop.
    pub const MAX_WORK_KIB: u64 = 2 * Self::MAX_MEMORY_KIB as u64;
    /// The three maxima together (the default of
    /// [`PassphraseKek::max_costs`]).
    pub const MAX: Argon2Params = Argon2Params {
        memory_kib: Self::MAX_MEMORY_KIB,
        iterations: Self::MAX_ITERATIONS,
        parallelism: Self::MAX_PARALLELISM,
    };

    /// `Some(reason)` when these costs exceed `max` in any of the three.
    fn beyond(&self, max: &Argon2Params) -> Option<String> {
        [
            ("KiB of memory", self.memory_kib, max.memory_kib),
            ("passes", self.iterations, max.iterations),
            ("lanes", self.parallelism, max.parallelism),
        ]
        .into_iter()
        .find(|(_, asked, most)| asked > most)
        .map(|(what, asked, most)| {
            format!("{asked} {what} (this provider accepts at most {most}; see PassphraseKek::max_costs)")
        })
    }

    /// `Some(reason)` when these costs are outside keylife's bounds. The
    /// bounds hold before any memory is allocated or any pass run, so a
    /// store header that asks for 4 TiB or 2^32 passes is refused at once.
    fn out_of_bounds(&self) -> Option<String> {
        let work = u64::from(self.memory_kib) * u64::from(self.iterations);
        if self.memory_kib > Self::MAX_MEMORY_KIB {
            Some(format!(
                "{} KiB of memory (at most {} KiB)",
                self.memory_kib,
                Self::MAX_MEMORY_KIB
            ))
        } else if self.iterations > Self::MAX_ITERATIONS {
            Some(format!(
                "{} passes (at most {})",
                self.iterations,
                Self::MAX_ITERATIONS
            ))
        } else if self.parallelism > Self::MAX_PARALLELISM {
            Some(format!(
                "{} lanes (at most {})",
                self.parallelism,
                Self::MAX_PARALLELISM
            ))
        } else if work > Self::MAX_WORK_KIB {
            Some(format!(
                "{work} KiB-passes of work (at most {})",
                Self::MAX_WORK_KIB
            ))
        } else {
            None
        }
    }
}

/// Argon2id with `p`'s costs, refused beyond keylife's bounds with
/// `beyond` (the caller's kind: a bad argument at creation, a damaged or
/// hostile header at open).
fn argon2(p: &Argon2Params, beyond: ErrorKind) -> Result<argon2::Argon2<'static>> {
    if let Some(why) = p.out_of_bounds() {
        return Err(Error::new(
            beyond,
            format!("Argon2id parameters beyond keylife's bounds: {why}"),
        ));
    }
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| Error::new(beyond, format!("invalid Argon2id parameters: {e}")))?;
    Ok(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

impl KekProvider for PassphraseKek {
    fn kind(&self) -> &'static str {
        "argon2id"
    }

    fn init_params(&self) -> Result<Vec<u8>> {
        if self.passphrase.is_empty() {
            return Err(Error::invalid("the passphrase is empty"));
        }
        argon2(&self.params, ErrorKind::InvalidArgument)?;
        let mut salt = [0u8; 16];
        crypto::fill_random(&mut salt)?;
        serde_json::to_vec(&PassphraseParams {
            salt,
            argon2id: self.params,
        })
        .map_err(|e| Error::internal(format!("params encoding: {e}")))
    }

    fn unlock(&self, params: &[u8]) -> Result<Kek> {
        let p: PassphraseParams = serde_json::from_slice(params)
            .map_err(|_| Error::malformed("the store's Argon2id parameters are unreadable"))?;
        let mut out = SecretBytes::zeroed(32);
        // The header is not sealed: its costs are checked before any work.
        if let Some(why) = p.argon2id.beyond(&self.max) {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!("the store's Argon2id parameters ask for {why}"),
            ));
        }
        argon2(&p.argon2id, ErrorKind::Integrity)?
            .hash_password_into(
                self.passphrase.expose_secret(),
                &p.salt,
                out.expose_secret_mut(),
            )
            .map_err(|e| Error::invalid(format!("Argon2id failed: {e}")))?;
        Kek::from_bytes(out.expose_secret())
    }
}

impl KeyStore {
    pub(super) fn sealer(&self) -> Result<Arc<Sealer>> {
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

    pub(super) fn rotate_kek_inner(
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
    pub(super) fn scan_all(
        &self,
        mut f: impl FnMut(&str, &backend::Record) -> Result<()>,
    ) -> Result<()> {
        self.scan_prefix("", |id, rec| {
            if id == seal::HEADER_ID {
                Ok(())
            } else {
                f(id, rec)
            }
        })
    }

    pub(super) fn reseal_record(
        &self,
        sealer: &Sealer,
        id: &str,
        rec: &backend::Record,
    ) -> Result<()> {
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
}
