//! The primitives, wrapped once: AES-256-GCM, P-256, HMAC, HKDF (this
//! file), the crypto providers, nonces, HPKE, key wrap, Shamir sharing and
//! key check values.
//!
//! Everything above this module talks to these functions and types, never to
//! a cryptographic crate directly. AES-256-GCM and P-256 dispatch on a
//! [`CryptoProvider`] (see `provider.rs`); the rest is RustCrypto for every
//! provider. Nothing here knows about states, stores or principals.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub mod hpke;
pub mod kcv;
pub(crate) mod nonce;
pub mod provider;
pub(crate) mod public;
pub(crate) mod shamir;
pub(crate) mod stream;
pub mod wrap;

use self::provider::CryptoProvider;
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};

/// AES-GCM nonce length (96 bits, NIST SP 800-38D §8.2).
pub(crate) const GCM_NONCE_LEN: usize = 12;
/// AES-GCM tag length (128 bits).
pub(crate) const GCM_TAG_LEN: usize = 16;
/// Length of symmetric key material (AES-256, HMAC-SHA-256, HKDF).
pub(crate) const SYM_KEY_LEN: usize = 32;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) use crate::base::random::fill_random;

/// AES-GCM with random 96-bit nonces: at most 2^32 invocations per key
/// (NIST SP 800-38D §8.3).
pub const AES_GCM_INVOCATION_LIMIT: u64 = 1 << 32;

/// An expanded AES-256-GCM key (the key schedule is computed once), in the
/// implementation of one [`CryptoProvider`].
pub(crate) enum AesGcmKey {
    RustCrypto(Box<Aes256Gcm>),
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
}

impl AesGcmKey {
    /// A key for the process's default provider.
    pub(crate) fn new(key: &[u8]) -> Result<AesGcmKey> {
        AesGcmKey::with_provider(CryptoProvider::get_default(), key)
    }

    pub(crate) fn with_provider(provider: CryptoProvider, key: &[u8]) -> Result<AesGcmKey> {
        let bad = || Error::invalid("AES-256-GCM needs a 32-byte key");
        match provider {
            CryptoProvider::RustCrypto => Aes256Gcm::new_from_slice(key)
                .map(|k| AesGcmKey::RustCrypto(Box::new(k)))
                .map_err(|_| bad()),
            #[cfg(feature = "aws-lc")]
            CryptoProvider::AwsLc => {
                use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
                UnboundKey::new(&AES_256_GCM, key)
                    .map(|k| AesGcmKey::AwsLc(LessSafeKey::new(k)))
                    .map_err(|_| bad())
            }
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        let too_long = || Error::invalid("message or associated data too long for AES-GCM");
        match self {
            AesGcmKey::RustCrypto(k) => k
                .encrypt_inout_detached(nonce.into(), aad, buf.into())
                .map(Into::into)
                .map_err(|_| too_long()),
            #[cfg(feature = "aws-lc")]
            AesGcmKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                let tag = k
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(*nonce),
                        Aad::from(aad),
                        buf,
                    )
                    .map_err(|_| too_long())?;
                let mut out = [0u8; GCM_TAG_LEN];
                check_len("an AES-GCM tag", tag.as_ref().len(), GCM_TAG_LEN)?;
                out.copy_from_slice(tag.as_ref());
                Ok(out)
            }
        }
    }

    /// Encrypts `pt` into `out` (same length) and returns the tag: one
    /// pass, no copy of the plaintext first.
    pub(crate) fn seal_to(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        pt: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        let too_long = || Error::invalid("message or associated data too long for AES-GCM");
        match self {
            AesGcmKey::RustCrypto(k) => {
                let io = aes_gcm::aead::inout::InOutBuf::new(pt, out)
                    .map_err(|_| Error::internal("AES-GCM output length mismatch"))?;
                k.encrypt_inout_detached(nonce.into(), aad, io)
                    .map(Into::into)
                    .map_err(|_| too_long())
            }
            #[cfg(feature = "aws-lc")]
            AesGcmKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                let mut tag = [0u8; GCM_TAG_LEN];
                k.seal_out_of_place_scatter(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    pt,
                    out,
                    &[],
                    &mut tag,
                )
                .map_err(|_| too_long())?;
                Ok(tag)
            }
        }
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
        let ok = match self {
            AesGcmKey::RustCrypto(k) => k
                .decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into())
                .is_ok(),
            #[cfg(feature = "aws-lc")]
            AesGcmKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                k.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    tag,
                    buf,
                )
                .is_ok()
            }
        };
        if !ok {
            buf.fill(0);
            return Err(Error::auth());
        }
        Ok(())
    }

    /// Decrypts `ct` into `out` (same length) after verifying `tag`: one
    /// pass, no copy of the ciphertext. On failure `out` is untouched
    /// (RustCrypto checks the tag before decrypting) or zeroed (AWS-LC
    /// decrypts while it authenticates, then clears the output).
    pub(crate) fn open_to(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; GCM_TAG_LEN],
        out: &mut [u8],
    ) -> Result<()> {
        let ok = match self {
            AesGcmKey::RustCrypto(k) => match aes_gcm::aead::inout::InOutBuf::new(ct, out) {
                Ok(io) => k
                    .decrypt_inout_detached(nonce.into(), aad, io, tag.into())
                    .is_ok(),
                Err(_) => false,
            },
            #[cfg(feature = "aws-lc")]
            AesGcmKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                k.open_separate_gather(
                    Nonce::assume_unique_for_key(*nonce),
                    Aad::from(aad),
                    ct,
                    tag,
                    out,
                )
                .is_ok()
            }
        };
        if !ok {
            #[cfg(feature = "aws-lc")]
            if matches!(self, AesGcmKey::AwsLc(_)) {
                // AWS-LC already cleared it; make sure.
                out.fill(0);
            }
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

/// A P-256 private scalar (ECDSA or ECDH), with what each use needs
/// computed once: the public point, and the provider's key objects.
pub(crate) struct P256Secret {
    sk: p256::SecretKey,
    public: P256Public,
    imp: P256Imp,
}

enum P256Imp {
    RustCrypto(p256::ecdsa::SigningKey),
    #[cfg(feature = "aws-lc")]
    AwsLc(Box<AwsLcP256>),
}

#[cfg(feature = "aws-lc")]
struct AwsLcP256 {
    sign: aws_lc_rs::signature::EcdsaKeyPair,
    agree: aws_lc_rs::agreement::PrivateKey,
    verify: aws_lc_rs::signature::ParsedPublicKey,
}

impl P256Secret {
    fn from_secret(provider: CryptoProvider, sk: p256::SecretKey) -> Result<P256Secret> {
        let public = P256Public::new(sk.public_key());
        let imp = match provider {
            CryptoProvider::RustCrypto => P256Imp::RustCrypto((&sk).into()),
            #[cfg(feature = "aws-lc")]
            CryptoProvider::AwsLc => {
                use aws_lc_rs::{agreement, signature};
                let bad = |_| Error::internal("AWS-LC rejected a valid P-256 key");
                let scalar = sk.to_bytes();
                let point = public.to_sec1_uncompressed();
                let sign = signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &scalar,
                    &point,
                )
                .map_err(bad)?;
                let agree = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &scalar)
                    .map_err(|_| Error::internal("AWS-LC rejected a valid P-256 key"))?;
                let verify =
                    signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                        .map_err(bad)?;
                P256Imp::AwsLc(Box::new(AwsLcP256 {
                    sign,
                    agree,
                    verify,
                }))
            }
        };
        Ok(P256Secret { sk, public, imp })
    }

    pub(crate) fn generate(provider: CryptoProvider) -> Result<P256Secret> {
        // Rejection-sample a scalar from OS randomness: `from_slice` rejects
        // zero and values >= n.
        loop {
            let mut bytes = SecretBytes::zeroed(32);
            fill_random(bytes.expose_secret_mut())?;
            if let Ok(sk) = p256::SecretKey::from_slice(bytes.expose_secret()) {
                return P256Secret::from_secret(provider, sk);
            }
        }
    }

    /// A key for the process's default provider.
    #[cfg(feature = "hazmat")]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<P256Secret> {
        P256Secret::with_provider(CryptoProvider::get_default(), bytes)
    }

    pub(crate) fn with_provider(provider: CryptoProvider, bytes: &[u8]) -> Result<P256Secret> {
        if bytes.len() != 32 {
            return Err(Error::invalid("a P-256 private key is 32 bytes"));
        }
        let sk = p256::SecretKey::from_slice(bytes)
            .map_err(|_| Error::invalid("P-256 private key out of range"))?;
        P256Secret::from_secret(provider, sk)
    }

    pub(crate) fn to_bytes(&self) -> SecretBytes {
        let b = self.sk.to_bytes();
        SecretBytes::from_slice(&b)
    }

    pub(crate) fn public_key(&self) -> P256Public {
        self.public.clone()
    }

    pub(crate) fn sign_fixed(&self, msg: &[u8]) -> Result<[u8; 64]> {
        match &self.imp {
            P256Imp::RustCrypto(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                Ok(sig.to_bytes().into())
            }
            #[cfg(feature = "aws-lc")]
            P256Imp::AwsLc(k) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let sig = k
                    .sign
                    .sign(&rng, msg)
                    .map_err(|_| Error::internal("AWS-LC ECDSA signing failed"))?;
                let mut out = [0u8; 64];
                check_len("a P-256 signature", sig.as_ref().len(), 64)?;
                out.copy_from_slice(sig.as_ref());
                Ok(out)
            }
        }
    }

    pub(crate) fn sign_der(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let fixed = self.sign_fixed(msg)?;
        let sig = p256::ecdsa::Signature::from_slice(&fixed)
            .map_err(|_| Error::internal("signature out of range"))?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    /// Verifies with this key's public point (cached provider objects).
    pub(crate) fn verify_fixed(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        match &self.imp {
            P256Imp::RustCrypto(_) => self.public.verify_rustcrypto(msg, &fixed_sig(sig)?),
            #[cfg(feature = "aws-lc")]
            P256Imp::AwsLc(k) => aws_lc_verify(&k.verify, msg, &fixed_sig(sig)?),
        }
    }

    pub(crate) fn verify_der(&self, msg: &[u8], sig: &[u8]) -> Result<()> {
        match &self.imp {
            P256Imp::RustCrypto(_) => self.public.verify_rustcrypto(msg, &der_sig(sig)?),
            #[cfg(feature = "aws-lc")]
            P256Imp::AwsLc(k) => aws_lc_verify(&k.verify, msg, &der_sig(sig)?),
        }
    }

    /// The raw ECDH shared secret (the x-coordinate), SEC 1 §3.3.1.
    pub(crate) fn diffie_hellman(&self, peer: &P256Public) -> Result<SecretBytes> {
        match &self.imp {
            P256Imp::RustCrypto(_) => {
                let shared =
                    p256::ecdh::diffie_hellman(self.sk.to_nonzero_scalar(), peer.key.as_affine());
                Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
            }
            #[cfg(feature = "aws-lc")]
            P256Imp::AwsLc(k) => {
                use aws_lc_rs::agreement;
                let point = peer.to_sec1_uncompressed();
                agreement::agree(
                    &k.agree,
                    agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &point),
                    Error::internal("AWS-LC ECDH failed on a validated point"),
                    |secret| Ok(SecretBytes::from_slice(secret)),
                )
            }
        }
    }
}

/// A signature as `p256` parses it: one strict parser (range checks, DER
/// strictness) for every provider.
fn fixed_sig(sig: &[u8]) -> Result<p256::ecdsa::Signature> {
    p256::ecdsa::Signature::from_slice(sig).map_err(|_| Error::auth())
}

fn der_sig(sig: &[u8]) -> Result<p256::ecdsa::Signature> {
    p256::ecdsa::DerSignature::from_bytes(sig)
        .ok()
        .and_then(|d| p256::ecdsa::Signature::try_from(d).ok())
        .ok_or_else(Error::auth)
}

#[cfg(feature = "aws-lc")]
fn aws_lc_verify(
    key: &aws_lc_rs::signature::ParsedPublicKey,
    msg: &[u8],
    sig: &p256::ecdsa::Signature,
) -> Result<()> {
    key.verify_sig(msg, &sig.to_bytes())
        .map_err(|_| Error::auth())
}

/// A P-256 public point, validated on the curve and not the identity.
#[derive(Clone)]
pub(crate) struct P256Public {
    key: p256::PublicKey,
    /// AWS-LC's parsed form, made on first verification.
    #[cfg(feature = "aws-lc")]
    aws_lc: std::sync::OnceLock<Option<aws_lc_rs::signature::ParsedPublicKey>>,
}

impl PartialEq for P256Public {
    fn eq(&self, other: &P256Public) -> bool {
        self.key == other.key
    }
}

impl Eq for P256Public {}

impl P256Public {
    fn new(key: p256::PublicKey) -> P256Public {
        P256Public {
            key,
            #[cfg(feature = "aws-lc")]
            aws_lc: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn from_sec1(bytes: &[u8]) -> Result<P256Public> {
        p256::PublicKey::from_sec1_bytes(bytes)
            .map(P256Public::new)
            .map_err(|_| Error::malformed("not a valid P-256 point in SEC 1 encoding"))
    }

    pub(crate) fn from_spki_der(der: &[u8]) -> Result<P256Public> {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_der(der)
            .map(P256Public::new)
            .map_err(|_| Error::malformed("not a P-256 SubjectPublicKeyInfo"))
    }

    pub(crate) fn from_spki_pem(pem: &str) -> Result<P256Public> {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_pem(pem)
            .map(P256Public::new)
            .map_err(|_| Error::malformed("not a P-256 SubjectPublicKeyInfo PEM"))
    }

    pub(crate) fn to_sec1_uncompressed(&self) -> Vec<u8> {
        self.key.to_sec1_bytes().into_vec()
    }

    pub(crate) fn to_spki_der(&self) -> Result<Vec<u8>> {
        use p256::pkcs8::EncodePublicKey;
        self.key
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::internal("SPKI encoding failed"))
    }

    pub(crate) fn to_spki_pem(&self) -> Result<String> {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| Error::internal("SPKI PEM encoding failed"))
    }

    fn verify_rustcrypto(&self, msg: &[u8], sig: &p256::ecdsa::Signature) -> Result<()> {
        let vk: p256::ecdsa::VerifyingKey = self.key.into();
        vk.verify(msg, sig).map_err(|_| Error::auth())
    }

    fn verify_with(
        &self,
        provider: CryptoProvider,
        msg: &[u8],
        sig: &p256::ecdsa::Signature,
    ) -> Result<()> {
        match provider {
            CryptoProvider::RustCrypto => self.verify_rustcrypto(msg, sig),
            #[cfg(feature = "aws-lc")]
            CryptoProvider::AwsLc => {
                use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
                let parsed = self.aws_lc.get_or_init(|| {
                    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.to_sec1_uncompressed()).ok()
                });
                match parsed {
                    Some(k) => aws_lc_verify(k, msg, sig),
                    None => Err(Error::internal("AWS-LC rejected a valid P-256 point")),
                }
            }
        }
    }

    pub(crate) fn verify_fixed(
        &self,
        provider: CryptoProvider,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        self.verify_with(provider, msg, &fixed_sig(sig)?)
    }

    pub(crate) fn verify_der(
        &self,
        provider: CryptoProvider,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<()> {
        self.verify_with(provider, msg, &der_sig(sig)?)
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

#[cfg(test)]
// A test fails by panicking; `expect` says where.
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// Every provider's four AES-GCM entry points agree with each other and
    /// with every other provider, and a failed open leaves zeros.
    #[test]
    fn aes_gcm_entry_points_agree_across_providers() {
        let key = [9u8; 32];
        let nonce = [3u8; GCM_NONCE_LEN];
        let pt: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut sealed = Vec::new();
        for p in CryptoProvider::ALL {
            let k = AesGcmKey::with_provider(*p, &key).expect("key");
            let mut a = pt.clone();
            let tag_a = k.seal_in_place(&nonce, b"ad", &mut a).expect("seal");
            let mut b = vec![0u8; pt.len()];
            let tag_b = k.seal_to(&nonce, b"ad", &pt, &mut b).expect("seal_to");
            assert_eq!((&a, tag_a), (&b, tag_b));
            sealed.push((a, tag_a));
        }
        // Same key, nonce and input: the same bytes from every provider.
        assert!(sealed.windows(2).all(|w| w[0] == w[1]));
        let (ct, tag) = &sealed[0];
        for p in CryptoProvider::ALL {
            let k = AesGcmKey::with_provider(*p, &key).expect("key");
            let mut a = ct.clone();
            k.open_in_place(&nonce, b"ad", &mut a, tag).expect("open");
            let mut b = vec![0u8; ct.len()];
            k.open_to(&nonce, b"ad", ct, tag, &mut b).expect("open_to");
            assert_eq!((&a, &b), (&pt, &pt));
            let mut c = ct.clone();
            assert!(k.open_in_place(&nonce, b"AD", &mut c, tag).is_err());
            assert!(c.iter().all(|x| *x == 0));
            let mut d = vec![0xAAu8; ct.len()];
            assert!(k.open_to(&nonce, b"AD", ct, tag, &mut d).is_err());
            // Never unauthenticated plaintext: RustCrypto checks the tag
            // before it writes; AWS-LC clears what it wrote.
            let left = if *p == CryptoProvider::RustCrypto {
                0xAA
            } else {
                0
            };
            assert!(d.iter().all(|x| *x == left), "{p}");
            // Mismatched lengths are refused, not truncated.
            let mut short = vec![0u8; ct.len() - 1];
            assert!(k.open_to(&nonce, b"ad", ct, tag, &mut short).is_err());
            assert!(k.seal_to(&nonce, b"ad", &pt, &mut short).is_err());
        }
    }
}
