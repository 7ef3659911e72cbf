//! HPKE (RFC 9180), base mode: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, and
//! AES-128-GCM or AES-256-GCM — public-key encryption to a P-256 key.
//!
//! The sender needs only the recipient's [`PublicKey`]; the recipient opens
//! with a keylife agreement key ([`Key::hpke_open`](crate::Key::hpke_open)), whose private half
//! never leaves the store. keylife's key transport
//! ([`KeyStore::export_to_recipient`](crate::KeyStore::export_to_recipient))
//! is built on this.
//!
//! ```
//! use keylife::{KeyStore, KeySpec, Principal, purpose::Agreement, hpke::{self, AeadId}};
//! let store = KeyStore::in_memory(Principal::admin("ops"))?;
//! let recipient = store.create_active(KeySpec::<Agreement>::new("inbox"))?;
//! let pk = recipient.public_key(None)?;
//! // Sender side: only the public key.
//! let (enc, ct) = hpke::seal(&pk, AeadId::Aes256Gcm, b"app v1", b"header", b"hello")?;
//! // Recipient side.
//! let pt = recipient.hpke_open(&enc, AeadId::Aes256Gcm, b"app v1", b"header", &ct)?;
//! assert_eq!(pt, b"hello");
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! Only the base mode is implemented (no PSK, no sender authentication):
//! authenticate the sender separately where it matters (keylife transport
//! binds the key's id and algorithm as associated data, and the receiver
//! checks the key check value out of band).

use core::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use zeroize::Zeroizing;

use super::public::PublicKey;
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::{GCM_NONCE_LEN, GCM_TAG_LEN, P256Public, P256Secret};

/// DHKEM(P-256, HKDF-SHA256) (RFC 9180 §7.1).
const KEM_ID: u16 = 0x0010;
/// HKDF-SHA256 (RFC 9180 §7.2).
const KDF_ID: u16 = 0x0001;
/// Length of `enc`: an uncompressed SEC 1 P-256 point (Nenc).
pub const ENC_LEN: usize = 65;
/// Nsecret and Nh for this KEM and KDF.
const NH: usize = 32;
/// Largest message [`seal`] and [`RecipientContext::open`] accept (16 MiB).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// The AEAD of the suite (RFC 9180 §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum AeadId {
    /// AES-128-GCM (aead_id 1). Supported for interoperability; keylife's
    /// own transport uses AES-256-GCM.
    Aes128Gcm = 1,
    /// AES-256-GCM (aead_id 2).
    Aes256Gcm = 2,
}

impl AeadId {
    fn key_len(self) -> usize {
        match self {
            AeadId::Aes128Gcm => 16,
            AeadId::Aes256Gcm => 32,
        }
    }

    /// The RFC 9180 `aead_id`.
    #[must_use]
    pub fn id(self) -> u16 {
        self as u16
    }
}

fn kem_suite_id() -> [u8; 5] {
    let k = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', k[0], k[1]]
}

fn hpke_suite_id(aead: AeadId) -> [u8; 10] {
    let k = KEM_ID.to_be_bytes();
    let f = KDF_ID.to_be_bytes();
    let a = aead.id().to_be_bytes();
    [b'H', b'P', b'K', b'E', k[0], k[1], f[0], f[1], a[0], a[1]]
}

/// LabeledExtract (RFC 9180 §4): HKDF-Extract = HMAC(salt, ikm) (RFC 5869
/// §2.2; an empty salt is HashLen zeros, which HMAC's zero padding makes
/// the same key).
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; NH]> {
    Zeroizing::new(crate::crypto::hmac_sha256(
        salt,
        &[b"HPKE-v1", suite_id, label, ikm],
    ))
}

/// LabeledExpand (RFC 9180 §4) over HKDF-Expand (RFC 5869 §2.3).
fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    len: usize,
) -> Result<SecretBytes> {
    let l = u16::try_from(len)
        .ok()
        .filter(|l| *l > 0 && usize::from(*l) <= 255 * NH)
        .ok_or_else(|| Error::invalid("HPKE expand length must be 1..=8160 bytes"))?
        .to_be_bytes();
    let mut out = SecretBytes::zeroed(len);
    let mut prev = Zeroizing::new([0u8; NH]);
    let mut prev_len = 0;
    for (i, chunk) in out.expose_secret_mut().chunks_mut(NH).enumerate() {
        let counter = [u8::try_from(i + 1).map_err(|_| Error::internal("HKDF counter"))?];
        let t = Zeroizing::new(crate::crypto::hmac_sha256(
            prk,
            &[
                &prev[..prev_len],
                &l,
                b"HPKE-v1",
                suite_id,
                label,
                info,
                &counter,
            ],
        ));
        chunk.copy_from_slice(&t[..chunk.len()]);
        *prev = *t;
        prev_len = NH;
    }
    Ok(out)
}

/// ExtractAndExpand of DHKEM (RFC 9180 §4.1).
fn extract_and_expand(dh: &[u8], kem_context: &[u8]) -> Result<SecretBytes> {
    let sid = kem_suite_id();
    let prk = labeled_extract(&sid, b"", b"eae_prk", dh);
    labeled_expand(&sid, &*prk, b"shared_secret", kem_context, NH)
}

/// Deserializes `enc` (RFC 9180 §7.1.1): exactly an uncompressed point,
/// on the curve and not the identity.
fn parse_enc(enc: &[u8]) -> Result<P256Public> {
    if enc.len() != ENC_LEN || enc.first() != Some(&0x04) {
        return Err(Error::malformed(format!(
            "HPKE enc must be a {ENC_LEN}-byte uncompressed P-256 point, got {} bytes",
            enc.len()
        )));
    }
    P256Public::from_sec1(enc)
}

// One per context, held in place; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum AeadKey {
    A128(aes_gcm::Aes128Gcm),
    A256(aes_gcm::Aes256Gcm),
}

impl AeadKey {
    fn new(aead: AeadId, key: &[u8]) -> Result<AeadKey> {
        let bad = |_| Error::internal("HPKE AEAD key length");
        Ok(match aead {
            AeadId::Aes128Gcm => {
                AeadKey::A128(aes_gcm::Aes128Gcm::new_from_slice(key).map_err(bad)?)
            }
            AeadId::Aes256Gcm => {
                AeadKey::A256(aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?)
            }
        })
    }

    fn seal(&self, nonce: &[u8; GCM_NONCE_LEN], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(pt.len() + GCM_TAG_LEN);
        out.extend_from_slice(pt);
        let tag = match self {
            AeadKey::A128(k) => {
                k.encrypt_inout_detached(nonce.into(), aad, out.as_mut_slice().into())
            }
            AeadKey::A256(k) => {
                k.encrypt_inout_detached(nonce.into(), aad, out.as_mut_slice().into())
            }
        }
        .map_err(|_| Error::invalid("message too long for AES-GCM"))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens into `buf` (ciphertext without tag, decrypted in place); on
    /// failure `buf` is zeroed.
    fn open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        let tag: &[u8; GCM_TAG_LEN] = tag.try_into().map_err(|_| Error::auth())?;
        let res = match self {
            AeadKey::A128(k) => k.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()),
            AeadKey::A256(k) => k.decrypt_inout_detached(nonce.into(), aad, buf.into(), tag.into()),
        };
        if res.is_err() {
            buf.fill(0);
            return Err(Error::auth());
        }
        Ok(())
    }
}

/// The key schedule's output and the message sequence (RFC 9180 §5.1,
/// §5.2). Secrets are zeroized on drop.
struct Schedule {
    aead: AeadKey,
    base_nonce: [u8; GCM_NONCE_LEN],
    seq: u64,
    exporter_secret: SecretBytes,
    suite_id: [u8; 10],
    /// Kept for the test-vector hook only (shared_secret, key).
    #[cfg_attr(not(feature = "hazmat"), allow(dead_code))]
    vector_values: (SecretBytes, SecretBytes),
}

impl Drop for Schedule {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.base_nonce);
    }
}

/// KeySchedule for mode_base (RFC 9180 §5.1): empty psk and psk_id.
fn key_schedule(aead: AeadId, shared_secret: SecretBytes, info: &[u8]) -> Result<Schedule> {
    const MODE_BASE: u8 = 0;
    let sid = hpke_suite_id(aead);
    let psk_id_hash = labeled_extract(&sid, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&sid, b"", b"info_hash", info);
    let mut ctx = [0u8; 1 + 2 * NH];
    ctx[0] = MODE_BASE;
    ctx[1..=NH].copy_from_slice(&*psk_id_hash);
    ctx[1 + NH..].copy_from_slice(&*info_hash);
    let secret = labeled_extract(&sid, shared_secret.expose_secret(), b"secret", b"");
    let key = labeled_expand(&sid, &*secret, b"key", &ctx, aead.key_len())?;
    let nonce = labeled_expand(&sid, &*secret, b"base_nonce", &ctx, GCM_NONCE_LEN)?;
    let exporter_secret = labeled_expand(&sid, &*secret, b"exp", &ctx, NH)?;
    let mut base_nonce = [0u8; GCM_NONCE_LEN];
    base_nonce.copy_from_slice(nonce.expose_secret());
    Ok(Schedule {
        aead: AeadKey::new(aead, key.expose_secret())?,
        base_nonce,
        seq: 0,
        exporter_secret,
        suite_id: sid,
        vector_values: (shared_secret, key),
    })
}

impl Schedule {
    /// ComputeNonce (RFC 9180 §5.2) and IncrementSeq: refuses to wrap.
    fn next_nonce(&mut self) -> Result<[u8; GCM_NONCE_LEN]> {
        if self.seq == u64::MAX {
            return Err(Error::new(
                ErrorKind::UsageLimitExceeded,
                "HPKE context message limit reached",
            ));
        }
        let mut nonce = self.base_nonce;
        for (n, s) in nonce[GCM_NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        self.seq += 1;
        Ok(nonce)
    }

    fn export(&self, exporter_context: &[u8], len: usize) -> Result<SecretBytes> {
        labeled_expand(
            &self.suite_id,
            self.exporter_secret.expose_secret(),
            b"sec",
            exporter_context,
            len,
        )
    }
}

/// The sender's context: seals a sequence of messages to one recipient.
pub struct SenderContext(Schedule);

/// The recipient's context: opens the sender's messages, in order.
pub struct RecipientContext(Schedule);

impl fmt::Debug for SenderContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SenderContext(seq {})", self.0.seq)
    }
}

impl fmt::Debug for RecipientContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientContext(seq {})", self.0.seq)
    }
}

fn check_size(what: &str, len: usize) -> Result<()> {
    if len > MAX_MESSAGE {
        return Err(Error::invalid(format!(
            "HPKE {what} of {len} bytes exceeds the {MAX_MESSAGE}-byte limit"
        )));
    }
    Ok(())
}

impl SenderContext {
    /// Seals the next message (RFC 9180 §5.2 `ContextS.Seal`): returns
    /// `ciphertext || tag`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] above [`MAX_MESSAGE`];
    /// [`ErrorKind::UsageLimitExceeded`] when the sequence is exhausted.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        check_size("plaintext", plaintext.len())?;
        let nonce = self.0.next_nonce()?;
        self.0.aead.seal(&nonce, aad, plaintext)
    }

    /// A secret exported from the context (RFC 9180 §5.3), `len` bytes.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a length outside 1..=8160.
    pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<SecretBytes> {
        self.0.export(exporter_context, len)
    }

    /// The key-schedule values RFC 9180's vectors list:
    /// `(shared_secret, key, base_nonce, exporter_secret)`.
    #[doc(hidden)]
    #[cfg(feature = "hazmat")]
    #[must_use]
    pub fn values_for_test_vectors(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
        let s = &self.0;
        (
            s.vector_values.0.expose_secret().to_vec(),
            s.vector_values.1.expose_secret().to_vec(),
            s.base_nonce.to_vec(),
            s.exporter_secret.expose_secret().to_vec(),
        )
    }
}

impl RecipientContext {
    /// Opens the next message (RFC 9180 §5.2 `ContextR.Open`). A failure
    /// does not advance the sequence.
    ///
    /// # Errors
    /// [`ErrorKind::AuthenticationFailed`] for a wrong key, context, order
    /// or altered data (one opaque kind); [`ErrorKind::InvalidArgument`]
    /// above [`MAX_MESSAGE`].
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        self.open_secret(aad, ciphertext)
            .map(|s| s.expose_secret().to_vec())
    }

    /// As [`RecipientContext::open`], into zeroizing memory (for keys).
    pub(crate) fn open_secret(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<SecretBytes> {
        check_size("ciphertext", ciphertext.len())?;
        let body_len = ciphertext
            .len()
            .checked_sub(GCM_TAG_LEN)
            .ok_or_else(Error::auth)?;
        let (body, tag) = ciphertext.split_at(body_len);
        let seq = self.0.seq;
        let nonce = self.0.next_nonce()?;
        let mut buf = SecretBytes::from_slice(body);
        if let Err(e) = self.0.aead.open(&nonce, aad, buf.expose_secret_mut(), tag) {
            self.0.seq = seq;
            return Err(e);
        }
        Ok(buf)
    }

    /// A secret exported from the context (RFC 9180 §5.3).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a length outside 1..=8160.
    pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<SecretBytes> {
        self.0.export(exporter_context, len)
    }
}

fn setup_sender_with(
    sk_e: &P256Secret,
    pk_r: &PublicKey,
    aead: AeadId,
    info: &[u8],
) -> Result<(Vec<u8>, SenderContext)> {
    // Encap (RFC 9180 §4.1).
    let dh = sk_e.diffie_hellman(pk_r.inner())?;
    let enc = sk_e.public_key().to_sec1_uncompressed();
    let pk_rm = pk_r.inner().to_sec1_uncompressed();
    let kem_context = [enc.as_slice(), pk_rm.as_slice()].concat();
    let shared = extract_and_expand(dh.expose_secret(), &kem_context)?;
    Ok((enc, SenderContext(key_schedule(aead, shared, info)?)))
}

pub(crate) fn setup_recipient_with(
    sk_r: &P256Secret,
    enc: &[u8],
    aead: AeadId,
    info: &[u8],
) -> Result<RecipientContext> {
    // Decap (RFC 9180 §4.1).
    let pk_e = parse_enc(enc)?;
    let dh = sk_r.diffie_hellman(&pk_e)?;
    let pk_rm = sk_r.public_key().to_sec1_uncompressed();
    let kem_context = [enc, pk_rm.as_slice()].concat();
    let shared = extract_and_expand(dh.expose_secret(), &kem_context)?;
    Ok(RecipientContext(key_schedule(aead, shared, info)?))
}

/// SetupBaseS (RFC 9180 §5.1.1) with a fresh ephemeral key: returns `enc`
/// (65 bytes, to send) and the sender context.
///
/// ```
/// # use keylife::{KeyStore, KeySpec, Principal, purpose::Agreement, hpke::{self, AeadId}};
/// # let store = KeyStore::in_memory(Principal::admin("ops"))?;
/// # let recipient = store.create_active(KeySpec::<Agreement>::new("inbox"))?;
/// let (enc, mut ctx) = hpke::setup_sender(&recipient.public_key(None)?, AeadId::Aes256Gcm, b"stream")?;
/// let m0 = ctx.seal(b"", b"first")?;
/// let m1 = ctx.seal(b"", b"second")?;
/// let mut rx = recipient.hpke_setup_recipient(&enc, AeadId::Aes256Gcm, b"stream")?;
/// assert_eq!(rx.open(b"", &m0)?, b"first");
/// assert_eq!(rx.open(b"", &m1)?, b"second");
/// # Ok::<(), keylife::Error>(())
/// ```
///
/// # Errors
/// Only if the OS random source fails.
pub fn setup_sender(
    recipient: &PublicKey,
    aead: AeadId,
    info: &[u8],
) -> Result<(Vec<u8>, SenderContext)> {
    // The ephemeral key runs on the recipient key's provider.
    let sk_e = P256Secret::generate(recipient.provider())?;
    setup_sender_with(&sk_e, recipient, aead, info)
}

/// Single-shot `Seal` (RFC 9180 §6.1): returns `(enc, ciphertext)`.
///
/// # Errors
/// As [`setup_sender`] and [`SenderContext::seal`].
pub fn seal(
    recipient: &PublicKey,
    aead: AeadId,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    check_size("plaintext", plaintext.len())?;
    let (enc, mut ctx) = setup_sender(recipient, aead, info)?;
    let ct = ctx.seal(aad, plaintext)?;
    Ok((enc, ct))
}

/// SetupBaseS with a caller-chosen ephemeral private key, for RFC 9180's
/// known-answer vectors only.
///
/// # Security warning
/// Reusing an ephemeral key for two messages to one recipient reuses the
/// AEAD key and nonce sequence. Use [`setup_sender`].
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an invalid scalar.
#[doc(hidden)]
#[cfg(feature = "hazmat")]
pub fn seal_with_ephemeral_for_test_vectors(
    ephemeral_secret: &[u8],
    recipient: &PublicKey,
    aead: AeadId,
    info: &[u8],
) -> Result<(Vec<u8>, SenderContext)> {
    let sk_e = P256Secret::from_bytes(ephemeral_secret)?;
    setup_sender_with(&sk_e, recipient, aead, info)
}

/// SetupBaseR with a raw recipient private key, for known-answer vectors.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an invalid scalar;
/// [`ErrorKind::Malformed`] for a bad `enc`.
#[doc(hidden)]
#[cfg(feature = "hazmat")]
pub fn setup_recipient_with_secret_for_test_vectors(
    recipient_secret: &[u8],
    enc: &[u8],
    aead: AeadId,
    info: &[u8],
) -> Result<RecipientContext> {
    let sk_r = P256Secret::from_bytes(recipient_secret)?;
    setup_recipient_with(&sk_r, enc, aead, info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_validation() {
        assert!(parse_enc(&[0u8]).is_err()); // infinity
        let mut off = [0u8; ENC_LEN];
        off[0] = 4;
        off[64] = 1;
        assert_eq!(
            parse_enc(&off).map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::Malformed)
        );
    }
}
