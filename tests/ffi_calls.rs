//! The C ABI called from Rust, as C would call it: NULL for every pointer
//! argument, wrong state, wrong purpose, consumed handles, buffers too
//! small, out-of-range enumerations, `free(NULL)`, the thread-local last
//! error.
#![cfg(feature = "ffi")]

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use keylife::ffi::*;

// ----- helpers -----

fn last_error() -> String {
    let n = kl_last_error(null_mut(), 0);
    let mut buf = vec![0u8; n];
    let m = kl_last_error(buf.as_mut_ptr().cast(), buf.len());
    assert_eq!(n, m);
    CStr::from_bytes_until_nul(&buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

macro_rules! ok {
    ($e:expr) => {{
        let r = $e;
        assert_eq!(r, KL_OK, "{} failed: {}", stringify!($e), last_error());
    }};
}

macro_rules! fails {
    ($code:expr, $e:expr) => {{
        let r = $e;
        assert_eq!(
            r,
            $code,
            "{} returned {}, last error: {}",
            stringify!($e),
            r,
            last_error()
        );
    }};
}

struct Store(*mut kl_store);
impl Drop for Store {
    fn drop(&mut self) {
        kl_store_free(self.0);
    }
}

struct Key(*mut kl_key);
impl Drop for Key {
    fn drop(&mut self) {
        kl_key_free(self.0);
    }
}

struct Secret(*mut kl_secret);
impl Drop for Secret {
    fn drop(&mut self) {
        kl_secret_free(self.0);
    }
}
impl Secret {
    fn len(&self) -> usize {
        kl_secret_len(self.0)
    }
}

fn store_as(name: &CStr, role: u32) -> Store {
    let mut s = null_mut();
    ok!(kl_store_open_memory(name.as_ptr(), role, &mut s));
    assert!(!s.is_null());
    Store(s)
}

fn store() -> Store {
    store_as(c"tester", KL_ROLE_ADMINISTRATOR)
}

fn key(s: &Store, purpose: u32, active: bool) -> Key {
    let mut k = null_mut();
    ok!(kl_key_create(s.0, purpose, c"k".as_ptr(), &mut k));
    assert!(!k.is_null());
    if active {
        ok!(kl_key_activate(k));
    }
    Key(k)
}

fn state(k: &Key) -> u32 {
    let mut s = 0;
    ok!(kl_key_state(k.0, &mut s));
    s
}

/// Calls a buffer-filling function twice: a size query, then for real.
fn fetch(f: impl Fn(*mut u8, usize, *mut usize) -> kl_result) -> Result<Vec<u8>, kl_result> {
    let mut need = 0usize;
    let r = f(null_mut(), 0, &mut need);
    if r != KL_ERR_BUFFER_TOO_SMALL {
        return if r == KL_OK { Ok(Vec::new()) } else { Err(r) };
    }
    let mut buf = vec![0u8; need];
    let mut len = 0usize;
    match f(buf.as_mut_ptr(), buf.len(), &mut len) {
        KL_OK => {
            buf.truncate(len);
            Ok(buf)
        }
        e => Err(e),
    }
}

fn id_of(k: &Key) -> CString {
    let mut buf = [0u8; KL_KEY_ID_HEX_LEN + 1];
    let mut len = 0;
    ok!(kl_key_id(k.0, buf.as_mut_ptr().cast(), buf.len(), &mut len));
    assert_eq!(len, KL_KEY_ID_HEX_LEN + 1);
    CStr::from_bytes_with_nul(&buf)
        .map(CStr::to_owned)
        .unwrap_or_default()
}

fn encrypt(k: &Key, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_encrypt(k.0, pt.as_ptr(), pt.len(), aad.as_ptr(), aad.len(), o, c, l))
}

fn decrypt(k: &Key, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_decrypt(k.0, ct.as_ptr(), ct.len(), aad.as_ptr(), aad.len(), o, c, l))
}

fn sign(k: &Key, msg: &[u8]) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_sign(k.0, msg.as_ptr(), msg.len(), o, c, l))
}

fn public_der(k: &Key) -> Result<Vec<u8>, kl_result> {
    fetch(|o, c, l| kl_key_public_key_der(k.0, o, c, l))
}

// ----- the lifecycle, end to end -----

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

    let ct = encrypt(&k, b"jane@example.com", b"customer=42").unwrap_or_default();
    assert_eq!(ct.len(), 16 + KL_CIPHERTEXT_OVERHEAD);
    assert_eq!(
        decrypt(&k, &ct, b"customer=42").as_deref(),
        Ok(&b"jane@example.com"[..])
    );
    assert_eq!(
        decrypt(&k, &ct, b"customer=43"),
        Err(KL_ERR_AUTHENTICATION_FAILED)
    );
    let via_store = fetch(|o, c, l| {
        kl_store_decrypt(
            s.0,
            ct.as_ptr(),
            ct.len(),
            b"customer=42".as_ptr(),
            11,
            o,
            c,
            l,
        )
    });
    assert_eq!(via_store.as_deref(), Ok(&b"jane@example.com"[..]));

    let mut v = 0;
    ok!(kl_key_rotate(k.0, &mut v));
    assert_eq!(v, 2);
    let re = fetch(|o, c, l| kl_key_rewrap(k.0, ct.as_ptr(), ct.len(), null(), 0, o, c, l));
    assert_eq!(re, Err(KL_ERR_AUTHENTICATION_FAILED), "wrong aad");
    let re = fetch(|o, c, l| {
        kl_key_rewrap(
            k.0,
            ct.as_ptr(),
            ct.len(),
            b"customer=42".as_ptr(),
            11,
            o,
            c,
            l,
        )
    })
    .unwrap_or_default();
    assert_eq!(re.len(), ct.len());
    assert_eq!(&re[18..22], &[0, 0, 0, 2], "rewrapped under version 2");

    ok!(kl_key_suspend(k.0, c"audit hold".as_ptr()));
    assert_eq!(state(&k), KL_STATE_SUSPENDED);
    assert_eq!(encrypt(&k, b"x", b""), Err(KL_ERR_WRONG_STATE));
    assert!(decrypt(&k, &re, b"customer=42").is_ok());
    ok!(kl_key_resume(k.0));
    ok!(kl_key_deactivate(k.0, c"superseded".as_ptr()));
    assert_eq!(state(&k), KL_STATE_DEACTIVATED);
    assert_eq!(encrypt(&k, b"x", b""), Err(KL_ERR_WRONG_STATE));
    assert!(decrypt(&k, &ct, b"customer=42").is_ok());
    ok!(kl_key_compromise(k.0, c"laptop stolen".as_ptr()));
    assert_eq!(decrypt(&k, &ct, b"customer=42"), Err(KL_ERR_WRONG_STATE));
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
    let mut again = null_mut();
    ok!(kl_key_load(s.0, id.as_ptr(), &mut again));
    let again = Key(again);
    assert_eq!(state(&again), KL_STATE_COMPROMISED);
    assert_eq!(id_of(&again), id);

    let info = fetch(|o, c, l| kl_key_info_json(again.0, o, c, l)).unwrap_or_default();
    assert_eq!(info.last(), Some(&0), "NUL-terminated");
    let text = String::from_utf8_lossy(&info[..info.len() - 1]).into_owned();
    assert!(text.contains("\"state\":\"compromised\""), "{text}");
    assert!(text.contains(&format!("\"id\":\"{}\"", id.to_string_lossy())));

    let list = fetch(|o, c, l| kl_store_list_json(s.0, 0, 0, c"".as_ptr(), o, c, l));
    let list = String::from_utf8_lossy(&list.unwrap_or_default()).into_owned();
    assert!(
        list.starts_with('[') && list.contains("\"purpose\":\"mac\""),
        "{list}"
    );
    let list = fetch(|o, c, l| {
        kl_store_list_json(
            s.0,
            KL_PURPOSE_MAC,
            KL_STATE_DESTROYED,
            c"".as_ptr(),
            o,
            c,
            l,
        )
    });
    let list = String::from_utf8_lossy(&list.unwrap_or_default()).into_owned();
    assert!(!list.contains("\"purpose\":\"aead\""), "{list}");
    assert!(list.contains("\"purpose\":\"mac\""), "{list}");

    let mut changed = usize::MAX;
    ok!(kl_store_maintenance(s.0, &mut changed));
    assert_eq!(changed, 0);
}

#[test]
fn signing_mac_derive_agree_and_public_keys() {
    let s = store();
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let sig = sign(&signer, b"release-1.0").unwrap_or_default();
    assert!(sig.len() <= KL_SIGNATURE_DER_MAX_LEN && sig.first() == Some(&0x30));
    ok!(kl_key_verify(
        signer.0,
        b"release-1.0".as_ptr(),
        11,
        sig.as_ptr(),
        sig.len()
    ));
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_key_verify(
            signer.0,
            b"release-1.1".as_ptr(),
            11,
            sig.as_ptr(),
            sig.len()
        )
    );
    let fixed =
        fetch(|o, c, l| kl_key_sign_fixed(signer.0, b"m".as_ptr(), 1, o, c, l)).unwrap_or_default();
    assert_eq!(fixed.len(), KL_SIGNATURE_FIXED_LEN);
    ok!(kl_key_verify_fixed(
        signer.0,
        b"m".as_ptr(),
        1,
        fixed.as_ptr(),
        fixed.len()
    ));

    // Public key export, and verification with only the public key.
    let der = public_der(&signer).unwrap_or_default();
    ok!(kl_public_key_verify(
        der.as_ptr(),
        der.len(),
        b"release-1.0".as_ptr(),
        11,
        sig.as_ptr(),
        sig.len()
    ));
    let sec1 = fetch(|o, c, l| kl_key_public_key_sec1(signer.0, o, c, l)).unwrap_or_default();
    assert_eq!(sec1.len(), 65);
    ok!(kl_public_key_verify(
        sec1.as_ptr(),
        sec1.len(),
        b"release-1.0".as_ptr(),
        11,
        sig.as_ptr(),
        sig.len()
    ));
    let pem = fetch(|o, c, l| kl_key_public_key_pem(signer.0, o.cast(), c, l)).unwrap_or_default();
    assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----") && pem.last() == Some(&0));
    fails!(
        KL_ERR_MALFORMED,
        kl_public_key_verify(
            b"junk".as_ptr(),
            4,
            b"m".as_ptr(),
            1,
            sig.as_ptr(),
            sig.len()
        )
    );

    let mac = key(&s, KL_PURPOSE_MAC, true);
    let tag = fetch(|o, c, l| kl_key_mac(mac.0, b"hook".as_ptr(), 4, o, c, l)).unwrap_or_default();
    assert_eq!(tag.len(), KL_MAC_LEN);
    ok!(kl_key_verify_mac(
        mac.0,
        b"hook".as_ptr(),
        4,
        tag.as_ptr(),
        tag.len()
    ));
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_key_verify_mac(mac.0, b"hook!".as_ptr(), 5, tag.as_ptr(), tag.len())
    );

    let root = key(&s, KL_PURPOSE_DERIVATION, true);
    let derive = |ctx: &[u8]| {
        let mut out = null_mut();
        ok!(kl_key_derive(
            root.0,
            null(),
            0,
            ctx.as_ptr(),
            ctx.len(),
            32,
            &mut out
        ));
        Secret(out)
    };
    let (a, b, a2) = (
        derive(b"tenant=1"),
        derive(b"tenant=2"),
        derive(b"tenant=1"),
    );
    assert_eq!(a.len(), 32);
    let bytes = |x: &Secret| secret_bytes(x);
    assert_eq!(bytes(&a), bytes(&a2));
    assert_ne!(bytes(&a), bytes(&b));
    let mut out = null_mut();
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_derive(root.0, null(), 0, null(), 0, 0, &mut out)
    );
    assert!(out.is_null(), "out-params are written only on success");

    // ECDH both ways gives the same bytes; the peer key as DER or SEC 1.
    let alice = key(&s, KL_PURPOSE_AGREEMENT, true);
    let bob = key(&s, KL_PURPOSE_AGREEMENT, true);
    let alice_pub = public_der(&alice).unwrap_or_default();
    let bob_sec1 = fetch(|o, c, l| kl_key_public_key_sec1(bob.0, o, c, l)).unwrap_or_default();
    let agree = |k: &Key, peer: &[u8]| {
        let mut out = null_mut();
        ok!(kl_key_agree(
            k.0,
            peer.as_ptr(),
            peer.len(),
            b"salt".as_ptr(),
            4,
            b"ctx".as_ptr(),
            3,
            32,
            &mut out
        ));
        Secret(out)
    };
    let ab = agree(&alice, &bob_sec1);
    let ba = agree(&bob, &alice_pub);
    assert_eq!(secret_bytes(&ab), secret_bytes(&ba));
    assert_eq!(ab.len(), 32);
}

/// A fingerprint of the secret's bytes. Reading them directly would need
/// `unsafe`, which is confined to src/ffi; instead the pointer from
/// `kl_secret_data` goes back into the library as an input, as C would pass
/// it: the HMAC of the secret under a fixed per-thread key.
fn secret_bytes(s: &Secret) -> Vec<u8> {
    let n = s.len();
    let p = kl_secret_data(s.0);
    assert!(!p.is_null() || n == 0);
    fingerprint(p, n)
}

fn fingerprint(p: *const u8, n: usize) -> Vec<u8> {
    thread_local! {
        static FP: (Store, Key) = {
            let s = store();
            let k = key(&s, KL_PURPOSE_MAC, true);
            (s, k)
        };
    }
    FP.with(|(_, k)| fetch(|o, c, l| kl_key_mac(k.0, p, n, o, c, l)).unwrap_or_default())
}

// ----- misuse -----

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
    let mut b = null_mut();
    ok!(kl_key_load(s.0, id_of(&a).as_ptr(), &mut b));
    let b = Key(b);
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
    let mut app = null_mut();
    ok!(kl_store_as_principal(
        admin.0,
        c"payments".as_ptr(),
        KL_ROLE_APPLICATION,
        &mut app
    ));
    let app = Store(app);
    let mut h = null_mut();
    ok!(kl_key_load(app.0, id.as_ptr(), &mut h));
    let h = Key(h);
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
    let mut again = null_mut();
    ok!(kl_key_load(admin.0, id.as_ptr(), &mut again));
    let again = Key(again);
    assert_eq!(state(&again), KL_STATE_DEACTIVATED);
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
        KL_ERR_INVALID_ARGUMENT,
        kl_store_as_principal(s.0, c"x".as_ptr(), 0, &mut other)
    );
    let kek = [7u8; 32];
    let path = c"/nonexistent-dir/should-not-be-created.db";
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_open(
            0,
            path.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            32,
            c"x".as_ptr(),
            1,
            &mut other
        )
    );
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_open(
            KL_BACKEND_SQLITE,
            path.as_ptr(),
            9,
            kek.as_ptr(),
            32,
            c"x".as_ptr(),
            1,
            &mut other
        )
    );
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_open(
            KL_BACKEND_FILE,
            path.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            31,
            c"x".as_ptr(),
            1,
            &mut other
        )
    );
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
fn free_null_is_a_no_op() {
    kl_store_free(null_mut());
    kl_key_free(null_mut());
    kl_secret_free(null_mut());
    assert!(kl_secret_data(null()).is_null());
    assert_eq!(kl_secret_len(null()), 0);
}

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

/// Every pointer argument of every entry point, NULL in turn, with every
/// other argument valid (so the call would succeed without the check):
/// `KL_ERR_NULL_POINTER`, and no output written.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let s = store();
    let aead = key(&s, KL_PURPOSE_AEAD, true);
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let mac = key(&s, KL_PURPOSE_MAC, true);
    let kdf = key(&s, KL_PURPOSE_DERIVATION, true);
    let agr = key(&s, KL_PURPOSE_AGREEMENT, true);
    let id = id_of(&aead);
    let name = c"n".as_ptr();
    let (m, ml) = (b"message".as_ptr(), 7usize);
    let mut buf = [0u8; 4096];
    let (b, cap) = (buf.as_mut_ptr(), buf.len());
    let mut len = 0usize;
    let l: *mut usize = &mut len;
    let ct = encrypt(&aead, b"message", b"message").unwrap_or_default();
    let sig = sign(&signer, b"message").unwrap_or_default();
    let der = public_der(&signer).unwrap_or_default();
    let peer = public_der(&agr).unwrap_or_default();
    let tag = fetch(|o, c, l| kl_key_mac(mac.0, m, ml, o, c, l)).unwrap_or_default();
    let kek = [1u8; 32];
    let dir = tempfile::tempdir().ok();
    let path = dir
        .as_ref()
        .and_then(|d| CString::new(d.path().join("s.kl").to_string_lossy().as_bytes()).ok())
        .unwrap_or_default();

    // Stores.
    let mut so: *mut kl_store = null_mut();
    fails!(NP, kl_store_open_memory(null(), 1, &mut so));
    fails!(NP, kl_store_open_memory(name, 1, null_mut()));
    fails!(
        NP,
        kl_store_open(
            KL_BACKEND_FILE,
            null(),
            KL_KEK_RAW,
            kek.as_ptr(),
            32,
            name,
            1,
            &mut so
        )
    );
    fails!(
        NP,
        kl_store_open(
            KL_BACKEND_FILE,
            path.as_ptr(),
            KL_KEK_RAW,
            null(),
            32,
            name,
            1,
            &mut so
        )
    );
    fails!(
        NP,
        kl_store_open(
            KL_BACKEND_FILE,
            path.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            32,
            null(),
            1,
            &mut so
        )
    );
    fails!(
        NP,
        kl_store_open(
            KL_BACKEND_FILE,
            path.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            32,
            name,
            1,
            null_mut()
        )
    );
    fails!(NP, kl_store_as_principal(null(), name, 1, &mut so));
    fails!(NP, kl_store_as_principal(s.0, null(), 1, &mut so));
    fails!(NP, kl_store_as_principal(s.0, name, 1, null_mut()));
    assert!(so.is_null());
    fails!(
        NP,
        kl_store_decrypt(null(), ct.as_ptr(), ct.len(), m, ml, b, cap, l)
    );
    fails!(
        NP,
        kl_store_decrypt(s.0, null(), ct.len(), m, ml, b, cap, l)
    );
    fails!(
        NP,
        kl_store_decrypt(s.0, ct.as_ptr(), ct.len(), null(), ml, b, cap, l)
    );
    fails!(
        NP,
        kl_store_decrypt(s.0, ct.as_ptr(), ct.len(), m, ml, null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_store_decrypt(s.0, ct.as_ptr(), ct.len(), m, ml, b, cap, null_mut())
    );
    fails!(
        NP,
        kl_store_list_json(null(), 0, 0, c"".as_ptr(), b, cap, l)
    );
    fails!(NP, kl_store_list_json(s.0, 0, 0, null(), b, cap, l));
    fails!(
        NP,
        kl_store_list_json(s.0, 0, 0, c"".as_ptr(), null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_store_list_json(s.0, 0, 0, c"".as_ptr(), b, cap, null_mut())
    );
    fails!(NP, kl_store_maintenance(null(), l));
    fails!(NP, kl_store_maintenance(s.0, null_mut()));

    // Creating and loading keys.
    let mut ko: *mut kl_key = null_mut();
    fails!(NP, kl_key_create(null(), 1, name, &mut ko));
    fails!(NP, kl_key_create(s.0, 1, null(), &mut ko));
    fails!(NP, kl_key_create(s.0, 1, name, null_mut()));
    fails!(
        NP,
        kl_key_create_ex(null(), 1, name, c"".as_ptr(), 0, &mut ko)
    );
    fails!(
        NP,
        kl_key_create_ex(s.0, 1, null(), c"".as_ptr(), 0, &mut ko)
    );
    fails!(NP, kl_key_create_ex(s.0, 1, name, null(), 0, &mut ko));
    fails!(
        NP,
        kl_key_create_ex(s.0, 1, name, c"".as_ptr(), 0, null_mut())
    );
    fails!(NP, kl_key_load(null(), id.as_ptr(), &mut ko));
    fails!(NP, kl_key_load(s.0, null(), &mut ko));
    fails!(NP, kl_key_load(s.0, id.as_ptr(), null_mut()));
    assert!(ko.is_null());
    let mut n = 0usize;
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_list_json(s.0, 0, 0, c"".as_ptr(), null_mut(), 0, &mut n)
    );
    let listed =
        fetch(|o, c, l| kl_store_list_json(s.0, 0, 0, c"".as_ptr(), o, c, l)).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&listed).matches("\"id\"").count(),
        5,
        "no key was created"
    );

    // Getters.
    let mut u = 0u32;
    fails!(NP, kl_key_id(null(), b.cast(), cap, l));
    fails!(NP, kl_key_id(aead.0, null_mut(), cap, l));
    fails!(NP, kl_key_id(aead.0, b.cast(), cap, null_mut()));
    fails!(NP, kl_key_purpose(null(), &mut u));
    fails!(NP, kl_key_purpose(aead.0, null_mut()));
    fails!(NP, kl_key_state(null(), &mut u));
    fails!(NP, kl_key_state(aead.0, null_mut()));
    fails!(NP, kl_key_info_json(null(), b, cap, l));
    fails!(NP, kl_key_info_json(aead.0, null_mut(), cap, l));
    fails!(NP, kl_key_info_json(aead.0, b, cap, null_mut()));

    // Transitions (each would succeed on a valid key).
    let r = c"r".as_ptr();
    fails!(NP, kl_key_activate(null_mut()));
    fails!(NP, kl_key_suspend(null_mut(), r));
    fails!(NP, kl_key_suspend(aead.0, null()));
    ok!(kl_key_suspend(aead.0, r));
    fails!(NP, kl_key_resume(null_mut()));
    ok!(kl_key_resume(aead.0));
    fails!(NP, kl_key_deactivate(null_mut(), r));
    fails!(NP, kl_key_deactivate(aead.0, null()));
    fails!(NP, kl_key_compromise(null_mut(), r));
    fails!(NP, kl_key_compromise(aead.0, null()));
    fails!(NP, kl_key_schedule_destruction(null_mut(), 30 * 86400, r));
    fails!(NP, kl_key_cancel_destruction(null_mut()));
    fails!(NP, kl_key_destroy(null_mut(), r));
    let fresh = key(&s, KL_PURPOSE_MAC, false);
    fails!(NP, kl_key_destroy(fresh.0, null()));
    assert_eq!(state(&fresh), KL_STATE_PRE_ACTIVE);
    fails!(NP, kl_key_rotate(null(), &mut u));
    fails!(NP, kl_key_rotate(aead.0, null_mut()));
    assert_eq!(state(&aead), KL_STATE_ACTIVE);
    let dead = key(&s, KL_PURPOSE_MAC, true);
    ok!(kl_key_deactivate(dead.0, r));
    fails!(NP, kl_key_schedule_destruction(dead.0, 30 * 86400, null()));
    assert_eq!(state(&dead), KL_STATE_DEACTIVATED);

    // AEAD.
    let (c, cl) = (ct.as_ptr(), ct.len());
    type Aead = extern "C" fn(
        *const kl_key,
        *const u8,
        usize,
        *const u8,
        usize,
        *mut u8,
        usize,
        *mut usize,
    ) -> kl_result;
    let aead_fns: [(Aead, *const u8, usize); 3] = [
        (kl_key_encrypt, m, ml),
        (kl_key_decrypt, c, cl),
        (kl_key_rewrap, c, cl),
    ];
    for (f, inp, il) in aead_fns {
        fails!(NP, f(null(), inp, il, m, ml, b, cap, l));
        fails!(NP, f(aead.0, null(), il, m, ml, b, cap, l));
        fails!(NP, f(aead.0, inp, il, null(), ml, b, cap, l));
        fails!(NP, f(aead.0, inp, il, m, ml, null_mut(), cap, l));
        fails!(NP, f(aead.0, inp, il, m, ml, b, cap, null_mut()));
        ok!(f(aead.0, inp, il, m, ml, b, cap, l));
    }

    // Signatures and public keys.
    for f in [kl_key_sign, kl_key_sign_fixed] {
        fails!(NP, f(null(), m, ml, b, cap, l));
        fails!(NP, f(signer.0, null(), ml, b, cap, l));
        fails!(NP, f(signer.0, m, ml, null_mut(), cap, l));
        fails!(NP, f(signer.0, m, ml, b, cap, null_mut()));
    }
    fails!(NP, kl_key_verify(null(), m, ml, sig.as_ptr(), sig.len()));
    fails!(
        NP,
        kl_key_verify(signer.0, null(), ml, sig.as_ptr(), sig.len())
    );
    fails!(NP, kl_key_verify(signer.0, m, ml, null(), sig.len()));
    ok!(kl_key_verify(signer.0, m, ml, sig.as_ptr(), sig.len()));
    fails!(NP, kl_key_verify_fixed(null(), m, ml, b, 64));
    fails!(NP, kl_key_verify_fixed(signer.0, null(), ml, b, 64));
    fails!(NP, kl_key_verify_fixed(signer.0, m, ml, null(), 64));
    for f in [kl_key_public_key_der, kl_key_public_key_sec1] {
        fails!(NP, f(null(), b, cap, l));
        fails!(NP, f(signer.0, null_mut(), cap, l));
        fails!(NP, f(signer.0, b, cap, null_mut()));
    }
    fails!(NP, kl_key_public_key_pem(null(), b.cast(), cap, l));
    fails!(NP, kl_key_public_key_pem(signer.0, null_mut(), cap, l));
    fails!(
        NP,
        kl_key_public_key_pem(signer.0, b.cast(), cap, null_mut())
    );
    fails!(
        NP,
        kl_public_key_verify(null(), der.len(), m, ml, sig.as_ptr(), sig.len())
    );
    fails!(
        NP,
        kl_public_key_verify(der.as_ptr(), der.len(), null(), ml, sig.as_ptr(), sig.len())
    );
    fails!(
        NP,
        kl_public_key_verify(der.as_ptr(), der.len(), m, ml, null(), sig.len())
    );
    ok!(kl_public_key_verify(
        der.as_ptr(),
        der.len(),
        m,
        ml,
        sig.as_ptr(),
        sig.len()
    ));

    // MAC.
    fails!(NP, kl_key_mac(null(), m, ml, b, cap, l));
    fails!(NP, kl_key_mac(mac.0, null(), ml, b, cap, l));
    fails!(NP, kl_key_mac(mac.0, m, ml, null_mut(), cap, l));
    fails!(NP, kl_key_mac(mac.0, m, ml, b, cap, null_mut()));
    fails!(
        NP,
        kl_key_verify_mac(null(), m, ml, tag.as_ptr(), tag.len())
    );
    fails!(
        NP,
        kl_key_verify_mac(mac.0, null(), ml, tag.as_ptr(), tag.len())
    );
    fails!(NP, kl_key_verify_mac(mac.0, m, ml, null(), tag.len()));
    ok!(kl_key_verify_mac(mac.0, m, ml, tag.as_ptr(), tag.len()));

    // Derivation and agreement.
    let mut so: *mut kl_secret = null_mut();
    fails!(NP, kl_key_derive(null(), m, ml, m, ml, 32, &mut so));
    fails!(NP, kl_key_derive(kdf.0, null(), ml, m, ml, 32, &mut so));
    fails!(NP, kl_key_derive(kdf.0, m, ml, null(), ml, 32, &mut so));
    fails!(NP, kl_key_derive(kdf.0, m, ml, m, ml, 32, null_mut()));
    let (p, pl) = (peer.as_ptr(), peer.len());
    fails!(NP, kl_key_agree(null(), p, pl, m, ml, m, ml, 32, &mut so));
    fails!(
        NP,
        kl_key_agree(agr.0, null(), pl, m, ml, m, ml, 32, &mut so)
    );
    fails!(
        NP,
        kl_key_agree(agr.0, p, pl, null(), ml, m, ml, 32, &mut so)
    );
    fails!(
        NP,
        kl_key_agree(agr.0, p, pl, m, ml, null(), ml, 32, &mut so)
    );
    fails!(NP, kl_key_agree(agr.0, p, pl, m, ml, m, ml, 32, null_mut()));
    assert!(so.is_null());
    ok!(kl_key_agree(agr.0, p, pl, m, ml, m, ml, 32, &mut so));
    kl_secret_free(so);

    // The last error names the argument.
    fails!(NP, kl_key_agree(agr.0, p, pl, m, ml, m, ml, 32, null_mut()));
    assert_eq!(last_error(), "null pointer: out is NULL");
    let _ = n;
}

#[test]
fn stores_on_files_and_sqlite_reopen_with_their_kek() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kek = [42u8; 32];
    for (backend, file) in [(KL_BACKEND_FILE, "keys.kl"), (KL_BACKEND_SQLITE, "keys.db")] {
        let path =
            CString::new(dir.path().join(file).to_string_lossy().as_bytes()).unwrap_or_default();
        let open = |kek: &[u8], out: &mut *mut kl_store| {
            kl_store_open(
                backend,
                path.as_ptr(),
                KL_KEK_RAW,
                kek.as_ptr(),
                kek.len(),
                c"ops".as_ptr(),
                KL_ROLE_ADMINISTRATOR,
                out,
            )
        };
        let mut s = null_mut();
        ok!(open(&kek, &mut s));
        let s = Store(s);
        let k = key(&s, KL_PURPOSE_AEAD, true);
        let ct = encrypt(&k, b"persisted", b"").unwrap_or_default();
        let id = id_of(&k);
        drop(k);
        drop(s);

        let mut wrong = null_mut();
        fails!(KL_ERR_WRONG_KEK, open(&[43u8; 32], &mut wrong));
        assert!(wrong.is_null());
        let mut s = null_mut();
        ok!(open(&kek, &mut s));
        let s = Store(s);
        let mut k = null_mut();
        ok!(kl_key_load(s.0, id.as_ptr(), &mut k));
        let k = Key(k);
        assert_eq!(decrypt(&k, &ct, b"").as_deref(), Ok(&b"persisted"[..]));
    }
    Ok(())
}

#[cfg(feature = "hazmat")]
#[test]
fn hazmat_export_import_and_raw_aead() {
    let s = store();
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
    let ct = fetch(|o, c, l| {
        kl_key_hazmat_encrypt_assume_unique_nonce(
            k.0,
            nonce.as_ptr(),
            12,
            b"hi".as_ptr(),
            2,
            b"a".as_ptr(),
            1,
            o,
            c,
            l,
        )
    })
    .unwrap_or_default();
    assert_eq!(ct.len(), 2 + 16);
    let pt = fetch(|o, c, l| {
        kl_key_hazmat_decrypt_raw(
            twin.0,
            nonce.as_ptr(),
            12,
            ct.as_ptr(),
            ct.len(),
            b"a".as_ptr(),
            1,
            o,
            c,
            l,
        )
    });
    assert_eq!(pt.as_deref(), Ok(&b"hi"[..]));
    let bad = fetch(|o, c, l| {
        kl_key_hazmat_decrypt_raw(
            twin.0,
            nonce.as_ptr(),
            12,
            ct.as_ptr(),
            ct.len(),
            b"b".as_ptr(),
            1,
            o,
            c,
            l,
        )
    });
    assert_eq!(bad, Err(KL_ERR_AUTHENTICATION_FAILED));
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

    // NULL for each pointer.
    const NP: kl_result = KL_ERR_NULL_POINTER;
    fails!(NP, kl_key_hazmat_export_raw(null(), &mut out));
    fails!(NP, kl_key_hazmat_export_raw(k.0, null_mut()));
    assert!(out.is_null());
    let m32 = [5u8; 32];
    let mut ko = null_mut();
    fails!(
        NP,
        kl_key_hazmat_import_raw(null(), 1, c"x".as_ptr(), m32.as_ptr(), 32, 0, &mut ko)
    );
    fails!(
        NP,
        kl_key_hazmat_import_raw(s.0, 1, null(), m32.as_ptr(), 32, 0, &mut ko)
    );
    fails!(
        NP,
        kl_key_hazmat_import_raw(s.0, 1, c"x".as_ptr(), null(), 32, 0, &mut ko)
    );
    fails!(
        NP,
        kl_key_hazmat_import_raw(s.0, 1, c"x".as_ptr(), m32.as_ptr(), 32, 0, null_mut())
    );
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_hazmat_import_raw(s.0, 0, c"x".as_ptr(), m32.as_ptr(), 32, 0, &mut ko)
    );
    assert!(ko.is_null());
    let mut buf = [0u8; 64];
    let mut len = 0usize;
    let (n, b, l) = (nonce.as_ptr(), buf.as_mut_ptr(), &mut len as *mut usize);
    for f in [
        kl_key_hazmat_encrypt_assume_unique_nonce,
        kl_key_hazmat_decrypt_raw,
    ] {
        let (i, il) = (ct.as_ptr(), ct.len());
        fails!(NP, f(null(), n, 12, i, il, i, 1, b, 64, l));
        fails!(NP, f(k.0, null(), 12, i, il, i, 1, b, 64, l));
        fails!(NP, f(k.0, n, 12, null(), il, i, 1, b, 64, l));
        fails!(NP, f(k.0, n, 12, i, il, null(), 1, b, 64, l));
        fails!(NP, f(k.0, n, 12, i, il, i, 1, null_mut(), 64, l));
        fails!(NP, f(k.0, n, 12, i, il, i, 1, b, 64, null_mut()));
    }
}
