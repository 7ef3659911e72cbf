//! What to create: [`KeySpec`].

use core::marker::PhantomData;
use std::collections::BTreeMap;
use std::time::Duration;

use super::KeyPurpose;
use super::info::{KeyInfo, Origin};
use super::types::{KeyId, StateName, Timestamp};
use crate::error::{Error, Result};
use crate::key::StateChange;
use crate::store::AES_GCM_INVOCATION_LIMIT;

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
    deactivation_date: Option<Timestamp>,
    cryptoperiod: Option<Duration>,
    usage_limit: Option<u64>,
    rotate_at_usage_limit: bool,
    suspended_processing: bool,
    exportable: bool,
    classification: Option<String>,
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

    pub(crate) fn into_info(
        self,
        id: KeyId,
        now: Timestamp,
        origin: Origin,
        principal: &str,
    ) -> Result<KeyInfo> {
        let alg = P::PURPOSE.default_algorithm();
        if self.name.is_empty() || self.name.len() > 256 {
            return Err(Error::invalid("a key name is 1 to 256 bytes"));
        }
        let max = if alg == super::Algorithm::Aes256Gcm {
            AES_GCM_INVOCATION_LIMIT
        } else {
            u64::MAX
        };
        let usage_limit = self.usage_limit.unwrap_or(max);
        if usage_limit == 0 || usage_limit > max {
            return Err(Error::invalid(format!(
                "usage limit must be 1..={max} for {alg:?}"
            )));
        }
        if let (Some(a), Some(d)) = (self.activation_date, self.deactivation_date)
            && d <= a
        {
            return Err(Error::invalid(
                "deactivation date must be after activation date",
            ));
        }
        let cryptoperiod_ms = match self.cryptoperiod {
            Some(p) if p.is_zero() => return Err(Error::invalid("cryptoperiod must be positive")),
            Some(p) => Some(
                u64::try_from(p.as_millis())
                    .map_err(|_| Error::invalid("cryptoperiod too long"))?,
            ),
            None => None,
        };
        Ok(KeyInfo {
            id,
            name: self.name,
            owner: self.owner,
            purpose: P::PURPOSE,
            algorithm: alg,
            state: StateName::PreActive,
            state_before_pending: None,
            created_at: now,
            activated_at: None,
            last_rotated_at: None,
            activation_date: self.activation_date,
            deactivation_date: self.deactivation_date,
            cryptoperiod_ms,
            destruction_date: None,
            primary_version: 1,
            min_decryption_version: 1,
            versions: vec![crate::store::new_version_info(1, now)],
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
            usage_limit,
            rotate_at_usage_limit: self.rotate_at_usage_limit,
            suspended_processing: self.suspended_processing,
            exportable: self.exportable,
            origin,
            classification: self.classification,
            labels: self.labels,
        })
    }
}
