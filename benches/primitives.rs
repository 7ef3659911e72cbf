//! Signatures, MACs and derivation through a store handle, beside the raw
//! RustCrypto call in the same run (`raw_*` vs `keylife` in each group).
//!
//! Groups:
//! - `ecdsa_sign/{raw,keylife}_{rustcrypto,aws-lc}`: ECDSA P-256/SHA-256,
//!   DER output, 64 B (`raw_rustcrypto`: `p256`; `raw_aws-lc`: `aws-lc-rs`
//!   `EcdsaKeyPair`, with `--features aws-lc`);
//! - `ecdsa_verify/…`: the same pairs, DER signature, 64 B;
//! - `hmac/{raw,keylife}_rustcrypto/<bytes>`: HMAC-SHA-256 (keyed per call, as
//!   keylife does), 64 B and 1 KiB;
//! - `hkdf/{raw,keylife}_rustcrypto`: HKDF-SHA-256, 32-byte output.

// Benchmark setup either works or the run is meaningless: panicking on a
// failed setup is right here, unlike in library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac as _};
use keylife::backend::MemoryBackend;
use keylife::purpose::{Derivation, Mac, Signing};
use keylife::{CryptoProvider, Kek, KeySpec, KeyStore, Principal, RawKek, StoreOptions};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use sha2::Sha256;

const MSG: &[u8; 64] = &[0x42; 64];

fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).unwrap();
    k
}

fn store() -> KeyStore {
    KeyStore::in_memory(Principal::admin("bench")).unwrap()
}

fn store_on(provider: CryptoProvider) -> KeyStore {
    let mut options = StoreOptions::default();
    options.crypto_provider = provider;
    KeyStore::builder(MemoryBackend::new())
        .options(options)
        .open(
            &RawKek::new(Kek::generate().unwrap()),
            Principal::admin("bench"),
        )
        .unwrap()
}

fn ecdsa(c: &mut Criterion) {
    let keys: Vec<_> = CryptoProvider::ALL
        .iter()
        .map(|p| {
            let store = store_on(*p);
            let key = store
                .create_active(KeySpec::<Signing>::new("bench-sign"))
                .unwrap();
            (*p, store, key)
        })
        .collect();
    let raw = loop {
        if let Ok(k) = SigningKey::from_slice(&random32()) {
            break k;
        }
    };
    let raw_vk = VerifyingKey::from(&raw);
    #[cfg(feature = "aws-lc")]
    let (lc_pair, lc_public) = {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        (pair, public)
    };

    let mut g = c.benchmark_group("ecdsa_sign");
    g.bench_function("raw_rustcrypto", |b| {
        b.iter(|| {
            let sig: DerSignature = raw.sign(black_box(MSG));
            sig.as_bytes().to_vec()
        });
    });
    #[cfg(feature = "aws-lc")]
    {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        g.bench_function("raw_aws-lc", |b| {
            b.iter(|| {
                lc_pair
                    .sign(&rng, black_box(MSG))
                    .unwrap()
                    .as_ref()
                    .to_vec()
            });
        });
    }
    for (p, _, key) in &keys {
        g.bench_function(format!("keylife_{p}"), |b| {
            b.iter(|| key.sign(black_box(MSG)).unwrap());
        });
    }
    g.finish();

    let raw_sig: DerSignature = raw.sign(MSG);
    let mut g = c.benchmark_group("ecdsa_verify");
    g.bench_function("raw_rustcrypto", |b| {
        b.iter(|| {
            let s = DerSignature::from_bytes(black_box(raw_sig.as_bytes())).unwrap();
            raw_vk.verify(black_box(MSG), &s).unwrap();
        });
    });
    #[cfg(feature = "aws-lc")]
    {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = lc_pair.sign(&rng, MSG).unwrap();
        let pk = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &lc_public).unwrap();
        g.bench_function("raw_aws-lc", |b| {
            b.iter(|| {
                pk.verify_sig(black_box(MSG), black_box(sig.as_ref()))
                    .unwrap()
            });
        });
    }
    for (p, _, key) in &keys {
        let sig = key.sign(MSG).unwrap();
        g.bench_function(format!("keylife_{p}"), |b| {
            b.iter(|| key.verify(black_box(MSG), black_box(&sig)).unwrap());
        });
    }
    g.finish();
}

fn hmac(c: &mut Criterion) {
    let store = store();
    let key = store
        .create_active(KeySpec::<Mac>::new("bench-mac"))
        .unwrap();
    let raw_key = random32();
    let mut g = c.benchmark_group("hmac");
    for size in [64usize, 1024] {
        let msg = vec![0x42u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("raw_rustcrypto", size), &msg, |b, msg| {
            b.iter(|| {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&raw_key).unwrap();
                m.update(black_box(msg));
                m.finalize().into_bytes()
            });
        });
        g.bench_with_input(
            BenchmarkId::new("keylife_rustcrypto", size),
            &msg,
            |b, msg| {
                b.iter(|| key.mac(black_box(msg)).unwrap());
            },
        );
    }
    g.finish();
}

fn hkdf(c: &mut Criterion) {
    let store = store();
    let key = store
        .create_active(KeySpec::<Derivation>::new("bench-kdf"))
        .unwrap();
    let ikm = random32();
    let info: &[u8] = b"tenant=42;purpose=db";
    let mut g = c.benchmark_group("hkdf");
    g.bench_function("raw_rustcrypto", |b| {
        b.iter(|| {
            let hk = hkdf::Hkdf::<Sha256>::new(None, &ikm);
            let mut okm = [0u8; 32];
            hk.expand(black_box(info), &mut okm).unwrap();
            okm
        });
    });
    g.bench_function("keylife_rustcrypto", |b| {
        b.iter(|| key.derive(b"", black_box(info), 32).unwrap());
    });
    g.finish();
}

fn config() -> Criterion {
    // Short runs: a 2-core machine shared with other builds.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ecdsa, hmac, hkdf
}
criterion_main!(benches);
