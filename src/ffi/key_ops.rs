//! `kl_key_*` cryptographic operations — encrypt, decrypt, rewrap, sign,
//! verify, public keys, MAC, derive, agree — over the core's `KeyHandle`.

use core::ffi::c_char;

use zeroize::Zeroizing;

use super::key::kl_key;
use super::{
    KL_CIPHERTEXT_OVERHEAD, KL_MAC_LEN, KL_SIGNATURE_DER_MAX_LEN, KL_SIGNATURE_FIXED_LEN, Out,
    OutBuf, guard, kl_result, kl_secret, try_bytes, try_ref,
};
use crate::base::{Error, ErrorKind, Result};
use crate::key::{Operation, PublicKey};
use crate::store::KeyHandle;

// ----- AEAD -----

/// The shape of `kl_key_encrypt`, `kl_key_decrypt` and `kl_key_rewrap`:
/// a key, an input and its associated data, a caller buffer. The purpose
/// and state are checked for `op` first, then the buffer against
/// `size(input length)` (when known), so a size query never uses the key.
fn aead_buffer(
    key: *const kl_key,
    [(input, input_len, input_name), (aad, aad_len, _)]: [(*const u8, usize, &str); 2],
    (out, out_cap, out_len): (*mut u8, usize, *mut usize),
    op: Operation,
    size: impl FnOnce(usize) -> Option<usize>,
    run: impl FnOnce(&KeyHandle, &[u8], &[u8]) -> Result<Zeroizing<Vec<u8>>>,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, input, aad, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(input, input_len, input_name)?,
                try_bytes(aad, aad_len, "aad")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(op)?;
        if let Some(n) = size(input.len()) {
            out.require(n)?;
        }
        out.fill(&run(&key.0, input, aad)?, false)
    })
}

/// Encrypts `plaintext` with an Active AEAD key (AES-256-GCM, fresh random
/// nonce, primary version). `aad` — the encryption context — is
/// authenticated but not encrypted; decryption needs the same bytes.
///
/// The keylife ciphertext (`plaintext_len + KL_CIPHERTEXT_OVERHEAD` bytes:
/// header naming key and version, nonce, ciphertext, tag) is written to
/// `(out, out_cap, out_len)`. The size is checked before encrypting, so a
/// size query costs no invocation of the key.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE` unless Active;
/// `KL_ERR_USAGE_LIMIT_EXCEEDED`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_encrypt(
    key: *const kl_key,
    plaintext: *const u8,
    plaintext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    aead_buffer(
        key,
        [
            (plaintext, plaintext_len, "plaintext"),
            (aad, aad_len, "aad"),
        ],
        (out, out_cap, out_len),
        Operation::Encrypt,
        |n| Some(n.saturating_add(KL_CIPHERTEXT_OVERHEAD)),
        |k, pt, aad| k.encrypt(pt, aad).map(Zeroizing::new),
    )
}

/// Decrypts a ciphertext of this key (Active, Deactivated, or Suspended
/// when the key allows it) with the version named in its header. The
/// plaintext (`ciphertext_len - KL_CIPHERTEXT_OVERHEAD` bytes) is written
/// to `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_MALFORMED`;
/// `KL_ERR_INVALID_ARGUMENT` for another key's ciphertext;
/// `KL_ERR_VERSION_UNAVAILABLE`; `KL_ERR_AUTHENTICATION_FAILED` for a wrong
/// `aad` or tampered data; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_decrypt(
    key: *const kl_key,
    ciphertext: *const u8,
    ciphertext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    aead_buffer(
        key,
        [
            (ciphertext, ciphertext_len, "ciphertext"),
            (aad, aad_len, "aad"),
        ],
        (out, out_cap, out_len),
        Operation::Decrypt,
        |n| n.checked_sub(KL_CIPHERTEXT_OVERHEAD),
        |k, ct, aad| k.decrypt(ct, aad).map(Zeroizing::new),
    )
}

/// As `kl_key_encrypt`, for callers that size the output themselves — the
/// hot path of language bindings, where every argument costs: `out` must be
/// valid for writes of exactly `plaintext_len + KL_CIPHERTEXT_OVERHEAD`
/// bytes (a ciphertext's length is fixed by its plaintext's), and that many
/// bytes are written on success. Nothing is written on failure. `out` may
/// overlap `plaintext` or `aad` (encrypting in place): the call then copies
/// the overlapping input first.
///
/// Errors: as `kl_key_encrypt`, without `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_encrypt_into(
    key: *const kl_key,
    plaintext: *const u8,
    plaintext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
) -> kl_result {
    aead_into(
        key,
        [
            (plaintext, plaintext_len, "plaintext"),
            (aad, aad_len, "aad"),
        ],
        out,
        |n| {
            n.checked_add(KL_CIPHERTEXT_OVERHEAD)
                .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "the input is too large"))
        },
        |k, pt, aad, dst| k.encrypt_to(pt, aad, dst),
    )
}

/// An output of a length the caller knows exactly (`*_into` calls).
struct ExactOut {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
}

/// The shape of `kl_key_encrypt_into` and `kl_key_decrypt_into`: a key,
/// an input and its associated data, and an output of exactly
/// `out_len(input length)` bytes that may overlap the inputs.
fn aead_into(
    key: *const kl_key,
    inputs: [(*const u8, usize, &str); 2],
    out: *mut u8,
    out_len: impl FnOnce(usize) -> Result<usize>,
    run: impl FnOnce(&KeyHandle, &[u8], &[u8], &mut [u8]) -> Result<()>,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, `key` is NULL or a live handle.
        let key = unsafe { try_ref(key, "key")? };
        // SAFETY: forwarded to the caller (`exact_into`'s contract).
        unsafe { exact_into(inputs, out, out_len, |i, a, o| run(&key.0, i, a, o)) }
    })
}

/// An input and its associated data, and an output of exactly
/// `out_len(input length)` bytes that may overlap the inputs, for `run`
/// (the shared body of the `_into` calls).
///
/// # Safety
/// Each input pointer is NULL or valid for its length; `out` is NULL or
/// valid for writes of `out_len(input length)` bytes.
pub(super) unsafe fn exact_into(
    [(input, input_len, input_name), (aad, aad_len, _)]: [(*const u8, usize, &str); 2],
    out: *mut u8,
    out_len: impl FnOnce(usize) -> Result<usize>,
    run: impl FnOnce(&[u8], &[u8], &mut [u8]) -> Result<()>,
) -> Result<()> {
    // SAFETY: the function's contract.
    let (input, aad) = unsafe {
        (
            try_bytes(input, input_len, input_name)?,
            try_bytes(aad, aad_len, "aad")?,
        )
    };
    let ptr = core::ptr::NonNull::new(out).ok_or_else(|| super::null("out"))?;
    let len = out_len(input.len())?;
    if isize::try_from(len).is_err() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "the input is too large",
        ));
    }
    let mut out = ExactOut { ptr, len };
    let mut held = Default::default();
    let [input, aad] = out.detach([input, aad], &mut held);
    // SAFETY: `out` is valid for `len` bytes of writes (the contract), and
    // no input still refers to its bytes (`detach`).
    run(input, aad, unsafe { out.as_mut_slice() })
}

/// The plaintext length of a ciphertext of `n` bytes, or `KL_ERR_MALFORMED`.
pub(super) fn plaintext_len(n: usize) -> Result<usize> {
    n.checked_sub(KL_CIPHERTEXT_OVERHEAD).ok_or_else(|| {
        Error::new(
            ErrorKind::Malformed,
            format!(
                "a keylife ciphertext has at least {KL_CIPHERTEXT_OVERHEAD} bytes, this one {n}"
            ),
        )
    })
}

impl ExactOut {
    /// Whether the output's bytes share memory with `input`.
    fn overlaps(&self, input: &[u8]) -> bool {
        let (o, i) = (self.ptr.as_ptr() as usize, input.as_ptr() as usize);
        !input.is_empty()
            && self.len != 0
            && o < i.saturating_add(input.len())
            && i < o.saturating_add(self.len)
    }

    /// `inputs`, each copied into `held` if it shares memory with the
    /// output (a caller encrypting or decrypting in place), so the output
    /// can be written while they are read. Copies are wiped on drop.
    fn detach<'a, const N: usize>(
        &self,
        inputs: [&'a [u8]; N],
        held: &'a mut [Zeroizing<Vec<u8>>; N],
    ) -> [&'a [u8]; N] {
        let mut out = inputs;
        for (slot, copy) in out.iter_mut().zip(held.iter_mut()) {
            if self.overlaps(slot) {
                copy.extend_from_slice(slot);
                *slot = copy.as_slice();
            }
        }
        out
    }

    /// The output as a slice.
    ///
    /// # Safety
    /// `ptr` is valid for `len` bytes of writes (the `*_into` contract),
    /// and nothing else reads or writes those bytes while the slice lives
    /// (the caller passed every input through [`ExactOut::detach`]).
    unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as the function's contract.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

/// As `kl_key_decrypt`, for callers that size the output themselves: `out`
/// must be valid for writes of exactly `ciphertext_len -
/// KL_CIPHERTEXT_OVERHEAD` bytes, and that many bytes of plaintext are
/// written on success. Nothing is written on failure — except that when
/// authentication fails on a store using the `"aws-lc"` crypto provider,
/// `out` is left zeroed (AWS-LC decrypts while it authenticates, then
/// clears); unauthenticated plaintext is never left there. `out` may
/// overlap the inputs (the call then copies the overlapping input first). (With
/// `ciphertext_len == KL_CIPHERTEXT_OVERHEAD` the plaintext is empty and
/// `out` may be any non-NULL pointer.)
///
/// Errors: as `kl_key_decrypt`, without `KL_ERR_BUFFER_TOO_SMALL`;
/// `KL_ERR_MALFORMED` for a ciphertext shorter than
/// `KL_CIPHERTEXT_OVERHEAD`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_decrypt_into(
    key: *const kl_key,
    ciphertext: *const u8,
    ciphertext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
) -> kl_result {
    aead_into(
        key,
        [
            (ciphertext, ciphertext_len, "ciphertext"),
            (aad, aad_len, "aad"),
        ],
        out,
        plaintext_len,
        |k, ct, aad, dst| k.decrypt_to(ct, aad, dst),
    )
}

/// Re-encrypts a ciphertext of this Active key under its primary version,
/// without the plaintext leaving the library. The new ciphertext has the
/// same length as the old one and is written to `(out, out_cap, out_len)`.
///
/// Errors: as `kl_key_decrypt` and `kl_key_encrypt`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_rewrap(
    key: *const kl_key,
    ciphertext: *const u8,
    ciphertext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    aead_buffer(
        key,
        [
            (ciphertext, ciphertext_len, "ciphertext"),
            (aad, aad_len, "aad"),
        ],
        (out, out_cap, out_len),
        Operation::Rewrap,
        Some,
        |k, ct, aad| k.rewrap(ct, aad).map(Zeroizing::new),
    )
}

// ----- signatures -----

fn sign_common(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    fixed: bool,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, msg, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        // The size is checked before signing, against the longest possible
        // signature: a size query spends no signature, and a DER signature
        // (whose length varies with each randomized signature, as AWS-LC's
        // are) always fits the size reported.
        key.0.check(Operation::Sign)?;
        let sig = if fixed {
            out.require(KL_SIGNATURE_FIXED_LEN)?;
            key.0.sign_fixed(msg)?
        } else {
            out.require(KL_SIGNATURE_DER_MAX_LEN)?;
            key.0.sign(msg)?
        };
        out.fill(&sig, false)
    })
}

/// Signs `msg` (ECDSA P-256 with SHA-256) with an Active signing key's
/// primary version. The DER signature (at most `KL_SIGNATURE_DER_MAX_LEN`
/// bytes) is written to `(out, out_cap, out_len)`; verify it with
/// `kl_key_verify`, or elsewhere with the key's exported public key.
/// `out_cap` must be at least `KL_SIGNATURE_DER_MAX_LEN`, the size a size
/// query reports (signatures are randomized on the aws-lc provider, so
/// their DER length varies from one call to the next); `out_len` receives
/// the signature's actual length.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_sign(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    sign_common(key, msg, msg_len, out, out_cap, out_len, false)
}

/// As `kl_key_sign`, with the fixed-width `r || s` encoding
/// (`KL_SIGNATURE_FIXED_LEN` = 64 bytes, as JOSE and WebCrypto use).
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_sign_fixed(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    sign_common(key, msg, msg_len, out, out_cap, out_len, true)
}

fn verify_common(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    sig: *const u8,
    sig_len: usize,
    fixed: bool,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (key, msg, sig) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                try_bytes(sig, sig_len, "signature")?,
            )
        };
        if fixed {
            key.0.verify_fixed(msg, sig)
        } else {
            key.0.verify(msg, sig)
        }
    })
}

/// Verifies a DER signature of `msg` against every version of this key
/// that may verify (Active, Deactivated, or Suspended when allowed).
/// Returns `KL_OK` when it is valid.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED` when it is not (one opaque code
/// for every invalid or malformed signature); `KL_ERR_NULL_POINTER`;
/// `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_verify(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> kl_result {
    verify_common(key, msg, msg_len, signature, signature_len, false)
}

/// As `kl_key_verify`, for a fixed-width 64-byte `r || s` signature.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_verify_fixed(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> kl_result {
    verify_common(key, msg, msg_len, signature, signature_len, true)
}

/// Writes an encoding of the key's primary public key (`encode` returns
/// the bytes, with the NUL for text) to `(out, out_cap, out_len)`.
fn public_key_out(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    encode: impl FnOnce(&PublicKey) -> Result<Vec<u8>>,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, out) = unsafe { (try_ref(key, "key")?, OutBuf::new(out, out_cap, out_len)?) };
        out.fill(&encode(&key.0.public_key(None)?)?, false)
    })
}

/// Writes the public key of a signing or agreement key's primary version as
/// DER SubjectPublicKeyInfo (RFC 5480) into `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE` for other purposes; `KL_ERR_WRONG_STATE` once
/// destroyed; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_public_key_der(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    public_key_out(key, out, out_cap, out_len, |pk| pk.to_spki_der())
}

/// As `kl_key_public_key_der`, as NUL-terminated PEM text
/// (`-----BEGIN PUBLIC KEY-----`), e.g. for `openssl dgst -verify`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_public_key_pem(
    key: *const kl_key,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    public_key_out(key, out.cast::<u8>(), out_cap, out_len, |pk| {
        let mut text = pk.to_spki_pem()?.into_bytes();
        text.push(0);
        Ok(text)
    })
}

/// As `kl_key_public_key_der`, as an uncompressed SEC 1 point
/// (`04 || x || y`, 65 bytes).
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_public_key_sec1(
    key: *const kl_key,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    public_key_out(key, out, out_cap, out_len, |pk| Ok(pk.to_sec1().to_vec()))
}

/// Verifies a DER ECDSA P-256/SHA-256 signature of `msg` with a public key
/// given as DER SubjectPublicKeyInfo or a SEC 1 point (compressed or
/// uncompressed) — a key made elsewhere, e.g. by OpenSSL. Needs no store.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED` for an invalid signature;
/// `KL_ERR_MALFORMED` for a bad public key; `KL_ERR_NULL_POINTER`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_public_key_verify(
    public_key: *const u8,
    public_key_len: usize,
    msg: *const u8,
    msg_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (pk, msg, sig) = unsafe {
            (
                try_bytes(public_key, public_key_len, "public_key")?,
                try_bytes(msg, msg_len, "msg")?,
                try_bytes(signature, signature_len, "signature")?,
            )
        };
        parse_public_key(pk)?.verify(msg, sig)
    })
}

/// A P-256 public key as SPKI DER (starts with a SEQUENCE) or SEC 1.
pub(super) fn parse_public_key(b: &[u8]) -> Result<PublicKey> {
    match b.first() {
        Some(0x30) => PublicKey::from_spki_der(b),
        Some(0x02..=0x04) => PublicKey::from_sec1(b),
        _ => Err(Error::new(
            ErrorKind::Malformed,
            "a public key is DER SubjectPublicKeyInfo or a SEC 1 point",
        )),
    }
}

// ----- MAC -----

/// Computes the HMAC-SHA-256 tag of `msg` with an Active MAC key's primary
/// version; writes `KL_MAC_LEN` (32) bytes to `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_mac(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or capacity (outputs).
        let (key, msg, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        key.0.check(Operation::Mac)?;
        out.require(KL_MAC_LEN)?;
        out.fill(&key.0.mac(msg)?, false)
    })
}

/// Verifies a tag of `msg` in constant time against every version that may
/// verify. Returns `KL_OK` when it matches.
///
/// Errors: `KL_ERR_AUTHENTICATION_FAILED` on mismatch;
/// `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_WRONG_PURPOSE`;
/// `KL_ERR_WRONG_STATE`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_verify_mac(
    key: *const kl_key,
    msg: *const u8,
    msg_len: usize,
    tag: *const u8,
    tag_len: usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (key, msg, tag) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(msg, msg_len, "msg")?,
                try_bytes(tag, tag_len, "tag")?,
            )
        };
        key.0.verify_mac(msg, tag)
    })
}

// ----- derivation and agreement -----

/// Derives `len` bytes (1 to 8160) with HKDF-SHA-256 (RFC 5869) from an
/// Active derivation key's primary version: `salt` for extract, `context`
/// as expand's info. The same inputs give the same bytes.
///
/// On success `*out` receives a new `kl_secret`; read it with
/// `kl_secret_data`/`kl_secret_len` and free it with `kl_secret_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_INVALID_ARGUMENT`
/// for a bad length; `KL_ERR_PERMISSION_DENIED`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_derive(
    key: *const kl_key,
    salt: *const u8,
    salt_len: usize,
    context: *const u8,
    context_len: usize,
    len: usize,
    out: *mut *mut kl_secret,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or writable (output).
        let (key, salt, ctx, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(salt, salt_len, "salt")?,
                try_bytes(context, context_len, "context")?,
                Out::new(out, "out")?,
            )
        };
        out.write(kl_secret::boxed(key.0.derive(salt, ctx, len, None)?));
        Ok(())
    })
}

/// ECDH (P-256) between an Active agreement key and `peer_public_key`
/// (DER SubjectPublicKeyInfo or a SEC 1 point), then HKDF-SHA-256 over the
/// shared secret with `salt` and `context`, producing `len` bytes (1 to
/// 8160). The raw shared secret never leaves the library (NIST SP 800-56A
/// §5.8). Both parties derive the same bytes from the same salt and
/// context.
///
/// On success `*out` receives a new `kl_secret`; free it with
/// `kl_secret_free`.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`; `KL_ERR_MALFORMED` for a
/// bad peer key; `KL_ERR_INVALID_ARGUMENT` for a bad length.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_agree(
    key: *const kl_key,
    peer_public_key: *const u8,
    peer_public_key_len: usize,
    salt: *const u8,
    salt_len: usize,
    context: *const u8,
    context_len: usize,
    len: usize,
    out: *mut *mut kl_secret,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length (inputs) or writable (output).
        let (key, peer, salt, ctx, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_bytes(peer_public_key, peer_public_key_len, "peer_public_key")?,
                try_bytes(salt, salt_len, "salt")?,
                try_bytes(context, context_len, "context")?,
                Out::new(out, "out")?,
            )
        };
        // Purpose and state before the peer key is parsed.
        key.0.check(Operation::Agree)?;
        let secret = key.0.agree(&parse_public_key(peer)?, salt, ctx, len)?;
        out.write(kl_secret::boxed(secret));
        Ok(())
    })
}

// ----- streams (large files) -----

/// Encrypts the file `in_path` into a keylife stream at `out_path`
/// (segments of 1 MiB under a per-file key: constant memory for any size;
/// truncation, reordering and swaps between files are detected). The
/// output is written beside `out_path` and renamed over it when complete,
/// so it is replaced whole or not at all. `aad` is bound to the stream and
/// needed to decrypt. The plaintext length goes to `plaintext_len` unless
/// it is NULL.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for a path
/// that is not UTF-8; `KL_ERR_NOT_FOUND` for a missing input;
/// `KL_ERR_STORAGE` for other I/O errors; `KL_ERR_WRONG_PURPOSE`;
/// `KL_ERR_WRONG_STATE` unless Active; `KL_ERR_PERMISSION_DENIED`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_encrypt_file(
    key: *const kl_key,
    in_path: *const c_char,
    out_path: *const c_char,
    aad: *const u8,
    aad_len: usize,
    plaintext_len: *mut u64,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid (paths
        // NUL-terminated, `aad` for `aad_len` bytes).
        let (key, input, output, aad) = unsafe {
            (
                try_ref(key, "key")?,
                super::try_str(in_path, "in_path")?,
                super::try_str(out_path, "out_path")?,
                try_bytes(aad, aad_len, "aad")?,
            )
        };
        let n = key.0.encrypt_file(input.as_ref(), output.as_ref(), aad)?;
        super::write_optional(plaintext_len, n);
        Ok(())
    })
}
