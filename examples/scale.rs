//! Scale benchmark for the SQLite store. A program, not a
//! timed test; results and the machine they came from: `benches/STORAGE.md`.
//!
//! ```sh
//! cargo run --release --example scale -- --keys 1000000
//! cargo run --release --example scale -- --keys 100000 --single 500   # quicker
//! ```
//!
//! What it does, in order:
//!
//! 1. **Single durable creates** on disk (`--disk`, default: a temporary
//!    directory under the system temp dir): `--single` keys (default 2,000),
//!    each `KeyStore::create` its own commit, fsynced (`synchronous=FULL`).
//! 2. **Parallel creates** on the same store from `--threads` threads
//!    (default 2 and 4). keylife has no batch-create API; threads are what
//!    the public API offers.
//! 3. **The big store**: `--keys` keys created through the same public
//!    `create` path, on `--fast` (default `/dev/shm`, a tmpfs where fsync
//!    returns at once; `--fast none` builds on `--disk`, fsync and all). At
//!    1k, 10k, 100k and 1M keys the store is checkpointed and copied to
//!    `--disk`, where open time, bytes per key and lookups are measured.
//! 4. **Lookups** on the largest copy: `KeyStore::load::<Aead>` and
//!    `KeyStore::info` on random ids, with the process's resident memory.
//!
//! Every number is printed as it is measured; a summary table ends the run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keylife::backend::SqliteBackend;
use keylife::purpose::Aead;
use keylife::{Kek, KeyId, KeySpec, KeyStore, Principal, RawKek, StoreOptions};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const KEK_BYTES: [u8; 32] = [0x42; 32];

struct Args {
    keys: u64,
    single: u64,
    threads: Vec<u64>,
    lookups: u64,
    info_lookups: u64,
    disk: Option<PathBuf>,
    fast: Option<PathBuf>,
    build_threads: u64,
}

fn args() -> Res<Args> {
    let mut a = Args {
        keys: 1_000_000,
        single: 2_000,
        threads: vec![2, 4],
        lookups: 200_000,
        info_lookups: 1_000,
        disk: None,
        fast: Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()),
        build_threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--keys" => a.keys = val()?.parse()?,
            "--single" => a.single = val()?.parse()?,
            "--threads" => {
                a.threads = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--lookups" => a.lookups = val()?.parse()?,
            "--info-lookups" => a.info_lookups = val()?.parse()?,
            "--disk" => a.disk = Some(PathBuf::from(val()?)),
            "--fast" => {
                let v = val()?;
                a.fast = (v != "none").then(|| PathBuf::from(v));
            }
            "--build-threads" => a.build_threads = val()?.parse()?,
            other => return Err(format!("unknown flag {other} (see the file's docs)").into()),
        }
    }
    Ok(a)
}

fn kek() -> Res<RawKek> {
    Ok(RawKek::new(Kek::from_bytes(&KEK_BYTES)?))
}

fn open(path: &Path) -> Res<KeyStore> {
    Ok(KeyStore::builder(SqliteBackend::open(path)?)
        .options(StoreOptions::default())
        .open(&kek()?, Principal::admin("scale"))?)
}

fn per_s(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn hours(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// SplitMix64, for reproducible random picks.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        usize::try_from(z % n.max(1) as u64).unwrap_or(0)
    }
}

fn rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or_else(|| "n/a".to_owned(), |kb| format!("{:.0} MiB", kb / 1024.0))
}

/// Creates `n` keys from `threads` threads; returns their ids and the
/// per-call latencies.
fn create_keys(
    store: &KeyStore,
    n: u64,
    threads: u64,
    tag: &str,
) -> Res<(Vec<KeyId>, Vec<Duration>)> {
    let per = n / threads.max(1);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|t| {
            let store = store.clone();
            let count = if t + 1 == threads.max(1) {
                n - per * (threads.max(1) - 1)
            } else {
                per
            };
            let tag = format!("{tag}-{t}");
            std::thread::spawn(move || -> Result<(Vec<KeyId>, Vec<Duration>), String> {
                let mut ids = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                let mut lat = Vec::with_capacity(ids.capacity());
                for i in 0..count {
                    let t0 = Instant::now();
                    let key = store
                        .create(KeySpec::<Aead>::new(&format!("{tag}-{i}")))
                        .map_err(|e| e.to_string())?;
                    lat.push(t0.elapsed());
                    ids.push(key.id());
                }
                Ok((ids, lat))
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut lat = Vec::new();
    for h in handles {
        let (i, l) = h.join().map_err(|_| "creator thread panicked")??;
        ids.extend(i);
        lat.extend(l);
    }
    Ok((ids, lat))
}

/// The `per_mille`-th latency (500: median, 990: p99), nearest rank.
fn percentile(lat: &mut [Duration], per_mille: usize) -> Duration {
    if lat.is_empty() {
        return Duration::ZERO;
    }
    lat.sort_unstable();
    let rank = (lat.len() - 1) * per_mille.min(1000) / 1000;
    lat[rank.min(lat.len() - 1)]
}

/// Open time: `SqliteBackend::open` + `KeyStore::open` (which reads the
/// header and the audit head, and commits the OpenStore audit entry).
fn open_times(path: &Path, runs: usize) -> Res<(Duration, Duration)> {
    let mut backend_only = Vec::new();
    let mut full = Vec::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let b = SqliteBackend::open(path)?;
        let t1 = Instant::now();
        let store = KeyStore::builder(b).open(&kek()?, Principal::admin("scale"))?;
        let t2 = Instant::now();
        drop(store);
        backend_only.push(t1 - t0);
        full.push(t2 - t0);
    }
    Ok((
        percentile(&mut backend_only, 500),
        percentile(&mut full, 500),
    ))
}

/// Bytes in the file by record kind (read-only SQL on the `records` table).
fn breakdown(path: &Path) -> Res<Vec<(String, u64, u64)>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(
        "SELECT CASE WHEN instr(id, '/') > 0 THEN substr(id, 1, instr(id, '/')) ELSE id END AS kind,
                count(*), sum(length(id) + length(value))
         FROM records GROUP BY kind ORDER BY kind",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?.cast_unsigned(),
                r.get::<_, i64>(2)?.cast_unsigned(),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Mean latency of a 4 KiB write + `sync_data` in `dir`: appending (the
/// file grows, so the file system commits metadata) and overwriting in
/// place. SQLite's WAL does both: it grows until the first checkpoint, then
/// is rewritten from the start.
fn fsync_probe(dir: &Path) -> Res<(Duration, Duration)> {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let n = 100;
    let t0 = Instant::now();
    for _ in 0..n {
        f.write_all(&block)?;
        f.sync_data()?;
    }
    let append = t0.elapsed() / n;
    let t0 = Instant::now();
    for i in 0..n {
        f.seek(SeekFrom::Start(u64::from(i) * 4096))?;
        f.write_all(&block)?;
        f.sync_data()?;
    }
    let overwrite = t0.elapsed() / n;
    drop(f);
    std::fs::remove_file(path)?;
    Ok((append, overwrite))
}

struct Milestone {
    keys: u64,
    build_rate: f64,
    file_bytes: u64,
    backend_open: Duration,
    store_open: Duration,
    load_per_s: f64,
}

fn main() -> Res<()> {
    let a = args()?;
    let tmp = tempfile::tempdir()?;
    let disk = a.disk.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&disk)?;
    println!(
        "keylife scale benchmark: {} keys; disk dir {}; build dir {}",
        a.keys,
        disk.display(),
        a.fast
            .as_ref()
            .map_or_else(|| "(same as disk)".to_owned(), |p| p.display().to_string())
    );
    println!(
        "machine: {} CPUs; StoreOptions::default() (audit_buffer does not apply: create and info entries are never buffered)",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let (append, overwrite) = fsync_probe(&disk)?;
    println!(
        "disk: 4 KiB write + fdatasync: {:.2} ms appending, {:.2} ms overwriting in place",
        ms(append),
        ms(overwrite)
    );

    // 1 and 2, twice (disk latency varies): single durable creates, then
    // the same from several threads on one store.
    let durable = disk.join("durable.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", durable.display()));
    }
    let store = open(&durable)?;
    let mut singles = Vec::new();
    let mut parallel = Vec::new();
    for round in 1..=2 {
        let t0 = Instant::now();
        let (_, mut lat) = create_keys(&store, a.single, 1, &format!("single{round}"))?;
        let d = t0.elapsed();
        let rate = per_s(a.single, d);
        println!(
            "\n[1] round {round}: single durable creates on disk: {} keys in {:.2} s = {:.0} keys/s (latency p50 {:.2} ms, p99 {:.2} ms)",
            a.single,
            d.as_secs_f64(),
            rate,
            ms(percentile(&mut lat, 500)),
            ms(percentile(&mut lat, 990))
        );
        singles.push(rate);
        for &t in &a.threads {
            let t0 = Instant::now();
            let (_, mut lat) = create_keys(&store, a.single, t, &format!("par{round}-{t}"))?;
            let d = t0.elapsed();
            let rate = per_s(a.single, d);
            println!(
                "[2] round {round}: {t} threads, one store: {} keys in {:.2} s = {:.0} keys/s (latency p50 {:.2} ms, p99 {:.2} ms)",
                a.single,
                d.as_secs_f64(),
                rate,
                ms(percentile(&mut lat, 500)),
                ms(percentile(&mut lat, 990))
            );
            parallel.push((round, t, rate));
        }
    }
    drop(store);
    let single_rate = singles.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "    extrapolated from the slower round: {} single durable creates would take {}",
        a.keys,
        hours(a.keys as f64 / single_rate)
    );

    // 3. The big store, with milestones copied to disk.
    let build_dir = a.fast.clone().unwrap_or_else(|| disk.clone());
    let big = build_dir.join(format!("keylife-scale-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", big.display()));
    }
    let mut milestones: Vec<u64> = [1_000, 10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|m| *m < a.keys)
        .collect();
    milestones.push(a.keys);
    let mut ids: Vec<KeyId> = Vec::new();
    let mut results: Vec<Milestone> = Vec::new();
    let mut copy: Option<PathBuf> = None;
    let mut rng = Rng(0x5ca1e);
    let build_start = Instant::now();
    for &m in &milestones {
        let store = open(&big)?;
        let n = m - ids.len() as u64;
        let t0 = Instant::now();
        let (new, _) = create_keys(&store, n, a.build_threads, &format!("big{m}"))?;
        let d = t0.elapsed();
        ids.extend(new);
        drop(store);
        let build_rate = per_s(n, d);
        SqliteBackend::open(&big)?.checkpoint()?;
        // Copy to disk for the measurements (the WAL is empty after the
        // checkpoint).
        if let Some(old) = copy.take() {
            std::fs::remove_file(old)?;
        }
        let target = if a.fast.is_some() {
            let t = disk.join(format!("scale-{m}.db"));
            std::fs::copy(&big, &t)?;
            t
        } else {
            big.clone()
        };
        let file_bytes = std::fs::metadata(&target)?.len();
        let (backend_open, store_open) = open_times(&target, 7)?;
        let store = open(&target)?;
        let probes = 20_000.min(ids.len());
        let t0 = Instant::now();
        for _ in 0..probes {
            let id = ids[rng.below(ids.len())];
            store.load::<Aead>(&id)?;
        }
        let load_per_s = per_s(probes as u64, t0.elapsed());
        drop(store);
        println!(
            "[3] {m} keys: built at {build_rate:.0} keys/s ({n} new in {:.1} s); file {:.1} MiB = {:.0} bytes/key; open {:.2} ms (backend {:.2} ms); {load_per_s:.0} loads/s over {probes} random ids",
            d.as_secs_f64(),
            file_bytes as f64 / 1_048_576.0,
            file_bytes as f64 / m as f64,
            ms(store_open),
            ms(backend_open),
        );
        results.push(Milestone {
            keys: m,
            build_rate,
            file_bytes,
            backend_open,
            store_open,
            load_per_s,
        });
        if target != big {
            copy = Some(target);
        }
    }
    let build_total = build_start.elapsed();
    let last = copy.clone().unwrap_or_else(|| big.clone());
    let parts = breakdown(&last)?;

    // 4. Lookups on the largest store.
    let store = open(&last)?;
    let rss_before = rss_mib();
    let t0 = Instant::now();
    for _ in 0..a.lookups {
        let id = ids[rng.below(ids.len())];
        store.load::<Aead>(&id)?;
    }
    let load_1 = per_s(a.lookups, t0.elapsed());
    let rss_after = rss_mib();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let store = store.clone();
            let ids: Vec<KeyId> = (0..a.lookups / 2)
                .map(|i| {
                    let pick = (i * 7919 + t * 104_729) % ids.len() as u64;
                    ids[usize::try_from(pick).unwrap_or(0)]
                })
                .collect();
            std::thread::spawn(move || -> Result<(), String> {
                for id in ids {
                    store.load::<Aead>(&id).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "lookup thread panicked")??;
    }
    let load_2 = per_s(a.lookups / 2 * 2, t0.elapsed());
    let rss_after_2 = rss_mib();
    let t0 = Instant::now();
    for _ in 0..a.info_lookups {
        let id = ids[rng.below(ids.len())];
        store.info(&id)?;
    }
    let info_rate = per_s(a.info_lookups, t0.elapsed());
    drop(store);
    println!(
        "[4] {} keys: load::<Aead> {load_1:.0}/s (1 thread), {load_2:.0}/s (2 threads); info {info_rate:.0}/s (each info commits its audit entry); resident memory {rss_before} before {} loads, {rss_after} after, {rss_after_2} after {} more",
        ids.len(),
        a.lookups,
        a.lookups / 2 * 2
    );

    // Summary.
    println!("\n## Summary\n");
    println!(
        "disk fdatasync of 4 KiB: {:.2} ms appending, {:.2} ms overwriting",
        ms(append),
        ms(overwrite)
    );
    for (round, rate) in singles.iter().enumerate() {
        println!(
            "single durable creates (disk), round {}: {rate:.0} keys/s",
            round + 1
        );
    }
    println!(
        "extrapolated {} single durable creates (slower round): {}",
        a.keys,
        hours(a.keys as f64 / single_rate)
    );
    for (round, t, r) in &parallel {
        println!("parallel creates (disk), round {round}, {t} threads, one store: {r:.0} keys/s");
    }
    println!(
        "big store: {} keys built in {:.1} s on {}",
        ids.len(),
        build_total.as_secs_f64(),
        build_dir.display()
    );
    println!(
        "\n| keys | build keys/s | file MiB | bytes/key | open (store) ms | open (backend) ms | load/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.1} | {:.0} | {:.2} | {:.2} | {:.0} |",
            r.keys,
            r.build_rate,
            r.file_bytes as f64 / 1_048_576.0,
            r.file_bytes as f64 / r.keys as f64,
            ms(r.store_open),
            ms(r.backend_open),
            r.load_per_s
        );
    }
    println!("\nrecords in the largest file (id + sealed value bytes):\n");
    println!("| kind | records | bytes | bytes/key |");
    println!("|---|---:|---:|---:|");
    for (kind, n, bytes) in &parts {
        println!(
            "| {kind} | {n} | {bytes} | {:.0} |",
            *bytes as f64 / ids.len().max(1) as f64
        );
    }
    println!(
        "\nlookups on {} keys: load {load_1:.0}/s (1 thread), {load_2:.0}/s (2 threads); info {info_rate:.0}/s; RSS {rss_before} → {rss_after} → {rss_after_2} over 2 × {} random loads",
        ids.len(),
        a.lookups
    );
    if a.fast.is_some() {
        let _ = std::fs::remove_file(&big);
    }
    if let Some(c) = copy {
        let _ = std::fs::remove_file(c);
    }
    Ok(())
}
