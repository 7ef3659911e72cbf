//! The segment engine of streaming AEAD: a per-stream AES-256-GCM key from
//! HKDF-SHA-256, one nonce per segment (prefix ‖ index ‖ last flag), and
//! the loops that move segments between a reader and a writer in constant
//! memory. The byte format is `key::stream`'s; this module knows only
//! keys, nonces and segment lengths.

use std::io::{Read, Write};

use super::provider::CryptoProvider;
use super::{AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN, SYM_KEY_LEN, hkdf_sha256};
use crate::base::{Error, ErrorKind, Result};

/// A per-stream key and nonce prefix.
pub(crate) struct SegmentKey {
    aes: AesGcmKey,
    prefix: [u8; 7],
}

impl SegmentKey {
    /// Derives the per-stream key: HKDF-SHA-256(ikm, salt, info), 32 bytes.
    pub(crate) fn derive(
        provider: CryptoProvider,
        ikm: &[u8],
        salt: &[u8],
        info: &[u8],
        prefix: [u8; 7],
    ) -> Result<SegmentKey> {
        let k = hkdf_sha256(ikm, salt, info, SYM_KEY_LEN)?;
        Ok(SegmentKey {
            aes: AesGcmKey::with_provider(provider, k.expose_secret())?,
            prefix,
        })
    }

    fn nonce(&self, index: u32, last: bool) -> [u8; GCM_NONCE_LEN] {
        let mut n = [0u8; GCM_NONCE_LEN];
        n[..7].copy_from_slice(&self.prefix);
        n[7..11].copy_from_slice(&index.to_be_bytes());
        n[11] = u8::from(last);
        n
    }
}

fn io_err(what: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Storage, format!("stream {what}: {e}"))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("read", &e)),
        }
    }
    Ok(n)
}

/// Reads the next chunk of `want` bytes (after a carried byte, if any) and
/// tells whether the input ends right after it — by reading one byte
/// ahead, carried into the next chunk.
fn next_chunk(
    r: &mut dyn Read,
    buf: &mut [u8],
    want: usize,
    carry: &mut Option<u8>,
) -> Result<(usize, bool)> {
    let mut n = 0;
    if let Some(b) = carry.take() {
        buf[0] = b;
        n = 1;
    }
    n += read_full(r, &mut buf[n..want])?;
    if n < want {
        return Ok((n, true));
    }
    let mut one = [0u8; 1];
    match read_full(r, &mut one)? {
        0 => Ok((n, true)),
        _ => {
            *carry = Some(one[0]);
            Ok((n, false))
        }
    }
}

fn too_many() -> Error {
    Error::invalid("a stream holds at most 2^32 segments: use a larger segment size")
}

/// Encrypts everything `r` yields into segments of `segment` plaintext
/// bytes, written to `w`. Returns the plaintext length.
pub(crate) fn seal_stream(
    key: &SegmentKey,
    segment: usize,
    r: &mut dyn Read,
    w: &mut dyn Write,
) -> Result<u64> {
    let mut buf = vec![0u8; segment + GCM_TAG_LEN];
    let mut carry = None;
    let mut total = 0u64;
    let mut index: u32 = 0;
    loop {
        let (n, last) = next_chunk(r, &mut buf, segment, &mut carry)?;
        let tag = key
            .aes
            .seal_in_place(&key.nonce(index, last), &[], &mut buf[..n])?;
        buf[n..n + GCM_TAG_LEN].copy_from_slice(&tag);
        w.write_all(&buf[..n + GCM_TAG_LEN])
            .map_err(|e| io_err("write", &e))?;
        total += n as u64;
        if last {
            break;
        }
        index = index.checked_add(1).ok_or_else(too_many)?;
    }
    buf.fill(0);
    w.flush().map_err(|e| io_err("write", &e))?;
    Ok(total)
}

/// Decrypts segments from `r` into `w`, each written only once it
/// authenticates. Returns the plaintext length. A stream that fails —
/// tampered, truncated, reordered, extended — fails with
/// [`ErrorKind::AuthenticationFailed`] naming the segment; segments
/// before it were already written, so the caller discards the output.
pub(crate) fn open_stream(
    key: &SegmentKey,
    segment: usize,
    r: &mut dyn Read,
    w: &mut dyn Write,
) -> Result<u64> {
    let mut buf = vec![0u8; segment + GCM_TAG_LEN];
    let mut carry = None;
    let mut total = 0u64;
    let mut index: u32 = 0;
    loop {
        let (n, last) = next_chunk(r, &mut buf, segment + GCM_TAG_LEN, &mut carry)?;
        if n < GCM_TAG_LEN {
            return Err(Error::new(
                ErrorKind::AuthenticationFailed,
                format!("stream truncated: segment {index} has {n} bytes, less than a tag"),
            ));
        }
        let body = n - GCM_TAG_LEN;
        let mut tag = [0u8; GCM_TAG_LEN];
        tag.copy_from_slice(&buf[body..n]);
        key.aes
            .open_in_place(&key.nonce(index, last), &[], &mut buf[..body], &tag)
            .map_err(|_| {
                Error::new(
                    ErrorKind::AuthenticationFailed,
                    format!(
                        "stream segment {index} failed authentication (tampered, truncated, \
                         reordered or extended stream, or other associated data)"
                    ),
                )
            })?;
        w.write_all(&buf[..body]).map_err(|e| io_err("write", &e))?;
        total += body as u64;
        if last {
            break;
        }
        index = index.checked_add(1).ok_or_else(too_many)?;
    }
    buf.fill(0);
    w.flush().map_err(|e| io_err("write", &e))?;
    Ok(total)
}
