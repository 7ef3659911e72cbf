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
