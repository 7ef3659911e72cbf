//! The raw primitives, wrapped once.
//!
//! Everything above this module talks to these functions and types, never to
//! the RustCrypto crates directly, so that an accelerated provider can later
//! be slotted in behind the same surface. Nothing here knows about states,
//! stores or principals.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretBytes;

/// AES-GCM nonce length (96 bits, NIST SP 800-38D §8.2).
pub(crate) const GCM_NONCE_LEN: usize = 12;
/// AES-GCM tag length (128 bits).
pub(crate) const GCM_TAG_LEN: usize = 16;
/// Length of symmetric key material (AES-256, HMAC-SHA-256, HKDF).
pub(crate) const SYM_KEY_LEN: usize = 32;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::internal(format!("OS random source failed: {e}")))
}

/// An expanded AES-256-GCM key (the key schedule is computed once).
pub(crate) struct AesGcmKey(Aes256Gcm);

impl AesGcmKey {
    pub(crate) fn new(key: &[u8]) -> Result<AesGcmKey> {
        Aes256Gcm::new_from_slice(key)
            .map(AesGcmKey)
            .map_err(|_| Error::invalid("AES-256-GCM needs a 32-byte key"))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        let tag = self
            .0
            .encrypt_inout_detached(nonce.into(), aad, buf.into())
            .map_err(|_| Error::invalid("message or associated data too long for AES-GCM"))?;
        Ok(tag.into())
    }

    /// Decrypts `buf` in place after verifying `tag`. On failure `buf` is
    /// zeroed, so no unauthenticated plaintext escapes.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<()> {
        let res = self
            .0
            .decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into());
        if res.is_err() {
            buf.fill(0);
            return Err(Error::auth());
        }
        Ok(())
    }
}

/// HMAC-SHA-256 of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
    let mut mac = match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    // HMAC's `new_from_slice` only fails for fixed-size-key MACs.
    std::process::abort()
}

/// Constant-time tag comparison. Tags of a different length never match.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HKDF-SHA-256 (RFC 5869): extract with `salt`, expand with `info`.
pub(crate) fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<SecretBytes> {
    if len == 0 || len > 255 * 32 {
        return Err(Error::invalid(
            "HKDF-SHA-256 output length must be 1..=8160 bytes",
        ));
    }
    let salt = if salt.is_empty() { None } else { Some(salt) };
    let hk = hkdf::Hkdf::<Sha256>::new(salt, ikm);
    let mut out = SecretBytes::zeroed(len);
    hk.expand(info, out.expose_secret_mut())
        .map_err(|_| Error::invalid("HKDF-SHA-256 output length too large"))?;
    Ok(out)
}

/// A P-256 private scalar (ECDSA or ECDH), with its signing key and public
/// point computed once (each costs a scalar multiplication).
pub(crate) struct P256Secret {
    sk: p256::SecretKey,
    signing: p256::ecdsa::SigningKey,
    public: P256Public,
}

impl P256Secret {
    fn from_secret(sk: p256::SecretKey) -> P256Secret {
        let signing: p256::ecdsa::SigningKey = (&sk).into();
        let public = P256Public(sk.public_key());
        P256Secret {
            sk,
            signing,
            public,
        }
    }

    pub(crate) fn generate() -> Result<P256Secret> {
        // Rejection-sample a scalar from OS randomness: `from_slice` rejects
        // zero and values >= n.
        loop {
            let mut bytes = SecretBytes::zeroed(32);
            fill_random(bytes.expose_secret_mut())?;
            if let Ok(sk) = p256::SecretKey::from_slice(bytes.expose_secret()) {
                return Ok(P256Secret::from_secret(sk));
            }
        }
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<P256Secret> {
        if bytes.len() != 32 {
            return Err(Error::invalid("a P-256 private key is 32 bytes"));
        }
        p256::SecretKey::from_slice(bytes)
            .map(P256Secret::from_secret)
            .map_err(|_| Error::invalid("P-256 private key out of range"))
    }

    pub(crate) fn to_bytes(&self) -> SecretBytes {
        let b = self.sk.to_bytes();
        SecretBytes::from_slice(&b)
    }

    pub(crate) fn public_key(&self) -> P256Public {
        self.public.clone()
    }

    pub(crate) fn sign_fixed(&self, msg: &[u8]) -> [u8; 64] {
        let sig: p256::ecdsa::Signature = self.signing.sign(msg);
        sig.to_bytes().into()
    }

    pub(crate) fn sign_der(&self, msg: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::Signature = self.signing.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }

    /// The raw ECDH shared secret (the x-coordinate), SEC 1 §3.3.1.
    pub(crate) fn diffie_hellman(&self, peer: &P256Public) -> SecretBytes {
        let shared = p256::ecdh::diffie_hellman(self.sk.to_nonzero_scalar(), peer.0.as_affine());
        SecretBytes::from_slice(shared.raw_secret_bytes())
    }
}

/// A P-256 public point, validated on the curve and not the identity.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct P256Public(p256::PublicKey);

impl P256Public {
    pub(crate) fn from_sec1(bytes: &[u8]) -> Result<P256Public> {
        p256::PublicKey::from_sec1_bytes(bytes)
            .map(P256Public)
            .map_err(|_| Error::malformed("not a valid P-256 point in SEC 1 encoding"))
    }

    pub(crate) fn from_spki_der(der: &[u8]) -> Result<P256Public> {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_der(der)
            .map(P256Public)
            .map_err(|_| Error::malformed("not a P-256 SubjectPublicKeyInfo"))
    }

    pub(crate) fn from_spki_pem(pem: &str) -> Result<P256Public> {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_pem(pem)
            .map(P256Public)
            .map_err(|_| Error::malformed("not a P-256 SubjectPublicKeyInfo PEM"))
    }

    pub(crate) fn to_sec1_uncompressed(&self) -> Vec<u8> {
        self.0.to_sec1_bytes().into_vec()
    }

    pub(crate) fn to_spki_der(&self) -> Result<Vec<u8>> {
        use p256::pkcs8::EncodePublicKey;
        self.0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::internal("SPKI encoding failed"))
    }

    pub(crate) fn to_spki_pem(&self) -> Result<String> {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        self.0
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| Error::internal("SPKI PEM encoding failed"))
    }

    pub(crate) fn verify_fixed(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| Error::auth())?;
        let vk: p256::ecdsa::VerifyingKey = self.0.into();
        vk.verify(msg, &sig).map_err(|_| Error::auth())
    }

    pub(crate) fn verify_der(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        let sig = p256::ecdsa::DerSignature::from_bytes(sig).map_err(|_| Error::auth())?;
        let vk: p256::ecdsa::VerifyingKey = self.0.into();
        vk.verify(msg, &sig).map_err(|_| Error::auth())
    }
}

/// Maps a length error to the precise kind used across the crate.
pub(crate) fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} must be {want} bytes, got {got}"),
        ))
    }
}
