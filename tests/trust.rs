//! Handles are capabilities: only the handle that opened the store mints
//! principal handles, a principal's roles come from the store's registry
//! and never from the caller, and no route lets a principal handle act as
//! another principal or with other roles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

use std::sync::Arc;

use keylife::backend::MemoryBackend;
use keylife::purpose::Aead;
use keylife::{ErrorKind, Kek, KeySpec, KeyStore, Operation, Principal, RawKek, Role};

fn kind<T: std::fmt::Debug>(r: keylife::Result<T>) -> ErrorKind {
    r.unwrap_err().kind()
}

/// An opened store with a registered application `billing`, and an active
/// key.
fn setup() -> (KeyStore, keylife::KeyId) {
    let store = KeyStore::in_memory(Principal::admin("ops")).unwrap();
    store
        .register_principal(&Principal::new("billing", &[Role::Application]))
        .unwrap();
    let id = store
        .create_active(KeySpec::<Aead>::new("invoices"))
        .unwrap()
        .id();
    (store, id)
}

#[test]
fn roles_come_from_the_registry_not_from_the_caller() {
    let (store, id) = setup();
    // The old escalation: a handle for "billing" claiming Administrator.
    // There is no way to claim roles any more; billing acts as registered.
    let billing = store.as_principal("billing").unwrap();
    assert!(billing.principal().has_role(Role::Application));
    assert!(!billing.principal().has_role(Role::Administrator));
    assert!(!billing.is_opener());
    // So it encrypts only through a grant, and creates nothing.
    let key = billing.load_active::<Aead>(&id).unwrap();
    assert_eq!(kind(key.encrypt(b"m", b"")), ErrorKind::PermissionDenied);
    assert_eq!(
        kind(billing.create(KeySpec::<Aead>::new("mine"))),
        ErrorKind::PermissionDenied
    );
    // Nor can it grant itself use, through either kind of key handle.
    assert_eq!(
        kind(key.grant("billing", &[Operation::Encrypt], None)),
        ErrorKind::PermissionDenied
    );
    let handle = billing.load_handle(&id).unwrap();
    assert_eq!(
        kind(handle.grant("billing", &[Operation::Encrypt], None)),
        ErrorKind::PermissionDenied
    );
    // Nor register itself (or anyone) anew.
    assert_eq!(
        kind(billing.register_principal(&Principal::admin("billing2"))),
        ErrorKind::PermissionDenied
    );
    // Once an administrator grants it, the grant is what it has.
    store
        .load_active::<Aead>(&id)
        .unwrap()
        .grant("billing", &[Operation::Encrypt], None)
        .unwrap();
    assert!(key.encrypt(b"m", b"").is_ok());
}

#[test]
fn a_principal_handle_cannot_become_another_principal() {
    let (store, _) = setup();
    let billing = store.as_principal("billing").unwrap();
    // The old escalation: app.as_principal(Principal::admin("root")).
    for name in ["ops", "billing", "root"] {
        assert_eq!(
            kind(billing.as_principal(name)),
            ErrorKind::PermissionDenied
        );
        // Clones keep the handle's rights, no more.
        assert_eq!(
            kind(billing.clone().as_principal(name)),
            ErrorKind::PermissionDenied
        );
    }
    // Key handles carry their store handle's principal.
    let id = store.create(KeySpec::<Aead>::new("k")).unwrap().id();
    let k = billing.load_handle(&id).unwrap();
    assert_eq!(kind(k.activate()), ErrorKind::PermissionDenied);
    // The opening handle mints, but only registered principals.
    assert_eq!(kind(store.as_principal("root")), ErrorKind::NotFound);
    assert!(store.is_opener() && store.clone().is_opener());
}

#[test]
fn opening_takes_roles_from_the_registry_and_establishes_the_first_administrator() {
    let backend = Arc::new(MemoryBackend::new());
    let kek = Kek::generate().unwrap().expose_secret().to_vec();
    let raw = || RawKek::new(Kek::from_bytes(&kek).unwrap());
    // A new store's first principal must be an administrator...
    assert_eq!(
        kind(KeyStore::open(
            Arc::clone(&backend),
            &raw(),
            Principal::new("app", &[Role::Application])
        )),
        ErrorKind::PermissionDenied
    );
    // ...and becomes the first.
    let first = KeyStore::open(Arc::clone(&backend), &raw(), Principal::admin("ops")).unwrap();
    first
        .register_principal(&Principal::new("billing", &[Role::Application]))
        .unwrap();
    drop(first);
    // An unregistered name cannot open the store, even with the KEK.
    assert_eq!(
        kind(KeyStore::open(
            Arc::clone(&backend),
            &raw(),
            Principal::admin("mallory")
        )),
        ErrorKind::NotFound
    );
    // A registered application cannot open it claiming other roles.
    assert_eq!(
        kind(KeyStore::open(
            Arc::clone(&backend),
            &raw(),
            Principal::admin("billing")
        )),
        ErrorKind::PermissionDenied
    );
    // With its registered roles it opens, as what it is.
    let billing = KeyStore::open(
        Arc::clone(&backend),
        &raw(),
        Principal::new("billing", &[Role::Application]),
    )
    .unwrap();
    assert!(billing.principal().has_role(Role::Application));
    assert_eq!(
        kind(billing.create(KeySpec::<Aead>::new("k"))),
        ErrorKind::PermissionDenied
    );
    // The administrator reopens as before.
    let ops = KeyStore::open(Arc::clone(&backend), &raw(), Principal::admin("ops")).unwrap();
    assert!(ops.principal().has_role(Role::Administrator));
    assert_eq!(
        ops.registered_principal("ops").unwrap().roles(),
        vec![Role::Administrator]
    );
}
