//! Errors and exit codes: every failure leaves the program as one line on
//! stderr (one JSON object with `--format json`) and a documented exit code.

use std::fmt;

use keylife::ErrorKind;

/// The failure exit codes (success is 0), documented in `keylife --help` and the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 1: a failure with no more specific code (storage, internal).
    Failure = 1,
    /// 2: bad usage: unknown command or option, bad argument value.
    Usage = 2,
    /// 3: the key, principal, store or file named does not exist.
    NotFound = 3,
    /// 4: the key's state or purpose does not allow it, or it conflicts
    /// with the store (exists already, changed concurrently, limit reached).
    State = 4,
    /// 5: the principal may not do it, or it needs approvals.
    Denied = 5,
    /// 6: integrity failure: a damaged store or audit log, the wrong
    /// passphrase or KEK, a ciphertext or signature that does not verify.
    Integrity = 6,
    /// 7: the policy in force forbids it.
    Policy = 7,
    /// 8: completed, with findings (`report --fail-on-findings`, `store verify`).
    Findings = 8,
    /// 9: malformed input data (not a keylife ciphertext, not a policy, …).
    Malformed = 9,
    /// 10: the store's server is unreachable (PostgreSQL down, timeout).
    Unavailable = 10,
    /// 11: a file could not be read or written (input, output, secret file).
    Io = 11,
}

/// The table printed by `keylife --help` (after the commands).
pub const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   failure without a more specific code (storage, internal)
  2   usage: unknown command or option, bad argument value
  3   not found: key, principal, store or file
  4   wrong state or purpose, conflict, already exists, usage limit reached
  5   permission denied, or approvals required
  6   integrity: damaged store or audit log, wrong passphrase or KEK,
      a ciphertext, tag or signature that does not verify
  7   policy violation
  8   completed with findings (report --fail-on-findings, store verify)
  9   malformed input data
  10  store server unavailable
  11  file could not be read or written";

impl Exit {
    /// The exit code for a library error kind.
    pub fn of(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::InvalidArgument | ErrorKind::BufferTooSmall | ErrorKind::NullPointer => {
                Exit::Usage
            }
            ErrorKind::NotFound => Exit::NotFound,
            ErrorKind::WrongState
            | ErrorKind::WrongPurpose
            | ErrorKind::AlreadyExists
            | ErrorKind::AlreadyConsumed
            | ErrorKind::Conflict
            | ErrorKind::UsageLimitExceeded
            | ErrorKind::VersionUnavailable => Exit::State,
            ErrorKind::PermissionDenied | ErrorKind::ApprovalRequired => Exit::Denied,
            ErrorKind::Integrity | ErrorKind::WrongKek | ErrorKind::AuthenticationFailed => {
                Exit::Integrity
            }
            ErrorKind::Policy => Exit::Policy,
            ErrorKind::Malformed | ErrorKind::UnsupportedVersion | ErrorKind::Unsupported => {
                Exit::Malformed
            }
            ErrorKind::Unavailable => Exit::Unavailable,
            _ => Exit::Failure,
        }
    }

    /// A short name for JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::NotFound => "not_found",
            Exit::State => "state",
            Exit::Denied => "denied",
            Exit::Integrity => "integrity",
            Exit::Policy => "policy",
            Exit::Findings => "findings",
            Exit::Malformed => "malformed",
            Exit::Unavailable => "unavailable",
            Exit::Io => "io",
        }
    }
}

/// A failed command: the library's error kind when it came from the
/// library, the exit code, and a message that never holds a secret.
#[derive(Debug)]
pub struct Fail {
    /// The library's error kind, when the library reported it.
    pub kind: Option<ErrorKind>,
    /// The exit code.
    pub exit: Exit,
    /// One line, secret-free.
    pub message: String,
}

impl Fail {
    /// A failure with this exit code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Fail {
        Fail {
            kind: None,
            exit,
            message: message.into(),
        }
    }

    /// Bad usage (exit 2).
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail::new(Exit::Usage, message)
    }

    /// A file that could not be read or written: exit 3 for a missing
    /// input, 11 otherwise.
    pub fn io(what: &str, path: &std::path::Path, e: &std::io::Error) -> Fail {
        let exit = match e.kind() {
            std::io::ErrorKind::NotFound => Exit::NotFound,
            _ => Exit::Io,
        };
        Fail::new(exit, format!("{what} {}: {e}", path.display()))
    }

    /// Prefixes the message with context.
    pub fn context(mut self, what: &str) -> Fail {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The JSON object printed with `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "exit_code": self.exit as i32,
                "exit": self.exit.name(),
                "kind": self.kind.map(ErrorKind::as_str),
                "code": self.kind.map(ErrorKind::code),
                "message": self.message,
            }
        })
    }
}

impl From<keylife::Error> for Fail {
    fn from(e: keylife::Error) -> Fail {
        Fail {
            kind: Some(e.kind()),
            exit: Exit::of(e.kind()),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What every command returns.
pub type Result<T> = std::result::Result<T, Fail>;
