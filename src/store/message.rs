//! Sealing and opening one message in keylife's ciphertext format
//! (`key/ciphertext.rs`): the header and the caller's data as associated
//! data, a fresh nonce, AES-GCM in one pass between caller buffers.

use super::CellData;
use crate::base::{Error, ErrorKind, KeyId, Result};
use crate::crypto::{AesGcmKey, GCM_NONCE_LEN};
use crate::key::VersionState;
use crate::key::ciphertext::{self, HEADER_LEN, OVERHEAD};

/// AEAD associated data: the fixed-length header, then the caller's data.
/// Small inputs are assembled on the stack (no allocation per message).
pub(super) fn with_ad<R>(header: &[u8], aad: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    const SMALL: usize = 64;
    const STACK: usize = 256;
    if aad.len() <= SMALL {
        // The common case, with less of the buffer to zero.
        let mut buf = [0u8; HEADER_LEN + SMALL];
        buf[..HEADER_LEN].copy_from_slice(header);
        buf[HEADER_LEN..HEADER_LEN + aad.len()].copy_from_slice(aad);
        f(&buf[..HEADER_LEN + aad.len()])
    } else if aad.len() <= STACK {
        let mut buf = [0u8; HEADER_LEN + STACK];
        buf[..HEADER_LEN].copy_from_slice(header);
        buf[HEADER_LEN..HEADER_LEN + aad.len()].copy_from_slice(aad);
        f(&buf[..HEADER_LEN + aad.len()])
    } else {
        f(&[header, aad].concat())
    }
}

/// `pid` is this process's id, read once per operation (the nonce pool and
/// the usage counter both check it against `fork()`).
pub(crate) fn seal_message(
    aes: &AesGcmKey,
    id: &KeyId,
    version: u32,
    pt: &[u8],
    aad: &[u8],
    pid: u32,
) -> Result<Vec<u8>> {
    let mut out = vec![0u8; OVERHEAD + pt.len()];
    seal_message_to(aes, id, version, pt, aad, pid, &mut out)?;
    Ok(out)
}

/// A ciphertext output must be exactly `OVERHEAD` bytes longer than the
/// plaintext.
pub(super) fn check_out_len(pt_len: usize, out_len: usize) -> Result<()> {
    if Some(out_len) == pt_len.checked_add(OVERHEAD) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "the ciphertext of {pt_len} bytes is {} bytes; the output has {out_len}",
        pt_len.saturating_add(OVERHEAD)
    )))
}

/// [`seal_message`] into `out`, which must be `OVERHEAD + pt.len()` bytes.
/// Encrypts straight from the input into the output (one pass); `out` is
/// only written once nothing can fail any more.
pub(crate) fn seal_message_to(
    aes: &AesGcmKey,
    id: &KeyId,
    version: u32,
    pt: &[u8],
    aad: &[u8],
    pid: u32,
    out: &mut [u8],
) -> Result<()> {
    check_out_len(pt.len(), out.len())?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    crate::crypto::nonce::fill_nonce_as(pid, &mut nonce)?;
    let header = ciphertext::header(id, version, &nonce);
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    let (body, tag_out) = rest.split_at_mut(pt.len());
    // AES-GCM checks lengths before it writes anything.
    let tag = with_ad(&header, aad, |ad| aes.seal_to(&nonce, ad, pt, body))?;
    head.copy_from_slice(&header);
    tag_out.copy_from_slice(&tag);
    Ok(())
}

pub(super) fn open_message(
    data: &CellData,
    p: &ciphertext::Parsed<'_>,
    aad: &[u8],
    allow_compromised: bool,
) -> Result<Vec<u8>> {
    let v = p.info.key_version;
    let material = if allow_compromised {
        let vi = data.info.version(v).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("key {} has no version {v}", data.info.id),
            )
        })?;
        if vi.state == VersionState::Destroyed {
            return Err(Error::new(
                ErrorKind::VersionUnavailable,
                format!("version {v} was destroyed"),
            ));
        }
        data.material(v)?
    } else {
        data.processable(v)?
    };
    let mut buf = vec![0u8; p.body.len()];
    open_into(material.aes()?, p, aad, &mut buf)?;
    Ok(buf)
}

/// Decrypts straight from the input into `out` (one pass), which must be
/// exactly the plaintext's length. On failure `out` is untouched
/// (RustCrypto verifies the tag before it decrypts) or zeroed (AWS-LC).
pub(super) fn open_into(
    aes: &AesGcmKey,
    p: &ciphertext::Parsed<'_>,
    aad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    with_ad(p.header, aad, |ad| {
        aes.open_to(&p.nonce, ad, p.body, &p.tag, out)
    })
}
