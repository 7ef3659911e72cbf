//! Fuzz targets for keylife's text and binary import formats: policy
//! files, JWK public keys, PKCS#8 private keys, transported (wrapped) keys
//! and data keys, backup bundles and custodian shares.
//!
//! Shared, like `targets.rs`, by the libFuzzer binaries and the main test
//! suite (`tests/fuzz_corpus.rs` includes this file by path). Public API
//! only. Most targets take a mode byte, then either arbitrary bytes or
//! edits (groups of 4 bytes: kind, offset (2, little-endian), value;
//! see [`edit_bytes`]) to a valid input made once per process.
//!
//! - [`policy`]: `Policy::from_toml` / `from_json`; an accepted policy
//!   round-trips through its canonical TOML and its JSON to an equal
//!   policy with the same digest, and satisfies its own rules.
//! - [`jwk`]: `PublicKey::from_jwk` on arbitrary text and on edited valid
//!   JWKs; what parses round-trips; a JWK with a private part (`"d"`) is
//!   always refused.
//! - [`pkcs8`] (feature `hazmat`): `KeyStore::import_pkcs8_der` / `_pem`,
//!   against `p256`'s own parser as the reference; an imported key signs
//!   for the public key the reference derives.
//! - [`wrapped_key`]: `import_from_sender` (HPKE), `import_wrapped`
//!   (AES-KWP), `unwrap_data_key`, `WrappingKey::unwrap` (KW and KWP) and
//!   `hpke_open` on arbitrary and edited valid inputs: an edited input
//!   never imports, unwraps or opens; an unedited one does, to the same
//!   check value or plaintext.
//! - [`backup`]: `inspect_bundle`, `inspect_share` and restore drills (and
//!   real restores) with edited bundles, edited share texts (optionally
//!   with a recomputed checksum, so edits reach the share fields) and
//!   chosen share sets: an edited bundle never restores; a share restores
//!   exactly when it means the same share as the custodian's (case and
//!   white space aside); a restore decrypts the original ciphertext.

// A fuzz target reports a broken invariant by panicking.
#![allow(clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use keylife::purpose::{Aead, Agreement, Derivation, Mac, Signing};
use keylife::wrap::{WrapMode, WrappingKey};
use keylife::{CheckValue, KeyId, KeyInfo, KeySpec, KeyStore, Principal, PublicKey};

use crate::targets::{fixture, fixture_store, must};

/// Byte edits from `edits` (groups of 4: kind, offset (2, LE), value).
pub fn edit_bytes(bytes: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks(4) {
        let kind = e[0];
        let pos = usize::from(u16::from_le_bytes([
            e.get(1).copied().unwrap_or(0),
            e.get(2).copied().unwrap_or(0),
        ]));
        let val = e.get(3).copied().unwrap_or(0);
        let at = |len: usize| if len == 0 { 0 } else { pos % len };
        match kind % 6 {
            0 => {
                let i = at(bytes.len());
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= val;
                }
            }
            1 => {
                let i = bytes.len().saturating_sub(1 + at(bytes.len()));
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= val;
                }
            }
            2 => bytes.truncate(at(bytes.len() + 1)),
            3 => {
                let i = at(bytes.len() + 1);
                bytes.insert(i, val);
            }
            4 => bytes.push(val),
            _ => {
                let i = at(bytes.len());
                if i < bytes.len() {
                    bytes.remove(i);
                }
            }
        }
    }
}

/// Text from fuzzer bytes: UTF-8 as is, anything else lossily.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A fixture rebuilt after `every` inputs (stores grow with every import
/// and audit entry).
struct Cached<T> {
    value: Option<Rc<T>>,
    runs: u32,
}

fn cached<T>(
    cell: &'static std::thread::LocalKey<RefCell<Cached<T>>>,
    every: u32,
    make: fn() -> T,
) -> Rc<T> {
    cell.with(|c| {
        let mut c = c.borrow_mut();
        if c.value.is_none() || c.runs >= every {
            c.value = Some(Rc::new(fixture(make)));
            c.runs = 0;
        }
        c.runs += 1;
        match c.value.as_ref() {
            Some(v) => Rc::clone(v),
            None => panic!("fixture missing"),
        }
    })
}

// ----- policy -----

thread_local! {
    static INFOS: RefCell<Cached<Vec<KeyInfo>>> = const { RefCell::new(Cached { value: None, runs: 0 }) };
}

fn key_infos() -> Vec<KeyInfo> {
    let store = fixture_store();
    let a = must(
        store.create_active(
            KeySpec::<Aead>::new("a")
                .owner("crm")
                .classification("secret"),
        ),
        "a",
    );
    let s = must(store.create(KeySpec::<Signing>::new("s")), "s");
    let m = must(store.create_active(KeySpec::<Mac>::new("m")), "m");
    vec![
        must(a.info(), "info"),
        must(s.info(), "info"),
        must(m.info(), "info"),
    ]
}

/// Parses the input as a TOML (first byte even) or JSON (odd) policy; an
/// accepted policy must round-trip and satisfy its own rules.
pub fn policy(data: &[u8]) {
    use keylife::policy::Policy;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let src = text(rest);
    let parsed = if mode & 1 == 0 {
        Policy::from_toml(&src)
    } else {
        Policy::from_json(&src)
    };
    let p = match parsed {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(
                e.kind(),
                keylife::ErrorKind::Policy,
                "a policy parse failed with another kind: {e}"
            );
            return;
        }
    };
    let toml = must(p.to_toml(), "to_toml");
    let again = match Policy::from_toml(&toml) {
        Ok(q) => q,
        Err(e) => panic!("canonical TOML of an accepted policy is refused: {e}\n{toml}"),
    };
    assert!(again == p, "TOML round trip changed the policy:\n{toml}");
    assert_eq!(
        must(again.to_toml(), "to_toml"),
        toml,
        "canonical TOML is not stable"
    );
    let json = must(p.to_json(), "to_json");
    let from_json = match Policy::from_json(&json) {
        Ok(q) => q,
        Err(e) => panic!("JSON of an accepted policy is refused: {e}\n{json}"),
    };
    assert!(
        from_json == p,
        "JSON round trip changed the policy:\n{json}"
    );
    assert_eq!(from_json.digest(), p.digest(), "digest differs");
    assert!(p.diff(&again).is_empty(), "a policy differs from itself");
    assert!(p.version() >= 1, "policy version below 1");
    let (min, default) = p.destruction_wait();
    assert!(min <= default, "default destruction wait below the minimum");
    for c in p.classifications() {
        assert!(
            p.classification_known(c),
            "a listed classification is unknown"
        );
    }
    let infos = cached(&INFOS, 10_000, key_infos);
    for info in infos.iter() {
        let _ = p.check_key(info);
    }
}

// ----- jwk -----

thread_local! {
    static JWK_KEY: RefCell<Cached<PublicKey>> = const { RefCell::new(Cached { value: None, runs: 0 }) };
}

fn jwk_key() -> PublicKey {
    let store = fixture_store();
    let k = must(
        store.create_active(KeySpec::<Agreement>::new("inbox")),
        "key",
    );
    must(k.public_key(None), "public key")
}

fn jwk_round_trip(pk: &PublicKey) {
    let jwk = pk.to_jwk();
    let back = must(PublicKey::from_jwk(&jwk), "JWK round trip");
    assert!(back == *pk, "JWK round trip changed the key");
    assert_eq!(back.to_jwk(), jwk, "JWK export is not stable");
    let sec1 = must(PublicKey::from_sec1(&pk.to_sec1()), "SEC 1");
    assert!(sec1 == *pk, "SEC 1 round trip changed the key");
}

/// `PublicKey::from_jwk` on arbitrary text (mode 0), an edited valid JWK
/// (1), and a valid JWK with a private member spliced in (2).
pub fn jwk(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(pk) = PublicKey::from_jwk(&text(rest)) {
                jwk_round_trip(&pk);
            }
        }
        1 => {
            let pk = cached(&JWK_KEY, u32::MAX, jwk_key);
            let mut bytes = pk.to_jwk().into_bytes();
            edit_bytes(&mut bytes, rest);
            if let Ok(got) = PublicKey::from_jwk(&text(&bytes)) {
                jwk_round_trip(&got);
            }
        }
        _ => {
            // `{"d":"…",` + the rest of a valid JWK, or the member last.
            let pk = cached(&JWK_KEY, u32::MAX, jwk_key);
            let jwk = pk.to_jwk();
            let value = text(rest).replace(['"', '\\'], "");
            let spliced = if rest.first().is_some_and(|b| b & 1 == 1) {
                format!("{{\"d\":\"{value}\",{}", &jwk[1..])
            } else {
                format!("{},\"d\":\"{value}\"}}", &jwk[..jwk.len() - 1])
            };
            assert!(
                PublicKey::from_jwk(&spliced).is_err(),
                "a JWK with a private key was accepted: {spliced}"
            );
        }
    }
}

// ----- pkcs8 -----

#[cfg(feature = "hazmat")]
struct Pkcs8Fixture {
    store: KeyStore,
    der: Vec<u8>,
}

#[cfg(feature = "hazmat")]
thread_local! {
    static PKCS8: RefCell<Cached<Pkcs8Fixture>> = const { RefCell::new(Cached { value: None, runs: 0 }) };
}

#[cfg(feature = "hazmat")]
fn pkcs8_fixture() -> Pkcs8Fixture {
    use p256::pkcs8::EncodePrivateKey;
    let mut scalar = [0u8; 32];
    for (i, b) in scalar.iter_mut().enumerate() {
        *b = u8::try_from(i * 7 + 1).unwrap_or(0);
    }
    let sk = match p256::SecretKey::from_slice(&scalar) {
        Ok(sk) => sk,
        Err(e) => panic!("scalar: {e}"),
    };
    let der = match sk.to_pkcs8_der() {
        Ok(d) => d.as_bytes().to_vec(),
        Err(e) => panic!("PKCS#8: {e}"),
    };
    Pkcs8Fixture {
        store: fixture_store(),
        der,
    }
}

/// The DER of the fixture's valid PKCS#8 key (for seeds).
#[cfg(feature = "hazmat")]
pub fn pkcs8_valid_der() -> Vec<u8> {
    pkcs8_fixture().der
}

/// Checks one PKCS#8 DER import against `p256`'s parser.
#[cfg(feature = "hazmat")]
fn pkcs8_der(store: &KeyStore, der: &[u8]) {
    use p256::pkcs8::DecodePrivateKey;
    let reference = p256::SecretKey::from_pkcs8_der(der).ok();
    let got = store.import_pkcs8_der(KeySpec::<Signing>::new("p8"), der);
    match (got, reference) {
        (Ok((key, _kcv)), Some(sk)) => {
            let expect = must(
                PublicKey::from_sec1(&sk.public_key().to_sec1_bytes()),
                "reference public key",
            );
            let key = must(key.activate(), "activate");
            assert!(
                must(key.public_key(None), "public key") == expect,
                "an imported PKCS#8 key has another public key"
            );
            let sig = must(key.sign(b"pkcs8"), "sign");
            must(expect.verify(b"pkcs8", &sig), "imported key's signature");
        }
        (Ok(_), None) => panic!("keylife imported PKCS#8 that p256 refuses"),
        (Err(e), Some(_)) if der.len() <= 4096 => {
            panic!("keylife refused PKCS#8 that p256 reads: {e}")
        }
        (Err(_), _) => {}
    }
    // Never as an AEAD key.
    assert!(
        store
            .import_pkcs8_der(KeySpec::<Aead>::new("p8"), der)
            .is_err(),
        "PKCS#8 imported as an AEAD key"
    );
}

/// `import_pkcs8_der` / `import_pkcs8_pem` on arbitrary bytes (modes 0,
/// 1), an edited valid key (2) and an edited PEM of a valid key (3).
#[cfg(feature = "hazmat")]
pub fn pkcs8(data: &[u8]) {
    let f = cached(&PKCS8, 256, pkcs8_fixture);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => pkcs8_der(&f.store, rest),
        1 => {
            let _ = f
                .store
                .import_pkcs8_pem(KeySpec::<Agreement>::new("p8"), &text(rest));
        }
        2 => {
            let mut der = f.der.clone();
            edit_bytes(&mut der, rest);
            pkcs8_der(&f.store, &der);
        }
        _ => {
            use base64ct::{Base64, Encoding};
            let body = Base64::encode_string(&f.der);
            let mut pem =
                format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
                    .into_bytes();
            edit_bytes(&mut pem, rest);
            let pem = text(&pem);
            let got = f
                .store
                .import_pkcs8_pem(KeySpec::<Signing>::new("p8"), &pem);
            // The reference: p256's PEM decoder and then its DER parser.
            use p256::pkcs8::DecodePrivateKey;
            let reference = p256::SecretKey::from_pkcs8_pem(&pem);
            if got.is_ok() {
                assert!(
                    reference.is_ok(),
                    "keylife imported a PEM key that p256 refuses"
                );
            }
        }
    }
}

// ----- wrapped_key -----

struct WrapFixture {
    store: KeyStore,
    inbox: keylife::Key<Agreement, keylife::state::Active>,
    kek: WrappingKey,
    /// HPKE-transported Mac and Aead keys, with their check values.
    hpke: Vec<(Vec<u8>, CheckValue, bool)>,
    /// AES-KWP-transported ones.
    kwp: Vec<(Vec<u8>, CheckValue, bool)>,
    /// (wrapped data key, aad, plaintext).
    data_key: (Vec<u8>, Vec<u8>, Vec<u8>),
    /// (mode, wrapped, key) for `WrappingKey::unwrap`.
    raw: Vec<(WrapMode, Vec<u8>, Vec<u8>)>,
    /// (enc, ciphertext, aad, plaintext) for `hpke_open`.
    sealed: (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>),
}

thread_local! {
    static WRAP: RefCell<Cached<WrapFixture>> = const { RefCell::new(Cached { value: None, runs: 0 }) };
}

fn wrap_fixture() -> WrapFixture {
    use keylife::hpke::{self, AeadId};
    let store = fixture_store();
    let inbox = must(
        store.create_active(KeySpec::<Agreement>::new("inbox")),
        "inbox",
    );
    let root = must(
        store.create_active(KeySpec::<Derivation>::new("root")),
        "root",
    );
    let kek = must(root.derive_wrapping_key(b"fuzz"), "wrapping key");
    let mac = must(
        store.create_active(KeySpec::<Mac>::new("m").exportable(true)),
        "mac",
    );
    let aead = must(
        store.create_active(KeySpec::<Aead>::new("a").exportable(true)),
        "aead",
    );
    let to = must(inbox.public_key(None), "inbox public key");
    // Exports go to trusted destinations only; these two are the store's
    // own, which only the hazmat feature (on for the fuzz crate) allows.
    must(store.trust_recipient("inbox", &to), "trust inbox");
    must(store.trust_wrapping_key("kek", &kek), "trust kek");
    let mut hpke_out = Vec::new();
    let mut kwp_out = Vec::new();
    for (id, is_mac) in [(mac.id(), true), (aead.id(), false)] {
        let e = must(store.export_to_recipient(&id, None, &to), "export");
        hpke_out.push((e.bytes, e.check_value, is_mac));
        let e = must(store.export_wrapped(&id, None, &kek), "export wrapped");
        kwp_out.push((e.bytes, e.check_value, is_mac));
    }
    let dk = must(aead.generate_data_key(32, b"file=1"), "data key");
    let data_key = (
        dk.wrapped.clone(),
        b"file=1".to_vec(),
        dk.plaintext.expose_secret().to_vec(),
    );
    let key: Vec<u8> = (0u8..32).collect();
    let raw = vec![
        (
            WrapMode::Kw,
            must(kek.wrap(WrapMode::Kw, &key), "kw"),
            key.clone(),
        ),
        (
            WrapMode::Kwp,
            must(kek.wrap(WrapMode::Kwp, &key[..13]), "kwp"),
            key[..13].to_vec(),
        ),
    ];
    let (enc, ct) = must(
        hpke::seal(&to, AeadId::Aes256Gcm, b"info", b"aad", b"hpke message"),
        "hpke seal",
    );
    WrapFixture {
        store,
        inbox,
        kek,
        hpke: hpke_out,
        kwp: kwp_out,
        data_key,
        raw,
        sealed: (enc, ct, b"aad".to_vec(), b"hpke message".to_vec()),
    }
}

/// Imports `bytes` as `is_mac` purpose through HPKE (`hpke`) or KWP;
/// returns the check value on success.
fn import(f: &WrapFixture, hpke: bool, as_mac: bool, bytes: &[u8]) -> Option<CheckValue> {
    let res = match (hpke, as_mac) {
        (true, true) => f
            .store
            .import_from_sender(KeySpec::<Mac>::new("in"), bytes, &f.inbox)
            .map(|(_, kcv)| kcv),
        (true, false) => f
            .store
            .import_from_sender(KeySpec::<Aead>::new("in"), bytes, &f.inbox)
            .map(|(_, kcv)| kcv),
        (false, true) => f
            .store
            .import_wrapped(KeySpec::<Mac>::new("in"), bytes, &f.kek)
            .map(|(_, kcv)| kcv),
        (false, false) => f
            .store
            .import_wrapped(KeySpec::<Aead>::new("in"), bytes, &f.kek)
            .map(|(_, kcv)| kcv),
    };
    res.ok()
}

/// Key transport and data-key unwrapping: mode byte, selector, then edits
/// (modes 0-4) or arbitrary bytes (mode 5).
pub fn wrapped_key(data: &[u8]) {
    let f = cached(&WRAP, 512, wrap_fixture);
    let [mode, sel, rest @ ..] = data else {
        return;
    };
    let sel = usize::from(*sel);
    match mode % 6 {
        // Transported keys: HPKE (0) or KWP (1), imported as the purpose
        // they were exported with or another (selector bit 1).
        m @ (0 | 1) => {
            let list = if m == 0 { &f.hpke } else { &f.kwp };
            let (orig, kcv, is_mac) = &list[sel % list.len()];
            let as_mac = if sel & 2 == 0 { *is_mac } else { !*is_mac };
            let mut bytes = orig.clone();
            edit_bytes(&mut bytes, rest);
            let got = import(&f, m == 0, as_mac, &bytes);
            match got {
                Some(k) => {
                    assert!(bytes == *orig, "an edited transported key imported");
                    assert!(as_mac == *is_mac, "a key imported under another purpose");
                    assert!(k == *kcv, "an import changed the check value");
                }
                None => assert!(
                    bytes != *orig || as_mac != *is_mac,
                    "a valid transported key did not import"
                ),
            }
        }
        2 => {
            let (wrapped, aad, pt) = &f.data_key;
            let mut w = wrapped.clone();
            let mut a = aad.clone();
            if sel & 1 == 1 {
                edit_bytes(&mut a, rest);
            } else {
                edit_bytes(&mut w, rest);
            }
            match f.store.unwrap_data_key(&w, &a) {
                Ok(k) => {
                    assert!(w == *wrapped && a == *aad, "an edited data key unwrapped");
                    assert_eq!(k.expose_secret(), &pt[..], "a data key unwrapped wrong");
                }
                Err(e) => assert!(
                    w != *wrapped || a != *aad,
                    "a valid data key did not unwrap: {e}"
                ),
            }
        }
        3 => {
            let (wm, wrapped, key) = &f.raw[sel % f.raw.len()];
            let mut w = wrapped.clone();
            edit_bytes(&mut w, rest);
            for m in [WrapMode::Kw, WrapMode::Kwp] {
                match f.kek.unwrap(m, &w) {
                    Ok(k) => {
                        assert!(w == *wrapped && m == *wm, "an edited key unwrapped ({m:?})");
                        assert_eq!(k.expose_secret(), &key[..], "unwrapped to another key");
                    }
                    Err(e) => assert!(
                        w != *wrapped || m != *wm,
                        "a valid wrapped key did not unwrap: {e}"
                    ),
                }
            }
        }
        4 => {
            use keylife::hpke::AeadId;
            let (enc, ct, aad, pt) = &f.sealed;
            let (mut e, mut c, mut a) = (enc.clone(), ct.clone(), aad.clone());
            match sel % 3 {
                0 => edit_bytes(&mut e, rest),
                1 => edit_bytes(&mut c, rest),
                _ => edit_bytes(&mut a, rest),
            }
            match f.inbox.hpke_open(&e, AeadId::Aes256Gcm, b"info", &a, &c) {
                Ok(got) => {
                    assert!(
                        e == *enc && c == *ct && a == *aad,
                        "an edited HPKE message opened"
                    );
                    assert_eq!(&got, pt, "HPKE opened to another plaintext");
                }
                Err(err) => assert!(
                    e != *enc || c != *ct || a != *aad,
                    "a valid HPKE message did not open: {err}"
                ),
            }
        }
        // Arbitrary bytes: only a fixture sample imports or unwraps (the
        // fixtures are the same in every process, so libFuzzer may rebuild
        // one from its dictionary), and then to the sample's key.
        _ => {
            for hpke in [true, false] {
                for as_mac in [true, false] {
                    let list = if hpke { &f.hpke } else { &f.kwp };
                    let sample = list
                        .iter()
                        .find(|(b, _, m)| b.as_slice() == rest && *m == as_mac);
                    match (import(&f, hpke, as_mac, rest), sample) {
                        (Some(kcv), Some((_, want, _))) => {
                            assert!(kcv == *want, "a sample imported with another check value");
                        }
                        (Some(_), None) => panic!("arbitrary bytes imported as a key"),
                        (None, _) => {}
                    }
                }
            }
            let (dk, dk_aad, dk_pt) = &f.data_key;
            if let Ok(k) = f.store.unwrap_data_key(rest, b"") {
                assert!(
                    rest == dk.as_slice() && dk_aad.is_empty(),
                    "arbitrary bytes unwrapped as a data key"
                );
                assert_eq!(k.expose_secret(), &dk_pt[..], "a data key unwrapped wrong");
            }
            #[cfg(feature = "hazmat")]
            for m in [WrapMode::Kw, WrapMode::Kwp] {
                if let Ok(k) = f.kek.unwrap(m, rest) {
                    let sample = f
                        .raw
                        .iter()
                        .find(|(wm, w, _)| *wm == m && w.as_slice() == rest);
                    match sample {
                        Some((_, _, key)) => {
                            assert_eq!(k.expose_secret(), &key[..], "unwrapped to another key")
                        }
                        None => panic!("arbitrary bytes unwrapped ({m:?})"),
                    }
                }
            }
            // (`WrappingKey::from_bytes` is hazmat.)
            #[cfg(feature = "hazmat")]
            if let Ok(w) = WrappingKey::from_bytes(rest) {
                // A fuzzer-chosen KEK: wrap and unwrap must agree.
                let k = &f.raw[0].2;
                let wrapped = must(w.wrap(WrapMode::Kwp, k), "wrap");
                let back = must(w.unwrap(WrapMode::Kwp, &wrapped), "unwrap");
                assert_eq!(back.expose_secret(), &k[..], "KWP round trip");
            }
        }
    }
}

// ----- backup -----

struct BackupFixture {
    bundle: Vec<u8>,
    shares: Vec<String>,
    ct: Vec<u8>,
    ids: Vec<KeyId>,
    /// A store for drills (they write only audit entries).
    drills: KeyStore,
}

/// A made backup: bundle, share texts, a ciphertext, the backed-up keys.
type Made = (Vec<u8>, Vec<String>, Vec<u8>, Vec<KeyId>);

const BACKUP_PT: &[u8] = b"restored plaintext";

thread_local! {
    static BACKUP: RefCell<Cached<BackupFixture>> = const { RefCell::new(Cached { value: None, runs: 0 }) };
    /// The backup itself is made once per process (its shares are random).
    static BACKUP_MADE: RefCell<Option<Made>> = const { RefCell::new(None) };
}

fn backup_fixture() -> BackupFixture {
    let (bundle, shares, ct, ids) = BACKUP_MADE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let store = fixture_store();
                let a = must(store.create_active(KeySpec::<Aead>::new("a")), "a");
                let ct = must(a.encrypt(BACKUP_PT, b"b"), "encrypt");
                let m = must(store.create(KeySpec::<Mac>::new("m")), "m");
                for c in ["carol", "dave", "erin"] {
                    let custodian = Principal::new(c, &[keylife::Role::Custodian]);
                    must(store.register_principal(&custodian), "custodian");
                }
                let b = must(
                    store.backup(&[a.id(), m.id()], 2, &["carol", "dave", "erin"]),
                    "backup",
                );
                let shares = b.shares.iter().map(|s| s.text.to_string()).collect();
                (b.bundle, shares, ct, vec![a.id(), m.id()])
            })
            .clone()
    });
    BackupFixture {
        bundle,
        shares,
        ct,
        ids,
        drills: must(KeyStore::in_memory(Principal::admin("fuzz")), "drill store"),
    }
}

/// A share text's meaning: its public fields and its value's base32
/// characters, after the parser's normalization (white space dropped,
/// ASCII upper case).
fn share_meaning(text: &str) -> Option<(keylife::backup::ShareInfo, String)> {
    let info = keylife::backup::inspect_share(text).ok()?;
    let norm: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let (body, _) = norm.rsplit_once('-')?;
    let value: String = body.split('-').skip(4).collect();
    Some((info, value))
}

/// Base32 (RFC 4648, no padding) of the first 5 bytes of SHA-256: the
/// share checksum, recomputed so that edits reach the share's fields.
fn share_checksum(body: &str) -> String {
    use sha2::{Digest, Sha256};
    const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let d = Sha256::digest(body.as_bytes());
    let mut n = 0u64;
    for b in &d[..5] {
        n = (n << 8) | u64::from(*b);
    }
    (0..8)
        .map(|i| char::from(B32[usize::try_from((n >> (35 - 5 * i)) & 31).unwrap_or(0)]))
        .collect()
}

/// Restores (drill; and a real restore into a fresh store when `real`)
/// and checks the result.
fn restore(f: &BackupFixture, bundle: &[u8], shares: &[&str], real: bool) -> bool {
    let drill = f.drills.restore_drill(bundle, shares);
    if let Ok(r) = &drill {
        assert_eq!(r.restored.len(), f.ids.len(), "a drill lost keys");
    }
    if real {
        let fresh = must(KeyStore::in_memory(Principal::admin("fuzz")), "fresh");
        let res = fresh.restore(bundle, shares);
        assert_eq!(
            res.is_ok(),
            drill.is_ok(),
            "a restore and its drill disagree: {:?} / {:?}",
            res.as_ref().err(),
            drill.as_ref().err()
        );
        if res.is_ok() {
            assert_eq!(
                must(fresh.decrypt(&f.ct, b"b"), "decrypt after restore"),
                BACKUP_PT,
                "a restored key decrypted wrong"
            );
            let _ = must(fresh.verify_integrity(), "integrity after restore");
        }
    }
    drill.is_ok()
}

/// Backups: mode byte, selector, then arbitrary bytes (mode 0), edits to
/// the bundle (1) or to one share (2; selector bit 2 recomputes the
/// checksum), or a share set chosen by the selector (3).
pub fn backup(data: &[u8]) {
    use keylife::backup::{inspect_bundle, inspect_share};
    let f = cached(&BACKUP, 256, backup_fixture);
    let [mode, sel, rest @ ..] = data else {
        return;
    };
    let sel = usize::from(*sel);
    let real = sel & 0x80 != 0;
    let shares: Vec<&str> = f.shares.iter().map(String::as_str).collect();
    match mode % 4 {
        0 => {
            if let Ok(info) = inspect_bundle(rest) {
                assert!(
                    info.threshold >= 2 && usize::from(info.threshold) <= info.custodians.len(),
                    "inspect_bundle accepted an impossible threshold"
                );
            }
            if let Ok(info) = inspect_share(&text(rest)) {
                assert!(
                    info.threshold >= 2 && info.threshold <= info.shares,
                    "inspect_share accepted an impossible threshold"
                );
                assert!(
                    info.x >= 1 && info.x <= info.shares,
                    "inspect_share accepted an impossible share number"
                );
            }
            assert!(
                !restore(&f, rest, &shares[..2], false),
                "arbitrary bytes restored"
            );
        }
        1 => {
            let mut bundle = f.bundle.clone();
            edit_bytes(&mut bundle, rest);
            let _ = inspect_bundle(&bundle);
            let which = [&shares[..2], &shares[1..], &shares[..]][sel % 3];
            let ok = restore(&f, &bundle, which, real);
            assert_eq!(
                ok,
                bundle == f.bundle,
                "a bundle {} restore",
                if ok {
                    "with edits did"
                } else {
                    "without edits did not"
                }
            );
        }
        2 => {
            let i = sel % 3;
            let mut t = f.shares[i].clone().into_bytes();
            edit_bytes(&mut t, rest);
            let mut t = text(&t);
            if sel & 4 != 0
                && let Some((body, _)) = t.rsplit_once('-')
            {
                let body = body.to_owned();
                // Over the normalized body, as the parser computes it.
                let norm: String = body
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                t = format!("{body}-{}", share_checksum(&norm));
            }
            let other = shares[(i + 1) % 3];
            let ok = restore(&f, &f.bundle, &[t.as_str(), other], real);
            let same =
                share_meaning(&t).is_some() && share_meaning(&t) == share_meaning(&f.shares[i]);
            assert_eq!(
                ok,
                same,
                "share {t:?} (custodian's: {:?}) {}",
                f.shares[i],
                if ok { "restored" } else { "did not restore" }
            );
        }
        _ => {
            // Up to 4 picks of shares 0..=2 (3: none), duplicates allowed.
            let picks: Vec<usize> = (0..4).map(|j| (sel >> (2 * j)) & 3).collect();
            let chosen: Vec<&str> = picks
                .iter()
                .filter(|&&p| p < 3)
                .map(|&p| shares[p])
                .collect();
            let mut distinct = picks.clone();
            distinct.retain(|&p| p < 3);
            let dup = (1..distinct.len()).any(|j| distinct[..j].contains(&distinct[j]));
            distinct.sort_unstable();
            distinct.dedup();
            let ok = restore(&f, &f.bundle, &chosen, real);
            assert_eq!(
                ok,
                distinct.len() >= 2 && !dup,
                "share set {picks:?} {}",
                if ok { "restored" } else { "did not restore" }
            );
        }
    }
}

// ----- governance_json -----

/// A fixed P-256 public key (the curve's generator, SEC 1): fixtures built
/// from it are the same in every process, so any input replays.
const FIXED_SEC1: [u8; 65] = [
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
    0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2,
    0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e,
    0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51,
    0xf5,
];

/// Valid, fixed JSON of the three governance documents an outside party
/// hands to keylife: an audit checkpoint, an approval request, an approver
/// registry.
fn governance_samples() -> [String; 3] {
    let checkpoint = format!(
        r#"{{"seq":42,"head_mac":"{}","at":1767225600000,"signer":"000102030405060708090a0b0c0d0e0f","signature":"{}"}}"#,
        "ab".repeat(32),
        "30".repeat(35)
    );
    let request = r#"{"request_id":"00112233445566778899aabbccddeeff","operation":"trust_destination","key_id":null,"parameters":{"destination":"partner","fingerprint":"ff"},"requester":"bob","expires_at":1767225600000}"#.to_owned();
    let pk = must(PublicKey::from_sec1(&FIXED_SEC1), "fixed public key");
    let der = must(pk.to_spki_der(), "fixed SPKI");
    let registry = format!(
        r#"{{"carol":"{}","dave":{:?}}}"#,
        <base64ct::Base64 as base64ct::Encoding>::encode_string(&der),
        must(pk.to_spki_pem(), "fixed PEM")
    );
    [checkpoint, request, registry]
}

/// `AuditCheckpoint::from_json`, `ApprovalRequest::from_json` and
/// `ApproverRegistry::from_json`, on arbitrary text (mode 0–2) and on
/// edited valid documents (mode 3–5). What parses round-trips through
/// `to_json` to the same value (the same canonical bytes for a request, the
/// same signed bytes for a checkpoint), and a checkpoint whose signature
/// was not made by the fixed key never verifies with it.
pub fn governance_json(data: &[u8]) {
    use keylife::approval::{ApprovalRequest, ApproverRegistry};
    use keylife::audit::AuditCheckpoint;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let kind = mode % 3;
    // An unedited sample must parse: the edit modes are not vacuous.
    let sample = mode % 6 >= 3 && rest.is_empty();
    let input = if mode % 6 < 3 {
        text(rest)
    } else {
        let mut bytes = governance_samples()[usize::from(kind)].clone().into_bytes();
        edit_bytes(&mut bytes, rest);
        text(&bytes)
    };
    match kind {
        0 => {
            if let Ok(cp) = AuditCheckpoint::from_json(&input) {
                let back = must(
                    AuditCheckpoint::from_json(&must(cp.to_json(), "checkpoint to_json")),
                    "checkpoint round trip",
                );
                assert_eq!(back.signed_bytes(), cp.signed_bytes(), "{input}");
                assert_eq!(back.signature, cp.signature, "{input}");
                let fixed = must(PublicKey::from_sec1(&FIXED_SEC1), "fixed public key");
                assert!(
                    cp.verify(&fixed).is_err(),
                    "a checkpoint verified under a key nobody holds: {input}"
                );
            } else {
                assert!(!sample, "the checkpoint sample does not parse: {input}");
            }
        }
        1 => {
            if let Ok(req) = ApprovalRequest::from_json(&input) {
                let back = must(
                    ApprovalRequest::from_json(&must(req.to_json(), "request to_json")),
                    "request round trip",
                );
                assert_eq!(back.canonical_bytes(), req.canonical_bytes(), "{input}");
            } else {
                assert!(!sample, "the request sample does not parse: {input}");
            }
        }
        _ => {
            if let Ok(reg) = ApproverRegistry::from_json(&input) {
                let json = must(reg.to_json(), "registry to_json");
                let back = must(ApproverRegistry::from_json(&json), "registry round trip");
                assert!(back.names().eq(reg.names()), "{input}");
                assert_eq!(must(back.to_json(), "registry to_json"), json, "{input}");
            } else {
                assert!(!sample, "the registry sample does not parse: {input}");
            }
        }
    }
}
