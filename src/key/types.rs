//! Run-time names for purposes, algorithms and states.

use serde::{Deserialize, Serialize};

use crate::base::codes::code_enum;

code_enum! {
    /// What a key is for. Fixed at creation (NIST SP 800-57 Part 1 §5.2: one
    /// key, one purpose). The name is the lower-case form of policy files and
    /// JSON.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Purpose: u32 ("purpose", "KL_PURPOSE_*") {
        /// Authenticated encryption (AES-256-GCM).
        Aead = 1 => "aead",
        /// Digital signatures (ECDSA P-256 / SHA-256).
        Signing = 2 => "signing",
        /// Message authentication (HMAC-SHA-256).
        Mac = 3 => "mac",
        /// Key agreement (ECDH P-256, output through HKDF-SHA-256).
        Agreement = 4 => "agreement",
        /// Key derivation (HKDF-SHA-256 with caller context).
        Derivation = 5 => "derivation",
    }
}

impl Purpose {
    /// The one algorithm keylife uses for this purpose.
    #[must_use]
    pub fn default_algorithm(self) -> Algorithm {
        match self {
            Purpose::Aead => Algorithm::Aes256Gcm,
            Purpose::Signing => Algorithm::EcdsaP256Sha256,
            Purpose::Mac => Algorithm::HmacSha256,
            Purpose::Agreement => Algorithm::EcdhP256,
            Purpose::Derivation => Algorithm::HkdfSha256,
        }
    }
}

code_enum! {
    /// A concrete algorithm. The numeric value appears in ciphertext headers.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Algorithm: u8 ("algorithm", "the ciphertext header's algorithm byte") {
        /// AES-256-GCM, 96-bit nonce, 128-bit tag (NIST SP 800-38D).
        Aes256Gcm = 1 => "aes256_gcm",
        /// ECDSA over P-256 with SHA-256 (FIPS 186-5).
        EcdsaP256Sha256 = 2 => "ecdsa_p256_sha256",
        /// HMAC with SHA-256 (RFC 2104, FIPS 198-1).
        HmacSha256 = 3 => "hmac_sha256",
        /// Ephemeral-static or static-static ECDH over P-256 (SP 800-56A).
        EcdhP256 = 4 => "ecdh_p256",
        /// HKDF with SHA-256 (RFC 5869).
        HkdfSha256 = 5 => "hkdf_sha256",
    }
}

impl Algorithm {
    /// The purpose this algorithm serves.
    #[must_use]
    pub fn purpose(self) -> Purpose {
        match self {
            Algorithm::Aes256Gcm => Purpose::Aead,
            Algorithm::EcdsaP256Sha256 => Purpose::Signing,
            Algorithm::HmacSha256 => Purpose::Mac,
            Algorithm::EcdhP256 => Purpose::Agreement,
            Algorithm::HkdfSha256 => Purpose::Derivation,
        }
    }
}

code_enum! {
    /// The lifecycle state of a key, at run time (NIST SP 800-57 Part 1 §7;
    /// KMIP names agree). The name is the snake-case form of JSON.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum StateName: u32 ("state", "KL_STATE_*") {
        /// Generated, not yet usable.
        PreActive = 1 => "pre_active",
        /// Usable for every operation of its purpose.
        Active = 2 => "active",
        /// Temporarily out of use; processing only where policy allows.
        Suspended = 3 => "suspended",
        /// Past its use for protection; still processes (decrypt, verify).
        Deactivated = 4 => "deactivated",
        /// Known or suspected to be exposed.
        Compromised = 5 => "compromised",
        /// Scheduled for destruction; cancellable until the date.
        PendingDestruction = 6 => "pending_destruction",
        /// Material destroyed; metadata kept.
        Destroyed = 7 => "destroyed",
        /// Destroyed after having been compromised.
        DestroyedCompromised = 8 => "destroyed_compromised",
    }
}

impl StateName {
    /// True while key material still exists.
    #[must_use]
    pub fn has_material(self) -> bool {
        !matches!(self, StateName::Destroyed | StateName::DestroyedCompromised)
    }
}
