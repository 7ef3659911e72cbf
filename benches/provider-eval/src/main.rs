//! Provider evaluation: ring vs aws-lc-rs on the operations keylife needs,
//! interleaved in one process, best of 7 repeats.
use std::hint::black_box;
use std::time::Instant;

fn best<F: FnMut()>(mut f: F, iters: u32) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        b = b.min(t.elapsed().as_secs_f64() / f64::from(iters));
    }
    b
}

fn main() {
    let key = [7u8; 32];
    for size in [16 * 1024usize, 1 << 20] {
        let iters = if size > 100_000 { 300 } else { 20_000 };
        let mut buf = vec![0x5au8; size];
        let rk = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).unwrap(),
        );
        let ak = aws_lc_rs::aead::LessSafeKey::new(
            aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key).unwrap(),
        );
        let t_ring = best(
            || {
                let _ = black_box(
                    rk.seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key([1; 12]),
                        ring::aead::Aad::empty(),
                        &mut buf,
                    )
                    .unwrap(),
                );
            },
            iters,
        );
        let t_lc = best(
            || {
                let _ = black_box(
                    ak.seal_in_place_separate_tag(
                        aws_lc_rs::aead::Nonce::assume_unique_for_key([1; 12]),
                        aws_lc_rs::aead::Aad::empty(),
                        &mut buf,
                    )
                    .unwrap(),
                );
            },
            iters,
        );
        println!(
            "AES-256-GCM seal {size} B: ring {:.2} GB/s, aws-lc {:.2} GB/s",
            size as f64 / t_ring / 1e9,
            size as f64 / t_lc / 1e9
        );
    }
    let msg = [0x42u8; 64];
    // ring
    let rng = ring::rand::SystemRandom::new();
    let pk8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let rkp = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pk8.as_ref(),
        &rng,
    )
    .unwrap();
    use ring::signature::KeyPair as _;
    let rpub = rkp.public_key().as_ref().to_vec();
    let rsig = rkp.sign(&rng, &msg).unwrap();
    let t_rs = best(
        || {
            let _ = black_box(rkp.sign(&rng, &msg).unwrap());
        },
        2000,
    );
    let rvk =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &rpub);
    let t_rv = best(
        || {
            rvk.verify(&msg, rsig.as_ref()).unwrap();
        },
        1000,
    );
    // aws-lc
    let arng = aws_lc_rs::rand::SystemRandom::new();
    let apk8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &arng,
    )
    .unwrap();
    let akp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        apk8.as_ref(),
    )
    .unwrap();
    use aws_lc_rs::signature::KeyPair as _;
    let apub = akp.public_key().as_ref().to_vec();
    let asig = akp.sign(&arng, &msg).unwrap();
    let t_as = best(
        || {
            let _ = black_box(akp.sign(&arng, &msg).unwrap());
        },
        2000,
    );
    let avk = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &apub,
    )
    .unwrap();
    let t_av = best(
        || {
            avk.verify_sig(&msg, asig.as_ref()).unwrap();
        },
        1000,
    );
    println!(
        "ECDSA P-256 sign: ring {:.0}/s, aws-lc {:.0}/s",
        1.0 / t_rs,
        1.0 / t_as
    );
    println!(
        "ECDSA P-256 verify: ring {:.0}/s, aws-lc {:.0}/s",
        1.0 / t_rv,
        1.0 / t_av
    );
    // Static ECDH: aws-lc only (ring's agreement keys are EphemeralPrivateKey, consumed by agree_ephemeral).
    let sk = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap();
    let peer = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256)
        .unwrap()
        .compute_public_key()
        .unwrap();
    let t_dh = best(
        || {
            aws_lc_rs::agreement::agree(
                &sk,
                aws_lc_rs::agreement::UnparsedPublicKey::new(
                    &aws_lc_rs::agreement::ECDH_P256,
                    peer.as_ref(),
                ),
                (),
                |s| Ok(black_box(s[0])),
            )
            .unwrap();
        },
        1000,
    );
    println!(
        "ECDH P-256 (static key): aws-lc {:.0}/s; ring: no static-key API",
        1.0 / t_dh
    );
}
