//! Instructions per 64-byte AES-256-GCM call, for callgrind
//! (`scripts/icount.sh`): noise on these shared machines moves criterion
//! times by more than the small-message differences, instruction counts
//! not at all.
//!
//! `icount <case> <n>` runs `<case>` n times after the same setup, so
//! (I(n2) - I(n1)) / (n2 - n1) is the cost of one call with setup and
//! process start cancelled out. Cases, each beside its raw twin:
//!
//! - `raw_rustcrypto_encrypt`: `aes_gcm::Aes256Gcm::encrypt` (allocates its
//!   output), counter nonce, 22-byte AAD; `keylife_rustcrypto_encrypt`:
//!   `Key::encrypt` on a store of the default provider;
//! - `raw_rustcrypto_encrypt_inplace`: `encrypt_inout_detached` into a
//!   reused buffer; `keylife_rustcrypto_encrypt_to`: `Key::encrypt_to`
//!   into a reused buffer;
//! - `raw_rustcrypto_decrypt`, `keylife_rustcrypto_decrypt` (`Key::decrypt`),
//!   `keylife_rustcrypto_store_decrypt` (`KeyStore::decrypt`);
//! - the same with `aws-lc` for the AWS-LC provider (`--features aws-lc`),
//!   whose raw twin is `aws_lc_rs::aead::LessSafeKey`;
//! - `rotate_at_<v>`: `Key::rotate` on an in-memory store, of a key that
//!   has `v` versions before the first counted call (issue 13: rotation
//!   flat in the number of versions; run with small n, e.g.
//!   `ICOUNT_N1=20 ICOUNT_N2=120`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use keylife::backend::MemoryBackend;
use keylife::key::CIPHERTEXT_OVERHEAD;
use keylife::purpose::Aead as AeadPurpose;
use keylife::{CryptoProvider, Kek, KeySpec, KeyStore, Principal, RawKek, StoreOptions};

const AAD: &[u8] = b"tenant=42;table=orders";
const PT: [u8; 64] = [0x5a; 64];

fn counter_nonce(n: &mut u64) -> [u8; 12] {
    *n += 1;
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_be_bytes());
    nonce
}

fn store(
    provider: CryptoProvider,
) -> (KeyStore, keylife::Key<AeadPurpose, keylife::state::Active>) {
    let mut options = StoreOptions::default();
    options.crypto_provider = provider;
    let store = KeyStore::builder(MemoryBackend::new())
        .options(options)
        .open(
            &RawKek::new(Kek::generate().unwrap()),
            Principal::admin("bench"),
        )
        .unwrap();
    let key = store
        .create_active(KeySpec::<AeadPurpose>::new("icount"))
        .unwrap();
    (store, key)
}

fn raw_rustcrypto(op: &str, n: u64) {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).unwrap();
    let key = Aes256Gcm::new_from_slice(&k).unwrap();
    let mut ctr = 0u64;
    match op {
        "encrypt" => {
            for _ in 0..n {
                let nonce = counter_nonce(&mut ctr);
                black_box(
                    key.encrypt(&nonce.into(), Payload { msg: &PT, aad: AAD })
                        .unwrap(),
                );
            }
        }
        "encrypt_inplace" => {
            let mut buf = [0u8; 64];
            for _ in 0..n {
                let nonce = counter_nonce(&mut ctr);
                buf.copy_from_slice(&PT);
                black_box(
                    key.encrypt_inout_detached(&nonce.into(), AAD, (&mut buf[..]).into())
                        .unwrap(),
                );
            }
        }
        "decrypt" => {
            let nonce = counter_nonce(&mut ctr);
            let ct = key
                .encrypt(&nonce.into(), Payload { msg: &PT, aad: AAD })
                .unwrap();
            for _ in 0..n {
                black_box(
                    key.decrypt(&nonce.into(), Payload { msg: &ct, aad: AAD })
                        .unwrap(),
                );
            }
        }
        _ => panic!("unknown raw_rustcrypto case {op}"),
    }
}

#[cfg(feature = "aws-lc")]
fn raw_aws_lc(op: &str, n: u64) {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).unwrap());
    let mut ctr = 0u64;
    let seal = |nonce: [u8; 12]| {
        let mut out = Vec::with_capacity(PT.len() + 16);
        out.extend_from_slice(&PT);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut out,
            )
            .unwrap();
        out.extend_from_slice(tag.as_ref());
        out
    };
    match op {
        "encrypt" => {
            for _ in 0..n {
                black_box(seal(counter_nonce(&mut ctr)));
            }
        }
        "encrypt_inplace" => {
            let mut buf = [0u8; 64];
            for _ in 0..n {
                buf.copy_from_slice(&PT);
                let nonce = Nonce::assume_unique_for_key(counter_nonce(&mut ctr));
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(AAD), &mut buf)
                    .unwrap();
                black_box(tag.as_ref());
            }
        }
        "decrypt" => {
            let nonce = counter_nonce(&mut ctr);
            let ct = seal(nonce);
            for _ in 0..n {
                let mut buf = ct.clone();
                black_box(
                    key.open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(AAD),
                        &mut buf,
                    )
                    .unwrap()
                    .len(),
                );
            }
        }
        _ => panic!("unknown raw_aws-lc case {op}"),
    }
}

fn keylife(provider: CryptoProvider, op: &str, n: u64) {
    let (store, key) = store(provider);
    match op {
        "encrypt" => {
            for _ in 0..n {
                black_box(key.encrypt(&PT, AAD).unwrap());
            }
        }
        "encrypt_to" => {
            let mut out = [0u8; 64 + CIPHERTEXT_OVERHEAD];
            for _ in 0..n {
                key.encrypt_to(&PT, AAD, &mut out).unwrap();
                black_box(&out);
            }
        }
        "decrypt" => {
            let ct = key.encrypt(&PT, AAD).unwrap();
            for _ in 0..n {
                black_box(key.decrypt(&ct, AAD).unwrap());
            }
        }
        "store_decrypt" => {
            let ct = key.encrypt(&PT, AAD).unwrap();
            for _ in 0..n {
                black_box(store.decrypt(&ct, AAD).unwrap());
            }
        }
        _ => panic!("unknown keylife case {op}"),
    }
}

fn rotate_at(versions: u32, n: u64) {
    let (_store, key) = store(CryptoProvider::default());
    for _ in 1..versions {
        key.rotate().unwrap();
    }
    for _ in 0..n {
        black_box(key.rotate().unwrap());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`: nothing to do then.
    let (Some(case), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        return;
    };
    if let Some(v) = case.strip_prefix("rotate_at_") {
        rotate_at(v.parse().unwrap(), n);
    } else if let Some(op) = case.strip_prefix("raw_rustcrypto_") {
        raw_rustcrypto(op, n);
    } else if let Some(op) = case.strip_prefix("keylife_rustcrypto_") {
        keylife(CryptoProvider::RustCrypto, op, n);
    } else if let Some(op) = case.strip_prefix("raw_aws-lc_") {
        #[cfg(feature = "aws-lc")]
        raw_aws_lc(op, n);
        #[cfg(not(feature = "aws-lc"))]
        panic!("{op}: build with --features aws-lc");
    } else if let Some(op) = case.strip_prefix("keylife_aws-lc_") {
        #[cfg(feature = "aws-lc")]
        keylife(CryptoProvider::AwsLc, op, n);
        #[cfg(not(feature = "aws-lc"))]
        panic!("{op}: build with --features aws-lc");
    } else {
        panic!("unknown case {case}");
    }
}
