//! Nonces for AES-GCM.
//!
//! Construction: every nonce is 96 bits from the operating system's CSPRNG
//! (NIST SP 800-38D §8.2.2, the RBG-based construction). With at most 2^32
//! invocations per key version (enforced by the store's usage counter), the
//! probability of any nonce repeating under one key is below 2^-32
//! (SP 800-38D §8.3). Because each nonce comes straight from the kernel,
//! there is no user-space state to duplicate across threads, processes or
//! `fork()`.

use crate::crypto::{GCM_NONCE_LEN, fill_random};
use crate::error::Result;

/// Fills a fresh nonce.
pub(crate) fn fill_nonce(out: &mut [u8; GCM_NONCE_LEN]) -> Result<()> {
    fill_random(out)
}
