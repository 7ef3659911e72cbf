//! Streaming AEAD (`Key::encrypt_stream`, `KeyStore::decrypt_stream`):
//! round trips at every size around segment boundaries, every kind of
//! tampering a stream can suffer, and checked-in vectors recomputed from
//! the format's specification (`src/key/stream.rs`) with independent
//! primitives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use keylife::key::{STREAM_HEADER_LEN, StreamInfo};
use keylife::purpose::Aead;
use keylife::{ErrorKind, Key, KeySpec, KeyStore, Principal, state::Active};

const SEG: u32 = 4096;
const TAG: usize = 16;

fn store() -> (KeyStore, Key<Aead, Active>) {
    let store = KeyStore::in_memory(Principal::admin("ops")).expect("store");
    let key = store
        .create_active(KeySpec::<Aead>::new("files"))
        .expect("key");
    (store, key)
}

fn seal(key: &Key<Aead, Active>, pt: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut ct = Vec::new();
    let n = key
        .encrypt_stream_with(&mut &pt[..], &mut ct, aad, SEG)
        .expect("encrypts");
    assert_eq!(n, pt.len() as u64);
    ct
}

fn open(store: &KeyStore, ct: &[u8], aad: &[u8]) -> keylife::Result<Vec<u8>> {
    let mut out = Vec::new();
    store
        .decrypt_stream(&mut &ct[..], &mut out, aad)
        .map(|_| out)
}

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i * 31 % 251).unwrap_or(0))
        .collect()
}

#[test]
fn round_trips_at_every_size_around_segment_boundaries() {
    let (store, key) = store();
    let s = SEG as usize;
    for len in [0, 1, s - 1, s, s + 1, 2 * s, 3 * s - 1, 3 * s, 3 * s + 7] {
        let pt = data(len);
        let ct = seal(&key, &pt, b"ctx");
        let info = StreamInfo::parse(&ct).expect("header");
        assert_eq!(info.key_id, key.id());
        assert_eq!(info.segment_size, SEG);
        assert_eq!(
            ct.len() as u64,
            info.ciphertext_len(len as u64),
            "len {len}"
        );
        assert_eq!(open(&store, &ct, b"ctx").expect("opens"), pt, "len {len}");
    }
}

/// Offsets of each segment's start within a stream of `len` plaintext bytes.
fn segment_starts(len: usize) -> Vec<usize> {
    let s = SEG as usize + TAG;
    let n = len.div_ceil(SEG as usize).max(1);
    (0..n).map(|i| STREAM_HEADER_LEN + i * s).collect()
}

#[test]
fn truncation_at_every_segment_boundary_is_detected() {
    let (store, key) = store();
    for len in [SEG as usize, 3 * SEG as usize, 3 * SEG as usize + 100] {
        let ct = seal(&key, &data(len), b"");
        for cut in segment_starts(len)
            .into_iter()
            .chain([ct.len() - 1, ct.len() - TAG])
        {
            let err = open(&store, &ct[..cut], b"").expect_err("truncated");
            assert!(
                matches!(err.kind(), ErrorKind::AuthenticationFailed),
                "len {len} cut at {cut}: {err}"
            );
        }
        // Cut inside the header: malformed.
        let err = open(&store, &ct[..STREAM_HEADER_LEN - 1], b"").expect_err("short");
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }
}

#[test]
fn reordered_swapped_appended_and_flipped_streams_are_detected() {
    let (store, key) = store();
    let len = 3 * SEG as usize + 10;
    let s = SEG as usize + TAG;
    let ct = seal(&key, &data(len), b"a");
    let h = STREAM_HEADER_LEN;
    // Swap segments 0 and 1.
    let mut swapped = ct.clone();
    swapped[h..h + 2 * s].copy_from_slice(&[&ct[h + s..h + 2 * s], &ct[h..h + s]].concat());
    assert_eq!(
        open(&store, &swapped, b"a").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    // Drop a middle segment.
    let dropped = [&ct[..h + s], &ct[h + 2 * s..]].concat();
    assert_eq!(
        open(&store, &dropped, b"a").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    // Duplicate a segment.
    let dup = [&ct[..h + s], &ct[h..]].concat();
    assert_eq!(
        open(&store, &dup, b"a").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    // Append bytes, or a whole segment of another stream.
    let other = seal(&key, &data(len), b"a");
    for extra in [&b"x"[..], &other[h..h + s]] {
        let appended = [&ct[..], extra].concat();
        assert_eq!(
            open(&store, &appended, b"a").unwrap_err().kind(),
            ErrorKind::AuthenticationFailed
        );
    }
    // A segment of another stream (same key, same position) does not fit.
    let mut mixed = ct.clone();
    mixed[h + s..h + 2 * s].copy_from_slice(&other[h + s..h + 2 * s]);
    assert_eq!(
        open(&store, &mixed, b"a").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    // Every header byte after the key fields, and a byte of each segment.
    for i in (22..h).chain(segment_starts(len).into_iter().map(|o| o + 5)) {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        let err = open(&store, &bad, b"a").unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::AuthenticationFailed | ErrorKind::Malformed
            ),
            "byte {i}: {err}"
        );
    }
    // Another associated data, another key.
    assert_eq!(
        open(&store, &ct, b"b").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    let mut moved = ct.clone();
    let k2 = store
        .create_active(KeySpec::<Aead>::new("other"))
        .expect("key");
    moved[2..18].copy_from_slice(k2.id().as_bytes());
    assert_eq!(
        open(&store, &moved, b"a").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    // A one-shot ciphertext is not a stream.
    let one = key.encrypt(b"m", b"a").expect("encrypts");
    assert_eq!(
        open(&store, &one, b"a").unwrap_err().kind(),
        ErrorKind::UnsupportedVersion
    );
    // And the untouched stream still opens.
    assert_eq!(open(&store, &ct, b"a").expect("opens"), data(len));
}

#[test]
fn streams_are_governed_like_one_shot_encryption() {
    let (store, key) = store();
    let ct = seal(&key, b"kept", b"");
    let id = key.id();
    // Rotation: the old stream still opens; a new one names version 2.
    key.rotate().expect("rotates");
    assert_eq!(open(&store, &ct, b"").expect("opens"), b"kept");
    assert_eq!(
        StreamInfo::parse(&seal(&key, b"x", b""))
            .expect("hdr")
            .key_version,
        2
    );
    // A principal without a grant may not decrypt.
    store
        .register_principal(&Principal::new("app", &[keylife::Role::Application]))
        .expect("registers");
    let app = store.as_principal("app").expect("handle");
    assert_eq!(
        open(&app, &ct, b"").unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    // Segment sizes out of range are refused.
    let err = key
        .encrypt_stream_with(&mut &b"x"[..], &mut Vec::new(), b"", 100)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // Compromised: no new streams; decryption still possible (processing).
    let key = key.compromise("test").expect("compromised");
    let h = store.load_handle(&id).expect("handle");
    assert_eq!(
        h.encrypt_stream(&mut &b"x"[..], &mut Vec::new(), b"")
            .unwrap_err()
            .kind(),
        ErrorKind::WrongState
    );
    drop(key);
    // Each stream is one audit entry per direction (uses aggregate).
    store.flush_audit().expect("flush");
    let entries = store.audit_entries().expect("entries");
    let enc: u64 = entries
        .iter()
        .filter(|e| {
            e.operation == keylife::Operation::Encrypt && e.outcome == keylife::Outcome::Success
        })
        .map(|e| e.count)
        .sum();
    assert_eq!(enc, 2, "two streams encrypted");
}

#[test]
fn memory_stays_flat_reading_and_writing_through_small_buffers() {
    // A reader that yields 7 bytes at a time and a writer that counts:
    // segmentation must not depend on how the input arrives.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let (store, key) = store();
    let pt = data(2 * SEG as usize + 3);
    let mut a = Vec::new();
    key.encrypt_stream_with(&mut Trickle(&pt), &mut a, b"", SEG)
        .expect("encrypts");
    let mut out = Vec::new();
    store
        .decrypt_stream(&mut Trickle(&a), &mut out, b"")
        .expect("decrypts");
    assert_eq!(out, pt);
}

/// The checked-in vectors, recomputed from the specification with
/// independent primitives (hkdf, aes-gcm), and decrypted through the API.
#[cfg(feature = "hazmat")]
mod vectors {
    use super::*;
    use aes_gcm::aead::{Aead as _, KeyInit, Payload};
    use keylife::DeterministicRandom;

    const FILE: &str = "tests/vectors/stream_v1.json";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Makes the vectors: a fixed key imported under a seeded DRBG, so the
    /// key id, salt and nonce prefix are reproducible.
    fn make(name: &str, pt_len: usize, aad: &[u8]) -> serde_json::Value {
        let _rng = DeterministicRandom::install_for_this_thread(name.as_bytes());
        let store = KeyStore::in_memory(Principal::admin("vectors")).expect("store");
        let material: Vec<u8> = (0u8..32).collect();
        let key = store
            .import_raw(KeySpec::<Aead>::new(name), &material)
            .expect("imports")
            .activate()
            .expect("activates");
        let pt = data(pt_len);
        let ct = seal(&key, &pt, aad);
        serde_json::json!({
            "name": name,
            "key": hex(&material),
            "key_id": key.id().to_string(),
            "segment_size": SEG,
            "aad": hex(aad),
            "plaintext": hex(&pt),
            "ciphertext": hex(&ct),
        })
    }

    /// The ciphertext per src/key/stream.rs, from the vector's fields.
    fn reference(v: &serde_json::Value) -> Vec<u8> {
        let f = |k: &str| unhex(v[k].as_str().expect("field"));
        let ct = f("ciphertext");
        let header = &ct[..STREAM_HEADER_LEN];
        let (salt, prefix) = (&header[26..58], &header[58..65]);
        let mut info = b"keylife-stream-v1".to_vec();
        info.extend_from_slice(&header[..26]);
        info.extend_from_slice(&f("aad"));
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), &f("key"));
        let mut k = [0u8; 32];
        hk.expand(&info, &mut k).expect("hkdf");
        let aes = aes_gcm::Aes256Gcm::new_from_slice(&k).expect("key");
        let pt = f("plaintext");
        let chunks: Vec<&[u8]> = if pt.is_empty() {
            vec![&[][..]]
        } else {
            pt.chunks(SEG as usize).collect()
        };
        let mut out = header.to_vec();
        for (i, c) in chunks.iter().enumerate() {
            let mut nonce = prefix.to_vec();
            nonce.extend_from_slice(&u32::try_from(i).expect("index").to_be_bytes());
            nonce.push(u8::from(i + 1 == chunks.len()));
            let sealed = aes
                .encrypt(
                    &aes_gcm::Nonce::try_from(nonce.as_slice()).expect("12 bytes"),
                    Payload { msg: c, aad: b"" },
                )
                .expect("seals");
            out.extend_from_slice(&sealed);
        }
        out
    }

    #[test]
    fn checked_in_vectors_match_the_specification_and_the_api() {
        let made = serde_json::json!([
            make("empty", 0, b""),
            make("one-segment", 100, b"context"),
            make("exact-two-segments", 2 * SEG as usize, b""),
            make("three-segments", 2 * SEG as usize + 1, b"tenant=7"),
        ]);
        if std::env::var_os("KEYLIFE_WRITE_VECTORS").is_some() {
            std::fs::write(
                FILE,
                serde_json::to_string_pretty(&made).expect("json") + "\n",
            )
            .expect("write vectors");
        }
        let text = std::fs::read_to_string(FILE).expect("tests/vectors/stream_v1.json");
        let file: serde_json::Value = serde_json::from_str(&text).expect("json");
        // The format did not change.
        assert_eq!(
            file, made,
            "regenerate with KEYLIFE_WRITE_VECTORS=1 only for a new format"
        );
        for v in file.as_array().expect("array") {
            // The specification, computed independently, gives the same bytes.
            assert_eq!(
                hex(&reference(v)),
                v["ciphertext"].as_str().expect("ct"),
                "{}",
                v["name"]
            );
            // And the API decrypts it in a store holding the key.
            let _rng = DeterministicRandom::install_for_this_thread(
                v["name"].as_str().expect("name").as_bytes(),
            );
            let store = KeyStore::in_memory(Principal::admin("vectors")).expect("store");
            let key = store
                .import_raw(
                    KeySpec::<Aead>::new("v"),
                    &unhex(v["key"].as_str().expect("key")),
                )
                .expect("imports");
            assert_eq!(key.id().to_string(), v["key_id"].as_str().expect("id"));
            let key = key.activate().expect("activates");
            drop(key);
            let pt = open(
                &store,
                &unhex(v["ciphertext"].as_str().expect("ct")),
                &unhex(v["aad"].as_str().expect("aad")),
            )
            .expect("decrypts");
            assert_eq!(hex(&pt), v["plaintext"].as_str().expect("pt"));
        }
    }
}
