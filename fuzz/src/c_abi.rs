//! A fuzz target for the C ABI (`keylife::ffi`): a sequence of `kl_*`
//! calls decoded from the input — handle lifecycles, NULL and non-NULL
//! pointers, fuzzed lengths and buffer capacities — against one in-memory
//! store, as a C program would make them. Run under AddressSanitizer by
//! cargo-fuzz, so any out-of-bounds access or leak on the library's side is
//! a finding; the oracles check the ABI's own promises:
//!
//! - no call reports `KL_ERR_PANIC`, and every result code is a known one;
//! - the buffer protocol: too small gives `KL_ERR_BUFFER_TOO_SMALL` with the
//!   size needed in `*out_len` and nothing written past `out_cap`; success
//!   never reports more than `out_cap`;
//! - outputs are written only on success (out-handles stay NULL on error);
//! - what `kl_key_encrypt_into` makes, `kl_key_decrypt_into`,
//!   `kl_key_decrypt` and `kl_store_decrypt` open to the same plaintext.
//!
//! The harness itself keeps the C contract: every length it passes is at
//! most its allocation, and every handle it passes is live. Shared, like
//! the other target files, with `tests/fuzz_corpus.rs`.

// A fuzz target reports a broken invariant by panicking.
#![allow(clippy::panic)]

use core::ffi::c_char;
use std::ffi::CString;
use std::ptr::{null, null_mut};

use keylife::ffi::*;

/// Reads the input front to back.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn byte_or0(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }

    /// Up to `max` bytes, the count taken from the input.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (usize::from(self.byte_or0()) % (max + 1)).min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken.to_vec()
    }
}

/// A checked result: a known code, never a panic.
fn known(r: kl_result, call: &str) -> kl_result {
    assert!(r != KL_ERR_PANIC, "{call} panicked inside keylife");
    assert!(
        r == KL_OK || keylife::ErrorKind::from_code(r).is_some(),
        "{call} returned unknown code {r}"
    );
    r
}

/// A live key handle and what the harness knows about it.
struct Held {
    key: *mut kl_key,
}

/// One ciphertext the harness made, with its plaintext and context.
struct Made {
    ct: Vec<u8>,
    pt: Vec<u8>,
    aad: Vec<u8>,
}

/// A NUL-free C string from fuzz bytes, or NULL when the first byte says so.
fn c_string(r: &mut Reader<'_>) -> Option<CString> {
    if r.byte_or0().is_multiple_of(8) {
        return None;
    }
    let mut b = r.bytes(24);
    b.retain(|c| *c != 0);
    CString::new(b).ok()
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |c| c.as_ptr())
}

/// Runs the decoded call sequence.
pub fn c_abi(data: &[u8]) {
    let mut r = Reader(data);
    let mut store: *mut kl_store = null_mut();
    let name = c"fuzz";
    assert_eq!(
        known(
            kl_store_open_memory(name.as_ptr(), KL_ROLE_ADMINISTRATOR, &mut store),
            "kl_store_open_memory"
        ),
        KL_OK
    );
    let mut held: Vec<Held> = Vec::new();
    let mut made: Vec<Made> = Vec::new();
    let mut steps = 0;
    while let Some(op) = r.byte() {
        steps += 1;
        if steps > 64 {
            break;
        }
        let pick = usize::from(r.byte_or0());
        let key = if held.is_empty() {
            null_mut()
        } else {
            held[pick % held.len()].key
        };
        match op % 10 {
            // Create a key: any purpose code (some invalid), any flags,
            // any name (or NULL), out NULL or not.
            0 => {
                let purpose = u32::from(r.byte_or0() % 7);
                let flags = u32::from(r.byte_or0() % 5);
                let n = c_string(&mut r);
                let mut out: *mut kl_key = null_mut();
                let want_out = !r.byte_or0().is_multiple_of(16);
                let res = known(
                    kl_key_create_ex(
                        store,
                        purpose,
                        ptr(&n),
                        c"".as_ptr(),
                        flags,
                        if want_out { &mut out } else { null_mut() },
                    ),
                    "kl_key_create_ex",
                );
                if res == KL_OK {
                    assert!(!out.is_null(), "created without a handle");
                    held.push(Held { key: out });
                } else {
                    assert!(out.is_null(), "an out-handle written on error {res}");
                }
            }
            // A transition, with any reason (or NULL) and waiting period.
            1 => {
                let which = r.byte_or0() % 8;
                let reason = c_string(&mut r);
                let wait = u64::from(r.byte_or0()) * 86_400;
                let res = match which {
                    0 => kl_key_activate(key),
                    1 => kl_key_suspend(key, ptr(&reason)),
                    2 => kl_key_resume(key),
                    3 => kl_key_deactivate(key, ptr(&reason)),
                    4 => kl_key_compromise(key, ptr(&reason)),
                    5 => kl_key_schedule_destruction(key, wait, ptr(&reason)),
                    6 => kl_key_cancel_destruction(key),
                    _ => kl_key_rotate(key, &mut 0u32),
                };
                known(res, "transition");
                if key.is_null() {
                    assert_eq!(res, KL_ERR_NULL_POINTER);
                }
            }
            // encrypt_into, then every way back.
            2 => {
                let pt = r.bytes(300);
                let aad = r.bytes(80);
                let mut out = vec![0u8; pt.len() + KL_CIPHERTEXT_OVERHEAD];
                let res = known(
                    kl_key_encrypt_into(
                        key,
                        pt.as_ptr(),
                        pt.len(),
                        aad.as_ptr(),
                        aad.len(),
                        out.as_mut_ptr(),
                    ),
                    "kl_key_encrypt_into",
                );
                if res == KL_OK {
                    let mut back = vec![0u8; pt.len()];
                    let res = known(
                        kl_key_decrypt_into(
                            key,
                            out.as_ptr(),
                            out.len(),
                            aad.as_ptr(),
                            aad.len(),
                            back.as_mut_ptr(),
                        ),
                        "kl_key_decrypt_into",
                    );
                    // An Active key decrypts what it just made.
                    assert_eq!(res, KL_OK, "a fresh ciphertext did not open");
                    assert_eq!(back, pt, "opened to another plaintext");
                    made.push(Made { ct: out, pt, aad });
                }
            }
            // The buffer protocol: decrypt into a fuzzed capacity.
            3 => {
                let (ct, aad) = match made.get(pick % made.len().max(1)) {
                    Some(m) if !r.byte_or0().is_multiple_of(4) => (m.ct.clone(), m.aad.clone()),
                    _ => (r.bytes(120), r.bytes(16)),
                };
                // What may open: a ciphertext this run made, under its context.
                let pt = made
                    .iter()
                    .find(|m| m.ct == ct && m.aad == aad)
                    .map(|m| m.pt.clone());
                let alloc = 320;
                let cap = usize::from(r.byte_or0()) * 2 % (alloc + 1);
                // A guard zone after `cap` that must stay untouched.
                let mut out = vec![0xa5u8; alloc + 16];
                let mut len = usize::MAX;
                let via_store = r.byte_or0().is_multiple_of(2);
                let res = known(
                    if via_store {
                        kl_store_decrypt(
                            store,
                            ct.as_ptr(),
                            ct.len(),
                            aad.as_ptr(),
                            aad.len(),
                            out.as_mut_ptr(),
                            cap,
                            &mut len,
                        )
                    } else {
                        kl_key_decrypt(
                            key,
                            ct.as_ptr(),
                            ct.len(),
                            aad.as_ptr(),
                            aad.len(),
                            out.as_mut_ptr(),
                            cap,
                            &mut len,
                        )
                    },
                    "decrypt",
                );
                assert!(
                    out[cap..].iter().all(|b| *b == 0xa5),
                    "written past out_cap"
                );
                match res {
                    KL_OK => {
                        assert!(len <= cap, "reported {len} bytes in a {cap}-byte buffer");
                        match &pt {
                            Some(pt) => {
                                assert_eq!(&out[..len], &pt[..], "opened to another plaintext")
                            }
                            None => panic!("fuzzer bytes opened as a ciphertext"),
                        }
                    }
                    KL_ERR_BUFFER_TOO_SMALL => {
                        assert!(
                            len > cap && len != usize::MAX,
                            "too small, but needs {len} of {cap}"
                        );
                    }
                    _ => {}
                }
            }
            // Getters with small buffers.
            4 => {
                let cap = usize::from(r.byte_or0() % 40);
                let mut id = vec![0x5au8; 48];
                let mut len = 0usize;
                let res = known(
                    kl_key_id(key, id.as_mut_ptr().cast(), cap, &mut len),
                    "kl_key_id",
                );
                assert!(
                    id[cap..].iter().all(|b| *b == 0x5a),
                    "id written past out_cap"
                );
                if res == KL_OK {
                    assert_eq!(len, KL_KEY_ID_HEX_LEN + 1);
                    // Load the key again by its id: a second live handle.
                    let mut again: *mut kl_key = null_mut();
                    if known(
                        kl_key_load(store, id.as_ptr().cast(), &mut again),
                        "kl_key_load",
                    ) == KL_OK
                    {
                        held.push(Held { key: again });
                    }
                }
                let mut state = 0u32;
                known(kl_key_state(key, &mut state), "kl_key_state");
                let mut p = 0u32;
                known(kl_key_purpose(key, &mut p), "kl_key_purpose");
            }
            // Signatures and MACs with fuzzed buffers.
            5 => {
                let msg = r.bytes(64);
                let cap = usize::from(r.byte_or0()) % 80;
                let mut sig = vec![0x33u8; 96];
                let mut len = 0usize;
                let res = known(
                    kl_key_sign(
                        key,
                        msg.as_ptr(),
                        msg.len(),
                        sig.as_mut_ptr(),
                        cap,
                        &mut len,
                    ),
                    "kl_key_sign",
                );
                assert!(
                    sig[cap..].iter().all(|b| *b == 0x33),
                    "signature written past out_cap"
                );
                if res == KL_OK {
                    known(
                        kl_key_verify(key, msg.as_ptr(), msg.len(), sig.as_ptr(), len),
                        "kl_key_verify",
                    );
                }
                let mut tag = [0u8; KL_MAC_LEN];
                let mut tlen = 0usize;
                if known(
                    kl_key_mac(
                        key,
                        msg.as_ptr(),
                        msg.len(),
                        tag.as_mut_ptr(),
                        tag.len(),
                        &mut tlen,
                    ),
                    "kl_key_mac",
                ) == KL_OK
                {
                    assert_eq!(
                        known(
                            kl_key_verify_mac(key, msg.as_ptr(), msg.len(), tag.as_ptr(), tlen),
                            "kl_key_verify_mac"
                        ),
                        KL_OK,
                        "a fresh MAC did not verify"
                    );
                }
            }
            // Derivation: a library-owned secret, freed.
            6 => {
                let len = usize::from(r.byte_or0());
                let mut secret: *mut kl_secret = null_mut();
                let res = known(
                    kl_key_derive(key, null(), 0, c"ctx".as_ptr().cast(), 3, len, &mut secret),
                    "kl_key_derive",
                );
                if res == KL_OK {
                    assert_eq!(kl_secret_len(secret), len);
                } else {
                    assert!(secret.is_null(), "a secret written on error");
                }
                kl_secret_free(secret);
            }
            // Free a handle (the key stays in the store).
            7 => {
                if !held.is_empty() {
                    let h = held.swap_remove(pick % held.len());
                    kl_key_free(h.key);
                }
            }
            // The last error with any capacity.
            8 => {
                let cap = usize::from(r.byte_or0());
                let mut buf = vec![0x77u8; 300];
                let needed = kl_last_error(buf.as_mut_ptr().cast(), cap);
                if needed > cap {
                    assert!(
                        buf.iter().all(|b| *b == 0x77),
                        "last error written into a short buffer"
                    );
                }
            }
            // NULL handles everywhere.
            _ => {
                let mut s = 0u32;
                assert_eq!(
                    known(kl_key_state(null(), &mut s), "kl_key_state"),
                    KL_ERR_NULL_POINTER
                );
                assert_eq!(
                    known(kl_key_activate(null_mut()), "kl_key_activate"),
                    KL_ERR_NULL_POINTER
                );
                kl_key_free(null_mut());
                kl_secret_free(null_mut());
            }
        }
    }
    for h in held {
        kl_key_free(h.key);
    }
    kl_store_free(store);
}
