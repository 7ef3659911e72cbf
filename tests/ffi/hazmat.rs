//! The `hazmat` calls (`kl_key_hazmat_*`): raw key material leaves only an
//! exportable key and enters as a new key, and raw AEAD with a caller's
//! nonce interoperates between the two; refusals; and NULL for every
//! pointer argument.

use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

/// An active AEAD key created with `KL_CREATE_EXPORTABLE`.
fn exportable(s: &Store) -> Key {
    let mut k = null_mut();
    ok!(kl_key_create_ex(
        s.0,
        KL_PURPOSE_AEAD,
        c"interop".as_ptr(),
        c"qa".as_ptr(),
        KL_CREATE_EXPORTABLE,
        &mut k
    ));
    let k = Key(k);
    ok!(kl_key_activate(k.0));
    k
}

#[test]
fn hazmat_export_import_and_raw_aead() {
    let s = store();
    let k = exportable(&s);
    let mut raw = null_mut();
    ok!(kl_key_hazmat_export_raw(k.0, &mut raw));
    let raw = Secret(raw);
    assert_eq!(raw.len(), 32);

    // The exported material, imported as another key, decrypts raw
    // ciphertexts of the first.
    let mut twin = null_mut();
    ok!(kl_key_hazmat_import_raw(
        s.0,
        KL_PURPOSE_AEAD,
        c"twin".as_ptr(),
        kl_secret_data(raw.0),
        raw.len(),
        0,
        &mut twin
    ));
    let twin = Key(twin);
    ok!(kl_key_activate(twin.0));
    let nonce = [9u8; 12];
    let encrypt_raw = |nonce_len: usize, pt: &[u8], aad: &[u8]| {
        fetch(|o, c, l| {
            kl_key_hazmat_encrypt_assume_unique_nonce(
                k.0,
                nonce.as_ptr(),
                nonce_len,
                pt.as_ptr(),
                pt.len(),
                aad.as_ptr(),
                aad.len(),
                o,
                c,
                l,
            )
        })
    };
    let decrypt_raw = |ct: &[u8], aad: &[u8]| {
        fetch(|o, c, l| {
            kl_key_hazmat_decrypt_raw(
                twin.0,
                nonce.as_ptr(),
                12,
                ct.as_ptr(),
                ct.len(),
                aad.as_ptr(),
                aad.len(),
                o,
                c,
                l,
            )
        })
    };
    let ct = encrypt_raw(12, b"hi", b"a").unwrap_or_default();
    assert_eq!(ct.len(), 2 + 16);
    assert_eq!(decrypt_raw(&ct, b"a").as_deref(), Ok(&b"hi"[..]));
    assert_eq!(decrypt_raw(&ct, b"b"), Err(KL_ERR_AUTHENTICATION_FAILED));
    let short = fetch(|o, c, l| {
        kl_key_hazmat_encrypt_assume_unique_nonce(
            k.0,
            nonce.as_ptr(),
            8,
            null(),
            0,
            null(),
            0,
            o,
            c,
            l,
        )
    });
    assert_eq!(short, Err(KL_ERR_UNSUPPORTED));

    // Not exportable, not an administrator: refused.
    let plain = key(&s, KL_PURPOSE_AEAD, true);
    let mut out = null_mut();
    fails!(KL_ERR_POLICY, kl_key_hazmat_export_raw(plain.0, &mut out));
    assert!(out.is_null());
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_hazmat_import_raw(
            s.0,
            KL_PURPOSE_AEAD,
            c"x".as_ptr(),
            b"short".as_ptr(),
            5,
            0,
            &mut null_mut()
        )
    );
}

/// Every pointer argument of the hazmat calls, NULL in turn, with every
/// other argument valid: `KL_ERR_NULL_POINTER`, and no secret or key
/// written.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let st = store();
    let s = st.0;
    let key = exportable(&st);
    let k = key.0.cast_const();
    let nonce = [9u8; 12];
    let n = nonce.as_ptr();
    let ct = encrypt(&key, b"hi", b"").unwrap_or_default();
    let (i, il) = (ct.as_ptr(), ct.len());
    let m32 = [5u8; 32];
    let m = m32.as_ptr();
    let x = c"x".as_ptr();
    let mut out = Scratch::new(64);
    let (b, _, l) = out.args();
    let so = out_slot::<kl_secret>();
    let ko = out_slot::<kl_key>();
    let (o, kp) = (so.as_ptr(), ko.as_ptr());
    let enc = kl_key_hazmat_encrypt_assume_unique_nonce;
    let dec = kl_key_hazmat_decrypt_raw;

    #[rustfmt::skip]
    let table: &[NullCase] = &[
        ("kl_key_hazmat_export_raw", "key", NP, &|| kl_key_hazmat_export_raw(null(), o)),
        ("kl_key_hazmat_export_raw", "out", NP, &|| kl_key_hazmat_export_raw(k, null_mut())),
        ("kl_key_hazmat_import_raw", "store", NP, &|| kl_key_hazmat_import_raw(null(), 1, x, m, 32, 0, kp)),
        ("kl_key_hazmat_import_raw", "name", NP, &|| kl_key_hazmat_import_raw(s, 1, null(), m, 32, 0, kp)),
        ("kl_key_hazmat_import_raw", "material", NP, &|| kl_key_hazmat_import_raw(s, 1, x, null(), 32, 0, kp)),
        ("kl_key_hazmat_import_raw", "out", NP, &|| kl_key_hazmat_import_raw(s, 1, x, m, 32, 0, null_mut())),
        ("kl_key_hazmat_import_raw", "purpose 0", KL_ERR_INVALID_ARGUMENT, &|| kl_key_hazmat_import_raw(s, 0, x, m, 32, 0, kp)),
        ("kl_key_hazmat_encrypt_assume_unique_nonce", "key", NP, &|| enc(null(), n, 12, i, il, i, 1, b, 64, l)),
        ("kl_key_hazmat_encrypt_assume_unique_nonce", "nonce", NP, &|| enc(k, null(), 12, i, il, i, 1, b, 64, l)),
        ("kl_key_hazmat_encrypt_assume_unique_nonce", "plaintext", NP, &|| enc(k, n, 12, null(), il, i, 1, b, 64, l)),
        ("kl_key_hazmat_encrypt_assume_unique_nonce", "aad", NP, &|| enc(k, n, 12, i, il, null(), 1, b, 64, l)),
        ("kl_key_hazmat_encrypt_assume_unique_nonce", "out", NP, &|| enc(k, n, 12, i, il, i, 1, null_mut(), 64, l)),
        ("kl_key_hazmat_encrypt_assume_unique_nonce", "out_len", NP, &|| enc(k, n, 12, i, il, i, 1, b, 64, null_mut())),
        ("kl_key_hazmat_decrypt_raw", "key", NP, &|| dec(null(), n, 12, i, il, i, 1, b, 64, l)),
        ("kl_key_hazmat_decrypt_raw", "nonce", NP, &|| dec(k, null(), 12, i, il, i, 1, b, 64, l)),
        ("kl_key_hazmat_decrypt_raw", "ciphertext", NP, &|| dec(k, n, 12, null(), il, i, 1, b, 64, l)),
        ("kl_key_hazmat_decrypt_raw", "aad", NP, &|| dec(k, n, 12, i, il, null(), 1, b, 64, l)),
        ("kl_key_hazmat_decrypt_raw", "out", NP, &|| dec(k, n, 12, i, il, i, 1, null_mut(), 64, l)),
        ("kl_key_hazmat_decrypt_raw", "out_len", NP, &|| dec(k, n, 12, i, il, i, 1, b, 64, null_mut())),
    ];
    check_null_table(table);
    assert!(so.get().is_null(), "no secret was written");
    assert!(ko.get().is_null(), "no key was written");
}
