//! RFC 9180 Appendix A.3 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
//! AES-128-GCM) through the public API (`keylife::hpke`).
//!
//! Base mode: the setup values (enc = pkEm, shared_secret, key, base_nonce,
//! exporter_secret), every encryption (sender seals to exactly `ct`; the
//! recipient opens it in sequence), every exported value; each encryption
//! has tampered twins (a flipped ciphertext bit, the wrong aad) that must
//! fail. PSK, Auth and AuthPSK sections are counted and reported as
//! unsupported (keylife implements the base mode only).
#![cfg(feature = "hazmat")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::collections::BTreeMap;

use keylife::hpke::{self, AeadId};
use keylife::{ErrorKind, PublicKey};

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/vectors/hpke/rfc9180_p256_sha256_aes128gcm.txt"
);

fn hex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    assert!(b.len().is_multiple_of(2), "odd hex {s}");
    b.chunks_exact(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16).expect("hex digit");
            let lo = char::from(p[1]).to_digit(16).expect("hex digit");
            u8::try_from(hi * 16 + lo).expect("byte")
        })
        .collect()
}

/// One `key: value` block (values may continue on following lines).
type Block = BTreeMap<String, String>;

struct Section {
    mode: u8,
    setup: Block,
    encryptions: Vec<Block>,
    exports: Vec<Block>,
}

/// Parses the RFC's text layout: sections, `~~~` fenced blocks of
/// `key: value` lines, blank lines between records.
fn parse(text: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut part = "";
    let mut in_fence = false;
    let mut records: Vec<Block> = Vec::new();
    let mut cur = Block::new();
    let mut last_key = String::new();
    let flush = |records: &mut Vec<Block>, cur: &mut Block| {
        if !cur.is_empty() {
            records.push(std::mem::take(cur));
        }
    };
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("### ") {
            part = "setup";
            continue;
        }
        if l == "#### Encryptions" {
            part = "enc";
            continue;
        }
        if l == "#### Exported Values" {
            part = "exp";
            continue;
        }
        if l == "~~~" {
            if in_fence {
                flush(&mut records, &mut cur);
                let recs = std::mem::take(&mut records);
                match part {
                    "setup" => {
                        let setup = recs.into_iter().next().expect("setup block");
                        let mode = setup["mode"].parse().expect("mode");
                        sections.push(Section {
                            mode,
                            setup,
                            encryptions: Vec::new(),
                            exports: Vec::new(),
                        });
                    }
                    "enc" => sections.last_mut().expect("section").encryptions = recs,
                    "exp" => sections.last_mut().expect("section").exports = recs,
                    _ => {}
                }
            }
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            continue;
        }
        if l.is_empty() {
            flush(&mut records, &mut cur);
            continue;
        }
        match l.split_once(':') {
            Some((k, v)) if !k.contains(' ') || k == "sequence number" => {
                last_key = k.to_owned();
                cur.insert(k.to_owned(), v.trim().to_owned());
            }
            _ => {
                // Continuation of a long hex value.
                cur.get_mut(&last_key).expect("continued key").push_str(l);
            }
        }
    }
    sections
}

#[derive(Default)]
struct Tally {
    setup_values: usize,
    encryptions: usize,
    exports: usize,
    twins: usize,
    unsupported: BTreeMap<&'static str, usize>,
}

fn mode_name(m: u8) -> &'static str {
    match m {
        0 => "base",
        1 => "psk",
        2 => "auth",
        3 => "auth_psk",
        _ => "unknown",
    }
}

fn base_mode(s: &Section, t: &mut Tally) {
    let v = |k: &str| hex(&s.setup[k]);
    assert_eq!(s.setup["kem_id"], "16");
    assert_eq!(s.setup["kdf_id"], "1");
    assert_eq!(s.setup["aead_id"], "1");
    let info = v("info");
    let pk_r = PublicKey::from_sec1(&v("pkRm")).expect("pkRm");

    // Sender with the vector's ephemeral key.
    let (enc, mut sender) =
        hpke::seal_with_ephemeral_for_test_vectors(&v("skEm"), &pk_r, AeadId::Aes128Gcm, &info)
            .expect("setup sender");
    assert_eq!(enc, v("enc"), "enc");
    assert_eq!(enc, v("pkEm"), "pkEm");
    let (shared, key, base_nonce, exporter) = sender.values_for_test_vectors();
    assert_eq!(shared, v("shared_secret"), "shared_secret");
    assert_eq!(key, v("key"), "key");
    assert_eq!(base_nonce, v("base_nonce"), "base_nonce");
    assert_eq!(exporter, v("exporter_secret"), "exporter_secret");
    t.setup_values += 5;

    // The recipient side derives the same context.
    let mut recipient = hpke::setup_recipient_with_secret_for_test_vectors(
        &v("skRm"),
        &enc,
        AeadId::Aes128Gcm,
        &info,
    )
    .expect("setup recipient");
    // A second recipient context, for the tampered twins (a failed open
    // must not advance the sequence).
    let mut twin_rx = hpke::setup_recipient_with_secret_for_test_vectors(
        &v("skRm"),
        &enc,
        AeadId::Aes128Gcm,
        &info,
    )
    .expect("setup recipient");

    let mut seq = 0u64;
    for e in &s.encryptions {
        let want_seq: u64 = e["sequence number"].parse().expect("seq");
        let (pt, aad, ct) = (hex(&e["pt"]), hex(&e["aad"]), hex(&e["ct"]));
        // Advance both sides to the vector's sequence number.
        while seq < want_seq {
            let filler = sender.seal(b"", b"").expect("seal");
            recipient.open(b"", &filler).expect("open filler");
            twin_rx.open(b"", &filler).expect("open filler");
            seq += 1;
        }
        let got = sender.seal(&aad, &pt).expect("seal");
        assert_eq!(got, ct, "ct at sequence {want_seq}");

        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x10;
        let r = twin_rx.open(&aad, &bad);
        assert!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::AuthenticationFailed),
            "tampered ct at {want_seq} gave {r:?}"
        );
        let r = twin_rx.open(b"wrong aad", &ct);
        assert!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::AuthenticationFailed),
            "wrong aad at {want_seq}"
        );
        t.twins += 2;
        assert_eq!(twin_rx.open(&aad, &ct).expect("twin rx after failures"), pt);

        assert_eq!(
            recipient.open(&aad, &ct).expect("open"),
            pt,
            "pt at {want_seq}"
        );
        seq += 1;
        t.encryptions += 1;
    }

    for x in &s.exports {
        let ctx = hex(&x["exporter_context"]);
        let len: usize = x["L"].parse().expect("L");
        let want = hex(&x["exported_value"]);
        assert_eq!(
            sender.export(&ctx, len).expect("export").expose_secret(),
            want.as_slice()
        );
        assert_eq!(
            recipient.export(&ctx, len).expect("export").expose_secret(),
            want.as_slice()
        );
        t.exports += 1;
    }
}

#[test]
fn rfc9180_a3_p256_sha256_aes128gcm() {
    let text = std::fs::read_to_string(FILE).expect("vector file");
    let sections = parse(&text);
    assert_eq!(sections.len(), 4, "four modes");
    let mut t = Tally::default();
    for s in &sections {
        if s.mode == 0 {
            base_mode(s, &mut t);
        } else {
            *t.unsupported.entry(mode_name(s.mode)).or_default() +=
                1 + s.encryptions.len() + s.exports.len();
        }
    }
    let unsupported: usize = t.unsupported.values().sum();
    println!(
        "rfc9180 A.3 P-256/HKDF-SHA256/AES-128-GCM: base mode passed {} setup values, {} \
         encryptions, {} exports; {} tampered twins rejected; {unsupported} unsupported \
         (setup + encryptions + exports by mode: {:?}); 0 failed",
        t.setup_values, t.encryptions, t.exports, t.twins, t.unsupported
    );
    // Appendix A.3.1 lists sequence numbers 0, 1, 2, 4, 255, 256 and three
    // exports; every one must have run.
    let base_text = text
        .split("### PSK Setup Information")
        .next()
        .expect("base section");
    assert_eq!(t.encryptions, base_text.matches("sequence number:").count());
    assert_eq!(t.exports, base_text.matches("exported_value:").count());
    assert_eq!((t.encryptions, t.exports), (6, 3));
}

/// The AES-256-GCM suite (no RFC vector): round trip, twins, and the
/// properties the transport relies on.
#[test]
fn aes256gcm_suite_round_trip_and_bad_input() {
    let sk = hex("f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2");
    let pk = PublicKey::from_sec1(&hex(
        "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
    ))
    .expect("pk");
    let (enc, ct) = hpke::seal(&pk, AeadId::Aes256Gcm, b"info", b"aad", b"message").expect("seal");
    let mut rx =
        hpke::setup_recipient_with_secret_for_test_vectors(&sk, &enc, AeadId::Aes256Gcm, b"info")
            .expect("rx");
    assert_eq!(rx.open(b"aad", &ct).expect("open"), b"message");
    // Wrong suite, wrong info: authentication failures.
    for (aead, info) in [
        (AeadId::Aes128Gcm, &b"info"[..]),
        (AeadId::Aes256Gcm, b"other"),
    ] {
        let mut rx =
            hpke::setup_recipient_with_secret_for_test_vectors(&sk, &enc, aead, info).expect("rx");
        let r = rx.open(b"aad", &ct);
        assert!(matches!(&r, Err(e) if e.kind() == ErrorKind::AuthenticationFailed));
    }
    // enc: compressed, truncated, infinity, off the curve.
    let mut off = enc.clone();
    off[64] ^= 1;
    let compressed = {
        let mut c = vec![2 + (enc[64] & 1)];
        c.extend_from_slice(&enc[1..33]);
        c
    };
    for bad in [compressed, enc[..64].to_vec(), vec![0u8], off] {
        let r =
            hpke::setup_recipient_with_secret_for_test_vectors(&sk, &bad, AeadId::Aes256Gcm, b"");
        assert!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::Malformed),
            "enc of {} bytes: {r:?}",
            bad.len()
        );
    }
    // Too short to hold a tag.
    let r = rx.open(b"aad", &[0u8; 15]);
    assert!(matches!(&r, Err(e) if e.kind() == ErrorKind::AuthenticationFailed));
}
