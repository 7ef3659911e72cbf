//! Inventory compliance report: which keys need attention under a policy.
//!
//! [`ComplianceReport::build`] takes the inventory (`KeyStore::list`'s
//! [`KeyInfo`]s), a [`Policy`] and the time, and sorts findings into seven
//! lists: overdue for rotation, past cryptoperiod, violating the policy,
//! without owner, near the usage limit, pending destruction, unused for
//! longer than the policy allows. The report is a
//! Rust struct and, through serde, JSON.
//!
//! ```
//! use keylife::{KeyStore, KeySpec, KeyFilter, Principal, Timestamp, purpose::Aead};
//! use keylife::{policy::Policy, report::ComplianceReport};
//! let store = KeyStore::in_memory(Principal::admin("auditor"))?;
//! store.create_active(KeySpec::<Aead>::new("orphan"))?;
//! let policy = Policy::from_toml("version = 3\n[purpose.aead]\nrotation_period_days = 90\n")?;
//! let keys = store.list(&KeyFilter::default())?;
//! let report = ComplianceReport::build(&keys, &policy, Timestamp(i64::MAX / 2));
//! assert_eq!(report.total_keys, 1);
//! assert_eq!(report.without_owner.len(), 1);
//! assert_eq!(report.overdue_rotation.len(), 1);
//! println!("{}", report.to_json_pretty()?);
//! # Ok::<(), keylife::Error>(())
//! ```

use crate::base::time::utc;

use serde::Serialize;

use crate::base::{Error, Result};
use crate::governance::policy::Policy;
use crate::key::{KeyId, KeyInfo, StateName, Timestamp};

const DAY_MS: i64 = 86_400_000;

/// The default "near the usage limit" threshold: 90 % of the limit.
pub const DEFAULT_USAGE_THRESHOLD: f64 = 0.9;

/// One key that needs attention, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The key.
    pub key_id: KeyId,
    /// Its name.
    pub name: String,
    /// Its owner, if set.
    pub owner: Option<String>,
    /// Its state.
    pub state: StateName,
    /// What is wrong, in words (dates in UTC, RFC 3339).
    pub detail: String,
    /// The date the finding turns on, when there is one: when rotation was
    /// due, when the cryptoperiod ended, when destruction happens.
    pub date: Option<Timestamp>,
}

/// Keys needing attention under a policy, at a point in time.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ComplianceReport {
    /// When the report was built.
    pub generated_at: Timestamp,
    /// The policy's revision ([`Policy::version`]).
    pub policy_version: u64,
    /// The policy's digest ([`Policy::digest`]).
    pub policy_digest: String,
    /// Keys examined (every state, destroyed included).
    pub total_keys: usize,
    /// Keys that can still apply protection (PreActive, Active, Suspended)
    /// whose primary version is older than the purpose's rotation period.
    pub overdue_rotation: Vec<Finding>,
    /// Active keys past the originator-usage period, and keys still holding
    /// material past the recipient-usage period (both counted from
    /// activation, NIST SP 800-57 Part 1 §5.3.4), or Active/Suspended keys
    /// past their own deactivation date (maintenance pending).
    pub past_cryptoperiod: Vec<Finding>,
    /// Every [`Policy::check_key`] violation, one finding each.
    pub policy_violations: Vec<Finding>,
    /// Keys holding material with no owner (absent or blank).
    pub without_owner: Vec<Finding>,
    /// Keys that can still apply protection whose primary version has used
    /// at least the threshold share of its usage limit (the key's limit, or
    /// the policy's when lower).
    pub near_usage_limit: Vec<Finding>,
    /// Keys in PendingDestruction, with their destruction date.
    pub pending_destruction: Vec<Finding>,
    /// Active, Suspended or Deactivated keys not used for longer than the
    /// purpose's `max_unused_days` (counted from the day of their last use,
    /// or from activation when never used): candidates for retirement.
    pub unused: Vec<Finding>,
}

impl ComplianceReport {
    /// Builds the report with the default near-limit threshold (90 %).
    #[must_use]
    pub fn build(keys: &[KeyInfo], policy: &Policy, now: Timestamp) -> ComplianceReport {
        ComplianceReport::build_with_threshold(keys, policy, now, DEFAULT_USAGE_THRESHOLD)
    }

    /// Builds the report; a key is near its usage limit once its primary
    /// version's count reaches `usage_threshold` × limit. The threshold is
    /// clamped to `0.0..=1.0`; NaN means the default.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, KeyFilter, Principal, Timestamp, purpose::Aead};
    /// use keylife::{policy::Policy, report::ComplianceReport};
    /// let store = KeyStore::in_memory(Principal::admin("ops"))?;
    /// let key = store.create_active(KeySpec::<Aead>::new("k").owner("ops").usage_limit(10))?;
    /// for _ in 0..5 { key.encrypt(b"m", b"")?; }
    /// let keys = store.list(&KeyFilter::default())?;
    /// let at = |t| ComplianceReport::build_with_threshold(&keys, &Policy::default(), Timestamp(0), t);
    /// assert!(at(0.9).near_usage_limit.is_empty());
    /// assert_eq!(at(0.5).near_usage_limit.len(), 1);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn build_with_threshold(
        keys: &[KeyInfo],
        policy: &Policy,
        now: Timestamp,
        usage_threshold: f64,
    ) -> ComplianceReport {
        let threshold = if usage_threshold.is_nan() {
            DEFAULT_USAGE_THRESHOLD
        } else {
            usage_threshold.clamp(0.0, 1.0)
        };
        let mut r = ComplianceReport {
            generated_at: now,
            policy_version: policy.version(),
            policy_digest: policy.digest(),
            total_keys: keys.len(),
            overdue_rotation: Vec::new(),
            past_cryptoperiod: Vec::new(),
            policy_violations: Vec::new(),
            without_owner: Vec::new(),
            near_usage_limit: Vec::new(),
            pending_destruction: Vec::new(),
            unused: Vec::new(),
        };
        for k in keys {
            let finding = |detail: String, date: Option<Timestamp>| Finding {
                key_id: k.id,
                name: k.name.clone(),
                owner: k.owner.clone(),
                state: k.state,
                detail,
                date,
            };
            let rules = policy.rules(k.purpose);
            let can_apply = matches!(
                k.state,
                StateName::PreActive | StateName::Active | StateName::Suspended
            );
            let primary = k.version(k.primary_version);

            // Overdue rotation.
            if can_apply && let Some(period) = rules.and_then(|r| r.rotation_period()) {
                let created =
                    primary.map_or(k.last_rotated_at.unwrap_or(k.created_at), |v| v.created_at);
                let due = created.plus(period);
                if now > due {
                    r.overdue_rotation.push(finding(
                        format!(
                            "primary version {} created {} ({} days ago); rotation period is {} days, due {}",
                            k.primary_version,
                            utc(created),
                            days_between(created, now),
                            period.as_secs() / 86_400,
                            utc(due)
                        ),
                        Some(due),
                    ));
                }
            }

            // Past cryptoperiod.
            if k.state.has_material() {
                let start = k.activated_at;
                let originator = rules.and_then(|r| r.originator_usage());
                let recipient = rules.and_then(|r| r.recipient_usage());
                let past_recipient = start
                    .zip(recipient)
                    .map(|(s, p)| (s.plus(p), p))
                    .filter(|(end, _)| now >= *end);
                let past_originator = start
                    .zip(originator)
                    .map(|(s, p)| (s.plus(p), p))
                    .filter(|(end, _)| k.state == StateName::Active && now >= *end);
                let own_deactivation = k.deactivation_date.filter(|d| {
                    matches!(k.state, StateName::Active | StateName::Suspended) && now >= *d
                });
                if let Some((end, p)) = past_recipient {
                    r.past_cryptoperiod.push(finding(
                        format!(
                            "still holds material {} days after its recipient-usage period ({} days from activation {}) ended {}",
                            days_between(end, now),
                            p.as_secs() / 86_400,
                            utc(start.unwrap_or(end)),
                            utc(end)
                        ),
                        Some(end),
                    ));
                } else if let Some((end, p)) = past_originator {
                    r.past_cryptoperiod.push(finding(
                        format!(
                            "Active {} days past its originator-usage period ({} days from activation {}) that ended {}; deactivate it",
                            days_between(end, now),
                            p.as_secs() / 86_400,
                            utc(start.unwrap_or(end)),
                            utc(end)
                        ),
                        Some(end),
                    ));
                } else if let Some(d) = own_deactivation {
                    r.past_cryptoperiod.push(finding(
                        format!(
                            "{} past its deactivation date {}; maintenance has not applied it yet",
                            k.state,
                            utc(d)
                        ),
                        Some(d),
                    ));
                }
            }

            // Policy violations.
            for v in policy.check_key(k) {
                r.policy_violations
                    .push(finding(format!("{}: {}", v.rule, v.detail), None));
            }

            // Without owner.
            if k.state.has_material() && k.owner.as_deref().is_none_or(|o| o.trim().is_empty()) {
                r.without_owner
                    .push(finding("no owner recorded".to_owned(), None));
            }

            // Near usage limit.
            if can_apply && let Some(v) = primary {
                let policy_limit = rules.and_then(|r| r.usage_limit());
                let limit = policy_limit.map_or(k.usage_limit, |p| p.min(k.usage_limit));
                // Float comparison: limits and counts are far below 2^53 in
                // practice, and the threshold is a ratio anyway.
                #[allow(clippy::cast_precision_loss)]
                let near = limit > 0 && (v.usage_count as f64) >= threshold * (limit as f64);
                if near {
                    let share = v.usage_count.saturating_mul(100) / limit.max(1);
                    let rotation = if k.rotate_at_usage_limit {
                        "rotates automatically at the limit"
                    } else {
                        "refuses to apply at the limit: rotate it"
                    };
                    r.near_usage_limit.push(finding(
                        format!(
                            "primary version {} used {} of {} times ({share}%); {rotation}",
                            v.number, v.usage_count, limit
                        ),
                        None,
                    ));
                }
            }

            // Unused for longer than the policy allows.
            if matches!(
                k.state,
                StateName::Active | StateName::Suspended | StateName::Deactivated
            ) && let Some(max) = rules.and_then(|r| r.max_unused())
                && let Some(since) = k.last_used.or(k.activated_at)
                && now >= since.plus(max)
            {
                let what = if k.last_used.is_some() {
                    "last used on"
                } else {
                    "never used since activation on"
                };
                r.unused.push(finding(
                    format!(
                        "{what} {} ({} days ago); the policy allows {} days unused: \
                         deactivate it or schedule its destruction if it is no longer needed",
                        utc(since),
                        days_between(since, now),
                        max.as_secs() / 86_400
                    ),
                    Some(since.plus(max)),
                ));
            }

            // Pending destruction.
            if k.state == StateName::PendingDestruction {
                let detail = match k.destruction_date {
                    Some(d) if d > now => format!(
                        "destroyed on {} (in {} days); cancellable until then",
                        utc(d),
                        days_between(now, d)
                    ),
                    Some(d) => format!(
                        "destruction date {} has passed; the next maintenance purges it",
                        utc(d)
                    ),
                    None => "pending destruction with no date recorded".to_owned(),
                };
                r.pending_destruction
                    .push(finding(detail, k.destruction_date));
            }
        }
        r
    }

    /// Number of findings across every list (a key can appear in several).
    #[must_use]
    pub fn finding_count(&self) -> usize {
        self.overdue_rotation.len()
            + self.past_cryptoperiod.len()
            + self.policy_violations.len()
            + self.without_owner.len()
            + self.near_usage_limit.len()
            + self.pending_destruction.len()
            + self.unused.len()
    }

    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    /// Only if serialization fails, which it does not for these types.
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("report encoding: {e}")))
    }
}

/// Whole days from `a` to `b` (floor; negative if `b` is earlier).
fn days_between(a: Timestamp, b: Timestamp) -> i64 {
    b.0.saturating_sub(a.0).div_euclid(DAY_MS)
}

// Tests fail by panicking, with the offending value in the message.
#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::governance::policy::test_keys::{T0, key_info};
    use crate::key::{Algorithm, VersionInfo, VersionState};

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 86_400)
    }

    fn policy() -> Policy {
        Policy::from_toml(
            r#"
            version = 7
            classifications = ["internal", "confidential"]
            [purpose.aead]
            algorithms = ["aes-256-gcm"]
            rotation_period_days = 90
            originator_usage_days = 365
            recipient_usage_days = 730
            usage_limit = 1000
            [purpose.signing]
            rotation_period_days = 365
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A key that complies with [`policy`] at `T0 + 10 days`.
    fn good() -> KeyInfo {
        let mut k = key_info(Algorithm::Aes256Gcm);
        k.usage_limit = 1000;
        k.cryptoperiod_ms = Some(365 * 86_400_000);
        k
    }

    fn at(k: &[KeyInfo], d: u64) -> ComplianceReport {
        ComplianceReport::build(k, &policy(), T0.plus(days(d)))
    }

    #[test]
    fn compliant_key_has_no_findings() {
        let r = at(&[good()], 10);
        assert_eq!(r.finding_count(), 0, "{r:#?}");
        assert_eq!(r.total_keys, 1);
        assert_eq!(r.policy_version, 7);
        assert_eq!(r.policy_digest, policy().digest());
    }

    #[test]
    fn overdue_rotation() {
        let k = good();
        assert!(at(std::slice::from_ref(&k), 90).overdue_rotation.is_empty()); // exactly 90 days: not yet
        let r = at(std::slice::from_ref(&k), 91);
        assert_eq!(r.overdue_rotation.len(), 1);
        let f = &r.overdue_rotation[0];
        assert_eq!(f.date, Some(T0.plus(days(90))));
        assert!(f.detail.contains("created 2024-01-01T00:00:00Z (91 days ago); rotation period is 90 days, due 2024-03-31T00:00:00Z"), "{}", f.detail);
        // Twin: rotated 30 days ago (primary version 2 is recent).
        let mut rotated = k.clone();
        rotated.versions.push(VersionInfo {
            number: 2,
            created_at: T0.plus(days(61)),
            state: VersionState::Enabled,
            usage_count: 0,
        });
        rotated.primary_version = 2;
        rotated.last_rotated_at = Some(T0.plus(days(61)));
        assert!(at(&[rotated], 91).overdue_rotation.is_empty());
        // A deactivated key cannot rotate: no finding.
        let mut deact = k.clone();
        deact.state = StateName::Deactivated;
        assert!(at(&[deact], 91).overdue_rotation.is_empty());
        // No rotation period for the purpose: no finding.
        let mac = key_info(Algorithm::HmacSha256);
        assert!(at(&[mac], 1000).overdue_rotation.is_empty());
    }

    #[test]
    fn past_cryptoperiod_originator() {
        let k = good();
        assert!(
            at(std::slice::from_ref(&k), 364)
                .past_cryptoperiod
                .is_empty()
        );
        let r = at(std::slice::from_ref(&k), 366);
        assert_eq!(r.past_cryptoperiod.len(), 1, "{r:#?}");
        assert!(
            r.past_cryptoperiod[0]
                .detail
                .contains("Active 1 days past its originator-usage period (365 days"),
            "{}",
            r.past_cryptoperiod[0].detail
        );
        assert_eq!(r.past_cryptoperiod[0].date, Some(T0.plus(days(365))));
        // Twin: deactivated at the end of originator usage, still within
        // recipient usage — compliant.
        let mut d = k.clone();
        d.state = StateName::Deactivated;
        assert!(at(&[d], 366).past_cryptoperiod.is_empty());
    }

    #[test]
    fn past_cryptoperiod_recipient() {
        let mut k = good();
        k.state = StateName::Deactivated;
        assert!(
            at(std::slice::from_ref(&k), 729)
                .past_cryptoperiod
                .is_empty()
        );
        let r = at(std::slice::from_ref(&k), 740);
        assert_eq!(r.past_cryptoperiod.len(), 1);
        assert!(
            r.past_cryptoperiod[0].detail.contains(
                "still holds material 10 days after its recipient-usage period (730 days"
            ),
            "{}",
            r.past_cryptoperiod[0].detail
        );
        // Twin: destroyed — no material left.
        k.state = StateName::Destroyed;
        assert!(at(&[k], 740).past_cryptoperiod.is_empty());
    }

    #[test]
    fn past_own_deactivation_date() {
        let mut k = good();
        k.deactivation_date = Some(T0.plus(days(30)));
        let r = at(std::slice::from_ref(&k), 31);
        assert_eq!(r.past_cryptoperiod.len(), 1);
        assert!(
            r.past_cryptoperiod[0]
                .detail
                .contains("past its deactivation date 2024-01-31T00:00:00Z")
        );
        assert!(at(&[k], 29).past_cryptoperiod.is_empty());
    }

    #[test]
    fn policy_violations() {
        let mut k = good();
        k.classification = Some("secret".to_owned());
        k.usage_limit = 2000;
        let r = at(&[k], 10);
        let details: Vec<&str> = r
            .policy_violations
            .iter()
            .map(|f| f.detail.as_str())
            .collect();
        assert_eq!(details.len(), 2, "{details:?}");
        assert!(details[0].starts_with(
            "purpose.aead.usage_limit: key usage limit 2000 exceeds the policy's 1000"
        ));
        assert!(details[1].starts_with("classifications: classification 'secret' is not one of"));
        assert!(at(&[good()], 10).policy_violations.is_empty());
    }

    #[test]
    fn without_owner() {
        for owner in [None, Some(String::new()), Some("  ".to_owned())] {
            let mut k = good();
            k.owner = owner;
            assert_eq!(at(&[k], 10).without_owner.len(), 1);
        }
        assert!(at(&[good()], 10).without_owner.is_empty());
        let mut destroyed = good();
        destroyed.owner = None;
        destroyed.state = StateName::Destroyed;
        assert!(at(&[destroyed], 10).without_owner.is_empty());
    }

    #[test]
    fn near_usage_limit() {
        let mut k = good();
        k.versions[0].usage_count = 899;
        assert!(at(std::slice::from_ref(&k), 10).near_usage_limit.is_empty());
        k.versions[0].usage_count = 900;
        let r = at(std::slice::from_ref(&k), 10);
        assert_eq!(r.near_usage_limit.len(), 1);
        assert_eq!(
            r.near_usage_limit[0].detail,
            "primary version 1 used 900 of 1000 times (90%); refuses to apply at the limit: rotate it"
        );
        // The threshold is a parameter.
        let p = policy();
        let now = T0.plus(days(10));
        assert!(
            ComplianceReport::build_with_threshold(&[k.clone()], &p, now, 0.95)
                .near_usage_limit
                .is_empty()
        );
        k.versions[0].usage_count = 500;
        assert_eq!(
            ComplianceReport::build_with_threshold(&[k.clone()], &p, now, 0.5)
                .near_usage_limit
                .len(),
            1
        );
        // The policy's lower limit wins over the key's own.
        let mut lax = good();
        lax.usage_limit = 1 << 32;
        lax.versions[0].usage_count = 950;
        assert_eq!(at(&[lax], 10).near_usage_limit.len(), 1);
    }

    #[test]
    fn pending_destruction() {
        let mut k = good();
        k.state = StateName::PendingDestruction;
        k.state_before_pending = Some(StateName::Deactivated);
        k.destruction_date = Some(T0.plus(days(40)));
        let r = at(std::slice::from_ref(&k), 10);
        assert_eq!(r.pending_destruction.len(), 1);
        assert_eq!(r.pending_destruction[0].date, Some(T0.plus(days(40))));
        assert_eq!(
            r.pending_destruction[0].detail,
            "destroyed on 2024-02-10T00:00:00Z (in 30 days); cancellable until then"
        );
        assert!(at(&[good()], 10).pending_destruction.is_empty());
    }

    #[test]
    fn utc_formats_dates() {
        assert_eq!(utc(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(utc(T0), "2024-01-01T00:00:00Z");
        assert_eq!(utc(Timestamp(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(utc(Timestamp(-1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            utc(Timestamp(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
    }

    /// The JSON shape, pinned: the report is an interface for dashboards.
    #[test]
    fn json_snapshot() {
        let mut stale = good();
        stale.id = KeyId::from_bytes([0xa1; 16]);
        stale.name = "invoices".to_owned();
        stale.owner = None;
        stale.versions[0].usage_count = 950;
        let mut pending = good();
        pending.id = KeyId::from_bytes([0xb2; 16]);
        pending.name = "old-sessions".to_owned();
        pending.state = StateName::PendingDestruction;
        pending.destruction_date = Some(T0.plus(days(120)));
        let r = at(&[stale, pending, good()], 100);
        let json = r.to_json_pretty().unwrap_or_else(|e| panic!("{e}"));
        println!("{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        let expected = serde_json::json!({
            "generated_at": T0.plus(days(100)).0,
            "policy_version": 7,
            "policy_digest": policy().digest(),
            "total_keys": 3,
            "overdue_rotation": [
                {
                    "key_id": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
                    "name": "invoices",
                    "owner": null,
                    "state": "active",
                    "detail": "primary version 1 created 2024-01-01T00:00:00Z (100 days ago); rotation period is 90 days, due 2024-03-31T00:00:00Z",
                    "date": T0.plus(days(90)).0
                },
                {
                    "key_id": "07070707070707070707070707070707",
                    "name": "payments",
                    "owner": "payments-team",
                    "state": "active",
                    "detail": "primary version 1 created 2024-01-01T00:00:00Z (100 days ago); rotation period is 90 days, due 2024-03-31T00:00:00Z",
                    "date": T0.plus(days(90)).0
                }
            ],
            "past_cryptoperiod": [],
            "policy_violations": [],
            "without_owner": [
                {
                    "key_id": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
                    "name": "invoices",
                    "owner": null,
                    "state": "active",
                    "detail": "no owner recorded",
                    "date": null
                }
            ],
            "near_usage_limit": [
                {
                    "key_id": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
                    "name": "invoices",
                    "owner": null,
                    "state": "active",
                    "detail": "primary version 1 used 950 of 1000 times (95%); refuses to apply at the limit: rotate it",
                    "date": null
                }
            ],
            "pending_destruction": [
                {
                    "key_id": "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",
                    "name": "old-sessions",
                    "owner": "payments-team",
                    "state": "pending_destruction",
                    "detail": "destroyed on 2024-04-30T00:00:00Z (in 20 days); cancellable until then",
                    "date": T0.plus(days(120)).0
                }
            ],
            "unused": []
        });
        assert_eq!(v, expected, "{json}");
    }
}
