//! AES key wrapping: AES-KW (RFC 3394, NIST SP 800-38F §6.2) and AES-KWP,
//! key wrap with padding (RFC 5649, SP 800-38F §6.3).
//!
//! A [`WrappingKey`] is a shared key-encryption key (KEK) for moving key
//! material between systems: a key-ceremony transport key, the KEK an HSM
//! or a cloud KMS import expects, or one derived by two keylife stores from
//! a shared [`Derivation`](crate::purpose::Derivation) key ([`Key::derive_wrapping_key`](crate::Key::derive_wrapping_key)). Wrapping is
//! deterministic and authenticated (a 64-bit integrity check), so the same
//! key wrapped twice gives the same bytes, and a wrong KEK or a changed
//! byte is refused. Use [`WrapMode::Kwp`] unless the other side needs
//! RFC 3394 exactly: it takes any length and checks the length too.
//!
//! ```
//! use keylife::{KeyStore, KeySpec, Principal, purpose::Derivation, wrap::WrapMode};
//! let store = KeyStore::in_memory(Principal::admin("ops"))?;
//! let shared = store.create_active(KeySpec::<Derivation>::new("transport-root"))?;
//! let kek = shared.derive_wrapping_key(b"site-a -> site-b")?;
//! let wrapped = kek.wrap(WrapMode::Kwp, b"some key material")?;
//! assert_eq!(wrapped.len(), 32); // 17 bytes padded to 24, plus the 8-byte check
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! Unwrapping is `WrappingKey::unwrap` with the `hazmat` feature (it
//! returns raw material); keys exported with
//! [`KeyStore::export_wrapped`](crate::KeyStore::export_wrapped) come back
//! in through [`KeyStore::import_wrapped`](crate::KeyStore::import_wrapped).
//!
//! This type has no lifecycle: it is not stored, rotated or audited. Keys
//! wrapped with it for another store go through
//! [`KeyStore::export_wrapped`](crate::KeyStore::export_wrapped), which is.

use aes_kw::InnerInit as _;
use core::fmt;

use aes_kw::KeyInit;

use crate::base::KeyId;
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};

/// Largest input [`WrappingKey::wrap`] accepts and largest wrapped input
/// `WrappingKey::unwrap` accepts (64 KiB): key material, not bulk data.
pub const MAX_WRAP_INPUT: usize = 64 * 1024;

/// The 64-bit semiblock of AES key wrap (SP 800-38F §4.1).
const SEMIBLOCK: usize = 8;

/// Which key-wrap algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrapMode {
    /// AES-KW (RFC 3394): input a multiple of 8 bytes, at least 16.
    Kw,
    /// AES-KWP (RFC 5649): input of 1 to [`MAX_WRAP_INPUT`] bytes.
    Kwp,
}

/// A key-encryption key for AES-KW / AES-KWP, 128, 192 or 256 bits, held
/// in zeroizing memory. Not `Clone`; `Debug` prints only its size.
#[cfg_attr(
    not(feature = "hazmat"),
    doc = r#"
Without the `hazmat` feature there is no `unwrap`, which would return an
exported key's raw material; keys exported under a wrapping key come back
only through `KeyStore::import_wrapped`:

```compile_fail,E0599
# use keylife::{KeyStore, KeySpec, Principal, purpose::Derivation, wrap::WrapMode};
# let store = KeyStore::in_memory(Principal::admin("ops"))?;
let kek = store.create_active(KeySpec::<Derivation>::new("t"))?.derive_wrapping_key(b"x")?;
let wrapped = kek.wrap(WrapMode::Kwp, b"material")?;
kek.unwrap(WrapMode::Kwp, &wrapped)?; // no `unwrap` without hazmat
# Ok::<(), keylife::Error>(())
```
"#
)]
pub struct WrappingKey {
    kek: SecretBytes,
    /// The managed key it was derived from, if any: a store refuses to
    /// export to a wrapping key derived from one of its own keys, whose
    /// holder could unwrap the export.
    derived_from: Option<KeyId>,
}

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappingKey(AES-{})", self.kek.len() * 8)
    }
}

enum Cipher {
    A128(aes_kw::aes::Aes128),
    A192(aes_kw::aes::Aes192),
    A256(aes_kw::aes::Aes256),
}

fn kek_len_error() -> Error {
    Error::invalid("an AES key-wrap KEK is 16, 24 or 32 bytes")
}

impl WrappingKey {
    pub(crate) fn from_secret(kek: SecretBytes) -> Result<WrappingKey> {
        if matches!(kek.len(), 16 | 24 | 32) {
            Ok(WrappingKey {
                kek,
                derived_from: None,
            })
        } else {
            Err(kek_len_error())
        }
    }

    /// A wrapping key derived from the managed key `source`.
    pub(crate) fn derived(kek: SecretBytes, source: KeyId) -> Result<WrappingKey> {
        let mut w = WrappingKey::from_secret(kek)?;
        w.derived_from = Some(source);
        Ok(w)
    }

    /// The managed key this wrapping key was derived from, if it was.
    #[must_use]
    pub fn derived_from(&self) -> Option<KeyId> {
        self.derived_from
    }

    /// A wrapping key from raw KEK bytes (16, 24 or 32), e.g. one entered
    /// in a key ceremony or agreed with an HSM.
    ///
    /// # Security warning
    /// The KEK existed outside keylife and may have been copied; anyone
    /// holding it can unwrap what it wraps. Prefer
    /// [`Key::derive_wrapping_key`](crate::Key::derive_wrapping_key) from a managed key.
    ///
    /// ```
    /// use keylife::wrap::{WrapMode, WrappingKey};
    /// let kek = WrappingKey::from_bytes(&[7u8; 32])?;
    /// let w = kek.wrap(WrapMode::Kw, &[1u8; 32])?;
    /// assert_eq!(w.len(), 40);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for another length.
    #[cfg(feature = "hazmat")]
    pub fn from_bytes(kek: &[u8]) -> Result<WrappingKey> {
        WrappingKey::from_secret(SecretBytes::from_slice(kek))
    }

    /// KEK size in bits (128, 192 or 256).
    #[must_use]
    pub fn bits(&self) -> usize {
        self.kek.len() * 8
    }

    /// The key check value of this KEK ([`crate::crypto::kcv`]), for two parties
    /// to confirm they hold the same KEK without revealing it.
    #[must_use]
    pub fn check_value(&self) -> crate::crypto::kcv::CheckValue {
        crate::crypto::kcv::CheckValue::of(self.kek.expose_secret())
    }

    fn cipher(&self) -> Result<Cipher> {
        let k = self.kek.expose_secret();
        let c = match k.len() {
            16 => aes_kw::aes::Aes128::new_from_slice(k).map(Cipher::A128),
            24 => aes_kw::aes::Aes192::new_from_slice(k).map(Cipher::A192),
            32 => aes_kw::aes::Aes256::new_from_slice(k).map(Cipher::A256),
            _ => return Err(kek_len_error()),
        };
        c.map_err(|_| kek_len_error())
    }

    /// Wraps `key` (the material to protect). Deterministic.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Derivation, wrap::WrapMode};
    /// # let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// # let kek = store.create_active(KeySpec::<Derivation>::new("t"))?.derive_wrapping_key(b"x")?;
    /// assert_eq!(kek.wrap(WrapMode::Kwp, &[9u8; 5])?.len(), 16);
    /// assert!(kek.wrap(WrapMode::Kw, &[9u8; 5]).is_err()); // KW needs 8-byte multiples
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an input length the mode does
    /// not take (KW: a multiple of 8, at least 16; KWP: at least 1), or
    /// longer than [`MAX_WRAP_INPUT`].
    pub fn wrap(&self, mode: WrapMode, key: &[u8]) -> Result<Vec<u8>> {
        if key.len() > MAX_WRAP_INPUT {
            return Err(Error::invalid(format!(
                "key wrap input of {} bytes exceeds the {MAX_WRAP_INPUT}-byte limit",
                key.len()
            )));
        }
        let out_len = match mode {
            // RFC 3394 §2: n >= 2 semiblocks.
            WrapMode::Kw if !key.len().is_multiple_of(SEMIBLOCK) || key.len() < 2 * SEMIBLOCK => {
                return Err(Error::invalid(
                    "AES-KW wraps a multiple of 8 bytes, at least 16 (RFC 3394 §2); use KWP",
                ));
            }
            WrapMode::Kw => key.len() + SEMIBLOCK,
            WrapMode::Kwp if key.is_empty() => {
                return Err(Error::invalid(
                    "AES-KWP wraps at least 1 byte (RFC 5649 §4.1)",
                ));
            }
            WrapMode::Kwp => key.len().div_ceil(SEMIBLOCK) * SEMIBLOCK + SEMIBLOCK,
        };
        let mut out = vec![0u8; out_len];
        let res = match (mode, self.cipher()?) {
            (WrapMode::Kw, Cipher::A128(c)) => aes_kw::AesKw::inner_init(c)
                .wrap_key(key, &mut out)
                .map(<[u8]>::len),
            (WrapMode::Kw, Cipher::A192(c)) => aes_kw::AesKw::inner_init(c)
                .wrap_key(key, &mut out)
                .map(<[u8]>::len),
            (WrapMode::Kw, Cipher::A256(c)) => aes_kw::AesKw::inner_init(c)
                .wrap_key(key, &mut out)
                .map(<[u8]>::len),
            (WrapMode::Kwp, Cipher::A128(c)) => aes_kw::AesKwp::inner_init(c)
                .wrap_key(key, &mut out)
                .map(<[u8]>::len),
            (WrapMode::Kwp, Cipher::A192(c)) => aes_kw::AesKwp::inner_init(c)
                .wrap_key(key, &mut out)
                .map(<[u8]>::len),
            (WrapMode::Kwp, Cipher::A256(c)) => aes_kw::AesKwp::inner_init(c)
                .wrap_key(key, &mut out)
                .map(<[u8]>::len),
        };
        match res {
            Ok(n) if n == out_len => Ok(out),
            _ => Err(Error::internal("AES key wrap failed")),
        }
    }

    /// Unwraps and checks integrity. The result is the wrapped material.
    ///
    /// # Security warning
    /// Applied to a key exported with [`crate::KeyStore::export_wrapped`],
    /// this returns the exported key's raw material, outside every control
    /// of keylife. That is why it exists only with the `hazmat` feature;
    /// [`crate::KeyStore::import_wrapped`] is the governed way in.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for a wrapped length the mode cannot have
    /// produced or above [`MAX_WRAP_INPUT`] + 8;
    /// [`ErrorKind::AuthenticationFailed`] for a wrong KEK or altered
    /// bytes (one opaque kind; nothing is returned).
    #[cfg(feature = "hazmat")]
    pub fn unwrap(&self, mode: WrapMode, wrapped: &[u8]) -> Result<SecretBytes> {
        self.unwrap_material(mode, wrapped)
    }

    /// `WrappingKey::unwrap` for the import path.
    pub(crate) fn unwrap_material(&self, mode: WrapMode, wrapped: &[u8]) -> Result<SecretBytes> {
        let min = match mode {
            WrapMode::Kw => 3 * SEMIBLOCK,
            WrapMode::Kwp => 2 * SEMIBLOCK,
        };
        if !wrapped.len().is_multiple_of(SEMIBLOCK)
            || wrapped.len() < min
            || wrapped.len() > MAX_WRAP_INPUT + SEMIBLOCK
        {
            return Err(Error::new(
                ErrorKind::Malformed,
                format!(
                    "a {} wrapped key is a multiple of 8 bytes from {min} to {}, got {}",
                    match mode {
                        WrapMode::Kw => "AES-KW",
                        WrapMode::Kwp => "AES-KWP",
                    },
                    MAX_WRAP_INPUT + SEMIBLOCK,
                    wrapped.len()
                ),
            ));
        }
        let mut buf = SecretBytes::zeroed(wrapped.len() - SEMIBLOCK);
        let out = buf.expose_secret_mut();
        let res = match (mode, self.cipher()?) {
            (WrapMode::Kw, Cipher::A128(c)) => aes_kw::AesKw::inner_init(c)
                .unwrap_key(wrapped, out)
                .map(<[u8]>::len),
            (WrapMode::Kw, Cipher::A192(c)) => aes_kw::AesKw::inner_init(c)
                .unwrap_key(wrapped, out)
                .map(<[u8]>::len),
            (WrapMode::Kw, Cipher::A256(c)) => aes_kw::AesKw::inner_init(c)
                .unwrap_key(wrapped, out)
                .map(<[u8]>::len),
            (WrapMode::Kwp, Cipher::A128(c)) => aes_kw::AesKwp::inner_init(c)
                .unwrap_key(wrapped, out)
                .map(<[u8]>::len),
            (WrapMode::Kwp, Cipher::A192(c)) => aes_kw::AesKwp::inner_init(c)
                .unwrap_key(wrapped, out)
                .map(<[u8]>::len),
            (WrapMode::Kwp, Cipher::A256(c)) => aes_kw::AesKwp::inner_init(c)
                .unwrap_key(wrapped, out)
                .map(<[u8]>::len),
        };
        let n = res.map_err(|_| Error::auth())?;
        if n == buf.len() {
            Ok(buf)
        } else {
            // KWP strips padding: copy into an allocation of the exact size
            // (the padded buffer is zeroized when it drops).
            Ok(SecretBytes::from_slice(&buf.expose_secret()[..n]))
        }
    }
}

/// HKDF `info` prefix for derived wrapping keys (domain separation).
const DERIVE_LABEL: &[u8] = b"keylife wrapping key v1\0";

/// The HKDF `info` of a wrapping key derived for `context`: a fixed label,
/// then the context.
pub(crate) fn derive_wrapping_info(context: &[u8]) -> Vec<u8> {
    [DERIVE_LABEL, context].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 3394 §4.6: 256-bit key data with a 256-bit KEK.
    #[test]
    fn rfc3394_4_6() -> Result<()> {
        let kek: Vec<u8> = (0u8..32).collect();
        let data = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
            0xEE, 0xFF, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
            0x0C, 0x0D, 0x0E, 0x0F,
        ];
        let want = [
            0x28, 0xC9, 0xF4, 0x04, 0xC4, 0xB8, 0x10, 0xF4, 0xCB, 0xCC, 0xB3, 0x5C, 0xFB, 0x87,
            0xF8, 0x26, 0x3F, 0x57, 0x86, 0xE2, 0xD8, 0x0E, 0xD3, 0x26, 0xCB, 0xC7, 0xF0, 0xE7,
            0x1A, 0x99, 0xF4, 0x3B, 0xFB, 0x98, 0x8B, 0x9B, 0x7A, 0x02, 0xDD, 0x21,
        ];
        let k = WrappingKey::from_secret(SecretBytes::from_slice(&kek))?;
        assert_eq!(k.wrap(WrapMode::Kw, &data)?, want);
        assert_eq!(
            k.unwrap_material(WrapMode::Kw, &want)?.expose_secret(),
            data
        );
        let mut bad = want;
        bad[39] ^= 1;
        assert_eq!(
            k.unwrap_material(WrapMode::Kw, &bad).map(|_| ()),
            Err(Error::auth())
        );
        Ok(())
    }

    #[test]
    fn limits() -> Result<()> {
        let k = WrappingKey::from_secret(SecretBytes::from_slice(&[1u8; 32]))?;
        let big = vec![0u8; MAX_WRAP_INPUT + 1];
        assert_eq!(
            k.wrap(WrapMode::Kwp, &big).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        assert_eq!(
            k.unwrap_material(WrapMode::Kwp, &[0u8; 8])
                .map(|_| ())
                .map_err(|e| e.kind()),
            Err(ErrorKind::Malformed)
        );
        assert!(WrappingKey::from_secret(SecretBytes::from_slice(&[1u8; 31])).is_err());
        assert_eq!(format!("{k:?}"), "WrappingKey(AES-256)");
        Ok(())
    }
}
