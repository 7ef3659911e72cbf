//! Key handles (`kl_key_*` lifecycle calls): the full lifecycle end to end,
//! wrong state and wrong purpose refused without harm, state changes seen
//! through every handle, consumed handles after a failed transition,
//! per-version management, and NULL for every pointer argument.

use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

#[test]
fn lifecycle_through_the_abi() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, false);
    assert_eq!(state(&k), KL_STATE_PRE_ACTIVE);
    let mut p = 0;
    ok!(kl_key_purpose(k.0, &mut p));
    assert_eq!(p, KL_PURPOSE_AEAD);
    ok!(kl_key_activate(k.0));
    assert_eq!(state(&k), KL_STATE_ACTIVE);

    let aad = b"customer=42";
    let ct = encrypt(&k, b"jane@example.com", aad).unwrap_or_default();
    assert_eq!(ct.len(), 16 + KL_CIPHERTEXT_OVERHEAD);
    assert_eq!(
        decrypt(&k, &ct, aad).as_deref(),
        Ok(&b"jane@example.com"[..])
    );
    assert_eq!(
        decrypt(&k, &ct, b"customer=43"),
        Err(KL_ERR_AUTHENTICATION_FAILED)
    );
    let via_store =
        fetch(|o, c, l| kl_store_decrypt(s.0, ct.as_ptr(), ct.len(), aad.as_ptr(), 11, o, c, l));
    assert_eq!(via_store.as_deref(), Ok(&b"jane@example.com"[..]));

    let mut v = 0;
    ok!(kl_key_rotate(k.0, &mut v));
    assert_eq!(v, 2);
    let rewrap = |aad: *const u8, aad_len: usize| {
        fetch(|o, c, l| kl_key_rewrap(k.0, ct.as_ptr(), ct.len(), aad, aad_len, o, c, l))
    };
    assert_eq!(
        rewrap(null(), 0),
        Err(KL_ERR_AUTHENTICATION_FAILED),
        "wrong aad"
    );
    let re = rewrap(aad.as_ptr(), 11).unwrap_or_default();
    assert_eq!(re.len(), ct.len());
    assert_eq!(&re[18..22], &[0, 0, 0, 2], "rewrapped under version 2");

    ok!(kl_key_suspend(k.0, c"audit hold".as_ptr()));
    assert_eq!(state(&k), KL_STATE_SUSPENDED);
    assert_eq!(encrypt(&k, b"x", b""), Err(KL_ERR_WRONG_STATE));
    assert!(decrypt(&k, &re, aad).is_ok());
    ok!(kl_key_resume(k.0));
    ok!(kl_key_deactivate(k.0, c"superseded".as_ptr()));
    assert_eq!(state(&k), KL_STATE_DEACTIVATED);
    assert_eq!(encrypt(&k, b"x", b""), Err(KL_ERR_WRONG_STATE));
    assert!(decrypt(&k, &ct, aad).is_ok());
    ok!(kl_key_compromise(k.0, c"laptop stolen".as_ptr()));
    assert_eq!(decrypt(&k, &ct, aad), Err(KL_ERR_WRONG_STATE));
    ok!(kl_key_schedule_destruction(
        k.0,
        30 * 86400,
        c"compromised".as_ptr()
    ));
    assert_eq!(state(&k), KL_STATE_PENDING_DESTRUCTION);
    ok!(kl_key_cancel_destruction(k.0));
    assert_eq!(state(&k), KL_STATE_COMPROMISED);

    let never = key(&s, KL_PURPOSE_MAC, false);
    ok!(kl_key_destroy(never.0, c"never used".as_ptr()));
    assert_eq!(state(&never), KL_STATE_DESTROYED);

    // Load by id: the same key, in its live state.
    let id = id_of(&k);
    let again = load(&s, &k);
    assert_eq!(state(&again), KL_STATE_COMPROMISED);
    assert_eq!(id_of(&again), id);

    let info = fetch(|o, c, l| kl_key_info_json(again.0, o, c, l)).unwrap_or_default();
    assert_eq!(info.last(), Some(&0), "NUL-terminated");
    let text = String::from_utf8_lossy(&info[..info.len() - 1]).into_owned();
    assert!(text.contains("\"state\":\"compromised\""), "{text}");
    assert!(text.contains(&format!("\"id\":\"{}\"", id.to_string_lossy())));

    let list = |purpose, state| {
        let json = fetch(|o, c, l| kl_store_list_json(s.0, purpose, state, c"".as_ptr(), o, c, l));
        String::from_utf8_lossy(&json.unwrap_or_default()).into_owned()
    };
    let all = list(0, 0);
    assert!(
        all.starts_with('[') && all.contains("\"purpose\":\"mac\""),
        "{all}"
    );
    let destroyed_macs = list(KL_PURPOSE_MAC, KL_STATE_DESTROYED);
    assert!(
        !destroyed_macs.contains("\"purpose\":\"aead\""),
        "{destroyed_macs}"
    );
    assert!(
        destroyed_macs.contains("\"purpose\":\"mac\""),
        "{destroyed_macs}"
    );

    let mut changed = usize::MAX;
    ok!(kl_store_maintenance(s.0, &mut changed));
    assert_eq!(changed, 0);
}

#[test]
fn wrong_state_is_reported_and_leaves_the_handle_usable() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, false);
    assert_eq!(encrypt(&k, b"x", b""), Err(KL_ERR_WRONG_STATE));
    assert!(last_error().contains("pre_active"), "{}", last_error());
    fails!(KL_ERR_WRONG_STATE, kl_key_resume(k.0));
    fails!(KL_ERR_WRONG_STATE, kl_key_cancel_destruction(k.0));
    let mut v = 0;
    fails!(KL_ERR_WRONG_STATE, kl_key_rotate(k.0, &mut v));
    // Not attempted, so not consumed.
    assert_eq!(state(&k), KL_STATE_PRE_ACTIVE);
    ok!(kl_key_activate(k.0));
    assert!(encrypt(&k, b"x", b"").is_ok());
    fails!(KL_ERR_WRONG_STATE, kl_key_activate(k.0));
    assert_eq!(state(&k), KL_STATE_ACTIVE);
}

#[test]
fn a_state_change_through_one_handle_reaches_the_others() {
    let s = store();
    let a = key(&s, KL_PURPOSE_AEAD, true);
    let b = load(&s, &a);
    ok!(kl_key_suspend(b.0, c"".as_ptr()));
    assert_eq!(encrypt(&a, b"x", b""), Err(KL_ERR_WRONG_STATE));
    ok!(kl_key_resume(a.0));
    assert!(encrypt(&b, b"x", b"").is_ok());
    ok!(kl_key_compromise(a.0, c"leak".as_ptr()));
    assert_eq!(encrypt(&b, b"x", b""), Err(KL_ERR_WRONG_STATE));
    assert_eq!(state(&b), KL_STATE_COMPROMISED);
}

#[test]
fn wrong_purpose_is_reported() {
    let s = store();
    let aead = key(&s, KL_PURPOSE_AEAD, true);
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    assert_eq!(sign(&aead, b"m"), Err(KL_ERR_WRONG_PURPOSE));
    assert_eq!(encrypt(&signer, b"m", b""), Err(KL_ERR_WRONG_PURPOSE));
    assert_eq!(public_der(&aead), Err(KL_ERR_WRONG_PURPOSE));
    let mut out = null_mut();
    fails!(
        KL_ERR_WRONG_PURPOSE,
        kl_key_derive(signer.0, null(), 0, null(), 0, 32, &mut out)
    );
    let tag = [0u8; 32];
    fails!(
        KL_ERR_WRONG_PURPOSE,
        kl_key_verify_mac(aead.0, null(), 0, tag.as_ptr(), 32)
    );
    let der = public_der(&signer).unwrap_or_default();
    fails!(
        KL_ERR_WRONG_PURPOSE,
        kl_key_agree(
            signer.0,
            der.as_ptr(),
            der.len(),
            null(),
            0,
            null(),
            0,
            32,
            &mut out
        )
    );
    assert!(out.is_null());
}

#[test]
fn a_failed_transition_consumes_the_handle() {
    let admin = store();
    let k = key(&admin, KL_PURPOSE_AEAD, false);
    let id = id_of(&k);
    // An application may use keys but not change their state.
    let app = as_principal(&admin, c"payments", KL_ROLE_APPLICATION);
    let h = load(&app, &k);
    fails!(KL_ERR_PERMISSION_DENIED, kl_key_activate(h.0));
    // Double use: the transition took the key; the handle is empty now.
    let mut st = 0;
    fails!(KL_ERR_ALREADY_CONSUMED, kl_key_state(h.0, &mut st));
    fails!(KL_ERR_ALREADY_CONSUMED, kl_key_activate(h.0));
    assert_eq!(encrypt(&h, b"x", b""), Err(KL_ERR_ALREADY_CONSUMED));
    assert!(last_error().contains("kl_key_load"), "{}", last_error());
    // Its id and purpose stay readable, to load the key again.
    assert_eq!(id_of(&h), id);
    let mut p = 0;
    ok!(kl_key_purpose(h.0, &mut p));
    assert_eq!(p, KL_PURPOSE_AEAD);
    // The key itself is untouched.
    assert_eq!(state(&k), KL_STATE_PRE_ACTIVE);

    // A policy refusal (destruction sooner than the store's minimum) too.
    ok!(kl_key_activate(k.0));
    ok!(kl_key_deactivate(k.0, c"".as_ptr()));
    fails!(
        KL_ERR_POLICY,
        kl_key_schedule_destruction(k.0, 60, c"".as_ptr())
    );
    fails!(
        KL_ERR_ALREADY_CONSUMED,
        kl_key_schedule_destruction(k.0, 30 * 86400, c"".as_ptr())
    );
    let again = load(&admin, &k);
    assert_eq!(state(&again), KL_STATE_DEACTIVATED);
}

#[test]
fn consumed_handles_are_reported_by_the_new_key_calls() {
    let admin = store();
    let k = key(&admin, KL_PURPOSE_SIGNING, false);
    let app = as_principal(&admin, c"app", KL_ROLE_APPLICATION);
    let h = load(&app, &k);
    fails!(KL_ERR_PERMISSION_DENIED, kl_key_activate(h.0));
    const AC: kl_result = KL_ERR_ALREADY_CONSUMED;
    fails!(AC, kl_key_grant(h.0, c"x".as_ptr(), KL_OP_SIGN, 0));
    fails!(AC, kl_key_revoke_grant(h.0, c"x".as_ptr()));
    fails!(AC, kl_key_compromise_version(h.0, 1, c"".as_ptr()));
    fails!(AC, kl_key_destroy_version(h.0, 1, c"".as_ptr()));
    fails!(AC, kl_key_set_min_decryption_version(h.0, 1));
    assert_eq!(checkpoint(&admin, &h), Err(AC));
    let req = request(&admin, KL_APPROVAL_RESTORE, c"", c"").unwrap_or_default();
    let mut buf = [0u8; 512];
    let mut len = 0;
    fails!(
        AC,
        kl_key_approve(
            h.0,
            c"x".as_ptr(),
            req.as_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut len
        )
    );
}

#[test]
fn versions_are_compromised_destroyed_and_retired_one_by_one() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let ct1 = encrypt(&k, b"one", b"").unwrap_or_default();
    ok!(kl_key_rotate(k.0, &mut 0));
    let ct2 = encrypt(&k, b"two", b"").unwrap_or_default();
    ok!(kl_key_rotate(k.0, &mut 0));
    let ct3 = encrypt(&k, b"three", b"").unwrap_or_default();

    ok!(kl_key_compromise_version(k.0, 1, c"leaked backup".as_ptr()));
    assert!(decrypt(&k, &ct1, b"").is_err());
    assert_eq!(decrypt(&k, &ct2, b"").as_deref(), Ok(&b"two"[..]));
    fails!(
        KL_ERR_NOT_FOUND,
        kl_key_compromise_version(k.0, 99, c"".as_ptr())
    );
    // The primary is never destroyed; older versions are.
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_destroy_version(k.0, 3, c"".as_ptr())
    );
    ok!(kl_key_destroy_version(k.0, 1, c"trim".as_ptr()));
    fails!(
        KL_ERR_VERSION_UNAVAILABLE,
        kl_key_destroy_version(k.0, 1, c"again".as_ptr())
    );
    // The minimum decryption version moves forward only, up to the primary.
    ok!(kl_key_set_min_decryption_version(k.0, 3));
    assert!(decrypt(&k, &ct2, b"").is_err());
    assert_eq!(decrypt(&k, &ct3, b"").as_deref(), Ok(&b"three"[..]));
    for bad in [0, 2, 4] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_key_set_min_decryption_version(k.0, bad)
        );
    }
    let info = info(&k);
    assert_eq!(info["min_decryption_version"], 3);
    assert_eq!(info["versions"][0]["state"], "destroyed");
    // Version management works in the other states that hold material…
    ok!(kl_key_suspend(k.0, c"".as_ptr()));
    ok!(kl_key_compromise_version(k.0, 2, c"".as_ptr()));
    ok!(kl_key_deactivate(k.0, c"".as_ptr()));
    ok!(kl_key_destroy_version(k.0, 2, c"".as_ptr()));
    // …not before activation; and a refusal leaves the handle usable.
    let idle = key(&s, KL_PURPOSE_MAC, false);
    fails!(
        KL_ERR_WRONG_STATE,
        kl_key_compromise_version(idle.0, 1, c"".as_ptr())
    );
    fails!(
        KL_ERR_WRONG_STATE,
        kl_key_set_min_decryption_version(idle.0, 1)
    );
    assert_eq!(state(&idle), KL_STATE_PRE_ACTIVE);
    // Operators may; applications may not.
    let app = as_principal(&s, c"app", KL_ROLE_APPLICATION);
    let mac = key(&s, KL_PURPOSE_MAC, true);
    ok!(kl_key_rotate(mac.0, &mut 0));
    let mac_app = load(&app, &mac);
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_key_destroy_version(mac_app.0, 1, c"".as_ptr())
    );
    assert_eq!(state(&mac_app), KL_STATE_ACTIVE, "not consumed");
}

/// How many keys `kl_store_list_json` lists.
fn key_count(s: &Store) -> usize {
    let listed =
        fetch(|o, c, l| kl_store_list_json(s.0, 0, 0, c"".as_ptr(), o, c, l)).unwrap_or_default();
    String::from_utf8_lossy(&listed).matches("\"id\"").count()
}

/// Every pointer argument of the calls that create, load, read, change
/// and manage the versions of keys, NULL in turn, with every other
/// argument valid (so the call would succeed without the check):
/// `KL_ERR_NULL_POINTER`, no key created or changed, no output written.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let st = store();
    let s = st.0;
    // Rotated, so that version 1 may be destroyed.
    let aead = key(&st, KL_PURPOSE_AEAD, true);
    ok!(kl_key_rotate(aead.0, &mut 0));
    let (k, kc) = (aead.0, aead.0.cast_const());
    let fresh = key(&st, KL_PURPOSE_MAC, false);
    let dead = key(&st, KL_PURPOSE_MAC, true);
    ok!(kl_key_deactivate(dead.0, c"r".as_ptr()));
    let id = id_of(&aead);
    let i = id.as_ptr();
    let (name, e, r) = (c"n".as_ptr(), c"".as_ptr(), c"r".as_ptr());
    let mut out = Scratch::new(4096);
    let (b, cap, l) = out.args();
    let mut n = 0u32;
    let u: *mut u32 = &mut n;
    let ko = out_slot::<kl_key>();
    let o = ko.as_ptr();
    let keys = key_count(&st);

    #[rustfmt::skip]
    let table: &[NullCase] = &[
        // Creating and loading keys.
        ("kl_key_create", "store", NP, &|| kl_key_create(null(), 1, name, o)),
        ("kl_key_create", "name", NP, &|| kl_key_create(s, 1, null(), o)),
        ("kl_key_create", "out", NP, &|| kl_key_create(s, 1, name, null_mut())),
        ("kl_key_create_ex", "store", NP, &|| kl_key_create_ex(null(), 1, name, e, 0, o)),
        ("kl_key_create_ex", "name", NP, &|| kl_key_create_ex(s, 1, null(), e, 0, o)),
        ("kl_key_create_ex", "owner", NP, &|| kl_key_create_ex(s, 1, name, null(), 0, o)),
        ("kl_key_create_ex", "out", NP, &|| kl_key_create_ex(s, 1, name, e, 0, null_mut())),
        ("kl_key_load", "store", NP, &|| kl_key_load(null(), i, o)),
        ("kl_key_load", "id_hex", NP, &|| kl_key_load(s, null(), o)),
        ("kl_key_load", "out", NP, &|| kl_key_load(s, i, null_mut())),
        // Getters.
        ("kl_key_id", "key", NP, &|| kl_key_id(null(), b.cast(), cap, l)),
        ("kl_key_id", "out", NP, &|| kl_key_id(kc, null_mut(), cap, l)),
        ("kl_key_id", "out_len", NP, &|| kl_key_id(kc, b.cast(), cap, null_mut())),
        ("kl_key_purpose", "key", NP, &|| kl_key_purpose(null(), u)),
        ("kl_key_purpose", "out", NP, &|| kl_key_purpose(kc, null_mut())),
        ("kl_key_state", "key", NP, &|| kl_key_state(null(), u)),
        ("kl_key_state", "out", NP, &|| kl_key_state(kc, null_mut())),
        ("kl_key_info_json", "key", NP, &|| kl_key_info_json(null(), b, cap, l)),
        ("kl_key_info_json", "out", NP, &|| kl_key_info_json(kc, null_mut(), cap, l)),
        ("kl_key_info_json", "out_len", NP, &|| kl_key_info_json(kc, b, cap, null_mut())),
        // Transitions (each would succeed on a valid key).
        ("kl_key_activate", "key", NP, &|| kl_key_activate(null_mut())),
        ("kl_key_suspend", "key", NP, &|| kl_key_suspend(null_mut(), r)),
        ("kl_key_suspend", "reason", NP, &|| kl_key_suspend(k, null())),
        ("kl_key_suspend", "-", KL_OK, &|| kl_key_suspend(k, r)),
        ("kl_key_resume", "key", NP, &|| kl_key_resume(null_mut())),
        ("kl_key_resume", "-", KL_OK, &|| kl_key_resume(k)),
        ("kl_key_deactivate", "key", NP, &|| kl_key_deactivate(null_mut(), r)),
        ("kl_key_deactivate", "reason", NP, &|| kl_key_deactivate(k, null())),
        ("kl_key_compromise", "key", NP, &|| kl_key_compromise(null_mut(), r)),
        ("kl_key_compromise", "reason", NP, &|| kl_key_compromise(k, null())),
        ("kl_key_schedule_destruction", "key", NP, &|| kl_key_schedule_destruction(null_mut(), 30 * 86400, r)),
        ("kl_key_schedule_destruction", "reason", NP, &|| kl_key_schedule_destruction(dead.0, 30 * 86400, null())),
        ("kl_key_cancel_destruction", "key", NP, &|| kl_key_cancel_destruction(null_mut())),
        ("kl_key_destroy", "key", NP, &|| kl_key_destroy(null_mut(), r)),
        ("kl_key_destroy", "reason", NP, &|| kl_key_destroy(fresh.0, null())),
        ("kl_key_rotate", "key", NP, &|| kl_key_rotate(null(), u)),
        ("kl_key_rotate", "out_version", NP, &|| kl_key_rotate(kc, null_mut())),
        // Versions.
        ("kl_key_compromise_version", "key", NP, &|| kl_key_compromise_version(null(), 1, r)),
        ("kl_key_compromise_version", "reason", NP, &|| kl_key_compromise_version(kc, 1, null())),
        ("kl_key_destroy_version", "key", NP, &|| kl_key_destroy_version(null(), 1, r)),
        ("kl_key_destroy_version", "reason", NP, &|| kl_key_destroy_version(kc, 1, null())),
        ("kl_key_set_min_decryption_version", "key", NP, &|| kl_key_set_min_decryption_version(null(), 1)),
        ("kl_key_destroy_version", "-", KL_OK, &|| kl_key_destroy_version(kc, 1, r)),
    ];
    check_null_table(table);
    assert!(ko.get().is_null(), "no handle was written");
    assert_eq!(key_count(&st), keys, "no key was created");
    assert_eq!(state(&aead), KL_STATE_ACTIVE);
    assert_eq!(state(&fresh), KL_STATE_PRE_ACTIVE);
    assert_eq!(state(&dead), KL_STATE_DEACTIVATED);
}

/// `kl_key_create_many`: one handle per name, all or nothing; NULL names
/// and NULL output arrays are refused; `count` 0 writes nothing.
#[test]
fn create_many_gives_one_handle_per_name_or_none() {
    let s = store();
    let names = [c"a".as_ptr(), c"b".as_ptr(), c"c".as_ptr()];
    let mut out = [null_mut(); 3];
    ok!(kl_key_create_many(
        s.0,
        KL_PURPOSE_AEAD,
        names.as_ptr(),
        names.len(),
        c"".as_ptr(),
        0,
        out.as_mut_ptr()
    ));
    assert!(out.iter().all(|k| !k.is_null()));
    for k in out {
        kl_key_free(k);
    }
    // A NULL name: nothing created, the output untouched.
    let bad = [c"d".as_ptr(), null()];
    let mut out = [null_mut(); 2];
    fails!(
        KL_ERR_NULL_POINTER,
        kl_key_create_many(
            s.0,
            KL_PURPOSE_AEAD,
            bad.as_ptr(),
            2,
            c"".as_ptr(),
            0,
            out.as_mut_ptr()
        )
    );
    assert!(out.iter().all(|k| k.is_null()));
    fails!(
        KL_ERR_NULL_POINTER,
        kl_key_create_many(
            s.0,
            KL_PURPOSE_AEAD,
            names.as_ptr(),
            3,
            c"".as_ptr(),
            0,
            null_mut()
        )
    );
    // Unknown flags and purposes refuse the whole batch.
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_create_many(
            s.0,
            KL_PURPOSE_AEAD,
            names.as_ptr(),
            3,
            c"".as_ptr(),
            0x80,
            out.as_mut_ptr()
        )
    );
    assert_eq!(
        kl_key_create_many(s.0, KL_PURPOSE_AEAD, null(), 0, c"".as_ptr(), 0, null_mut()),
        KL_OK
    );
}
