//! Key versions in records of their own, so that adding one writes one
//! small record instead of re-sealing every version (issue 13: rotation
//! flat in the number of versions).
//!
//! Layout (record ids; every value sealed with its id bound in):
//!
//! - `key/<id>`: the key's metadata without its versions, and a [`Chain`]:
//!   the number of versions and a hash chain over their records;
//! - `ver/<id>/<n>` (`n` zero-padded to 10 digits, so ids sort by number):
//!   one version's metadata ([`VersionInfo`]) and its material, or no
//!   material once destroyed (the record stays, so the chain covers it).
//!
//! The chain binds the version records to the key record: `head_0 =
//! SHA-256("keylife version chain v1" ‖ key id)`, `head_n = SHA-256(head_(n-1)
//! ‖ SHA-256(plaintext of version n))`. A version record that is missing,
//! extra, or an older copy of itself (a restored usage count, material
//! brought back after destruction) changes the chain, and the key refuses
//! to load (`Integrity`). The key record itself is protected as before: its
//! generation goes into the audit log with every write. Hashing plaintexts
//! (inside sealed records) keeps the chain unchanged when a KEK rotation
//! re-seals records.
//!
//! Every write of a version record commits with a compare-and-swap of its
//! key record, so the two never disagree after a crash. Appending a version
//! or changing the last one (usage reservations) costs one hash; changing
//! an older one (compromise, destruction) re-hashes the versions after it.
//!
//! Records written before this layout (`key/<id>` holding every version
//! inline, no chain) still load; their first change writes them in this
//! layout.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::backend::{Expect, WriteOp};
use super::record::{Loaded, StoredMaterial};
use super::{CellData, KeyStore, key_record_id};
use crate::base::secret::{SecretBytes, to_json_secret};
use crate::base::{Error, ErrorKind, KeyId, Result};
use crate::key::{KeyInfo, VersionInfo};

/// Record id prefix of version records.
pub(crate) const VERSION_PREFIX: &str = "ver/";

/// A hash of the chain.
pub(crate) type Digest32 = [u8; 32];

/// `ver/<id>/`: the prefix of one key's version records.
pub(super) fn version_prefix(id: &KeyId) -> String {
    format!("{VERSION_PREFIX}{id}/")
}

/// `ver/<id>/<n>`, `n` zero-padded (ids sort by version number).
pub(super) fn version_record_id(id: &KeyId, n: u32) -> String {
    format!("{VERSION_PREFIX}{id}/{n:010}")
}

/// The key and version a version record id names.
pub(crate) fn parse_version_record_id(rid: &str) -> Option<(KeyId, u32)> {
    let rest = rid.strip_prefix(VERSION_PREFIX)?;
    let (id, n) = rest.split_once('/')?;
    if n.len() != 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id.parse().ok()?, n.parse().ok()?))
}

/// What a key record in this layout says about its versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Chain {
    /// Number of versions (records `ver/<id>/1` ..= `ver/<id>/count`).
    pub(crate) count: u32,
    /// The chain's last head.
    #[serde(with = "crate::base::encoding::hex32")]
    pub(crate) head: Digest32,
}

/// The chain's start for key `id`.
pub(crate) fn chain_start(id: &KeyId) -> Digest32 {
    let mut h = Sha256::new();
    h.update(b"keylife version chain v1");
    h.update(id.to_string().as_bytes());
    h.finalize().into()
}

/// The next head after a version record whose plaintext hashes to `item`.
pub(crate) fn chain_next(head: &Digest32, item: &Digest32) -> Digest32 {
    let mut h = Sha256::new();
    h.update(head);
    h.update(item);
    h.finalize().into()
}

/// The hash of a version record's plaintext.
pub(crate) fn item_hash(plaintext: &[u8]) -> Digest32 {
    Sha256::digest(plaintext).into()
}

/// Heads after each version, from `items` (one hash per version).
pub(crate) fn heads_of(id: &KeyId, items: &[Digest32]) -> Vec<Digest32> {
    let mut head = chain_start(id);
    items
        .iter()
        .map(|item| {
            head = chain_next(&head, item);
            head
        })
        .collect()
}

/// A version record's plaintext, borrowed for encoding.
#[derive(Serialize)]
struct StoredVersionRef<'a> {
    version: &'a VersionInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<KeyRef<'a>>,
}

#[derive(Serialize)]
#[serde(transparent)]
struct KeyRef<'a>(#[serde(serialize_with = "super::record::ser_b64")] &'a [u8]);

/// A version record's plaintext, decoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredVersion {
    pub(crate) version: VersionInfo,
    #[serde(default)]
    key: Option<KeyOwned>,
}

#[derive(Deserialize)]
#[serde(transparent)]
struct KeyOwned(#[serde(deserialize_with = "super::record::de_b64")] SecretBytes);

impl StoredVersion {
    /// The version's material, if it has any.
    pub(crate) fn into_parts(self) -> (VersionInfo, Option<SecretBytes>) {
        (self.version, self.key.map(|k| k.0))
    }
}

/// The plaintext of version `v`'s record, with its material when it has
/// any.
pub(crate) fn encode(v: &VersionInfo, material: Option<&Loaded>) -> Result<SecretBytes> {
    to_json_secret(&StoredVersionRef {
        version: v,
        key: material.map(|m| KeyRef(m.raw.expose_secret())),
    })
}

/// Decodes version record `rid` (already opened), which must be version
/// `n`.
pub(crate) fn decode(rid: &str, n: u32, plain: &[u8]) -> Result<StoredVersion> {
    let v: StoredVersion = serde_json::from_slice(plain).map_err(|e| {
        // serde's text is left out: it can quote the input.
        Error::new(
            ErrorKind::Integrity,
            format!(
                "record {rid} does not decode (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if v.version.number != n {
        return Err(Error::new(
            ErrorKind::Integrity,
            format!("record {rid} holds version {}", v.version.number),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_sort_by_number_and_parse_back() {
        let id = KeyId::random().unwrap_or_else(|e| panic!("{e}"));
        let a = version_record_id(&id, 9);
        let b = version_record_id(&id, 10);
        assert!(a < b, "{a} {b}");
        assert!(a.starts_with(&version_prefix(&id)));
        assert_eq!(parse_version_record_id(&b), Some((id, 10)));
        assert_eq!(parse_version_record_id(&format!("ver/{id}/10")), None);
        assert_eq!(parse_version_record_id("ver/x/0000000001"), None);
    }

    #[test]
    fn the_chain_depends_on_every_item_and_its_order() {
        let id = KeyId::random().unwrap_or_else(|e| panic!("{e}"));
        let other = KeyId::random().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (item_hash(b"a"), item_hash(b"b"));
        let ab = heads_of(&id, &[a, b]);
        assert_eq!(ab.len(), 2);
        assert_ne!(ab, heads_of(&id, &[b, a]));
        assert_ne!(ab[1], heads_of(&other, &[a, b])[1]);
        assert_eq!(ab[1], chain_next(&ab[0], &b));
        assert_ne!(heads_of(&id, &[a])[0], heads_of(&id, &[a, a])[1]);
    }
}

/// The writes of one change of a key (its key record first, then the
/// version records that changed) and how the chain changes with them:
/// applied to the cell only once the commit succeeded
/// ([`KeyWrites::apply`]), and without copying the chain, so a change
/// costs what it changes, not what the key holds.
pub(super) struct KeyWrites {
    pub(super) ops: Vec<WriteOp>,
    /// (index, new hash) of each version record written.
    changed: Vec<(usize, Digest32)>,
    /// The number of versions after the change.
    len: usize,
    /// Heads from index `first` on.
    first: usize,
    tail: Vec<Digest32>,
}

impl KeyWrites {
    /// Brings a cell's version hashes and heads (`items`, `heads`, as they
    /// were when the writes were made) to the state the commit wrote.
    pub(super) fn apply(self, items: &mut Vec<Digest32>, heads: &mut Vec<Digest32>) {
        items.resize(self.len, [0; 32]);
        for (i, item) in self.changed {
            if let Some(slot) = items.get_mut(i) {
                *slot = item;
            }
        }
        heads.truncate(self.first);
        heads.extend(self.tail);
    }
}

impl KeyStore {
    /// Seals key `info` at `generation` in the split layout: the key record
    /// (written with `key_expect`) and every version record that differs
    /// from `prev` — all of them for a new key or one still stored inline.
    /// `material` holds each version's material after the change.
    pub(super) fn key_writes(
        &self,
        generation: u64,
        info: &mut KeyInfo,
        material: &[Option<&Loaded>],
        prev: Option<&CellData>,
        key_expect: Expect,
    ) -> Result<KeyWrites> {
        let n = info.versions.len();
        if material.len() != n {
            return Err(Error::internal("versions and material disagree"));
        }
        let sealer = self.sealer()?;
        let id = info.id;
        let prev = prev.filter(|p| p.split && p.items.len() == p.info.versions.len());
        let old_versions = prev.map_or(&[][..], |p| &p.info.versions[..]);
        let old_material = prev.map_or(&[][..], |p| &p.material[..]);
        let old_items = prev.map_or(&[][..], |p| &p.items[..]);
        let old_heads = prev.map_or(&[][..], |p| &p.heads[..]);
        let mut changed: Vec<(usize, Digest32)> = Vec::with_capacity(1);
        let mut version_ops = Vec::with_capacity(1);
        for (i, (v, m)) in info.versions.iter().zip(material).enumerate() {
            let same = old_versions.get(i) == Some(v)
                && old_material
                    .get(i)
                    .is_some_and(|o| o.is_some() == m.is_some());
            if same {
                continue;
            }
            let number = u32::try_from(i + 1).map_err(|_| Error::internal("too many versions"))?;
            let plain = encode(v, *m)?;
            changed.push((i, item_hash(plain.expose_secret())));
            let rid = version_record_id(&id, number);
            let value = sealer.seal(&rid, plain.expose_secret())?;
            version_ops.push(WriteOp::Put {
                id: rid,
                value,
                expect: Expect::Any,
            });
        }
        // Heads before the first change stay; the rest are re-chained.
        let first = changed
            .first()
            .map_or(n, |(i, _)| *i)
            .min(old_heads.len())
            .min(n);
        let mut head = match first.checked_sub(1) {
            Some(i) => old_heads
                .get(i)
                .copied()
                .unwrap_or_else(|| chain_start(&id)),
            None => chain_start(&id),
        };
        let mut tail = Vec::with_capacity(n - first);
        let mut next_changed = changed.iter().peekable();
        for i in first..n {
            while next_changed.peek().is_some_and(|(j, _)| *j < i) {
                next_changed.next();
            }
            let item = match next_changed.peek() {
                Some((j, item)) if *j == i => *item,
                _ => *old_items
                    .get(i)
                    .ok_or_else(|| Error::internal("version hash missing"))?,
            };
            head = chain_next(&head, &item);
            tail.push(head);
        }
        let chain = Chain {
            count: u32::try_from(n).map_err(|_| Error::internal("too many versions"))?,
            head,
        };
        let versions = std::mem::take(&mut info.versions);
        let plain = super::record::encode_split(generation, info, &chain);
        info.versions = versions;
        let plain = plain?;
        let rid = key_record_id(&id);
        let value = sealer.seal(&rid, plain.expose_secret())?;
        let mut ops = Vec::with_capacity(1 + version_ops.len());
        ops.push(WriteOp::Put {
            id: rid,
            value,
            expect: key_expect,
        });
        ops.extend(version_ops);
        Ok(KeyWrites {
            ops,
            changed,
            len: n,
            first,
            tail,
        })
    }

    /// Reads key `id`'s version records and checks them against the
    /// `chain` its key record holds: exactly `chain.count` records,
    /// numbered 1 up without a gap, chaining to `chain.head`.
    pub(super) fn read_versions(&self, id: &KeyId, chain: &Chain) -> Result<ReadVersions> {
        let sealer = self.sealer()?;
        let mismatch = |what: String| {
            Error::new(
                ErrorKind::Integrity,
                format!("the version records of key {id} do not match its key record: {what}"),
            )
        };
        let mut out = ReadVersions::default();
        let mut head = chain_start(id);
        self.scan_prefix(&version_prefix(id), |rid, rec| {
            let n = u32::try_from(out.versions.len() + 1)
                .map_err(|_| Error::internal("too many versions"))?;
            if n > chain.count {
                return Err(mismatch(format!(
                    "record {rid} is beyond its {} versions",
                    chain.count
                )));
            }
            if rid != version_record_id(id, n) {
                return Err(mismatch(format!("version {n} is missing (found {rid})")));
            }
            let plain = sealer.open(rid, &rec.value)?;
            let item = item_hash(plain.expose_secret());
            head = chain_next(&head, &item);
            let (v, key) = decode(rid, n, plain.expose_secret())?.into_parts();
            if let Some(key) = key {
                out.material.push(StoredMaterial { version: n, key });
            }
            out.versions.push(v);
            out.items.push(item);
            Ok(())
        })?;
        if out.versions.len() != usize::try_from(chain.count).unwrap_or(usize::MAX) {
            return Err(mismatch(format!(
                "{} of its {} version records exist",
                out.versions.len(),
                chain.count
            )));
        }
        if head != chain.head {
            return Err(mismatch(
                "a version record was replaced by another copy of itself (an older one?)"
                    .to_owned(),
            ));
        }
        Ok(out)
    }
}

/// What [`KeyStore::read_versions`] found.
#[derive(Default)]
pub(super) struct ReadVersions {
    pub(super) versions: Vec<VersionInfo>,
    pub(super) material: Vec<StoredMaterial>,
    pub(super) items: Vec<Digest32>,
}
