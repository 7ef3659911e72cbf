//! Sealing records before a backend sees them, and the KEK that seals them.
//!
//! Sealed record layout (version 1):
//!
//! ```text
//! 0   1   seal format version (0x01)
//! 1   12  random nonce
//! 13  n   AES-256-GCM ciphertext of the record
//! ..  16  tag
//! ```
//!
//! Associated data: `"keylife/record/v1\0" || record id`. A record moved to
//! another id, edited, or sealed under another store key fails to open and is
//! reported as [`ErrorKind::Integrity`] naming the record.

use core::fmt;

use crate::crypto::{self, AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretBytes;

const SEAL_VERSION: u8 = 1;
const SEAL_AD_PREFIX: &[u8] = b"keylife/record/v1\0";

/// A 256-bit key-encryption key: the root secret of a store.
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
/// [`KekProvider::unlock`] on every open.
pub trait KekProvider: Send + Sync {
    /// A stable name recorded in the store header (`"raw"`, `"argon2id"`, …).
    fn kind(&self) -> &'static str;

    /// Parameters to persist when a new store is initialised.
    ///
    /// # Errors
    /// Provider-specific.
    fn init_params(&self) -> Result<Vec<u8>>;

    /// The KEK, from the persisted parameters.
    ///
    /// # Errors
    /// Provider-specific; a wrong secret is detected by the store afterwards
    /// and reported as [`ErrorKind::WrongKek`].
    fn unlock(&self, params: &[u8]) -> Result<Kek>;
}

/// A raw 32-byte KEK held by the application (from a file, an environment
/// variable, or a secret manager).
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
        Ok(Kek(self.0.0.duplicate()))
    }
}

impl fmt::Debug for RawKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawKek([REDACTED])")
    }
}

/// Seals and opens records under the store's record key.
pub(crate) struct Sealer {
    key: AesGcmKey,
}

impl Sealer {
    pub(crate) fn new(kek: &Kek) -> Result<Sealer> {
        let k = kek.subkey("record-seal/v1")?;
        Ok(Sealer {
            key: AesGcmKey::new(k.expose_secret())?,
        })
    }

    pub(crate) fn seal(&self, id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; GCM_NONCE_LEN];
        crypto::fill_random(&mut nonce)?;
        let mut out = Vec::with_capacity(1 + GCM_NONCE_LEN + plaintext.len() + GCM_TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let ad = [SEAL_AD_PREFIX, id.as_bytes()].concat();
        let tag = self
            .key
            .seal_in_place(&nonce, &ad, &mut out[1 + GCM_NONCE_LEN..])?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub(crate) fn open(&self, id: &str, sealed: &[u8]) -> Result<SecretBytes> {
        let integrity = || {
            Error::new(
                ErrorKind::Integrity,
                format!("record {id} failed its integrity check"),
            )
        };
        if sealed.len() < 1 + GCM_NONCE_LEN + GCM_TAG_LEN {
            return Err(integrity());
        }
        if sealed[0] != SEAL_VERSION {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "record {id} uses seal format {} (this build reads {SEAL_VERSION})",
                    sealed[0]
                ),
            ));
        }
        let mut nonce = [0u8; GCM_NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..=GCM_NONCE_LEN]);
        let body = &sealed[1 + GCM_NONCE_LEN..sealed.len() - GCM_TAG_LEN];
        let mut tag = [0u8; GCM_TAG_LEN];
        tag.copy_from_slice(&sealed[sealed.len() - GCM_TAG_LEN..]);
        let mut out = SecretBytes::from_slice(body);
        let ad = [SEAL_AD_PREFIX, id.as_bytes()].concat();
        self.key
            .open_in_place(&nonce, &ad, out.expose_secret_mut(), &tag)
            .map_err(|_| integrity())?;
        Ok(out)
    }
}
