//! Backups: an encrypted bundle of chosen keys under a fresh backup key,
//! that key split k-of-n among named custodians.
//!
//! [`KeyStore::backup`](crate::KeyStore::backup) makes a [`Backup`];
//! [`KeyStore::restore`](crate::KeyStore::restore) needs the bundle and any
//! k of the custodians' share texts; [`KeyStore::restore_drill`](crate::KeyStore::restore_drill)
//! proves a backup works (decryption, integrity, key check values) without
//! importing anything.
//!
//! ```
//! use keylife::{KeyFilter, KeyStore, KeySpec, Principal, Role, purpose::Aead};
//! let store = KeyStore::in_memory(Principal::admin("ops"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("orders"))?;
//! let ct = key.encrypt(b"order #1", b"")?;
//! // Shares go only to registered custodians.
//! for c in ["carol", "dave", "erin"] {
//!     store.register_principal(&Principal::new(c, &[Role::Custodian]))?;
//! }
//! let backup = store.backup(&[key.id()], 2, &["carol", "dave", "erin"])?;
//!
//! // Later, elsewhere: two of the three custodians bring their shares.
//! let fresh = KeyStore::in_memory(Principal::admin("ops"))?;
//! let shares = [backup.shares[0].text.as_str(), backup.shares[2].text.as_str()];
//! fresh.restore_drill(&backup.bundle, &shares)?; // proves it works, imports nothing
//! let report = fresh.restore(&backup.bundle, &shares)?;
//! assert_eq!(report.restored, vec![key.id()]);
//! assert_eq!(fresh.decrypt(&ct, b"")?, b"order #1");
//! # Ok::<(), keylife::Error>(())
//! ```
//!
//! # Bundle format (keylife backup v1)
//!
//! ```text
//! header = "KLBK" | format version (1) = 1 | backup id (8) | created at (8, ms, big-endian)
//!        | key count (4, BE) | k (1) | n (1)
//!        | n × (custodian name length (1) | name, UTF-8)
//!        | sealed length (8, BE)
//! body   = nonce (12) | AES-256-GCM ciphertext of the payload | tag (16)
//! ```
//!
//! `sealed length` is the body's length, so a cut bundle is reported as
//! such. The whole header is the AES-GCM associated data (NIST SP 800-38D),
//! so no field of it can change without decryption failing. The payload is
//! JSON: every key's record exactly as the store keeps it (metadata with
//! versions and state history, the record's write generation, and the
//! material of every version that still has it; destroyed keys are
//! tombstones without material) and, per version with material, its key
//! check value ([`crate::crypto::kcv`]), rechecked on restore and in drills.
//!
//! # Share format (keylife share v1)
//!
//! ```text
//! KLS1-<backup id, 16 hex>-<k>OF<n>-<x>-<share, RFC 4648 base32 in groups of 4>-<checksum>
//! ```
//!
//! The checksum is the first 5 bytes of SHA-256 over everything before its
//! dash, in base32 (8 characters): a mistyped character is caught with
//! probability 1 − 2^-40 before any arithmetic. Parsing ignores case and
//! white space, so a share may be read aloud or split across lines. The
//! x-coordinate is public; the rest of the share reveals nothing without
//! k − 1 others.

mod ops;

use core::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::kcv::CheckValue;
use crate::key::{KeyId, Timestamp};

/// Bundle magic.
const MAGIC: &[u8; 4] = b"KLBK";
/// The bundle format this keylife writes and reads.
pub const BUNDLE_FORMAT_VERSION: u8 = 1;
/// The share text format this keylife writes and reads.
pub const SHARE_FORMAT_VERSION: u32 = 1;
/// Longest share text accepted (a 32-byte share is about 100 characters).
const MAX_SHARE_TEXT: usize = 1024;
/// Checksum bytes in a share text (40 bits, 8 base32 characters).
const CHECKSUM_LEN: usize = 5;

/// A backup's random identifier; shares name it, so a share of another
/// backup is recognised before any arithmetic. Displays as 16 upper-case
/// hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackupId(pub(crate) [u8; 8]);

impl BackupId {
    pub(crate) fn random() -> Result<BackupId> {
        let mut b = [0u8; 8];
        crate::base::random::fill_random(&mut b)?;
        Ok(BackupId(b))
    }

    /// The 8 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupId({self})")
    }
}

/// What [`KeyStore::backup`](crate::KeyStore::backup) produces: the bundle
/// to store anywhere (it is encrypted and authenticated) and one share per
/// custodian, to hand over separately.
#[non_exhaustive]
pub struct Backup {
    /// The backup's id (also in the bundle header and every share).
    pub backup_id: BackupId,
    /// The encrypted bundle.
    pub bundle: Vec<u8>,
    /// One share per custodian, in the order the custodians were named.
    pub shares: Vec<CustodianShare>,
}

impl fmt::Debug for Backup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backup")
            .field("backup_id", &self.backup_id)
            .field("bundle_len", &self.bundle.len())
            .field("shares", &self.shares)
            .finish()
    }
}

/// One custodian's share of a backup key, as printable text.
///
/// The text is sensitive (k of them open the backup): it is wiped from
/// memory on drop and `Debug` shows only its public prefix.
#[non_exhaustive]
pub struct CustodianShare {
    /// Whom it is for.
    pub custodian: String,
    /// The share in the [share format](self#share-format-keylife-share-v1).
    pub text: Zeroizing<String>,
}

impl fmt::Debug for CustodianShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // KLS1-<id>-<k>OF<n>-<x>- is public.
        let public: String = self.text.split('-').take(4).collect::<Vec<_>>().join("-");
        write!(f, "CustodianShare({}: {public}-[REDACTED])", self.custodian)
    }
}

/// What a bundle's header says (readable without any share; see
/// [`inspect_bundle`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BundleInfo {
    /// The backup's id.
    pub backup_id: BackupId,
    /// When the backup was taken (the backing-up store's clock).
    pub created_at: Timestamp,
    /// Keys in the bundle.
    pub key_count: u32,
    /// Shares needed to restore.
    pub threshold: u8,
    /// The custodians, in share order (share x = position + 1).
    pub custodians: Vec<String>,
}

/// What a restore (or drill) found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The bundle's header.
    pub bundle: BundleInfo,
    /// True for [`KeyStore::restore_drill`](crate::KeyStore::restore_drill):
    /// nothing was written, `restored` lists what a restore would write.
    pub drill: bool,
    /// Keys written (or, in a drill, that would be), in bundle order.
    pub restored: Vec<KeyId>,
    /// Keys left alone, each with the reason (a key destroyed in this
    /// store is never resurrected; an existing key is never overwritten).
    pub skipped: Vec<(KeyId, String)>,
    /// Every check value recomputed from the decrypted material and found
    /// equal to the one recorded at backup time: `(key, version, value)`.
    pub check_values: Vec<(KeyId, u32, CheckValue)>,
    /// The custodians whose shares were used.
    pub custodians_used: Vec<String>,
}

/// The public part of a share text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareInfo {
    /// The backup it belongs to.
    pub backup_id: BackupId,
    /// Shares needed.
    pub threshold: u8,
    /// Shares made.
    pub shares: u8,
    /// This share's x-coordinate (1..=n; the custodian's position).
    pub x: u8,
}

/// Checks a share text (format, version, checksum) without any store, so
/// a custodian can confirm a transcription before a restore.
///
/// ```
/// use keylife::{KeyStore, KeySpec, Principal, Role, purpose::Mac};
/// use keylife::backup::inspect_share;
/// let store = KeyStore::in_memory(Principal::admin("ops"))?;
/// # for c in ["carol", "dave"] { store.register_principal(&Principal::new(c, &[Role::Custodian]))?; }
/// let key = store.create(KeySpec::<Mac>::new("m"))?;
/// let b = store.backup(&[key.id()], 2, &["carol", "dave"])?;
/// let info = inspect_share(&b.shares[1].text.to_lowercase())?; // case does not matter
/// assert_eq!((info.backup_id, info.threshold, info.shares, info.x), (b.backup_id, 2, 2, 2));
/// # Ok::<(), keylife::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Malformed`] for text that is not a share, or whose
/// checksum does not match (a typo); [`ErrorKind::UnsupportedVersion`]
/// for a share from a newer format; [`ErrorKind::InvalidArgument`] for
/// text over 1 KiB.
pub fn inspect_share(text: &str) -> Result<ShareInfo> {
    parse_share(text).map(|s| s.info)
}

/// Reads a bundle's header (no share needed; nothing is decrypted, so the
/// header is not yet authenticated).
///
/// # Errors
/// [`ErrorKind::Malformed`] for bytes that are not a bundle or are cut
/// short; [`ErrorKind::UnsupportedVersion`] for a newer bundle format.
pub fn inspect_bundle(bundle: &[u8]) -> Result<BundleInfo> {
    parse_bundle(bundle).map(|p| p.info)
}

// ----- share text -----

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, appended to `out`; every 4 characters
/// a `-` when `grouped`.
fn base32_into(bytes: &[u8], grouped: bool, out: &mut String) {
    let (mut acc, mut bits, mut written) = (0u16, 0u32, 0usize);
    let mut push = |c: u8, out: &mut String| {
        if grouped && written > 0 && written % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(c));
        written += 1;
    };
    for &b in bytes {
        acc = (acc << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            push(B32[usize::from((acc >> bits) & 31)], out);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        push(B32[usize::from((acc << (5 - bits)) & 31)], out);
    }
}

fn base32_len(n: usize) -> usize {
    (n * 8).div_ceil(5)
}

/// Decodes base32 characters (no separators) into a zeroizing buffer.
fn base32_decode(chars: &[u8]) -> Option<SecretBytes> {
    let mut out = SecretBytes::zeroed(chars.len() * 5 / 8);
    let (mut acc, mut bits, mut i) = (0u16, 0u32, 0usize);
    for &c in chars {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u16::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.expose_secret_mut().get_mut(i)? = u8::try_from((acc >> bits) & 0xff).ok()?;
            i += 1;
        }
        acc &= (1 << bits) - 1;
    }
    // Canonical: leftover bits are zero and fewer than a byte.
    (acc == 0 && i == out.len()).then_some(out)
}

fn checksum(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut s = String::with_capacity(8);
    base32_into(&digest[..CHECKSUM_LEN], false, &mut s);
    s
}

/// Encodes one share as text (see the module's share format).
pub(crate) fn encode_share(id: &BackupId, k: u8, n: u8, x: u8, y: &[u8]) -> Zeroizing<String> {
    let b32 = base32_len(y.len());
    // Fixed capacity: a secret-bearing String must never reallocate.
    let cap = 40 + b32 + b32 / 4 + 1 + 10;
    let mut s = Zeroizing::new(String::with_capacity(cap));
    s.push_str(&format!("KLS{SHARE_FORMAT_VERSION}-{id}-{k}OF{n}-{x}-"));
    base32_into(y, true, &mut s);
    let sum = checksum(&s);
    s.push('-');
    s.push_str(&sum);
    s
}

pub(crate) struct ParsedShare {
    pub(crate) info: ShareInfo,
    pub(crate) y: SecretBytes,
}

pub(crate) fn parse_share(text: &str) -> Result<ParsedShare> {
    if text.len() > MAX_SHARE_TEXT {
        return Err(Error::invalid(format!(
            "a share text of {} bytes exceeds the {MAX_SHARE_TEXT}-byte limit",
            text.len()
        )));
    }
    let mut norm = Zeroizing::new(String::with_capacity(text.len()));
    norm.extend(
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase()),
    );
    if !norm.starts_with("KLS") {
        return Err(Error::malformed(
            "not a keylife backup share (a share starts with KLS1-)",
        ));
    }
    let (body, sum) = norm
        .rsplit_once('-')
        .ok_or_else(|| Error::malformed("not a keylife backup share: no fields"))?;
    // The checksum first: any typo, in any field, is reported as a typo.
    if !crate::crypto::ct_eq(checksum(body).as_bytes(), sum.as_bytes()) {
        return Err(Error::malformed(
            "share checksum does not match: the share was mistyped or damaged; compare it character by character with the custodian's copy",
        ));
    }
    let fields: Vec<&str> = body.split('-').collect();
    let version = fields
        .first()
        .and_then(|f| f.strip_prefix("KLS"))
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| Error::malformed("share: bad version field"))?;
    if version != SHARE_FORMAT_VERSION {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "share format version {version}; this keylife reads version {SHARE_FORMAT_VERSION}"
            ),
        ));
    }
    let [_, id, kn, x, groups @ ..] = fields.as_slice() else {
        return Err(Error::malformed("share: too few fields"));
    };
    if groups.is_empty() {
        return Err(Error::malformed("share: no share value"));
    }
    let backup_id = parse_backup_id(id)?;
    let (k, n) = kn
        .split_once("OF")
        .and_then(|(k, n)| Some((k.parse::<u8>().ok()?, n.parse::<u8>().ok()?)))
        .filter(|&(k, n)| 2 <= k && k <= n)
        .ok_or_else(|| Error::malformed(format!("share: bad threshold field {kn:?}")))?;
    let x = x
        .parse::<u8>()
        .ok()
        .filter(|&x| 1 <= x && x <= n)
        .ok_or_else(|| Error::malformed("share: bad share number"))?;
    let mut chars = Zeroizing::new(Vec::with_capacity(body.len()));
    for g in groups {
        chars.extend_from_slice(g.as_bytes());
    }
    let y = base32_decode(&chars).ok_or_else(|| Error::malformed("share: bad base32 value"))?;
    Ok(ParsedShare {
        info: ShareInfo {
            backup_id,
            threshold: k,
            shares: n,
            x,
        },
        y,
    })
}

fn parse_backup_id(s: &str) -> Result<BackupId> {
    let bad = || Error::malformed("share: the backup id is 16 hex digits");
    if s.len() != 16 {
        return Err(bad());
    }
    let mut out = [0u8; 8];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16).ok_or_else(bad)?;
        let lo = char::from(pair[1]).to_digit(16).ok_or_else(bad)?;
        *o = u8::try_from((hi << 4) | lo).map_err(|_| bad())?;
    }
    Ok(BackupId(out))
}

// ----- bundle -----

pub(crate) struct ParsedBundle<'a> {
    pub(crate) info: BundleInfo,
    /// The header bytes (the associated data).
    pub(crate) header: &'a [u8],
    /// nonce | ciphertext | tag.
    pub(crate) body: &'a [u8],
}

/// Encodes the header for `info` and a body of `sealed_len` bytes.
pub(crate) fn encode_header(info: &BundleInfo, sealed_len: usize) -> Result<Vec<u8>> {
    let mut h = Vec::with_capacity(64 + info.custodians.iter().map(|c| c.len() + 1).sum::<usize>());
    h.extend_from_slice(MAGIC);
    h.push(BUNDLE_FORMAT_VERSION);
    h.extend_from_slice(&info.backup_id.0);
    h.extend_from_slice(&info.created_at.as_millis().to_be_bytes());
    h.extend_from_slice(&info.key_count.to_be_bytes());
    h.push(info.threshold);
    let n = u8::try_from(info.custodians.len())
        .map_err(|_| Error::invalid("at most 255 custodians"))?;
    h.push(n);
    for c in &info.custodians {
        let len = u8::try_from(c.len())
            .map_err(|_| Error::invalid("a custodian name is at most 255 bytes"))?;
        h.push(len);
        h.extend_from_slice(c.as_bytes());
    }
    h.extend_from_slice(
        &u64::try_from(sealed_len)
            .map_err(|_| Error::invalid("bundle too large"))?
            .to_be_bytes(),
    );
    Ok(h)
}

/// A cursor over the header, reporting truncation precisely.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::malformed(format!(
                "backup bundle truncated: it ends inside the header ({what})"
            )));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn byte(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
}

pub(crate) fn parse_bundle(bytes: &[u8]) -> Result<ParsedBundle<'_>> {
    let mut r = Reader { bytes, pos: 0 };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::malformed(
            "not a keylife backup bundle (expected the KLBK header)",
        ));
    }
    r.take(MAGIC.len(), "magic")?;
    let version = r.byte("format version")?;
    if version > BUNDLE_FORMAT_VERSION {
        return Err(Error::new(
            ErrorKind::UnsupportedVersion,
            format!(
                "backup bundle format version {version}; this keylife reads version {BUNDLE_FORMAT_VERSION}: restore with a newer keylife"
            ),
        ));
    }
    if version == 0 {
        return Err(Error::malformed(
            "backup bundle format version 0 does not exist",
        ));
    }
    let backup_id = BackupId(r.array("backup id")?);
    let created_at = Timestamp(i64::from_be_bytes(r.array("creation time")?));
    let key_count = u32::from_be_bytes(r.array("key count")?);
    let threshold = r.byte("threshold")?;
    let n = r.byte("custodian count")?;
    if threshold < 2 || threshold > n {
        return Err(Error::malformed(format!(
            "backup bundle: a threshold of {threshold} of {n} is impossible"
        )));
    }
    let mut custodians = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = r.byte("custodian name")?;
        let name = r.take(usize::from(len), "custodian name")?;
        let name = core::str::from_utf8(name)
            .map_err(|_| Error::malformed("backup bundle: a custodian name is not UTF-8"))?;
        custodians.push(name.to_owned());
    }
    let sealed_len = u64::from_be_bytes(r.array("sealed length")?);
    let header = &bytes[..r.pos];
    let body = &bytes[r.pos..];
    let have = u64::try_from(body.len()).unwrap_or(u64::MAX);
    if have < sealed_len {
        return Err(Error::malformed(format!(
            "backup bundle truncated: {have} of {sealed_len} encrypted bytes present"
        )));
    }
    if have > sealed_len {
        return Err(Error::malformed(format!(
            "backup bundle has {} bytes after its end",
            have - sealed_len
        )));
    }
    if body.len() < crate::crypto::GCM_NONCE_LEN + crate::crypto::GCM_TAG_LEN {
        return Err(Error::malformed("backup bundle: encrypted part too short"));
    }
    Ok(ParsedBundle {
        info: BundleInfo {
            backup_id,
            created_at,
            key_count,
            threshold,
            custodians,
        },
        header,
        body,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests

    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10 (without padding).
        for (plain, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            let mut s = String::new();
            base32_into(plain.as_bytes(), false, &mut s);
            assert_eq!(s, enc);
            assert_eq!(
                base32_decode(enc.as_bytes()).unwrap().expose_secret(),
                plain.as_bytes()
            );
        }
        assert!(
            base32_decode(b"MZ").is_none(),
            "non-canonical trailing bits"
        );
        assert!(base32_decode(b"M1").is_none());
    }

    #[test]
    fn share_text_round_trip_and_every_single_typo_is_caught() {
        let id = BackupId([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
        let y: Vec<u8> = (0u8..32).collect();
        let text = encode_share(&id, 3, 5, 4, &y);
        assert!(
            text.starts_with("KLS1-DEADBEEF00010203-3OF5-4-AAAQ-"),
            "{}",
            *text
        );
        let p = parse_share(&text).unwrap();
        assert_eq!(
            p.info,
            ShareInfo {
                backup_id: id,
                threshold: 3,
                shares: 5,
                x: 4
            }
        );
        assert_eq!(p.y.expose_secret(), &y[..]);
        // Lower case and line breaks are fine.
        let relaxed = text
            .to_lowercase()
            .replace("-AAAQ-".to_lowercase().as_str(), "-aaaq-\n  ");
        assert_eq!(parse_share(&relaxed).unwrap().y.expose_secret(), &y[..]);
        // Every substitution of every character by every other share
        // character fails (a typo is never silently accepted).
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
        for (i, orig) in text.char_indices() {
            for c in alphabet.chars().filter(|&c| c != orig) {
                let mut typo = text.to_string();
                typo.replace_range(i..=i, c.encode_utf8(&mut [0; 4]));
                assert!(
                    parse_share(&typo).is_err(),
                    "typo at {i} ({orig} -> {c}) accepted"
                );
            }
        }
    }

    /// A share with a valid checksum but a newer version or a broken field
    /// is refused for that reason, not as a typo.
    #[test]
    fn newer_share_versions_and_bad_fields_are_named() {
        let with_sum = |body: &str| format!("{body}-{}", checksum(body));
        let newer = inspect_share(&with_sum("KLS2-DEADBEEF00010203-3OF5-4-AAAA")).unwrap_err();
        assert_eq!(newer.kind(), ErrorKind::UnsupportedVersion, "{newer}");
        for (body, what) in [
            ("KLS1-DEADBEEF-3OF5-4-AAAA", "backup id"),
            ("KLS1-DEADBEEF00010203-1OF5-4-AAAA", "threshold"),
            ("KLS1-DEADBEEF00010203-3OF5-6-AAAA", "share number"),
            ("KLS1-DEADBEEF00010203-3OF5-4-AA1A", "base32"),
            ("KLS1-DEADBEEF00010203-3OF5-4", "no share value"),
            ("KLS1-DEADBEEF00010203-3OF5", "too few fields"),
        ] {
            let e = inspect_share(&with_sum(body)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{body}: {e}");
            assert!(e.to_string().contains(what), "{body}: {e}");
        }
        let e = inspect_share("hello").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(e.to_string().contains("not a keylife backup share"), "{e}");
    }
}
