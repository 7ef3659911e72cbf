//! Policy as code: one declarative document (TOML, or JSON with the same
//! schema) for allowed algorithms, rotation periods, cryptoperiods, usage
//! limits, destruction waiting periods, approval requirements and
//! classification levels.
//!
//! `examples/policy.toml` is the commented reference. A policy is parsed
//! strictly — unknown fields and invalid values are errors of kind
//! [`ErrorKind::Policy`] whose message names the field and, for TOML, the
//! line — and has one canonical TOML form ([`Policy::to_toml`]) with a
//! digest ([`Policy::digest`]) that keys can record as "the policy I was
//! created under".
//!
//! ```
//! use keylife::{Algorithm, Purpose, policy::{ApprovalOperation, Policy}};
//! let policy = Policy::from_toml(r#"
//!     version = 3
//!     [purpose.aead]
//!     algorithms = ["aes-256-gcm"]
//!     rotation_period_days = 90
//!     [approvals.destroy]
//!     required = 2
//!     approvers = ["carol", "dave", "erin"]
//! "#)?;
//! assert!(policy.allows_algorithm(Algorithm::Aes256Gcm));
//! let aead = policy.rules(Purpose::Aead).ok_or(keylife::ErrorKind::NotFound)?;
//! assert_eq!(aead.rotation_period().map(|d| d.as_secs()), Some(90 * 86_400));
//! assert_eq!(policy.approval_rule(ApprovalOperation::Destroy).map(|r| r.required), Some(2));
//! # Ok::<(), keylife::Error>(())
//! ```

mod rules;
mod validate;

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::base::limits::{MAX_DOCUMENT, MAX_TOML_NESTING, check_size, toml_nesting};
use crate::base::{Error, ErrorKind, Result};
use crate::key::{Algorithm, KeyInfo, KeyPurpose, KeySpec, Purpose, StateName};

pub use self::rules::{
    ApprovalOperation, ApprovalRule, DestructionRules, PurposeRules, algorithm_from_name,
    algorithm_name,
};
use self::rules::{ApprovalTables, PurposeTables};
use self::validate::{canonical_rank, describe_toml_error, line_of, locate, policy_error, quote};

/// Seconds in a day: every period in a policy is a whole number of days.
const DAY_SECS: u64 = 86_400;
/// Upper bound on every period (100 years): larger values are typos, and the
/// bound keeps every date computation far from overflow.
const MAX_DAYS: u64 = 36_500;
/// The AES-GCM invocation bound with random 96-bit nonces (NIST SP 800-38D
/// §8.3).
const AEAD_MAX_USAGE: u64 = crate::crypto::AES_GCM_INVOCATION_LIMIT;
/// Classification levels when a policy lists none.
const DEFAULT_CLASSIFICATIONS: [&str; 4] = ["public", "internal", "confidential", "secret"];

/// A validated policy document.
///
/// Built only by parsing ([`Policy::from_toml`], [`Policy::from_json`]) or
/// as [`Policy::default`], so every `Policy` value satisfies the semantic
/// checks. Two policies are equal when their canonical forms are equal.
///
/// Absent fields take these values: `classifications` = `["public",
/// "internal", "confidential", "secret"]`, `[destruction]` = 7 days minimum
/// and 30 days default, no purpose rules (every algorithm, no periods, the
/// algorithm's own usage limit), no approvals.
///
/// `Policy` implements serde's `Deserialize` with the same checks (for
/// policies embedded in other documents), but only the two parsers above
/// report line numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    version: u64,
    classifications: Vec<String>,
    destruction: DestructionRules,
    #[serde(skip_serializing_if = "is_default")]
    purpose: PurposeTables,
    #[serde(skip_serializing_if = "is_default")]
    approvals: ApprovalTables,
}

/// The document as parsed, before validation. Only `Policy::check` turns
/// it into a `Policy`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    version: u64,
    #[serde(default = "default_classifications")]
    classifications: Vec<String>,
    #[serde(default)]
    destruction: DestructionRules,
    #[serde(default)]
    purpose: PurposeTables,
    #[serde(default)]
    approvals: ApprovalTables,
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Policy, D::Error> {
        let doc = PolicyDoc::deserialize(d)?;
        Policy::check(doc, |_| None).map_err(|e| {
            serde::de::Error::custom(e.message().unwrap_or("invalid policy").to_owned())
        })
    }
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

fn default_classifications() -> Vec<String> {
    DEFAULT_CLASSIFICATIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

impl Default for Policy {
    /// The permissive policy: revision 1, the four usual classification
    /// levels, every algorithm, no periods, no approvals, destruction waiting
    /// period 7 days minimum and 30 days by default.
    ///
    /// ```
    /// use keylife::{Algorithm, policy::Policy};
    /// let p = Policy::default();
    /// assert!(p.allows_algorithm(Algorithm::HmacSha256));
    /// assert_eq!(p, Policy::from_toml("version = 1")?);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    fn default() -> Policy {
        Policy {
            version: 1,
            classifications: default_classifications(),
            destruction: DestructionRules::default(),
            purpose: PurposeTables::default(),
            approvals: ApprovalTables::default(),
        }
    }
}

/// One way a key breaks the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The policy field that is broken (e.g. `purpose.aead.algorithms`,
    /// `classifications`).
    pub rule: String,
    /// What is wrong, in words.
    pub detail: String,
}

impl Policy {
    /// Parses and validates a TOML policy.
    ///
    /// ```
    /// use keylife::{ErrorKind, policy::Policy};
    /// let err = Policy::from_toml("version = 2\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 3\n")
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Policy);
    /// assert!(err.to_string().contains("policy line 4: destruction.default_wait_days (3) is below"));
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Policy`], with `policy line N:` and the field's dotted
    /// path in the message, for TOML syntax errors, unknown fields, values of
    /// the wrong type and every failed semantic check (all of them, joined by
    /// `"; "`).
    pub fn from_toml(src: &str) -> Result<Policy> {
        check_size("a policy", src.len(), MAX_DOCUMENT, ErrorKind::Policy)?;
        let depth = toml_nesting(src);
        if depth > MAX_TOML_NESTING {
            return Err(policy_error(format!(
                "policy: arrays and tables nested {depth} deep (at most {MAX_TOML_NESTING})"
            )));
        }
        let doc = DeTable::parse(src).map_err(|e| {
            let line = line_of(src, e.span().map_or(0, |s| s.start));
            policy_error(format!(
                "policy line {line}: TOML syntax: {}",
                quote(e.message())
            ))
        })?;
        let tree = doc.clone();
        let doc = PolicyDoc::deserialize(toml::de::Deserializer::from(doc))
            .map_err(|e| policy_error(describe_toml_error(src, tree.get_ref(), &e)))?;
        Policy::check(doc, |path| {
            locate(tree.get_ref(), path).map(|offset| line_of(src, offset))
        })
    }

    /// Parses and validates a JSON policy with the same schema as TOML.
    ///
    /// ```
    /// use keylife::policy::Policy;
    /// let json = Policy::from_json(r#"{"version": 1, "destruction": {"min_wait_days": 7, "default_wait_days": 30}}"#)?;
    /// assert_eq!(json, Policy::default());
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Policy`]: syntax, unknown-field and type errors give
    /// serde_json's line and column; semantic errors give the field's dotted
    /// path (JSON parsing keeps no positions).
    pub fn from_json(src: &str) -> Result<Policy> {
        check_size("a policy", src.len(), MAX_DOCUMENT, ErrorKind::Policy)?;
        let doc: PolicyDoc = serde_json::from_str(src).map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = full.strip_suffix(&suffix).unwrap_or(&full);
            policy_error(format!(
                "policy line {}, column {}: {}",
                e.line(),
                e.column(),
                quote(msg)
            ))
        })?;
        Policy::check(doc, |_| None)
    }

    /// The canonical TOML form: fixed table and field order, sets sorted,
    /// absent fields omitted, one blank line between tables. Stable across
    /// keylife and `toml` crate versions (keylife writes it itself), so it
    /// diffs cleanly and its digest identifies the policy.
    ///
    /// ```
    /// use keylife::policy::Policy;
    /// let p = Policy::from_toml("version = 4\n[approvals.export]\napprovers = ['erin', 'carol']\nrequired = 1\n")?;
    /// let canonical = p.to_toml()?;
    /// assert!(canonical.contains("[approvals.export]\nrequired = 1\napprovers = [\"carol\", \"erin\"]\n"));
    /// assert_eq!(Policy::from_toml(&canonical)?, p);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    ///
    /// # Errors
    /// None today; the `Result` leaves room for future fields.
    pub fn to_toml(&self) -> Result<String> {
        Ok(self.canonical())
    }

    /// The policy as compact JSON (same schema; accepted by
    /// [`Policy::from_json`]).
    ///
    /// # Errors
    /// Only if serialization fails, which it does not for these types.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal(format!("policy encoding: {e}")))
    }

    /// Lower-case hex SHA-256 of [`Policy::to_toml`]'s output.
    ///
    /// ```
    /// use keylife::policy::Policy;
    /// let a = Policy::from_toml("version = 1\nclassifications = ['public']")?;
    /// let b = Policy::from_json(r#"{"classifications": ["public"], "version": 1}"#)?;
    /// assert_eq!(a.digest(), b.digest());
    /// assert_eq!(a.digest().len(), 64);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn digest(&self) -> String {
        crate::base::encoding::hex(&Sha256::digest(self.canonical().as_bytes()))
    }

    /// The policy's own revision number (monotonic; at least 1).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The classification levels, in the order the policy lists them.
    #[must_use]
    pub fn classifications(&self) -> &[String] {
        &self.classifications
    }

    /// Whether `level` is one of the policy's classification levels
    /// (exact, case-sensitive match).
    #[must_use]
    pub fn classification_known(&self, level: &str) -> bool {
        self.classifications.iter().any(|c| c == level)
    }

    /// The rules for `purpose`, if the policy has a `[purpose.<name>]` table.
    #[must_use]
    pub fn rules(&self, purpose: Purpose) -> Option<&PurposeRules> {
        self.purpose.get(purpose)
    }

    /// Whether keys of algorithm `alg` may be created (and still comply).
    #[must_use]
    pub fn allows_algorithm(&self, alg: Algorithm) -> bool {
        self.rules(alg.purpose()).is_none_or(|r| r.allows(alg))
    }

    /// The approval requirement for `op`, if any.
    #[must_use]
    pub fn approval_rule(&self, op: ApprovalOperation) -> Option<&ApprovalRule> {
        self.approvals.get(op)
    }

    /// The destruction waiting periods: `(minimum, default)`.
    #[must_use]
    pub fn destruction_wait(&self) -> (Duration, Duration) {
        (self.destruction.min_wait(), self.destruction.default_wait())
    }

    /// The destruction rules.
    #[must_use]
    pub fn destruction(&self) -> &DestructionRules {
        &self.destruction
    }

    /// Every way `info` breaks this policy; empty when it complies.
    ///
    /// Checks the algorithm, the usage limit and rotate-at-limit setting,
    /// the classification level, and the end of originator usage (cryptoperiod
    /// or deactivation date) against the purpose's originator-usage period.
    /// Destroyed keys hold no material and comply with everything.
    ///
    /// ```
    /// use keylife::{KeyStore, KeySpec, Principal, purpose::Mac, policy::Policy};
    /// let store = KeyStore::in_memory(Principal::admin("doc"))?;
    /// let key = store.create(KeySpec::<Mac>::new("m").classification("top-secret"))?;
    /// let policy = Policy::from_toml("version = 1\n[purpose.mac]\nusage_limit = 1000\n")?;
    /// let rules: Vec<String> = policy.check_key(&key.info()?).into_iter().map(|v| v.rule).collect();
    /// assert_eq!(rules, ["purpose.mac.usage_limit", "classifications"]);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn check_key(&self, info: &KeyInfo) -> Vec<Violation> {
        let mut out = Vec::new();
        if !info.state.has_material() {
            return out;
        }
        let p = info.purpose.as_str();
        let rules = self.rules(info.purpose);
        if let Some(r) = rules {
            if !r.allows(info.algorithm) {
                out.push(Violation {
                    rule: format!("purpose.{p}.algorithms"),
                    detail: format!(
                        "algorithm {} is not allowed for {p} keys (allowed: {})",
                        algorithm_name(info.algorithm),
                        r.algorithms()
                            .unwrap_or_default()
                            .iter()
                            .map(|a| algorithm_name(*a))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            if let Some(limit) = r.usage_limit
                && info.usage_limit > limit
            {
                out.push(Violation {
                    rule: format!("purpose.{p}.usage_limit"),
                    detail: format!(
                        "key usage limit {} exceeds the policy's {limit}",
                        info.usage_limit
                    ),
                });
            }
            if r.rotate_at_usage_limit == Some(true) && !info.rotate_at_usage_limit {
                out.push(Violation {
                    rule: format!("purpose.{p}.rotate_at_usage_limit"),
                    detail: "policy requires rotation at the usage limit; the key refuses instead"
                        .to_owned(),
                });
            }
            if let Some(max_days) = r.originator_usage_days {
                let max_ms = max_days.saturating_mul(DAY_SECS * 1000);
                let start = info
                    .activated_at
                    .or(info.activation_date)
                    .unwrap_or(info.created_at);
                let by_date = info
                    .deactivation_date
                    .map(|d| u64::try_from(d.0.saturating_sub(start.0)).unwrap_or(0));
                let period = match (info.cryptoperiod_ms, by_date) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                match period {
                    Some(ms) if ms > max_ms => out.push(Violation {
                        rule: format!("purpose.{p}.originator_usage_days"),
                        detail: format!(
                            "originator usage lasts {} days; policy allows {max_days}",
                            ms.div_ceil(DAY_SECS * 1000)
                        ),
                    }),
                    None if matches!(
                        info.state,
                        StateName::PreActive | StateName::Active | StateName::Suspended
                    ) =>
                    {
                        out.push(Violation {
                            rule: format!("purpose.{p}.originator_usage_days"),
                            detail: format!(
                                "no cryptoperiod or deactivation date; policy limits originator usage to {max_days} days"
                            ),
                        });
                    }
                    _ => {}
                }
            }
        }
        if let Some(level) = &info.classification
            && !self.classification_known(level)
        {
            out.push(Violation {
                rule: "classifications".to_owned(),
                detail: format!(
                    "classification '{level}' is not one of the policy's levels ({})",
                    self.classifications.join(", ")
                ),
            });
        }
        out
    }

    /// What changed from `self` to `other`, one line per field, in canonical
    /// order (`path: old -> new`, `(unset)` for absent values).
    ///
    /// ```
    /// use keylife::policy::Policy;
    /// let old = Policy::from_toml("version = 1\n[purpose.aead]\nrotation_period_days = 90")?;
    /// let new = Policy::from_toml("version = 2\n[purpose.aead]\nrotation_period_days = 60")?;
    /// assert_eq!(old.diff(&new), [
    ///     "version: 1 -> 2",
    ///     "purpose.aead.rotation_period_days: 90 -> 60",
    /// ]);
    /// # Ok::<(), keylife::Error>(())
    /// ```
    #[must_use]
    pub fn diff(&self, other: &Policy) -> Vec<String> {
        let a = self.flatten();
        let b = other.flatten();
        // Keep canonical order: walk `a`'s keys, then keys only in `b`, each
        // in their own canonical position.
        let mut keys: Vec<&String> = a.iter().map(|(k, _)| k).collect();
        for (k, _) in &b {
            if !keys.contains(&k) {
                let pos = canonical_rank(k);
                let at = keys
                    .iter()
                    .position(|x| canonical_rank(x) > pos)
                    .unwrap_or(keys.len());
                keys.insert(at, k);
            }
        }
        let get = |v: &[(String, String)], k: &str| {
            v.iter()
                .find(|(x, _)| x == k)
                .map_or_else(|| "(unset)".to_owned(), |(_, val)| val.clone())
        };
        keys.into_iter()
            .filter_map(|k| {
                let (x, y) = (get(&a, k), get(&b, k));
                (x != y).then(|| format!("{k}: {x} -> {y}"))
            })
            .collect()
    }
}

impl Policy {
    /// Checks a key spec against this policy (allowed algorithm, known
    /// classification, usage-limit ceiling) and fills in what the spec left
    /// open (usage limit, cryptoperiod, rotation period, rotation at the
    /// usage limit) from the purpose's rules.
    pub(crate) fn apply_to_spec<P: KeyPurpose>(&self, mut spec: KeySpec<P>) -> Result<KeySpec<P>> {
        let alg = P::PURPOSE.default_algorithm();
        let policy_err = |m: String| Error::new(ErrorKind::Policy, m);
        if !self.allows_algorithm(alg) {
            return Err(policy_err(format!(
                "policy version {} does not allow {alg:?}",
                self.version()
            )));
        }
        if let Some(c) = &spec.classification
            && !self.classification_known(c)
        {
            return Err(policy_err(format!(
                "classification '{c}' is not one of the policy's levels ({})",
                self.classifications().join(", ")
            )));
        }
        if let Some(rules) = self.rules(P::PURPOSE) {
            if let Some(max) = rules.usage_limit() {
                match spec.usage_limit {
                    Some(l) if l > max => {
                        return Err(policy_err(format!(
                            "usage limit {l} exceeds the policy's {max} for {}",
                            P::PURPOSE
                        )));
                    }
                    None => spec.usage_limit = Some(max),
                    _ => {}
                }
            }
            if spec.cryptoperiod.is_none() && spec.deactivation_date.is_none() {
                spec.cryptoperiod = rules.originator_usage();
            }
            if spec.rotation_period.is_none() {
                spec.rotation_period = rules.rotation_period();
            }
            if rules.rotate_at_usage_limit() == Some(true) {
                spec.rotate_at_usage_limit = true;
            }
        }
        Ok(spec)
    }
}

/// A `KeyInfo` to build test cases from (the type is `#[non_exhaustive]`,
/// so only code inside the crate can write one).
#[cfg(test)]
pub(crate) mod test_keys {
    use std::collections::BTreeMap;

    use crate::key::{
        Algorithm, KeyId, KeyInfo, Origin, StateName, Timestamp, VersionInfo, VersionState,
    };

    /// 2024-01-01T00:00:00Z.
    pub(crate) const T0: Timestamp = Timestamp(1_704_067_200_000);

    /// An Active key of `alg`, created and activated at [`T0`], owned,
    /// classified "internal", never used.
    pub(crate) fn key_info(alg: Algorithm) -> KeyInfo {
        KeyInfo {
            id: KeyId::from_bytes([7; 16]),
            name: "payments".to_owned(),
            owner: Some("payments-team".to_owned()),
            purpose: alg.purpose(),
            algorithm: alg,
            state: StateName::Active,
            state_before_pending: None,
            created_at: T0,
            activated_at: Some(T0),
            last_rotated_at: None,
            activation_date: None,
            deactivation_date: None,
            cryptoperiod_ms: None,
            destruction_date: None,
            primary_version: 1,
            min_decryption_version: 1,
            versions: vec![VersionInfo {
                number: 1,
                created_at: T0,
                state: VersionState::Enabled,
                usage_count: 0,
            }],
            history: Vec::new(),
            last_used: None,
            usage_limit: 1 << 32,
            rotate_at_usage_limit: false,
            suspended_processing: true,
            exportable: false,
            origin: Origin::Generated,
            rotation_period_ms: None,
            grants: Vec::new(),
            policy_version: None,
            policy_digest: None,
            classification: Some("internal".to_owned()),
            labels: BTreeMap::new(),
        }
    }
}

// Tests fail by panicking, with the offending value in the message.
#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    /// The shipped example.
    const EXAMPLE: &str = include_str!("../../../examples/policy.toml");

    fn err(src: &str) -> String {
        match Policy::from_toml(src) {
            Ok(_) => panic!("accepted:\n{src}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Policy, "{e}");
                e.to_string()
            }
        }
    }

    /// Asserts that `src` fails with a message naming `line` and containing
    /// every fragment.
    fn rejects(src: &str, line: usize, fragments: &[&str]) {
        let msg = err(src);
        assert!(
            msg.contains(&format!("policy line {line}:")),
            "expected line {line} in: {msg}"
        );
        for f in fragments {
            assert!(msg.contains(f), "expected {f:?} in: {msg}");
        }
    }

    #[test]
    fn example_parses() {
        let p = Policy::from_toml(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.version() >= 1);
        let aead = p.rules(Purpose::Aead).cloned();
        let aead = aead.unwrap_or_else(|| panic!("example has [purpose.aead]"));
        assert_eq!(aead.algorithms(), Some(&[Algorithm::Aes256Gcm][..]));
        assert_eq!(
            aead.rotation_period(),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(aead.usage_limit(), Some(1 << 32));
        let destroy = p.approval_rule(ApprovalOperation::Destroy);
        assert_eq!(destroy.map(|r| r.required), Some(2));
        assert_eq!(
            p.destruction_wait(),
            (
                Duration::from_secs(7 * 86_400),
                Duration::from_secs(30 * 86_400)
            )
        );
        assert!(p.classification_known("confidential"));
        assert!(!p.classification_known("Confidential"));
    }

    #[test]
    fn syntax_error_names_line() {
        rejects(
            "version = 3\n\n[destruction\n",
            3,
            &["TOML syntax", "unclosed table"],
        );
        rejects(
            "version = 3\nversion = 4\n",
            2,
            &["TOML syntax", "duplicate key"],
        );
    }

    #[test]
    fn unknown_field_names_field_table_and_line() {
        let src = "version = 3\n\n[purpose.aead]\nalgorithms = [\"aes-256-gcm\"]\n\n\nrotaton_period_days = 90\n";
        rejects(
            src,
            7,
            &[
                "unknown field 'rotaton_period_days' in [purpose.aead]",
                "expected",
            ],
        );
        rejects(
            "version = 3\ncolour = 1\n",
            2,
            &["unknown field 'colour' in the top level"],
        );
        rejects(
            "version = 3\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 30\nmax_wait_days = 40\n",
            5,
            &["unknown field 'max_wait_days' in [destruction]"],
        );
    }

    #[test]
    fn unknown_purpose_and_operation_rejected() {
        rejects(
            "version = 3\n[purpose.wrapping]\nusage_limit = 1\n",
            2,
            &["unknown field 'wrapping' in [purpose]"],
        );
        rejects(
            "version = 3\n[approvals.delete]\nrequired = 1\napprovers = ['a']\n",
            2,
            &["unknown field 'delete' in [approvals]"],
        );
    }

    #[test]
    fn wrong_type_names_field_and_line() {
        rejects(
            "version = 3\n[approvals.export]\nrequired = \"two\"\napprovers = ['a', 'b']\n",
            3,
            &["approvals.export.required", "invalid type"],
        );
        rejects("version = -1\n", 1, &["version", "invalid value"]);
        rejects(
            "version = 3\n[destruction]\nmin_wait_days = 7\n",
            2,
            &["destruction", "missing field 'default_wait_days'"],
        );
    }

    #[test]
    fn bad_algorithm_names_line() {
        rejects(
            "version = 3\n[purpose.aead]\nalgorithms = [\n  \"aes-256-gcm\",\n  \"aes-128-gcm\",\n]\n",
            5,
            &["purpose.aead.algorithms", "unknown algorithm 'aes-128-gcm'"],
        );
        rejects(
            "version = 3\n[purpose.aead]\nalgorithms = [\n  \"aes-256-gcm\",\n  \"ecdsa-p256-sha256\",\n]\n",
            5,
            &["purpose.aead.algorithms: ecdsa-p256-sha256 is a signing algorithm, not aead"],
        );
        rejects(
            "version = 3\n[purpose.mac]\nalgorithms = [\"hmac-sha256\",\n \"hmac-sha256\"]\n",
            4,
            &["lists hmac-sha256 twice"],
        );
        rejects(
            "version = 3\n[purpose.mac]\n\nalgorithms = []\n",
            4,
            &["purpose.mac.algorithms is empty"],
        );
    }

    #[test]
    fn destruction_wait_checked() {
        rejects(
            "version = 2\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 3\n",
            4,
            &["destruction.default_wait_days (3) is below min_wait_days (7)"],
        );
        rejects(
            "version = 2\n[destruction]\nmin_wait_days = 0\ndefault_wait_days = 3\n",
            3,
            &["destruction.min_wait_days (0) must be 1..=36500"],
        );
        // Twin: equal is fine.
        assert!(
            Policy::from_toml(
                "version = 2\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 7\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn approval_rule_checked() {
        rejects(
            "version = 1\n[approvals.destroy]\nrequired = 0\napprovers = ['a']\n",
            3,
            &["approvals.destroy.required must be at least 1"],
        );
        rejects(
            "version = 1\n[approvals.destroy]\nrequired = 3\napprovers = ['a', 'b']\n",
            3,
            &["approvals.destroy.required (3) exceeds the number of approvers (2)"],
        );
        rejects(
            "version = 1\n[approvals.restore]\nrequired = 2\napprovers = [\n 'carol',\n 'dave',\n 'carol',\n]\n",
            7,
            &["approvals.restore.approvers lists 'carol' twice"],
        );
        rejects(
            "version = 1\n[approvals.restore]\nrequired = 1\napprovers = ['']\n",
            4,
            &["approvals.restore.approvers[0] must be a non-empty name"],
        );
        assert!(
            Policy::from_toml(
                "version = 1\n[approvals.restore]\nrequired = 2\napprovers = ['carol', 'dave']\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn usage_limit_checked() {
        rejects(
            "version = 1\n[purpose.aead]\nusage_limit = 4294967297\n",
            3,
            &["purpose.aead.usage_limit (4294967297) exceeds the AES-GCM bound"],
        );
        rejects(
            "version = 1\n[purpose.signing]\nusage_limit = 0\n",
            3,
            &["purpose.signing.usage_limit must be at least 1"],
        );
        // Twins: the bound itself, and a large limit for a non-AEAD purpose.
        assert!(
            Policy::from_toml("version = 1\n[purpose.aead]\nusage_limit = 4294967296\n").is_ok()
        );
        assert!(
            Policy::from_toml("version = 1\n[purpose.signing]\nusage_limit = 4294967297\n").is_ok()
        );
    }

    #[test]
    fn periods_checked() {
        rejects(
            "version = 1\n[purpose.aead]\noriginator_usage_days = 365\nrecipient_usage_days = 30\n",
            4,
            &["purpose.aead.recipient_usage_days (30) is below originator_usage_days (365)"],
        );
        rejects(
            "version = 1\n[purpose.mac]\nrotation_period_days = 0\n",
            3,
            &["purpose.mac.rotation_period_days (0) must be 1..=36500"],
        );
        assert!(
            Policy::from_toml(
                "version = 1\n[purpose.aead]\noriginator_usage_days = 365\nrecipient_usage_days = 365\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn classifications_and_version_checked() {
        rejects(
            "version = 1\nclassifications = []\n",
            2,
            &["classifications must list at least one level"],
        );
        rejects(
            "version = 1\nclassifications = [\n 'public',\n 'secret',\n 'Secret',\n]\n",
            5,
            &["classifications lists 'Secret' twice"],
        );
        rejects("\n\nversion = 0\n", 3, &["version must be at least 1"]);
        assert!(Policy::from_toml("version = 1\nclassifications = ['public', 'secret']\n").is_ok());
    }

    #[test]
    fn every_issue_is_reported_in_line_order() {
        let msg = err(
            "version = 0\n[destruction]\nmin_wait_days = 9\ndefault_wait_days = 8\n[approvals.export]\nrequired = 5\napprovers = ['a']\n",
        );
        let lines: Vec<&str> = msg.split("; policy").collect();
        assert_eq!(lines.len(), 3, "{msg}");
        assert!(lines[0].contains("policy line 1: version"), "{msg}");
        assert!(
            lines[1].starts_with(" line 4: destruction.default_wait_days"),
            "{msg}"
        );
        assert!(
            lines[2].starts_with(" line 6: approvals.export.required"),
            "{msg}"
        );
    }

    #[test]
    fn round_trip_is_identity_and_canonical() {
        let p = Policy::from_toml(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let canonical = p.to_toml().unwrap_or_else(|e| panic!("{e}"));
        let q = Policy::from_toml(&canonical).unwrap_or_else(|e| panic!("{e}\n{canonical}"));
        assert_eq!(p, q);
        assert_eq!(q.to_toml().ok(), Some(canonical.clone()));
        // A different spelling of the same policy has the same canonical form.
        let shuffled = "[approvals.destroy]\napprovers = [\"erin\", \"dave\", \"carol\"]\nrequired = 2\n\n[purpose.aead]\nusage_limit = 4294967296\nalgorithms = [\"aes-256-gcm\"]\n";
        let a = Policy::from_toml(&format!("version = 3\n{shuffled}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a.to_toml().unwrap_or_default().contains(
            "[purpose.aead]\nalgorithms = [\"aes-256-gcm\"]\nusage_limit = 4294967296\n\n[approvals.destroy]\nrequired = 2\napprovers = [\"carol\", \"dave\", \"erin\"]\n"
        ));
    }

    #[test]
    fn canonical_strings_are_escaped() {
        let p = Policy::from_toml(
            "version = 1\nclassifications = ['a\"b', 'c\\d', \"tab\\there\", \"nul\\u0001\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let t = p.to_toml().unwrap_or_default();
        assert!(
            t.contains(r#"["a\"b", "c\\d", "tab\there", "nul\u0001"]"#),
            "{t}"
        );
        assert_eq!(Policy::from_toml(&t).ok(), Some(p));
    }

    #[test]
    fn digest_is_stable() {
        let p = Policy::from_toml(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.digest(), p.clone().digest());
        let canonical = p.to_toml().unwrap_or_default();
        let again = Policy::from_toml(&canonical).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.digest(), again.digest());
        // Pinned: the canonical form of the default policy never changes
        // silently (keys record the digest of the policy they were made under).
        assert_eq!(
            Policy::default().to_toml().ok().as_deref(),
            Some(
                "version = 1\nclassifications = [\"public\", \"internal\", \"confidential\", \"secret\"]\n\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 30\n"
            )
        );
        let d = Policy::default().digest();
        assert_eq!(d, {
            let h = Sha256::digest(Policy::default().canonical().as_bytes());
            crate::base::encoding::hex(&h)
        });
        // Any change moves the digest.
        let bumped = Policy::from_toml("version = 2").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(bumped.digest(), d);
    }

    #[test]
    fn json_is_equivalent() {
        let p = Policy::from_toml(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let json = p.to_json().unwrap_or_else(|e| panic!("{e}"));
        let q = Policy::from_json(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
        assert_eq!(p, q);
        assert_eq!(p.digest(), q.digest());
        let hand = r#"{
            "version": 3,
            "purpose": {"aead": {"algorithms": ["aes-256-gcm"], "rotation_period_days": 90}},
            "approvals": {"destroy": {"required": 2, "approvers": ["dave", "carol"]}}
        }"#;
        let toml = "version = 3\n[purpose.aead]\nalgorithms = ['aes-256-gcm']\nrotation_period_days = 90\n[approvals.destroy]\nrequired = 2\napprovers = ['carol', 'dave']\n";
        assert_eq!(Policy::from_json(hand).ok(), Policy::from_toml(toml).ok());
    }

    fn json_err(src: &str) -> Error {
        match Policy::from_json(src) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn serde_deserialize_validates_too() {
        let bad = r#"{"version": 1, "approvals": {"export": {"required": 3, "approvers": ["a"]}}}"#;
        let e = serde_json::from_str::<Policy>(bad).map(|p| p.version());
        assert!(
            e.as_ref().is_err_and(|e| e
                .to_string()
                .contains("approvals.export.required (3) exceeds the number of approvers (1)")),
            "{e:?}"
        );
        let good =
            r#"{"version": 1, "approvals": {"export": {"required": 1, "approvers": ["b", "a"]}}}"#;
        assert_eq!(
            serde_json::from_str::<Policy>(good).ok(),
            Policy::from_json(good).ok()
        );
        assert!(Policy::from_json(good).is_ok());
    }

    #[test]
    fn json_errors_give_position_or_path() {
        let e = json_err("{\n  \"version\": 1,\n  \"colour\": 2\n}");
        assert_eq!(e.kind(), ErrorKind::Policy);
        let m = e.to_string();
        assert!(
            m.contains("policy line 3, column") && m.contains("unknown field 'colour'"),
            "{m}"
        );
        let e = json_err("{\"version\": 1, ");
        assert!(e.to_string().contains("policy line 1, column"), "{e}");
        let e = json_err(
            r#"{"version": 1, "destruction": {"min_wait_days": 7, "default_wait_days": 3}}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Policy);
        assert!(
            e.to_string()
                .contains("policy: destruction.default_wait_days (3) is below"),
            "{e}"
        );
    }

    #[test]
    fn queries() {
        let p = Policy::from_toml(
            "version = 1\n[purpose.aead]\nalgorithms = ['aes-256-gcm']\n[purpose.signing]\nrotation_period_days = 30\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.allows_algorithm(Algorithm::Aes256Gcm));
        assert!(p.allows_algorithm(Algorithm::EcdsaP256Sha256)); // no list: all
        assert!(p.allows_algorithm(Algorithm::HmacSha256)); // no table: all
        assert!(p.rules(Purpose::Mac).is_none());
        assert_eq!(
            p.rules(Purpose::Signing)
                .and_then(PurposeRules::rotation_period),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert!(p.approval_rule(ApprovalOperation::Export).is_none());
        for op in ApprovalOperation::ALL {
            assert_eq!(op.as_str().parse::<ApprovalOperation>().ok(), Some(op));
        }
        assert!("delete".parse::<ApprovalOperation>().is_err());
    }

    #[test]
    fn approval_rule_new_validates() {
        assert!(ApprovalRule::new(2, ["a", "b"]).is_ok());
        assert_eq!(
            ApprovalRule::new(0, ["a"]).map_err(|e| e.kind()),
            Err(ErrorKind::Policy)
        );
        assert!(ApprovalRule::new(2, ["a", "a"]).is_err());
        assert!(ApprovalRule::new(3, ["a", "b"]).is_err());
    }

    #[test]
    fn diff_lists_changes() {
        let a = Policy::from_toml(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert!(a.diff(&a).is_empty());
        let cut = EXAMPLE
            .find("[approvals.compromised_decrypt]")
            .unwrap_or(EXAMPLE.len());
        let b_src = EXAMPLE[..cut]
            .replace("version = 3", "version = 4")
            .replace("rotation_period_days = 90", "rotation_period_days = 60");
        let b = Policy::from_toml(&b_src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            a.diff(&b),
            [
                "version: 3 -> 4",
                "purpose.aead.rotation_period_days: 90 -> 60",
                "approvals.compromised_decrypt.required: 1 -> (unset)",
                "approvals.compromised_decrypt.approvers: [\"carol\", \"dave\"] -> (unset)",
                "approvals.trust_destination.required: 2 -> (unset)",
                "approvals.trust_destination.approvers: [\"carol\", \"dave\", \"erin\"] -> (unset)",
            ]
        );
        // Fields only in the newer policy appear in canonical position.
        let c = Policy::from_toml("version = 3\n[purpose.derivation]\nusage_limit = 5\n[approvals.export]\nrequired = 1\napprovers = ['carol']\n[purpose.aead]\nusage_limit = 9\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Policy::from_toml("version = 3")
                .map(|p| p.diff(&c))
                .unwrap_or_default(),
            [
                "purpose.aead.usage_limit: (unset) -> 9",
                "purpose.derivation.usage_limit: (unset) -> 5",
                "approvals.export.required: (unset) -> 1",
                "approvals.export.approvers: (unset) -> [\"carol\"]",
            ]
        );
    }

    fn info(alg: Algorithm) -> KeyInfo {
        let mut i = test_keys::key_info(alg);
        i.classification = Some("internal".to_owned());
        i
    }

    #[test]
    fn check_key_reports_each_violation() {
        let p = Policy::from_toml(
            "version = 1\n[purpose.aead]\nalgorithms = ['aes-256-gcm']\nusage_limit = 1000\nrotate_at_usage_limit = true\noriginator_usage_days = 365\n[purpose.mac]\nalgorithms = ['hmac-sha256']\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Compliant twin.
        let mut good = info(Algorithm::Aes256Gcm);
        good.usage_limit = 1000;
        good.rotate_at_usage_limit = true;
        good.cryptoperiod_ms = Some(365 * 86_400_000);
        assert_eq!(p.check_key(&good), []);

        let rules =
            |i: &KeyInfo| -> Vec<String> { p.check_key(i).into_iter().map(|v| v.rule).collect() };
        let mut k = good.clone();
        k.usage_limit = 1001;
        assert_eq!(rules(&k), ["purpose.aead.usage_limit"]);
        let mut k = good.clone();
        k.rotate_at_usage_limit = false;
        assert_eq!(rules(&k), ["purpose.aead.rotate_at_usage_limit"]);
        let mut k = good.clone();
        k.classification = Some("top-secret".to_owned());
        assert_eq!(rules(&k), ["classifications"]);
        let mut k = good.clone();
        k.cryptoperiod_ms = Some(366 * 86_400_000);
        assert_eq!(rules(&k), ["purpose.aead.originator_usage_days"]);
        let mut k = good.clone();
        k.cryptoperiod_ms = None;
        assert_eq!(rules(&k), ["purpose.aead.originator_usage_days"]);
        k.deactivation_date = Some(k.created_at.plus(Duration::from_secs(30 * 86_400)));
        assert_eq!(rules(&k), Vec::<String>::new());
        // An algorithm no longer allowed (a key of a purpose whose list
        // changed); built by hand since keylife has one algorithm per purpose.
        let mut k = good.clone();
        k.purpose = Purpose::Mac;
        assert_eq!(rules(&k), ["purpose.mac.algorithms"]);
        let v = p.check_key(&k);
        assert!(
            v[0].detail
                .contains("aes-256-gcm is not allowed for mac keys"),
            "{v:?}"
        );
        // Destroyed keys comply with everything.
        k.state = StateName::Destroyed;
        assert_eq!(rules(&k), Vec::<String>::new());
    }
}
