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

// ----- export only to trusted destinations -----

use keylife::purpose::{Agreement, Derivation, Mac, Signing};
use keylife::{Approval, PublicKey};

/// A store with an exportable MAC key, and a partner store's inbox.
struct Export {
    here: KeyStore,
    key: keylife::KeyId,
    partner_inbox: PublicKey,
}

fn export_setup() -> Export {
    let here = KeyStore::in_memory(Principal::admin("ops")).unwrap();
    let partner = KeyStore::in_memory(Principal::admin("partner")).unwrap();
    let inbox = partner
        .create_active(KeySpec::<Agreement>::new("inbox"))
        .unwrap();
    let key = here
        .create_active(KeySpec::<Mac>::new("webhooks").exportable(true))
        .unwrap()
        .id();
    Export {
        here,
        key,
        partner_inbox: inbox.public_key(None).unwrap(),
    }
}

#[test]
fn exports_go_only_to_registered_destinations() {
    let e = export_setup();
    // Untrusted: refused before anything is read.
    assert_eq!(
        kind(e.here.export_to_recipient(&e.key, None, &e.partner_inbox)),
        ErrorKind::PermissionDenied
    );
    e.here.trust_recipient("partner", &e.partner_inbox).unwrap();
    assert_eq!(
        kind(e.here.trust_recipient("partner", &e.partner_inbox)),
        ErrorKind::AlreadyExists
    );
    assert!(
        e.here
            .export_to_recipient(&e.key, None, &e.partner_inbox)
            .is_ok()
    );
    let listed = e.here.trusted_destinations().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "partner");
    assert_eq!(
        listed[0].fingerprint,
        e.partner_inbox.fingerprint().unwrap()
    );
    // Removed: refused again.
    e.here.untrust_destination("partner").unwrap();
    assert_eq!(
        kind(e.here.export_to_recipient(&e.key, None, &e.partner_inbox)),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        kind(e.here.untrust_destination("partner")),
        ErrorKind::NotFound
    );
    // Only administrators register destinations.
    e.here
        .register_principal(&Principal::new("op", &[Role::Operator]))
        .unwrap();
    let op = e.here.as_principal("op").unwrap();
    assert_eq!(
        kind(op.trust_recipient("mine", &e.partner_inbox)),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn registering_a_destination_takes_dual_control_when_policy_says_so() {
    let e = export_setup();
    let approvers: Vec<(&str, keylife::Key<Signing, keylife::state::Active>)> = ["carol", "dave"]
        .into_iter()
        .map(|n| {
            let own = KeyStore::in_memory(Principal::admin(n)).unwrap();
            let k = own
                .create_active(KeySpec::<Signing>::new("approvals"))
                .unwrap();
            e.here
                .register_approver(n, &k.public_key(None).unwrap())
                .unwrap();
            (n, k)
        })
        .collect();
    e.here
        .set_policy(
            &keylife::Policy::from_toml(
                "version = 1\n[approvals.trust_destination]\nrequired = 2\napprovers = [\"carol\", \"dave\"]\n",
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        kind(e.here.trust_recipient("partner", &e.partner_inbox)),
        ErrorKind::ApprovalRequired
    );
    let fp = e.partner_inbox.fingerprint().unwrap();
    // Approvals for another destination do not count.
    let other = e
        .here
        .request_approval(
            keylife::policy::ApprovalOperation::TrustDestination,
            None,
            &[("destination", "elsewhere"), ("fingerprint", &fp)],
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    let sign = |req: &keylife::ApprovalRequest| -> Vec<Approval> {
        approvers
            .iter()
            .map(|(n, k)| Approval::new(n, k.sign(&req.canonical_bytes()).unwrap()))
            .collect()
    };
    e.here.submit_approvals(&other, &sign(&other)).unwrap();
    assert_eq!(
        kind(e.here.trust_recipient("partner", &e.partner_inbox)),
        ErrorKind::ApprovalRequired
    );
    let req = e
        .here
        .request_approval(
            keylife::policy::ApprovalOperation::TrustDestination,
            None,
            &[("destination", "partner"), ("fingerprint", &fp)],
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    e.here.submit_approvals(&req, &sign(&req)).unwrap();
    e.here.trust_recipient("partner", &e.partner_inbox).unwrap();
    assert!(
        e.here
            .export_to_recipient(&e.key, None, &e.partner_inbox)
            .is_ok()
    );
}

/// The old route to plaintext without `hazmat`: derive a wrapping key from
/// a Derivation key of the same store, export under it, unwrap.
/// `WrappingKey::unwrap` exists only with `hazmat` (see its docs), and the
/// store refuses the wrapping key as a destination.
#[test]
fn a_wrapping_key_derived_from_this_store_is_not_a_destination_without_hazmat() {
    let e = export_setup();
    let root = e
        .here
        .create_active(KeySpec::<Derivation>::new("root"))
        .unwrap();
    let kek = root.derive_wrapping_key(b"mine").unwrap();
    assert_eq!(kek.derived_from(), Some(root.id()));
    // Untrusted: refused in every build.
    assert_eq!(
        kind(e.here.export_wrapped(&e.key, None, &kek)),
        ErrorKind::PermissionDenied
    );
    let trusted = e.here.trust_wrapping_key("mine", &kek);
    if cfg!(feature = "hazmat") {
        trusted.unwrap();
        assert!(e.here.export_wrapped(&e.key, None, &kek).is_ok());
    } else {
        assert_eq!(trusted.unwrap_err().kind(), ErrorKind::PermissionDenied);
        assert_eq!(
            kind(e.here.export_wrapped(&e.key, None, &kek)),
            ErrorKind::PermissionDenied
        );
    }
    // Derived in another store: a destination like any other.
    let elsewhere = KeyStore::in_memory(Principal::admin("b")).unwrap();
    let theirs = elsewhere
        .create_active(KeySpec::<Derivation>::new("root"))
        .unwrap()
        .derive_wrapping_key(b"site b")
        .unwrap();
    e.here.trust_wrapping_key("site-b", &theirs).unwrap();
    let sent = e.here.export_wrapped(&e.key, None, &theirs).unwrap();
    let (copy, kcv) = elsewhere
        .import_wrapped(KeySpec::<Mac>::new("webhooks"), &sent.bytes, &theirs)
        .unwrap();
    assert_eq!(kcv, sent.check_value);
    assert_eq!(copy.check_value(None).unwrap(), sent.check_value);
}

/// The other old route: export to one of this store's own agreement keys,
/// then `hpke_open` the transported key.
#[test]
fn this_stores_own_agreement_key_is_not_a_destination_without_hazmat() {
    let e = export_setup();
    let own = e
        .here
        .create_active(KeySpec::<Agreement>::new("own-inbox"))
        .unwrap();
    let pk = own.public_key(None).unwrap();
    let trusted = e.here.trust_recipient("own", &pk);
    if cfg!(feature = "hazmat") {
        trusted.unwrap();
        let sent = e.here.export_to_recipient(&e.key, None, &pk).unwrap();
        // With hazmat, raw material may come out (audited as an export).
        assert!(sent.bytes.len() > 26);
    } else {
        assert_eq!(trusted.unwrap_err().kind(), ErrorKind::PermissionDenied);
        assert_eq!(
            kind(e.here.export_to_recipient(&e.key, None, &pk)),
            ErrorKind::PermissionDenied
        );
    }
    // A transported key is opened only by import, never by hpke_open:
    // the key-transport info is reserved (without hazmat).
    let partner = KeyStore::in_memory(Principal::admin("partner")).unwrap();
    let inbox = partner
        .create_active(KeySpec::<Agreement>::new("inbox"))
        .unwrap();
    e.here
        .trust_recipient("partner", &inbox.public_key(None).unwrap())
        .unwrap();
    let sent = e
        .here
        .export_to_recipient(&e.key, None, &inbox.public_key(None).unwrap())
        .unwrap();
    let (enc, ct) = sent.bytes[26..].split_at(65);
    let opened = inbox.hpke_open(
        enc,
        keylife::hpke::AeadId::Aes256Gcm,
        b"keylife key transport v1",
        &sent.bytes[..26],
        ct,
    );
    if cfg!(feature = "hazmat") {
        assert_eq!(opened.unwrap().len(), 32);
    } else {
        assert_eq!(opened.unwrap_err().kind(), ErrorKind::PermissionDenied);
    }
    // The governed way in works in every build.
    let (copy, kcv) = partner
        .import_from_sender(KeySpec::<Mac>::new("webhooks"), &sent.bytes, &inbox)
        .unwrap();
    assert_eq!(kcv, sent.check_value);
    drop(copy);
}

/// Backups are key transport too: their shares go only to registered
/// principals with the custodian role.
#[test]
fn backup_shares_go_only_to_registered_custodians() {
    let e = export_setup();
    e.here
        .register_principal(&Principal::new("carol", &[Role::Custodian]))
        .unwrap();
    e.here
        .register_principal(&Principal::new("dave", &[Role::Auditor]))
        .unwrap();
    // Unregistered, and registered without the custodian role: refused.
    for names in [["carol", "mallory"], ["carol", "dave"]] {
        let err = e.here.backup(&[e.key], 2, &names).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{names:?}: {err}");
        assert!(err.to_string().contains("custodian"), "{err}");
    }
    e.here
        .register_principal(&Principal::new("erin", &[Role::Custodian]))
        .unwrap();
    let b = e.here.backup(&[e.key], 2, &["carol", "erin"]).unwrap();
    assert_eq!(b.shares.len(), 2);
}
