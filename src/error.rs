//! One error type for the whole crate, with stable numeric kinds.
//!
//! [`ErrorKind`]'s discriminants are the C ABI's result codes: they are
//! explicit, never reused, and `0` is reserved for success (`KL_OK`).
//! Messages never contain key material; authentication failures carry no
//! detail at all, for the reasons `ring::error::Unspecified` gives (an
//! attacker learns nothing about *why* a forgery failed).

use core::fmt;

use crate::key::{Purpose, StateName};

/// What went wrong, as a stable code shared with the C ABI.
///
/// New kinds are only ever appended with new numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorKind {
    /// An argument was out of range or inconsistent (message says which).
    InvalidArgument = 1,
    /// A caller-provided output buffer was too small (C ABI).
    BufferTooSmall = 2,
    /// A required pointer was NULL (C ABI).
    NullPointer = 3,
    /// The library caught a panic at the ABI boundary; this is a bug.
    Panic = 4,
    /// A handle was already consumed by a transition or freed (C ABI).
    AlreadyConsumed = 5,
    /// No key (or record, or version) with that identifier exists.
    NotFound = 10,
    /// An object with that identifier already exists.
    AlreadyExists = 11,
    /// The key is not in a state that allows the operation.
    WrongState = 12,
    /// The key's purpose does not allow the operation.
    WrongPurpose = 13,
    /// The algorithm, parameter set or feature is not supported.
    Unsupported = 14,
    /// Input bytes could not be parsed (ciphertext, record, key encoding).
    Malformed = 15,
    /// Authentication failed: wrong key, wrong context, or tampered data.
    /// Deliberately opaque.
    AuthenticationFailed = 16,
    /// The principal is not allowed to perform the operation.
    PermissionDenied = 17,
    /// The operation needs approvals (dual control) that were not supplied.
    ApprovalRequired = 18,
    /// A usage limit (e.g. the AES-GCM invocation bound) was reached.
    UsageLimitExceeded = 19,
    /// A concurrent writer changed the record first (compare-and-swap lost).
    Conflict = 20,
    /// A stored record failed its integrity check (tampered, swapped, replayed).
    Integrity = 21,
    /// The key-encryption key or passphrase does not open this store.
    WrongKek = 22,
    /// The storage backend failed (I/O, database, full disk).
    Storage = 23,
    /// The request violates policy, or a policy document is invalid.
    Policy = 24,
    /// Data was produced by a newer, unknown format version.
    UnsupportedVersion = 25,
    /// The key version exists but may not be used (destroyed, compromised,
    /// or below the minimum decryption version).
    VersionUnavailable = 26,
    /// An internal invariant failed; this is a bug.
    Internal = 99,
}

impl ErrorKind {
    /// Every kind, in code order (used by the C ABI and its tests).
    pub const ALL: [ErrorKind; 23] = [
        ErrorKind::InvalidArgument,
        ErrorKind::BufferTooSmall,
        ErrorKind::NullPointer,
        ErrorKind::Panic,
        ErrorKind::AlreadyConsumed,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::WrongState,
        ErrorKind::WrongPurpose,
        ErrorKind::Unsupported,
        ErrorKind::Malformed,
        ErrorKind::AuthenticationFailed,
        ErrorKind::PermissionDenied,
        ErrorKind::ApprovalRequired,
        ErrorKind::UsageLimitExceeded,
        ErrorKind::Conflict,
        ErrorKind::Integrity,
        ErrorKind::WrongKek,
        ErrorKind::Storage,
        ErrorKind::Policy,
        ErrorKind::UnsupportedVersion,
        ErrorKind::VersionUnavailable,
        ErrorKind::Internal,
    ];

    /// The stable numeric code (the C ABI's `kl_result`).
    #[must_use]
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The kind for a numeric code, if the code is known.
    #[must_use]
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        ErrorKind::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// A short, static, secret-free description.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::BufferTooSmall => "buffer too small",
            ErrorKind::NullPointer => "null pointer",
            ErrorKind::Panic => "internal panic",
            ErrorKind::AlreadyConsumed => "handle already consumed",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::WrongState => "wrong key state",
            ErrorKind::WrongPurpose => "wrong key purpose",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Malformed => "malformed input",
            ErrorKind::AuthenticationFailed => "authentication failed",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::ApprovalRequired => "approval required",
            ErrorKind::UsageLimitExceeded => "usage limit exceeded",
            ErrorKind::Conflict => "concurrent modification",
            ErrorKind::Integrity => "integrity check failed",
            ErrorKind::WrongKek => "wrong key-encryption key",
            ErrorKind::Storage => "storage failure",
            ErrorKind::Policy => "policy violation",
            ErrorKind::UnsupportedVersion => "unsupported format version",
            ErrorKind::VersionUnavailable => "key version unavailable",
            ErrorKind::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type of every fallible keylife call.
///
/// `Display` gives the kind and a precise, secret-free message. Match on
/// [`Error::kind`], not on the message.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    msg: Option<Box<str>>,
}

/// `Result` with keylife's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message (which must never contain secrets).
    #[must_use]
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Error {
            kind,
            msg: Some(msg.into().into_boxed_str()),
        }
    }

    /// An error with no message beyond its kind.
    #[must_use]
    pub const fn bare(kind: ErrorKind) -> Error {
        Error { kind, msg: None }
    }

    /// The opaque authentication failure.
    #[must_use]
    pub const fn auth() -> Error {
        Error::bare(ErrorKind::AuthenticationFailed)
    }

    /// The error's kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detail message, if any.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.msg.as_deref()
    }

    pub(crate) fn wrong_state(op: &str, actual: StateName) -> Error {
        Error::new(
            ErrorKind::WrongState,
            format!("{op} is not allowed in state {actual}"),
        )
    }

    pub(crate) fn wrong_purpose(op: &str, actual: Purpose) -> Error {
        Error::new(
            ErrorKind::WrongPurpose,
            format!("{op} is not allowed for a {actual} key"),
        )
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, msg)
    }

    pub(crate) fn malformed(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Malformed, msg)
    }

    pub(crate) fn internal(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, msg)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.msg {
            Some(m) => write!(f, "{}: {}", self.kind, m),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::bare(kind)
    }
}
