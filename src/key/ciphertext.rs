//! The keylife ciphertext format, version 1.
//!
//! ```text
//! offset  size  field
//! 0       1     format version (0x01)
//! 1       1     algorithm (0x01 = AES-256-GCM)
//! 2       16    key id
//! 18      4     key version, big-endian u32 (>= 1)
//! 22      12    nonce (96 bits, NIST SP 800-38D §8.2.2 random construction)
//! 34      n     ciphertext (same length as the plaintext)
//! 34+n    16    GCM tag
//! ```
//!
//! The AEAD's associated data is the 34-byte header (bytes 0..34) followed by
//! the caller's associated data. The header has a fixed length, so the
//! concatenation is unambiguous; because it is authenticated, a ciphertext
//! cannot be moved to another key, version, algorithm or context. The key and
//! version are read from the header, so decryption finds its key in O(1) —
//! no trial decryption. Overhead: 50 bytes per message.

use crate::base::{Error, ErrorKind, Result};
use crate::crypto::{GCM_NONCE_LEN, GCM_TAG_LEN};

use super::types::Algorithm;
use crate::base::KeyId;

/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Header length in bytes (format, algorithm, key id, version, nonce).
pub const HEADER_LEN: usize = 1 + 1 + 16 + 4 + GCM_NONCE_LEN;
/// Total bytes a ciphertext adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + GCM_TAG_LEN;

/// What a ciphertext's header says, readable without any key.
///
/// ```
/// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
/// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
/// # let key = store.create(KeySpec::<Aead>::new("doc"))?.activate()?;
/// let ct = key.encrypt(b"hi", b"ctx")?;
/// let info = keylife::CiphertextInfo::parse(&ct)?;
/// assert_eq!(info.key_id, key.id());
/// assert_eq!(info.key_version, 1);
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CiphertextInfo {
    /// Format version (1).
    pub format_version: u8,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Key id.
    pub key_id: KeyId,
    /// Key version.
    pub key_version: u32,
}

impl CiphertextInfo {
    /// Parses the header of a keylife ciphertext.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for truncated input or an unknown algorithm or
    /// a zero version; [`ErrorKind::UnsupportedVersion`] for a newer format.
    pub fn parse(ct: &[u8]) -> Result<CiphertextInfo> {
        Ok(parse(ct)?.info)
    }
}

pub(crate) struct Parsed<'a> {
    pub(crate) info: CiphertextInfo,
    pub(crate) header: &'a [u8],
    pub(crate) nonce: [u8; GCM_NONCE_LEN],
    pub(crate) body: &'a [u8],
    pub(crate) tag: [u8; GCM_TAG_LEN],
}

pub(crate) fn parse(ct: &[u8]) -> Result<Parsed<'_>> {
    let Some(&fmt) = ct.first() else {
        return Err(Error::malformed("empty ciphertext"));
    };
    if fmt != FORMAT_VERSION {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!("ciphertext format version {fmt} (this build reads {FORMAT_VERSION})"),
        ));
    }
    if ct.len() < OVERHEAD {
        return Err(Error::malformed(format!(
            "ciphertext of {} bytes is shorter than the {OVERHEAD}-byte minimum",
            ct.len()
        )));
    }
    let algorithm = Algorithm::from_code(ct[1])
        .filter(|a| *a == Algorithm::Aes256Gcm)
        .ok_or_else(|| Error::malformed(format!("unknown ciphertext algorithm {}", ct[1])))?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&ct[2..18]);
    let key_version = u32::from_be_bytes([ct[18], ct[19], ct[20], ct[21]]);
    if key_version == 0 {
        return Err(Error::malformed("key version 0 in ciphertext header"));
    }
    let mut nonce = [0u8; GCM_NONCE_LEN];
    nonce.copy_from_slice(&ct[22..HEADER_LEN]);
    let tag_at = ct.len() - GCM_TAG_LEN;
    let mut tag = [0u8; GCM_TAG_LEN];
    tag.copy_from_slice(&ct[tag_at..]);
    Ok(Parsed {
        info: CiphertextInfo {
            format_version: fmt,
            algorithm,
            key_id: KeyId::from_bytes(id),
            key_version,
        },
        header: &ct[..HEADER_LEN],
        nonce,
        body: &ct[HEADER_LEN..tag_at],
        tag,
    })
}

/// Writes a header into `out[..HEADER_LEN]`.
pub(crate) fn header(id: &KeyId, version: u32, nonce: &[u8; GCM_NONCE_LEN]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let (fixed, rest) = h.split_at_mut(2);
    fixed.copy_from_slice(&[FORMAT_VERSION, Algorithm::Aes256Gcm as u8]);
    let (kid, rest) = rest.split_at_mut(id.as_bytes().len());
    kid.copy_from_slice(id.as_bytes());
    let (ver, n) = rest.split_at_mut(4);
    ver.copy_from_slice(&version.to_be_bytes());
    n.copy_from_slice(nonce);
    h
}
