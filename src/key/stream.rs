//! The keylife streaming ciphertext format, version 1: large messages in
//! segments, each sealed on its own, in constant memory.
//!
//! ```text
//! offset  size  field
//! 0       1     format (0x02: keylife stream, version 1)
//! 1       1     algorithm (0x01 = AES-256-GCM)
//! 2       16    key id
//! 18      4     key version, big-endian u32 (>= 1)
//! 22      4     segment size: plaintext bytes per segment, big-endian u32
//!               (4 KiB ..= 16 MiB)
//! 26      32    salt (random, per stream)
//! 58      7     nonce prefix (random, per stream)
//! 65      ...   segments: each full one is segment-size bytes of ciphertext
//!               and a 16-byte GCM tag; the last is shorter (0 ..= segment
//!               size bytes, then its tag)
//! ```
//!
//! The construction is Tink's AES-GCM-HKDF streaming AEAD (and age's
//! STREAM): a per-stream key, then one nonce per segment.
//!
//! - **Per-stream key** = HKDF-SHA-256(ikm = the key version's material,
//!   salt = the salt, info = `"keylife-stream-v1"` ‖ bytes 0..26 of the
//!   header ‖ the caller's associated data), 32 bytes. The key, version,
//!   segment size and associated data are bound into the key; a random
//!   salt makes it unique per stream, so segments of two streams never
//!   share a key and cannot be swapped between them.
//! - **Segment nonce** = nonce prefix (7) ‖ segment index (big-endian u32)
//!   ‖ last-segment flag (1 byte: 1 for the last segment, else 0). Reordering
//!   changes an index, truncation at a segment boundary leaves a last segment
//!   whose flag says otherwise, and appending after the last segment makes
//!   it a middle one: each fails authentication.
//! - Each segment is AES-256-GCM with empty associated data. A stream has
//!   at most 2^32 segments (4 PiB at 1 MiB).
//!
//! The first byte tells this format (0x02) from the one-shot format
//! (0x01, [`crate::key::CiphertextInfo`]).

use crate::base::{Error, ErrorKind, KeyId, Result};
use crate::crypto::GCM_TAG_LEN;

use super::types::Algorithm;

/// The streaming format's first byte.
pub const STREAM_FORMAT: u8 = 2;
/// Stream header length in bytes.
pub const STREAM_HEADER_LEN: usize = 65;
/// Bytes of the header bound into the per-stream key (format, algorithm,
/// key id, version, segment size).
pub(crate) const BOUND_LEN: usize = 26;
/// Salt length.
pub(crate) const SALT_LEN: usize = 32;
/// Nonce prefix length.
pub(crate) const PREFIX_LEN: usize = 7;
/// The default segment size: 1 MiB of plaintext.
pub const DEFAULT_SEGMENT_SIZE: u32 = 1 << 20;
/// The smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u32 = 4096;
/// The largest segment size accepted.
pub const MAX_SEGMENT_SIZE: u32 = 16 << 20;
/// The domain separator in the per-stream key's HKDF info.
pub(crate) const STREAM_INFO_LABEL: &[u8] = b"keylife-stream-v1";

/// What a stream's header says, readable without any key.
///
/// ```
/// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
/// use keylife::key::StreamInfo;
/// # let store = KeyStore::in_memory(Principal::admin("doc"))?;
/// # let key = store.create_active(KeySpec::<Aead>::new("doc"))?;
/// let mut out = Vec::new();
/// key.encrypt_stream(&mut &b"a large file"[..], &mut out, b"ctx")?;
/// let info = StreamInfo::parse(&out)?;
/// assert_eq!((info.key_id, info.key_version), (key.id(), 1));
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The algorithm of the segments.
    pub algorithm: Algorithm,
    /// The key that encrypted it.
    pub key_id: KeyId,
    /// The key version whose material derived the stream key.
    pub key_version: u32,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
}

impl StreamInfo {
    /// Parses a stream header (the first [`STREAM_HEADER_LEN`] bytes; more
    /// may follow).
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for a short header, an unknown algorithm, a
    /// zero version or a segment size out of range;
    /// [`ErrorKind::UnsupportedVersion`] when the first byte is not
    /// [`STREAM_FORMAT`].
    pub fn parse(bytes: &[u8]) -> Result<StreamInfo> {
        Ok(parse(bytes)?.info)
    }

    /// The ciphertext length of a plaintext of `len` bytes.
    #[must_use]
    pub fn ciphertext_len(&self, len: u64) -> u64 {
        let seg = u64::from(self.segment_size);
        // At least one segment: an empty stream is one empty last segment.
        let segments = len.div_ceil(seg).max(1);
        STREAM_HEADER_LEN as u64 + len + segments * GCM_TAG_LEN as u64
    }
}

pub(crate) struct Header {
    pub(crate) info: StreamInfo,
    pub(crate) bytes: [u8; STREAM_HEADER_LEN],
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) prefix: [u8; PREFIX_LEN],
}

pub(crate) fn check_segment_size(size: u32) -> Result<()> {
    if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size) {
        return Err(Error::invalid(format!(
            "segment size {size} is outside {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE}"
        )));
    }
    Ok(())
}

pub(crate) fn parse(b: &[u8]) -> Result<Header> {
    let Some(&fmt) = b.first() else {
        return Err(Error::malformed("empty stream"));
    };
    if fmt != STREAM_FORMAT {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!("stream format {fmt} (this build reads {STREAM_FORMAT})"),
        ));
    }
    if b.len() < STREAM_HEADER_LEN {
        return Err(Error::malformed(format!(
            "stream header of {} bytes is shorter than {STREAM_HEADER_LEN}",
            b.len()
        )));
    }
    let algorithm = Algorithm::from_code(b[1])
        .filter(|a| *a == Algorithm::Aes256Gcm)
        .ok_or_else(|| Error::malformed(format!("unknown stream algorithm {}", b[1])))?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&b[2..18]);
    let key_version = u32::from_be_bytes([b[18], b[19], b[20], b[21]]);
    if key_version == 0 {
        return Err(Error::malformed("key version 0 in stream header"));
    }
    let segment_size = u32::from_be_bytes([b[22], b[23], b[24], b[25]]);
    check_segment_size(segment_size).map_err(|e| Error::malformed(e.to_string()))?;
    let mut bytes = [0u8; STREAM_HEADER_LEN];
    bytes.copy_from_slice(&b[..STREAM_HEADER_LEN]);
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&b[BOUND_LEN..BOUND_LEN + SALT_LEN]);
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&b[BOUND_LEN + SALT_LEN..STREAM_HEADER_LEN]);
    Ok(Header {
        info: StreamInfo {
            algorithm,
            key_id: KeyId::from_bytes(id),
            key_version,
            segment_size,
        },
        bytes,
        salt,
        prefix,
    })
}

/// Builds a header.
pub(crate) fn header(
    id: &KeyId,
    version: u32,
    segment_size: u32,
    salt: &[u8; SALT_LEN],
    prefix: &[u8; PREFIX_LEN],
) -> Header {
    let mut bytes = [0u8; STREAM_HEADER_LEN];
    bytes[0] = STREAM_FORMAT;
    bytes[1] = Algorithm::Aes256Gcm as u8;
    bytes[2..18].copy_from_slice(id.as_bytes());
    bytes[18..22].copy_from_slice(&version.to_be_bytes());
    bytes[22..26].copy_from_slice(&segment_size.to_be_bytes());
    bytes[BOUND_LEN..BOUND_LEN + SALT_LEN].copy_from_slice(salt);
    bytes[BOUND_LEN + SALT_LEN..].copy_from_slice(prefix);
    Header {
        info: StreamInfo {
            algorithm: Algorithm::Aes256Gcm,
            key_id: *id,
            key_version: version,
            segment_size,
        },
        bytes,
        salt: *salt,
        prefix: *prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_bad_fields() {
        let id = KeyId::from_bytes([7; 16]);
        let h = header(
            &id,
            3,
            DEFAULT_SEGMENT_SIZE,
            &[1; SALT_LEN],
            &[2; PREFIX_LEN],
        );
        let p = parse(&h.bytes).expect("parses");
        assert_eq!(p.info, h.info);
        assert_eq!((p.salt, p.prefix), ([1; SALT_LEN], [2; PREFIX_LEN]));
        let mut b = h.bytes;
        b[0] = 1;
        assert_eq!(
            parse(&b).err().map(|e| e.kind()),
            Some(ErrorKind::UnsupportedVersion)
        );
        let mut b = h.bytes;
        b[18..22].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            parse(&b).err().map(|e| e.kind()),
            Some(ErrorKind::Malformed)
        );
        let mut b = h.bytes;
        b[22..26].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(
            parse(&b).err().map(|e| e.kind()),
            Some(ErrorKind::Malformed)
        );
        assert_eq!(
            parse(&h.bytes[..64]).err().map(|e| e.kind()),
            Some(ErrorKind::Malformed)
        );
    }

    #[test]
    fn ciphertext_len_counts_one_tag_per_segment() {
        let i = StreamInfo {
            algorithm: Algorithm::Aes256Gcm,
            key_id: KeyId::from_bytes([0; 16]),
            key_version: 1,
            segment_size: 4096,
        };
        let h = STREAM_HEADER_LEN as u64;
        assert_eq!(i.ciphertext_len(0), h + 16);
        assert_eq!(i.ciphertext_len(1), h + 1 + 16);
        assert_eq!(i.ciphertext_len(4096), h + 4096 + 16);
        assert_eq!(i.ciphertext_len(4097), h + 4097 + 32);
    }
}
