//! Key transport (HPKE to a recipient's public key, AES-KWP under a shared
//! wrapping key), key check values and envelope encryption, through the
//! public API: governance of export, audit, bad input (nothing imported).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;
use common::Mint;
use std::time::Duration;

use keylife::approval::Approval;
use keylife::policy::{ApprovalOperation, Policy};
use keylife::purpose::{Aead, Agreement, Derivation, Mac, Signing};
use keylife::state::Active;
use keylife::{
    ErrorKind, Key, KeyFilter, KeySpec, KeyStore, Operation, Origin, Outcome, Principal, PublicKey,
    Role, StateName,
};

fn kind<T>(r: keylife::Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

fn store(name: &str) -> KeyStore {
    KeyStore::in_memory(Principal::admin(name)).unwrap()
}

fn count(s: &KeyStore) -> usize {
    s.list(&KeyFilter::new()).unwrap().len()
}

struct Pair {
    here: KeyStore,
    there: KeyStore,
    inbox: Key<Agreement, Active>,
    key: Key<Mac, Active>,
}

fn pair() -> Pair {
    let here = store("ops");
    let there = store("partner");
    let inbox = there
        .create_active(KeySpec::<Agreement>::new("inbox"))
        .unwrap();
    let key = here
        .create_active(KeySpec::<Mac>::new("webhooks").exportable(true))
        .unwrap();
    // Exports go to trusted destinations only.
    here.trust_recipient("partner-inbox", &inbox.public_key(None).unwrap())
        .unwrap();
    Pair {
        here,
        there,
        inbox,
        key,
    }
}

#[test]
fn hpke_transport_round_trip_is_audited_and_arrives_preactive() {
    let p = pair();
    let tag = p.key.mac(b"event").unwrap();
    let pk = p.inbox.public_key(None).unwrap();
    let sent = p.here.export_to_recipient(&p.key.id(), None, &pk).unwrap();
    assert_eq!(sent.version, 1);
    assert_eq!(sent.check_value, p.key.check_value(None).unwrap());

    let (copy, kcv) = p
        .there
        .import_from_sender(KeySpec::<Mac>::new("webhooks"), &sent.bytes, &p.inbox)
        .unwrap();
    kcv.verify(&sent.check_value).unwrap();
    assert_eq!(copy.state(), StateName::PreActive);
    let info = copy.info().unwrap();
    assert_eq!(info.origin, Origin::Imported);
    assert_eq!(copy.check_value(None).unwrap(), sent.check_value);
    copy.activate().unwrap().verify_mac(b"event", &tag).unwrap();

    let exported = p.here.audit_entries().unwrap().into_iter().any(|e| {
        e.operation == Operation::Export
            && e.key_id == Some(p.key.id())
            && e.outcome == Outcome::Success
    });
    assert!(exported, "export audited");
    let imported = p
        .there
        .audit_entries()
        .unwrap()
        .into_iter()
        .any(|e| e.operation == Operation::Import && e.outcome == Outcome::Success);
    assert!(imported, "import audited");
}

#[test]
fn kwp_transport_round_trip_and_wrong_kek() {
    let here = store("ops");
    let root = here
        .create_active(KeySpec::<Derivation>::new("root"))
        .unwrap();
    let kek = root.derive_wrapping_key(b"site b").unwrap();
    let other = root.derive_wrapping_key(b"site c").unwrap();
    // Derived from this store's own key: trusted only with hazmat (on in
    // this suite; tests/trust.rs checks the default build refuses it).
    here.trust_wrapping_key("site-b", &kek).unwrap();
    assert_ne!(kek.check_value(), other.check_value());
    let signer = here
        .create_active(KeySpec::<Signing>::new("release").exportable(true))
        .unwrap();
    let sig = signer.sign(b"v1.0").unwrap();
    let sent = here.export_wrapped(&signer.id(), None, &kek).unwrap();

    let there = store("site-b");
    let before = count(&there);
    assert_eq!(
        kind(there.import_wrapped(KeySpec::<Signing>::new("release"), &sent.bytes, &other)),
        ErrorKind::AuthenticationFailed
    );
    assert_eq!(count(&there), before, "nothing imported");
    let (copy, kcv) = there
        .import_wrapped(KeySpec::<Signing>::new("release"), &sent.bytes, &kek)
        .unwrap();
    assert_eq!(kcv, sent.check_value);
    assert_eq!(
        copy.public_key(None).unwrap(),
        signer.public_key(None).unwrap()
    );
    copy.activate().unwrap().verify(b"v1.0", &sig).unwrap();
}

#[test]
fn export_is_governed() {
    let p = pair();
    let pk = p.inbox.public_key(None).unwrap();
    // Not exportable.
    let fixed = p.here.create_active(KeySpec::<Mac>::new("fixed")).unwrap();
    assert_eq!(
        kind(p.here.export_to_recipient(&fixed.id(), None, &pk)),
        ErrorKind::Policy
    );
    // Not an administrator.
    let app = Principal::new("svc", &[Role::Application]);
    p.here.register_principal(&app).unwrap();
    let as_app = p.here.mint(app);
    assert_eq!(
        kind(as_app.export_to_recipient(&p.key.id(), None, &pk)),
        ErrorKind::PermissionDenied
    );
    // A version that does not exist.
    let k = kind(p.here.export_to_recipient(&p.key.id(), Some(9), &pk));
    assert!(
        matches!(k, ErrorKind::NotFound | ErrorKind::VersionUnavailable),
        "{k:?}"
    );
    // Compromised: refused.
    let id = p.key.id();
    p.key.compromise("leak").unwrap();
    assert_eq!(
        kind(p.here.export_to_recipient(&id, None, &pk)),
        ErrorKind::WrongState
    );
    // Every refusal was audited.
    let refused = p
        .here
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.operation == Operation::Export && e.outcome != Outcome::Success)
        .count();
    assert!(refused >= 3, "{refused} refused exports audited");
}

#[test]
fn export_needs_approvals_when_policy_says_so() {
    let p = pair();
    let approver_store = store("carol");
    let carol = approver_store
        .create_active(KeySpec::<Signing>::new("approvals"))
        .unwrap();
    p.here
        .register_approver("carol", &carol.public_key(None).unwrap())
        .unwrap();
    p.here
        .set_policy(
            &Policy::from_toml(
                "version = 1\n[approvals.export]\nrequired = 1\napprovers = [\"carol\"]\n",
            )
            .unwrap(),
        )
        .unwrap();
    let pk = p.inbox.public_key(None).unwrap();
    assert_eq!(
        kind(p.here.export_to_recipient(&p.key.id(), None, &pk)),
        ErrorKind::ApprovalRequired
    );
    let req = p
        .here
        .request_approval(
            ApprovalOperation::Export,
            Some(p.key.id()),
            &[],
            Duration::from_secs(600),
        )
        .unwrap();
    let approval = Approval::new("carol", carol.sign(&req.canonical_bytes()).unwrap());
    p.here.submit_approvals(&req, &[approval]).unwrap();
    p.here.export_to_recipient(&p.key.id(), None, &pk).unwrap();
    // Consumed: the next export needs new approvals.
    assert_eq!(
        kind(p.here.export_to_recipient(&p.key.id(), None, &pk)),
        ErrorKind::ApprovalRequired
    );
}

#[test]
fn bad_transported_keys_are_refused_and_nothing_is_imported() {
    let p = pair();
    let pk = p.inbox.public_key(None).unwrap();
    let sent = p.here.export_to_recipient(&p.key.id(), None, &pk).unwrap();
    let before = count(&p.there);
    let import = |bytes: &[u8]| {
        p.there
            .import_from_sender(KeySpec::<Mac>::new("x"), bytes, &p.inbox)
            .map(|_| ())
    };

    // Tampered header (key id, version), enc and ciphertext: one bit each.
    for i in [
        6,
        21,
        25,
        30,
        26 + 64,
        sent.bytes.len() - 1,
        sent.bytes.len() - 20,
    ] {
        let mut bad = sent.bytes.clone();
        bad[i] ^= 0x04;
        let k = kind(import(&bad));
        assert!(
            matches!(k, ErrorKind::AuthenticationFailed | ErrorKind::Malformed),
            "byte {i}: {k:?}"
        );
    }
    // Algorithm byte changed to another MAC-purpose-less algorithm.
    let mut bad = sent.bytes.clone();
    bad[5] = 1; // AES-256-GCM
    assert_eq!(kind(import(&bad)), ErrorKind::WrongPurpose);
    bad[5] = 200;
    assert_eq!(kind(import(&bad)), ErrorKind::Unsupported);
    // Truncations, wrong magic, unknown mode, other mode, oversized.
    for n in [0, 3, 25, 26, 26 + 64, sent.bytes.len() - 1] {
        let k = kind(import(&sent.bytes[..n]));
        assert!(
            matches!(k, ErrorKind::AuthenticationFailed | ErrorKind::Malformed),
            "truncated to {n}: {k:?}"
        );
    }
    let mut bad = sent.bytes.clone();
    bad[0] = b'X';
    assert_eq!(kind(import(&bad)), ErrorKind::Malformed);
    let mut bad = sent.bytes.clone();
    bad[4] = 9;
    assert_eq!(kind(import(&bad)), ErrorKind::Unsupported);
    bad[4] = 2;
    assert_eq!(kind(import(&bad)), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(import(&vec![0u8; 1 << 20])),
        ErrorKind::InvalidArgument
    );
    // Wrong purpose requested by the importer.
    assert_eq!(
        kind(
            p.there
                .import_from_sender(KeySpec::<Aead>::new("x"), &sent.bytes, &p.inbox)
        ),
        ErrorKind::WrongPurpose
    );
    // Another recipient's key.
    let stranger = p
        .there
        .create_active(KeySpec::<Agreement>::new("stranger"))
        .unwrap();
    let after_stranger = count(&p.there);
    assert_eq!(
        kind(
            p.there
                .import_from_sender(KeySpec::<Mac>::new("x"), &sent.bytes, &stranger)
        ),
        ErrorKind::AuthenticationFailed
    );
    assert_eq!(count(&p.there), after_stranger);
    assert_eq!(
        after_stranger,
        before + 1,
        "only the stranger key was added"
    );
    // Failed imports are audited.
    assert!(
        p.there
            .audit_entries()
            .unwrap()
            .iter()
            .any(|e| { e.operation == Operation::Import && e.outcome == Outcome::Failed })
    );
    // The genuine one still imports.
    import(&sent.bytes).unwrap();
}

#[test]
fn recipient_public_keys_off_the_curve_or_at_infinity_are_refused() {
    let p = pair();
    let good = p.inbox.public_key(None).unwrap().to_sec1();
    let mut off = good.clone();
    off[64] ^= 1;
    for bad in [off, vec![0u8], vec![4u8; 65], good[..33].to_vec()] {
        assert_eq!(kind(PublicKey::from_sec1(&bad)), ErrorKind::Malformed);
    }
}

#[test]
fn check_values_differ_per_version_and_are_gone_with_the_material() {
    let s = store("ops");
    let k = s.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let v1 = k.check_value(None).unwrap();
    k.rotate().unwrap();
    assert_ne!(k.check_value(None).unwrap(), v1);
    assert_eq!(k.check_value(Some(1)).unwrap(), v1);
    assert!(k.check_value(None).unwrap().verify(&v1).is_err());
    let id = k.id();
    let k = k.deactivate("done").unwrap().compromise("test").unwrap();
    drop(k);
    let pre = s.create(KeySpec::<Aead>::new("never")).unwrap();
    let pre_id = pre.id();
    pre.destroy("unused").unwrap();
    assert_eq!(kind(s.check_value(&pre_id, None)), ErrorKind::WrongState);
    // A compromised key still has a check value (for incident response).
    s.check_value(&id, None).unwrap();
}

#[test]
fn data_keys_generate_unwrap_rewrap() {
    let s = store("ops");
    let kek = s.create_active(KeySpec::<Aead>::new("envelope")).unwrap();
    let dk = kek.generate_data_key(32, b"obj=1").unwrap();
    assert_eq!(dk.plaintext.len(), 32);
    assert!(format!("{dk:?}").starts_with("DataKey(32 bytes"));
    assert_eq!(
        s.unwrap_data_key(&dk.wrapped, b"obj=1")
            .unwrap()
            .expose_secret(),
        dk.plaintext.expose_secret()
    );
    assert_eq!(
        kind(s.unwrap_data_key(&dk.wrapped, b"obj=2")),
        ErrorKind::AuthenticationFailed
    );
    let mut bad = dk.wrapped.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        kind(s.unwrap_data_key(&bad, b"obj=1")),
        ErrorKind::AuthenticationFailed
    );
    // Without plaintext, then unwrap later.
    let w = kek.generate_data_key_without_plaintext(16, b"").unwrap();
    assert_eq!(s.unwrap_data_key(&w, b"").unwrap().len(), 16);
    // Rewrap to a new primary version.
    kek.rotate().unwrap();
    let moved = kek.rewrap(&dk.wrapped, b"obj=1").unwrap();
    assert_eq!(
        keylife::CiphertextInfo::parse(&moved).unwrap().key_version,
        2
    );
    kek.set_min_decryption_version(2).unwrap();
    assert!(s.unwrap_data_key(&dk.wrapped, b"obj=1").is_err());
    assert_eq!(
        s.unwrap_data_key(&moved, b"obj=1").unwrap().expose_secret(),
        dk.plaintext.expose_secret()
    );
    // Length bounds.
    for len in [0, 15, 65] {
        assert_eq!(
            kind(kek.generate_data_key(len, b"")),
            ErrorKind::InvalidArgument
        );
    }
}

/// RFC 7517 Appendix A.1, the EC public key.
const RFC7517_A1: &str = r#"{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"}"#;

#[test]
fn jwk_known_vector_round_trip_and_strict_validation() {
    let pk = PublicKey::from_jwk(RFC7517_A1).unwrap();
    assert_eq!(
        pk.to_jwk(),
        r#"{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}"#
    );
    assert_eq!(PublicKey::from_jwk(&pk.to_jwk()).unwrap(), pk);
    // A fresh key round-trips, and is usable as an HPKE recipient.
    let p = pair();
    let inbox_pk = p.inbox.public_key(None).unwrap();
    assert_eq!(PublicKey::from_jwk(&inbox_pk.to_jwk()).unwrap(), inbox_pk);

    let bad = [
        // Tampered twin: y changed by one character: off the curve.
        RFC7517_A1.replace("4Etl6SRW", "4Etl6SRX"),
        RFC7517_A1.replace(r#""kty":"EC""#, r#""kty":"RSA""#),
        RFC7517_A1.replace(r#""crv":"P-256""#, r#""crv":"P-384""#),
        RFC7517_A1.replace(r#""kty":"EC","#, ""),
        RFC7517_A1.replace(r#""x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","#, ""),
        RFC7517_A1.replace("MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4="),
        RFC7517_A1.replace("MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7"),
        RFC7517_A1.replace("MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D+"),
        RFC7517_A1.replace(r#""kid":"1""#, r#""kid":"1","d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE""#),
        RFC7517_A1.replace(r#""kty":"EC""#, r#""kty":1"#),
        "[]".to_owned(),
        "not json".to_owned(),
        // The point at infinity has no affine coordinates: all zeros.
        r#"{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.to_owned(),
    ];
    for (i, j) in bad.iter().enumerate() {
        assert_eq!(
            kind(PublicKey::from_jwk(j)),
            ErrorKind::Malformed,
            "case {i}: {j}"
        );
    }
    let huge = format!(r#"{{"kty":"EC","pad":"{}"}}"#, "a".repeat(5000));
    assert_eq!(kind(PublicKey::from_jwk(&huge)), ErrorKind::InvalidArgument);
}

#[cfg(feature = "hazmat")]
const P256_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgafb8r7SEAmKfh0rV
E0TbA88emkStsOXaTI5FmlwfncihRANCAAT99ZZ6PfHWoF6+ggER7aXkb/XrX9wc
dphNLAtBh3DUKJiYoDqeBzzNk5hXl5IBcRCGOlcj5YFVg0LUX20tljD5
-----END PRIVATE KEY-----
";
#[cfg(feature = "hazmat")]
const P256_SPKI: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/fWWej3x1qBevoIBEe2l5G/161/c
HHaYTSwLQYdw1CiYmKA6ngc8zZOYV5eSAXEQhjpXI+WBVYNC1F9tLZYw+Q==
-----END PUBLIC KEY-----
";
#[cfg(feature = "hazmat")]
const P384_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDTLWmTRcAWCW+2FQtG
Gw/1o0Vud0R9RABIA5a+hEPDp+ON2H7zD6LcWj/lznDpsrmhZANiAARhxzWcl5a1
Src3Ga2/x8mayXXKtuc8MtT3Fw9vo/yZr/uU9IpyBzPG5WWUn8VUFID+RwNgRzo7
mFMAmpn56oJykGP5P8b2mfAd/2LYLWHYM/LaeLvmm10nAKDkzqMgr5o=
-----END PRIVATE KEY-----
";

#[cfg(feature = "hazmat")]
#[test]
fn pkcs8_private_key_import() {
    let s = store("ops");
    let (k, kcv) = s
        .import_pkcs8_pem(KeySpec::<Signing>::new("openssl-made"), P256_PKCS8)
        .unwrap();
    assert_eq!(k.state(), StateName::PreActive);
    assert_eq!(k.info().unwrap().origin, Origin::Imported);
    assert_eq!(k.check_value(None).unwrap(), kcv);
    assert_eq!(
        k.public_key(None).unwrap(),
        PublicKey::from_spki_pem(P256_SPKI).unwrap()
    );
    let before = count(&s);
    assert_eq!(
        kind(s.import_pkcs8_pem(KeySpec::<Signing>::new("x"), P384_PKCS8)),
        ErrorKind::Malformed
    );
    assert_eq!(
        kind(s.import_pkcs8_pem(KeySpec::<Signing>::new("x"), P256_SPKI)),
        ErrorKind::Malformed
    );
    assert_eq!(count(&s), before, "refused imports add nothing");
    // Tampered twin: one base64 character changed inside the scalar. It is
    // refused (the embedded public key no longer matches), or at the very
    // least is not the same key.
    let tampered = P256_PKCS8.replace("afb8r7SE", "afb8r7SF");
    match s.import_pkcs8_pem(KeySpec::<Signing>::new("x"), &tampered) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Malformed),
        Ok((k, other)) => {
            assert_ne!(other, kcv);
            assert_ne!(
                k.public_key(None).unwrap(),
                PublicKey::from_spki_pem(P256_SPKI).unwrap()
            );
        }
    }
    assert_eq!(
        kind(s.import_pkcs8_pem(KeySpec::<Aead>::new("x"), P256_PKCS8)),
        ErrorKind::WrongPurpose
    );
    assert_eq!(
        kind(s.import_pkcs8_der(KeySpec::<Agreement>::new("x"), b"\x30\x03\x02\x01")),
        ErrorKind::Malformed
    );
}
