//! Containers for secret bytes.
//!
//! [`SecretBytes`] owns a fixed-size heap allocation that is zeroized on drop,
//! never reallocated (so no stale copy is left behind by a `Vec` growing),
//! never printed, and reached only through the greppable
//! [`SecretBytes::expose_secret`].

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes: zeroized on drop, redacted in `Debug`, not `Clone`.
///
/// ```
/// use keylife::SecretBytes;
/// let s = SecretBytes::from_slice(b"not printed");
/// assert_eq!(format!("{s:?}"), "SecretBytes([REDACTED; 11])");
/// assert_eq!(s.expose_secret(), b"not printed");
/// ```
pub struct SecretBytes(Box<[u8]>);

impl SecretBytes {
    /// Copies `bytes` into a fresh allocation of exactly that size.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> SecretBytes {
        SecretBytes(bytes.to_vec().into_boxed_slice())
    }

    /// A zero-filled secret of `len` bytes, to be filled in place.
    #[must_use]
    pub fn zeroed(len: usize) -> SecretBytes {
        SecretBytes(vec![0u8; len].into_boxed_slice())
    }

    /// `len` bytes from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Internal`] if the OS random source fails.
    pub fn random(len: usize) -> crate::Result<SecretBytes> {
        let mut s = SecretBytes::zeroed(len);
        super::random::fill_random(&mut s.0)?;
        Ok(s)
    }

    /// The secret bytes. Every use of this is a place where a secret leaves
    /// its container; keep them few and greppable.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access, for filling a [`SecretBytes::zeroed`] buffer.
    pub fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes (not secret).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Copies the secret into a new container. Deliberately not `Clone`:
    /// every duplicate of a secret is explicit.
    #[must_use]
    pub fn duplicate(&self) -> SecretBytes {
        SecretBytes::from_slice(&self.0)
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {}])", self.0.len())
    }
}

impl ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretBytes {}

/// A writer into a fixed-capacity, zeroizing buffer that refuses to grow.
///
/// Used to serialize records that contain secrets: when the estimate is too
/// small, the write fails and the caller retries with a larger buffer, so no
/// partially written secret is ever left in a freed, unzeroized allocation.
pub(crate) struct FixedWriter {
    buf: Vec<u8>,
}

impl FixedWriter {
    pub(crate) fn with_capacity(cap: usize) -> FixedWriter {
        FixedWriter {
            buf: Vec::with_capacity(cap),
        }
    }

    pub(crate) fn into_secret(mut self) -> SecretBytes {
        // Copy into an exact-size allocation, then wipe the working buffer.
        let out = SecretBytes::from_slice(&self.buf);
        self.buf.zeroize();
        out
    }
}

impl std::io::Write for FixedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < data.len() {
            return Err(std::io::Error::other("fixed buffer full"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for FixedWriter {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// Serializes `value` as JSON into a [`SecretBytes`] without ever letting a
/// buffer holding secret bytes reallocate.
pub(crate) fn to_json_secret<T: serde::Serialize>(value: &T) -> crate::Result<SecretBytes> {
    let mut cap = 512;
    loop {
        let mut w = FixedWriter::with_capacity(cap);
        match serde_json::to_writer(&mut w, value) {
            Ok(()) => return Ok(w.into_secret()),
            Err(e) if e.is_io() && cap < (1 << 30) => cap *= 4,
            Err(e) => {
                return Err(crate::Error::internal(format!(
                    "record encoding failed: {e}"
                )));
            }
        }
    }
}
