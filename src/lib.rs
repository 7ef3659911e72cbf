#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The layers, bottom to top; each imports only from those above it in this
// list (checked by `python3 ../shared/tools/layers.py src` in the test
// command). ARCHITECTURE.md is the map.
mod base;
mod crypto;
/// The C ABI (`include/keylife.h`): opaque handles, stable result codes,
/// caller buffers. Pointer and buffer plumbing over [`KeyStore`] and
/// [`KeyHandle`]; with `sys`, the only module allowed to use `unsafe`.
#[cfg(feature = "ffi")]
#[allow(unsafe_code)]
pub mod ffi;
mod governance;
pub mod key;
mod store;
/// OS glue that needs `unsafe` (the fork hook); imports nothing from the crate.
#[allow(unsafe_code)]
mod sys;

// The public API: flat at the root, plus the modules users name.
#[cfg(feature = "hazmat")]
pub use base::DeterministicRandom;
pub use base::{
    Clock, Error, ErrorKind, KeyId, ManualClock, Result, SecretBytes, SystemClock, Timestamp,
};
pub use crypto::kcv::CheckValue;
pub use crypto::provider::CryptoProvider;
pub use crypto::{hpke, kcv, provider, wrap};
pub use governance::approval::{Approval, ApprovalRequest, ApproverRegistry};
pub use governance::audit::{
    AuditCheckpoint, AuditEvent, AuditSink, MemoryAuditSink, Operation, Outcome,
};
pub use governance::policy::Policy;
pub use governance::principal::{Principal, Role};
pub use governance::report::ComplianceReport;
pub use governance::{approval, audit, policy, report};
pub use key::{
    Algorithm, CiphertextInfo, KeyInfo, KeyPurpose, KeySpec, KeyState, Origin, PublicKey, Purpose,
    StateChange, StateName, VersionInfo, VersionState, purpose, state,
};
pub use store::backup::{self as backup, Backup, CustodianShare, RestoreReport};
pub use store::transport::{DataKey, ExportedKey};
pub use store::{
    AES_GCM_INVOCATION_LIMIT, AnyKey, Argon2Params, AuditEntry, AuditUses, AuditVerification,
    DestinationKind, Grant, IntegrityReport, Kek, KekProvider, Key, KeyFilter, KeyHandle, KeyStore,
    MaintenanceReport, PassphraseKek, RawKek, StoreBuilder, StoreOptions, TrustedDestination,
    backend,
};
