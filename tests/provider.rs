//! Crypto providers interoperate: two stores on one backend, one on
//! RustCrypto and one on AWS-LC, open each other's ciphertexts, verify each
//! other's signatures and agree on the same secrets. (The Wycheproof suites
//! run once per provider in `tests/wycheproof.rs`.)
#![cfg(feature = "aws-lc")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keylife::backend::MemoryBackend;
use keylife::purpose::{Aead, Agreement, Signing};
use keylife::{
    AnyKey, CryptoProvider, ErrorKind, Kek, KeySpec, KeyStore, Principal, PublicKey, RawKek,
    StoreOptions, hpke,
};

const RC: CryptoProvider = CryptoProvider::RustCrypto;
const LC: CryptoProvider = CryptoProvider::AwsLc;

/// Two stores on one backend and KEK: (RustCrypto, AWS-LC).
fn pair() -> (KeyStore, KeyStore) {
    let backend = Arc::new(MemoryBackend::new());
    let kek = Kek::generate().unwrap();
    let open = |p: CryptoProvider| {
        let mut options = StoreOptions::default();
        options.crypto_provider = p;
        let kek = RawKek::new(Kek::from_bytes(kek.expose_secret()).unwrap());
        let store = KeyStore::builder(backend.clone())
            .options(options)
            .open(&kek, Principal::admin("interop"))
            .unwrap();
        assert_eq!(store.crypto_provider(), p);
        store
    };
    (open(RC), open(LC))
}

#[test]
fn ciphertexts_open_under_the_other_provider() {
    let (rc, lc) = pair();
    let key = rc.create_active(KeySpec::<Aead>::new("shared")).unwrap();
    let AnyKey::Active(other) = lc.load::<Aead>(&key.id()).unwrap() else {
        panic!("the key is active");
    };
    for len in [0usize, 1, 64, 1024, 16 * 1024, (1 << 20) + 3] {
        let msg: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i * 31 % 251).unwrap())
            .collect();
        let from_rc = key.encrypt(&msg, b"ctx").unwrap();
        let from_lc = other.encrypt(&msg, b"ctx").unwrap();
        assert_eq!(lc.decrypt(&from_rc, b"ctx").unwrap(), msg, "len {len}");
        assert_eq!(rc.decrypt(&from_lc, b"ctx").unwrap(), msg, "len {len}");
        // Tampering is caught by both, whoever sealed.
        for ct in [&from_rc, &from_lc] {
            let mut bad = ct.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            for store in [&rc, &lc] {
                assert_eq!(
                    store.decrypt(&bad, b"ctx").unwrap_err().kind(),
                    ErrorKind::AuthenticationFailed
                );
            }
            assert_eq!(
                lc.decrypt(ct, b"other").unwrap_err().kind(),
                ErrorKind::AuthenticationFailed
            );
        }
    }
}

#[test]
fn decrypt_to_never_leaves_unauthenticated_plaintext() {
    let (rc, lc) = pair();
    let key = rc.create_active(KeySpec::<Aead>::new("to")).unwrap();
    let AnyKey::Active(other) = lc.load::<Aead>(&key.id()).unwrap() else {
        panic!("the key is active");
    };
    let msg = vec![0x42u8; 4096];
    let mut ct = vec![0u8; msg.len() + keylife::key::CIPHERTEXT_OVERHEAD];
    key.encrypt_to(&msg, b"ctx", &mut ct).unwrap();
    for (k, left) in [(&key, 0xAAu8), (&other, 0)] {
        let mut out = vec![0xAAu8; msg.len()];
        k.decrypt_to(&ct, b"ctx", &mut out).unwrap();
        assert_eq!(out, msg);
        let mut out = vec![0xAAu8; msg.len()];
        assert_eq!(
            k.decrypt_to(&ct, b"other", &mut out).unwrap_err().kind(),
            ErrorKind::AuthenticationFailed
        );
        // RustCrypto checks the tag first (nothing written); AWS-LC
        // decrypts while authenticating and clears the output.
        assert!(out.iter().all(|b| *b == left));
        let mut short = vec![0xAAu8; msg.len() - 1];
        assert_eq!(
            k.decrypt_to(&ct, b"ctx", &mut short).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert!(short.iter().all(|b| *b == 0xAA));
    }
}

#[test]
fn signatures_verify_under_the_other_provider() {
    let (rc, lc) = pair();
    let key = rc.create_active(KeySpec::<Signing>::new("signer")).unwrap();
    let AnyKey::Active(other) = lc.load::<Signing>(&key.id()).unwrap() else {
        panic!("the key is active");
    };
    let msg = b"release-1.0.tar.gz";
    let (der_rc, fixed_rc) = (key.sign(msg).unwrap(), key.sign_fixed(msg).unwrap());
    let (der_lc, fixed_lc) = (other.sign(msg).unwrap(), other.sign_fixed(msg).unwrap());
    // Each store verifies both providers' signatures.
    for k in [&key, &other] {
        k.verify(msg, &der_rc).unwrap();
        k.verify(msg, &der_lc).unwrap();
        k.verify_fixed(msg, &fixed_rc).unwrap();
        k.verify_fixed(msg, &fixed_lc).unwrap();
        assert_eq!(
            k.verify(b"other", &der_lc).unwrap_err().kind(),
            ErrorKind::AuthenticationFailed
        );
    }
    // So does an exported public key, on either provider.
    let pk = key.public_key(None).unwrap();
    assert_eq!(pk.provider(), RC);
    assert_eq!(other.public_key(None).unwrap().provider(), LC);
    for p in [RC, LC] {
        let pk = pk.clone().with_provider(p);
        pk.verify(msg, &der_rc).unwrap();
        pk.verify(msg, &der_lc).unwrap();
        pk.verify_fixed(msg, &fixed_lc).unwrap();
        assert_eq!(
            pk.verify_fixed(msg, &fixed_lc[..63]).unwrap_err().kind(),
            ErrorKind::AuthenticationFailed
        );
    }
    // The dispatch is real: RustCrypto signs deterministically (RFC 6979),
    // AWS-LC with a fresh random nonce per signature.
    assert_eq!(key.sign_fixed(msg).unwrap(), fixed_rc);
    assert_ne!(other.sign_fixed(msg).unwrap(), fixed_lc);
}

#[test]
fn agreement_gives_the_same_secret_on_both_providers() {
    let (rc, lc) = pair();
    let a = rc.create_active(KeySpec::<Agreement>::new("a")).unwrap();
    let b = lc.create_active(KeySpec::<Agreement>::new("b")).unwrap();
    let (pa, pb) = (a.public_key(None).unwrap(), b.public_key(None).unwrap());
    let ab = a.agree(&pb, b"salt", b"info", 32).unwrap();
    let ba = b.agree(&pa, b"salt", b"info", 32).unwrap();
    assert_eq!(ab.expose_secret(), ba.expose_secret());
    // The same key loaded on the other provider agrees identically.
    let AnyKey::Active(a_on_lc) = lc.load::<Agreement>(&a.id()).unwrap() else {
        panic!("the key is active");
    };
    let again = a_on_lc.agree(&pb, b"salt", b"info", 32).unwrap();
    assert_eq!(again.expose_secret(), ab.expose_secret());
    // HPKE: a sender on either provider, the recipient on the other.
    for (recipient, sender_provider) in [(&a, LC), (&b, RC)] {
        let pk = recipient
            .public_key(None)
            .unwrap()
            .with_provider(sender_provider);
        let (enc, ct) = hpke::seal(&pk, hpke::AeadId::Aes256Gcm, b"info", b"aad", b"m").unwrap();
        let pt = recipient
            .hpke_open(&enc, hpke::AeadId::Aes256Gcm, b"info", b"aad", &ct)
            .unwrap();
        assert_eq!(pt, b"m");
    }
    // A point from the other side parses the same way whatever the provider.
    let parsed = PublicKey::from_sec1(&pb.to_sec1()).unwrap();
    assert_eq!(parsed, pb);
}

/// FIPS mode (feature `fips`): only the AWS-LC provider of a `fips` build
/// reports it, and that build's provider interoperates like the general
/// one (the tests above and `tests/wycheproof.rs` run on it in the `fips`
/// step of `scripts/test.sh`).
#[test]
fn fips_mode_is_reported_by_the_fips_build_only() {
    assert!(!RC.fips_mode());
    assert_eq!(LC.fips_mode(), cfg!(feature = "fips"));
    let (rc, lc) = pair();
    assert!(!rc.crypto_provider().fips_mode());
    assert_eq!(lc.crypto_provider().fips_mode(), cfg!(feature = "fips"));
}
