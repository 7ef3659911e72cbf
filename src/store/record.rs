//! The plaintext layout of a key record (sealed before storage) and the
//! in-memory form of loaded key material.

use serde::{Deserialize, Serialize};

use super::versions::Chain;
use crate::base::secret::{SecretBytes, to_json_secret};
use crate::base::{Error, Result};
use crate::crypto::provider::CryptoProvider;
use crate::crypto::{AesGcmKey, P256Secret};
use crate::key::{Algorithm, KeyInfo};

/// Prepared material of one version: raw bytes (for re-sealing) plus the
/// expanded form the primitive needs (AES key schedule, P-256 scalar).
pub(crate) struct Loaded {
    pub(crate) raw: SecretBytes,
    pub(crate) prepared: Prepared,
}

// One per key version, held in place; the size difference is irrelevant.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Prepared {
    Aes(AesGcmKey),
    P256(P256Secret),
    /// HMAC and HKDF keys are used as raw bytes.
    Raw,
}

impl Loaded {
    pub(crate) fn new(p: CryptoProvider, alg: Algorithm, raw: SecretBytes) -> Result<Loaded> {
        let prepared = match alg {
            Algorithm::Aes256Gcm => {
                Prepared::Aes(AesGcmKey::with_provider(p, raw.expose_secret())?)
            }
            Algorithm::EcdsaP256Sha256 | Algorithm::EcdhP256 => {
                Prepared::P256(P256Secret::with_provider(p, raw.expose_secret())?)
            }
            Algorithm::HmacSha256 | Algorithm::HkdfSha256 => Prepared::Raw,
        };
        Ok(Loaded { raw, prepared })
    }

    pub(crate) fn generate(p: CryptoProvider, alg: Algorithm) -> Result<Loaded> {
        let raw = match alg {
            Algorithm::EcdsaP256Sha256 | Algorithm::EcdhP256 => P256Secret::generate(p)?.to_bytes(),
            Algorithm::Aes256Gcm | Algorithm::HmacSha256 | Algorithm::HkdfSha256 => {
                SecretBytes::random(crate::crypto::SYM_KEY_LEN)?
            }
        };
        Loaded::new(p, alg, raw)
    }

    pub(crate) fn aes(&self) -> Result<&AesGcmKey> {
        match &self.prepared {
            Prepared::Aes(k) => Ok(k),
            _ => Err(Error::internal("material is not an AES key")),
        }
    }

    pub(crate) fn p256(&self) -> Result<&P256Secret> {
        match &self.prepared {
            Prepared::P256(k) => Ok(k),
            _ => Err(Error::internal("material is not a P-256 key")),
        }
    }
}

/// Serialized form, borrowed.
#[derive(Serialize)]
struct StoredKeyRef<'a> {
    /// Counts writes of this record (1 at creation). Recorded in the audit
    /// log with every write, so an older copy restored in place is caught.
    generation: u64,
    info: &'a KeyInfo,
    material: Vec<StoredMaterialRef<'a>>,
    /// Present in the split layout (`versions.rs`): the versions live in
    /// records of their own, and `info.versions` and `material` are empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    chain: Option<&'a Chain>,
}

#[derive(Serialize)]
struct StoredMaterialRef<'a> {
    version: u32,
    #[serde(serialize_with = "ser_b64")]
    key: &'a [u8],
}

pub(super) fn ser_b64<S: serde::Serializer>(
    bytes: &&[u8],
    s: S,
) -> core::result::Result<S::Ok, S::Error> {
    use base64ct::Encoding;
    // Encode into a zeroizing buffer of the exact size.
    let mut buf = SecretBytes::zeroed(base64ct::Base64::encoded_len(bytes));
    let enc = base64ct::Base64::encode(bytes, buf.expose_secret_mut())
        .map_err(serde::ser::Error::custom)?;
    s.serialize_str(enc)
}

/// Serialized form, owned.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredKey {
    pub(crate) generation: u64,
    pub(crate) info: KeyInfo,
    pub(crate) material: Vec<StoredMaterial>,
    /// See [`StoredKeyRef`]: `None` for a record with its versions inline
    /// (written before the split layout, and backup bundles).
    #[serde(default)]
    pub(crate) chain: Option<Chain>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredMaterial {
    pub(crate) version: u32,
    #[serde(deserialize_with = "de_b64")]
    pub(crate) key: SecretBytes,
}

pub(super) fn de_b64<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> core::result::Result<SecretBytes, D::Error> {
    use base64ct::Encoding;
    let s = <&str>::deserialize(d)?;
    let mut buf = SecretBytes::zeroed(s.len() / 4 * 3 + 3);
    let dec =
        base64ct::Base64::decode(s, buf.expose_secret_mut()).map_err(serde::de::Error::custom)?;
    Ok(SecretBytes::from_slice(dec))
}

/// Encodes a key record (metadata and the material of every version that
/// still has material) into a zeroizing buffer.
pub(crate) fn encode(
    generation: u64,
    info: &KeyInfo,
    material: &[(u32, &Loaded)],
) -> Result<SecretBytes> {
    let rec = StoredKeyRef {
        generation,
        info,
        material: material
            .iter()
            .map(|(v, l)| StoredMaterialRef {
                version: *v,
                key: l.raw.expose_secret(),
            })
            .collect(),
        chain: None,
    };
    to_json_secret(&rec)
}

/// Encodes a key record in the split layout: metadata without versions
/// (`info.versions` must be empty) and the chain over its version records.
pub(crate) fn encode_split(generation: u64, info: &KeyInfo, chain: &Chain) -> Result<SecretBytes> {
    if !info.versions.is_empty() {
        return Err(Error::internal("a split key record with inline versions"));
    }
    to_json_secret(&StoredKeyRef {
        generation,
        info,
        material: Vec::new(),
        chain: Some(chain),
    })
}

pub(crate) fn decode(id: &str, bytes: &[u8]) -> Result<StoredKey> {
    serde_json::from_slice(bytes)
        // The message deliberately omits serde's text, which can quote input.
        .map_err(|e| {
            Error::new(
                crate::ErrorKind::Integrity,
                format!(
                    "record {id} does not decode (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })
}
