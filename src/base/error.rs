//! One error type for the whole crate, with stable numeric kinds.
//!
//! [`ErrorKind`]'s discriminants are the C ABI's result codes: they are
//! explicit, never reused, and `0` is reserved for success (`KL_OK`).
//! Messages never contain key material; authentication failures carry no
//! detail at all, for the reasons `ring::error::Unspecified` gives (an
//! attacker learns nothing about *why* a forgery failed).

use core::fmt;

use super::codes::code_enum;

code_enum! {
    /// What went wrong, as a stable code shared with the C ABI.
    ///
    /// New kinds are only ever appended with new numbers. [`ErrorKind::as_str`]
    /// is a short, static, secret-free description.
    #[non_exhaustive]
    pub enum ErrorKind: u32 ("result code", "KL_ERR_*") {
        /// An argument was out of range or inconsistent (message says which).
        InvalidArgument = 1 => "invalid argument",
        /// A caller-provided output buffer was too small (C ABI).
        BufferTooSmall = 2 => "buffer too small",
        /// A required pointer was NULL (C ABI).
        NullPointer = 3 => "null pointer",
        /// The library caught a panic at the ABI boundary; this is a bug.
        Panic = 4 => "internal panic",
        /// A handle was already consumed by a transition or freed (C ABI).
        AlreadyConsumed = 5 => "handle already consumed",
        /// No key (or record, or version) with that identifier exists.
        NotFound = 10 => "not found",
        /// An object with that identifier already exists.
        AlreadyExists = 11 => "already exists",
        /// The key is not in a state that allows the operation.
        WrongState = 12 => "wrong key state",
        /// The key's purpose does not allow the operation.
        WrongPurpose = 13 => "wrong key purpose",
        /// The algorithm, parameter set or feature is not supported.
        Unsupported = 14 => "unsupported",
        /// Input bytes could not be parsed (ciphertext, record, key encoding).
        Malformed = 15 => "malformed input",
        /// Authentication failed: wrong key, wrong context, or tampered data.
        /// Deliberately opaque.
        AuthenticationFailed = 16 => "authentication failed",
        /// The principal is not allowed to perform the operation.
        PermissionDenied = 17 => "permission denied",
        /// The operation needs approvals (dual control) that were not supplied.
        ApprovalRequired = 18 => "approval required",
        /// A usage limit (e.g. the AES-GCM invocation bound) was reached.
        UsageLimitExceeded = 19 => "usage limit exceeded",
        /// A concurrent writer changed the record first (compare-and-swap lost).
        Conflict = 20 => "concurrent modification",
        /// A stored record failed its integrity check (tampered, swapped, replayed).
        Integrity = 21 => "integrity check failed",
        /// The key-encryption key or passphrase does not open this store.
        WrongKek = 22 => "wrong key-encryption key",
        /// The storage backend failed (I/O, database, full disk).
        Storage = 23 => "storage failure",
        /// The request violates policy, or a policy document is invalid.
        Policy = 24 => "policy violation",
        /// Data was produced by a newer, unknown format version.
        UnsupportedVersion = 25 => "unsupported format version",
        /// The key version exists but may not be used (destroyed, compromised,
        /// or below the minimum decryption version).
        VersionUnavailable = 26 => "key version unavailable",
        /// The storage server cannot be reached now (down, restarting,
        /// connection lost): retry later. A write that fails this way was
        /// not applied, unless the message says its outcome is unknown (the
        /// connection was lost during the commit itself).
        Unavailable = 27 => "storage unavailable",
        /// An internal invariant failed; this is a bug.
        Internal = 99 => "internal error",
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

    pub(crate) fn wrong_state(op: &str, actual: impl fmt::Display) -> Error {
        Error::new(
            ErrorKind::WrongState,
            format!("{op} is not allowed in state {actual}"),
        )
    }

    pub(crate) fn wrong_purpose(op: &str, actual: impl fmt::Display) -> Error {
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
