//! Sealing records before a backend sees them, and the store header that
//! holds the (wrapped) record keys.
//!
//! Sealed record layout (version 1):
//!
//! ```text
//! 0   1   seal format version (0x01)
//! 1   4   record-key epoch, big-endian u32
//! 5   12  random nonce
//! 17  n   AES-256-GCM ciphertext of the record
//! ..  16  tag
//! ```
//!
//! Associated data: `"keylife/record/v1\0" || epoch || record id`. A record
//! moved to another id, edited, or sealed under another store's key fails to
//! open and is reported as [`ErrorKind::Integrity`] naming the record.
//!
//! The header (record `store/header`, JSON, not itself sealed) holds the
//! record keys of every live epoch, each wrapped (AES-256-GCM) under a key
//! derived from the KEK. During a KEK rotation it holds two slots — the old
//! KEK's and the new KEK's — each wrapping *all* record keys, so a process
//! killed at any point of the rotation leaves a store that opens under either
//! KEK, and the rotation resumes.

use crate::base::limits::{MAX_HEADER, MAX_RECORD, check_size};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::backend::{Backend, Expect};
use super::kek::{Kek, KekProvider};
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::{self, AesGcmKey, GCM_NONCE_LEN, GCM_TAG_LEN};

const SEAL_VERSION: u8 = 1;
const SEAL_AD_PREFIX: &[u8] = b"keylife/record/v1\0";
const PREFIX_LEN: usize = 1 + 4 + GCM_NONCE_LEN;
pub(crate) const HEADER_ID: &str = "store/header";
const STORE_FORMAT: u32 = 1;

/// Seals and opens records under the store's record keys.
pub(crate) struct Sealer {
    current: u32,
    keys: BTreeMap<u32, AesGcmKey>,
    /// The audit log's MAC key (stored as "epoch 0": wrapped like the record
    /// keys, carried across KEK rotations, never used for sealing).
    audit_key: SecretBytes,
}

impl Sealer {
    pub(crate) fn current_epoch(&self) -> u32 {
        self.current
    }

    pub(crate) fn audit_key(&self) -> &[u8] {
        self.audit_key.expose_secret()
    }

    pub(crate) fn seal(&self, id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.seal_with(self.current, id, plaintext)
    }

    fn seal_with(&self, epoch: u32, id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        // Never write a record that reading would refuse.
        check_size(
            &format!("record {id}"),
            PREFIX_LEN + plaintext.len() + GCM_TAG_LEN,
            MAX_RECORD,
            ErrorKind::InvalidArgument,
        )?;
        let key = self
            .keys
            .get(&epoch)
            .ok_or_else(|| Error::internal("no record key for epoch"))?;
        let mut nonce = [0u8; GCM_NONCE_LEN];
        crate::crypto::nonce::fill_nonce(&mut nonce)?;
        let mut out = Vec::with_capacity(PREFIX_LEN + plaintext.len() + GCM_TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = key.seal_in_place(&nonce, &ad(epoch, id), &mut out[PREFIX_LEN..])?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// The epoch a sealed record names (without opening it).
    pub(crate) fn epoch_of(sealed: &[u8]) -> Option<u32> {
        (sealed.len() >= PREFIX_LEN && sealed[0] == SEAL_VERSION)
            .then(|| u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]))
    }

    pub(crate) fn open(&self, id: &str, sealed: &[u8]) -> Result<SecretBytes> {
        let integrity = || {
            Error::new(
                ErrorKind::Integrity,
                format!("record {id} failed its integrity check"),
            )
        };
        if sealed.len() < PREFIX_LEN + GCM_TAG_LEN {
            return Err(integrity());
        }
        check_size(
            &format!("record {id}"),
            sealed.len(),
            MAX_RECORD,
            ErrorKind::Integrity,
        )?;
        if sealed[0] != SEAL_VERSION {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "record {id} uses seal format {} (this build reads {SEAL_VERSION})",
                    sealed[0]
                ),
            ));
        }
        let epoch = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let key = self.keys.get(&epoch).ok_or_else(integrity)?;
        let mut nonce = [0u8; GCM_NONCE_LEN];
        nonce.copy_from_slice(&sealed[5..PREFIX_LEN]);
        let body = &sealed[PREFIX_LEN..sealed.len() - GCM_TAG_LEN];
        let mut tag = [0u8; GCM_TAG_LEN];
        tag.copy_from_slice(&sealed[sealed.len() - GCM_TAG_LEN..]);
        let mut out = SecretBytes::from_slice(body);
        key.open_in_place(&nonce, &ad(epoch, id), out.expose_secret_mut(), &tag)
            .map_err(|_| integrity())?;
        Ok(out)
    }

    /// Re-seals `sealed` under the current epoch; `None` if already there.
    pub(crate) fn reseal(&self, id: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>> {
        if Sealer::epoch_of(sealed) == Some(self.current) {
            return Ok(None);
        }
        let plain = self.open(id, sealed)?;
        self.seal(id, plain.expose_secret()).map(Some)
    }
}

fn ad(epoch: u32, id: &str) -> Vec<u8> {
    [SEAL_AD_PREFIX, &epoch.to_be_bytes(), id.as_bytes()].concat()
}

/// One KEK's view of the record keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slot {
    kek_kind: String,
    kek_params: Vec<u8>,
    /// `epoch → record key wrapped under this KEK`.
    record_keys: BTreeMap<u32, Vec<u8>>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    format: u32,
    /// The epoch new records are sealed under.
    current_epoch: u32,
    kek: Slot,
    /// Present while a KEK rotation is under way.
    next_kek: Option<Slot>,
}

impl Header {
    pub(crate) fn rotating(&self) -> bool {
        self.next_kek.is_some()
    }
}

fn wrap_key(kek: &Kek) -> Result<AesGcmKey> {
    AesGcmKey::new(kek.subkey("record-key-wrap/v1")?.expose_secret())
}

fn wrap(kek: &Kek, epoch: u32, record_key: &SecretBytes) -> Result<Vec<u8>> {
    let w = wrap_key(kek)?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    crypto::fill_random(&mut nonce)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(record_key.expose_secret());
    let tag = w.seal_in_place(&nonce, &wrap_ad(epoch), &mut out[GCM_NONCE_LEN..])?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn unwrap(kek: &Kek, epoch: u32, wrapped: &[u8]) -> Result<SecretBytes> {
    let wrong = || {
        Error::new(
            ErrorKind::WrongKek,
            "the key-encryption key does not open this store",
        )
    };
    if wrapped.len() != GCM_NONCE_LEN + 32 + GCM_TAG_LEN {
        return Err(Error::new(
            ErrorKind::Integrity,
            "store header: a wrapped record key has the wrong length",
        ));
    }
    let w = wrap_key(kek)?;
    let mut nonce = [0u8; GCM_NONCE_LEN];
    nonce.copy_from_slice(&wrapped[..GCM_NONCE_LEN]);
    let mut tag = [0u8; GCM_TAG_LEN];
    tag.copy_from_slice(&wrapped[GCM_NONCE_LEN + 32..]);
    let mut key = SecretBytes::from_slice(&wrapped[GCM_NONCE_LEN..GCM_NONCE_LEN + 32]);
    w.open_in_place(&nonce, &wrap_ad(epoch), key.expose_secret_mut(), &tag)
        .map_err(|_| wrong())?;
    Ok(key)
}

fn wrap_ad(epoch: u32) -> Vec<u8> {
    [b"keylife/record-key/v1\0".as_slice(), &epoch.to_be_bytes()].concat()
}

fn unlock_slot(
    slot: &Slot,
    provider: &dyn KekProvider,
) -> Result<(Kek, BTreeMap<u32, SecretBytes>)> {
    let kek = provider.unlock(&slot.kek_params)?;
    let keys = unwrap_all(slot, &kek)?;
    Ok((kek, keys))
}

fn unwrap_all(slot: &Slot, kek: &Kek) -> Result<BTreeMap<u32, SecretBytes>> {
    let mut keys = BTreeMap::new();
    for (epoch, wrapped) in &slot.record_keys {
        keys.insert(*epoch, unwrap(kek, *epoch, wrapped)?);
    }
    Ok(keys)
}

const AUDIT_EPOCH: u32 = 0;

fn sealer_from(current: u32, keys: &BTreeMap<u32, SecretBytes>) -> Result<Sealer> {
    let mut out = BTreeMap::new();
    for (e, k) in keys.iter().filter(|(e, _)| **e != AUDIT_EPOCH) {
        out.insert(*e, AesGcmKey::new(k.expose_secret())?);
    }
    if !out.contains_key(&current) {
        return Err(Error::new(
            ErrorKind::Integrity,
            "store header: no record key for the current epoch",
        ));
    }
    let audit_key = keys
        .get(&AUDIT_EPOCH)
        .ok_or_else(|| Error::new(ErrorKind::Integrity, "store header: no audit key"))?
        .duplicate();
    Ok(Sealer {
        current,
        keys: out,
        audit_key,
    })
}

pub(super) fn read_header(backend: &dyn Backend) -> Result<Option<(Header, u64)>> {
    let Some(rec) = backend.get(HEADER_ID)? else {
        return Ok(None);
    };
    // Not authenticated: bounded before it is parsed.
    check_size(
        "the store header",
        rec.value.len(),
        MAX_HEADER,
        ErrorKind::Integrity,
    )?;
    // Check the format before the shape, so a newer store says so.
    #[derive(Deserialize)]
    struct Peek {
        format: u32,
    }
    let peek: Peek = serde_json::from_slice(&rec.value)
        .map_err(|_| Error::new(ErrorKind::Integrity, "store header is damaged"))?;
    if peek.format > STORE_FORMAT {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "store format {} is newer than this build ({STORE_FORMAT})",
                peek.format
            ),
        ));
    }
    if peek.format == 0 {
        // Format numbers start at 1: a 0 was written by no keylife.
        return Err(Error::new(
            ErrorKind::Integrity,
            "store header: format 0 does not exist (the header was altered)",
        ));
    }
    let header: Header = serde_json::from_slice(&rec.value)
        .map_err(|_| Error::new(ErrorKind::Integrity, "store header is damaged"))?;
    Ok(Some((header, rec.revision)))
}

fn encode(header: &Header) -> Result<Vec<u8>> {
    serde_json::to_vec(header).map_err(|e| Error::internal(format!("header encoding: {e}")))
}

/// Opens the store header with `provider` (initialising an empty store).
/// Returns the sealer and the KEK that opened it (kept for KEK rotation).
pub(crate) fn open(backend: &dyn Backend, provider: &dyn KekProvider) -> Result<(Sealer, Kek)> {
    match read_header(backend)? {
        None => {
            let params = provider.init_params()?;
            let kek = provider.unlock(&params)?;
            let mut keys = BTreeMap::new();
            keys.insert(AUDIT_EPOCH, SecretBytes::random(32)?);
            keys.insert(1, SecretBytes::random(32)?);
            let mut record_keys = BTreeMap::new();
            for (e, k) in &keys {
                record_keys.insert(*e, wrap(&kek, *e, k)?);
            }
            let header = Header {
                format: STORE_FORMAT,
                current_epoch: 1,
                kek: Slot {
                    kek_kind: provider.kind().to_owned(),
                    kek_params: params,
                    record_keys,
                },
                next_kek: None,
            };
            match backend.put(HEADER_ID, encode(&header)?, Expect::Absent) {
                Ok(_) => Ok((sealer_from(1, &keys)?, kek)),
                // Another process initialised it first: open theirs.
                Err(e) if e.kind() == ErrorKind::Conflict => open(backend, provider),
                Err(e) => Err(e),
            }
        }
        Some((header, _)) => {
            let mut last_err = None;
            for slot in std::iter::once(&header.kek).chain(header.next_kek.as_ref()) {
                if slot.kek_kind != provider.kind() {
                    continue;
                }
                match unlock_slot(slot, provider) {
                    Ok((kek, keys)) => return Ok((sealer_from(header.current_epoch, &keys)?, kek)),
                    Err(e) => last_err = Some(e),
                }
            }
            Err(last_err.unwrap_or_else(|| {
                Error::new(
                    ErrorKind::WrongKek,
                    format!(
                        "store is sealed with a '{}' KEK, not '{}'",
                        header.kek.kek_kind,
                        provider.kind()
                    ),
                )
            }))
        }
    }
}

/// Step 1 of a KEK rotation: a fresh record key (new epoch) wrapped under
/// both KEKs, and the new KEK's slot holding every record key. From here on
/// the store opens under either KEK. `old` is the KEK the store was opened
/// with (either slot's, when resuming). Returns the new sealer and new KEK.
pub(crate) fn begin_rotation(
    backend: &dyn Backend,
    old: &Kek,
    new: &dyn KekProvider,
) -> Result<(Sealer, Kek)> {
    let (mut header, rev) =
        read_header(backend)?.ok_or_else(|| Error::internal("store has no header"))?;
    if let Some(next) = &header.next_kek {
        // Resuming: the new KEK must be the one already recorded.
        let resumed = (next.kek_kind == new.kind())
            .then(|| unlock_slot(next, new))
            .transpose();
        return match resumed {
            Ok(Some((kek, keys))) => Ok((sealer_from(header.current_epoch, &keys)?, kek)),
            _ => Err(Error::new(
                ErrorKind::WrongKek,
                "a rotation to another KEK is already under way; resume it with that KEK",
            )),
        };
    }
    let old_kek = old;
    let mut keys = unwrap_all(&header.kek, old_kek)?;
    let epoch = header
        .current_epoch
        .checked_add(1)
        .ok_or_else(|| Error::internal("epoch overflow"))?;
    keys.insert(epoch, SecretBytes::random(32)?);
    let params = new.init_params()?;
    let new_kek = new.unlock(&params)?;
    let mut next_keys = BTreeMap::new();
    for (e, k) in &keys {
        next_keys.insert(*e, wrap(&new_kek, *e, k)?);
    }
    header
        .kek
        .record_keys
        .insert(epoch, wrap(old_kek, epoch, &keys[&epoch])?);
    header.next_kek = Some(Slot {
        kek_kind: new.kind().to_owned(),
        kek_params: params,
        record_keys: next_keys,
    });
    header.current_epoch = epoch;
    backend.put(HEADER_ID, encode(&header)?, Expect::Revision(rev))?;
    Ok((sealer_from(epoch, &keys)?, new_kek))
}

/// Last step: the new KEK becomes the only one, holding only the current
/// record key. Called after every record was re-sealed.
pub(crate) fn finish_rotation(backend: &dyn Backend) -> Result<()> {
    let (mut header, rev) =
        read_header(backend)?.ok_or_else(|| Error::internal("store has no header"))?;
    let Some(mut next) = header.next_kek.take() else {
        return Ok(());
    };
    next.record_keys
        .retain(|e, _| *e == header.current_epoch || *e == AUDIT_EPOCH);
    header.kek = next;
    backend.put(HEADER_ID, encode(&header)?, Expect::Revision(rev))?;
    Ok(())
}

/// Whether a KEK rotation is under way in the header.
pub(crate) fn rotation_pending(backend: &dyn Backend) -> Result<bool> {
    Ok(read_header(backend)?.is_some_and(|(h, _)| h.rotating()))
}
