//! AES-256-GCM through a store handle, beside the raw `aes-gcm` call with a
//! counter nonce, in the same run: each keylife result reads as a ratio to
//! its `raw_*` twin (`scripts/bench.sh` prints the table).
//!
//! What keylife adds on top of the raw call: authorization, the live-state
//! check, the invocation count (SP 800-38D §8.3), a fresh random nonce, the
//! 34-byte header (also authenticated), and the audit hook. The raw side
//! allocates its output as keylife does (`Aead::encrypt` returns a `Vec`).
//!
//! Groups:
//! - `aead_encrypt/<function>/<bytes>` and the same for `aead_decrypt`, at
//!   64 B, 1 KiB, 16 KiB, 1 MiB (`Throughput::Bytes`), where `<function>`
//!   is `raw_rustcrypto` (`aes-gcm`), `keylife_rustcrypto` (a store on the
//!   default provider) and, with `--features aws-lc`, `raw_aws-lc`
//!   (`aws-lc-rs` `LessSafeKey`) and `keylife_aws-lc`; each `keylife_X` reads
//!   as a ratio to its `raw_X`;
//! - `aead_encrypt_64/raw_rustcrypto_inplace`: the floor (no allocation, no
//!   nonce generation) for the small-message analysis;
//! - `c_abi_encrypt_64/{rust_api,c_abi_into}`: the C ABI's call overhead
//!   (`kl_key_encrypt_into` called from Rust as C would, default features);
//! - `nonce_source/*`: what a fresh nonce used to cost (one `getrandom`
//!   call) and what a `getpid` costs, for the report.

// A benchmark's setup either works or the run is meaningless: panicking on
// a failed setup is the right behaviour here, unlike in library code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keylife::backend::MemoryBackend;
use keylife::purpose::Aead as AeadPurpose;
use keylife::state::Active;
use keylife::{CryptoProvider, Kek, Key, KeySpec, KeyStore, Principal, RawKek, StoreOptions};

const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 1024 * 1024];
/// Caller associated data, the same on both sides.
const AAD: &[u8] = b"tenant=42;table=orders";

fn raw_key() -> Aes256Gcm {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).unwrap();
    Aes256Gcm::new_from_slice(&k).unwrap()
}

/// A 96-bit nonce from a 64-bit counter (SP 800-38D §8.2.1 style), the
/// cheapest correct nonce for a single writer.
fn counter_nonce(n: &mut u64) -> [u8; 12] {
    *n += 1;
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_be_bytes());
    nonce
}

/// A store on `provider`, with one active AEAD key.
fn keylife_key(provider: CryptoProvider) -> StoreKey {
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
        .create_active(KeySpec::<AeadPurpose>::new("bench-aead"))
        .unwrap();
    (store, key)
}

/// The raw AWS-LC call, as `raw_rustcrypto` does it: allocate the output,
/// copy the message in, seal in place, append the tag.
#[cfg(feature = "aws-lc")]
fn aws_lc_key() -> aws_lc_rs::aead::LessSafeKey {
    use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).unwrap();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).unwrap())
}

#[cfg(feature = "aws-lc")]
fn aws_lc_seal(key: &aws_lc_rs::aead::LessSafeKey, nonce: [u8; 12], pt: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{Aad, Nonce};
    let mut out = Vec::with_capacity(pt.len() + 16);
    out.extend_from_slice(pt);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(AAD),
            &mut out,
        )
        .unwrap();
    out.extend_from_slice(tag.as_ref());
    out
}

/// Raw keys on each side, and a keylife key on each provider.
struct Fixture {
    raw: Aes256Gcm,
    #[cfg(feature = "aws-lc")]
    raw_lc: aws_lc_rs::aead::LessSafeKey,
    keys: Vec<(CryptoProvider, StoreKey)>,
}

/// A store and its active AEAD key.
type StoreKey = (KeyStore, Key<AeadPurpose, Active>);

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            raw: raw_key(),
            #[cfg(feature = "aws-lc")]
            raw_lc: aws_lc_key(),
            keys: CryptoProvider::ALL
                .iter()
                .map(|p| (*p, keylife_key(*p)))
                .collect(),
        }
    }
}

fn encrypt(c: &mut Criterion) {
    let Fixture {
        raw,
        #[cfg(feature = "aws-lc")]
        raw_lc,
        keys,
    } = Fixture::new();
    let mut g = c.benchmark_group("aead_encrypt");
    for size in SIZES {
        let pt = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let mut ctr = 0u64;
        g.bench_with_input(BenchmarkId::new("raw_rustcrypto", size), &pt, |b, pt| {
            b.iter(|| {
                let nonce = counter_nonce(&mut ctr);
                raw.encrypt(
                    (&nonce).into(),
                    Payload {
                        msg: black_box(pt),
                        aad: AAD,
                    },
                )
                .unwrap()
            });
        });
        #[cfg(feature = "aws-lc")]
        g.bench_with_input(BenchmarkId::new("raw_aws-lc", size), &pt, |b, pt| {
            b.iter(|| aws_lc_seal(&raw_lc, counter_nonce(&mut ctr), black_box(pt)));
        });
        for (p, (_, key)) in &keys {
            let id = BenchmarkId::new(format!("keylife_{p}"), size);
            g.bench_with_input(id, &pt, |b, pt| {
                b.iter(|| key.encrypt(black_box(pt), AAD).unwrap());
            });
        }
    }
    g.finish();

    // The floor for small messages: in place, no allocation.
    let mut g = c.benchmark_group("aead_encrypt_64");
    g.throughput(Throughput::Bytes(64));
    let mut buf = [0x5au8; 64];
    let mut ctr = 0u64;
    g.bench_function("raw_rustcrypto_inplace", |b| {
        b.iter(|| {
            let nonce = counter_nonce(&mut ctr);
            raw.encrypt_inout_detached((&nonce).into(), AAD, black_box(&mut buf[..]).into())
                .unwrap()
        });
    });
    g.finish();
}

fn decrypt(c: &mut Criterion) {
    let Fixture {
        raw,
        #[cfg(feature = "aws-lc")]
        raw_lc,
        keys,
    } = Fixture::new();
    let mut g = c.benchmark_group("aead_decrypt");
    for size in SIZES {
        let pt = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let nonce = [7u8; 12];
        let raw_ct = raw
            .encrypt((&nonce).into(), Payload { msg: &pt, aad: AAD })
            .unwrap();
        g.bench_with_input(
            BenchmarkId::new("raw_rustcrypto", size),
            &raw_ct,
            |b, ct| {
                b.iter(|| {
                    raw.decrypt(
                        (&nonce).into(),
                        Payload {
                            msg: black_box(ct),
                            aad: AAD,
                        },
                    )
                    .unwrap()
                });
            },
        );
        #[cfg(feature = "aws-lc")]
        {
            use aws_lc_rs::aead::{Aad, Nonce};
            let ct = aws_lc_seal(&raw_lc, nonce, &pt);
            g.bench_with_input(BenchmarkId::new("raw_aws-lc", size), &ct, |b, ct| {
                b.iter(|| {
                    // As the RustCrypto side: a fresh output buffer.
                    let mut out = black_box(ct).clone();
                    let n = raw_lc
                        .open_in_place(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(AAD),
                            &mut out,
                        )
                        .unwrap()
                        .len();
                    out.truncate(n);
                    out
                });
            });
        }
        for (p, (store, key)) in &keys {
            let ct = key.encrypt(&pt, AAD).unwrap();
            let id = BenchmarkId::new(format!("keylife_{p}"), size);
            g.bench_with_input(id, &ct, |b, ct| {
                b.iter(|| store.decrypt(black_box(ct), AAD).unwrap());
            });
        }
    }
    g.finish();
}

/// The C ABI's cost: the same 64-byte encryption through `Key::encrypt`
/// (allocates its output) and through `kl_key_encrypt_into` (the C hot
/// path, caller buffer), called from Rust as a C caller would.
#[cfg(feature = "ffi")]
fn c_abi(c: &mut Criterion) {
    use keylife::ffi::{
        KL_OK, KL_PURPOSE_AEAD, KL_ROLE_ADMINISTRATOR, kl_key, kl_key_activate, kl_key_create,
        kl_key_encrypt_into, kl_key_free, kl_store, kl_store_free, kl_store_open_memory,
    };
    let mut store: *mut kl_store = std::ptr::null_mut();
    let mut key: *mut kl_key = std::ptr::null_mut();
    assert_eq!(
        kl_store_open_memory(c"bench".as_ptr(), KL_ROLE_ADMINISTRATOR, &mut store),
        KL_OK
    );
    assert_eq!(
        kl_key_create(store, KL_PURPOSE_AEAD, c"bench-aead".as_ptr(), &mut key),
        KL_OK
    );
    assert_eq!(kl_key_activate(key), KL_OK);
    let (_store, rust_key) = keylife_key(CryptoProvider::RustCrypto);
    let pt = [0x5au8; 64];
    let mut out = vec![0u8; 64 + keylife::ffi::KL_CIPHERTEXT_OVERHEAD];
    let mut g = c.benchmark_group("c_abi_encrypt_64");
    g.throughput(Throughput::Bytes(64));
    g.bench_function("rust_api", |b| {
        b.iter(|| rust_key.encrypt(black_box(&pt), AAD).unwrap());
    });
    g.bench_function("c_abi_into", |b| {
        b.iter(|| {
            let r = kl_key_encrypt_into(
                key,
                black_box(pt.as_ptr()),
                pt.len(),
                AAD.as_ptr(),
                AAD.len(),
                out.as_mut_ptr(),
            );
            assert_eq!(r, KL_OK);
        });
    });
    g.finish();
    kl_key_free(key);
    kl_store_free(store);
}

#[cfg(not(feature = "ffi"))]
fn c_abi(_: &mut Criterion) {}

fn nonce_source(c: &mut Criterion) {
    let mut g = c.benchmark_group("nonce_source");
    g.bench_function("getrandom_12", |b| {
        b.iter(|| {
            let mut n = [0u8; 12];
            getrandom::fill(&mut n).unwrap();
            n
        });
    });
    g.bench_function("getpid", |b| b.iter(std::process::id));
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
    targets = encrypt, decrypt, c_abi, nonce_source
}
criterion_main!(benches);
