//! Key identifiers.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use super::encoding;
use super::error::{Error, Result};

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
        super::random::fill_random(&mut b)?;
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
        encoding::write_hex(f, &self.0)
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
        encoding::parse_hex::<16>(s)
            .map(KeyId)
            .ok_or_else(|| Error::malformed("a key id is 32 hex digits"))
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
