//! AEAD keys through the C ABI: the fixed-size `kl_key_encrypt_into` /
//! `kl_key_decrypt_into` calls agree with the buffer calls, work in place,
//! check state and purpose alike, write nothing on failure; and NULL for
//! every pointer argument of the AEAD calls.

use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

/// Runs an exact-size call into a fresh `len`-byte output (at least one
/// byte, so the pointer is never NULL). The contract: nothing written on
/// failure, except that an authentication failure on the aws-lc provider
/// leaves the output zeroed (AWS-LC decrypts while it authenticates).
fn exact(len: usize, call: impl FnOnce(*mut u8) -> kl_result) -> Result<Vec<u8>, kl_result> {
    let mut out = vec![0xAAu8; len.max(1)];
    match call(out.as_mut_ptr()) {
        KL_OK => {
            out.truncate(len);
            Ok(out)
        }
        e => {
            let untouched = out.iter().all(|b| *b == 0xAA);
            let zeroed = e == KL_ERR_AUTHENTICATION_FAILED && out.iter().all(|b| *b == 0);
            assert!(untouched || zeroed, "output written on failure");
            Err(e)
        }
    }
}

/// `kl_key_encrypt_into` into an exactly sized buffer.
fn encrypt_into(k: &Key, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    exact(pt.len() + KL_CIPHERTEXT_OVERHEAD, |o| {
        kl_key_encrypt_into(k.0, pt.as_ptr(), pt.len(), aad.as_ptr(), aad.len(), o)
    })
}

/// `kl_key_decrypt_into` into an exactly sized buffer.
fn decrypt_into(k: &Key, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    exact(ct.len().saturating_sub(KL_CIPHERTEXT_OVERHEAD), |o| {
        kl_key_decrypt_into(k.0, ct.as_ptr(), ct.len(), aad.as_ptr(), aad.len(), o)
    })
}

/// `kl_store_decrypt_into` into an exactly sized buffer.
fn store_decrypt_into(s: &Store, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    exact(ct.len().saturating_sub(KL_CIPHERTEXT_OVERHEAD), |o| {
        kl_store_decrypt_into(s.0, ct.as_ptr(), ct.len(), aad.as_ptr(), aad.len(), o)
    })
}

#[test]
fn encrypt_into_and_decrypt_into_interoperate_with_the_buffer_calls() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    for len in [0usize, 1, 15, 16, 64, 1000] {
        let pt: Vec<u8> = (0..=255u8).cycle().take(len).collect();
        let ct = encrypt_into(&k, &pt, b"ctx").unwrap_or_default();
        assert_eq!(ct.len(), len + KL_CIPHERTEXT_OVERHEAD);
        assert_eq!(decrypt(&k, &ct, b"ctx").as_deref(), Ok(&pt[..]));
        let ct2 = encrypt(&k, &pt, b"ctx").unwrap_or_default();
        assert_eq!(decrypt_into(&k, &ct2, b"ctx").as_deref(), Ok(&pt[..]));
        assert_eq!(
            decrypt_into(&k, &ct2, b"ctX"),
            Err(KL_ERR_AUTHENTICATION_FAILED)
        );
        // The store's exact-size call (no intermediate buffer) agrees.
        assert_eq!(store_decrypt_into(&s, &ct, b"ctx").as_deref(), Ok(&pt[..]));
        assert_eq!(
            store_decrypt_into(&s, &ct2, b"ctX"),
            Err(KL_ERR_AUTHENTICATION_FAILED)
        );
    }
    assert_eq!(
        store_decrypt_into(&s, &[0u8; 20], b""),
        Err(KL_ERR_MALFORMED)
    );
    // Empty inputs may be NULL.
    let mut out = [0u8; KL_CIPHERTEXT_OVERHEAD];
    ok!(kl_key_encrypt_into(
        k.0,
        null(),
        0,
        null(),
        0,
        out.as_mut_ptr()
    ));
    let mut none = [0u8; 1];
    ok!(kl_key_decrypt_into(
        k.0,
        out.as_ptr(),
        out.len(),
        null(),
        0,
        none.as_mut_ptr()
    ));
    // Too short to be a ciphertext.
    assert_eq!(decrypt_into(&k, &out[..49], b""), Err(KL_ERR_MALFORMED));
    // The output may overlap the inputs (in place, or the associated data
    // inside the output): the call encrypts into its own memory first.
    for aad_inside in [false, true] {
        let msg = b"in-place message";
        let n = msg.len();
        let mut buf = vec![0u8; n + KL_CIPHERTEXT_OVERHEAD];
        buf[..n].copy_from_slice(msg);
        let p = buf.as_mut_ptr();
        let (aad, aad_len) = if aad_inside {
            (p.wrapping_add(n + 4).cast_const(), 3)
        } else {
            (null(), 0)
        };
        let aad_bytes = buf[n + 4..n + 7].to_vec();
        ok!(kl_key_encrypt_into(k.0, p.cast_const(), n, aad, aad_len, p));
        let ctx: &[u8] = if aad_inside { &aad_bytes } else { b"" };
        assert_eq!(decrypt(&k, &buf, ctx).as_deref(), Ok(&msg[..]));
        // And back, in place: the plaintext over the ciphertext's start.
        ok!(kl_key_decrypt_into(
            k.0,
            p.cast_const(),
            n + KL_CIPHERTEXT_OVERHEAD,
            if aad_inside {
                aad_bytes.as_ptr()
            } else {
                null()
            },
            if aad_inside { 3 } else { 0 },
            p
        ));
        assert_eq!(&buf[..n], &msg[..]);
    }
    // State and purpose are checked as by the buffer calls.
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    assert_eq!(encrypt_into(&signer, b"m", b""), Err(KL_ERR_WRONG_PURPOSE));
    let ct = encrypt_into(&k, b"m", b"").unwrap_or_default();
    ok!(kl_key_deactivate(k.0, c"".as_ptr()));
    assert_eq!(encrypt_into(&k, b"m", b""), Err(KL_ERR_WRONG_STATE));
    assert_eq!(decrypt_into(&k, &ct, b"").as_deref(), Ok(&b"m"[..]));
    ok!(kl_key_compromise(k.0, c"".as_ptr()));
    assert_eq!(decrypt_into(&k, &ct, b""), Err(KL_ERR_WRONG_STATE));
}

/// Every pointer argument of the AEAD calls, NULL in turn, with every
/// other argument valid (each call then succeeds as a control):
/// `KL_ERR_NULL_POINTER`, and no invocation of the key spent.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let s = store();
    // The buffer calls, on one key.
    let aead = key(&s, KL_PURPOSE_AEAD, true);
    let k = aead.0.cast_const();
    let (m, ml) = (b"message".as_ptr(), 7usize);
    let ct = encrypt(&aead, b"message", b"message").unwrap_or_default();
    let (c, cl) = (ct.as_ptr(), ct.len());
    let mut out = Scratch::new(4096);
    let (b, cap, l) = out.args();
    // The fixed-size calls, on another, whose invocations are counted.
    let live = key(&s, KL_PURPOSE_AEAD, true);
    let lk = live.0.cast_const();
    let into_ct = encrypt(&live, b"m", b"a").unwrap_or_default();
    let (ic, icl) = (into_ct.as_ptr(), into_ct.len());
    let mut into_buf = [0u8; 64];
    let (one, a, ib) = (b"m".as_ptr(), b"a".as_ptr(), into_buf.as_mut_ptr());
    let st = s.0.cast_const();

    #[rustfmt::skip]
    let table: &[NullCase] = &[
        ("kl_key_encrypt", "key", NP, &|| kl_key_encrypt(null(), m, ml, m, ml, b, cap, l)),
        ("kl_key_encrypt", "plaintext", NP, &|| kl_key_encrypt(k, null(), ml, m, ml, b, cap, l)),
        ("kl_key_encrypt", "aad", NP, &|| kl_key_encrypt(k, m, ml, null(), ml, b, cap, l)),
        ("kl_key_encrypt", "out", NP, &|| kl_key_encrypt(k, m, ml, m, ml, null_mut(), cap, l)),
        ("kl_key_encrypt", "out_len", NP, &|| kl_key_encrypt(k, m, ml, m, ml, b, cap, null_mut())),
        ("kl_key_encrypt", "-", KL_OK, &|| kl_key_encrypt(k, m, ml, m, ml, b, cap, l)),
        ("kl_key_decrypt", "key", NP, &|| kl_key_decrypt(null(), c, cl, m, ml, b, cap, l)),
        ("kl_key_decrypt", "ciphertext", NP, &|| kl_key_decrypt(k, null(), cl, m, ml, b, cap, l)),
        ("kl_key_decrypt", "aad", NP, &|| kl_key_decrypt(k, c, cl, null(), ml, b, cap, l)),
        ("kl_key_decrypt", "out", NP, &|| kl_key_decrypt(k, c, cl, m, ml, null_mut(), cap, l)),
        ("kl_key_decrypt", "out_len", NP, &|| kl_key_decrypt(k, c, cl, m, ml, b, cap, null_mut())),
        ("kl_key_decrypt", "-", KL_OK, &|| kl_key_decrypt(k, c, cl, m, ml, b, cap, l)),
        ("kl_key_rewrap", "key", NP, &|| kl_key_rewrap(null(), c, cl, m, ml, b, cap, l)),
        ("kl_key_rewrap", "ciphertext", NP, &|| kl_key_rewrap(k, null(), cl, m, ml, b, cap, l)),
        ("kl_key_rewrap", "aad", NP, &|| kl_key_rewrap(k, c, cl, null(), ml, b, cap, l)),
        ("kl_key_rewrap", "out", NP, &|| kl_key_rewrap(k, c, cl, m, ml, null_mut(), cap, l)),
        ("kl_key_rewrap", "out_len", NP, &|| kl_key_rewrap(k, c, cl, m, ml, b, cap, null_mut())),
        ("kl_key_rewrap", "-", KL_OK, &|| kl_key_rewrap(k, c, cl, m, ml, b, cap, l)),
        ("kl_key_encrypt_into", "key", NP, &|| kl_key_encrypt_into(null(), one, 1, a, 1, ib)),
        ("kl_key_encrypt_into", "plaintext", NP, &|| kl_key_encrypt_into(lk, null(), 1, a, 1, ib)),
        ("kl_key_encrypt_into", "aad", NP, &|| kl_key_encrypt_into(lk, one, 1, null(), 1, ib)),
        ("kl_key_encrypt_into", "out", NP, &|| kl_key_encrypt_into(lk, one, 1, a, 1, null_mut())),
        ("kl_key_decrypt_into", "key", NP, &|| kl_key_decrypt_into(null(), ic, icl, a, 1, ib)),
        ("kl_key_decrypt_into", "ciphertext", NP, &|| kl_key_decrypt_into(lk, null(), icl, a, 1, ib)),
        ("kl_key_decrypt_into", "aad", NP, &|| kl_key_decrypt_into(lk, ic, icl, null(), 1, ib)),
        ("kl_key_decrypt_into", "out", NP, &|| kl_key_decrypt_into(lk, ic, icl, a, 1, null_mut())),
        ("kl_key_decrypt_into", "-", KL_OK, &|| kl_key_decrypt_into(lk, ic, icl, a, 1, ib)),
        ("kl_store_decrypt_into", "store", NP, &|| kl_store_decrypt_into(null(), ic, icl, a, 1, ib)),
        ("kl_store_decrypt_into", "ciphertext", NP, &|| kl_store_decrypt_into(st, null(), icl, a, 1, ib)),
        ("kl_store_decrypt_into", "aad", NP, &|| kl_store_decrypt_into(st, ic, icl, null(), 1, ib)),
        ("kl_store_decrypt_into", "out", NP, &|| kl_store_decrypt_into(st, ic, icl, a, 1, null_mut())),
        ("kl_store_decrypt_into", "-", KL_OK, &|| kl_store_decrypt_into(st, ic, icl, a, 1, ib)),
    ];
    check_null_table(table);
    assert_eq!(into_buf[0], b'm');
    // A refused call spends no invocation of the key.
    assert_eq!(info(&live)["versions"][0]["usage_count"], 1);
}
