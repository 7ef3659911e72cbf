//! Full vs incremental audit verification on a large log (issue 14 item 7).
//!
//! ```sh
//! cargo run --release --example audit_verify -- 1000000 1000   # entries, added after the checkpoint
//! ```
//!
//! Builds an on-disk SQLite store whose log holds about N entries (one per
//! encryption: `AuditUses::Each`), signs a checkpoint, adds M more, and
//! times `verify_audit` (the whole chain) against `verify_audit_since`
//! (the checkpoint's signature, its entry, and the M after it).

use std::time::Instant;

use keylife::backend::SqliteBackend;
use keylife::purpose::{Aead, Signing};
use keylife::{AuditUses, Kek, KeySpec, KeyStore, Principal, RawKek, StoreOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map_or(Ok(200_000), |s| s.parse())?;
    let m: u64 = args.get(2).map_or(Ok(1_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let mut opts = StoreOptions::default();
    opts.audit_uses = AuditUses::Each;
    opts.audit_buffer = 4096;
    let store = KeyStore::builder(SqliteBackend::open(dir.path().join("s.db"))?)
        .options(opts)
        .open(&RawKek::new(Kek::generate()?), Principal::admin("ops"))?;
    let key = store.create_active(KeySpec::<Aead>::new("k"))?;
    let signer = store.create_active(KeySpec::<Signing>::new("audit-signer"))?;
    let t = Instant::now();
    for _ in 0..n {
        key.encrypt(b"m", b"")?;
    }
    store.flush_audit()?;
    let built = t.elapsed();
    let cp = store.audit_checkpoint(&signer)?;
    for _ in 0..m {
        key.encrypt(b"m", b"")?;
    }
    store.flush_audit()?;
    let t = Instant::now();
    let full = store.verify_audit()?;
    let full_t = t.elapsed();
    let t = Instant::now();
    let inc = store.verify_audit_since(&cp, &signer.public_key(None)?)?;
    let inc_t = t.elapsed();
    println!(
        "log of {} entries (built in {:.1} s): full verification {:.3} s ({} entries), \
         since the checkpoint {:.4} s ({} entries), {:.0}x less time",
        full.head_seq,
        built.as_secs_f64(),
        full_t.as_secs_f64(),
        full.entries,
        inc_t.as_secs_f64(),
        inc.entries,
        full_t.as_secs_f64() / inc_t.as_secs_f64()
    );
    Ok(())
}
