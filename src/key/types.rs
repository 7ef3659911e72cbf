//! Runtime names for purposes, algorithms and states; key ids; timestamps.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a key is for. Fixed at creation (NIST SP 800-57 Part 1 §5.2: one key,
/// one purpose).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum Purpose {
    /// Authenticated encryption (AES-256-GCM).
    Aead = 1,
    /// Digital signatures (ECDSA P-256 / SHA-256).
    Signing = 2,
    /// Message authentication (HMAC-SHA-256).
    Mac = 3,
    /// Key agreement (ECDH P-256, output through HKDF-SHA-256).
    Agreement = 4,
    /// Key derivation (HKDF-SHA-256 with caller context).
    Derivation = 5,
}

impl Purpose {
    /// The purpose for a C ABI code.
    #[must_use]
    pub fn from_code(code: u32) -> Option<Purpose> {
        [
            Purpose::Aead,
            Purpose::Signing,
            Purpose::Mac,
            Purpose::Agreement,
            Purpose::Derivation,
        ]
        .into_iter()
        .find(|p| *p as u32 == code)
    }

    /// The one algorithm keylife uses for this purpose.
    #[must_use]
    pub fn default_algorithm(self) -> Algorithm {
        match self {
            Purpose::Aead => Algorithm::Aes256Gcm,
            Purpose::Signing => Algorithm::EcdsaP256Sha256,
            Purpose::Mac => Algorithm::HmacSha256,
            Purpose::Agreement => Algorithm::EcdhP256,
            Purpose::Derivation => Algorithm::HkdfSha256,
        }
    }

    /// Lower-case name, as in policy files and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Aead => "aead",
            Purpose::Signing => "signing",
            Purpose::Mac => "mac",
            Purpose::Agreement => "agreement",
            Purpose::Derivation => "derivation",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A concrete algorithm. The numeric value appears in ciphertext headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Algorithm {
    /// AES-256-GCM, 96-bit nonce, 128-bit tag (NIST SP 800-38D).
    Aes256Gcm = 1,
    /// ECDSA over P-256 with SHA-256 (FIPS 186-5).
    EcdsaP256Sha256 = 2,
    /// HMAC with SHA-256 (RFC 2104, FIPS 198-1).
    HmacSha256 = 3,
    /// Ephemeral-static or static-static ECDH over P-256 (SP 800-56A).
    EcdhP256 = 4,
    /// HKDF with SHA-256 (RFC 5869).
    HkdfSha256 = 5,
}

impl Algorithm {
    /// The purpose this algorithm serves.
    #[must_use]
    pub fn purpose(self) -> Purpose {
        match self {
            Algorithm::Aes256Gcm => Purpose::Aead,
            Algorithm::EcdsaP256Sha256 => Purpose::Signing,
            Algorithm::HmacSha256 => Purpose::Mac,
            Algorithm::EcdhP256 => Purpose::Agreement,
            Algorithm::HkdfSha256 => Purpose::Derivation,
        }
    }

    pub(crate) fn from_u8(b: u8) -> Option<Algorithm> {
        [
            Algorithm::Aes256Gcm,
            Algorithm::EcdsaP256Sha256,
            Algorithm::HmacSha256,
            Algorithm::EcdhP256,
            Algorithm::HkdfSha256,
        ]
        .into_iter()
        .find(|a| *a as u8 == b)
    }
}

/// The lifecycle state of a key, at run time (NIST SP 800-57 Part 1 §7;
/// KMIP names agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum StateName {
    /// Generated, not yet usable.
    PreActive = 1,
    /// Usable for every operation of its purpose.
    Active = 2,
    /// Temporarily out of use; processing only where policy allows.
    Suspended = 3,
    /// Past its use for protection; still processes (decrypt, verify).
    Deactivated = 4,
    /// Known or suspected to be exposed.
    Compromised = 5,
    /// Scheduled for destruction; cancellable until the date.
    PendingDestruction = 6,
    /// Material destroyed; metadata kept.
    Destroyed = 7,
    /// Destroyed after having been compromised.
    DestroyedCompromised = 8,
}

impl StateName {
    /// The state for a C ABI code.
    #[must_use]
    pub fn from_code(code: u32) -> Option<StateName> {
        use StateName::*;
        [
            PreActive,
            Active,
            Suspended,
            Deactivated,
            Compromised,
            PendingDestruction,
            Destroyed,
            DestroyedCompromised,
        ]
        .into_iter()
        .find(|s| *s as u32 == code)
    }

    /// True while key material still exists.
    #[must_use]
    pub fn has_material(self) -> bool {
        !matches!(self, StateName::Destroyed | StateName::DestroyedCompromised)
    }

    /// Snake-case name, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::PreActive => "pre_active",
            StateName::Active => "active",
            StateName::Suspended => "suspended",
            StateName::Deactivated => "deactivated",
            StateName::Compromised => "compromised",
            StateName::PendingDestruction => "pending_destruction",
            StateName::Destroyed => "destroyed",
            StateName::DestroyedCompromised => "destroyed_compromised",
        }
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's identifier: 128 random bits, never reused.
///
/// Displays as 32 lower-case hex digits.
///
/// ```
/// use keylife::KeyId;
/// let id: KeyId = "000102030405060708090a0b0c0d0e0f".parse()?;
/// assert_eq!(id.to_string(), "000102030405060708090a0b0c0d0e0f");
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 16]);

impl KeyId {
    /// A fresh random id.
    pub(crate) fn random() -> Result<KeyId> {
        let mut b = [0u8; 16];
        crate::crypto::fill_random(&mut b)?;
        Ok(KeyId(b))
    }

    /// The id's 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// An id from its 16 bytes.
    #[must_use]
    pub fn from_bytes(b: [u8; 16]) -> KeyId {
        KeyId(b)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<KeyId> {
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(Error::malformed("a key id is 32 hex digits"));
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]);
            let lo = hex_val(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => out[i] = (h << 4) | l,
                _ => return Err(Error::malformed("a key id is 32 hex digits")),
            }
        }
        Ok(KeyId(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<KeyId, D::Error> {
        let s = <&str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `d` (saturating).
    #[must_use]
    pub fn plus(self, d: core::time::Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, e.g. `2026-01-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::report::utc(*self))
    }
}
