//! P-256 public keys: import, export, verification.

use core::fmt;

use super::P256Public;
use super::provider::CryptoProvider;
use crate::base::{Error, Result};

/// A P-256 public key, validated (on the curve, not the identity).
///
/// Exported by signing and agreement keys; imported to verify signatures
/// made elsewhere or to agree with a peer.
///
/// ```
/// # use keylife::{KeyStore, KeySpec, Principal, PublicKey, purpose::Signing};
/// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
/// let signer = store.create_active(KeySpec::<Signing>::new("s"))?;
/// let sig = signer.sign(b"release-1.0.tar.gz")?;
/// let pem = signer.public_key(None)?.to_spki_pem()?;
/// // ... elsewhere, with only the PEM:
/// let pk = PublicKey::from_spki_pem(&pem)?;
/// pk.verify(b"release-1.0.tar.gz", &sig)?;
/// # Ok::<(), keylife::Error>(())
/// ```
///
/// Verification runs on a [`CryptoProvider`]: the process default for keys
/// parsed here, the store's for keys a store exported;
/// [`PublicKey::with_provider`] picks another. Equality ignores it.
#[derive(Clone)]
pub struct PublicKey(P256Public, CryptoProvider);

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.0 == other.0
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    pub(crate) fn from_inner(p: P256Public, provider: CryptoProvider) -> PublicKey {
        PublicKey(p, provider)
    }

    fn parsed(p: P256Public) -> PublicKey {
        PublicKey(p, CryptoProvider::get_default())
    }

    pub(crate) fn inner(&self) -> &P256Public {
        &self.0
    }

    /// The same key, verifying on `provider`.
    #[must_use]
    pub fn with_provider(self, provider: CryptoProvider) -> PublicKey {
        PublicKey(self.0, provider)
    }

    /// The provider [`PublicKey::verify`] runs on.
    #[must_use]
    pub fn provider(&self) -> CryptoProvider {
        self.1
    }

    /// From a SEC 1 point (uncompressed `04 || x || y` or compressed).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Malformed`] for bad encodings, points off the
    /// curve, or the point at infinity.
    pub fn from_sec1(bytes: &[u8]) -> Result<PublicKey> {
        P256Public::from_sec1(bytes).map(PublicKey::parsed)
    }

    /// From DER SubjectPublicKeyInfo (RFC 5480).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Malformed`].
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        P256Public::from_spki_der(der).map(PublicKey::parsed)
    }

    /// From PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Malformed`].
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey> {
        P256Public::from_spki_pem(pem).map(PublicKey::parsed)
    }

    /// Uncompressed SEC 1 point (65 bytes).
    #[must_use]
    pub fn to_sec1(&self) -> Vec<u8> {
        self.0.to_sec1_uncompressed()
    }

    /// DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// Only on an internal encoding failure.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        self.0.to_spki_der()
    }

    /// PEM SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// Only on an internal encoding failure.
    pub fn to_spki_pem(&self) -> Result<String> {
        self.0.to_spki_pem()
    }

    /// Verifies a DER ECDSA P-256/SHA-256 signature.
    ///
    /// # Errors
    /// [`crate::ErrorKind::AuthenticationFailed`] for any invalid or
    /// malformed signature (one opaque kind).
    pub fn verify(&self, msg: &[u8], der_signature: &[u8]) -> Result<()> {
        self.0.verify_der(self.1, msg, der_signature)
    }

    /// Verifies a fixed 64-byte `r || s` signature.
    ///
    /// # Errors
    /// As [`PublicKey::verify`].
    pub fn verify_fixed(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
        self.0.verify_fixed(self.1, msg, signature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(P-256, ")?;
        crate::base::encoding::write_hex(f, &self.to_sec1()[..9])?;
        write!(f, "…)")
    }
}

impl PublicKey {
    /// SHA-256 of the key's DER SubjectPublicKeyInfo, as 64 hex digits: how
    /// a trusted export destination is named in approval requests and the
    /// registry ([`crate::KeyStore::trust_recipient`]).
    ///
    /// # Errors
    /// Only if DER encoding fails, which it does not for valid keys.
    pub fn fingerprint(&self) -> Result<String> {
        use sha2::Digest as _;
        Ok(crate::base::encoding::hex(&sha2::Sha256::digest(
            self.to_spki_der()?,
        )))
    }
}

// ----- JWK (RFC 7517, RFC 7518 §6.2) -----

/// Largest JWK text [`PublicKey::from_jwk`] reads.
const MAX_JWK: usize = 4096;

impl PublicKey {
    /// This key as a JSON Web Key (RFC 7517; RFC 7518 §6.2.1):
    /// `{"kty":"EC","crv":"P-256","x":…,"y":…}`, coordinates base64url
    /// without padding, 32 bytes each.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, PublicKey, purpose::Agreement};
    /// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
    /// let inbox = store.create_active(KeySpec::<Agreement>::new("inbox"))?;
    /// let jwk = inbox.public_key(None)?.to_jwk();
    /// assert!(jwk.starts_with(r#"{"kty":"EC","crv":"P-256","x":""#));
    /// assert_eq!(PublicKey::from_jwk(&jwk)?, inbox.public_key(None)?);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn to_jwk(&self) -> String {
        use base64ct::{Base64UrlUnpadded, Encoding};
        // Uncompressed SEC 1: 0x04 || x (32) || y (32).
        let p = self.to_sec1();
        let x = p.get(1..33).unwrap_or_default();
        let y = p.get(33..65).unwrap_or_default();
        format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            Base64UrlUnpadded::encode_string(x),
            Base64UrlUnpadded::encode_string(y)
        )
    }

    /// From a JSON Web Key: `kty` must be `"EC"`, `crv` `"P-256"`, `x` and
    /// `y` base64url (unpadded) of exactly 32 bytes, the point on the curve.
    /// Other members (`kid`, `use`, `alg`, …) are ignored, except `d`: a
    /// private key is refused rather than silently made public.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`](crate::ErrorKind::Malformed) naming the first problem (not JSON, a
    /// missing or wrong member, a bad length or encoding, a point off the
    /// curve); [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) above 4 KiB.
    pub fn from_jwk(jwk: &str) -> Result<PublicKey> {
        use base64ct::{Base64UrlUnpadded, Encoding};
        if jwk.len() > MAX_JWK {
            return Err(Error::invalid(format!(
                "a JWK of {} bytes exceeds the {MAX_JWK}-byte limit",
                jwk.len()
            )));
        }
        let v: serde_json::Value =
            serde_json::from_str(jwk).map_err(|_| Error::malformed("JWK: not a JSON object"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::malformed("JWK: not a JSON object"))?;
        let member = |name: &str| -> Result<&str> {
            obj.get(name)
                .ok_or_else(|| Error::malformed(format!("JWK: missing \"{name}\"")))?
                .as_str()
                .ok_or_else(|| Error::malformed(format!("JWK: \"{name}\" is not a string")))
        };
        if obj.contains_key("d") {
            return Err(Error::malformed(
                "JWK: holds a private key (\"d\"); give the public key only",
            ));
        }
        let kty = member("kty")?;
        if kty != "EC" {
            return Err(Error::malformed(format!(
                "JWK: kty must be \"EC\", got {kty:?}"
            )));
        }
        let crv = member("crv")?;
        if crv != "P-256" {
            return Err(Error::malformed(format!(
                "JWK: crv must be \"P-256\", got {crv:?}"
            )));
        }
        let mut point = [0u8; 65];
        point[0] = 0x04;
        for (name, dst) in [("x", 1..33), ("y", 33..65)] {
            let s = member(name)?;
            // 32 bytes are exactly 43 unpadded base64url characters.
            if s.len() != 43 {
                return Err(Error::malformed(format!(
                    "JWK: \"{name}\" must be 32 bytes (43 base64url characters), got {} characters",
                    s.len()
                )));
            }
            let mut buf = [0u8; 32];
            let got = Base64UrlUnpadded::decode(s, &mut buf)
                .map_err(|_| Error::malformed(format!("JWK: \"{name}\" is not base64url")))?;
            if got.len() != 32 {
                return Err(Error::malformed(format!(
                    "JWK: \"{name}\" must be 32 bytes"
                )));
            }
            point[dst].copy_from_slice(&buf);
        }
        PublicKey::from_sec1(&point)
            .map_err(|_| Error::malformed("JWK: the point is not on the P-256 curve"))
    }
}
