//! Shared fixtures for the integration tests.
#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;

use keylife::backend::MemoryBackend;
use keylife::{
    Kek, KeyStore, ManualClock, MemoryAuditSink, Principal, RawKek, StoreOptions, Timestamp,
};

/// 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);
pub const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

pub struct Fixture {
    pub store: KeyStore,
    pub clock: ManualClock,
    pub audit: Arc<MemoryAuditSink>,
    pub backend: Arc<MemoryBackend>,
    pub kek: Vec<u8>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_options(StoreOptions::default())
    }

    pub fn with_options(options: StoreOptions) -> Fixture {
        let backend = Arc::new(MemoryBackend::new());
        let kek = Kek::generate().expect("kek").expose_secret().to_vec();
        let clock = ManualClock::new(T0);
        let audit = Arc::new(MemoryAuditSink::default());
        let store = KeyStore::builder(backend.clone())
            .clock(clock.clone())
            .audit_sink(audit.clone())
            .options(options)
            .open(&raw(&kek), Principal::admin("alice"))
            .expect("open store");
        Fixture {
            store,
            clock,
            audit,
            backend,
            kek,
        }
    }

    /// A second, independent store handle on the same backend (another
    /// "process": its own key cells, same records).
    pub fn reopen(&self, options: StoreOptions) -> KeyStore {
        KeyStore::builder(self.backend.clone())
            .clock(self.clock.clone())
            .options(options)
            .open(&raw(&self.kek), Principal::admin("alice"))
            .expect("reopen store")
    }
}

pub fn raw(kek: &[u8]) -> RawKek {
    RawKek::new(Kek::from_bytes(kek).expect("kek bytes"))
}

/// Mints a handle for a principal from the opening handle, registering the
/// principal first when the store does not know it yet (roles come from
/// the registry, so a test states them once, at registration).
pub trait Mint {
    fn mint(&self, p: Principal) -> KeyStore;
}

impl Mint for KeyStore {
    fn mint(&self, p: Principal) -> KeyStore {
        match self.register_principal(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == keylife::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("registering {}: {e}", p.name()),
        }
        self.as_principal(p.name())
            .unwrap_or_else(|e| panic!("minting {}: {e}", p.name()))
    }
}

/// A memory backend that counts commits, and the records and bytes of key
/// and version records (`key/`, `ver/`) they write — what a change costs
/// in storage, without timing anything.
#[derive(Default)]
pub struct Counting {
    pub inner: MemoryBackend,
    pub commits: std::sync::atomic::AtomicUsize,
    pub key_records: std::sync::atomic::AtomicUsize,
    pub key_bytes: std::sync::atomic::AtomicUsize,
}

impl Counting {
    /// (commits, key and version records, their bytes) so far.
    pub fn counts(&self) -> (usize, usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.commits.load(SeqCst),
            self.key_records.load(SeqCst),
            self.key_bytes.load(SeqCst),
        )
    }
}

impl keylife::backend::Backend for Counting {
    fn get(&self, id: &str) -> keylife::Result<Option<keylife::backend::Record>> {
        self.inner.get(id)
    }
    fn commit(&self, ops: &[keylife::backend::WriteOp]) -> keylife::Result<Vec<u64>> {
        use std::sync::atomic::Ordering::SeqCst;
        self.commits.fetch_add(1, SeqCst);
        for op in ops {
            if let keylife::backend::WriteOp::Put { id, value, .. } = op
                && (id.starts_with("key/") || id.starts_with("ver/"))
            {
                self.key_bytes.fetch_add(value.len(), SeqCst);
                self.key_records.fetch_add(1, SeqCst);
            }
        }
        self.inner.commit(ops)
    }
    fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> keylife::Result<Vec<(String, keylife::backend::Record)>> {
        self.inner.scan(prefix, after, limit)
    }
    fn change_counter(&self) -> keylife::Result<u64> {
        self.inner.change_counter()
    }
}
