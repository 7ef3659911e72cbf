//! Wycheproof conformance for AES key wrap: every case of
//! `aes_wrap_test.json` (RFC 3394) and `aes_kwp_test.json` (RFC 5649)
//! through the public API (`keylife::wrap::WrappingKey`).
//!
//! Each case ends as passed, acceptable (either outcome allowed), or
//! failed; keylife supports every KEK size in the files (128, 192, 256
//! bits), so nothing is unsupported. Valid cases must wrap to exactly `ct`
//! and unwrap back to `msg`; each also runs tampered twins (one bit flipped
//! in the wrapped key, and the right wrapped key under a flipped KEK) that
//! must be refused as AuthenticationFailed. Invalid cases must be refused
//! by unwrap and, where `msg` is a length the mode cannot wrap, by wrap.
//! Each test prints one summary line and fails on any wrong result or a
//! count that does not add up.
#![cfg(feature = "hazmat")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use keylife::ErrorKind;
use keylife::wrap::{WrapMode, WrappingKey};
use serde::{Deserialize, Deserializer};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/wycheproof/");

#[derive(Debug, Clone)]
struct Hex(Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let s = String::deserialize(d)?;
        decode_hex(&s).map(Hex).map_err(serde::de::Error::custom)
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(format!("odd-length hex string ({} digits)", b.len()));
    }
    b.chunks_exact(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16).ok_or("bad hex digit")?;
            let lo = char::from(p[1]).to_digit(16).ok_or("bad hex digit")?;
            u8::try_from(hi * 16 + lo).map_err(|e| e.to_string())
        })
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
struct Suite {
    algorithm: String,
    number_of_tests: usize,
    test_groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    key_size: usize,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    tc_id: u64,
    key: Hex,
    msg: Hex,
    ct: Hex,
    result: Expect,
    flags: Vec<String>,
}

enum Outcome {
    Pass { accepted: bool },
    Fail(String),
}

#[derive(Default)]
struct Tally {
    passed: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    unsupported: BTreeMap<String, usize>,
    failed: Vec<(u64, String)>,
    twins: usize,
    per_kek: BTreeMap<usize, usize>,
}

fn is_auth<T>(r: &keylife::Result<T>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::AuthenticationFailed)
}

fn describe<T>(r: &keylife::Result<T>) -> String {
    match r {
        Ok(_) => "accepted".to_owned(),
        Err(e) => format!("{:?} ({e})", e.kind()),
    }
}

fn flip(bytes: &[u8], seed: u64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len();
    let i = usize::try_from(seed).unwrap_or(0) % len;
    out[i] ^= 1u8 << (seed % 8);
    out
}

fn run_case(mode: WrapMode, c: &Case, twins: &mut usize) -> Outcome {
    let kek = match WrappingKey::from_bytes(&c.key.0) {
        Ok(k) => k,
        Err(e) => return Outcome::Fail(format!("KEK refused: {e}")),
    };
    let unwrapped = kek.unwrap(mode, &c.ct.0);
    let unwrap_ok = matches!(&unwrapped, Ok(p) if p.expose_secret() == c.msg.0.as_slice());
    match c.result {
        Expect::Valid | Expect::Acceptable => {
            let wrapped = kek.wrap(mode, &c.msg.0);
            let wrap_ok = matches!(&wrapped, Ok(w) if *w == c.ct.0);
            if wrap_ok && unwrap_ok {
                // Tampered twins: each must be refused as an auth failure.
                for seed in [c.tc_id, c.tc_id * 7 + 3] {
                    let bad = flip(&c.ct.0, seed);
                    let r = kek.unwrap(mode, &bad);
                    if !is_auth(&r) {
                        return Outcome::Fail(format!(
                            "tampered twin (seed {seed}) gave {}",
                            describe(&r)
                        ));
                    }
                    *twins += 1;
                }
                let other = match WrappingKey::from_bytes(&flip(&c.key.0, c.tc_id)) {
                    Ok(k) => k,
                    Err(e) => return Outcome::Fail(format!("flipped KEK refused: {e}")),
                };
                let r = other.unwrap(mode, &c.ct.0);
                if !is_auth(&r) {
                    return Outcome::Fail(format!("wrong KEK gave {}", describe(&r)));
                }
                *twins += 1;
                return Outcome::Pass { accepted: true };
            }
            let both_refused = wrapped.is_err() && unwrapped.is_err();
            if c.result == Expect::Acceptable && both_refused {
                return Outcome::Pass { accepted: false };
            }
            Outcome::Fail(format!(
                "wrap: {} (matches ct: {wrap_ok}); unwrap: {} (matches msg: {unwrap_ok})",
                describe(&wrapped),
                describe(&unwrapped)
            ))
        }
        Expect::Invalid => {
            if unwrapped.is_ok() {
                return Outcome::Fail("unwrap accepted an invalid wrapped key".to_owned());
            }
            // Inputs the mode cannot wrap (empty, not a multiple of 8 for KW)
            // must also be refused by wrap, with InvalidArgument.
            let unwrappable = match mode {
                WrapMode::Kw => c.msg.0.len() < 16 || !c.msg.0.len().is_multiple_of(8),
                WrapMode::Kwp => c.msg.0.is_empty(),
            };
            if unwrappable {
                let w = kek.wrap(mode, &c.msg.0);
                if !matches!(&w, Err(e) if e.kind() == ErrorKind::InvalidArgument) {
                    return Outcome::Fail(format!(
                        "wrap of a {}-byte input gave {}",
                        c.msg.0.len(),
                        describe(&w)
                    ));
                }
            }
            Outcome::Pass { accepted: false }
        }
    }
}

fn run_file(file: &str, mode: WrapMode, algorithm: &str) {
    let path = format!("{VECTORS}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let suite: Suite =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    assert_eq!(suite.algorithm, algorithm);
    let mut t = Tally::default();
    let mut counted = 0;
    for g in &suite.test_groups {
        for c in &g.tests {
            counted += 1;
            assert_eq!(c.key.0.len() * 8, g.key_size, "tcId {}", c.tc_id);
            let mut twins = 0;
            let outcome = catch_unwind(AssertUnwindSafe(|| run_case(mode, c, &mut twins)))
                .unwrap_or_else(|_| Outcome::Fail("panicked".to_owned()));
            t.twins += twins;
            match (outcome, c.result) {
                (Outcome::Pass { accepted }, Expect::Acceptable) => {
                    if accepted {
                        t.acceptable_accepted += 1;
                    } else {
                        t.acceptable_rejected += 1;
                    }
                    *t.per_kek.entry(g.key_size).or_default() += 1;
                }
                (Outcome::Pass { .. }, _) => {
                    t.passed += 1;
                    *t.per_kek.entry(g.key_size).or_default() += 1;
                }
                (Outcome::Fail(why), e) => t
                    .failed
                    .push((c.tc_id, format!("[{e:?}] {:?} {why}", c.flags))),
            }
        }
    }
    let acceptable = t.acceptable_accepted + t.acceptable_rejected;
    let unsupported: usize = t.unsupported.values().sum();
    println!(
        "wycheproof {file}: {} passed, {acceptable} acceptable (accepted: {}, rejected: {}), \
         {unsupported} unsupported, {} failed; {} tampered twins rejected; by KEK bits {:?}",
        t.passed,
        t.acceptable_accepted,
        t.acceptable_rejected,
        t.failed.len(),
        t.twins,
        t.per_kek
    );
    for (tc, why) in &t.failed {
        println!("  FAILED {file} tcId {tc}: {why}");
    }
    assert_eq!(suite.number_of_tests, counted, "{file}: numberOfTests");
    assert_eq!(
        t.passed + acceptable + unsupported + t.failed.len(),
        counted,
        "{file}: cases not accounted for"
    );
    assert!(t.failed.is_empty(), "{file}: {} failed", t.failed.len());
    assert!(t.passed > 0 && t.twins > 0, "{file}: nothing ran");
}

#[test]
fn aes_wrap_rfc3394() {
    run_file("aes_wrap_test.json", WrapMode::Kw, "AES-WRAP");
}

#[test]
fn aes_kwp_rfc5649() {
    run_file("aes_kwp_test.json", WrapMode::Kwp, "AES-KWP");
}
