//! The keys that do not encrypt: signatures (DER and fixed-size) and their
//! verification with the key or its public key alone, public-key export,
//! MACs, derivation and agreement into library-owned secrets; and NULL for
//! every pointer argument of those calls.

use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

#[test]
fn signing_mac_derive_agree_and_public_keys() {
    let s = store();
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let msg = b"release-1.0";
    let sig = sign(&signer, msg).unwrap_or_default();
    assert!(sig.len() <= KL_SIGNATURE_DER_MAX_LEN && sig.first() == Some(&0x30));
    ok!(kl_key_verify(
        signer.0,
        msg.as_ptr(),
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
    let verify_with = |public_key: &[u8]| {
        kl_public_key_verify(
            public_key.as_ptr(),
            public_key.len(),
            msg.as_ptr(),
            11,
            sig.as_ptr(),
            sig.len(),
        )
    };
    let der = public_der(&signer).unwrap_or_default();
    ok!(verify_with(&der));
    let sec1 = fetch(|o, c, l| kl_key_public_key_sec1(signer.0, o, c, l)).unwrap_or_default();
    assert_eq!(sec1.len(), 65);
    ok!(verify_with(&sec1));
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
    assert_eq!(secret_bytes(&a), secret_bytes(&a2));
    assert_ne!(secret_bytes(&a), secret_bytes(&b));
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

/// Every pointer argument of the signing, public-key, MAC, derivation and
/// agreement calls, NULL in turn, with every other argument valid (so the
/// call would succeed without the check): `KL_ERR_NULL_POINTER`, and no
/// secret written.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let s = store();
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let mac = key(&s, KL_PURPOSE_MAC, true);
    let kdf = key(&s, KL_PURPOSE_DERIVATION, true);
    let agr = key(&s, KL_PURPOSE_AGREEMENT, true);
    let (sk, mk, dk, ak) = (signer.0, mac.0, kdf.0, agr.0);
    let (m, ml) = (b"message".as_ptr(), 7usize);
    let mut out = Scratch::new(4096);
    let (b, cap, l) = out.args();
    let sig = sign(&signer, b"message").unwrap_or_default();
    let (g, gl) = (sig.as_ptr(), sig.len());
    let der = public_der(&signer).unwrap_or_default();
    let (d, dl) = (der.as_ptr(), der.len());
    let peer = public_der(&agr).unwrap_or_default();
    let (p, pl) = (peer.as_ptr(), peer.len());
    let tag = fetch(|o, c, l| kl_key_mac(mk, m, ml, o, c, l)).unwrap_or_default();
    let (t, tl) = (tag.as_ptr(), tag.len());
    let so = out_slot::<kl_secret>();
    let o = so.as_ptr();

    #[rustfmt::skip]
    let table: &[NullCase] = &[
        // Signatures and public keys.
        ("kl_key_sign", "key", NP, &|| kl_key_sign(null(), m, ml, b, cap, l)),
        ("kl_key_sign", "msg", NP, &|| kl_key_sign(sk, null(), ml, b, cap, l)),
        ("kl_key_sign", "out", NP, &|| kl_key_sign(sk, m, ml, null_mut(), cap, l)),
        ("kl_key_sign", "out_len", NP, &|| kl_key_sign(sk, m, ml, b, cap, null_mut())),
        ("kl_key_sign_fixed", "key", NP, &|| kl_key_sign_fixed(null(), m, ml, b, cap, l)),
        ("kl_key_sign_fixed", "msg", NP, &|| kl_key_sign_fixed(sk, null(), ml, b, cap, l)),
        ("kl_key_sign_fixed", "out", NP, &|| kl_key_sign_fixed(sk, m, ml, null_mut(), cap, l)),
        ("kl_key_sign_fixed", "out_len", NP, &|| kl_key_sign_fixed(sk, m, ml, b, cap, null_mut())),
        ("kl_key_verify", "key", NP, &|| kl_key_verify(null(), m, ml, g, gl)),
        ("kl_key_verify", "msg", NP, &|| kl_key_verify(sk, null(), ml, g, gl)),
        ("kl_key_verify", "signature", NP, &|| kl_key_verify(sk, m, ml, null(), gl)),
        ("kl_key_verify", "-", KL_OK, &|| kl_key_verify(sk, m, ml, g, gl)),
        ("kl_key_verify_fixed", "key", NP, &|| kl_key_verify_fixed(null(), m, ml, b, 64)),
        ("kl_key_verify_fixed", "msg", NP, &|| kl_key_verify_fixed(sk, null(), ml, b, 64)),
        ("kl_key_verify_fixed", "signature", NP, &|| kl_key_verify_fixed(sk, m, ml, null(), 64)),
        ("kl_key_public_key_der", "key", NP, &|| kl_key_public_key_der(null(), b, cap, l)),
        ("kl_key_public_key_der", "out", NP, &|| kl_key_public_key_der(sk, null_mut(), cap, l)),
        ("kl_key_public_key_der", "out_len", NP, &|| kl_key_public_key_der(sk, b, cap, null_mut())),
        ("kl_key_public_key_sec1", "key", NP, &|| kl_key_public_key_sec1(null(), b, cap, l)),
        ("kl_key_public_key_sec1", "out", NP, &|| kl_key_public_key_sec1(sk, null_mut(), cap, l)),
        ("kl_key_public_key_sec1", "out_len", NP, &|| kl_key_public_key_sec1(sk, b, cap, null_mut())),
        ("kl_key_public_key_pem", "key", NP, &|| kl_key_public_key_pem(null(), b.cast(), cap, l)),
        ("kl_key_public_key_pem", "out", NP, &|| kl_key_public_key_pem(sk, null_mut(), cap, l)),
        ("kl_key_public_key_pem", "out_len", NP, &|| kl_key_public_key_pem(sk, b.cast(), cap, null_mut())),
        ("kl_public_key_verify", "public_key", NP, &|| kl_public_key_verify(null(), dl, m, ml, g, gl)),
        ("kl_public_key_verify", "msg", NP, &|| kl_public_key_verify(d, dl, null(), ml, g, gl)),
        ("kl_public_key_verify", "signature", NP, &|| kl_public_key_verify(d, dl, m, ml, null(), gl)),
        ("kl_public_key_verify", "-", KL_OK, &|| kl_public_key_verify(d, dl, m, ml, g, gl)),
        // MAC.
        ("kl_key_mac", "key", NP, &|| kl_key_mac(null(), m, ml, b, cap, l)),
        ("kl_key_mac", "msg", NP, &|| kl_key_mac(mk, null(), ml, b, cap, l)),
        ("kl_key_mac", "out", NP, &|| kl_key_mac(mk, m, ml, null_mut(), cap, l)),
        ("kl_key_mac", "out_len", NP, &|| kl_key_mac(mk, m, ml, b, cap, null_mut())),
        ("kl_key_verify_mac", "key", NP, &|| kl_key_verify_mac(null(), m, ml, t, tl)),
        ("kl_key_verify_mac", "msg", NP, &|| kl_key_verify_mac(mk, null(), ml, t, tl)),
        ("kl_key_verify_mac", "tag", NP, &|| kl_key_verify_mac(mk, m, ml, null(), tl)),
        ("kl_key_verify_mac", "-", KL_OK, &|| kl_key_verify_mac(mk, m, ml, t, tl)),
        // Derivation and agreement.
        ("kl_key_derive", "key", NP, &|| kl_key_derive(null(), m, ml, m, ml, 32, o)),
        ("kl_key_derive", "salt", NP, &|| kl_key_derive(dk, null(), ml, m, ml, 32, o)),
        ("kl_key_derive", "context", NP, &|| kl_key_derive(dk, m, ml, null(), ml, 32, o)),
        ("kl_key_derive", "out", NP, &|| kl_key_derive(dk, m, ml, m, ml, 32, null_mut())),
        ("kl_key_agree", "key", NP, &|| kl_key_agree(null(), p, pl, m, ml, m, ml, 32, o)),
        ("kl_key_agree", "peer_public_key", NP, &|| kl_key_agree(ak, null(), pl, m, ml, m, ml, 32, o)),
        ("kl_key_agree", "salt", NP, &|| kl_key_agree(ak, p, pl, null(), ml, m, ml, 32, o)),
        ("kl_key_agree", "context", NP, &|| kl_key_agree(ak, p, pl, m, ml, null(), ml, 32, o)),
        ("kl_key_agree", "out", NP, &|| kl_key_agree(ak, p, pl, m, ml, m, ml, 32, null_mut())),
    ];
    check_null_table(table);
    assert!(so.get().is_null(), "no secret was written");
    ok!(kl_key_agree(ak, p, pl, m, ml, m, ml, 32, o));
    drop(Secret(so.get()));

    // The last error names the argument.
    fails!(NP, kl_key_agree(ak, p, pl, m, ml, m, ml, 32, null_mut()));
    assert_eq!(last_error(), "null pointer: out is NULL");
}

/// The size query of `kl_key_sign` reports `KL_SIGNATURE_DER_MAX_LEN`
/// (before any signing), so the documented two-call protocol always fits
/// the second, randomized signature: AWS-LC's DER signatures vary in
/// length from call to call, and a query that reported the first
/// signature's own length made the next call fail now and then.
#[test]
fn der_size_query_reports_the_maximum_and_every_signature_fits() {
    let s = store();
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let mut need = 0usize;
    assert_eq!(
        kl_key_sign(
            signer.0,
            b"m".as_ptr(),
            1,
            std::ptr::null_mut(),
            0,
            &mut need
        ),
        KL_ERR_BUFFER_TOO_SMALL
    );
    assert_eq!(need, KL_SIGNATURE_DER_MAX_LEN);
    let mut lens = std::collections::BTreeSet::new();
    for i in 0..200u32 {
        let msg = i.to_le_bytes();
        let sig = sign(&signer, &msg).unwrap_or_else(|e| panic!("signature {i}: {}", describe(e)));
        assert!(sig.len() <= KL_SIGNATURE_DER_MAX_LEN);
        lens.insert(sig.len());
        assert_eq!(
            kl_key_verify(signer.0, msg.as_ptr(), msg.len(), sig.as_ptr(), sig.len()),
            KL_OK
        );
    }
    assert!(!lens.is_empty());
}
