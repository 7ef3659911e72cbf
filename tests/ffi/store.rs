//! Stores (`kl_store_*`, `kl_crypto_provider_*`): opening in memory, on
//! files and SQLite under a raw KEK or a passphrase, reopening only with the
//! right KEK, KEK rotation with progress, the crypto provider, and NULL for
//! every pointer argument.

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

#[test]
fn crypto_provider_selection() {
    // (The names' text is checked from C, in tests/c/test_abi.c.)
    let default = kl_crypto_provider_default();
    assert!(!default.is_null());
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_crypto_provider_install(c"openssl".as_ptr())
    );
    assert!(
        last_error().contains("unknown crypto provider"),
        "{}",
        last_error()
    );
    #[cfg(not(feature = "aws-lc"))]
    fails!(
        KL_ERR_UNSUPPORTED,
        kl_crypto_provider_install(c"aws-lc".as_ptr())
    );
    // Installing the default explicitly succeeds, and again; another
    // provider afterwards is a conflict. The default is the fastest
    // provider compiled in: the same static name before and after it is
    // installed explicitly (checked below).
    #[cfg(feature = "aws-lc")]
    let (default_name, other) = (c"aws-lc", Some(c"rustcrypto"));
    #[cfg(not(feature = "aws-lc"))]
    let (default_name, other) = (c"rustcrypto", None::<&std::ffi::CStr>);
    assert_eq!(kl_crypto_provider_install(default_name.as_ptr()), KL_OK);
    assert_eq!(kl_crypto_provider_install(default_name.as_ptr()), KL_OK);
    if let Some(other) = other {
        fails!(KL_ERR_CONFLICT, kl_crypto_provider_install(other.as_ptr()));
    }
    assert_eq!(kl_crypto_provider_default(), default);
    let s = store();
    assert_eq!(kl_store_crypto_provider(s.0), default);
    // FIPS mode: only the aws-lc provider of a `fips` build.
    let fips = u32::from(cfg!(feature = "fips"));
    assert_eq!(kl_crypto_provider_fips_mode(), fips);
    assert_eq!(kl_store_fips_mode(s.0), fips);
    assert_eq!(kl_store_fips_mode(null()), 0);
}

#[test]
fn stores_on_files_and_sqlite_reopen_with_their_kek() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kek = [42u8; 32];
    for (backend, file) in [(KL_BACKEND_FILE, "keys.kl"), (KL_BACKEND_SQLITE, "keys.db")] {
        let path = c_path(&dir.path().join(file));
        let s = open_raw(backend, &path, &kek).map_err(describe)?;
        let k = key(&s, KL_PURPOSE_AEAD, true);
        let ct = encrypt(&k, b"persisted", b"").unwrap_or_default();
        let id = id_of(&k);
        drop(k);
        drop(s);

        assert_eq!(
            open_raw(backend, &path, &[43u8; 32]).err(),
            Some(KL_ERR_WRONG_KEK)
        );
        let s = open_raw(backend, &path, &kek).map_err(describe)?;
        let mut k = null_mut();
        ok!(kl_key_load(s.0, id.as_ptr(), &mut k));
        let k = Key(k);
        assert_eq!(decrypt(&k, &ct, b"").as_deref(), Ok(&b"persisted"[..]));
    }
    Ok(())
}

/// Records each call. `user_data` is an opaque tag here (an address that is
/// never dereferenced), recorded to check it is passed through untouched.
extern "C" fn count_progress(user_data: *mut std::ffi::c_void, done: u64, total: u64) {
    PROGRESS.with(|p| p.borrow_mut().push((user_data as usize, done, total)));
}

thread_local! {
    static PROGRESS: std::cell::RefCell<Vec<(usize, u64, u64)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn passphrase_stores_with_explicit_costs_and_kek_rotation() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = c_path(&dir.path().join("keys.db"));
    let open_pass = |pass: &CStr, mem: u32, it: u32, par: u32, out: &mut *mut kl_store| {
        kl_store_open_passphrase(
            KL_BACKEND_SQLITE,
            path.as_ptr(),
            pass.as_ptr(),
            mem,
            it,
            par,
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            out,
        )
    };
    let mut s = null_mut();
    // Costs Argon2id refuses, for a store this call would create.
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        open_pass(c"pw", 1024, 0, 1, &mut s)
    );
    fails!(KL_ERR_INVALID_ARGUMENT, open_pass(c"pw", 1, 1, 1, &mut s));
    fails!(KL_ERR_INVALID_ARGUMENT, open_pass(c"", 1024, 1, 1, &mut s));
    assert!(s.is_null());
    ok!(open_pass(c"correct horse", 1024, 1, 1, &mut s));
    let st = Store(s);
    let k = key(&st, KL_PURPOSE_AEAD, true);
    let ct = encrypt(&k, b"kept", b"").unwrap_or_default();
    let id = id_of(&k);
    drop((k, st));
    // Reopening takes the costs from the store, whatever the call says.
    let mut s = null_mut();
    fails!(
        KL_ERR_WRONG_KEK,
        open_pass(c"wrong horse", 1024, 1, 1, &mut s)
    );
    ok!(open_pass(c"correct horse", 8, 1, 1, &mut s));
    let st = Store(s);
    let mut pending = 7;
    ok!(kl_store_kek_rotation_pending(st.0, &mut pending));
    assert_eq!(pending, 0);

    // To a raw KEK, with progress reported through the callback.
    let new = [9u8; 32];
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_rotate_kek(st.0, new.as_ptr(), 31, None, null_mut())
    );
    let op = as_principal(&st, c"op", KL_ROLE_OPERATOR);
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_rotate_kek(op.0, new.as_ptr(), 32, None, null_mut())
    );
    PROGRESS.with(|p| p.borrow_mut().clear());
    let tag = 0x5EED_usize as *mut std::ffi::c_void;
    ok!(kl_store_rotate_kek(
        st.0,
        new.as_ptr(),
        new.len(),
        Some(count_progress),
        tag
    ));
    let calls = PROGRESS.with(|p| p.borrow().clone());
    assert!(calls.len() >= 2, "{calls:?}");
    assert!(calls.iter().all(|(ud, _, _)| *ud == 0x5EED));
    let (_, done, total) = calls.last().copied().unwrap_or_default();
    assert!(total > 0 && done == total, "{calls:?}");
    assert_eq!(calls[0].1, 0);
    ok!(kl_store_kek_rotation_pending(st.0, &mut pending));
    assert_eq!(pending, 0);
    // Without a callback.
    let newer = [10u8; 32];
    ok!(kl_store_rotate_kek(
        st.0,
        newer.as_ptr(),
        32,
        None,
        null_mut()
    ));
    drop(st);

    let mut s = null_mut();
    fails!(
        KL_ERR_WRONG_KEK,
        open_pass(c"correct horse", 1024, 1, 1, &mut s)
    );
    assert_eq!(
        open_raw(KL_BACKEND_SQLITE, &path, &new).err(),
        Some(KL_ERR_WRONG_KEK)
    );
    let st = open_raw(KL_BACKEND_SQLITE, &path, &newer).map_err(describe)?;
    let mut k = null_mut();
    ok!(kl_key_load(st.0, id.as_ptr(), &mut k));
    let k = Key(k);
    assert_eq!(decrypt(&k, &ct, b"").as_deref(), Ok(&b"kept"[..]));
    Ok(())
}

/// Every pointer argument of the store calls, NULL in turn, with every
/// other argument valid (so the call would succeed without the check):
/// `KL_ERR_NULL_POINTER`, and no store opened.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    const IA: kl_result = KL_ERR_INVALID_ARGUMENT;
    const FILE: u32 = KL_BACKEND_FILE;
    const RAW: u32 = KL_KEK_RAW;
    let st = store();
    let s = st.0;
    let aead = key(&st, KL_PURPOSE_AEAD, true);
    let ct = encrypt(&aead, b"message", b"message").unwrap_or_default();
    let (c, cl) = (ct.as_ptr(), ct.len());
    let (m, ml) = (b"message".as_ptr(), 7usize);
    let mut out = Scratch::new(4096);
    let (b, cap, l) = out.args();
    let (name, e) = (c"n".as_ptr(), c"".as_ptr());
    let kek = [1u8; 32];
    let k = kek.as_ptr();
    let dir = tempfile::tempdir().ok();
    let path = dir
        .as_ref()
        .map(|d| c_path(&d.path().join("s.kl")))
        .unwrap_or_default();
    let p = path.as_ptr();
    let (nowhere, pw) = (c"/nonexistent/x".as_ptr(), c"pw".as_ptr());
    let so = out_slot::<kl_store>();
    let o = so.as_ptr();
    let (mut pending, mut changed) = (0u32, 0usize);
    let (pending, changed): (*mut u32, *mut usize) = (&mut pending, &mut changed);

    assert!(kl_store_crypto_provider(null()).is_null());
    #[rustfmt::skip]
    let table: &[NullCase] = &[
        ("kl_crypto_provider_install", "name", NP, &|| kl_crypto_provider_install(null())),
        ("kl_store_open_memory", "principal_name", NP, &|| kl_store_open_memory(null(), 1, o)),
        ("kl_store_open_memory", "out", NP, &|| kl_store_open_memory(name, 1, null_mut())),
        ("kl_store_open", "path", NP, &|| kl_store_open(FILE, null(), RAW, k, 32, name, 1, o)),
        ("kl_store_open", "kek", NP, &|| kl_store_open(FILE, p, RAW, null(), 32, name, 1, o)),
        ("kl_store_open", "principal_name", NP, &|| kl_store_open(FILE, p, RAW, k, 32, null(), 1, o)),
        ("kl_store_open", "out", NP, &|| kl_store_open(FILE, p, RAW, k, 32, name, 1, null_mut())),
        ("kl_store_open_passphrase", "path", NP, &|| kl_store_open_passphrase(1, null(), pw, 1024, 1, 1, name, 1, o)),
        ("kl_store_open_passphrase", "passphrase", NP, &|| kl_store_open_passphrase(1, nowhere, null(), 1024, 1, 1, name, 1, o)),
        ("kl_store_open_passphrase", "principal_name", NP, &|| kl_store_open_passphrase(1, nowhere, pw, 1024, 1, 1, null(), 1, o)),
        ("kl_store_open_passphrase", "out", NP, &|| kl_store_open_passphrase(1, nowhere, pw, 1024, 1, 1, name, 1, null_mut())),
        ("kl_store_open_passphrase", "backend 9", IA, &|| kl_store_open_passphrase(9, nowhere, pw, 1024, 1, 1, name, 1, o)),
        ("kl_store_open_passphrase", "role 0", IA, &|| kl_store_open_passphrase(1, nowhere, pw, 1024, 1, 1, name, 0, o)),
        ("kl_store_as_principal", "store", NP, &|| kl_store_as_principal(null(), name, o)),
        ("kl_store_as_principal", "principal_name", NP, &|| kl_store_as_principal(s, null(), o)),
        ("kl_store_as_principal", "out", NP, &|| kl_store_as_principal(s, name, null_mut())),
        ("kl_store_decrypt", "store", NP, &|| kl_store_decrypt(null(), c, cl, m, ml, b, cap, l)),
        ("kl_store_decrypt", "ciphertext", NP, &|| kl_store_decrypt(s, null(), cl, m, ml, b, cap, l)),
        ("kl_store_decrypt", "aad", NP, &|| kl_store_decrypt(s, c, cl, null(), ml, b, cap, l)),
        ("kl_store_decrypt", "out", NP, &|| kl_store_decrypt(s, c, cl, m, ml, null_mut(), cap, l)),
        ("kl_store_decrypt", "out_len", NP, &|| kl_store_decrypt(s, c, cl, m, ml, b, cap, null_mut())),
        ("kl_store_list_json", "store", NP, &|| kl_store_list_json(null(), 0, 0, e, b, cap, l)),
        ("kl_store_list_json", "owner", NP, &|| kl_store_list_json(s, 0, 0, null(), b, cap, l)),
        ("kl_store_list_json", "out", NP, &|| kl_store_list_json(s, 0, 0, e, null_mut(), cap, l)),
        ("kl_store_list_json", "out_len", NP, &|| kl_store_list_json(s, 0, 0, e, b, cap, null_mut())),
        ("kl_store_maintenance", "store", NP, &|| kl_store_maintenance(null(), changed)),
        ("kl_store_maintenance", "out_changed", NP, &|| kl_store_maintenance(s, null_mut())),
        ("kl_store_rotate_kek", "store", NP, &|| kl_store_rotate_kek(null(), k, 32, None, null_mut())),
        ("kl_store_rotate_kek", "new_kek", NP, &|| kl_store_rotate_kek(s, null(), 32, None, null_mut())),
        ("kl_store_kek_rotation_pending", "store", NP, &|| kl_store_kek_rotation_pending(null(), pending)),
        ("kl_store_kek_rotation_pending", "out_pending", NP, &|| kl_store_kek_rotation_pending(s, null_mut())),
        ("kl_store_kek_rotation_pending", "-", KL_OK, &|| kl_store_kek_rotation_pending(s, pending)),
    ];
    check_null_table(table);
    assert!(so.get().is_null(), "no store was opened");
}

/// `KL_BACKEND_POSTGRES` and `kl_store_open_postgres` against the server of
/// `scripts/pg.sh`: two handles share a store; bad arguments are refused
/// with specific codes; the connection string is never echoed.
#[cfg(feature = "postgres")]
#[test]
fn postgres_stores_open_by_connection_string() {
    let url = std::ffi::CString::new(
        std::env::var("KEYLIFE_PG_URL").expect("KEYLIFE_PG_URL (run through scripts/pg.sh)"),
    )
    .unwrap();
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let schema = std::ffi::CString::new(format!(
        "ffi_{}",
        r.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
    .unwrap();
    let kek = [7u8; 32];
    let open = |schema: *const std::ffi::c_char, out: &mut *mut kl_store| {
        kl_store_open_postgres(
            url.as_ptr(),
            schema,
            KL_KEK_RAW,
            kek.as_ptr(),
            kek.len(),
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            out,
        )
    };
    let (mut a, mut b) = (null_mut(), null_mut());
    assert_eq!(open(schema.as_ptr(), &mut a), KL_OK, "{}", last_error());
    assert_eq!(open(schema.as_ptr(), &mut b), KL_OK, "{}", last_error());
    // A key created through one handle loads through the other.
    let mut key = null_mut();
    assert_eq!(
        kl_key_create(a, KL_PURPOSE_AEAD, c"shared".as_ptr(), &mut key),
        KL_OK,
        "{}",
        last_error()
    );
    let mut id = [0u8; 64];
    let mut id_len = 0usize;
    assert_eq!(
        kl_key_id(key, id.as_mut_ptr().cast(), id.len(), &mut id_len),
        KL_OK
    );
    let mut loaded = null_mut();
    assert_eq!(
        kl_key_load(b, id.as_ptr().cast(), &mut loaded),
        KL_OK,
        "{}",
        last_error()
    );
    kl_key_free(loaded);
    kl_key_free(key);
    kl_store_free(a);
    kl_store_free(b);
    // The default schema through kl_store_open.
    let mut c = null_mut();
    assert_eq!(
        kl_store_open(
            KL_BACKEND_POSTGRES,
            url.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            kek.len(),
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            &mut c,
        ),
        KL_OK,
        "{}",
        last_error()
    );
    kl_store_free(c);
    // Refusals.
    let mut d = null_mut();
    fails!(KL_ERR_INVALID_ARGUMENT, open(c"Bad Name".as_ptr(), &mut d));
    assert!(d.is_null());
    fails!(
        KL_ERR_NULL_POINTER,
        kl_store_open_postgres(
            null(),
            null(),
            KL_KEK_RAW,
            kek.as_ptr(),
            kek.len(),
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            &mut d,
        )
    );
    let bad = std::ffi::CString::new(format!("{} port=x", url.to_str().unwrap())).unwrap();
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_open_postgres(
            bad.as_ptr(),
            null(),
            KL_KEK_RAW,
            kek.as_ptr(),
            kek.len(),
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            &mut d,
        )
    );
    assert!(!last_error().contains("password="), "{}", last_error());
}
