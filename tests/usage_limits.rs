//! AES-GCM usage limits across restarts: reserved invocations are counted
//! as used when a store reopens (never under-counted), and near the limit
//! the reservations shrink so that a restart costs at most
//! `min(usage block, max(1, remaining / 8))` invocations of what remained.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::sync::Arc;

use keylife::backend::MemoryBackend;
use keylife::purpose::Aead;
use keylife::{ErrorKind, Kek, KeyId, KeySpec, KeyStore, Principal, RawKek, StoreOptions};

struct Disk {
    backend: Arc<MemoryBackend>,
    kek: Vec<u8>,
}

impl Disk {
    fn new() -> Disk {
        Disk {
            backend: Arc::new(MemoryBackend::new()),
            kek: Kek::generate().unwrap().expose_secret().to_vec(),
        }
    }

    /// Opens (or reopens: a restart) the store.
    fn open(&self) -> KeyStore {
        let kek = RawKek::new(Kek::from_bytes(&self.kek).unwrap());
        KeyStore::builder(Arc::clone(&self.backend))
            .options(StoreOptions::default())
            .open(&kek, Principal::admin("ops"))
            .unwrap()
    }
}

/// Encrypts with `id` until refused; returns how many succeeded and the
/// refusal's kind.
fn encrypt_until_refused(store: &KeyStore, id: &KeyId, cap: u64) -> (u64, Option<ErrorKind>) {
    let key = store.load_active::<Aead>(id).unwrap();
    for n in 0..cap {
        if let Err(e) = key.encrypt(b"m", b"") {
            return (n, Some(e.kind()));
        }
    }
    (cap, None)
}

/// A key with `limit`, `used` encryptions, a restart: how many more
/// encryptions the budget still allows.
fn left_after_restart(limit: u64, used: u64) -> u64 {
    let disk = Disk::new();
    let store = disk.open();
    let id = store
        .create_active(KeySpec::<Aead>::new("k").usage_limit(limit))
        .unwrap()
        .id();
    let (done, refused) = encrypt_until_refused(&store, &id, used);
    assert_eq!((done, refused), (used, None), "limit {limit}");
    drop(store);
    let store = disk.open();
    let (more, refused) = encrypt_until_refused(&store, &id, limit + 1);
    assert_eq!(
        refused,
        Some(ErrorKind::UsageLimitExceeded),
        "limit {limit}"
    );
    // Never more than the limit in all.
    assert!(used + more <= limit, "limit {limit}: {used} + {more}");
    more
}

#[test]
fn a_restart_costs_at_most_an_eighth_of_what_remains_near_the_limit() {
    // Limit 1: the one invocation used, nothing lost.
    assert_eq!(left_after_restart(1, 1), 0);
    // Limit 1, restarted before any use: nothing was reserved, nothing lost.
    assert_eq!(left_after_restart(1, 0), 1);
    // Limit 3, two used: the third survives the restart (it used to be
    // lost with the whole 4,096 block counted).
    assert_eq!(left_after_restart(3, 2), 1);
    // Limit 4,096, two used: the reservations were an eighth of what
    // remained, so at most 512 are lost.
    let left = left_after_restart(4096, 2);
    assert!((4096 - 2 - 512..=4096 - 2).contains(&left), "{left}");
}

#[test]
fn far_from_the_limit_a_restart_costs_at_most_one_block() {
    let disk = Disk::new();
    let store = disk.open();
    let block = store.options().usage_block;
    let id = store.create_active(KeySpec::<Aead>::new("k")).unwrap().id();
    assert_eq!(
        store.info(&id).unwrap().usage_limit,
        keylife::AES_GCM_INVOCATION_LIMIT
    );
    let key = store.load_active::<Aead>(&id).unwrap();
    key.encrypt(b"m", b"").unwrap();
    key.encrypt(b"m", b"").unwrap();
    drop(key);
    drop(store);
    let store = disk.open();
    // The restart counted the reserved block as used: 2 used, block lost
    // less the 2.
    let counted = store.info(&id).unwrap().versions[0].usage_count;
    assert_eq!(counted, block, "usage block {block}");
    store
        .load_active::<Aead>(&id)
        .unwrap()
        .encrypt(b"m", b"")
        .unwrap();
    // Counting goes on from there.
    assert_eq!(store.info(&id).unwrap().versions[0].usage_count, block + 1);
}
