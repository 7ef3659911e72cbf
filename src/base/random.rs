//! The operating system's random source.

use super::error::{Error, Result};

/// Fills `buf` from the OS CSPRNG (`getrandom`).
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::internal(format!("OS random source failed: {e}")))
}
