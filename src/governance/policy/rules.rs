//! The parts of a policy: which operations need approvals (and from whom),
//! destruction waiting periods, per-purpose rules, and the names of
//! algorithms in policy files.

use core::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::{Issue, Seg, days, path_string};
use crate::base::codes::code_enum;
use crate::base::{Error, ErrorKind, Result};
use crate::key::{Algorithm, Purpose};

// ---------------------------------------------------------------------------
// Operations that can require approvals
// ---------------------------------------------------------------------------

code_enum! {
    /// An operation that policy can put under dual control (k-of-n
    /// approvals). The name is the snake-case form of policy files and
    /// approval requests; the code is the C ABI's `KL_APPROVAL_*`.
    #[derive(PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ApprovalOperation: u32 ("approval operation", "KL_APPROVAL_*") {
        /// Destroy key material now.
        Destroy = 1 => "destroy",
        /// Schedule a key for destruction.
        ScheduleDestruction = 2 => "schedule_destruction",
        /// Export key material in plaintext (hazmat).
        Export = 3 => "export",
        /// Restore keys from a backup.
        Restore = 4 => "restore",
        /// Replace the store's policy.
        PolicyChange = 5 => "policy_change",
        /// The audited decrypt-to-rewrap override for a compromised key.
        CompromisedDecrypt = 6 => "compromised_decrypt",
        /// Register (or remove) a trusted export destination.
        TrustDestination = 7 => "trust_destination",
    }
}

impl FromStr for ApprovalOperation {
    type Err = Error;

    /// ```
    /// use keylife::policy::ApprovalOperation;
    /// let op: ApprovalOperation = "policy_change".parse()?;
    /// assert_eq!(op, ApprovalOperation::PolicyChange);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<ApprovalOperation> {
        crate::base::codes::parse_name(s)
    }
}

/// A k-of-n approval requirement: `required` distinct approvers from
/// `approvers` must sign the exact request.
///
/// ```
/// use keylife::policy::ApprovalRule;
/// let rule = ApprovalRule::new(2, ["carol", "dave", "erin"])?;
/// assert!(rule.lists("dave"));
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    /// How many distinct approvals are needed (k).
    pub required: usize,
    /// Who may approve (the n names), sorted when parsed from a policy.
    pub approvers: Vec<String>,
}

impl ApprovalRule {
    /// A validated rule: `1 <= required <= approvers`, names non-empty and
    /// distinct. Approvers are kept sorted.
    ///
    /// # Errors
    /// [`ErrorKind::Policy`] naming the broken constraint.
    pub fn new<I, S>(required: usize, approvers: I) -> Result<ApprovalRule>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut rule = ApprovalRule {
            required,
            approvers: approvers.into_iter().map(Into::into).collect(),
        };
        let mut issues = Vec::new();
        rule.validate(&mut Vec::new(), &mut issues);
        if let Some(i) = issues.first() {
            return Err(Error::new(ErrorKind::Policy, i.msg.clone()));
        }
        rule.approvers.sort();
        Ok(rule)
    }

    /// Whether `name` is one of the rule's approvers.
    #[must_use]
    pub fn lists(&self, name: &str) -> bool {
        self.approvers.iter().any(|a| a == name)
    }

    pub(super) fn validate(&self, path: &mut Vec<Seg>, issues: &mut Vec<Issue>) {
        let at = path_string(path);
        let prefix = if at.is_empty() {
            String::new()
        } else {
            format!("{at}.")
        };
        if self.required == 0 {
            issues.push(Issue::at(
                path,
                Seg::key("required"),
                format!("{prefix}required must be at least 1"),
            ));
        } else if self.required > self.approvers.len() {
            issues.push(Issue::at(
                path,
                Seg::key("required"),
                format!(
                    "{prefix}required ({}) exceeds the number of approvers ({})",
                    self.required,
                    self.approvers.len()
                ),
            ));
        }
        for (i, name) in self.approvers.iter().enumerate() {
            path.push(Seg::key("approvers"));
            if name.trim().is_empty() || name.trim() != name {
                issues.push(Issue::at(
                    path,
                    Seg::Index(i),
                    format!(
                        "{prefix}approvers[{i}] must be a non-empty name without surrounding spaces"
                    ),
                ));
            } else if self.approvers[..i].contains(name) {
                issues.push(Issue::at(
                    path,
                    Seg::Index(i),
                    format!("{prefix}approvers lists '{name}' twice"),
                ));
            }
            path.pop();
        }
    }
}

// ---------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------

/// Scheduled-destruction waiting periods, in days (AWS KMS allows 7–30).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestructionRules {
    pub(super) min_wait_days: u64,
    pub(super) default_wait_days: u64,
}

impl Default for DestructionRules {
    fn default() -> DestructionRules {
        DestructionRules {
            min_wait_days: 7,
            default_wait_days: 30,
        }
    }
}

impl DestructionRules {
    /// The shortest waiting period a caller may ask for.
    #[must_use]
    pub fn min_wait(&self) -> Duration {
        days(self.min_wait_days)
    }

    /// The waiting period used when the caller names none.
    #[must_use]
    pub fn default_wait(&self) -> Duration {
        days(self.default_wait_days)
    }
}

/// The rules for one purpose. Every field is optional: an absent field
/// constrains nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) algorithms: Option<AlgList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rotation_period_days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) originator_usage_days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) recipient_usage_days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) usage_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rotate_at_usage_limit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) max_unused_days: Option<u64>,
}

impl PurposeRules {
    /// The allowed algorithms, if restricted.
    #[must_use]
    pub fn algorithms(&self) -> Option<&[Algorithm]> {
        self.algorithms.as_ref().map(|l| l.algs.as_slice())
    }

    /// Whether `alg` is allowed by these rules (true when unrestricted).
    #[must_use]
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms
            .as_ref()
            .is_none_or(|l| l.algs.contains(&alg))
    }

    /// Keys whose primary version is older than this are overdue for
    /// rotation.
    #[must_use]
    pub fn rotation_period(&self) -> Option<Duration> {
        self.rotation_period_days.map(days)
    }

    /// Originator-usage period (NIST SP 800-57 Part 1 §5.3.4): how long after
    /// activation a key may apply protection (encrypt, sign, MAC, …).
    #[must_use]
    pub fn originator_usage(&self) -> Option<Duration> {
        self.originator_usage_days.map(days)
    }

    /// Recipient-usage period (NIST SP 800-57 Part 1 §5.3.4): how long after
    /// activation a key may still process (decrypt, verify). Starts with the
    /// originator-usage period and is at least as long; its end is the end of
    /// the key's cryptoperiod.
    #[must_use]
    pub fn recipient_usage(&self) -> Option<Duration> {
        self.recipient_usage_days.map(days)
    }

    /// Maximum apply operations per key version.
    #[must_use]
    pub fn usage_limit(&self) -> Option<u64> {
        self.usage_limit
    }

    /// Whether keys must rotate (rather than refuse) at the usage limit.
    #[must_use]
    pub fn rotate_at_usage_limit(&self) -> Option<bool> {
        self.rotate_at_usage_limit
    }

    /// How long a key that can still be used may go unused before the
    /// compliance report flags it as a candidate for retirement (counted
    /// from its last use, or its activation when never used).
    #[must_use]
    pub fn max_unused(&self) -> Option<Duration> {
        self.max_unused_days.map(days)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurposeTables {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) aead: Option<PurposeRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) signing: Option<PurposeRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) mac: Option<PurposeRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) agreement: Option<PurposeRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) derivation: Option<PurposeRules>,
}

pub(super) const PURPOSES: [Purpose; 5] = [
    Purpose::Aead,
    Purpose::Signing,
    Purpose::Mac,
    Purpose::Agreement,
    Purpose::Derivation,
];

impl PurposeTables {
    pub(super) fn get(&self, p: Purpose) -> Option<&PurposeRules> {
        match p {
            Purpose::Aead => self.aead.as_ref(),
            Purpose::Signing => self.signing.as_ref(),
            Purpose::Mac => self.mac.as_ref(),
            Purpose::Agreement => self.agreement.as_ref(),
            Purpose::Derivation => self.derivation.as_ref(),
        }
    }

    pub(super) fn get_mut(&mut self, p: Purpose) -> Option<&mut PurposeRules> {
        match p {
            Purpose::Aead => self.aead.as_mut(),
            Purpose::Signing => self.signing.as_mut(),
            Purpose::Mac => self.mac.as_mut(),
            Purpose::Agreement => self.agreement.as_mut(),
            Purpose::Derivation => self.derivation.as_mut(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApprovalTables {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) destroy: Option<ApprovalRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) schedule_destruction: Option<ApprovalRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) export: Option<ApprovalRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) restore: Option<ApprovalRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) policy_change: Option<ApprovalRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) compromised_decrypt: Option<ApprovalRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) trust_destination: Option<ApprovalRule>,
}

impl ApprovalTables {
    pub(super) fn get(&self, op: ApprovalOperation) -> Option<&ApprovalRule> {
        self.slot(op).as_ref()
    }

    pub(super) fn slot(&self, op: ApprovalOperation) -> &Option<ApprovalRule> {
        match op {
            ApprovalOperation::Destroy => &self.destroy,
            ApprovalOperation::ScheduleDestruction => &self.schedule_destruction,
            ApprovalOperation::Export => &self.export,
            ApprovalOperation::Restore => &self.restore,
            ApprovalOperation::PolicyChange => &self.policy_change,
            ApprovalOperation::CompromisedDecrypt => &self.compromised_decrypt,
            ApprovalOperation::TrustDestination => &self.trust_destination,
        }
    }

    pub(super) fn slot_mut(&mut self, op: ApprovalOperation) -> &mut Option<ApprovalRule> {
        match op {
            ApprovalOperation::Destroy => &mut self.destroy,
            ApprovalOperation::ScheduleDestruction => &mut self.schedule_destruction,
            ApprovalOperation::Export => &mut self.export,
            ApprovalOperation::Restore => &mut self.restore,
            ApprovalOperation::PolicyChange => &mut self.policy_change,
            ApprovalOperation::CompromisedDecrypt => &mut self.compromised_decrypt,
            ApprovalOperation::TrustDestination => &mut self.trust_destination,
        }
    }
}

// ---------------------------------------------------------------------------
// Algorithm names
// ---------------------------------------------------------------------------

/// The name of an algorithm in policy files.
///
/// ```
/// use keylife::{Algorithm, policy::{algorithm_from_name, algorithm_name}};
/// assert_eq!(algorithm_name(Algorithm::Aes256Gcm), "aes-256-gcm");
/// assert_eq!(algorithm_from_name("ecdsa-p256-sha256"), Some(Algorithm::EcdsaP256Sha256));
/// ```
#[must_use]
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Aes256Gcm => "aes-256-gcm",
        Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        Algorithm::HmacSha256 => "hmac-sha256",
        Algorithm::EcdhP256 => "ecdh-p256",
        Algorithm::HkdfSha256 => "hkdf-sha256",
    }
}

pub(super) const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Aes256Gcm,
    Algorithm::EcdsaP256Sha256,
    Algorithm::HmacSha256,
    Algorithm::EcdhP256,
    Algorithm::HkdfSha256,
];

/// The algorithm a policy-file name stands for.
#[must_use]
pub fn algorithm_from_name(name: &str) -> Option<Algorithm> {
    ALGORITHMS.into_iter().find(|a| algorithm_name(*a) == name)
}

/// A list of algorithm names as written, and the algorithms they name.
/// Names are checked during validation (not deserialization) so that an
/// unknown name is reported on its own line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AlgList {
    pub(super) names: Vec<String>,
    pub(super) algs: Vec<Algorithm>,
}

impl<'de> Deserialize<'de> for AlgList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<AlgList, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let algs = names
            .iter()
            .filter_map(|n| algorithm_from_name(n))
            .collect();
        Ok(AlgList { names, algs })
    }
}

impl Serialize for AlgList {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.algs.iter().map(|a| algorithm_name(*a)))
    }
}
