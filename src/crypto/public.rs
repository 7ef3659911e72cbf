//! P-256 public keys: import, export, verification.

use core::fmt;

use super::P256Public;
use super::provider::CryptoProvider;
use crate::base::Result;

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
        for b in self.to_sec1().iter().take(9) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}
