//! What to create: [`KeySpec`].

use core::marker::PhantomData;
use std::collections::BTreeMap;
use std::time::Duration;

use super::KeyPurpose;
use super::info::{KeyInfo, Origin};
use super::info::{StateChange, VersionInfo};
use super::types::StateName;
use crate::base::{Error, KeyId, Result, Timestamp};
use crate::crypto::AES_GCM_INVOCATION_LIMIT;

/// The description of a key to create. The purpose is the type parameter.
///
/// ```
/// use std::time::Duration;
/// use keylife::{KeySpec, purpose::Aead};
/// let spec = KeySpec::<Aead>::new("invoices")
///     .owner("billing")
///     .cryptoperiod(Duration::from_secs(365 * 24 * 3600))
///     .label("classification", "confidential");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct KeySpec<P: KeyPurpose> {
    name: String,
    owner: Option<String>,
    activation_date: Option<Timestamp>,
    pub(crate) deactivation_date: Option<Timestamp>,
    pub(crate) cryptoperiod: Option<Duration>,
    pub(crate) usage_limit: Option<u64>,
    pub(crate) rotate_at_usage_limit: bool,
    suspended_processing: bool,
    exportable: bool,
    pub(crate) classification: Option<String>,
    pub(crate) rotation_period: Option<Duration>,
    labels: BTreeMap<String, String>,
    _p: PhantomData<fn() -> P>,
}

impl<P: KeyPurpose> KeySpec<P> {
    /// A key named `name` with defaults: no dates, the algorithm's usage
    /// limit, Suspended keys may still process, not exportable.
    pub fn new(name: &str) -> KeySpec<P> {
        KeySpec {
            name: name.to_owned(),
            owner: None,
            activation_date: None,
            deactivation_date: None,
            cryptoperiod: None,
            usage_limit: None,
            rotate_at_usage_limit: false,
            suspended_processing: true,
            exportable: false,
            classification: None,
            rotation_period: None,
            labels: BTreeMap::new(),
            _p: PhantomData,
        }
    }

    /// Owning team or person.
    pub fn owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Activates automatically at `t`.
    pub fn activation_date(mut self, t: Timestamp) -> Self {
        self.activation_date = Some(t);
        self
    }

    /// Deactivates automatically at `t`.
    pub fn deactivation_date(mut self, t: Timestamp) -> Self {
        self.deactivation_date = Some(t);
        self
    }

    /// Originator-usage period: deactivates this long after activation
    /// (NIST SP 800-57 Part 1 §5.3), unless a deactivation date is set.
    pub fn cryptoperiod(mut self, period: Duration) -> Self {
        self.cryptoperiod = Some(period);
        self
    }

    /// Maximum apply operations per version. For AES-GCM it cannot exceed
    /// 2^32 (NIST SP 800-38D §8.3); lower values help testing and policy.
    pub fn usage_limit(mut self, limit: u64) -> Self {
        self.usage_limit = Some(limit);
        self
    }

    /// Rotate automatically when the primary version reaches its usage
    /// limit, instead of refusing.
    pub fn rotate_at_usage_limit(mut self, yes: bool) -> Self {
        self.rotate_at_usage_limit = yes;
        self
    }

    /// Whether a Suspended key may still decrypt and verify (default: yes).
    pub fn suspended_processing(mut self, yes: bool) -> Self {
        self.suspended_processing = yes;
        self
    }

    /// Whether the key may ever be exported (default: no; fixed at creation).
    pub fn exportable(mut self, yes: bool) -> Self {
        self.exportable = yes;
        self
    }

    /// Rotate automatically once the primary version is this old (applied
    /// on load, use and maintenance; policy may set a default).
    pub fn rotation_period(mut self, period: Duration) -> Self {
        self.rotation_period = Some(period);
        self
    }

    /// Classification level (e.g. "confidential"); checked against policy.
    pub fn classification(mut self, level: &str) -> Self {
        self.classification = Some(level.to_owned());
        self
    }

    /// A free-form label (compliance scope, cost centre, …).
    pub fn label(mut self, name: &str, value: &str) -> Self {
        self.labels.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The same options for a key of purpose `Q` (for creating a key whose
    /// purpose is chosen at run time).
    pub(crate) fn retype<Q: KeyPurpose>(self) -> KeySpec<Q> {
        KeySpec {
            name: self.name,
            owner: self.owner,
            activation_date: self.activation_date,
            deactivation_date: self.deactivation_date,
            cryptoperiod: self.cryptoperiod,
            usage_limit: self.usage_limit,
            rotate_at_usage_limit: self.rotate_at_usage_limit,
            suspended_processing: self.suspended_processing,
            exportable: self.exportable,
            classification: self.classification,
            rotation_period: self.rotation_period,
            labels: self.labels,
            _p: PhantomData,
        }
    }

    /// The spec, if its name is 1 to 256 bytes.
    pub(crate) fn checked_name(self) -> Result<Self> {
        if self.name.is_empty() || self.name.len() > 256 {
            return Err(Error::invalid("a key name is 1 to 256 bytes"));
        }
        Ok(self)
    }

    /// The metadata of a new key from this spec (policy already applied:
    /// `policy` is the version and digest in force).
    pub(crate) fn into_info(
        self,
        id: KeyId,
        now: Timestamp,
        origin: Origin,
        principal: &str,
        policy: Option<(u64, String)>,
    ) -> Result<KeyInfo> {
        let alg = P::PURPOSE.default_algorithm();
        let this = self.checked_name()?;
        let rotation_period_ms = match this.rotation_period {
            Some(p) if p.is_zero() => {
                return Err(Error::invalid("rotation period must be positive"));
            }
            Some(p) => Some(
                u64::try_from(p.as_millis())
                    .map_err(|_| Error::invalid("rotation period too long"))?,
            ),
            None => None,
        };

        let max = if alg == super::types::Algorithm::Aes256Gcm {
            AES_GCM_INVOCATION_LIMIT
        } else {
            u64::MAX
        };
        let usage_limit = this.usage_limit.unwrap_or(max);
        if usage_limit == 0 || usage_limit > max {
            return Err(Error::invalid(format!(
                "usage limit must be 1..={max} for {alg:?}"
            )));
        }
        if let (Some(a), Some(d)) = (this.activation_date, this.deactivation_date)
            && d <= a
        {
            return Err(Error::invalid(
                "deactivation date must be after activation date",
            ));
        }
        let cryptoperiod_ms = match this.cryptoperiod {
            Some(p) if p.is_zero() => return Err(Error::invalid("cryptoperiod must be positive")),
            Some(p) => Some(
                u64::try_from(p.as_millis())
                    .map_err(|_| Error::invalid("cryptoperiod too long"))?,
            ),
            None => None,
        };
        Ok(KeyInfo {
            id,
            name: this.name,
            owner: this.owner,
            purpose: P::PURPOSE,
            algorithm: alg,
            state: StateName::PreActive,
            state_before_pending: None,
            created_at: now,
            activated_at: None,
            last_rotated_at: None,
            activation_date: this.activation_date,
            deactivation_date: this.deactivation_date,
            cryptoperiod_ms,
            destruction_date: None,
            primary_version: 1,
            min_decryption_version: 1,
            versions: vec![VersionInfo::new(1, now)],
            history: vec![StateChange {
                at: now,
                from: None,
                to: StateName::PreActive,
                principal: principal.to_owned(),
                reason: match origin {
                    Origin::Generated => "created".to_owned(),
                    Origin::Imported => "imported".to_owned(),
                },
            }],
            last_used: None,
            usage_limit,
            rotate_at_usage_limit: this.rotate_at_usage_limit,
            suspended_processing: this.suspended_processing,
            exportable: this.exportable,
            origin,
            rotation_period_ms,
            grants: Vec::new(),
            policy_version: policy.as_ref().map(|p| p.0),
            policy_digest: policy.map(|p| p.1),
            classification: this.classification,
            labels: this.labels,
        })
    }
}
