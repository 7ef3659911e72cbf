//! The operations on keys and stores: what grants name, what the audit log
//! records, what a transition is audited as.

use serde::{Deserialize, Serialize};

/// What was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// Open a store.
    OpenStore,
    /// Create a key.
    Create,
    /// PreActive → Active.
    Activate,
    /// Active → Suspended.
    Suspend,
    /// Suspended → Active.
    Resume,
    /// Active/Suspended → Deactivated.
    Deactivate,
    /// Any live state → Compromised.
    Compromise,
    /// Deactivated/Compromised → PendingDestruction.
    ScheduleDestruction,
    /// PendingDestruction → previous state.
    CancelDestruction,
    /// → Destroyed (material removed).
    Destroy,
    /// Add a new primary version.
    Rotate,
    /// Mark one version compromised.
    CompromiseVersion,
    /// Destroy one version's material (trim).
    DestroyVersion,
    /// Raise the minimum decryption version.
    SetMinDecryptionVersion,
    /// AEAD encrypt.
    Encrypt,
    /// AEAD decrypt.
    Decrypt,
    /// Decrypt and re-encrypt under the primary version.
    Rewrap,
    /// The audited decrypt-to-rewrap override for a compromised key.
    CompromisedRewrap,
    /// Sign.
    Sign,
    /// Verify a signature.
    Verify,
    /// Compute a MAC.
    Mac,
    /// Verify a MAC.
    VerifyMac,
    /// HKDF derivation.
    Derive,
    /// ECDH key agreement.
    Agree,
    /// Read a key's metadata or public key.
    ReadMetadata,
    /// List keys.
    List,
    /// Apply date-driven transitions.
    Maintenance,
    /// Import key material.
    Import,
    /// Export key material.
    Export,
    /// Move the store to a new key-encryption key.
    RotateKek,
    /// Read, verify, export or checkpoint the audit log.
    ReadAudit,
    /// Persist a block of AES-GCM invocations before using them.
    ReserveUsage,
    /// Record the day of a key's last use (at most once per key and day).
    RecordUse,
    /// Check every stored record against the audit log.
    VerifyIntegrity,
    /// Put a new policy in force.
    SetPolicy,
    /// Register a principal or an approver key.
    RegisterPrincipal,
    /// Start a dual-control request.
    RequestApproval,
    /// Submit (or consume) approvals for a request.
    SubmitApprovals,
    /// Grant a principal use of a key.
    Grant,
    /// Withdraw a grant.
    RevokeGrant,
    /// Back keys up into an encrypted, share-split bundle.
    Backup,
    /// Register a trusted export destination.
    TrustDestination,
    /// Remove a trusted export destination.
    UntrustDestination,
    /// Restore keys from a backup bundle.
    Restore,
    /// Verify a backup bundle end to end without importing it.
    RestoreDrill,
    /// Change a key's owner (the compliance report's "without owner" fix).
    SetOwner,
    /// Archive a prefix of the audit log (export it, then remove it).
    ArchiveAudit,
}

impl Operation {
    /// Whether this is a use of a key (what grants name and what the audit
    /// log aggregates): encrypt, decrypt, rewrap, sign, verify, MAC, verify
    /// MAC, derive, agree.
    #[must_use]
    pub fn is_use(self) -> bool {
        use Operation::*;
        matches!(
            self,
            Encrypt | Decrypt | Rewrap | Sign | Verify | Mac | VerifyMac | Derive | Agree
        )
    }
}
