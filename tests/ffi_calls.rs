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
    fails!(NP, kl_crypto_provider_install(null()));
    assert!(kl_store_crypto_provider(null()).is_null());
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
    // provider afterwards is a conflict.
    assert_eq!(kl_crypto_provider_install(c"rustcrypto".as_ptr()), KL_OK);
    assert_eq!(kl_crypto_provider_install(c"rustcrypto".as_ptr()), KL_OK);
    #[cfg(feature = "aws-lc")]
    fails!(
        KL_ERR_CONFLICT,
        kl_crypto_provider_install(c"aws-lc".as_ptr())
    );
    assert_eq!(kl_crypto_provider_default(), default);
    let s = store();
    assert_eq!(kl_store_crypto_provider(s.0), default);
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

// ----- audit, integrity, checkpoints -----

/// A NUL-terminated text output as a `String` (the NUL checked and dropped).
fn text(v: Vec<u8>) -> String {
    assert_eq!(v.last(), Some(&0), "text outputs are NUL-terminated");
    String::from_utf8(v[..v.len() - 1].to_vec()).unwrap_or_default()
}

fn json(v: Vec<u8>) -> serde_json::Value {
    serde_json::from_str(&text(v)).unwrap_or(serde_json::Value::Null)
}

/// `(entries, head_seq, head_mac)`.
fn verify_audit(s: &Store) -> Result<(u64, u64, String), kl_result> {
    let (mut n, mut seq) = (0u64, 0u64);
    let mut mac = [0u8; KL_AUDIT_HEAD_MAC_HEX_LEN + 1];
    let mut len = 0;
    match kl_store_verify_audit(
        s.0,
        &mut n,
        &mut seq,
        mac.as_mut_ptr().cast(),
        mac.len(),
        &mut len,
    ) {
        KL_OK => Ok((n, seq, text(mac[..len].to_vec()))),
        e => Err(e),
    }
}

fn export(s: &Store, from: u64, to: u64) -> Result<String, kl_result> {
    fetch(|o, c, l| kl_store_export_audit_jsonl(s.0, from, to, o, c, l)).map(text)
}

fn checkpoint(s: &Store, signer: &Key) -> Result<CString, kl_result> {
    let mut buf = vec![0u8; KL_AUDIT_CHECKPOINT_JSON_MAX];
    let mut len = 0;
    match kl_store_audit_checkpoint(s.0, signer.0, buf.as_mut_ptr(), buf.len(), &mut len) {
        KL_OK => {
            buf.truncate(len);
            Ok(CString::from_vec_with_nul(buf).unwrap_or_default())
        }
        e => Err(e),
    }
}

fn as_principal(s: &Store, name: &CStr, role: u32) -> Store {
    let mut o = null_mut();
    ok!(kl_store_as_principal(s.0, name.as_ptr(), role, &mut o));
    Store(o)
}

fn load(s: &Store, k: &Key) -> Key {
    let mut o = null_mut();
    ok!(kl_key_load(s.0, id_of(k).as_ptr(), &mut o));
    Key(o)
}

#[test]
fn audit_log_verifies_exports_as_jsonl_and_checkpoints() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let _ = encrypt(&k, b"m", b"").unwrap_or_default();
    ok!(kl_store_flush_audit(s.0));
    let (n, seq, mac) = verify_audit(&s).unwrap_or_default();
    assert!(n >= 4, "open, create, activate, encrypt: {n}");
    assert_eq!(seq, n, "sequence numbers start at 1 with no gaps");
    assert_eq!(mac.len(), KL_AUDIT_HEAD_MAC_HEX_LEN);
    assert!(mac.bytes().all(|b| b.is_ascii_hexdigit()));
    // The verification itself is audited.
    let (n2, _, mac2) = verify_audit(&s).unwrap_or_default();
    assert_eq!(n2, n + 1);
    assert_ne!(mac2, mac);

    // The head MAC buffer is checked before any work: nothing is written.
    let (mut e, mut q) = (7u64, 7u64);
    let mut small = [0xAAu8; KL_AUDIT_HEAD_MAC_HEX_LEN];
    let mut len = 0;
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_verify_audit(
            s.0,
            &mut e,
            &mut q,
            small.as_mut_ptr().cast(),
            small.len(),
            &mut len
        )
    );
    assert_eq!(len, KL_AUDIT_HEAD_MAC_HEX_LEN + 1);
    assert_eq!((e, q), (7, 7), "out-params untouched on failure");
    assert!(small.iter().all(|b| *b == 0xAA));
    let (n3, ..) = verify_audit(&s).unwrap_or_default();
    assert_eq!(n3, n2 + 1, "the refused call did not read the log");

    // JSON Lines over a fixed range: the size query and the real call
    // agree, although each read adds an entry to the log.
    let lines = export(&s, 1, n).unwrap_or_default();
    assert!(lines.ends_with('\n'));
    let parsed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::Null))
        .collect();
    assert_eq!(parsed.len() as u64, n);
    for (i, e) in parsed.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "{e}");
        assert!(e["mac"].as_str().is_some_and(|m| m.len() == 64), "{e}");
    }
    assert_eq!(parsed[0]["operation"], "open_store");
    assert!(
        parsed
            .iter()
            .any(|e| e["operation"] == "encrypt" && e["outcome"] == "success")
    );
    assert!(!lines.contains("\"m\""), "never plaintext");
    let middle = export(&s, 2, 3).unwrap_or_default();
    assert_eq!(middle.lines().count(), 2);
    assert!(middle.starts_with("{\"seq\":2,"), "{middle}");
    assert_eq!(export(&s, n + 1000, n + 2000).as_deref(), Ok(""));
    // The whole log (to UINT64_MAX) grows with every read, so it is read
    // into a generous buffer rather than with a size query.
    let mut big = vec![0u8; 1 << 16];
    let mut len = 0;
    ok!(kl_store_export_audit_jsonl(
        s.0,
        1,
        u64::MAX,
        big.as_mut_ptr(),
        big.len(),
        &mut len
    ));
    let all = text(big[..len].to_vec());
    assert!(all.lines().count() as u64 > n + 3);
    assert_eq!(
        export(&s, 1, u64::MAX),
        Err(KL_ERR_BUFFER_TOO_SMALL),
        "a size query for a growing range is out of date at once"
    );
    let mut len = 0;
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_export_audit_jsonl(s.0, 5, 4, null_mut(), 0, &mut len)
    );
    // A buffer one byte short (the NUL) is too small; nothing is written.
    let need = lines.len() + 1;
    let mut buf = vec![0xAAu8; need - 1];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_export_audit_jsonl(s.0, 1, n, buf.as_mut_ptr(), buf.len(), &mut len)
    );
    assert_eq!(len, need);
    assert!(buf.iter().all(|b| *b == 0xAA));

    // Checkpoints: signed by an Active signing key, verified with the key
    // (any of its versions) or with its public key alone.
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let cp = checkpoint(&s, &signer).unwrap_or_default();
    assert!(cp.as_bytes().len() < KL_AUDIT_CHECKPOINT_JSON_MAX);
    let cp_json: serde_json::Value =
        serde_json::from_slice(cp.as_bytes()).unwrap_or(serde_json::Value::Null);
    assert_eq!(
        cp_json["signer"].as_str(),
        Some(id_of(&signer).to_str().unwrap_or_default())
    );
    let mut entries = 0u64;
    ok!(kl_store_verify_audit_checkpoint(
        s.0,
        cp.as_ptr(),
        signer.0,
        &mut entries
    ));
    assert!(entries > cp_json["seq"].as_u64().unwrap_or(u64::MAX));
    let der = public_der(&signer).unwrap_or_default();
    ok!(kl_audit_checkpoint_verify(
        cp.as_ptr(),
        der.as_ptr(),
        der.len()
    ));
    // After a rotation the old version still verifies the old checkpoint.
    let mut v = 0;
    ok!(kl_key_rotate(signer.0, &mut v));
    ok!(kl_store_verify_audit_checkpoint(
        s.0,
        cp.as_ptr(),
        signer.0,
        &mut entries
    ));
    // An auditor verifies it too (auditors may not use keys, only read
    // their public keys).
    let auditor = as_principal(&s, c"auditor", KL_ROLE_AUDITOR);
    let signer_as_auditor = load(&auditor, &signer);
    ok!(kl_store_verify_audit_checkpoint(
        auditor.0,
        cp.as_ptr(),
        signer_as_auditor.0,
        &mut entries
    ));
    // Another key, a tampered checkpoint, junk.
    let other = key(&s, KL_PURPOSE_SIGNING, true);
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), other.0, &mut entries)
    );
    let other_der = public_der(&other).unwrap_or_default();
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_audit_checkpoint_verify(cp.as_ptr(), other_der.as_ptr(), other_der.len())
    );
    let mut forged = cp_json.clone();
    forged["seq"] = serde_json::json!(1);
    let forged = CString::new(forged.to_string()).unwrap_or_default();
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_store_verify_audit_checkpoint(s.0, forged.as_ptr(), signer.0, &mut entries)
    );
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_audit_checkpoint_verify(forged.as_ptr(), der.as_ptr(), der.len())
    );
    for junk in [c"", c"{", c"[]", c"{\"seq\":1}"] {
        fails!(
            KL_ERR_MALFORMED,
            kl_store_verify_audit_checkpoint(s.0, junk.as_ptr(), signer.0, &mut entries)
        );
        fails!(
            KL_ERR_MALFORMED,
            kl_audit_checkpoint_verify(junk.as_ptr(), der.as_ptr(), der.len())
        );
    }
    fails!(
        KL_ERR_MALFORMED,
        kl_audit_checkpoint_verify(cp.as_ptr(), b"junk".as_ptr(), 4)
    );

    // The checkpoint buffer is checked first: no signature is spent.
    let mut small = [0u8; 64];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_audit_checkpoint(s.0, signer.0, small.as_mut_ptr(), small.len(), &mut len)
    );
    assert_eq!(len, KL_AUDIT_CHECKPOINT_JSON_MAX);
    // Wrong purpose, wrong state, wrong role.
    assert_eq!(checkpoint(&s, &k), Err(KL_ERR_WRONG_PURPOSE));
    let idle = key(&s, KL_PURPOSE_SIGNING, false);
    assert_eq!(checkpoint(&s, &idle), Err(KL_ERR_WRONG_STATE));
    assert_eq!(state(&idle), KL_STATE_PRE_ACTIVE, "not consumed");
    fails!(
        KL_ERR_WRONG_PURPOSE,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), k.0, &mut entries)
    );
    let app = as_principal(&s, c"app", KL_ROLE_APPLICATION);
    assert_eq!(verify_audit(&app), Err(KL_ERR_PERMISSION_DENIED));
    assert_eq!(export(&app, 1, 10), Err(KL_ERR_PERMISSION_DENIED));
    assert_eq!(checkpoint(&app, &signer), Err(KL_ERR_PERMISSION_DENIED));
}

#[test]
fn integrity_check_and_a_checkpoint_catch_a_restored_old_copy() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("keys.kl");
    let cpath = CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default();
    let kek = [7u8; 32];
    let open = || {
        let mut s = null_mut();
        ok!(kl_store_open(
            KL_BACKEND_FILE,
            cpath.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            kek.len(),
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            &mut s
        ));
        Store(s)
    };
    let s = open();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let (mut keys, mut entries) = (0u64, 0u64);
    ok!(kl_store_verify_integrity(s.0, &mut keys, &mut entries));
    assert_eq!(keys, 2);
    assert!(entries >= 5);
    ok!(kl_store_flush_audit(s.0));
    let old = std::fs::read(&path).map_err(|e| e.to_string())?;
    // More history, then a checkpoint that vouches for it.
    ok!(kl_key_rotate(k.0, &mut 0));
    let _ = encrypt(&k, b"later", b"").unwrap_or_default();
    let cp = checkpoint(&s, &signer).unwrap_or_default();
    let signer_id = id_of(&signer);
    drop((k, signer, s));

    // Someone puts the old file back: on its own it is a consistent store…
    std::fs::write(&path, &old).map_err(|e| e.to_string())?;
    let s = open();
    assert!(verify_audit(&s).is_ok());
    ok!(kl_store_verify_integrity(s.0, &mut keys, &mut entries));
    // …but the checkpoint proves entries were cut off.
    let mut signer = null_mut();
    ok!(kl_key_load(s.0, signer_id.as_ptr(), &mut signer));
    let signer = Key(signer);
    fails!(
        KL_ERR_INTEGRITY,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), signer.0, &mut entries)
    );
    // The reopened old copy has logged new entries since, so the entry the
    // checkpoint vouches for exists again, with another MAC.
    let msg = last_error();
    assert!(
        msg.contains("rewritten") || msg.contains("cut off"),
        "{msg}"
    );
    let app = as_principal(&s, c"app", KL_ROLE_APPLICATION);
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_verify_integrity(app.0, &mut keys, &mut entries)
    );
    Ok(())
}

// ----- policy, compliance, principals, grants -----

const POLICY_V1: &CStr = c"version = 1
classifications = ['internal', 'secret']

[purpose.aead]
usage_limit = 1000
";

#[test]
fn policy_in_force_digest_and_compliance_report() {
    let s = store();
    let toml = |s: &Store| fetch(|o, c, l| kl_store_policy_toml(s.0, o.cast(), c, l)).map(text);
    assert_eq!(toml(&s), Err(KL_ERR_NOT_FOUND));
    ok!(kl_store_set_policy_toml(s.0, POLICY_V1.as_ptr()));
    let canonical = toml(&s).unwrap_or_default();
    assert!(canonical.starts_with("version = 1\n"), "{canonical}");
    assert!(canonical.contains("usage_limit = 1000"), "{canonical}");
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let info = json(fetch(|o, c, l| kl_key_info_json(k.0, o, c, l)).unwrap_or_default());
    assert_eq!(info["usage_limit"], 1000);
    assert_eq!(info["policy_version"], 1);

    // The digest: of the canonical form, so of the policy, not its spelling.
    let digest = |t: &CStr| fetch(|o, c, l| kl_policy_digest(t.as_ptr(), o.cast(), c, l)).map(text);
    let d1 = digest(POLICY_V1).unwrap_or_default();
    assert_eq!(d1.len(), KL_POLICY_DIGEST_HEX_LEN);
    let again = CString::new(canonical.clone()).unwrap_or_default();
    assert_eq!(digest(&again).as_deref(), Ok(d1.as_str()));
    assert_eq!(info["policy_digest"].as_str(), Some(d1.as_str()));
    let mut short = [0xAAu8; KL_POLICY_DIGEST_HEX_LEN];
    let mut len = 0;
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_policy_digest(
            POLICY_V1.as_ptr(),
            short.as_mut_ptr().cast(),
            short.len(),
            &mut len
        )
    );
    assert_eq!(len, KL_POLICY_DIGEST_HEX_LEN + 1);

    // Bad policies: syntax, unknown fields, failed checks, old versions.
    for bad in [
        c"version = ",
        c"version = 2\nfavourite_colour = 'blue'",
        c"version = 2\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 3",
        c"[purpose.aead]\nusage_limit = 'many'",
    ] {
        fails!(KL_ERR_POLICY, kl_store_set_policy_toml(s.0, bad.as_ptr()));
        assert!(last_error().contains("policy line"), "{}", last_error());
        assert_eq!(digest(bad), Err(KL_ERR_POLICY));
    }
    fails!(
        KL_ERR_POLICY,
        kl_store_set_policy_toml(s.0, POLICY_V1.as_ptr())
    );
    assert!(
        last_error().contains("does not increase"),
        "{}",
        last_error()
    );
    ok!(kl_store_set_policy_toml(s.0, c"version = 2".as_ptr()));
    assert!(toml(&s).unwrap_or_default().starts_with("version = 2"));
    let op = as_principal(&s, c"op", KL_ROLE_OPERATOR);
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_set_policy_toml(op.0, c"version = 3".as_ptr())
    );

    // The compliance report: the key has no owner.
    let report =
        json(fetch(|o, c, l| kl_store_compliance_report_json(s.0, o, c, l)).unwrap_or_default());
    let owners = report["without_owner"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|f| f.to_string().contains(id_of(&k).to_str().unwrap_or("-"))),
        "{report}"
    );
}

#[test]
fn principals_and_grants_gate_applications() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let svc = as_principal(&s, c"svc", KL_ROLE_APPLICATION);
    let k_svc = load(&svc, &k);
    // Grants name registered principals only.
    fails!(
        KL_ERR_NOT_FOUND,
        kl_key_grant(k.0, c"svc".as_ptr(), KL_OP_ENCRYPT, 0)
    );
    ok!(kl_store_register_principal(
        s.0,
        c"svc".as_ptr(),
        KL_ROLE_APPLICATION
    ));
    fails!(
        KL_ERR_ALREADY_EXISTS,
        kl_store_register_principal(s.0, c"svc".as_ptr(), KL_ROLE_APPLICATION)
    );
    for (name, role) in [(c"x", 0), (c"x", 6), (c"", 1), (c"a/b", 1)] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_store_register_principal(s.0, name.as_ptr(), role)
        );
    }
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_register_principal(svc.0, c"svc2".as_ptr(), KL_ROLE_APPLICATION)
    );
    // Operations: at least one, only known bits, a representable expiry.
    for bad in [0, 512, 1 << 31, KL_OP_ENCRYPT | 1024] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_key_grant(k.0, c"svc".as_ptr(), bad, 0)
        );
    }
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_grant(k.0, c"svc".as_ptr(), KL_OP_ENCRYPT, u64::MAX)
    );

    assert_eq!(encrypt(&k_svc, b"m", b""), Err(KL_ERR_PERMISSION_DENIED));
    ok!(kl_key_grant(k.0, c"svc".as_ptr(), KL_OP_ENCRYPT, 0));
    let ct = encrypt(&k_svc, b"m", b"").unwrap_or_default();
    assert_eq!(decrypt(&k_svc, &ct, b""), Err(KL_ERR_PERMISSION_DENIED));
    let info = json(fetch(|o, c, l| kl_key_info_json(k.0, o, c, l)).unwrap_or_default());
    assert_eq!(info["grants"][0]["principal"], "svc");
    assert_eq!(
        info["grants"][0]["operations"],
        serde_json::json!(["encrypt"])
    );
    // An application cannot grant itself more.
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_key_grant(k_svc.0, c"svc".as_ptr(), KL_OP_DECRYPT, 0)
    );
    ok!(kl_key_grant(
        k.0,
        c"svc".as_ptr(),
        KL_OP_ENCRYPT | KL_OP_DECRYPT,
        0
    ));
    assert_eq!(decrypt(&k_svc, &ct, b"").as_deref(), Ok(&b"m"[..]));
    // An expiry in the past: no use.
    ok!(kl_key_grant(k.0, c"svc".as_ptr(), KL_OP_DECRYPT, 1));
    assert_eq!(decrypt(&k_svc, &ct, b""), Err(KL_ERR_PERMISSION_DENIED));
    // Far in the future: fine.
    ok!(kl_key_grant(
        k.0,
        c"svc".as_ptr(),
        KL_OP_DECRYPT,
        i64::MAX as u64
    ));
    assert!(decrypt(&k_svc, &ct, b"").is_ok());
    ok!(kl_key_revoke_grant(k.0, c"svc".as_ptr()));
    assert_eq!(decrypt(&k_svc, &ct, b""), Err(KL_ERR_PERMISSION_DENIED));
    fails!(KL_ERR_NOT_FOUND, kl_key_revoke_grant(k.0, c"svc".as_ptr()));
    // Every KL_OP_* bit names a use operation the core accepts in a grant.
    let mut all = 0;
    for (bit, _) in OPERATION_BITS {
        ok!(kl_key_grant(k.0, c"svc".as_ptr(), bit, 0));
        all |= bit;
    }
    ok!(kl_key_grant(k.0, c"svc".as_ptr(), all, 0));
    let info = json(fetch(|o, c, l| kl_key_info_json(k.0, o, c, l)).unwrap_or_default());
    assert_eq!(
        info["grants"][0]["operations"].as_array().map(Vec::len),
        Some(OPERATION_BITS.len())
    );
    // Grants work in any state and never consume the handle.
    ok!(kl_key_deactivate(k.0, c"".as_ptr()));
    ok!(kl_key_revoke_grant(k.0, c"svc".as_ptr()));
    assert_eq!(state(&k), KL_STATE_DEACTIVATED);
}

// ----- dual control -----

/// An approver with their signing key in their own store.
struct Approver {
    name: &'static CStr,
    _store: Store,
    key: Key,
}

fn approver(name: &'static CStr) -> Approver {
    let s = store_as(name, KL_ROLE_ADMINISTRATOR);
    let key = key(&s, KL_PURPOSE_SIGNING, true);
    Approver {
        name,
        _store: s,
        key,
    }
}

impl Approver {
    fn approve(&self, request: &CStr) -> String {
        text(
            fetch(|o, c, l| {
                kl_key_approve(self.key.0, self.name.as_ptr(), request.as_ptr(), o, c, l)
            })
            .unwrap_or_default(),
        )
    }
}

fn request(s: &Store, op: u32, key_id: &CStr, params: &CStr) -> Result<CString, kl_result> {
    fetch(|o, c, l| {
        kl_store_request_approval(s.0, op, key_id.as_ptr(), params.as_ptr(), 3600, o, c, l)
    })
    .map(|v| CString::from_vec_with_nul(v).unwrap_or_default())
}

fn array(items: &[String]) -> CString {
    CString::new(format!("[{}]", items.join(","))).unwrap_or_default()
}

const DUAL_CONTROL: &CStr = c"version = 1
[approvals.destroy]
required = 2
approvers = ['carol', 'dave', 'erin']
[approvals.policy_change]
required = 2
approvers = ['carol', 'dave', 'erin']
";

#[test]
fn dual_control_through_requests_and_signed_approvals() {
    let s = store();
    let (carol, dave, erin) = (approver(c"carol"), approver(c"dave"), approver(c"erin"));
    for a in [&carol, &dave, &erin] {
        let der = public_der(&a.key).unwrap_or_default();
        ok!(kl_store_register_approver(
            s.0,
            a.name.as_ptr(),
            der.as_ptr(),
            der.len()
        ));
    }
    let der = public_der(&carol.key).unwrap_or_default();
    fails!(
        KL_ERR_ALREADY_EXISTS,
        kl_store_register_approver(s.0, c"carol".as_ptr(), der.as_ptr(), der.len())
    );
    fails!(
        KL_ERR_MALFORMED,
        kl_store_register_approver(s.0, c"mallory".as_ptr(), b"junk".as_ptr(), 4)
    );
    ok!(kl_store_set_policy_toml(s.0, DUAL_CONTROL.as_ptr()));

    // Without approvals: refused (and, as an attempted transition, the
    // handle is consumed).
    let doomed = key(&s, KL_PURPOSE_AEAD, false);
    let id = id_of(&doomed);
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        kl_key_destroy(doomed.0, c"cleanup".as_ptr())
    );
    let req = request(&s, KL_APPROVAL_DESTROY, &id, c"").unwrap_or_default();
    let parsed: serde_json::Value =
        serde_json::from_slice(req.as_bytes()).unwrap_or(serde_json::Value::Null);
    assert_eq!(parsed["operation"], "destroy");
    assert_eq!(parsed["requester"], "tester");
    assert_eq!(parsed["key_id"].as_str(), id.to_str().ok());
    let canonical = fetch(|o, c, l| kl_approval_request_canonical_bytes(req.as_ptr(), o, c, l))
        .unwrap_or_default();
    assert!(canonical.starts_with(b"keylife-approval-v1\0"));

    // One approval is not enough; the same approver twice counts once; an
    // approval signed by the wrong key is refused.
    let (a_carol, a_dave) = (carol.approve(&req), dave.approve(&req));
    assert!(
        a_carol.starts_with("{\"approver\":\"carol\",\"signature\":\""),
        "{a_carol}"
    );
    let submit =
        |approvals: &CStr| kl_store_submit_approvals(s.0, req.as_ptr(), approvals.as_ptr());
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        submit(&array(std::slice::from_ref(&a_carol)))
    );
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        submit(&array(&[a_carol.clone(), a_carol.clone()]))
    );
    let forged = text(
        fetch(|o, c, l| kl_key_approve(carol.key.0, c"dave".as_ptr(), req.as_ptr(), o, c, l))
            .unwrap_or_default(),
    );
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        submit(&array(&[a_carol.clone(), forged]))
    );
    // Malformed inputs.
    for bad in [
        c"",
        c"{}",
        c"[{\"approver\":\"carol\"}]",
        c"[1]",
        c"[{\"approver\":\"carol\",\"signature\":\"%%%\"}]",
    ] {
        fails!(KL_ERR_MALFORMED, submit(bad));
    }
    let good = array(&[a_carol, a_dave]);
    for bad in [c"", c"{}", c"{\"request_id\":\"00\"}"] {
        fails!(
            KL_ERR_MALFORMED,
            kl_store_submit_approvals(s.0, bad.as_ptr(), good.as_ptr())
        );
    }
    // Two real approvals: the destruction goes through, once.
    ok!(submit(&good));
    let mut k = null_mut();
    ok!(kl_key_load(s.0, id.as_ptr(), &mut k));
    let k = Key(k);
    ok!(kl_key_destroy(k.0, c"approved".as_ptr()));
    assert_eq!(state(&k), KL_STATE_DESTROYED);
    fails!(KL_ERR_APPROVAL_REQUIRED, submit(&good));

    // A policy change under dual control: the request names the digest.
    let next = c"version = 2";
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        kl_store_set_policy_toml(s.0, next.as_ptr())
    );
    let digest =
        text(fetch(|o, c, l| kl_policy_digest(next.as_ptr(), o.cast(), c, l)).unwrap_or_default());
    let params = CString::new(format!("{{\"policy_digest\":\"{digest}\"}}")).unwrap_or_default();
    let req = request(&s, KL_APPROVAL_POLICY_CHANGE, c"", &params).unwrap_or_default();
    let approvals = array(&[erin.approve(&req), dave.approve(&req)]);
    ok!(kl_store_submit_approvals(
        s.0,
        req.as_ptr(),
        approvals.as_ptr()
    ));
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        kl_store_set_policy_toml(s.0, c"version = 3".as_ptr())
    );
    ok!(kl_store_set_policy_toml(s.0, next.as_ptr()));

    // An operation the policy does not gate (any more): a policy error.
    let req = request(&s, KL_APPROVAL_RESTORE, c"", c"{}").unwrap_or_default();
    let approvals = array(&[erin.approve(&req), dave.approve(&req)]);
    fails!(
        KL_ERR_POLICY,
        kl_store_submit_approvals(s.0, req.as_ptr(), approvals.as_ptr())
    );

    // Bad requests.
    assert_eq!(request(&s, 0, c"", c""), Err(KL_ERR_INVALID_ARGUMENT));
    assert_eq!(request(&s, 7, c"", c""), Err(KL_ERR_INVALID_ARGUMENT));
    assert_eq!(
        request(&s, KL_APPROVAL_DESTROY, c"xyz", c""),
        Err(KL_ERR_MALFORMED)
    );
    for bad in [c"[]", c"{\"a\":1}", c"{", c"\"x\""] {
        assert_eq!(
            request(&s, KL_APPROVAL_RESTORE, c"", bad),
            Err(KL_ERR_MALFORMED)
        );
    }
    let mut len = 0;
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_request_approval(
            s.0,
            KL_APPROVAL_RESTORE,
            c"".as_ptr(),
            c"".as_ptr(),
            0,
            null_mut(),
            0,
            &mut len
        )
    );
    // Approving: an Active signing key, a name, request JSON; the buffer is
    // checked before signing and the size asked for is always enough.
    let req = request(&s, KL_APPROVAL_RESTORE, c"", c"").unwrap_or_default();
    let mut small = [0xAAu8; 16];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_approve(
            carol.key.0,
            c"carol".as_ptr(),
            req.as_ptr(),
            small.as_mut_ptr(),
            16,
            &mut len
        )
    );
    assert!(small.iter().all(|b| *b == 0xAA));
    let mut buf = vec![0u8; len];
    let asked = len;
    for _ in 0..20 {
        ok!(kl_key_approve(
            carol.key.0,
            c"carol".as_ptr(),
            req.as_ptr(),
            buf.as_mut_ptr(),
            asked,
            &mut len
        ));
        assert!(len <= asked);
    }
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_key_approve(
            carol.key.0,
            c" ".as_ptr(),
            req.as_ptr(),
            buf.as_mut_ptr(),
            asked,
            &mut len
        )
    );
    fails!(
        KL_ERR_MALFORMED,
        kl_key_approve(
            carol.key.0,
            c"carol".as_ptr(),
            c"{}".as_ptr(),
            buf.as_mut_ptr(),
            asked,
            &mut len
        )
    );
    let aead = key(&s, KL_PURPOSE_AEAD, true);
    fails!(
        KL_ERR_WRONG_PURPOSE,
        kl_key_approve(
            aead.0,
            c"carol".as_ptr(),
            req.as_ptr(),
            buf.as_mut_ptr(),
            asked,
            &mut len
        )
    );
    let idle = key(&s, KL_PURPOSE_SIGNING, false);
    fails!(
        KL_ERR_WRONG_STATE,
        kl_key_approve(
            idle.0,
            c"carol".as_ptr(),
            req.as_ptr(),
            buf.as_mut_ptr(),
            asked,
            &mut len
        )
    );
    fails!(
        KL_ERR_MALFORMED,
        kl_approval_request_canonical_bytes(c"{}".as_ptr(), buf.as_mut_ptr(), asked, &mut len)
    );
}

// ----- version management -----

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
    let info = json(fetch(|o, c, l| kl_key_info_json(k.0, o, c, l)).unwrap_or_default());
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

// ----- KEK rotation, passphrase stores -----

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
    let path =
        CString::new(dir.path().join("keys.db").to_string_lossy().as_bytes()).unwrap_or_default();
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
    let open_raw = |kek: &[u8], out: &mut *mut kl_store| {
        kl_store_open(
            KL_BACKEND_SQLITE,
            path.as_ptr(),
            KL_KEK_RAW,
            kek.as_ptr(),
            kek.len(),
            c"ops".as_ptr(),
            KL_ROLE_ADMINISTRATOR,
            out,
        )
    };
    fails!(KL_ERR_WRONG_KEK, open_raw(&new, &mut s));
    ok!(open_raw(&newer, &mut s));
    let st = Store(s);
    let mut k = null_mut();
    ok!(kl_key_load(st.0, id.as_ptr(), &mut k));
    let k = Key(k);
    assert_eq!(decrypt(&k, &ct, b"").as_deref(), Ok(&b"kept"[..]));
    Ok(())
}

// ----- NULL for every new pointer argument -----

#[test]
fn every_pointer_of_the_governance_and_audit_calls_is_checked() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let s = store();
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let aead = key(&s, KL_PURPOSE_AEAD, true);
    ok!(kl_key_rotate(aead.0, &mut 0));
    let der = public_der(&signer).unwrap_or_default();
    let (pk, pkl) = (der.as_ptr(), der.len());
    let cp = checkpoint(&s, &signer).unwrap_or_default();
    let mut buf = vec![0u8; 4096];
    let (b, cap) = (buf.as_mut_ptr(), buf.len());
    let mut len = 0usize;
    let l = &mut len as *mut usize;
    let (mut u, mut v) = (0u64, 0u64);
    let n = c"svc".as_ptr();

    // Audit and integrity.
    fails!(NP, kl_store_flush_audit(null()));
    fails!(
        NP,
        kl_store_verify_audit(null(), &mut u, &mut v, b.cast(), cap, l)
    );
    fails!(
        NP,
        kl_store_verify_audit(s.0, null_mut(), &mut v, b.cast(), cap, l)
    );
    fails!(
        NP,
        kl_store_verify_audit(s.0, &mut u, null_mut(), b.cast(), cap, l)
    );
    fails!(
        NP,
        kl_store_verify_audit(s.0, &mut u, &mut v, null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_store_verify_audit(s.0, &mut u, &mut v, b.cast(), cap, null_mut())
    );
    ok!(kl_store_verify_audit(s.0, &mut u, &mut v, b.cast(), cap, l));
    fails!(NP, kl_store_export_audit_jsonl(null(), 1, 2, b, cap, l));
    fails!(
        NP,
        kl_store_export_audit_jsonl(s.0, 1, 2, null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_store_export_audit_jsonl(s.0, 1, 2, b, cap, null_mut())
    );
    ok!(kl_store_export_audit_jsonl(s.0, 1, 2, b, cap, l));
    fails!(NP, kl_store_audit_checkpoint(null(), signer.0, b, cap, l));
    fails!(NP, kl_store_audit_checkpoint(s.0, null(), b, cap, l));
    fails!(
        NP,
        kl_store_audit_checkpoint(s.0, signer.0, null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_store_audit_checkpoint(s.0, signer.0, b, cap, null_mut())
    );
    fails!(
        NP,
        kl_store_verify_audit_checkpoint(null(), cp.as_ptr(), signer.0, &mut u)
    );
    fails!(
        NP,
        kl_store_verify_audit_checkpoint(s.0, null(), signer.0, &mut u)
    );
    fails!(
        NP,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), null(), &mut u)
    );
    fails!(
        NP,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), signer.0, null_mut())
    );
    ok!(kl_store_verify_audit_checkpoint(
        s.0,
        cp.as_ptr(),
        signer.0,
        &mut u
    ));
    fails!(NP, kl_audit_checkpoint_verify(null(), pk, pkl));
    fails!(NP, kl_audit_checkpoint_verify(cp.as_ptr(), null(), pkl));
    ok!(kl_audit_checkpoint_verify(cp.as_ptr(), pk, pkl));
    fails!(NP, kl_store_verify_integrity(null(), &mut u, &mut v));
    fails!(NP, kl_store_verify_integrity(s.0, null_mut(), &mut v));
    fails!(NP, kl_store_verify_integrity(s.0, &mut u, null_mut()));
    ok!(kl_store_verify_integrity(s.0, &mut u, &mut v));

    // Policy and compliance.
    let p = c"version = 1".as_ptr();
    fails!(NP, kl_store_set_policy_toml(null(), p));
    fails!(NP, kl_store_set_policy_toml(s.0, null()));
    ok!(kl_store_set_policy_toml(s.0, p));
    fails!(NP, kl_store_policy_toml(null(), b.cast(), cap, l));
    fails!(NP, kl_store_policy_toml(s.0, null_mut(), cap, l));
    fails!(NP, kl_store_policy_toml(s.0, b.cast(), cap, null_mut()));
    ok!(kl_store_policy_toml(s.0, b.cast(), cap, l));
    fails!(NP, kl_policy_digest(null(), b.cast(), cap, l));
    fails!(NP, kl_policy_digest(p, null_mut(), cap, l));
    fails!(NP, kl_policy_digest(p, b.cast(), cap, null_mut()));
    ok!(kl_policy_digest(p, b.cast(), cap, l));
    fails!(NP, kl_store_compliance_report_json(null(), b, cap, l));
    fails!(NP, kl_store_compliance_report_json(s.0, null_mut(), cap, l));
    fails!(NP, kl_store_compliance_report_json(s.0, b, cap, null_mut()));
    ok!(kl_store_compliance_report_json(s.0, b, cap, l));

    // Principals, approvers, grants.
    fails!(
        NP,
        kl_store_register_principal(null(), n, KL_ROLE_APPLICATION)
    );
    fails!(
        NP,
        kl_store_register_principal(s.0, null(), KL_ROLE_APPLICATION)
    );
    ok!(kl_store_register_principal(s.0, n, KL_ROLE_APPLICATION));
    let a = c"carol".as_ptr();
    fails!(NP, kl_store_register_approver(null(), a, pk, pkl));
    fails!(NP, kl_store_register_approver(s.0, null(), pk, pkl));
    fails!(NP, kl_store_register_approver(s.0, a, null(), pkl));
    ok!(kl_store_register_approver(s.0, a, pk, pkl));
    fails!(NP, kl_key_grant(null(), n, KL_OP_ENCRYPT, 0));
    fails!(NP, kl_key_grant(aead.0, null(), KL_OP_ENCRYPT, 0));
    ok!(kl_key_grant(aead.0, n, KL_OP_ENCRYPT, 0));
    fails!(NP, kl_key_revoke_grant(null(), n));
    fails!(NP, kl_key_revoke_grant(aead.0, null()));
    ok!(kl_key_revoke_grant(aead.0, n));

    // Dual control.
    let (e, o) = (c"".as_ptr(), c"{}".as_ptr());
    let r = KL_APPROVAL_RESTORE;
    fails!(
        NP,
        kl_store_request_approval(null(), r, e, o, 60, b, cap, l)
    );
    fails!(
        NP,
        kl_store_request_approval(s.0, r, null(), o, 60, b, cap, l)
    );
    fails!(
        NP,
        kl_store_request_approval(s.0, r, e, null(), 60, b, cap, l)
    );
    fails!(
        NP,
        kl_store_request_approval(s.0, r, e, o, 60, null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_store_request_approval(s.0, r, e, o, 60, b, cap, null_mut())
    );
    let req = request(&s, r, c"", c"{}").unwrap_or_default();
    let mut abuf = vec![0u8; 512];
    let (ab, acap) = (abuf.as_mut_ptr(), abuf.len());
    fails!(NP, kl_key_approve(null(), a, req.as_ptr(), ab, acap, l));
    fails!(
        NP,
        kl_key_approve(signer.0, null(), req.as_ptr(), ab, acap, l)
    );
    fails!(NP, kl_key_approve(signer.0, a, null(), ab, acap, l));
    fails!(
        NP,
        kl_key_approve(signer.0, a, req.as_ptr(), null_mut(), acap, l)
    );
    fails!(
        NP,
        kl_key_approve(signer.0, a, req.as_ptr(), ab, acap, null_mut())
    );
    ok!(kl_key_approve(signer.0, a, req.as_ptr(), ab, acap, l));
    fails!(NP, kl_approval_request_canonical_bytes(null(), b, cap, l));
    fails!(
        NP,
        kl_approval_request_canonical_bytes(req.as_ptr(), null_mut(), cap, l)
    );
    fails!(
        NP,
        kl_approval_request_canonical_bytes(req.as_ptr(), b, cap, null_mut())
    );
    ok!(kl_approval_request_canonical_bytes(req.as_ptr(), b, cap, l));
    let arr = c"[]".as_ptr();
    fails!(NP, kl_store_submit_approvals(null(), req.as_ptr(), arr));
    fails!(NP, kl_store_submit_approvals(s.0, null(), arr));
    fails!(NP, kl_store_submit_approvals(s.0, req.as_ptr(), null()));

    // Version management.
    let why = c"".as_ptr();
    fails!(NP, kl_key_compromise_version(null(), 1, why));
    fails!(NP, kl_key_compromise_version(aead.0, 1, null()));
    fails!(NP, kl_key_destroy_version(null(), 1, why));
    fails!(NP, kl_key_destroy_version(aead.0, 1, null()));
    fails!(NP, kl_key_set_min_decryption_version(null(), 1));
    ok!(kl_key_destroy_version(aead.0, 1, why));

    // KEK rotation and passphrase stores.
    let kek = [1u8; 32];
    fails!(
        NP,
        kl_store_rotate_kek(null(), kek.as_ptr(), 32, None, null_mut())
    );
    fails!(NP, kl_store_rotate_kek(s.0, null(), 32, None, null_mut()));
    let mut pending = 0;
    fails!(NP, kl_store_kek_rotation_pending(null(), &mut pending));
    fails!(NP, kl_store_kek_rotation_pending(s.0, null_mut()));
    ok!(kl_store_kek_rotation_pending(s.0, &mut pending));
    let mut so = null_mut();
    let (path, pw, who) = (c"/nonexistent/x".as_ptr(), c"pw".as_ptr(), c"ops".as_ptr());
    fails!(
        NP,
        kl_store_open_passphrase(1, null(), pw, 1024, 1, 1, who, 1, &mut so)
    );
    fails!(
        NP,
        kl_store_open_passphrase(1, path, null(), 1024, 1, 1, who, 1, &mut so)
    );
    fails!(
        NP,
        kl_store_open_passphrase(1, path, pw, 1024, 1, 1, null(), 1, &mut so)
    );
    fails!(
        NP,
        kl_store_open_passphrase(1, path, pw, 1024, 1, 1, who, 1, null_mut())
    );
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_open_passphrase(9, path, pw, 1024, 1, 1, who, 1, &mut so)
    );
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_open_passphrase(1, path, pw, 1024, 1, 1, who, 0, &mut so)
    );
    assert!(so.is_null());
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

// ----- the fixed-size hot path -----

fn encrypt_into(k: &Key, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    let mut out = vec![0xAAu8; pt.len() + KL_CIPHERTEXT_OVERHEAD];
    match kl_key_encrypt_into(
        k.0,
        pt.as_ptr(),
        pt.len(),
        aad.as_ptr(),
        aad.len(),
        out.as_mut_ptr(),
    ) {
        KL_OK => Ok(out),
        e => {
            assert!(out.iter().all(|b| *b == 0xAA), "nothing written on failure");
            Err(e)
        }
    }
}

fn decrypt_into(k: &Key, ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, kl_result> {
    let mut out = vec![0xAAu8; ct.len().saturating_sub(KL_CIPHERTEXT_OVERHEAD).max(1)];
    match kl_key_decrypt_into(
        k.0,
        ct.as_ptr(),
        ct.len(),
        aad.as_ptr(),
        aad.len(),
        out.as_mut_ptr(),
    ) {
        KL_OK => {
            out.truncate(ct.len() - KL_CIPHERTEXT_OVERHEAD);
            Ok(out)
        }
        e => {
            assert!(out.iter().all(|b| *b == 0xAA), "nothing written on failure");
            Err(e)
        }
    }
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
    }
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

    // NULL for each pointer.
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let live = key(&s, KL_PURPOSE_AEAD, true);
    let ct = encrypt(&live, b"m", b"a").unwrap_or_default();
    let mut buf = [0u8; 64];
    let (m, a, b) = (b"m".as_ptr(), b"a".as_ptr(), buf.as_mut_ptr());
    fails!(NP, kl_key_encrypt_into(null(), m, 1, a, 1, b));
    fails!(NP, kl_key_encrypt_into(live.0, null(), 1, a, 1, b));
    fails!(NP, kl_key_encrypt_into(live.0, m, 1, null(), 1, b));
    fails!(NP, kl_key_encrypt_into(live.0, m, 1, a, 1, null_mut()));
    let (c, cl) = (ct.as_ptr(), ct.len());
    fails!(NP, kl_key_decrypt_into(null(), c, cl, a, 1, b));
    fails!(NP, kl_key_decrypt_into(live.0, null(), cl, a, 1, b));
    fails!(NP, kl_key_decrypt_into(live.0, c, cl, null(), 1, b));
    fails!(NP, kl_key_decrypt_into(live.0, c, cl, a, 1, null_mut()));
    ok!(kl_key_decrypt_into(live.0, c, cl, a, 1, b));
    assert_eq!(buf[0], b'm');
    // A refused call spends no invocation of the key.
    let info = json(fetch(|o, c, l| kl_key_info_json(live.0, o, c, l)).unwrap_or_default());
    assert_eq!(info["versions"][0]["usage_count"], 1);
}
