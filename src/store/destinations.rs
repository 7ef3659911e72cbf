//! Trusted export destinations: the recipient public keys and wrapping keys
//! that key material may be exported to ([`KeyStore::export_to_recipient`],
//! [`KeyStore::export_wrapped`]). PKCS#11's `CKA_TRUSTED` /
//! `CKA_WRAP_WITH_TRUSTED` is the model: an administrator registers a
//! destination — under dual control where the policy asks for it
//! (`[approvals.trust_destination]`) — and an export to anything else is
//! refused.
//!
//! A destination whose private part this store holds (one of its own
//! agreement keys, or a wrapping key derived from one of its own keys) is
//! never trusted without the `hazmat` feature: whoever holds this store
//! could open such an export and read the key, which is exactly what the
//! feature gate on raw export is for.
//!
//! Records: `destination/<name>`, sealed like every record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{KeyStore, key_record_id};
use crate::base::{Error, ErrorKind, Result, Timestamp};
use crate::crypto::public::PublicKey;
use crate::crypto::wrap::WrappingKey;
use crate::governance::audit::Operation;
use crate::governance::policy::ApprovalOperation;
use crate::key::{Purpose, StateName};
use crate::store::backend::{Expect, WriteOp};

const DESTINATION_PREFIX: &str = "destination/";

/// What kind of destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DestinationKind {
    /// A recipient's P-256 public key ([`KeyStore::export_to_recipient`]).
    Recipient,
    /// A shared wrapping key, known by its check value
    /// ([`KeyStore::export_wrapped`]).
    WrappingKey,
}

/// A registered trusted destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrustedDestination {
    /// Its name in the registry.
    pub name: String,
    /// Recipient key or wrapping key.
    pub kind: DestinationKind,
    /// How it is recognized: the SHA-256 of the recipient's SPKI DER, or
    /// the wrapping key's check value (hex). Never key material.
    pub fingerprint: String,
    /// Who registered it.
    pub registered_by: String,
    /// When.
    pub at: Timestamp,
}

/// A destination an export is asked to go to.
pub(crate) enum Destination<'a> {
    Recipient(&'a PublicKey),
    Wrapping(&'a WrappingKey),
}

impl Destination<'_> {
    fn kind(&self) -> DestinationKind {
        match self {
            Destination::Recipient(_) => DestinationKind::Recipient,
            Destination::Wrapping(_) => DestinationKind::WrappingKey,
        }
    }

    fn fingerprint(&self) -> Result<String> {
        Ok(match self {
            Destination::Recipient(pk) => pk.fingerprint()?,
            Destination::Wrapping(w) => w.check_value().to_string(),
        })
    }
}

/// The approval parameters of a destination change: what approvers sign.
fn params(name: &str, fingerprint: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("destination".to_owned(), name.to_owned()),
        ("fingerprint".to_owned(), fingerprint.to_owned()),
    ])
}

impl KeyStore {
    /// Registers `recipient` as a trusted destination named `name`, so keys
    /// may be exported to it with [`KeyStore::export_to_recipient`].
    /// Administrators only, with the approvals the policy requires for
    /// `trust_destination` — approvers sign the request's parameters
    /// `destination` (the name) and `fingerprint`
    /// ([`PublicKey::fingerprint`]); audited.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, purpose::{Agreement, Mac}};
    /// let here = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let partner = KeyStore::in_memory(Principal::admin("partner-ops"))?;
    /// let inbox = partner.create_active(KeySpec::<Agreement>::new("inbox"))?;
    /// let key = here.create_active(KeySpec::<Mac>::new("webhooks").exportable(true))?;
    /// // Not trusted yet: refused.
    /// assert!(here.export_to_recipient(&key.id(), None, &inbox.public_key(None)?).is_err());
    /// here.trust_recipient("partner-inbox", &inbox.public_key(None)?)?;
    /// let sent = here.export_to_recipient(&key.id(), None, &inbox.public_key(None)?)?;
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] unless an administrator, or when this
    /// store holds the recipient's private key (without `hazmat`);
    /// [`ErrorKind::ApprovalRequired`]; [`ErrorKind::AlreadyExists`] for a
    /// name in use; [`ErrorKind::InvalidArgument`] for a bad name.
    pub fn trust_recipient(&self, name: &str, recipient: &PublicKey) -> Result<()> {
        self.trust(name, &Destination::Recipient(recipient))
    }

    /// Registers a wrapping key (by its check value) as a trusted
    /// destination, for [`KeyStore::export_wrapped`]. As
    /// [`KeyStore::trust_recipient`]; a wrapping key derived from one of
    /// this store's own keys is refused (without `hazmat`).
    ///
    /// # Errors
    /// As [`KeyStore::trust_recipient`].
    pub fn trust_wrapping_key(&self, name: &str, kek: &WrappingKey) -> Result<()> {
        self.trust(name, &Destination::Wrapping(kek))
    }

    /// Removes a trusted destination: exports to it are refused from now
    /// on. Administrators, with the approvals `trust_destination` needs.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; as [`KeyStore::trust_recipient`].
    pub fn untrust_destination(&self, name: &str) -> Result<()> {
        let reason = format!("destination {name}");
        self.admin_change(Operation::UntrustDestination, None, &reason, || {
            let id = format!("{DESTINATION_PREFIX}{name}");
            let Some(rec) = self.inner.backend.get(&id)? else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no trusted destination {name}"),
                ));
            };
            let mut writes = self.require_approval(
                ApprovalOperation::TrustDestination,
                None,
                &params(name, "-"),
            )?;
            writes.push(WriteOp::Delete {
                id,
                expect: Expect::Revision(rec.revision),
            });
            Ok(writes)
        })
    }

    /// The registered trusted destinations, by name.
    ///
    /// # Errors
    /// Storage and integrity errors.
    pub fn trusted_destinations(&self) -> Result<Vec<TrustedDestination>> {
        let mut out = Vec::new();
        self.scan_prefix(DESTINATION_PREFIX, |id, _| {
            if let Some((d, _)) = self.get_sealed::<TrustedDestination>(id)? {
                out.push(d);
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn trust(&self, name: &str, dest: &Destination<'_>) -> Result<()> {
        if name.is_empty() || name.len() > 256 || name.contains('/') {
            return Err(Error::invalid(
                "a destination name is 1 to 256 bytes without '/'",
            ));
        }
        let fingerprint = dest.fingerprint()?;
        let reason = format!("destination {name} ({fingerprint})");
        self.admin_change(Operation::TrustDestination, None, &reason, || {
            self.refuse_own_private_part(dest)?;
            let id = format!("{DESTINATION_PREFIX}{name}");
            if self.inner.backend.get(&id)?.is_some() {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("a trusted destination {name} exists"),
                ));
            }
            // Approvers sign the exact destination: its name and fingerprint.
            let mut writes = self.require_approval(
                ApprovalOperation::TrustDestination,
                None,
                &params(name, &fingerprint),
            )?;
            let record = TrustedDestination {
                name: name.to_owned(),
                kind: dest.kind(),
                fingerprint: fingerprint.clone(),
                registered_by: self.principal.name().to_owned(),
                at: self.now(),
            };
            writes.push(self.sealed_put(&id, &record, Expect::Absent)?);
            Ok(writes)
        })
    }

    /// The check every export makes before it touches key material: `dest`
    /// is registered, and this store does not hold its private part.
    pub(crate) fn check_destination(&self, dest: &Destination<'_>) -> Result<()> {
        let fingerprint = dest.fingerprint()?;
        let kind = dest.kind();
        let trusted = self
            .trusted_destinations()?
            .into_iter()
            .any(|d| d.kind == kind && d.fingerprint == fingerprint);
        if !trusted {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "export refused: {} is not a trusted destination \
                     (KeyStore::trust_recipient / trust_wrapping_key, under dual control)",
                    match dest {
                        Destination::Recipient(_) => format!("recipient key {fingerprint}"),
                        Destination::Wrapping(_) => format!("wrapping key {fingerprint}"),
                    }
                ),
            ));
        }
        self.refuse_own_private_part(dest)
    }

    /// Refuses a destination whose private part this store holds — unless
    /// the `hazmat` feature is on, where raw export is allowed anyway.
    fn refuse_own_private_part(&self, dest: &Destination<'_>) -> Result<()> {
        if cfg!(feature = "hazmat") {
            return Ok(());
        }
        let own = match dest {
            Destination::Recipient(pk) => self.holds_private_key_of(pk)?,
            Destination::Wrapping(w) => match w.derived_from() {
                Some(source) => self.inner.backend.get(&key_record_id(&source))?.is_some(),
                None => false,
            },
        };
        if own {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "this store holds the private part of that destination: an export \
                 to it could be opened here (allowed only with the hazmat feature)",
            ));
        }
        Ok(())
    }

    /// Whether one of this store's agreement keys has `pk` as a version's
    /// public key.
    fn holds_private_key_of(&self, pk: &PublicKey) -> Result<bool> {
        let mut held = false;
        self.for_each_key(|info| {
            if held || info.purpose != Purpose::Agreement || info.state == StateName::Destroyed {
                return Ok(());
            }
            let cell = self.cell(&info.id)?;
            let data = cell.read()?;
            for v in &data.info.versions {
                if let Ok(m) = data.material(v.number)
                    && let Ok(sk) = m.p256()
                    && &sk.public_key() == pk.inner()
                {
                    held = true;
                }
            }
            Ok(())
        })?;
        Ok(held)
    }
}
