//! Governance: principals, approvers, approvals (dual control), policy.

use keylife::approval::{Approval, ApprovalRequest};
use keylife::policy::ApprovalOperation;
use keylife::{KeyStore, Policy, Principal, PublicKey, Role};
use serde_json::json;

use crate::args::{ApprovalCmd, ApprovalOp, ApproverCmd, Global, PolicyCmd, PrincipalCmd, RoleArg};
use crate::cmd::key::resolve;
use crate::fail::{Exit, Fail, Result};
use crate::output::{line, read_text, show, table, write_output};

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Administrator => Role::Administrator,
        RoleArg::Operator => Role::Operator,
        RoleArg::Application => Role::Application,
        RoleArg::Auditor => Role::Auditor,
        RoleArg::Custodian => Role::Custodian,
    }
}

fn approval_op(o: ApprovalOp) -> ApprovalOperation {
    match o {
        ApprovalOp::Destroy => ApprovalOperation::Destroy,
        ApprovalOp::ScheduleDestruction => ApprovalOperation::ScheduleDestruction,
        ApprovalOp::Export => ApprovalOperation::Export,
        ApprovalOp::Restore => ApprovalOperation::Restore,
        ApprovalOp::PolicyChange => ApprovalOperation::PolicyChange,
        ApprovalOp::CompromisedDecrypt => ApprovalOperation::CompromisedDecrypt,
        ApprovalOp::TrustDestination => ApprovalOperation::TrustDestination,
    }
}

fn principal_json(p: &Principal) -> serde_json::Value {
    json!({"name": p.name(), "roles": p.roles().iter().map(|r| r.as_str()).collect::<Vec<_>>()})
}

/// `principal …`
pub fn principal(g: &Global, store: &KeyStore, cmd: &PrincipalCmd) -> Result<()> {
    let p = match cmd {
        PrincipalCmd::Add { name, roles } => {
            let roles: Vec<Role> = roles.iter().map(|r| role(*r)).collect();
            let p = Principal::new(name, &roles);
            store.register_principal(&p)?;
            p
        }
        PrincipalCmd::Show { name } => store.registered_principal(name)?,
        PrincipalCmd::List => {
            let all: Vec<serde_json::Value> =
                store.principals()?.iter().map(principal_json).collect();
            return show(g, &all, |rows| {
                let mut t = table(&["name", "roles"]);
                for r in rows {
                    let roles: Vec<&str> = r["roles"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    t.add_row(vec![
                        r["name"].as_str().unwrap_or("").to_owned(),
                        roles.join(", "),
                    ]);
                }
                t
            });
        }
    };
    let v = principal_json(&p);
    line(g, &v, |_| {
        let roles: Vec<&str> = p.roles().iter().map(|r| r.as_str()).collect();
        format!("principal {}: {}", p.name(), roles.join(", "))
    })
}

/// `approver …`
pub fn approver(g: &Global, store: &KeyStore, cmd: &ApproverCmd) -> Result<()> {
    match cmd {
        ApproverCmd::List => {
            let reg = store.approver_registry()?;
            let mut rows = Vec::new();
            for name in reg.names() {
                let fp = match reg.get(name) {
                    Some(pk) => pk.fingerprint()?,
                    None => String::new(),
                };
                rows.push(json!({"approver": name, "fingerprint": fp}));
            }
            show(g, &rows, |rows| {
                let mut t = table(&["approver", "key fingerprint"]);
                for r in rows {
                    t.add_row(vec![
                        r["approver"].as_str().unwrap_or("").to_owned(),
                        r["fingerprint"].as_str().unwrap_or("").to_owned(),
                    ]);
                }
                t
            })
        }
        ApproverCmd::Add { name, public_key } => {
            let pem = read_text(public_key)?;
            let pk = PublicKey::from_spki_pem(&pem)
                .map_err(|e| Fail::from(e).context(&public_key.display().to_string()))?;
            store.register_approver(name, &pk)?;
            let fp = pk.fingerprint()?;
            line(g, &json!({"approver": name, "fingerprint": fp}), |_| {
                format!("approver {name} registered (key {fp})")
            })
        }
    }
}

fn read_request(path: &std::path::Path) -> Result<ApprovalRequest> {
    ApprovalRequest::from_json(&read_text(path)?)
        .map_err(|e| Fail::from(e).context(&path.display().to_string()))
}

/// `approval …`
pub fn approval(g: &Global, store: &KeyStore, cmd: &ApprovalCmd) -> Result<()> {
    match cmd {
        ApprovalCmd::Request {
            operation,
            key,
            params,
            ttl,
            output,
        } => {
            let key_id = match key {
                Some(k) => Some(resolve(store, k)?.id()),
                None => None,
            };
            let params: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let req = store.request_approval(approval_op(*operation), key_id, &params, *ttl)?;
            write_output(output, format!("{}\n", req.to_json()?).as_bytes())
        }
        ApprovalCmd::Sign {
            request,
            key,
            approver,
            output,
        } => {
            let req = read_request(request)?;
            let signer = resolve(store, key)?;
            let a = Approval::new(approver, signer.sign(&req.canonical_bytes())?);
            let text = serde_json::to_string(&a)
                .map_err(|e| Fail::new(Exit::Failure, format!("approval JSON: {e}")))?;
            write_output(output, format!("{text}\n").as_bytes())
        }
        ApprovalCmd::Submit { request, approvals } => {
            let req = read_request(request)?;
            let mut list = Vec::new();
            for path in approvals {
                let a: Approval = serde_json::from_str(&read_text(path)?).map_err(|e| {
                    Fail::new(
                        Exit::Malformed,
                        format!("{}: not an approval: {e}", path.display()),
                    )
                })?;
                list.push(a);
            }
            store.submit_approvals(&req, &list)?;
            line(
                g,
                &json!({"request_id": req.request_id, "accepted": true}),
                |_| {
                    format!(
                        "request {} approved by {}",
                        req.request_id,
                        list.iter()
                            .map(|a| a.approver.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            )
        }
        ApprovalCmd::List => {
            let pending: Vec<serde_json::Value> = store
                .pending_approvals()?
                .into_iter()
                .map(|(r, approvers)| {
                    json!({
                        "request_id": r.request_id,
                        "operation": r.operation,
                        "key_id": r.key_id,
                        "requester": r.requester,
                        "expires_at": r.expires_at,
                        "approvers": approvers,
                    })
                })
                .collect();
            show(g, &pending, |rows| {
                let mut t = table(&[
                    "request",
                    "operation",
                    "key",
                    "requester",
                    "expires",
                    "approved by",
                ]);
                for r in rows {
                    let text = |k: &str| match &r[k] {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => "-".to_owned(),
                        v => v.to_string(),
                    };
                    let by: Vec<String> = r["approvers"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                    t.add_row(vec![
                        text("request_id"),
                        text("operation"),
                        text("key_id"),
                        text("requester"),
                        text("expires_at"),
                        by.join(", "),
                    ]);
                }
                t
            })
        }
        ApprovalCmd::Show { request } => {
            let req = read_request(request)?;
            show(g, &req, |r| {
                let mut t = table(&["field", "value"]);
                t.add_row(vec!["request".to_owned(), r.request_id.clone()]);
                t.add_row(vec!["operation".to_owned(), r.operation.to_string()]);
                t.add_row(vec![
                    "key".to_owned(),
                    r.key_id.map_or("-".into(), |k| k.to_string()),
                ]);
                for (k, v) in &r.parameters {
                    t.add_row(vec![format!("parameter {k}"), v.clone()]);
                }
                t.add_row(vec!["requester".to_owned(), r.requester.clone()]);
                t.add_row(vec!["expires".to_owned(), r.expires_at.to_string()]);
                t
            })
        }
    }
}

fn read_policy(path: &std::path::Path) -> Result<Policy> {
    Policy::from_toml(&read_text(path)?)
        .map_err(|e| Fail::from(e).context(&path.display().to_string()))
}

/// `policy …`
pub fn policy(g: &Global, store: &KeyStore, cmd: &PolicyCmd) -> Result<()> {
    match cmd {
        PolicyCmd::Show => {
            let p = store
                .policy()?
                .ok_or_else(|| Fail::new(Exit::NotFound, "no policy in force"))?;
            match g.format {
                crate::args::Format::Json => {
                    let v: serde_json::Value = serde_json::from_str(&p.to_json()?)
                        .map_err(|e| Fail::new(Exit::Failure, format!("policy JSON: {e}")))?;
                    crate::output::json(&v)
                }
                crate::args::Format::Table => {
                    print!("{}", p.to_toml()?);
                    Ok(())
                }
            }
        }
        PolicyCmd::Set { file } => {
            let p = read_policy(file)?;
            store.set_policy(&p)?;
            line(
                g,
                &json!({"version": p.version(), "digest": p.digest()}),
                |_| format!("policy version {} in force ({})", p.version(), p.digest()),
            )
        }
        PolicyCmd::Diff { file } => {
            let new = read_policy(file)?;
            let changes = match store.policy()? {
                Some(cur) => cur.diff(&new),
                None => vec!["no policy in force: every rule is new".to_owned()],
            };
            show(g, &changes, |c| {
                let mut t = table(&["change"]);
                for line in c {
                    t.add_row(vec![line.clone()]);
                }
                t
            })
        }
        PolicyCmd::History => {
            let h: Vec<_> = store
                .policy_history()?
                .into_iter()
                .map(|(version, digest, _)| json!({"version": version, "digest": digest}))
                .collect();
            show(g, &h, |rows| {
                let mut t = table(&["version", "digest"]);
                for r in rows {
                    t.add_row(vec![
                        r["version"].to_string(),
                        r["digest"].as_str().unwrap_or("").to_owned(),
                    ]);
                }
                t
            })
        }
    }
}
