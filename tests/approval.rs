//! Dual control through the public API, with every approver keeping their
//! signing key in their own keylife store and everything moved as JSON.
#![allow(clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use keylife::approval::{Approval, ApprovalRequest, ApproverRegistry, Intent, verify_approvals};
use keylife::policy::{ApprovalOperation, Policy};
use keylife::purpose::Signing;
use keylife::{ErrorKind, Key, KeyId, KeySpec, KeyStore, Principal, Timestamp, state::Active};

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const HOUR: i64 = 3_600_000;

/// One person's approval key, in their own store.
fn approver_key(name: &str) -> Key<Signing, Active> {
    KeyStore::in_memory(Principal::admin(name))
        .expect("store")
        .create_active(KeySpec::<Signing>::new(&format!("{name}-approvals")))
        .expect("signing key")
}

fn sign(key: &Key<Signing, Active>, name: &str, request_json: &str) -> String {
    // The approver reads the request, then signs exactly what it says.
    let req = ApprovalRequest::from_json(request_json).expect("request");
    let sig = key.sign(&req.canonical_bytes()).expect("sign");
    serde_json::to_string(&Approval::new(name, sig)).expect("approval json")
}

#[test]
fn destroy_with_two_of_three_keylife_held_approvals() {
    let policy = Policy::from_toml(
        "version = 1\n[approvals.destroy]\nrequired = 2\napprovers = ['carol', 'dave', 'erin']\n",
    )
    .expect("policy");
    let rule = policy
        .approval_rule(ApprovalOperation::Destroy)
        .expect("rule");
    let (carol, dave, mallory) = (
        approver_key("carol"),
        approver_key("dave"),
        approver_key("mallory"),
    );

    // The store's registry, persisted and reloaded as JSON.
    let mut registry = ApproverRegistry::new();
    registry
        .register("carol", carol.public_key(None).expect("pk"))
        .expect("register");
    registry
        .register("dave", dave.public_key(None).expect("pk"))
        .expect("register");
    let registry = ApproverRegistry::from_json(&registry.to_json().expect("json")).expect("reload");

    // Bob asks to destroy a key; the request travels as JSON.
    let key_id: KeyId = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f".parse().expect("id");
    let request = ApprovalRequest::new(
        ApprovalOperation::Destroy,
        Some(key_id),
        "bob",
        Timestamp(NOW.0 + HOUR),
    )
    .expect("request")
    .with_parameter("reason", "end of contract");
    let request_json = request.to_json().expect("json");

    let from_carol = sign(&carol, "carol", &request_json);
    let from_dave = sign(&dave, "dave", &request_json);
    // Mallory holds a real key, just not dave's.
    let forged = sign(&mallory, "dave", &request_json);

    let parse = |j: &str| serde_json::from_str::<Approval>(j).expect("approval");
    let params = BTreeMap::from([("reason".to_owned(), "end of contract".to_owned())]);
    let intent = Intent {
        operation: ApprovalOperation::Destroy,
        key_id: Some(key_id),
        parameters: &params,
        principal: "bob",
    };
    let used = RefCell::new(HashSet::new());
    let run = |approvals: &[Approval]| {
        verify_approvals(&request, approvals, &intent, rule, &registry, NOW, &|id| {
            used.borrow().contains(id)
        })
    };

    let forged_result = run(&[parse(&from_carol), parse(&forged)]);
    let err = forged_result.expect_err("forged approval accepted");
    assert_eq!(err.kind(), ErrorKind::ApprovalRequired);
    assert!(err.to_string().contains("'dave' does not verify"), "{err}");

    let counted = run(&[parse(&from_carol), parse(&from_dave)]).expect("approved");
    assert_eq!(counted, ["carol", "dave"]);
    used.borrow_mut().insert(request.request_id.clone());

    let replay = run(&[parse(&from_carol), parse(&from_dave)]).expect_err("replay accepted");
    assert!(replay.to_string().contains("already used"), "{replay}");
}
