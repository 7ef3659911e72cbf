//! Inventory metadata: everything about a key except its material.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::operation::Operation;
use super::types::{Algorithm, Purpose, StateName};
use crate::base::{KeyId, Timestamp};

/// The state of one version of a key, independent of the key's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Usable as the key's state allows.
    Enabled,
    /// Marked compromised on its own; never used again except through the
    /// audited decrypt-to-rewrap override.
    Compromised,
    /// Material destroyed (trimmed); metadata kept.
    Destroyed,
}

/// Metadata of one key version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VersionInfo {
    /// Version number, from 1.
    pub number: u32,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its own state.
    pub state: VersionState,
    /// Apply operations counted against this version. For AES-GCM keys this
    /// is an upper bound that is never below the true count: counts are
    /// reserved in blocks before use, so a crash can only over-count.
    pub usage_count: u64,
}

/// One recorded state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StateChange {
    /// When it happened.
    pub at: Timestamp,
    /// State before.
    pub from: Option<StateName>,
    /// State after.
    pub to: StateName,
    /// Who made it (`keylife:scheduler` for date-driven changes).
    pub principal: String,
    /// Why.
    pub reason: String,
}

/// Where the key material came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Generated inside keylife from the OS CSPRNG.
    Generated,
    /// Imported from outside.
    Imported,
}

/// Everything keylife knows about a key, except its material. Safe to log,
/// print and export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's id.
    pub id: KeyId,
    /// Human-readable name (not unique).
    pub name: String,
    /// Owning team or person, if set.
    pub owner: Option<String>,
    /// Purpose, fixed at creation.
    pub purpose: Purpose,
    /// Algorithm, fixed at creation.
    pub algorithm: Algorithm,
    /// Current state.
    pub state: StateName,
    /// The state the key had before it was scheduled for destruction.
    pub state_before_pending: Option<StateName>,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it became Active, if it did.
    pub activated_at: Option<Timestamp>,
    /// Last rotation time, if rotated.
    pub last_rotated_at: Option<Timestamp>,
    /// Automatic activation date (applied on load, use, or maintenance).
    pub activation_date: Option<Timestamp>,
    /// Automatic deactivation date: end of the originator-usage period.
    pub deactivation_date: Option<Timestamp>,
    /// Originator-usage period (NIST SP 800-57 Part 1 §5.3) in milliseconds:
    /// on activation, sets the deactivation date when none was given.
    pub cryptoperiod_ms: Option<u64>,
    /// Destruction date while PendingDestruction.
    pub destruction_date: Option<Timestamp>,
    /// Version used for apply operations.
    pub primary_version: u32,
    /// Versions below this are refused for processing.
    pub min_decryption_version: u32,
    /// All versions, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Every state change, oldest first.
    pub history: Vec<StateChange>,
    /// The UTC day (its midnight) of the key's last successful use
    /// (encrypt, decrypt, sign, verify, MAC, derive, agree, rewrap), or
    /// `None` if never used. Coarse on purpose: recorded at most once per
    /// key and day, so dead keys can be found and retired.
    #[serde(default)]
    pub last_used: Option<Timestamp>,
    /// Maximum apply operations per version (AES-GCM: at most 2^32,
    /// NIST SP 800-38D §8.3).
    pub usage_limit: u64,
    /// Rotate automatically when the primary version reaches the limit,
    /// instead of refusing.
    pub rotate_at_usage_limit: bool,
    /// Whether a Suspended key may still process (decrypt, verify).
    pub suspended_processing: bool,
    /// Whether plaintext export may ever be requested.
    pub exportable: bool,
    /// Generated or imported.
    pub origin: Origin,
    /// Rotation period in milliseconds: an Active key whose primary version
    /// is older than this is rotated when next loaded, used or maintained.
    pub rotation_period_ms: Option<u64>,
    /// Who may use the key besides administrators, for what, until when.
    pub grants: Vec<Grant>,
    /// Version of the policy in force when the key was created.
    pub policy_version: Option<u64>,
    /// Digest of that policy.
    pub policy_digest: Option<String>,
    /// Classification level (e.g. "confidential"); policy lists the levels.
    pub classification: Option<String>,
    /// Free-form labels (compliance scope, cost centre, ...).
    pub labels: BTreeMap<String, String>,
}

impl KeyInfo {
    /// Metadata of version `n`, if it exists.
    #[must_use]
    pub fn version(&self, n: u32) -> Option<&VersionInfo> {
        let idx = usize::try_from(n.checked_sub(1)?).ok()?;
        self.versions.get(idx)
    }

    pub(crate) fn version_mut(&mut self, n: u32) -> Option<&mut VersionInfo> {
        let idx = usize::try_from(n.checked_sub(1)?).ok()?;
        self.versions.get_mut(idx)
    }

    /// The earliest date at which a date-driven transition is due.
    /// When the primary version becomes due for rotation, if a rotation
    /// period is set.
    pub(crate) fn rotation_due(&self) -> Option<Timestamp> {
        let period = self.rotation_period_ms?;
        let since = self.version(self.primary_version)?.created_at;
        Some(since.plus(core::time::Duration::from_millis(period)))
    }

    pub(crate) fn next_due(&self) -> Option<Timestamp> {
        match self.state {
            StateName::PreActive => [self.activation_date, self.deactivation_date]
                .into_iter()
                .flatten()
                .min(),
            StateName::Active => [self.deactivation_date, self.rotation_due()]
                .into_iter()
                .flatten()
                .min(),
            StateName::Suspended => self.deactivation_date,
            StateName::PendingDestruction => self.destruction_date,
            _ => None,
        }
    }
}

/// A per-key permission for one principal to perform some use operations,
/// optionally until a date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Grant {
    /// The grantee (a registered principal).
    pub principal: String,
    /// Use operations allowed (encrypt, decrypt, sign, verify, mac,
    /// verify_mac, derive, agree, rewrap).
    pub operations: Vec<Operation>,
    /// No longer valid from this time on.
    pub expires_at: Option<Timestamp>,
}

impl Grant {
    pub(crate) fn new(
        principal: &str,
        operations: &[Operation],
        expires_at: Option<Timestamp>,
    ) -> Grant {
        Grant {
            principal: principal.to_owned(),
            operations: operations.to_vec(),
            expires_at,
        }
    }
}

impl VersionInfo {
    /// A new, enabled, unused version.
    pub(crate) fn new(number: u32, at: Timestamp) -> VersionInfo {
        VersionInfo {
            number,
            created_at: at,
            state: VersionState::Enabled,
            usage_count: 0,
        }
    }
}
