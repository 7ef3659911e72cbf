#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod approval;
pub mod audit;
pub mod backup;
mod clock;
mod crypto;
mod error;
/// The C ABI (`include/keylife.h`): opaque handles, stable result codes,
/// caller buffers. The only module allowed to use `unsafe`.
#[cfg(feature = "ffi")]
#[allow(unsafe_code)]
pub mod ffi;
/// Without the C ABI, `src/ffi` still provides the fork hook (its only
/// other `unsafe`).
#[cfg(not(feature = "ffi"))]
#[allow(unsafe_code)]
mod ffi {
    pub(crate) mod fork;
}
pub mod hpke;
pub mod kcv;
pub mod key;
mod nonce;
pub mod policy;
mod principal;
pub mod provider;
pub mod report;
mod secret;
mod shamir;
mod store;
pub mod wrap;

pub use approval::{Approval, ApprovalRequest, ApproverRegistry};
pub use audit::{AuditCheckpoint, AuditEvent, AuditSink, MemoryAuditSink, Operation, Outcome};
pub use backup::{Backup, CustodianShare, RestoreReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use kcv::CheckValue;
pub use key::{
    Algorithm, AnyKey, CiphertextInfo, Key, KeyId, KeyInfo, KeyPurpose, KeySpec, KeyState, Origin,
    PublicKey, Purpose, StateChange, StateName, Timestamp, VersionInfo, VersionState, purpose,
    state,
};
pub use policy::Policy;
pub use principal::{Principal, Role};
pub use provider::CryptoProvider;
pub use report::ComplianceReport;
pub use secret::SecretBytes;
pub use store::transport::{DataKey, ExportedKey};
pub use store::{
    AES_GCM_INVOCATION_LIMIT, Argon2Params, AuditEntry, AuditUses, AuditVerification, Grant,
    IntegrityReport, Kek, KekProvider, KeyFilter, KeyStore, MaintenanceReport, PassphraseKek,
    RawKek, StoreBuilder, StoreOptions, backend,
};
