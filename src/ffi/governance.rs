//! Governance: the policy in force, the compliance report, principals and
//! approvers, per-key grants, and dual control (approval requests, signed
//! approvals).

use core::ffi::c_char;
use std::collections::BTreeMap;
use std::time::Duration;

use super::key::kl_key;
use super::key_ops::parse_public_key;
use super::{
    KL_POLICY_DIGEST_HEX_LEN, OPERATION_BITS, OutBuf, decode, guard, kl_result, kl_store,
    try_bytes, try_ref, try_str,
};
use crate::base::{Error, ErrorKind, Result};
use crate::governance::approval::{Approval, ApprovalRequest};
use crate::governance::policy::Policy;
use crate::governance::principal::Principal;
use crate::key::Operation;
use crate::key::Timestamp;

fn json_out(what: &str, r: serde_json::Result<String>) -> Result<String> {
    r.map_err(|e| Error::new(ErrorKind::Internal, format!("{what} encoding: {e}")))
}

// ----- policy -----

/// Puts a policy in force: `policy_toml` is a NUL-terminated TOML policy
/// document (see the policy documentation for its schema). Its `version`
/// must be higher than the current policy's. Keys created afterwards take
/// their limits, cryptoperiods and allowed algorithms from it, and record
/// its version and digest. When the current policy puts policy changes
/// under dual control, approvals must have been submitted first
/// (`kl_store_submit_approvals`) for a `KL_APPROVAL_POLICY_CHANGE` request
/// whose `policy_digest` parameter is this policy's `kl_policy_digest`.
/// Administrators only; audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_POLICY` for TOML that does not
/// parse or a policy that does not validate (the last error gives the line
/// and field) and for a version that does not increase;
/// `KL_ERR_APPROVAL_REQUIRED`; `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_set_policy_toml(
    store: *const kl_store,
    policy_toml: *const c_char,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, toml) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(policy_toml, "policy_toml")?,
            )
        };
        store.store.set_policy(&Policy::from_toml(toml)?)
    })
}

/// Writes the policy in force, in canonical TOML (fixed order, sorted sets;
/// what its digest is computed over), NUL-terminated, into
/// `(out, out_cap, out_len)`.
///
/// Errors: `KL_ERR_NOT_FOUND` when no policy was ever set (the built-in
/// defaults apply); `KL_ERR_NULL_POINTER`; `KL_ERR_BUFFER_TOO_SMALL`;
/// storage and integrity errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_policy_toml(
    store: *const kl_store,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, out) = unsafe {
            (
                try_ref(store, "store")?,
                OutBuf::new(out.cast::<u8>(), out_cap, out_len)?,
            )
        };
        let policy = store.store.policy()?.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "no policy was set in this store; the built-in defaults apply",
            )
        })?;
        out.fill(policy.to_toml()?.as_bytes(), true)
    })
}

/// Validates a TOML policy and writes its digest — lower-case hex SHA-256
/// of its canonical form, `KL_POLICY_DIGEST_HEX_LEN` digits and a NUL —
/// into `(out, out_cap, out_len)`. The digest names the policy in the
/// `policy_digest` parameter of a `KL_APPROVAL_POLICY_CHANGE` request and in
/// key metadata. Needs no store.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_POLICY` for an invalid policy;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_policy_digest(
    policy_toml: *const c_char,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (toml, out) = unsafe {
            (
                try_str(policy_toml, "policy_toml")?,
                OutBuf::new(out.cast::<u8>(), out_cap, out_len)?,
            )
        };
        out.require(KL_POLICY_DIGEST_HEX_LEN + 1)?;
        out.fill(Policy::from_toml(toml)?.digest().as_bytes(), true)
    })
}

/// Writes the compliance report — every key checked against the policy in
/// force (or the defaults): keys overdue for rotation, past their
/// cryptoperiod, violating policy, without an owner, near their usage
/// limit, pending destruction — as NUL-terminated, pretty-printed JSON into
/// `(out, out_cap, out_len)`: `generated_at`, `policy_version`,
/// `policy_digest`, `total_keys`, then one array of findings per check, each
/// finding naming the key (`key_id`, `name`, `owner`, `state`), what is
/// wrong (`detail`) and when (`date`). Needs the right to list keys.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_PERMISSION_DENIED`;
/// `KL_ERR_BUFFER_TOO_SMALL`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_compliance_report_json(
    store: *const kl_store,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, out) = unsafe {
            (
                try_ref(store, "store")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        let report = store.store.compliance_report()?;
        out.fill(report.to_json_pretty()?.as_bytes(), true)
    })
}

// ----- principals and approvers -----

/// Registers a principal `name` with role `role` (a `KL_ROLE_*` value), so
/// grants (`kl_key_grant`) can name it. Register the name a store handle
/// acts as (`kl_store_as_principal`) before granting it keys.
/// Administrators only; audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for an unknown
/// role, or a name that is empty, longer than 256 bytes or contains `/`;
/// `KL_ERR_ALREADY_EXISTS`; `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_register_principal(
    store: *const kl_store,
    name: *const c_char,
    role: u32,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, name) = unsafe { (try_ref(store, "store")?, try_str(name, "name")?) };
        let role = decode(role)?;
        store
            .store
            .register_principal(&Principal::new(name, &[role]))
    })
}

/// Registers an approver for dual control: `name` and their P-256 public
/// key, as DER SubjectPublicKeyInfo (`kl_key_public_key_der`) or a SEC 1
/// point. Their signatures over approval requests (`kl_key_approve`) then
/// count towards the approvals the policy requires of approvers it lists by
/// this name. Administrators only; audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for a bad public key;
/// `KL_ERR_ALREADY_EXISTS` for a name already registered;
/// `KL_ERR_INVALID_ARGUMENT` for an empty name;
/// `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_register_approver(
    store: *const kl_store,
    name: *const c_char,
    public_key: *const u8,
    public_key_len: usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid for its
        // length.
        let (store, name, pk) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(name, "name")?,
                try_bytes(public_key, public_key_len, "public_key")?,
            )
        };
        store.store.register_approver(name, &parse_public_key(pk)?)
    })
}

// ----- grants -----

/// The use operations named by a `KL_OP_*` bitmask.
fn operations_from(bits: u32) -> Result<Vec<Operation>> {
    let known = OPERATION_BITS.iter().fold(0, |acc, (b, _)| acc | b);
    if bits & !known != 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown operation bits {:#x} (KL_OP_*)", bits & !known),
        ));
    }
    if bits == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a grant names one or more operations (KL_OP_*)",
        ));
    }
    Ok(OPERATION_BITS
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, op)| *op)
        .collect())
}

/// Lets `principal` — a name registered with `kl_store_register_principal`
/// — perform `operations`, a bitwise OR of `KL_OP_*` values, on this key
/// until `expires_at_ms` (milliseconds since the Unix epoch; 0 for no
/// expiry). Applications use keys only through grants; administrators need
/// none. Replaces any earlier grant to the same principal. Works in every
/// state; the handle is never consumed. Administrators and operators;
/// audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for no
/// operation, unknown bits or an expiry beyond `INT64_MAX`;
/// `KL_ERR_NOT_FOUND` for an unregistered principal;
/// `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_grant(
    key: *const kl_key,
    principal: *const c_char,
    operations: u32,
    expires_at_ms: u64,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, who) = unsafe { (try_ref(key, "key")?, try_str(principal, "principal")?) };
        let ops = operations_from(operations)?;
        let expires = match expires_at_ms {
            0 => None,
            ms => Some(Timestamp(i64::try_from(ms).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    "expires_at_ms is beyond INT64_MAX",
                )
            })?)),
        };
        key.0.grant(who, &ops, expires)
    })
}

/// Withdraws `principal`'s grant on this key. Administrators and operators;
/// audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_NOT_FOUND` when the principal
/// holds no grant on the key; `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_revoke_grant(key: *const kl_key, principal: *const c_char) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, who) = unsafe { (try_ref(key, "key")?, try_str(principal, "principal")?) };
        key.0.revoke_grant(who)
    })
}

/// Sets the key's owner (the team or person answerable for it), in any
/// state. Administrators and operators; audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for a blank or
/// over-long owner (256 bytes); `KL_ERR_ALREADY_CONSUMED`;
/// `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_set_owner(key: *const kl_key, owner: *const c_char) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, owner) = unsafe { (try_ref(key, "key")?, try_str(owner, "owner")?) };
        key.0.set_owner(owner)
    })
}

// ----- dual control -----

/// `{"name": "value", …}` (or the empty string for none).
fn parameters_from(json: &str) -> Result<BTreeMap<String, String>> {
    if json.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::Malformed,
            format!("parameters_json must be a JSON object of strings: {e}"),
        )
    })
}

/// Starts a dual-control request by this store handle's principal for
/// `operation` (a `KL_APPROVAL_*` value) on the key `key_id_hex` (32 hex
/// digits, or `""` for operations on no key: restore, policy change), valid
/// for `ttl_seconds`. `parameters_json` is a JSON object of string values
/// naming the operation's other arguments — e.g.
/// `{"policy_digest":"<kl_policy_digest>"}` for a policy change — or `""`
/// for none.
///
/// The request is written as NUL-terminated JSON into
/// `(out, out_cap, out_len)`: hand it to the approvers, who sign it
/// (`kl_key_approve`, or their own tools over
/// `kl_approval_request_canonical_bytes`), then submit their approvals with
/// `kl_store_submit_approvals`. Nothing is stored until then; a request that
/// did not fit the buffer is discarded (ask again with a larger buffer: the
/// new request, with a new id, has the same length). Audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_INVALID_ARGUMENT` for an unknown
/// operation or a zero `ttl_seconds`; `KL_ERR_MALFORMED` for a bad key id or
/// parameters that are not a JSON object of strings;
/// `KL_ERR_PERMISSION_DENIED`; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_request_approval(
    store: *const kl_store,
    operation: u32,
    key_id_hex: *const c_char,
    parameters_json: *const c_char,
    ttl_seconds: u64,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, key_id, params, out) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(key_id_hex, "key_id_hex")?,
                try_str(parameters_json, "parameters_json")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        let op = decode(operation)?;
        let key = match key_id {
            "" => None,
            hex => Some(hex.parse()?),
        };
        let params = parameters_from(params)?;
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req =
            store
                .store
                .request_approval(op, key, &pairs, Duration::from_secs(ttl_seconds))?;
        out.fill(req.to_json()?.as_bytes(), true)
    })
}

fn parse_request(json: &str) -> Result<ApprovalRequest> {
    ApprovalRequest::from_json(json)
}

/// Submits the approvals gathered for a request this store handle's
/// principal made: `request_json` as `kl_store_request_approval` wrote it,
/// `approvals_json` a JSON array of approvals as `kl_key_approve` writes
/// them, `[{"approver":"<name>","signature":"<base64 DER>"}, …]`. They are
/// checked at once — signatures against the registered approver keys, the
/// policy's approver list and count, separation of duties (the requester's
/// own approval does not count), expiry, replay — and held until the
/// operation runs (e.g. `kl_key_destroy`, `kl_store_set_policy_toml`),
/// which consumes them. Audited.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for JSON that is not a
/// request or an array of approvals; `KL_ERR_APPROVAL_REQUIRED` saying which
/// check failed; `KL_ERR_POLICY` when the policy does not put this
/// operation under dual control; `KL_ERR_PERMISSION_DENIED`; storage errors.
#[unsafe(no_mangle)]
pub extern "C" fn kl_store_submit_approvals(
    store: *const kl_store,
    request_json: *const c_char,
    approvals_json: *const c_char,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (store, req, approvals) = unsafe {
            (
                try_ref(store, "store")?,
                try_str(request_json, "request_json")?,
                try_str(approvals_json, "approvals_json")?,
            )
        };
        let req = parse_request(req)?;
        let approvals: Vec<Approval> = serde_json::from_str(approvals).map_err(|e| {
            Error::new(
                ErrorKind::Malformed,
                format!("approvals_json must be a JSON array of approvals: {e}"),
            )
        })?;
        store.store.submit_approvals(&req, &approvals)
    })
}

/// Approves a request as approver `approver_name`: signs the canonical
/// bytes of `request_json` (`kl_approval_request_canonical_bytes`) with
/// this Active signing key — the approver's own key, whose public key was
/// registered with `kl_store_register_approver` under the same name — and
/// writes the approval as NUL-terminated JSON,
/// `{"approver":"<name>","signature":"<base64 DER>"}`, into
/// `(out, out_cap, out_len)`. Collect the approvals in a JSON array for
/// `kl_store_submit_approvals`. The buffer size is checked before signing.
/// Read the request before approving it: the signature covers every field.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for bad request JSON;
/// `KL_ERR_INVALID_ARGUMENT` for an empty approver name;
/// `KL_ERR_ALREADY_CONSUMED`; `KL_ERR_WRONG_PURPOSE`; `KL_ERR_WRONG_STATE`
/// unless Active; `KL_ERR_PERMISSION_DENIED`; `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_key_approve(
    key: *const kl_key,
    approver_name: *const c_char,
    request_json: *const c_char,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (key, name, req, out) = unsafe {
            (
                try_ref(key, "key")?,
                try_str(approver_name, "approver_name")?,
                try_str(request_json, "request_json")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        if name.trim().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the approver name must not be empty",
            ));
        }
        let req = parse_request(req)?;
        // The longest a DER P-256 signature gets, so the size check holds
        // whatever the signature's length.
        let longest = json_out(
            "approval",
            serde_json::to_string(&Approval::new(
                name,
                vec![0; super::KL_SIGNATURE_DER_MAX_LEN],
            )),
        )?;
        out.require(longest.len() + 1)?;
        let sig = key.0.sign(&req.canonical_bytes())?;
        let approval = json_out("approval", serde_json::to_string(&Approval::new(name, sig)))?;
        out.fill(approval.as_bytes(), true)
    })
}

/// Writes the exact bytes an approver signs for a request — a
/// domain-separated, length-prefixed encoding of every field of
/// `request_json` — into `(out, out_cap, out_len)`, for approvers who sign
/// with their own tools (ECDSA P-256 with SHA-256, DER; the approval JSON
/// carries the signature in standard base64). Needs no store.
///
/// Errors: `KL_ERR_NULL_POINTER`; `KL_ERR_MALFORMED` for bad request JSON;
/// `KL_ERR_BUFFER_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn kl_approval_request_canonical_bytes(
    request_json: *const c_char,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> kl_result {
    guard(|| {
        // SAFETY: per the contract, each pointer is NULL or valid.
        let (req, out) = unsafe {
            (
                try_str(request_json, "request_json")?,
                OutBuf::new(out, out_cap, out_len)?,
            )
        };
        out.fill(&parse_request(req)?.canonical_bytes(), false)
    })
}
