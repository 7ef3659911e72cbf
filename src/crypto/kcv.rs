//! Key check values: a receiver proves it installed the right key without
//! revealing it.
//!
//! Construction (keylife KCV v1): the first 8 bytes of
//! `HMAC-SHA-256(key = material, msg = "keylife-kcv-v1")`, shown as 16
//! lower-case hex digits. It works for every key type (AES, HMAC, HKDF,
//! P-256 scalars), and 64 bits make an accidental match between two
//! different keys negligible while revealing nothing usable about the key
//! (HMAC is a PRF; the value is a MAC of a public constant).
//!
//! Why not the legacy KCV, the block cipher's encryption of an all-zero
//! block: for AES-GCM that block, `AES_K(0^128)`, *is* the GHASH
//! authentication key `H` (NIST SP 800-38D §6.4), so publishing it lets
//! anyone forge GCM tags under the key. It is also a known
//! plaintext/ciphertext pair for the cipher, and it exists only for block
//! cipher keys. (The legacy value can be computed outside keylife by whoever
//! needs it for an HSM that insists on it.)
//!
//! Comparison is in constant time ([`CheckValue::verify`], `==`).
//!
//! ```
//! use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
//! let store = KeyStore::in_memory(Principal::admin("ops"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?;
//! let kcv = key.check_value(None)?;
//! assert_eq!(kcv.to_string().len(), 16);
//! kcv.verify(&kcv.to_string().parse()?)?;
//! # Ok::<(), keylife::Error>(())
//! ```

use core::fmt;
use core::str::FromStr;

use crate::base::{Error, ErrorKind, Result};

/// The HMAC message of KCV v1.
const LABEL: &[u8] = b"keylife-kcv-v1";

/// Length of a check value in bytes.
pub const CHECK_VALUE_LEN: usize = 8;

/// A key check value (see the [module docs](self) for the construction).
/// Not secret; `==` compares in constant time.
#[derive(Clone, Copy, Eq)]
pub struct CheckValue([u8; CHECK_VALUE_LEN]);

impl CheckValue {
    /// The check value of raw key material.
    pub(crate) fn of(material: &[u8]) -> CheckValue {
        let mac = crate::crypto::hmac_sha256(material, &[LABEL]);
        let mut out = [0u8; CHECK_VALUE_LEN];
        out.copy_from_slice(&mac[..CHECK_VALUE_LEN]);
        CheckValue(out)
    }

    /// The 8 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; CHECK_VALUE_LEN] {
        &self.0
    }

    /// A check value from its 8 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; CHECK_VALUE_LEN]) -> CheckValue {
        CheckValue(bytes)
    }

    /// Checks `expected` (e.g. the value a sender printed) against this
    /// one, in constant time.
    ///
    /// # Errors
    /// [`ErrorKind::Integrity`] when they differ: the installed key is not
    /// the one the sender meant.
    pub fn verify(&self, expected: &CheckValue) -> Result<()> {
        if crate::crypto::ct_eq(&self.0, &expected.0) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Integrity,
                format!("key check value {self} does not match the expected {expected}"),
            ))
        }
    }
}

impl PartialEq for CheckValue {
    fn eq(&self, other: &CheckValue) -> bool {
        crate::crypto::ct_eq(&self.0, &other.0)
    }
}

impl fmt::Display for CheckValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::base::encoding::write_hex(f, &self.0)
    }
}

impl fmt::Debug for CheckValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckValue({self})")
    }
}

impl FromStr for CheckValue {
    type Err = Error;

    /// 16 hex digits (either case).
    fn from_str(s: &str) -> Result<CheckValue> {
        let b = s.as_bytes();
        let bad = || Error::malformed("a key check value is 16 hex digits");
        if b.len() != 2 * CHECK_VALUE_LEN {
            return Err(bad());
        }
        let mut out = [0u8; CHECK_VALUE_LEN];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = char::from(pair[0]).to_digit(16).ok_or_else(bad)?;
            let lo = char::from(pair[1]).to_digit(16).ok_or_else(bad)?;
            out[i] = u8::try_from((hi << 4) | lo).map_err(|_| bad())?;
        }
        Ok(CheckValue(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value_and_parse() -> Result<()> {
        // HMAC-SHA-256(key = 32 zero bytes, "keylife-kcv-v1"), first 8 bytes,
        // pinned so the construction cannot drift silently.
        let kcv = CheckValue::of(&[0u8; 32]);
        assert_eq!(kcv.to_string(), "75d0503dc35ca706");
        let again: CheckValue = kcv.to_string().to_uppercase().parse()?;
        assert_eq!(kcv, again);
        assert_ne!(kcv, CheckValue::of(&[1u8; 32]));
        assert!(kcv.verify(&CheckValue::of(&[1u8; 32])).is_err());
        assert!("xyz".parse::<CheckValue>().is_err());
        assert!("0123456789abcdeg".parse::<CheckValue>().is_err());
        Ok(())
    }
}
