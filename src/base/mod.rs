//! The base every other layer may use: errors, ids, time, encodings,
//! secrets, the OS random source, and the code-enum macro. Imports nothing
//! from the rest of the crate.

pub(crate) mod codes;
pub(crate) mod encoding;
pub(crate) mod error;
pub(crate) mod id;
pub(crate) mod limits;
pub(crate) mod random;
pub(crate) mod secret;
pub(crate) mod time;

pub use self::error::{Error, ErrorKind, Result};
pub use self::id::KeyId;
#[cfg(feature = "hazmat")]
pub use self::random::DeterministicRandom;
pub use self::secret::SecretBytes;
pub use self::time::{Clock, ManualClock, SystemClock, Timestamp};
