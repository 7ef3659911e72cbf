//! Crypto providers: which implementation runs the primitives.
//!
//! keylife's own code — states, grants, the ciphertext format, sealing,
//! audit — never calls a cryptographic library directly; it goes through
//! one internal layer (`crypto.rs`) that dispatches on a [`CryptoProvider`].
//! The pattern is rustls's `CryptoProvider`: a value chosen once per process
//! ([`CryptoProvider::install_default`]) or per store
//! ([`StoreOptions::crypto_provider`](crate::StoreOptions::crypto_provider)).
//! Where neither is chosen, the fastest provider compiled in is used: AWS-LC
//! when the `aws-lc` feature is on (as it is in the C library, the Python
//! package and the CLI), the pure-Rust RustCrypto crates otherwise (the
//! crate's default features).
//!
//! | provider | feature | AES-256-GCM | ECDSA P-256 | ECDH P-256 |
//! |---|---|---|---|---|
//! | [`RustCrypto`](CryptoProvider::RustCrypto) (default without `aws-lc`) | — | `aes-gcm` | `p256` | `p256` |
//! | [`AwsLc`](CryptoProvider::AwsLc) (default with `aws-lc`) | `aws-lc` | AWS-LC (`aws-lc-rs`) | AWS-LC | AWS-LC |
//!
//! Both providers produce the same bytes on the wire: a ciphertext sealed
//! under one opens under the other, a signature made by one verifies under
//! the other, and both run the same Wycheproof suites through the public
//! API (`tests/wycheproof.rs`, once per provider). What stays on RustCrypto
//! in every provider: HMAC-SHA-256, HKDF, SHA-256 (`sha2` already uses the
//! CPU's SHA extensions), AES key wrap, Argon2id, and the parsing of public
//! keys and DER signatures — one strict parser for all providers, so a
//! provider can never widen what keylife accepts.
//!
//! Key material: each provider holds its own expanded form of a key version
//! (the RustCrypto key schedule, zeroized on drop by the crates' `zeroize`
//! feature; AWS-LC's `EVP_AEAD_CTX` and `EVP_PKEY`, whose memory AWS-LC's
//! `OPENSSL_free` cleanses before freeing). The raw bytes stay in keylife's
//! zeroizing buffers either way.
//!
//! Unlike rustls, the set is closed: an application picks one of the
//! providers keylife ships, and cannot plug in its own. A key manager's
//! guarantees (constant-time operations, zeroized key schedules, validated
//! points, the vector suites) are only as good as every implementation
//! behind it, so each one is reviewed and tested here.
//!
//! ## FIPS mode (feature `fips`)
//!
//! With the `fips` feature, [`CryptoProvider::AwsLc`] runs on AWS-LC's
//! FIPS module (`aws-lc-fips-sys`, built with CMake and Go) instead of the
//! general AWS-LC build, and [`CryptoProvider::fips_mode`] reports whether
//! that module is in FIPS mode (its power-on self-tests passed). What runs
//! inside the module then: AES-256-GCM of key versions and of record
//! sealing (which uses the process's default provider), ECDSA P-256
//! signing and verification, ECDH P-256. What does **not**, in any build:
//! the list above of what stays on RustCrypto (HMAC, HKDF — which also
//! derives the sealing subkeys —, SHA-256, AES key wrap, Argon2id), HPKE's
//! AES-GCM, key generation (AES keys from the operating system's generator
//! through `getrandom`, P-256 scalars drawn by `p256`), and Shamir
//! sharing. So a
//! `fips` build is not a FIPS 140-3 validated product and must not be
//! described as one: it lets the operations listed run in the module. To
//! claim FIPS 140-3 for an application, every security function it relies
//! on must run in a validated module, built from the exact validated source
//! version by the procedure and on an operational environment its Security
//! Policy names. As of this writing, `aws-lc-rs` 1.19 builds AWS-LC FIPS
//! 4.2 (submitted to the CMVP, not yet certified); the certified AWS-LC
//! FIPS 3.0 module (certificate #5314, static) is what `aws-lc-rs` before
//! 1.18 builds. `benches/README.md` has the evaluation.
//!
//! Why AWS-LC and not *ring* for the accelerated provider
//! (measurements in `benches/README.md`): both reach OpenSSL's AES-GCM
//! throughput with the same assembly, but *ring* has no static-key ECDH —
//! its agreement keys are ephemeral, used once — so agreement keys, HPKE
//! recipients and key transport would have to stay on `p256`; and AWS-LC's
//! P-256 (with its `nistz256` assembly) signs and verifies as fast as
//! OpenSSL. AWS-LC is a C library built by `aws-lc-sys` with the `cc`
//! crate (no CMake or Go needed on x86-64 and aarch64 Linux, macOS).
//!
//! ```
//! use keylife::{CryptoProvider, Kek, KeyStore, KeySpec, Principal, RawKek, StoreOptions};
//! use keylife::purpose::Aead;
//! use keylife::backend::MemoryBackend;
//!
//! let mut options = StoreOptions::default();
//! options.crypto_provider = CryptoProvider::RustCrypto;
//! let store = KeyStore::builder(MemoryBackend::new())
//!     .options(options)
//!     .open(&RawKek::new(Kek::generate()?), Principal::admin("ops"))?;
//! let key = store.create_active(KeySpec::<Aead>::new("k"))?;
//! assert_eq!(key.decrypt(&key.encrypt(b"m", b"")?, b"")?, b"m");
//! assert_eq!(store.crypto_provider().name(), "rustcrypto");
//! # Ok::<(), keylife::Error>(())
//! ```

use std::sync::OnceLock;

use crate::base::{Error, ErrorKind, Result};

/// An implementation of keylife's primitives. See the [module
/// docs](crate::crypto::provider) for what each one covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoProvider {
    /// The RustCrypto crates (`aes-gcm`, `p256`): pure Rust, the default
    /// when the `aws-lc` feature is off.
    RustCrypto,
    /// AWS-LC through `aws-lc-rs` (feature `aws-lc`): assembly AES-GCM and
    /// P-256; the default whenever it is compiled in.
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

static INSTALLED: OnceLock<CryptoProvider> = OnceLock::new();

impl CryptoProvider {
    /// The provider used where none was installed or chosen: the fastest
    /// compiled in ([`CryptoProvider::AwsLc`] with the `aws-lc` feature,
    /// [`CryptoProvider::RustCrypto`] without).
    pub const BUILT_IN_DEFAULT: CryptoProvider = {
        #[cfg(feature = "aws-lc")]
        let p = CryptoProvider::AwsLc;
        #[cfg(not(feature = "aws-lc"))]
        let p = CryptoProvider::RustCrypto;
        p
    };

    /// Every provider compiled into this build.
    pub const ALL: &'static [CryptoProvider] = &[
        CryptoProvider::RustCrypto,
        #[cfg(feature = "aws-lc")]
        CryptoProvider::AwsLc,
    ];

    /// Short stable name: `rustcrypto` or `aws-lc`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CryptoProvider::RustCrypto => "rustcrypto",
            #[cfg(feature = "aws-lc")]
            CryptoProvider::AwsLc => "aws-lc",
        }
    }

    /// Whether this provider runs in a FIPS 140-3 cryptographic module in
    /// FIPS mode: true only for [`CryptoProvider::AwsLc`] in a build with
    /// the `fips` feature, once AWS-LC's FIPS module has passed its
    /// power-on self-tests. It covers that provider's primitives, not all
    /// of keylife's: see "FIPS mode" in the [module
    /// docs](crate::crypto::provider).
    ///
    /// ```
    /// use keylife::CryptoProvider;
    /// assert!(!CryptoProvider::RustCrypto.fips_mode());
    /// # #[cfg(feature = "aws-lc")]
    /// assert_eq!(CryptoProvider::AwsLc.fips_mode(), cfg!(feature = "fips"));
    /// ```
    #[must_use]
    pub fn fips_mode(self) -> bool {
        match self {
            CryptoProvider::RustCrypto => false,
            #[cfg(feature = "aws-lc")]
            CryptoProvider::AwsLc => aws_lc_rs::try_fips_mode().is_ok(),
        }
    }

    /// The provider called `name` (see [`CryptoProvider::name`]).
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for a name this build does not have
    /// (`aws-lc` without the `aws-lc` feature); [`ErrorKind::InvalidArgument`]
    /// for an unknown name.
    pub fn from_name(name: &str) -> Result<CryptoProvider> {
        if let Some(p) = CryptoProvider::ALL.iter().find(|p| p.name() == name) {
            return Ok(*p);
        }
        if name == "aws-lc" {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "the aws-lc provider needs keylife built with the `aws-lc` feature",
            ));
        }
        Err(Error::invalid(format!(
            "unknown crypto provider {name:?} (known: rustcrypto, aws-lc)"
        )))
    }

    /// Makes `self` the process default: stores opened afterwards without
    /// an explicit [`StoreOptions::crypto_provider`](crate::StoreOptions)
    /// use it, as do [`PublicKey`](crate::PublicKey) verification, HPKE and
    /// backups. Like rustls, the default is set at most once per process;
    /// installing the provider already installed is a no-op.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] if a different provider was installed before.
    pub fn install_default(self) -> Result<()> {
        let got = *INSTALLED.get_or_init(|| self);
        if got == self {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "the process's crypto provider is already {}; it cannot become {}",
                    got.name(),
                    self.name()
                ),
            ))
        }
    }

    /// The installed process default, or
    /// [`CryptoProvider::BUILT_IN_DEFAULT`] if none was installed (reading
    /// it does not install it).
    #[must_use]
    pub fn get_default() -> CryptoProvider {
        INSTALLED
            .get()
            .copied()
            .unwrap_or(CryptoProvider::BUILT_IN_DEFAULT)
    }
}

impl Default for CryptoProvider {
    fn default() -> CryptoProvider {
        CryptoProvider::get_default()
    }
}

impl core::fmt::Display for CryptoProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_fail() {
        for p in CryptoProvider::ALL {
            assert_eq!(CryptoProvider::from_name(p.name()).ok(), Some(*p));
        }
        assert_eq!(
            CryptoProvider::from_name("openssl").map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        #[cfg(not(feature = "aws-lc"))]
        assert_eq!(
            CryptoProvider::from_name("aws-lc").map_err(|e| e.kind()),
            Err(ErrorKind::Unsupported)
        );
    }
}
