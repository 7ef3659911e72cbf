//! Writes the seed inputs of the storage and format targets, and replays
//! inputs without libFuzzer.
//!
//! ```sh
//! cargo run --release --example seeds -- write            # seeds into corpus/<target>/
//! cargo run --release --example seeds -- run <target> <file|dir>...
//! ```
//!
//! Seeds are small valid inputs (an unmodified store, a valid key or
//! policy) and one or two edits of each kind; libFuzzer grows the rest.

#![allow(clippy::panic)]

use std::path::Path;

use keylife_fuzz::{formats, storage, targets};

fn target(name: &str) -> fn(&[u8]) {
    match name {
        "ciphertext" => targets::ciphertext,
        "public_key" => targets::public_key,
        "lifecycle" => targets::lifecycle,
        "sealed_record" => storage::sealed_record,
        "store_file" => storage::store_file,
        "store_sqlite" => storage::store_sqlite,
        "policy" => formats::policy,
        "jwk" => formats::jwk,
        "pkcs8" => formats::pkcs8,
        "wrapped_key" => formats::wrapped_key,
        "backup" => formats::backup,
        "kek_header" => storage::kek_header,
        other => panic!("unknown target {other}"),
    }
}

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    match name {
        "sealed_record" => {
            out.push(Vec::new());
            let n = u8::try_from(storage::sealed_record_ids().len()).unwrap_or(255);
            for i in 0..n {
                let m = i % 7;
                let ops: Vec<u8> = match m {
                    0 => vec![0, 5, 0, 1],
                    1 => vec![i.wrapping_add(1)],
                    3 => b"abc".to_vec(),
                    5 => vec![9],
                    6 => vec![1],
                    _ => Vec::new(),
                };
                let mut s = vec![i, m, u8::try_from(ops.len()).unwrap_or(0)];
                s.extend(ops);
                out.push(s);
            }
        }
        "store_file" => {
            let len = storage::store_file_len();
            out.push(Vec::new());
            out.push(vec![1]);
            for (fix, pos) in [
                (0u8, 20usize),
                (1, 20),
                (1, 40),
                (1, len / 2),
                (1, len - 40),
            ] {
                let p = u16::try_from(pos).unwrap_or(0).to_le_bytes();
                out.push(vec![fix, 0, p[0], p[1], 1]);
            }
            out.push(vec![1, 2, 0x80, 0, 0]);
            out.push(vec![1, 4, 0, 0, 7]);
            out.push(vec![0, 5, 0, 0, 0]);
        }
        "store_sqlite" => {
            out.push(Vec::new());
            for pos in [0usize, 18, 28, 100, 4096 + 8, 8192 + 100, 12288 + 2000] {
                let p = u16::try_from(pos).unwrap_or(0).to_le_bytes();
                out.push(vec![0, p[0], p[1], 0x10]);
            }
            out.push(vec![2, 0, 0x20, 0]);
            out.push(vec![1, 0, 0, 0x10]);
        }
        "policy" => {
            let example = include_str!("../../examples/policy.toml");
            let mut s = vec![0];
            s.extend_from_slice(example.as_bytes());
            out.push(s);
            if let Ok(p) = keylife::Policy::from_toml(example)
                && let Ok(j) = p.to_json()
            {
                let mut s = vec![1];
                s.extend_from_slice(j.as_bytes());
                out.push(s);
            }
            for t in [
                &b"\x00version = 1\n"[..],
                b"\x00version = 2\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 3\n",
                b"\x00version = 4\n[approvals.export]\napprovers = ['erin', 'carol']\nrequired = 1\n",
                b"\x01{\"version\": 1, \"destruction\": {\"min_wait_days\": 7, \"default_wait_days\": 30}}",
                b"\x01{\"classifications\": [\"public\"], \"version\": 1}",
                b"\x00[",
                b"\x00version = 3\nclassifications = ['public', 'secret']\n[purpose.aead]\nalgorithms = ['aes-256-gcm']\n",
                b"\x01{\"version\": 0}",
            ] {
                out.push(t.to_vec());
            }
        }
        "jwk" => {
            out.push(b"\x01".to_vec());
            out.push(vec![1, 0, 30, 0, 1]);
            out.push(vec![1, 2, 20, 0, 0]);
            out.push(b"\x02abc".to_vec());
            out.push(b"\x02\x01abc".to_vec());
            out.push(b"\x00{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\",\"y\":\"\"}".to_vec());
            out.push(b"\x00{}".to_vec());
            out.push(b"\x00{\"kty\":\"RSA\"}".to_vec());
            out.push(vec![1, 5, 10, 0, 0]);
            out.push(vec![1, 3, 12, 0, b' ']);
        }
        "pkcs8" => {
            let der = formats::pkcs8_valid_der();
            let mut s = vec![0];
            s.extend_from_slice(&der);
            out.push(s);
            out.push(vec![2]);
            out.push(vec![2, 0, 10, 0, 1]);
            out.push(vec![2, 1, 3, 0, 0x55]);
            out.push(vec![3]);
            out.push(vec![3, 0, 40, 0, 1]);
            out.push(vec![2, 2, 40, 0, 0]);
            out.push(vec![2, 3, 7, 0, 0]);
            out.push(vec![3, 5, 28, 0, 0]);
            out.push(
                b"\x01-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
            );
        }
        "wrapped_key" => {
            for mode in 0..5u8 {
                for sel in 0..4u8 {
                    out.push(vec![mode, sel]);
                }
                out.push(vec![mode, 0, 0, 5, 0, 1]);
            }
            out.push(b"\x05\x00KLT1\x02\x04".to_vec());
            out.push(vec![5, 0, 1, 2, 3]);
        }
        "backup" => {
            out.push(vec![1, 0]);
            out.push(vec![1, 0x81]);
            out.push(vec![1, 0, 0, 3, 0, 1]);
            out.push(vec![2, 0]);
            out.push(vec![2, 0x81]);
            out.push(vec![2, 0, 0, 2, 0, 1]);
            out.push(vec![2, 4, 0, 20, 0, 1]);
            out.push(vec![2, 5, 5, 6, 0, b'X']);
            for sel in [
                0b0001u8,
                0b0100,
                0b1000_0100,
                0b11_10_01_00,
                0b11_11_00_00,
                0b00_00_00_00,
            ] {
                out.push(vec![3, sel]);
            }
            out.push(b"\x00\x00KLBK\x01".to_vec());
        }
        "kek_header" => {
            let len = storage::kek_header_fixture_header().len();
            // Unmodified, with the right and a wrong passphrase.
            out.push(vec![0]);
            out.push(vec![0x80]);
            // Byte edits of the header and of the parameters.
            for pos in [10usize, len / 2, len - 5] {
                let p = u16::try_from(pos).unwrap_or(0).to_le_bytes();
                out.push(vec![0, 0, p[0], p[1], 1]);
            }
            out.push(vec![1, 0, 5, 0, 1]);
            out.push(vec![1, 2, 20, 0, 0]);
            // Costs: 4 TiB, 2^32 - 1 passes, 0 lanes, within the limit,
            // one salt byte, an unknown member.
            out.push(vec![2, 0, 0xff, 0xff, 0xff, 0xff]);
            out.push(vec![2, 1, 0xff, 0xff, 0xff, 0xff]);
            out.push(vec![2, 2, 0, 0, 0, 0]);
            out.push(vec![2, 0, 64, 0, 0, 0, 2, 4, 0, 0, 0]);
            out.push(vec![2, 3, 1, 3, 0, 0]);
            out.push(vec![2, 4, 1, 0, 0, 0]);
            out.push(b"\x03{\"salt\":[],\"argon2id\":{}}".to_vec());
            out.push(b"\x04raw".to_vec());
        }
        _ => {}
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("write") => {
            let names: Vec<&str> = if args.len() > 1 {
                args[1..].iter().map(String::as_str).collect()
            } else {
                vec![
                    "sealed_record",
                    "store_file",
                    "store_sqlite",
                    "policy",
                    "jwk",
                    "pkcs8",
                    "wrapped_key",
                    "backup",
                    "kek_header",
                ]
            };
            for name in names {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("corpus")
                    .join(name);
                std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
                let run = target(name);
                let list = seeds(name);
                for (i, s) in list.iter().enumerate() {
                    run(s);
                    std::fs::write(dir.join(format!("seed-{i:02}")), s)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                println!("{name}: {} seeds", list.len());
            }
        }
        Some("run") if args.len() > 2 => {
            let run = target(&args[1]);
            for a in &args[2..] {
                let p = Path::new(a);
                let files: Vec<_> = if p.is_dir() {
                    std::fs::read_dir(p)
                        .unwrap_or_else(|e| panic!("{e}"))
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .collect()
                } else {
                    vec![p.to_path_buf()]
                };
                for f in files {
                    let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{e}"));
                    println!("{}", f.display());
                    run(&data);
                }
            }
        }
        _ => panic!("usage: seeds write [target...] | seeds run <target> <file|dir>..."),
    }
}
