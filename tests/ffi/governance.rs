//! Governance through the C ABI: the policy in force and its digest, the
//! compliance report, registered principals and the grants that gate
//! applications, dual control with signed approvals; and NULL for every
//! pointer argument of those calls.

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

const POLICY_V1: &CStr = c"version = 1
classifications = ['internal', 'secret']

[purpose.aead]
usage_limit = 1000
";

fn policy_digest(policy: &CStr) -> Result<String, kl_result> {
    fetch(|o, c, l| kl_policy_digest(policy.as_ptr(), o.cast(), c, l)).map(text)
}

#[test]
fn policy_in_force_digest_and_compliance_report() {
    let s = store();
    let toml = |s: &Store| fetch(|o, c, l| kl_store_policy_toml(s.0, o.cast(), c, l)).map(text);
    assert_eq!(toml(&s), Err(KL_ERR_NOT_FOUND));
    ok!(kl_store_set_policy_toml(s.0, POLICY_V1.as_ptr()));
    let canonical = toml(&s).unwrap_or_default();
    assert!(canonical.starts_with("version = 1\n"), "{canonical}");
    assert!(canonical.contains("usage_limit = 1000"), "{canonical}");
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let info = info(&k);
    assert_eq!(info["usage_limit"], 1000);
    assert_eq!(info["policy_version"], 1);

    // The digest: of the canonical form, so of the policy, not its spelling.
    let d1 = policy_digest(POLICY_V1).unwrap_or_default();
    assert_eq!(d1.len(), KL_POLICY_DIGEST_HEX_LEN);
    let again = CString::new(canonical.clone()).unwrap_or_default();
    assert_eq!(policy_digest(&again).as_deref(), Ok(d1.as_str()));
    assert_eq!(info["policy_digest"].as_str(), Some(d1.as_str()));
    let mut short = [0xAAu8; KL_POLICY_DIGEST_HEX_LEN];
    let mut len = 0;
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_policy_digest(
            POLICY_V1.as_ptr(),
            short.as_mut_ptr().cast(),
            short.len(),
            &mut len
        )
    );
    assert_eq!(len, KL_POLICY_DIGEST_HEX_LEN + 1);

    // Bad policies: syntax, unknown fields, failed checks, old versions.
    for bad in [
        c"version = ",
        c"version = 2\nfavourite_colour = 'blue'",
        c"version = 2\n[destruction]\nmin_wait_days = 7\ndefault_wait_days = 3",
        c"[purpose.aead]\nusage_limit = 'many'",
    ] {
        fails!(KL_ERR_POLICY, kl_store_set_policy_toml(s.0, bad.as_ptr()));
        assert!(last_error().contains("policy line"), "{}", last_error());
        assert_eq!(policy_digest(bad), Err(KL_ERR_POLICY));
    }
    fails!(
        KL_ERR_POLICY,
        kl_store_set_policy_toml(s.0, POLICY_V1.as_ptr())
    );
    assert!(
        last_error().contains("does not increase"),
        "{}",
        last_error()
    );
    ok!(kl_store_set_policy_toml(s.0, c"version = 2".as_ptr()));
    assert!(toml(&s).unwrap_or_default().starts_with("version = 2"));
    let op = as_principal(&s, c"op", KL_ROLE_OPERATOR);
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_set_policy_toml(op.0, c"version = 3".as_ptr())
    );

    // The compliance report: the key has no owner.
    let report =
        json(fetch(|o, c, l| kl_store_compliance_report_json(s.0, o, c, l)).unwrap_or_default());
    let owners = report["without_owner"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|f| f.to_string().contains(id_of(&k).to_str().unwrap_or("-"))),
        "{report}"
    );
}

#[test]
fn principals_and_grants_gate_applications() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let grant = |k: &Key, ops: u32, expires: u64| kl_key_grant(k.0, c"svc".as_ptr(), ops, expires);
    // Grants name registered principals only, and only registered
    // principals get handles.
    fails!(KL_ERR_NOT_FOUND, grant(&k, KL_OP_ENCRYPT, 0));
    let mut none = null_mut();
    fails!(
        KL_ERR_NOT_FOUND,
        kl_store_as_principal(s.0, c"svc".as_ptr(), &mut none)
    );
    assert!(none.is_null());
    ok!(kl_store_register_principal(
        s.0,
        c"svc".as_ptr(),
        KL_ROLE_APPLICATION
    ));
    let svc = as_principal(&s, c"svc", KL_ROLE_APPLICATION);
    let k_svc = load(&svc, &k);
    fails!(
        KL_ERR_ALREADY_EXISTS,
        kl_store_register_principal(s.0, c"svc".as_ptr(), KL_ROLE_APPLICATION)
    );
    for (name, role) in [(c"x", 0), (c"x", 6), (c"", 1), (c"a/b", 1)] {
        fails!(
            KL_ERR_INVALID_ARGUMENT,
            kl_store_register_principal(s.0, name.as_ptr(), role)
        );
    }
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_register_principal(svc.0, c"svc2".as_ptr(), KL_ROLE_APPLICATION)
    );
    // Operations: at least one, only known bits, a representable expiry.
    for bad in [0, 512, 1 << 31, KL_OP_ENCRYPT | 1024] {
        fails!(KL_ERR_INVALID_ARGUMENT, grant(&k, bad, 0));
    }
    fails!(KL_ERR_INVALID_ARGUMENT, grant(&k, KL_OP_ENCRYPT, u64::MAX));

    assert_eq!(encrypt(&k_svc, b"m", b""), Err(KL_ERR_PERMISSION_DENIED));
    ok!(grant(&k, KL_OP_ENCRYPT, 0));
    let ct = encrypt(&k_svc, b"m", b"").unwrap_or_default();
    assert_eq!(decrypt(&k_svc, &ct, b""), Err(KL_ERR_PERMISSION_DENIED));
    let granted = info(&k);
    assert_eq!(granted["grants"][0]["principal"], "svc");
    assert_eq!(
        granted["grants"][0]["operations"],
        serde_json::json!(["encrypt"])
    );
    // An application cannot grant itself more.
    fails!(KL_ERR_PERMISSION_DENIED, grant(&k_svc, KL_OP_DECRYPT, 0));
    ok!(grant(&k, KL_OP_ENCRYPT | KL_OP_DECRYPT, 0));
    assert_eq!(decrypt(&k_svc, &ct, b"").as_deref(), Ok(&b"m"[..]));
    // An expiry in the past: no use.
    ok!(grant(&k, KL_OP_DECRYPT, 1));
    assert_eq!(decrypt(&k_svc, &ct, b""), Err(KL_ERR_PERMISSION_DENIED));
    // Far in the future: fine.
    ok!(grant(&k, KL_OP_DECRYPT, i64::MAX as u64));
    assert!(decrypt(&k_svc, &ct, b"").is_ok());
    ok!(kl_key_revoke_grant(k.0, c"svc".as_ptr()));
    assert_eq!(decrypt(&k_svc, &ct, b""), Err(KL_ERR_PERMISSION_DENIED));
    fails!(KL_ERR_NOT_FOUND, kl_key_revoke_grant(k.0, c"svc".as_ptr()));
    // Every KL_OP_* bit names a use operation the core accepts in a grant.
    let mut all = 0;
    for (bit, _) in OPERATION_BITS {
        ok!(grant(&k, bit, 0));
        all |= bit;
    }
    ok!(grant(&k, all, 0));
    assert_eq!(
        info(&k)["grants"][0]["operations"].as_array().map(Vec::len),
        Some(OPERATION_BITS.len())
    );
    // Grants work in any state and never consume the handle.
    ok!(kl_key_deactivate(k.0, c"".as_ptr()));
    ok!(kl_key_revoke_grant(k.0, c"svc".as_ptr()));
    assert_eq!(state(&k), KL_STATE_DEACTIVATED);
}

// ----- dual control -----

/// An approver with their signing key in their own store.
struct Approver {
    name: &'static CStr,
    _store: Store,
    key: Key,
}

fn approver(name: &'static CStr) -> Approver {
    let s = store_as(name, KL_ROLE_ADMINISTRATOR);
    let key = key(&s, KL_PURPOSE_SIGNING, true);
    Approver {
        name,
        _store: s,
        key,
    }
}

impl Approver {
    fn approve(&self, request: &CStr) -> String {
        approve_as(&self.key, self.name, request)
    }
}

/// An approval of `request` signed with `key` in the name of `name`.
fn approve_as(key: &Key, name: &CStr, request: &CStr) -> String {
    text(
        fetch(|o, c, l| kl_key_approve(key.0, name.as_ptr(), request.as_ptr(), o, c, l))
            .unwrap_or_default(),
    )
}

fn array(items: &[String]) -> CString {
    CString::new(format!("[{}]", items.join(","))).unwrap_or_default()
}

const DUAL_CONTROL: &CStr = c"version = 1
[approvals.destroy]
required = 2
approvers = ['carol', 'dave', 'erin']
[approvals.policy_change]
required = 2
approvers = ['carol', 'dave', 'erin']
";

#[test]
fn dual_control_through_requests_and_signed_approvals() {
    let s = store();
    let (carol, dave, erin) = (approver(c"carol"), approver(c"dave"), approver(c"erin"));
    for a in [&carol, &dave, &erin] {
        let der = public_der(&a.key).unwrap_or_default();
        ok!(kl_store_register_approver(
            s.0,
            a.name.as_ptr(),
            der.as_ptr(),
            der.len()
        ));
    }
    let der = public_der(&carol.key).unwrap_or_default();
    fails!(
        KL_ERR_ALREADY_EXISTS,
        kl_store_register_approver(s.0, c"carol".as_ptr(), der.as_ptr(), der.len())
    );
    fails!(
        KL_ERR_MALFORMED,
        kl_store_register_approver(s.0, c"mallory".as_ptr(), b"junk".as_ptr(), 4)
    );
    ok!(kl_store_set_policy_toml(s.0, DUAL_CONTROL.as_ptr()));

    // Without approvals: refused (and, as an attempted transition, the
    // handle is consumed).
    let doomed = key(&s, KL_PURPOSE_AEAD, false);
    let id = id_of(&doomed);
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        kl_key_destroy(doomed.0, c"cleanup".as_ptr())
    );
    let req = request(&s, KL_APPROVAL_DESTROY, &id, c"").unwrap_or_default();
    let parsed: serde_json::Value =
        serde_json::from_slice(req.as_bytes()).unwrap_or(serde_json::Value::Null);
    assert_eq!(parsed["operation"], "destroy");
    assert_eq!(parsed["requester"], "tester");
    assert_eq!(parsed["key_id"].as_str(), id.to_str().ok());
    let canonical = fetch(|o, c, l| kl_approval_request_canonical_bytes(req.as_ptr(), o, c, l))
        .unwrap_or_default();
    assert!(canonical.starts_with(b"keylife-approval-v1\0"));

    // One approval is not enough; the same approver twice counts once; an
    // approval signed by the wrong key is refused.
    let (a_carol, a_dave) = (carol.approve(&req), dave.approve(&req));
    assert!(
        a_carol.starts_with("{\"approver\":\"carol\",\"signature\":\""),
        "{a_carol}"
    );
    let submit =
        |approvals: &CStr| kl_store_submit_approvals(s.0, req.as_ptr(), approvals.as_ptr());
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        submit(&array(std::slice::from_ref(&a_carol)))
    );
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        submit(&array(&[a_carol.clone(), a_carol.clone()]))
    );
    let forged = approve_as(&carol.key, c"dave", &req);
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        submit(&array(&[a_carol.clone(), forged]))
    );
    // Malformed inputs.
    for bad in [
        c"",
        c"{}",
        c"[{\"approver\":\"carol\"}]",
        c"[1]",
        c"[{\"approver\":\"carol\",\"signature\":\"%%%\"}]",
    ] {
        fails!(KL_ERR_MALFORMED, submit(bad));
    }
    let good = array(&[a_carol, a_dave]);
    for bad in [c"", c"{}", c"{\"request_id\":\"00\"}"] {
        fails!(
            KL_ERR_MALFORMED,
            kl_store_submit_approvals(s.0, bad.as_ptr(), good.as_ptr())
        );
    }
    // Two real approvals: the destruction goes through, once.
    ok!(submit(&good));
    let mut k = null_mut();
    ok!(kl_key_load(s.0, id.as_ptr(), &mut k));
    let k = Key(k);
    ok!(kl_key_destroy(k.0, c"approved".as_ptr()));
    assert_eq!(state(&k), KL_STATE_DESTROYED);
    fails!(KL_ERR_APPROVAL_REQUIRED, submit(&good));

    // A policy change under dual control: the request names the digest.
    let next = c"version = 2";
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        kl_store_set_policy_toml(s.0, next.as_ptr())
    );
    let digest = policy_digest(next).unwrap_or_default();
    let params = CString::new(format!("{{\"policy_digest\":\"{digest}\"}}")).unwrap_or_default();
    let req = request(&s, KL_APPROVAL_POLICY_CHANGE, c"", &params).unwrap_or_default();
    let approvals = array(&[erin.approve(&req), dave.approve(&req)]);
    ok!(kl_store_submit_approvals(
        s.0,
        req.as_ptr(),
        approvals.as_ptr()
    ));
    fails!(
        KL_ERR_APPROVAL_REQUIRED,
        kl_store_set_policy_toml(s.0, c"version = 3".as_ptr())
    );
    ok!(kl_store_set_policy_toml(s.0, next.as_ptr()));

    // An operation the policy does not gate (any more): a policy error.
    let req = request(&s, KL_APPROVAL_RESTORE, c"", c"{}").unwrap_or_default();
    let approvals = array(&[erin.approve(&req), dave.approve(&req)]);
    fails!(
        KL_ERR_POLICY,
        kl_store_submit_approvals(s.0, req.as_ptr(), approvals.as_ptr())
    );

    // Bad requests.
    assert_eq!(request(&s, 0, c"", c""), Err(KL_ERR_INVALID_ARGUMENT));
    assert_eq!(request(&s, 8, c"", c""), Err(KL_ERR_INVALID_ARGUMENT));
    assert_eq!(
        request(&s, KL_APPROVAL_DESTROY, c"xyz", c""),
        Err(KL_ERR_MALFORMED)
    );
    for bad in [c"[]", c"{\"a\":1}", c"{", c"\"x\""] {
        assert_eq!(
            request(&s, KL_APPROVAL_RESTORE, c"", bad),
            Err(KL_ERR_MALFORMED)
        );
    }
    let mut len = 0;
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_request_approval(
            s.0,
            KL_APPROVAL_RESTORE,
            c"".as_ptr(),
            c"".as_ptr(),
            0,
            null_mut(),
            0,
            &mut len
        )
    );
    // Approving: an Active signing key, a name, request JSON; the buffer is
    // checked before signing and the size asked for is always enough.
    let req = request(&s, KL_APPROVAL_RESTORE, c"", c"").unwrap_or_default();
    let mut small = [0xAAu8; 16];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_key_approve(
            carol.key.0,
            c"carol".as_ptr(),
            req.as_ptr(),
            small.as_mut_ptr(),
            16,
            &mut len
        )
    );
    assert!(small.iter().all(|b| *b == 0xAA));
    let mut buf = vec![0u8; len];
    let asked = len;
    let out = buf.as_mut_ptr();
    let approve = |k: &Key, name: &CStr, req: &CStr, len: &mut usize| {
        kl_key_approve(k.0, name.as_ptr(), req.as_ptr(), out, asked, len)
    };
    for _ in 0..20 {
        ok!(approve(&carol.key, c"carol", &req, &mut len));
        assert!(len <= asked);
    }
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        approve(&carol.key, c" ", &req, &mut len)
    );
    fails!(
        KL_ERR_MALFORMED,
        approve(&carol.key, c"carol", c"{}", &mut len)
    );
    let aead = key(&s, KL_PURPOSE_AEAD, true);
    fails!(
        KL_ERR_WRONG_PURPOSE,
        approve(&aead, c"carol", &req, &mut len)
    );
    let idle = key(&s, KL_PURPOSE_SIGNING, false);
    fails!(KL_ERR_WRONG_STATE, approve(&idle, c"carol", &req, &mut len));
    fails!(
        KL_ERR_MALFORMED,
        kl_approval_request_canonical_bytes(c"{}".as_ptr(), out, asked, &mut len)
    );
}

/// Every pointer argument of the policy, principal, grant and approval
/// calls, NULL in turn, with every other argument valid (each call then
/// succeeds as a control, where it can): `KL_ERR_NULL_POINTER`.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let st = store();
    let s = st.0;
    let signer = key(&st, KL_PURPOSE_SIGNING, true);
    let sk = signer.0.cast_const();
    let aead = key(&st, KL_PURPOSE_AEAD, true);
    let k = aead.0.cast_const();
    let der = public_der(&signer).unwrap_or_default();
    let (pk, pkl) = (der.as_ptr(), der.len());
    let mut out = Scratch::new(4096);
    let (b, cap, l) = out.args();
    let mut approval = Scratch::new(512);
    let (ab, acap, _) = approval.args();
    let (n, a, p) = (c"svc".as_ptr(), c"carol".as_ptr(), c"version = 1".as_ptr());
    let (e, o, arr) = (c"".as_ptr(), c"{}".as_ptr(), c"[]".as_ptr());
    let r = KL_APPROVAL_RESTORE;
    let req = request(&st, r, c"", c"{}").unwrap_or_default();
    let q = req.as_ptr();

    #[rustfmt::skip]
    let table: &[NullCase] = &[
        // Policy and compliance.
        ("kl_store_set_policy_toml", "store", NP, &|| kl_store_set_policy_toml(null(), p)),
        ("kl_store_set_policy_toml", "policy_toml", NP, &|| kl_store_set_policy_toml(s, null())),
        ("kl_store_set_policy_toml", "-", KL_OK, &|| kl_store_set_policy_toml(s, p)),
        ("kl_store_policy_toml", "store", NP, &|| kl_store_policy_toml(null(), b.cast(), cap, l)),
        ("kl_store_policy_toml", "out", NP, &|| kl_store_policy_toml(s, null_mut(), cap, l)),
        ("kl_store_policy_toml", "out_len", NP, &|| kl_store_policy_toml(s, b.cast(), cap, null_mut())),
        ("kl_store_policy_toml", "-", KL_OK, &|| kl_store_policy_toml(s, b.cast(), cap, l)),
        ("kl_policy_digest", "policy_toml", NP, &|| kl_policy_digest(null(), b.cast(), cap, l)),
        ("kl_policy_digest", "out", NP, &|| kl_policy_digest(p, null_mut(), cap, l)),
        ("kl_policy_digest", "out_len", NP, &|| kl_policy_digest(p, b.cast(), cap, null_mut())),
        ("kl_policy_digest", "-", KL_OK, &|| kl_policy_digest(p, b.cast(), cap, l)),
        ("kl_store_compliance_report_json", "store", NP, &|| kl_store_compliance_report_json(null(), b, cap, l)),
        ("kl_store_compliance_report_json", "out", NP, &|| kl_store_compliance_report_json(s, null_mut(), cap, l)),
        ("kl_store_compliance_report_json", "out_len", NP, &|| kl_store_compliance_report_json(s, b, cap, null_mut())),
        ("kl_store_compliance_report_json", "-", KL_OK, &|| kl_store_compliance_report_json(s, b, cap, l)),
        // Principals, approvers, grants.
        ("kl_store_register_principal", "store", NP, &|| kl_store_register_principal(null(), n, KL_ROLE_APPLICATION)),
        ("kl_store_register_principal", "name", NP, &|| kl_store_register_principal(s, null(), KL_ROLE_APPLICATION)),
        ("kl_store_register_principal", "-", KL_OK, &|| kl_store_register_principal(s, n, KL_ROLE_APPLICATION)),
        ("kl_store_register_approver", "store", NP, &|| kl_store_register_approver(null(), a, pk, pkl)),
        ("kl_store_register_approver", "name", NP, &|| kl_store_register_approver(s, null(), pk, pkl)),
        ("kl_store_register_approver", "public_key", NP, &|| kl_store_register_approver(s, a, null(), pkl)),
        ("kl_store_register_approver", "-", KL_OK, &|| kl_store_register_approver(s, a, pk, pkl)),
        ("kl_key_grant", "key", NP, &|| kl_key_grant(null(), n, KL_OP_ENCRYPT, 0)),
        ("kl_key_grant", "principal", NP, &|| kl_key_grant(k, null(), KL_OP_ENCRYPT, 0)),
        ("kl_key_grant", "-", KL_OK, &|| kl_key_grant(k, n, KL_OP_ENCRYPT, 0)),
        ("kl_key_revoke_grant", "key", NP, &|| kl_key_revoke_grant(null(), n)),
        ("kl_key_revoke_grant", "principal", NP, &|| kl_key_revoke_grant(k, null())),
        ("kl_key_revoke_grant", "-", KL_OK, &|| kl_key_revoke_grant(k, n)),
        // Dual control.
        ("kl_store_request_approval", "store", NP, &|| kl_store_request_approval(null(), r, e, o, 60, b, cap, l)),
        ("kl_store_request_approval", "key_id_hex", NP, &|| kl_store_request_approval(s, r, null(), o, 60, b, cap, l)),
        ("kl_store_request_approval", "parameters_json", NP, &|| kl_store_request_approval(s, r, e, null(), 60, b, cap, l)),
        ("kl_store_request_approval", "out", NP, &|| kl_store_request_approval(s, r, e, o, 60, null_mut(), cap, l)),
        ("kl_store_request_approval", "out_len", NP, &|| kl_store_request_approval(s, r, e, o, 60, b, cap, null_mut())),
        ("kl_key_approve", "key", NP, &|| kl_key_approve(null(), a, q, ab, acap, l)),
        ("kl_key_approve", "approver_name", NP, &|| kl_key_approve(sk, null(), q, ab, acap, l)),
        ("kl_key_approve", "request_json", NP, &|| kl_key_approve(sk, a, null(), ab, acap, l)),
        ("kl_key_approve", "out", NP, &|| kl_key_approve(sk, a, q, null_mut(), acap, l)),
        ("kl_key_approve", "out_len", NP, &|| kl_key_approve(sk, a, q, ab, acap, null_mut())),
        ("kl_key_approve", "-", KL_OK, &|| kl_key_approve(sk, a, q, ab, acap, l)),
        ("kl_approval_request_canonical_bytes", "request_json", NP, &|| kl_approval_request_canonical_bytes(null(), b, cap, l)),
        ("kl_approval_request_canonical_bytes", "out", NP, &|| kl_approval_request_canonical_bytes(q, null_mut(), cap, l)),
        ("kl_approval_request_canonical_bytes", "out_len", NP, &|| kl_approval_request_canonical_bytes(q, b, cap, null_mut())),
        ("kl_approval_request_canonical_bytes", "-", KL_OK, &|| kl_approval_request_canonical_bytes(q, b, cap, l)),
        ("kl_store_submit_approvals", "store", NP, &|| kl_store_submit_approvals(null(), q, arr)),
        ("kl_store_submit_approvals", "request_json", NP, &|| kl_store_submit_approvals(s, null(), arr)),
        ("kl_store_submit_approvals", "approvals_json", NP, &|| kl_store_submit_approvals(s, q, null())),
    ];
    check_null_table(table);
}
