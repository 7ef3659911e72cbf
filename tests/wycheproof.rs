//! Wycheproof conformance: every Wycheproof file that covers keylife's
//! algorithms runs through the PUBLIC API only, with no wrong result.
//!
//! One `#[test]` per file. Each case ends as passed, acceptable (Wycheproof
//! allows either outcome), unsupported (with a reason bucket, after checking
//! that keylife refuses the parameters cleanly) or failed. Every valid case
//! that passes also runs tampered twins (one bit flipped) that must fail.
//! Each test prints a one-line summary and fails on any wrong result, on a
//! count that does not add up to the file's number of tests, or when nothing
//! passed at all.
//!
//! AES-GCM, ECDSA and ECDH run once per crypto provider compiled in
//! ([`CryptoProvider::ALL`]: RustCrypto, and AWS-LC with `--features
//! aws-lc`), each on a store using that provider; HKDF and HMAC are the same
//! code under every provider and run once.
#![cfg(feature = "hazmat")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use keylife::backend::MemoryBackend;
use keylife::purpose::{Aead, Agreement, Derivation, Mac};
use keylife::state::Active;
use keylife::{
    CryptoProvider, ErrorKind, Key, KeyPurpose, KeySpec, KeyStore, Principal, PublicKey, RawKek,
    StoreOptions,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/wycheproof/");

/// keylife never exposes the raw ECDH secret; `agree` runs HKDF-SHA-256
/// over it with these parameters, and the test recomputes the same from
/// the vector's `shared`.
const AGREE_SALT: &[u8] = b"wycheproof-salt";
const AGREE_INFO: &[u8] = b"wycheproof-info";
const AGREE_LEN: usize = 32;

type TestResult = Result<(), String>;

// ----- JSON model -----

/// Hex-encoded bytes in the JSON.
#[derive(Debug, Clone)]
struct Hex(Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let s = String::deserialize(d)?;
        decode_hex(&s).map(Hex).map_err(serde::de::Error::custom)
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    fn nibble(c: u8) -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("bad hex digit {:?}", char::from(c))),
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(format!("odd-length hex string ({} digits)", b.len()));
    }
    b.chunks_exact(2)
        .map(|p| Ok((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Valid,
    Invalid,
    Acceptable,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Suite<G> {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<G>,
}

trait Group {
    fn len(&self) -> usize;
}

macro_rules! group {
    ($($g:ty),+) => {$(
        impl Group for $g {
            fn len(&self) -> usize {
                self.tests.len()
            }
        }
    )+};
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadGroup {
    key_size: usize,
    iv_size: usize,
    tag_size: usize,
    tests: Vec<AeadCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AeadCase {
    tc_id: u64,
    key: Hex,
    iv: Hex,
    aad: Hex,
    msg: Hex,
    ct: Hex,
    tag: Hex,
    result: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcdsaGroup {
    public_key: EcPublicKeyJson,
    public_key_der: Hex,
    sha: String,
    tests: Vec<SigCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcPublicKeyJson {
    curve: String,
    uncompressed: Hex,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigCase {
    tc_id: u64,
    msg: Hex,
    sig: Hex,
    result: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcdhGroup {
    curve: String,
    tests: Vec<EcdhCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcdhCase {
    tc_id: u64,
    public: Hex,
    private: Hex,
    shared: Hex,
    result: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfGroup {
    tests: Vec<HkdfCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HkdfCase {
    tc_id: u64,
    ikm: Hex,
    salt: Hex,
    info: Hex,
    size: usize,
    okm: Hex,
    result: Expect,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacGroup {
    key_size: usize,
    tag_size: usize,
    tests: Vec<MacCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MacCase {
    tc_id: u64,
    key: Hex,
    msg: Hex,
    tag: Hex,
    result: Expect,
}

group!(AeadGroup, EcdsaGroup, EcdhGroup, HkdfGroup, MacGroup);

fn load<G: DeserializeOwned + Group>(file: &str) -> Result<(Suite<G>, usize), String> {
    let path = format!("{VECTORS}{file}");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let suite: Suite<G> =
        serde_json::from_str(&text).map_err(|e| format!("parsing {path}: {e}"))?;
    let counted = suite.test_groups.iter().map(Group::len).sum();
    Ok((suite, counted))
}

// ----- outcomes and counting -----

enum Outcome {
    /// Behaved as the vector requires. For an "acceptable" vector,
    /// `accepted` says which of the two allowed outcomes keylife chose.
    Pass { accepted: bool },
    /// Parameters keylife does not support (and refused cleanly).
    Unsupported(String),
    /// Wrong result; the reason says what happened.
    Fail(String),
}

use Outcome::{Fail, Unsupported};

const PASS: Outcome = Outcome::Pass { accepted: true };
const PASS_REJECTED: Outcome = Outcome::Pass { accepted: false };

struct Tally {
    file: String,
    passed: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    unsupported: BTreeMap<String, usize>,
    failed: Vec<(u64, String)>,
    twins_rejected: usize,
}

impl Tally {
    /// A tally for `file`, run on `provider` (`None`: provider-independent).
    fn new(file: &str, provider: Option<CryptoProvider>) -> Tally {
        Tally {
            file: match provider {
                Some(p) => format!("{file} [{p}]"),
                None => file.to_owned(),
            },
            passed: 0,
            acceptable_accepted: 0,
            acceptable_rejected: 0,
            unsupported: BTreeMap::new(),
            failed: Vec::new(),
            twins_rejected: 0,
        }
    }

    /// Runs one case, catching panics (keylife must never panic on input).
    fn run(&mut self, tc_id: u64, expect: Expect, case: impl FnOnce(&mut usize) -> Outcome) {
        let mut twins = 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&mut twins)))
            .unwrap_or_else(|_| Fail("panicked".to_owned()));
        self.twins_rejected += twins;
        match (outcome, expect) {
            (Outcome::Pass { accepted }, Expect::Acceptable) => {
                if accepted {
                    self.acceptable_accepted += 1;
                } else {
                    self.acceptable_rejected += 1;
                }
            }
            (Outcome::Pass { .. }, _) => self.passed += 1,
            (Unsupported(reason), _) => *self.unsupported.entry(reason).or_default() += 1,
            (Fail(why), _) => self.failed.push((tc_id, format!("[{expect:?}] {why}"))),
        }
    }

    fn finish(self, declared: usize, counted: usize) -> TestResult {
        let acceptable = self.acceptable_accepted + self.acceptable_rejected;
        let unsupported: usize = self.unsupported.values().sum();
        let mut line = format!(
            "wycheproof {}: {} passed, {} acceptable (accepted: {}, rejected: {}), {} unsupported",
            self.file,
            self.passed,
            acceptable,
            self.acceptable_accepted,
            self.acceptable_rejected,
            unsupported
        );
        if !self.unsupported.is_empty() {
            // Largest bucket first.
            let mut buckets: Vec<(&String, &usize)> = self.unsupported.iter().collect();
            buckets.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let buckets: Vec<String> = buckets
                .into_iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            let _ = write!(line, " ({})", buckets.join(", "));
        }
        let _ = write!(
            line,
            ", {} failed; {} tampered twins rejected",
            self.failed.len(),
            self.twins_rejected
        );
        println!("{line}");
        for (tc, why) in &self.failed {
            println!("  FAILED {} tcId {tc}: {why}", self.file);
        }

        let total = self.passed + acceptable + unsupported + self.failed.len();
        assert_eq!(
            declared, counted,
            "{}: numberOfTests says {declared} but the groups hold {counted}",
            self.file
        );
        assert_eq!(
            total, counted,
            "{}: {total} cases accounted for, the file has {counted}",
            self.file
        );
        let ids: Vec<u64> = self.failed.iter().map(|(tc, _)| *tc).collect();
        assert!(
            self.failed.is_empty(),
            "{}: {} failed, tcIds {ids:?}:\n{}",
            self.file,
            ids.len(),
            self.failed
                .iter()
                .map(|(tc, why)| format!("  tcId {tc}: {why}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(self.passed > 0, "{}: no case passed", self.file);
        assert!(
            self.twins_rejected > 0,
            "{}: no tampered twin ran",
            self.file
        );
        Ok(())
    }
}

// ----- helpers -----

fn store(provider: CryptoProvider) -> Result<KeyStore, String> {
    let mut options = StoreOptions::default();
    options.crypto_provider = provider;
    let kek = RawKek::new(keylife::Kek::generate().map_err(|e| e.to_string())?);
    let store = KeyStore::builder(MemoryBackend::new())
        .options(options)
        .open(&kek, Principal::admin("wycheproof"))
        .map_err(|e| format!("in-memory store: {e}"))?;
    assert_eq!(store.crypto_provider(), provider);
    Ok(store)
}

fn import<P: KeyPurpose>(
    store: &KeyStore,
    tc_id: u64,
    material: &[u8],
) -> keylife::Result<Key<P, Active>> {
    store
        .import_raw(KeySpec::<P>::new(&format!("wycheproof-{tc_id}")), material)?
        .activate()
}

/// Checks that keylife refuses to import material of an unsupported size
/// with InvalidArgument, and buckets the case as unsupported.
fn refuse_import<P: KeyPurpose>(
    store: &KeyStore,
    tc_id: u64,
    material: &[u8],
    reason: String,
) -> Outcome {
    match store.import_raw(KeySpec::<P>::new(&format!("wycheproof-{tc_id}")), material) {
        Err(e) if e.kind() == ErrorKind::InvalidArgument => Unsupported(reason),
        Err(e) => Fail(format!(
            "{reason}: import refused with {:?} ({e}), expected InvalidArgument",
            e.kind()
        )),
        Ok(_) => Fail(format!(
            "{reason}: import_raw accepted {}-byte material it does not support",
            material.len()
        )),
    }
}

/// One bit flipped in the last `window` bytes (all of them when `window`
/// is 0 or larger than the input), chosen from `seed`. Never bit 0 of a
/// byte: flipping the lowest bit of a scalar can turn `s` into `n - s`
/// (an equally valid ECDSA signature) or `d` into `n - d` (the same ECDH
/// x-coordinate). An empty input becomes one byte.
fn tamper(bytes: &[u8], window: usize, seed: u64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        out.push(0);
        return out;
    }
    let len = out.len();
    let window = if window == 0 || window > len {
        len
    } else {
        window
    };
    let seed_usize = usize::try_from(seed).unwrap_or(0);
    let idx = len - 1 - seed_usize % window;
    out[idx] ^= 2u8 << (seed % 7);
    out
}

fn is_auth(r: &keylife::Result<impl Sized>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::AuthenticationFailed)
}

fn describe<T>(r: &keylife::Result<T>) -> String {
    match r {
        Ok(_) => "accepted".to_owned(),
        Err(e) => format!("{:?} ({e})", e.kind()),
    }
}

// ----- AES-GCM -----

#[test]
fn wycheproof_aes_gcm() -> TestResult {
    const FILE: &str = "aes_gcm_test.json";
    let (suite, counted) = load::<AeadGroup>(FILE)?;
    assert_eq!(suite.algorithm, "AES-GCM");
    for p in CryptoProvider::ALL {
        let store = store(*p)?;
        let mut tally = Tally::new(FILE, Some(*p));
        for g in &suite.test_groups {
            for t in &g.tests {
                tally.run(t.tc_id, t.result, |twins| aes_gcm_case(&store, g, t, twins));
            }
        }
        tally.finish(suite.number_of_tests, counted)?;
    }
    Ok(())
}

fn aes_gcm_case(store: &KeyStore, g: &AeadGroup, t: &AeadCase, twins: &mut usize) -> Outcome {
    if t.key.0.len() * 8 != g.key_size
        || t.iv.0.len() * 8 != g.iv_size
        || t.tag.0.len() * 8 != g.tag_size
    {
        return Fail("vector sizes disagree with its group".to_owned());
    }
    if g.key_size != 256 {
        return refuse_import::<Aead>(store, t.tc_id, &t.key.0, format!("key size {}", g.key_size));
    }
    let key = match import::<Aead>(store, t.tc_id, &t.key.0) {
        Ok(k) => k,
        Err(e) => return Fail(format!("importing the 256-bit key: {e}")),
    };
    let ct_tag = [t.ct.0.as_slice(), t.tag.0.as_slice()].concat();
    if g.tag_size != 128 {
        // keylife's raw API has no tag-length parameter: nothing to refuse.
        return Unsupported(format!("tag size {}", g.tag_size));
    }
    if g.iv_size != 96 {
        let reason = format!("iv size {}", g.iv_size);
        let dec = key.hazmat_decrypt_raw(&t.iv.0, &ct_tag, &t.aad.0);
        let enc = key.hazmat_encrypt_assume_unique_nonce(&t.iv.0, &t.msg.0, &t.aad.0);
        for (what, r) in [("decrypt", dec), ("encrypt", enc)] {
            if !matches!(&r, Err(e) if e.kind() == ErrorKind::Unsupported) {
                return Fail(format!(
                    "{reason}: {what} gave {}, expected Unsupported",
                    describe(&r)
                ));
            }
        }
        return Unsupported(reason);
    }

    let dec = key.hazmat_decrypt_raw(&t.iv.0, &ct_tag, &t.aad.0);
    match t.result {
        Expect::Invalid => {
            return if is_auth(&dec) {
                PASS
            } else {
                Fail(format!(
                    "decrypt gave {}, expected AuthenticationFailed",
                    describe(&dec)
                ))
            };
        }
        Expect::Acceptable => {
            return match dec {
                Ok(pt) if pt == t.msg.0 => PASS,
                Ok(_) => Fail("accepted but decrypted to the wrong plaintext".to_owned()),
                Err(_) => PASS_REJECTED,
            };
        }
        Expect::Valid => {}
    }
    match dec {
        Ok(pt) if pt == t.msg.0 => {}
        Ok(_) => return Fail("decrypted to the wrong plaintext".to_owned()),
        Err(e) => return Fail(format!("decrypt failed: {e}")),
    }
    match key.hazmat_encrypt_assume_unique_nonce(&t.iv.0, &t.msg.0, &t.aad.0) {
        Ok(out) if out == ct_tag => {}
        Ok(_) => return Fail("encrypt produced a different ct||tag".to_owned()),
        Err(e) => return Fail(format!("encrypt failed: {e}")),
    }
    // Tampered twins: a bit of the tag, and a bit of the ciphertext (or of
    // the AAD when the ciphertext is empty).
    let tag_twin = [t.ct.0.as_slice(), &tamper(&t.tag.0, 0, t.tc_id)].concat();
    let twin_inputs = if t.ct.0.is_empty() {
        [
            ("tag", tag_twin, t.aad.0.clone()),
            ("aad", ct_tag.clone(), tamper(&t.aad.0, 0, t.tc_id)),
        ]
    } else {
        [
            ("tag", tag_twin, t.aad.0.clone()),
            (
                "ciphertext",
                [tamper(&t.ct.0, 0, t.tc_id).as_slice(), &t.tag.0].concat(),
                t.aad.0.clone(),
            ),
        ]
    };
    for (what, ct, aad) in twin_inputs {
        let r = key.hazmat_decrypt_raw(&t.iv.0, &ct, &aad);
        if !is_auth(&r) {
            return Fail(format!(
                "tampered twin ({what} bit flipped): decrypt gave {}, expected AuthenticationFailed",
                describe(&r)
            ));
        }
        *twins += 1;
    }
    PASS
}

// ----- ECDSA -----

#[test]
fn wycheproof_ecdsa_secp256r1_sha256_der() -> TestResult {
    ecdsa_file("ecdsa_secp256r1_sha256_test.json", false)
}

#[test]
fn wycheproof_ecdsa_secp256r1_sha256_p1363() -> TestResult {
    ecdsa_file("ecdsa_secp256r1_sha256_p1363_test.json", true)
}

fn ecdsa_file(file: &'static str, fixed: bool) -> TestResult {
    let (suite, counted) = load::<EcdsaGroup>(file)?;
    assert_eq!(suite.algorithm, "ECDSA");
    for p in CryptoProvider::ALL {
        ecdsa_suite(&suite, file, *p, fixed, counted)?;
    }
    Ok(())
}

fn ecdsa_suite(
    suite: &Suite<EcdsaGroup>,
    file: &str,
    provider: CryptoProvider,
    fixed: bool,
    counted: usize,
) -> TestResult {
    let mut tally = Tally::new(file, Some(provider));
    for g in &suite.test_groups {
        // The group's key, parsed both ways; both must agree.
        let pk = if g.public_key.curve != "secp256r1" {
            Err(Unsupported(format!("curve {}", g.public_key.curve)))
        } else if g.sha != "SHA-256" {
            Err(Unsupported(format!("hash {}", g.sha)))
        } else {
            match (
                PublicKey::from_sec1(&g.public_key.uncompressed.0),
                PublicKey::from_spki_der(&g.public_key_der.0),
            ) {
                (Ok(a), Ok(b)) if a == b => Ok(a.with_provider(provider)),
                (Ok(_), Ok(_)) => Err(Fail(
                    "SEC1 and SPKI encodings of the group key parse to different keys".to_owned(),
                )),
                (a, b) => Err(Fail(format!(
                    "group public key refused: from_sec1 {}, from_spki_der {}",
                    describe(&a),
                    describe(&b)
                ))),
            }
        };
        for t in &g.tests {
            tally.run(t.tc_id, t.result, |twins| match &pk {
                Ok(pk) => ecdsa_case(pk, fixed, t, twins),
                Err(Unsupported(r)) => Unsupported(r.clone()),
                Err(Fail(r)) => Fail(r.clone()),
                Err(Outcome::Pass { .. }) => Fail("unreachable".to_owned()),
            });
        }
    }
    tally.finish(suite.number_of_tests, counted)
}

fn ecdsa_case(pk: &PublicKey, fixed: bool, t: &SigCase, twins: &mut usize) -> Outcome {
    let verify = |msg: &[u8], sig: &[u8]| {
        if fixed {
            pk.verify_fixed(msg, sig)
        } else {
            pk.verify(msg, sig)
        }
    };
    let r = verify(&t.msg.0, &t.sig.0);
    match t.result {
        Expect::Invalid => {
            if is_auth(&r) {
                PASS
            } else {
                Fail(format!(
                    "verify gave {}, expected AuthenticationFailed",
                    describe(&r)
                ))
            }
        }
        Expect::Acceptable => {
            if r.is_ok() {
                PASS
            } else {
                PASS_REJECTED
            }
        }
        Expect::Valid => {
            if let Err(e) = r {
                return Fail(format!("valid signature refused: {:?} ({e})", e.kind()));
            }
            let twin_inputs = [
                ("message", tamper(&t.msg.0, 0, t.tc_id), t.sig.0.clone()),
                ("signature", t.msg.0.clone(), tamper(&t.sig.0, 0, t.tc_id)),
            ];
            for (what, msg, sig) in twin_inputs {
                let r = verify(&msg, &sig);
                if !is_auth(&r) {
                    return Fail(format!(
                        "tampered twin ({what} bit flipped): verify gave {}, expected AuthenticationFailed",
                        describe(&r)
                    ));
                }
                *twins += 1;
            }
            PASS
        }
    }
}

// ----- ECDH -----

#[test]
fn wycheproof_ecdh_secp256r1_spki() -> TestResult {
    ecdh_file("ecdh_secp256r1_test.json", PublicKey::from_spki_der)
}

#[test]
fn wycheproof_ecdh_secp256r1_ecpoint() -> TestResult {
    ecdh_file("ecdh_secp256r1_ecpoint_test.json", PublicKey::from_sec1)
}

fn ecdh_file(file: &'static str, parse: fn(&[u8]) -> keylife::Result<PublicKey>) -> TestResult {
    let (suite, counted) = load::<EcdhGroup>(file)?;
    assert_eq!(suite.algorithm, "ECDH");
    for p in CryptoProvider::ALL {
        let store = store(*p)?;
        let mut tally = Tally::new(file, Some(*p));
        for g in &suite.test_groups {
            for t in &g.tests {
                tally.run(t.tc_id, t.result, |twins| {
                    if g.curve == "secp256r1" {
                        ecdh_case(&store, parse, t, twins)
                    } else {
                        Unsupported(format!("curve {}", g.curve))
                    }
                });
            }
        }
        tally.finish(suite.number_of_tests, counted)?;
    }
    Ok(())
}

/// Wycheproof private keys are big-endian integers, sometimes with a
/// leading 00 or shorter than 32 bytes: normalise to exactly 32.
fn scalar32(private: &[u8]) -> Option<[u8; 32]> {
    let first = private
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(private.len());
    let digits = &private[first..];
    if digits.len() > 32 {
        return None;
    }
    let mut out = [0u8; 32];
    out[32 - digits.len()..].copy_from_slice(digits);
    Some(out)
}

fn expected_agreement(shared: &[u8]) -> Result<[u8; AGREE_LEN], String> {
    let mut out = [0u8; AGREE_LEN];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(AGREE_SALT), shared)
        .expand(AGREE_INFO, &mut out)
        .map_err(|e| format!("reference HKDF: {e}"))?;
    Ok(out)
}

fn agree(
    key: &Key<Agreement, Active>,
    parse: fn(&[u8]) -> keylife::Result<PublicKey>,
    public: &[u8],
) -> keylife::Result<Vec<u8>> {
    let peer = parse(public)?;
    key.agree(&peer, AGREE_SALT, AGREE_INFO, AGREE_LEN)
        .map(|s| s.expose_secret().to_vec())
}

fn ecdh_case(
    store: &KeyStore,
    parse: fn(&[u8]) -> keylife::Result<PublicKey>,
    t: &EcdhCase,
    twins: &mut usize,
) -> Outcome {
    let Some(d) = scalar32(&t.private.0) else {
        return Fail(format!(
            "private key longer than 32 bytes ({})",
            t.private.0.len()
        ));
    };
    // Every Wycheproof private key is a valid scalar: refusing it is a
    // failure whatever the case's result (an invalid case must fail for
    // its public key, not by accident).
    let key = match import::<Agreement>(store, t.tc_id, &d) {
        Ok(k) => k,
        Err(e) => return Fail(format!("importing the private key: {e}")),
    };
    let expected = match expected_agreement(&t.shared.0) {
        Ok(x) => x,
        Err(e) => return Fail(e),
    };
    let r = agree(&key, parse, &t.public.0);
    match t.result {
        Expect::Invalid => match r {
            Err(_) => PASS,
            Ok(out) => Fail(format!(
                "invalid public key accepted; agree succeeded{}",
                if !t.shared.0.is_empty() && out == expected {
                    " (with the vector's shared secret)"
                } else {
                    ""
                }
            )),
        },
        Expect::Acceptable => match r {
            Ok(out) if out == expected => PASS,
            Ok(_) => Fail("accepted but derived from the wrong shared secret".to_owned()),
            Err(_) => PASS_REJECTED,
        },
        Expect::Valid => {
            match r {
                Ok(out) if out == expected => {}
                Ok(_) => return Fail("derived from the wrong shared secret".to_owned()),
                Err(e) => {
                    return Fail(format!("valid case refused: {:?} ({e})", e.kind()));
                }
            }
            // Twin 1: a bit of the peer's last coordinate flipped (the
            // point leaves the curve, or is a different point).
            let bad_public = tamper(&t.public.0, 32, t.tc_id);
            let r = agree(&key, parse, &bad_public);
            if matches!(&r, Ok(out) if *out == expected) {
                return Fail(
                    "tampered twin (public key bit flipped) derived the same secret".to_owned(),
                );
            }
            *twins += 1;
            // Twin 2: a bit of our private scalar flipped.
            let bad_d = tamper(&d, 32, t.tc_id);
            if let Ok(k) = import::<Agreement>(store, t.tc_id, &bad_d) {
                let r = agree(&k, parse, &t.public.0);
                if matches!(&r, Ok(out) if *out == expected) {
                    return Fail(
                        "tampered twin (private key bit flipped) derived the same secret"
                            .to_owned(),
                    );
                }
            }
            *twins += 1;
            PASS
        }
    }
}

// ----- HKDF -----

#[test]
fn wycheproof_hkdf_sha256() -> TestResult {
    const FILE: &str = "hkdf_sha256_test.json";
    let (suite, counted) = load::<HkdfGroup>(FILE)?;
    assert_eq!(suite.algorithm, "HKDF-SHA-256");
    let store = store(CryptoProvider::get_default())?;
    let mut tally = Tally::new(FILE, None);
    for g in &suite.test_groups {
        for t in &g.tests {
            tally.run(t.tc_id, t.result, |twins| hkdf_case(&store, t, twins));
        }
    }
    tally.finish(suite.number_of_tests, counted)
}

fn hkdf_case(store: &KeyStore, t: &HkdfCase, twins: &mut usize) -> Outcome {
    let n = t.ikm.0.len();
    if n < 16 {
        return refuse_import::<Derivation>(store, t.tc_id, &t.ikm.0, "ikm < 16 bytes".to_owned());
    }
    if n > 1024 {
        return refuse_import::<Derivation>(
            store,
            t.tc_id,
            &t.ikm.0,
            "ikm > 1024 bytes".to_owned(),
        );
    }
    let key = match import::<Derivation>(store, t.tc_id, &t.ikm.0) {
        Ok(k) => k,
        Err(e) => return Fail(format!("importing the IKM: {e}")),
    };
    let derive = |k: &Key<Derivation, Active>| {
        k.derive(&t.salt.0, &t.info.0, t.size)
            .map(|s| s.expose_secret().to_vec())
    };
    let r = derive(&key);
    match t.result {
        Expect::Invalid => match r {
            Err(_) => PASS,
            Ok(out) => Fail(format!(
                "derive of size {} succeeded ({} bytes)",
                t.size,
                out.len()
            )),
        },
        Expect::Acceptable => match r {
            Ok(out) if out == t.okm.0 => PASS,
            Ok(_) => Fail("accepted but wrong output".to_owned()),
            Err(_) => PASS_REJECTED,
        },
        Expect::Valid => {
            match r {
                Ok(out) if out == t.okm.0 => {}
                Ok(_) => return Fail("wrong output keying material".to_owned()),
                Err(e) => return Fail(format!("derive failed: {e}")),
            }
            // Twin: a bit of the IKM flipped must change the output.
            let twin = match import::<Derivation>(store, t.tc_id, &tamper(&t.ikm.0, 0, t.tc_id)) {
                Ok(k) => k,
                Err(e) => return Fail(format!("importing the tampered IKM: {e}")),
            };
            match derive(&twin) {
                Ok(out) if out == t.okm.0 => {
                    return Fail("tampered twin (IKM bit flipped) gave the same OKM".to_owned());
                }
                Ok(_) => {}
                Err(e) => return Fail(format!("tampered twin: derive failed: {e}")),
            }
            *twins += 1;
            PASS
        }
    }
}

// ----- HMAC -----

#[test]
fn wycheproof_hmac_sha256() -> TestResult {
    const FILE: &str = "hmac_sha256_test.json";
    let (suite, counted) = load::<MacGroup>(FILE)?;
    assert_eq!(suite.algorithm, "HMACSHA256");
    let store = store(CryptoProvider::get_default())?;
    let mut tally = Tally::new(FILE, None);
    for g in &suite.test_groups {
        for t in &g.tests {
            tally.run(t.tc_id, t.result, |twins| hmac_case(&store, g, t, twins));
        }
    }
    tally.finish(suite.number_of_tests, counted)
}

fn hmac_case(store: &KeyStore, g: &MacGroup, t: &MacCase, twins: &mut usize) -> Outcome {
    if t.key.0.len() * 8 != g.key_size || t.tag.0.len() * 8 != g.tag_size {
        return Fail("vector sizes disagree with its group".to_owned());
    }
    if t.key.0.len() < 16 {
        return refuse_import::<Mac>(store, t.tc_id, &t.key.0, "hmac key < 16 bytes".to_owned());
    }
    if t.key.0.len() > 1024 {
        return refuse_import::<Mac>(store, t.tc_id, &t.key.0, "hmac key > 1024 bytes".to_owned());
    }
    let key = match import::<Mac>(store, t.tc_id, &t.key.0) {
        Ok(k) => k,
        Err(e) => return Fail(format!("importing the key: {e}")),
    };
    if g.tag_size != 256 {
        // keylife verifies full 32-byte tags only: a truncated tag must be
        // refused, and a valid one must still be a prefix of `mac`.
        let reason = format!("truncated tag {}", g.tag_size);
        let r = key.verify_mac(&t.msg.0, &t.tag.0);
        if !is_auth(&r) {
            return Fail(format!(
                "{reason}: verify_mac gave {}, expected AuthenticationFailed",
                describe(&r)
            ));
        }
        if t.result == Expect::Valid {
            match key.mac(&t.msg.0) {
                Ok(full) if full.starts_with(&t.tag.0) => {}
                Ok(_) => {
                    return Fail(format!(
                        "{reason}: the valid truncated tag is not a prefix of mac()"
                    ));
                }
                Err(e) => return Fail(format!("mac failed: {e}")),
            }
        }
        return Unsupported(reason);
    }
    let r = key.verify_mac(&t.msg.0, &t.tag.0);
    match t.result {
        Expect::Invalid => {
            if is_auth(&r) {
                PASS
            } else {
                Fail(format!(
                    "verify_mac gave {}, expected AuthenticationFailed",
                    describe(&r)
                ))
            }
        }
        Expect::Acceptable => {
            if r.is_ok() {
                PASS
            } else {
                PASS_REJECTED
            }
        }
        Expect::Valid => {
            if let Err(e) = r {
                return Fail(format!("valid tag refused: {e}"));
            }
            match key.mac(&t.msg.0) {
                Ok(tag) if tag.as_slice() == t.tag.0 => {}
                Ok(_) => return Fail("mac() computed a different tag".to_owned()),
                Err(e) => return Fail(format!("mac failed: {e}")),
            }
            let twin_inputs = [
                ("tag", t.msg.0.clone(), tamper(&t.tag.0, 0, t.tc_id)),
                ("message", tamper(&t.msg.0, 0, t.tc_id), t.tag.0.clone()),
            ];
            for (what, msg, tag) in twin_inputs {
                let r = key.verify_mac(&msg, &tag);
                if !is_auth(&r) {
                    return Fail(format!(
                        "tampered twin ({what} bit flipped): verify_mac gave {}, expected AuthenticationFailed",
                        describe(&r)
                    ));
                }
                *twins += 1;
            }
            PASS
        }
    }
}
