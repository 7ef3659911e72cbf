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

    fn duplicate(&self) -> Kek {
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

    fn from_encoded(bytes: &[u8]) -> Result<RawKek> {
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
}

impl PassphraseKek {
    /// A provider for `passphrase` with [`Argon2Params::RECOMMENDED`] costs
    /// for new stores (existing stores use the costs in their header).
    #[must_use]
    pub fn new(passphrase: &str) -> PassphraseKek {
        PassphraseKek {
            passphrase: SecretBytes::from_slice(passphrase.as_bytes()),
            params: Argon2Params::RECOMMENDED,
        }
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
            .finish()
    }
}

fn argon2(p: &Argon2Params) -> Result<argon2::Argon2<'static>> {
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| Error::invalid(format!("invalid Argon2id parameters: {e}")))?;
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
        argon2(&self.params)?;
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
        argon2(&p.argon2id)?
            .hash_password_into(
                self.passphrase.expose_secret(),
                &p.salt,
                out.expose_secret_mut(),
            )
            .map_err(|e| Error::invalid(format!("Argon2id failed: {e}")))?;
        Kek::from_bytes(out.expose_secret())
    }
}
