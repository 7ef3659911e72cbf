//! Streaming AEAD against one-shot AEAD on one large message: throughput
//! and peak resident memory (`scripts/bench-stream.sh` runs it and writes
//! the table in benches/README.md).
//!
//! ```sh
//! cargo run --release --features aws-lc --example stream_bench -- stream 1024
//! cargo run --release --features aws-lc --example stream_bench -- oneshot 1024
//! ```
//!
//! `stream` encrypts SIZE MiB produced by a generator (never all in
//! memory) with `Key::encrypt_stream` into a counting sink (timed), then
//! once more into a file in /dev/shm (untimed), and decrypts that file
//! with `KeyStore::decrypt_stream` into a counting sink (timed). `oneshot` builds the same
//! message in memory and runs `Key::encrypt_to` and `KeyStore::decrypt_to`
//! on it, every buffer allocated and touched beforehand (its best case).
//! Each prints one JSON line: seconds per direction, and the process's
//! peak resident set (VmHWM) after the run.

use std::io::{Read, Write};
use std::time::Instant;

use keylife::purpose::Aead;
use keylife::{KeySpec, KeyStore, Principal};

/// Yields `left` bytes copied from a 1 MiB pattern block: a copy per
/// byte, as reading a file from the page cache costs.
struct Pattern {
    left: u64,
    block: Vec<u8>,
    at: usize,
}

impl Pattern {
    fn new(left: u64) -> Pattern {
        Pattern {
            left,
            block: (0..1u32 << 20)
                .map(|i| u8::try_from(i % 251).unwrap_or(0))
                .collect(),
            at: 0,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = self.block.len() - self.at;
        let n = usize::try_from(self.left.min(buf.len() as u64))
            .unwrap_or(buf.len())
            .min(room);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

/// Counts and drops.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("stream", String::as_str);
    let mib: u64 = args.get(2).map_or(Ok(1024), |s| s.parse())?;
    let bytes = mib << 20;
    let store = KeyStore::in_memory(Principal::admin("bench"))?;
    let key = store.create_active(KeySpec::<Aead>::new("bench"))?;
    let (enc, dec) = match mode {
        "stream" => {
            // Timed: generator -> encrypt_stream -> counting sink.
            let mut sink = Sink(0);
            let t = Instant::now();
            key.encrypt_stream(&mut Pattern::new(bytes), &mut sink, b"bench")?;
            let enc = t.elapsed().as_secs_f64();
            // Untimed: the same into a file in memory-backed /dev/shm when
            // there is one (no disk writeback in the timings), then timed:
            // file -> decrypt_stream -> counting sink.
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() {
                tempfile::tempdir_in(shm)?
            } else {
                tempfile::tempdir()?
            };
            let path = dir.path().join("ct");
            let mut file =
                std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            key.encrypt_stream(&mut Pattern::new(bytes), &mut file, b"bench")?;
            file.flush()?;
            drop(file);
            let mut input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?);
            let mut sink = Sink(0);
            let t = Instant::now();
            store.decrypt_stream(&mut input, &mut sink, b"bench")?;
            let dec = t.elapsed().as_secs_f64();
            assert_eq!(sink.0, bytes);
            (enc, dec)
        }
        "stream-mem" => {
            // Decryption from a ciphertext already in memory, as one-shot
            // decryption gets it (peak memory holds that ciphertext).
            let mut ct = Vec::new();
            key.encrypt_stream(&mut Pattern::new(bytes), &mut ct, b"bench")?;
            let mut sink = Sink(0);
            let t = Instant::now();
            key.encrypt_stream(&mut Pattern::new(bytes), &mut sink, b"bench")?;
            let enc = t.elapsed().as_secs_f64();
            let mut sink = Sink(0);
            let t = Instant::now();
            store.decrypt_stream(&mut ct.as_slice(), &mut sink, b"bench")?;
            let dec = t.elapsed().as_secs_f64();
            assert_eq!(sink.0, bytes);
            (enc, dec)
        }
        "oneshot" => {
            // The best case of one-shot: input, output and plaintext buffers
            // allocated and touched before the clock starts (on this VM a
            // fresh 1 GiB allocation costs seconds of first-touch faults).
            use keylife::key::CIPHERTEXT_OVERHEAD;
            let len = usize::try_from(bytes)?;
            let mut pt = vec![0u8; len];
            Pattern::new(bytes).read_exact(&mut pt)?;
            let mut ct = vec![1u8; len + CIPHERTEXT_OVERHEAD];
            let t = Instant::now();
            key.encrypt_to(&pt, b"bench", &mut ct)?;
            let enc = t.elapsed().as_secs_f64();
            pt.fill(2);
            let t = Instant::now();
            store.decrypt_to(&ct, b"bench", &mut pt)?;
            let dec = t.elapsed().as_secs_f64();
            assert_eq!(pt[1], 1);
            (enc, dec)
        }
        other => return Err(format!("mode {other}: stream, stream-mem or oneshot").into()),
    };
    println!(
        "{{\"mode\":\"{mode}\",\"mib\":{mib},\"encrypt_s\":{enc:.4},\"decrypt_s\":{dec:.4},\"encrypt_mb_s\":{:.1},\"decrypt_mb_s\":{:.1},\"vm_hwm_kib\":{}}}",
        bytes as f64 / enc / 1e6,
        bytes as f64 / dec / 1e6,
        vm_hwm_kib()
    );
    Ok(())
}
