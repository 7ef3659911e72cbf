//! Audit events and the sink they go to.
//!
//! Every operation a [`crate::KeyStore`] performs or refuses produces exactly
//! one [`AuditEvent`], handed to every registered [`AuditSink`] before the
//! call returns. Events carry ids, names and outcomes — never key material,
//! plaintext or associated data.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::base::{ErrorKind, KeyId, Result, Timestamp};
pub use crate::key::Operation;

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by authorization or policy.
    Denied,
    /// Attempted and failed (wrong state, bad input, authentication, …).
    Failed,
}

/// One audit event. Borrowed, so producing it costs no allocation.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AuditEvent<'a> {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub principal: &'a str,
    /// What.
    pub operation: Operation,
    /// On which key, if any.
    pub key_id: Option<KeyId>,
    /// On which version, if any.
    pub version: Option<u32>,
    /// How it ended.
    pub outcome: Outcome,
    /// The error kind, when it did not succeed.
    pub error: Option<&'static str>,
    /// Why (the caller's reason for a state change, or the error message).
    pub reason: Option<&'a str>,
}

impl AuditEvent<'_> {
    /// The event as one JSON object (JSON Lines for SIEMs).
    ///
    /// # Errors
    /// Only if serialization fails, which it does not for these types.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| crate::Error::internal(format!("audit encoding: {e}")))
    }
}

/// Receives audit events.
///
/// A sink that returns an error fails the operation that produced the event
/// (for state changes, after the change was made durable: the error then
/// says the audit record is missing).
pub trait AuditSink: Send + Sync {
    /// Records one event.
    ///
    /// # Errors
    /// Sink-specific.
    fn record(&self, event: &AuditEvent<'_>) -> Result<()>;
}

/// An owned copy of an [`AuditEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnedAuditEvent {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub principal: String,
    /// What.
    pub operation: Operation,
    /// On which key.
    pub key_id: Option<KeyId>,
    /// On which version.
    pub version: Option<u32>,
    /// How it ended.
    pub outcome: Outcome,
    /// Error kind name.
    pub error: Option<&'static str>,
    /// Reason.
    pub reason: Option<String>,
}

/// Keeps events in memory; for tests and small tools.
///
/// ```
/// use std::sync::Arc;
/// use keylife::{KeyStore, MemoryAuditSink, Principal, KeySpec, audit::Operation, purpose::Mac};
/// let sink = Arc::new(MemoryAuditSink::default());
/// let store = KeyStore::in_memory(Principal::admin("ops"))?.with_audit_sink(sink.clone());
/// store.create(KeySpec::<Mac>::new("m"))?;
/// assert!(sink.events().iter().any(|e| e.operation == Operation::Create));
/// # Ok::<(), keylife::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryAuditSink(Mutex<Vec<OwnedAuditEvent>>);

impl MemoryAuditSink {
    /// A copy of every event so far.
    #[must_use]
    pub fn events(&self) -> Vec<OwnedAuditEvent> {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemoryAuditSink {
    fn record(&self, e: &AuditEvent<'_>) -> Result<()> {
        let owned = OwnedAuditEvent {
            at: e.at,
            principal: e.principal.to_owned(),
            operation: e.operation,
            key_id: e.key_id,
            version: e.version,
            outcome: e.outcome,
            error: e.error,
            reason: e.reason.map(str::to_owned),
        };
        self.0
            .lock()
            .map_err(|_| crate::Error::new(ErrorKind::Internal, "audit sink lock poisoned"))?
            .push(owned);
        Ok(())
    }
}

/// A signed statement of the audit log's head: "entry `seq` has MAC
/// `head_mac`". Kept outside the store (by an auditor, a SIEM, a
/// transparency log), it lets anyone holding the signer's public key prove
/// later that the log was not cut back or rewritten before that point
/// ([`crate::KeyStore::verify_audit_against`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditCheckpoint {
    /// Sequence number of the last entry covered.
    pub seq: u64,
    /// Hex MAC of that entry.
    pub head_mac: String,
    /// When the checkpoint was made.
    pub at: Timestamp,
    /// The signing key's id (informational).
    pub signer: KeyId,
    /// ECDSA P-256 / SHA-256 DER signature over [`AuditCheckpoint::signed_bytes`].
    #[serde(with = "sig_hex")]
    pub signature: Vec<u8>,
}

impl AuditCheckpoint {
    /// The exact bytes signed: `"keylife/audit-checkpoint/v1\0" || seq (u64 BE)
    /// || head_mac (ASCII hex) || "\0" || at (i64 BE) || signer (16 bytes)`.
    #[must_use]
    pub fn signed_bytes(&self) -> Vec<u8> {
        checkpoint_bytes(self.seq, &self.head_mac, self.at, &self.signer)
    }

    /// Checks the signature with the signer's public key.
    ///
    /// # Errors
    /// [`ErrorKind::AuthenticationFailed`] if it does not verify.
    pub fn verify(&self, signer: &crate::PublicKey) -> Result<()> {
        signer.verify(&self.signed_bytes(), &self.signature)
    }

    /// As JSON, to hand to an outside party.
    ///
    /// # Errors
    /// Only on an internal encoding failure.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| crate::Error::internal(format!("checkpoint encoding: {e}")))
    }

    /// From JSON.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`].
    pub fn from_json(s: &str) -> Result<AuditCheckpoint> {
        use crate::base::limits::{MAX_MESSAGE, check_size};
        check_size("a checkpoint", s.len(), MAX_MESSAGE, ErrorKind::Malformed)?;
        serde_json::from_str(s).map_err(|e| {
            crate::Error::new(
                ErrorKind::Malformed,
                format!("checkpoint line {}, column {}", e.line(), e.column()),
            )
        })
    }
}

pub(crate) fn checkpoint_bytes(seq: u64, head_mac: &str, at: Timestamp, signer: &KeyId) -> Vec<u8> {
    let mut b = b"keylife/audit-checkpoint/v1\0".to_vec();
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(head_mac.as_bytes());
    b.push(0);
    b.extend_from_slice(&at.as_millis().to_be_bytes());
    b.extend_from_slice(signer.as_bytes());
    b
}

mod sig_hex {
    pub(super) fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::base::encoding::hex(b))
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <&str as serde::Deserialize>::deserialize(d)?;
        crate::base::encoding::parse_hex_vec(s, 256)
            .ok_or_else(|| serde::de::Error::custom("bad signature hex"))
    }
}
