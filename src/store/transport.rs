//! Key transport between stores and to other parties; key check values;
//! envelope encryption (data keys).
//!
//! # Transport format (keylife transported key v1)
//!
//! ```text
//! header (26 bytes) = "KLT1" | mode (1) | algorithm (1) | key id (16) | version (4, big-endian)
//! mode 1, HPKE:     header | enc (65) | HPKE ciphertext of the material (+16 tag)
//! mode 2, AES-KWP:  header | AES-KWP(KEK, header | material)
//! ```
//!
//! HPKE is RFC 9180 base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
//! AES-256-GCM, `info` = `"keylife key transport v1"`, and the header as
//! associated data. AES-KWP has no associated data, so the header is
//! wrapped with the material and compared on unwrap. Either way the key's
//! id, algorithm and version cannot be changed in transit without the
//! import failing.

use core::fmt;

use super::destinations::Destination;
use super::{Key, KeyCell, KeyStore, Loaded, authorize};
use crate::base::secret::SecretBytes;
use crate::base::{Error, ErrorKind, Result};
use crate::crypto::P256Secret;
use crate::crypto::hpke::{self, AeadId};
use crate::crypto::kcv::CheckValue;
use crate::crypto::wrap::{WrapMode, WrappingKey};
use crate::key::Operation;
use crate::key::{
    Active, Aead, Agreement, Algorithm, KeyId, KeyPurpose, KeySpec, KeyState, Origin, PreActive,
    PublicKey,
};

const MAGIC: &[u8; 4] = b"KLT1";
const HEADER_LEN: usize = 4 + 1 + 1 + 16 + 4;
const MODE_HPKE: u8 = 1;
const MODE_KWP: u8 = 2;
/// HPKE `info` of keylife key transport.
pub const TRANSPORT_INFO: &[u8] = b"keylife key transport v1";
/// Largest transported key keylife accepts (material is at most 1 KiB).
const MAX_TRANSPORTED: usize = 4096;

/// A key exported for transport: the bytes to send, and the key check
/// value to give the receiver by another channel.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportedKey {
    /// The transported key (not secret: only the recipient can open it).
    pub bytes: Vec<u8>,
    /// The key check value of the exported version's material.
    pub check_value: CheckValue,
    /// The exported key's id (in this store).
    pub key_id: KeyId,
    /// The exported version.
    pub version: u32,
}

/// A data key (envelope encryption): the plaintext to use now and the
/// wrapped copy to store beside the data.
#[non_exhaustive]
pub struct DataKey {
    /// The data key, in zeroizing memory. Use it, then drop it.
    pub plaintext: SecretBytes,
    /// The data key encrypted under the key-encryption key (a keylife
    /// ciphertext: it names the key and version that can unwrap it).
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DataKey({} bytes, wrapped {} bytes)",
            self.plaintext.len(),
            self.wrapped.len()
        )
    }
}

fn header(mode: u8, alg: Algorithm, id: &KeyId, version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = mode;
    h[5] = alg as u8;
    h[6..22].copy_from_slice(id.as_bytes());
    h[22..].copy_from_slice(&version.to_be_bytes());
    h
}

struct Parsed<'a> {
    header: &'a [u8],
    mode: u8,
    alg: Algorithm,
    body: &'a [u8],
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    if bytes.len() > MAX_TRANSPORTED {
        return Err(Error::invalid(format!(
            "a transported key of {} bytes exceeds the {MAX_TRANSPORTED}-byte limit",
            bytes.len()
        )));
    }
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(Error::malformed(
            "not a keylife transported key (expected the KLT1 header)",
        ));
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    let alg = Algorithm::from_code(header[5]).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!("transported key names unknown algorithm {}", header[5]),
        )
    })?;
    Ok(Parsed {
        header,
        mode: header[4],
        alg,
        body,
    })
}

impl KeyStore {
    /// Runs `f` on the P-256 secret of `cell` (an Active agreement key),
    /// with the checks and audit of an agreement.
    pub(crate) fn with_agreement_secret<R>(
        &self,
        cell: &KeyCell,
        version: Option<u32>,
        f: impl FnOnce(&P256Secret) -> Result<R>,
    ) -> Result<R> {
        let mut used = None;
        let res = (|| {
            authorize(&self.principal, Operation::Agree)?;
            self.prepare(cell)?;
            let data = cell.read()?;
            crate::key::lifecycle::check_use(&data.info, Operation::Agree)?;
            super::governance::check_grant(
                &self.principal,
                Operation::Agree,
                &data.info,
                self.now(),
            )?;
            let v = version.unwrap_or(data.info.primary_version);
            used = Some(v);
            f(data.processable(v)?.p256()?)
        })();
        self.audit(
            Operation::Agree,
            Some(cell.id),
            used,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }

    /// The governed export path: exportable keys only, Export permission,
    /// approvals per policy, never Compromised or Destroyed; always
    /// audited (with `how` as the reason).
    fn export_with(
        &self,
        cell: &KeyCell,
        version: Option<u32>,
        dest: &Destination<'_>,
        how: &str,
        f: impl FnOnce(Algorithm, u32, &Loaded) -> Result<Vec<u8>>,
    ) -> Result<ExportedKey> {
        let mut used = None;
        let res = (|| {
            authorize(&self.principal, Operation::Export)?;
            // Before any material is read or approval spent.
            self.check_destination(dest)?;
            self.prepare(cell)?;
            let data = cell.read()?;
            let (v, m) = self.export_gate(cell, &data, version)?;
            used = Some(v);
            let bytes = f(data.info.algorithm, v, m)?;
            Ok(ExportedKey {
                bytes,
                check_value: CheckValue::of(m.raw.expose_secret()),
                key_id: cell.id,
                version: v,
            })
        })();
        let outcome = res.as_ref().map(|_| ()).map_err(Clone::clone);
        self.audit_as(
            &self.principal,
            Operation::Export,
            Some(cell.id),
            used,
            outcome,
            Some(how),
        )?;
        res
    }

    /// Exports one version (the primary when `None`) of key `id`, encrypted
    /// to `recipient` with HPKE (RFC 9180; see the module format). Only keys
    /// created [`KeySpec::exportable`], only administrators, with the
    /// approvals the policy requires for export; always audited.
    ///
    /// The receiver gets the material of that one version as a new key
    /// (its own id, version 1). keylife ciphertexts name their key id and
    /// version, so data encrypted under the original is moved with a
    /// backup and restore, which keep both; transport is for handing a
    /// key to another party or system.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, purpose::{Agreement, Mac}};
    /// let here = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let partner = KeyStore::in_memory(Principal::admin("partner-ops"))?;
    /// let inbox = partner.create_active(KeySpec::<Agreement>::new("transport-inbox"))?;
    /// let key = here.create_active(KeySpec::<Mac>::new("webhooks").exportable(true))?;
    /// let tag = key.mac(b"event 42")?;
    ///
    /// here.trust_recipient("partner", &inbox.public_key(None)?)?; // under dual control
    /// let sent = here.export_to_recipient(&key.id(), None, &inbox.public_key(None)?)?;
    /// let (copy, kcv) = partner.import_from_sender(KeySpec::<Mac>::new("webhooks"), &sent.bytes, &inbox)?;
    /// kcv.verify(&sent.check_value)?; // compared out of band
    /// copy.activate()?.verify_mac(b"event 42", &tag)?;
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Policy`] if not exportable;
    /// [`ErrorKind::PermissionDenied`]; [`ErrorKind::ApprovalRequired`];
    /// [`ErrorKind::WrongState`] for compromised or destroyed keys;
    /// [`ErrorKind::VersionUnavailable`].
    pub fn export_to_recipient(
        &self,
        id: &KeyId,
        version: Option<u32>,
        recipient: &PublicKey,
    ) -> Result<ExportedKey> {
        let cell = self.cell(id)?;
        self.export_with(
            &cell,
            version,
            &Destination::Recipient(recipient),
            "transport: HPKE P-256 AES-256-GCM",
            |alg, v, m| {
                let h = header(MODE_HPKE, alg, id, v);
                let (enc, ct) = hpke::seal(
                    recipient,
                    AeadId::Aes256Gcm,
                    TRANSPORT_INFO,
                    &h,
                    m.raw.expose_secret(),
                )?;
                Ok([&h[..], &enc, &ct].concat())
            },
        )
    }

    /// Exports one version of key `id` wrapped under a shared
    /// [`WrappingKey`] with AES-KWP (RFC 5649). Governed and audited as
    /// [`KeyStore::export_to_recipient`].
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, purpose::{Derivation, Mac}};
    /// let site_a = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let site_b = KeyStore::in_memory(Principal::admin("ops"))?;
    /// // The receiving site's wrapping key (a store refuses one derived
    /// // from its own keys, which it could open itself, without hazmat).
    /// let root_b = site_b.create_active(KeySpec::<Derivation>::new("transport-root"))?;
    /// let kek = root_b.derive_wrapping_key(b"batch 7")?;
    /// site_a.trust_wrapping_key("site-b batch 7", &kek)?; // under dual control
    /// let mac = site_a.create_active(KeySpec::<Mac>::new("webhooks").exportable(true))?;
    /// let sent = site_a.export_wrapped(&mac.id(), None, &kek)?;
    /// let (copy, kcv) = site_b.import_wrapped(KeySpec::<Mac>::new("webhooks"), &sent.bytes, &kek)?;
    /// assert_eq!(kcv, sent.check_value);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`KeyStore::export_to_recipient`].
    pub fn export_wrapped(
        &self,
        id: &KeyId,
        version: Option<u32>,
        kek: &WrappingKey,
    ) -> Result<ExportedKey> {
        let cell = self.cell(id)?;
        self.export_with(
            &cell,
            version,
            &Destination::Wrapping(kek),
            "transport: AES-KWP",
            |alg, v, m| {
                let h = header(MODE_KWP, alg, id, v);
                let mut inner = SecretBytes::zeroed(HEADER_LEN + m.raw.len());
                inner.expose_secret_mut()[..HEADER_LEN].copy_from_slice(&h);
                inner.expose_secret_mut()[HEADER_LEN..].copy_from_slice(m.raw.expose_secret());
                let w = kek.wrap(WrapMode::Kwp, inner.expose_secret())?;
                Ok([&h[..], &w].concat())
            },
        )
    }

    /// Imports a key exported with [`KeyStore::export_to_recipient`] to
    /// `recipient`'s public key. The key arrives PreActive with origin
    /// [`Origin::Imported`], under `spec` (whose purpose must match the
    /// transported algorithm); the import is audited (and the use of the
    /// recipient key, as an agreement). Returns the key check value to
    /// compare with the sender's.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] for bytes that are not a transported key;
    /// [`ErrorKind::InvalidArgument`] for oversized input or material of
    /// the wrong size; [`ErrorKind::AuthenticationFailed`] for a wrong
    /// recipient or altered bytes; [`ErrorKind::WrongPurpose`] when `spec`
    /// has another purpose; as [`KeyStore::create`]. Nothing is imported on
    /// error.
    pub fn import_from_sender<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        transported: &[u8],
        recipient: &Key<Agreement, Active>,
    ) -> Result<(Key<P, PreActive>, CheckValue)> {
        let material = (|| {
            let p = parse(transported)?;
            expect_mode(&p, MODE_HPKE)?;
            check_purpose::<P>(p.alg)?;
            if p.body.len() < hpke::ENC_LEN {
                return Err(Error::malformed("transported key truncated"));
            }
            let (enc, ct) = p.body.split_at(hpke::ENC_LEN);
            let (store, cell) = recipient.parts();
            let raw = store.with_agreement_secret(cell, None, |sk| {
                hpke::setup_recipient_with(sk, enc, AeadId::Aes256Gcm, TRANSPORT_INFO)?
                    .open_secret(p.header, ct)
            })?;
            loaded(self.crypto_provider(), p.alg, raw)
        })();
        self.import_loaded(spec, material)
    }

    /// Imports a key exported with [`KeyStore::export_wrapped`] under the
    /// same wrapping key. As [`KeyStore::import_from_sender`] otherwise.
    ///
    /// # Errors
    /// As [`KeyStore::import_from_sender`].
    pub fn import_wrapped<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        transported: &[u8],
        kek: &WrappingKey,
    ) -> Result<(Key<P, PreActive>, CheckValue)> {
        let material = (|| {
            let p = parse(transported)?;
            expect_mode(&p, MODE_KWP)?;
            check_purpose::<P>(p.alg)?;
            let inner = kek.unwrap_material(WrapMode::Kwp, p.body)?;
            let inner = inner.expose_secret();
            // The wrapped header must be the one in the clear.
            if inner.len() < HEADER_LEN || !crate::crypto::ct_eq(&inner[..HEADER_LEN], p.header) {
                return Err(Error::auth());
            }
            loaded(
                self.crypto_provider(),
                p.alg,
                SecretBytes::from_slice(&inner[HEADER_LEN..]),
            )
        })();
        self.import_loaded(spec, material)
    }

    fn import_loaded<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        material: Result<Loaded>,
    ) -> Result<(Key<P, PreActive>, CheckValue)> {
        let kcv = material
            .as_ref()
            .ok()
            .map(|m| CheckValue::of(m.raw.expose_secret()));
        let key = self.create_with(spec, material, Origin::Imported)?;
        let kcv = kcv.ok_or_else(|| Error::internal("import succeeded without material"))?;
        Ok((key, kcv))
    }

    /// The key check value ([`crate::crypto::kcv`]) of `version` of key `id` (the
    /// primary when `None`). Audited as a metadata read.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::WrongState`] once the material
    /// is destroyed; [`ErrorKind::VersionUnavailable`].
    pub fn check_value(&self, id: &KeyId, version: Option<u32>) -> Result<CheckValue> {
        let mut used = None;
        let res = (|| {
            authorize(&self.principal, Operation::ReadMetadata)?;
            let cell = self.cell(id)?;
            let data = cell.read()?;
            if !data.info.state.has_material() {
                return Err(Error::wrong_state("check value", data.info.state));
            }
            let v = version.unwrap_or(data.info.primary_version);
            used = Some(v);
            Ok(CheckValue::of(data.material(v)?.raw.expose_secret()))
        })();
        self.audit(
            Operation::ReadMetadata,
            Some(*id),
            used,
            res.as_ref().map(|_| ()).map_err(Clone::clone),
        )?;
        res
    }

    /// Decrypts a data key made by [`Key::generate_data_key`] (with the key
    /// and version its header names) into zeroizing memory.
    ///
    /// # Errors
    /// As [`KeyStore::decrypt`].
    pub fn unwrap_data_key(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes> {
        let plain = zeroize::Zeroizing::new(self.decrypt(wrapped, aad)?);
        Ok(SecretBytes::from_slice(&plain))
    }
}

fn expect_mode(p: &Parsed<'_>, mode: u8) -> Result<()> {
    match p.mode {
        m if m == mode => Ok(()),
        MODE_HPKE | MODE_KWP => Err(Error::invalid(format!(
            "this key was transported with {}; use the matching import",
            if p.mode == MODE_HPKE {
                "HPKE (import_from_sender)"
            } else {
                "AES-KWP (import_wrapped)"
            }
        ))),
        other => Err(Error::new(
            ErrorKind::Unsupported,
            format!("unknown transport mode {other}"),
        )),
    }
}

fn check_purpose<P: KeyPurpose>(alg: Algorithm) -> Result<()> {
    if alg.purpose() == P::PURPOSE {
        Ok(())
    } else {
        Err(Error::wrong_purpose(
            &format!("importing as {}", P::PURPOSE),
            alg.purpose(),
        ))
    }
}

/// Material sizes keylife accepts, as [`KeyStore::import_raw`] does.
fn check_material_len(alg: Algorithm, len: usize) -> Result<()> {
    let ok = match alg {
        Algorithm::HmacSha256 | Algorithm::HkdfSha256 => (16..=1024).contains(&len),
        _ => len == 32,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{len} bytes is not a valid {alg:?} key size"
        )))
    }
}

fn loaded(p: crate::CryptoProvider, alg: Algorithm, raw: SecretBytes) -> Result<Loaded> {
    check_material_len(alg, raw.len())?;
    Loaded::new(p, alg, raw)
}

impl<P: KeyPurpose, S: KeyState> Key<P, S> {
    /// This key's check value for `version` (the primary when `None`):
    /// see [`crate::crypto::kcv`].
    ///
    /// # Errors
    /// As [`KeyStore::check_value`].
    pub fn check_value(&self, version: Option<u32>) -> Result<CheckValue> {
        let (store, cell) = self.parts();
        store.check_value(&cell.id, version)
    }
}

impl Key<Aead, Active> {
    /// Generates a data key of `len` bytes (16..=64) and returns it in
    /// plaintext and encrypted under this key's primary version with `aad`
    /// (AWS KMS `GenerateDataKey`, in-process). Store `wrapped` beside the
    /// data; [`KeyStore::unwrap_data_key`] recovers the plaintext, and
    /// [`Key::rewrap`] moves `wrapped` to the current primary version.
    ///
    /// ```
    /// # use keylife::{KeyStore, KeySpec, Principal, purpose::Aead};
    /// # let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let kek = store.create_active(KeySpec::<Aead>::new("envelope-kek"))?;
    /// let dk = kek.generate_data_key(32, b"file=report.pdf")?;
    /// // ... encrypt the file with dk.plaintext, keep dk.wrapped ...
    /// let again = store.unwrap_data_key(&dk.wrapped, b"file=report.pdf")?;
    /// assert_eq!(again.expose_secret(), dk.plaintext.expose_secret());
    /// kek.rotate()?;
    /// let moved = kek.rewrap(&dk.wrapped, b"file=report.pdf")?; // now under v2
    /// assert_eq!(store.unwrap_data_key(&moved, b"file=report.pdf")?.expose_secret(),
    ///            dk.plaintext.expose_secret());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a length outside 16..=64; as
    /// [`Key::encrypt`].
    pub fn generate_data_key(&self, len: usize, aad: &[u8]) -> Result<DataKey> {
        if !(16..=64).contains(&len) {
            return Err(Error::invalid("a data key is 16 to 64 bytes"));
        }
        let plaintext = SecretBytes::random(len)?;
        let wrapped = self.encrypt(plaintext.expose_secret(), aad)?;
        Ok(DataKey { plaintext, wrapped })
    }

    /// As [`Key::generate_data_key`], returning only the wrapped copy
    /// (`GenerateDataKeyWithoutPlaintext`): for a data key to be used
    /// later, elsewhere.
    ///
    /// # Errors
    /// As [`Key::generate_data_key`].
    pub fn generate_data_key_without_plaintext(&self, len: usize, aad: &[u8]) -> Result<Vec<u8>> {
        self.generate_data_key(len, aad).map(|d| d.wrapped)
    }
}

// ----- PKCS#8 private key import (hazmat) -----

#[cfg(feature = "hazmat")]
impl KeyStore {
    /// Imports a P-256 private key from PKCS#8 (DER, RFC 5208/5958) as a new
    /// PreActive signing or agreement key. Audited as an import.
    ///
    /// # Security warning
    /// The private key existed outside keylife in plaintext and may have
    /// been copied. Prefer generated keys, or transported import.
    ///
    /// # Errors
    /// [`ErrorKind::WrongPurpose`] for purposes other than signing and
    /// agreement; [`ErrorKind::Malformed`] for anything but an unencrypted
    /// P-256 PKCS#8 key; as [`KeyStore::create`].
    pub fn import_pkcs8_der<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        der: &[u8],
    ) -> Result<(Key<P, PreActive>, CheckValue)> {
        let material = (|| {
            let alg = P::PURPOSE.default_algorithm();
            if !matches!(alg, Algorithm::EcdsaP256Sha256 | Algorithm::EcdhP256) {
                return Err(Error::wrong_purpose("importing PKCS#8 (P-256)", P::PURPOSE));
            }
            if der.len() > MAX_TRANSPORTED {
                return Err(Error::invalid("PKCS#8 input too large"));
            }
            use p256::pkcs8::DecodePrivateKey;
            let sk = p256::SecretKey::from_pkcs8_der(der)
                .map_err(|_| Error::malformed("not an unencrypted P-256 PKCS#8 private key"))?;
            let raw = zeroize::Zeroizing::new(sk.to_bytes());
            loaded(
                self.crypto_provider(),
                alg,
                SecretBytes::from_slice(raw.as_slice()),
            )
        })();
        self.import_loaded(spec, material)
    }

    /// As [`KeyStore::import_pkcs8_der`], from PEM (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// # Security warning
    /// As [`KeyStore::import_pkcs8_der`].
    ///
    /// # Errors
    /// As [`KeyStore::import_pkcs8_der`].
    pub fn import_pkcs8_pem<P: KeyPurpose>(
        &self,
        spec: KeySpec<P>,
        pem: &str,
    ) -> Result<(Key<P, PreActive>, CheckValue)> {
        if pem.len() > 2 * MAX_TRANSPORTED {
            return self.import_loaded(spec, Err(Error::invalid("PKCS#8 PEM input too large")));
        }
        let doc = p256::pkcs8::der::pem::decode_vec(pem.as_bytes())
            .ok()
            .filter(|(label, _)| *label == "PRIVATE KEY")
            .map(|(_, der)| zeroize::Zeroizing::new(der));
        match doc {
            Some(der) => self.import_pkcs8_der(spec, &der),
            None => self.import_loaded(
                spec,
                Err(Error::malformed("not a PEM \"PRIVATE KEY\" document")),
            ),
        }
    }
}
