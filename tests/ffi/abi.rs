//! Conventions every entry point shares: result codes with static strings,
//! the thread-local last error, `free(NULL)` as a no-op, out-of-range
//! enumerations refused, and too-small buffers reported with the size they
//! need and left untouched.

use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

#[test]
fn result_strings_and_the_thread_local_last_error() {
    // The strings' contents are checked inside the crate (src/ffi); here,
    // that every known code has its own static string and unknown codes
    // share one.
    let unknown = kl_result_str(7777);
    assert!(!unknown.is_null());
    assert_eq!(kl_result_str(u32::MAX), unknown);
    let mut seen = vec![kl_result_str(KL_OK)];
    for k in keylife::ErrorKind::ALL {
        let p = kl_result_str(k.code());
        assert!(!p.is_null() && p != unknown && !seen.contains(&p), "{k:?}");
        seen.push(p);
    }
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, false);
    assert_eq!(encrypt(&k, b"x", b""), Err(KL_ERR_WRONG_STATE));
    let mine = last_error();
    assert!(mine.starts_with("wrong key state"), "{mine}");
    // Another thread has its own slot.
    let other = std::thread::spawn(|| kl_last_error(null_mut(), 0)).join();
    assert_eq!(other.ok(), Some(0));
    assert_eq!(last_error(), mine);
    // A success clears it; a too-small buffer leaves it untouched.
    let mut st = 0;
    ok!(kl_key_state(k.0, &mut st));
    assert_eq!(kl_last_error(null_mut(), 0), 0);
    fails!(KL_ERR_NULL_POINTER, kl_key_state(k.0, null_mut()));
    let mut tiny = [0xAAu8; 3];
    let need = kl_last_error(tiny.as_mut_ptr().cast(), tiny.len());
    assert!(need > 3);
    assert_eq!(tiny, [0xAA; 3]);
    assert!(last_error().contains("out is NULL"), "{}", last_error());
}

#[test]
fn free_null_is_a_no_op() {
    kl_store_free(null_mut());
    kl_key_free(null_mut());
    kl_secret_free(null_mut());
    assert!(kl_secret_data(null()).is_null());
    assert_eq!(kl_secret_len(null()), 0);
}

#[test]
fn out_of_range_enumerations_are_invalid_arguments() {
    let mut st = null_mut();
    for role in [0, 6, 99, u32::MAX] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_store_open_memory(c"x".as_ptr(), role, &mut st)
        );
    }
    assert!(st.is_null());
    let s = store();
    let mut k = null_mut();
    for purpose in [0, 6, 1000, u32::MAX] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_key_create(s.0, purpose, c"k".as_ptr(), &mut k)
        );
    }
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_create_ex(
            s.0,
            KL_PURPOSE_AEAD,
            c"k".as_ptr(),
            c"".as_ptr(),
            0x100,
            &mut k
        )
    );
    assert!(k.is_null());
    let mut len = 0;
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_list_json(s.0, 6, 0, c"".as_ptr(), null_mut(), 0, &mut len)
    );
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_list_json(s.0, 0, 9, c"".as_ptr(), null_mut(), 0, &mut len)
    );
    let mut other = null_mut();
    fails!(
        KL_ERR_NOT_FOUND,
        kl_store_as_principal(s.0, c"x".as_ptr(), &mut other)
    );
    let kek = [7u8; 32];
    let path = c"/nonexistent-dir/should-not-be-created.db";
    // Backend, KEK kind, KEK length.
    for (backend, kek_kind, kek_len) in [
        (0, KL_KEK_RAW, 32),
        (KL_BACKEND_SQLITE, 9, 32),
        (KL_BACKEND_FILE, KL_KEK_RAW, 31),
    ] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_store_open(
                backend,
                path.as_ptr(),
                kek_kind,
                kek.as_ptr(),
                kek_len,
                c"x".as_ptr(),
                1,
                &mut other
            )
        );
    }
    assert!(other.is_null());
    // Strings that are not UTF-8.
    let bad = [0xffu8, 0xfe, 0];
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_create(s.0, KL_PURPOSE_AEAD, bad.as_ptr().cast(), &mut k)
    );
    fails!(
        KL_ERR_MALFORMED,
        kl_key_load(s.0, c"not-an-id".as_ptr(), &mut k)
    );
    fails!(
        KL_ERR_NOT_FOUND,
        kl_key_load(s.0, c"000102030405060708090a0b0c0d0e0f".as_ptr(), &mut k)
    );
    assert!(k.is_null());
}

#[test]
fn buffers_too_small_report_the_size_and_stay_untouched() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let pt = b"sixteen bytes!!!";
    let mut buf = [0xAAu8; 40];
    let mut len = 0;
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_encrypt(
            k.0,
            pt.as_ptr(),
            pt.len(),
            null(),
            0,
            buf.as_mut_ptr(),
            buf.len(),
            &mut len
        )
    );
    assert_eq!(len, pt.len() + KL_CIPHERTEXT_OVERHEAD);
    assert!(buf.iter().all(|b| *b == 0xAA), "nothing written");
    // The size check comes first: no invocation was spent.
    let info = fetch(|o, c, l| kl_key_info_json(k.0, o, c, l)).unwrap_or_default();
    assert!(String::from_utf8_lossy(&info).contains("\"usage_count\":0"));

    let ct = encrypt(&k, pt, b"").unwrap_or_default();
    let mut small = [0xAAu8; 15];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_decrypt(
            k.0,
            ct.as_ptr(),
            ct.len(),
            null(),
            0,
            small.as_mut_ptr(),
            small.len(),
            &mut len
        )
    );
    assert_eq!(len, 16);
    assert!(small.iter().all(|b| *b == 0xAA));

    let mut id = [0xAAu8; KL_KEY_ID_HEX_LEN];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_id(k.0, id.as_mut_ptr().cast(), id.len(), &mut len)
    );
    assert_eq!(len, KL_KEY_ID_HEX_LEN + 1, "the NUL counts");
    assert!(id.iter().all(|b| *b == 0xAA));

    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let mut sig = [0xAAu8; 8];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_sign(signer.0, null(), 0, sig.as_mut_ptr(), sig.len(), &mut len)
    );
    assert!((8..=KL_SIGNATURE_DER_MAX_LEN).contains(&len));
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_sign_fixed(signer.0, null(), 0, sig.as_mut_ptr(), sig.len(), &mut len)
    );
    assert_eq!(len, KL_SIGNATURE_FIXED_LEN);
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_public_key_pem(signer.0, sig.as_mut_ptr().cast(), sig.len(), &mut len)
    );
    assert!(len > 100);
    assert!(sig.iter().all(|b| *b == 0xAA));

    let mac = key(&s, KL_PURPOSE_MAC, true);
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_mac(mac.0, null(), 0, sig.as_mut_ptr(), sig.len(), &mut len)
    );
    assert_eq!(len, KL_MAC_LEN);

    // A size query: NULL buffer with capacity 0.
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_list_json(s.0, 0, 0, c"".as_ptr(), null_mut(), 0, &mut len)
    );
    assert!(len > 2);
    // A NULL buffer with a capacity is a NULL pointer, not a size query.
    fails!(
        KL_ERR_NULL_POINTER,
        kl_store_list_json(s.0, 0, 0, c"".as_ptr(), null_mut(), 10, &mut len)
    );
}
