//! `keylife key …`: create, inspect, change state, rotate, grant.

use keylife::{
    KeyFilter, KeyHandle, KeyId, KeyInfo, KeySpec, KeyStore, Operation, Purpose, StateName,
    purpose::Aead,
};
use serde_json::json;

use crate::args::{
    CreateArgs, Global, GrantArgs, KeyCmd, KeyEncoding, ListArgs, PublicKeyArgs, PurposeArg,
    StateArg,
};
use crate::fail::{Exit, Fail, Result};
use crate::output::{self, confirm, line, show, table};

/// The library purpose of a `--purpose` value.
pub fn purpose(p: PurposeArg) -> Purpose {
    match p {
        PurposeArg::Aead => Purpose::Aead,
        PurposeArg::Signing => Purpose::Signing,
        PurposeArg::Mac => Purpose::Mac,
        PurposeArg::Agreement => Purpose::Agreement,
        PurposeArg::Derivation => Purpose::Derivation,
    }
}

fn state(s: StateArg) -> StateName {
    match s {
        StateArg::PreActive => StateName::PreActive,
        StateArg::Active => StateName::Active,
        StateArg::Suspended => StateName::Suspended,
        StateArg::Deactivated => StateName::Deactivated,
        StateArg::Compromised => StateName::Compromised,
        StateArg::PendingDestruction => StateName::PendingDestruction,
        StateArg::Destroyed => StateName::Destroyed,
        StateArg::DestroyedCompromised => StateName::DestroyedCompromised,
    }
}

/// The key an argument names: an id, or a name exactly one key holds.
pub fn resolve(store: &KeyStore, key: &str) -> Result<KeyHandle> {
    if let Ok(id) = key.parse::<KeyId>() {
        return Ok(store.load_handle(&id)?);
    }
    let found = store.list(&KeyFilter::new().name(key))?;
    match found.as_slice() {
        [one] => Ok(store.load_handle(&one.id)?),
        [] => Err(Fail::new(
            Exit::NotFound,
            format!("no key with id or name {key:?}"),
        )),
        many => Err(Fail::usage(format!(
            "{} keys are named {key:?} ({}): name one by id",
            many.len(),
            many.iter()
                .map(|k| format!("{} {}", k.id, k.state))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The inventory table.
fn list_table(keys: &Vec<KeyInfo>) -> comfy_table::Table {
    let mut t = table(&[
        "id", "name", "purpose", "state", "version", "owner", "created",
    ]);
    for k in keys {
        t.add_row(vec![
            k.id.to_string(),
            k.name.clone(),
            k.purpose.to_string(),
            k.state.to_string(),
            k.primary_version.to_string(),
            opt(k.owner.as_deref()),
            k.created_at.to_string(),
        ]);
    }
    t
}

fn info_table(k: &KeyInfo) -> comfy_table::Table {
    let mut t = table(&["field", "value"]);
    let rows: Vec<(&str, String)> = vec![
        ("id", k.id.to_string()),
        ("name", k.name.clone()),
        ("purpose", k.purpose.to_string()),
        ("algorithm", k.algorithm.to_string()),
        ("state", k.state.to_string()),
        ("owner", opt(k.owner.as_deref())),
        ("classification", opt(k.classification.as_deref())),
        (
            "labels",
            k.labels
                .iter()
                .map(|(a, b)| format!("{a}={b}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("created", k.created_at.to_string()),
        ("activated", opt(k.activated_at)),
        ("last rotated", opt(k.last_rotated_at)),
        ("deactivation date", opt(k.deactivation_date)),
        ("destruction date", opt(k.destruction_date)),
        ("primary version", k.primary_version.to_string()),
        (
            "min decryption version",
            k.min_decryption_version.to_string(),
        ),
        ("usage limit", k.usage_limit.to_string()),
        ("last used", opt(k.last_used)),
        ("exportable", k.exportable.to_string()),
        ("origin", format!("{:?}", k.origin).to_lowercase()),
        ("policy version", opt(k.policy_version)),
        (
            "grants",
            k.grants
                .iter()
                .map(|g| {
                    let ops: Vec<String> =
                        g.operations.iter().map(|o| operation_name(*o)).collect();
                    let until = g
                        .expires_at
                        .map_or(String::new(), |t| format!(" until {t}"));
                    format!("{}: {}{until}", g.principal, ops.join(","))
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (
            "history",
            k.history
                .iter()
                .map(|h| {
                    let from = h.from.map_or("-".to_owned(), |s| s.to_string());
                    let why = if h.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", h.reason)
                    };
                    format!("{} {from} → {} by {}{why}", h.at, h.to, h.principal)
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    for (f, v) in rows {
        t.add_row(vec![f.to_owned(), v]);
    }
    t
}

/// An operation's name as in grants and the audit log (`encrypt`, …).
pub fn operation_name(op: Operation) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{op:?}"))
}

fn parse_operation(s: &str) -> Result<Operation> {
    serde_json::from_value(serde_json::Value::String(s.trim().replace('-', "_"))).map_err(|_| {
        Fail::usage(format!(
            "unknown operation {s:?} (encrypt, decrypt, sign, verify, mac, …)"
        ))
    })
}

/// A one-line result of a change to a key.
fn changed(g: &Global, key: &KeyHandle, what: &str) -> Result<()> {
    let info = key.info()?;
    let v = json!({"id": info.id, "name": info.name, "state": info.state, "primary_version": info.primary_version});
    line(g, &v, |_| {
        format!("{what}: key {} ({}) is {}", info.id, info.name, info.state)
    })
}

fn create(g: &Global, store: &KeyStore, a: &CreateArgs) -> Result<()> {
    let spec = |name: &str| {
        let mut spec = KeySpec::<Aead>::new(name).exportable(a.exportable);
        if let Some(o) = &a.owner {
            spec = spec.owner(o);
        }
        if let Some(c) = &a.classification {
            spec = spec.classification(c);
        }
        for (k, v) in &a.labels {
            spec = spec.label(k, v);
        }
        spec
    };
    let Some(count) = a.count else {
        let key = store.create_handle(purpose(a.purpose), spec(&a.name))?;
        if a.active {
            key.activate()?;
        }
        return changed(g, &key, "created");
    };
    let width = count.to_string().len();
    let specs = (1..=count).map(|i| spec(&format!("{}-{i:0width$}", a.name)));
    let keys = if a.active {
        store.create_many_active_handles(purpose(a.purpose), specs)?
    } else {
        store.create_many_handles(purpose(a.purpose), specs)?
    };
    let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
    let state = if a.active { "active" } else { "pre_active" };
    let v = json!({"created": ids.len(), "state": state, "ids": ids});
    line(g, &v, |_| {
        format!(
            "created {} keys ({}-{:0width$} … {}-{count}), {state}, in one commit",
            ids.len(),
            a.name,
            1,
            a.name
        )
    })
}

fn list(g: &Global, store: &KeyStore, a: &ListArgs) -> Result<()> {
    let mut f = KeyFilter::new();
    if let Some(s) = a.state {
        f = f.state(state(s));
    }
    if let Some(p) = a.purpose {
        f = f.purpose(purpose(p));
    }
    if let Some(o) = &a.owner {
        f = f.owner(o);
    }
    if let Some(n) = &a.name {
        f = f.name(n);
    }
    let mut keys = store.list(&f)?;
    // Oldest first, as an inventory reads; ids are random.
    keys.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    show(g, &keys, list_table)
}

fn public_key(store: &KeyStore, a: &PublicKeyArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let pk = key.public_key(a.version)?;
    let bytes = match a.encoding {
        KeyEncoding::Pem => pk.to_spki_pem()?.into_bytes(),
        KeyEncoding::Der => pk.to_spki_der()?,
        KeyEncoding::Jwk => format!("{}\n", pk.to_jwk()).into_bytes(),
    };
    output::write_output(&a.output, &bytes)
}

fn grant(g: &Global, store: &KeyStore, a: &GrantArgs) -> Result<()> {
    let key = resolve(store, &a.key)?;
    let ops = a
        .operations
        .iter()
        .map(|o| parse_operation(o))
        .collect::<Result<Vec<_>>>()?;
    let expires = a.expires_in.map(|d| store.now().plus(d));
    key.grant(&a.principal, &ops, expires)?;
    changed(
        g,
        &key,
        &format!("granted {} to {}", a.operations.join(","), a.principal),
    )
}

/// Runs `keylife key …`.
pub fn run(g: &Global, store: &KeyStore, cmd: &KeyCmd) -> Result<()> {
    match cmd {
        KeyCmd::Create(a) => create(g, store, a),
        KeyCmd::List(a) => list(g, store, a),
        KeyCmd::Show { key } => {
            let info = resolve(store, key)?.info()?;
            show(g, &info, info_table)
        }
        KeyCmd::Activate { key } => {
            let k = resolve(store, key)?;
            k.activate()?;
            changed(g, &k, "activated")
        }
        KeyCmd::Suspend(a) => {
            let k = resolve(store, &a.key)?;
            k.suspend(&a.reason)?;
            changed(g, &k, "suspended")
        }
        KeyCmd::Resume { key } => {
            let k = resolve(store, key)?;
            k.resume()?;
            changed(g, &k, "resumed")
        }
        KeyCmd::Deactivate(a) => {
            let k = resolve(store, &a.key)?;
            k.deactivate(&a.reason)?;
            changed(g, &k, "deactivated")
        }
        KeyCmd::Compromise(a) => {
            let k = resolve(store, &a.key)?;
            confirm(g, "marking the key compromised", &k.info()?.name)?;
            k.compromise(&a.reason)?;
            changed(g, &k, "compromised")
        }
        KeyCmd::ScheduleDestroy(a) => {
            let k = resolve(store, &a.key)?;
            k.schedule_destruction(a.after, &a.reason)?;
            let info = k.info()?;
            let v = json!({"id": info.id, "name": info.name, "state": info.state, "destruction_date": info.destruction_date});
            line(g, &v, |_| {
                format!(
                    "scheduled: key {} ({}) is destroyed at {}",
                    info.id,
                    info.name,
                    opt(info.destruction_date)
                )
            })
        }
        KeyCmd::CancelDestroy { key } => {
            let k = resolve(store, key)?;
            k.cancel_destruction()?;
            changed(g, &k, "destruction cancelled")
        }
        KeyCmd::Destroy(a) => {
            let k = resolve(store, &a.key)?;
            confirm(g, "destroying the key material", &k.info()?.name)?;
            k.destroy(&a.reason)?;
            changed(g, &k, "destroyed")
        }
        KeyCmd::Rotate { key } => {
            let k = resolve(store, key)?;
            k.rotate()?;
            changed(g, &k, "rotated")
        }
        KeyCmd::Versions { key } => {
            let info = resolve(store, key)?.info()?;
            show(g, &info.versions, |vs| {
                let mut t = table(&["version", "state", "created", "counted uses", "primary"]);
                for v in vs {
                    t.add_row(vec![
                        v.number.to_string(),
                        format!("{:?}", v.state).to_lowercase(),
                        v.created_at.to_string(),
                        v.usage_count.to_string(),
                        if v.number == info.primary_version {
                            "yes"
                        } else {
                            ""
                        }
                        .to_owned(),
                    ]);
                }
                t
            })
        }
        KeyCmd::Trim {
            key,
            version,
            reason,
        } => {
            let k = resolve(store, key)?;
            k.destroy_version(*version, reason)?;
            changed(g, &k, &format!("version {version} destroyed"))
        }
        KeyCmd::MinVersion { key, version } => {
            let k = resolve(store, key)?;
            k.set_min_decryption_version(*version)?;
            changed(g, &k, &format!("minimum decryption version {version}"))
        }
        KeyCmd::SetOwner { key, owner } => {
            let k = resolve(store, key)?;
            k.set_owner(owner)?;
            changed(g, &k, &format!("owner set to {owner}"))
        }
        KeyCmd::Grant(a) => grant(g, store, a),
        KeyCmd::RevokeGrant { key, principal } => {
            let k = resolve(store, key)?;
            k.revoke_grant(principal)?;
            changed(g, &k, &format!("grant of {principal} revoked"))
        }
        KeyCmd::PublicKey(a) => public_key(store, a),
        #[cfg(feature = "hazmat")]
        KeyCmd::ExportRaw {
            key,
            version,
            output,
            allow_plaintext_output,
        } => {
            if !allow_plaintext_output {
                return Err(Fail::usage(
                    "key export-raw writes the key itself, unprotected: add --allow-plaintext-output",
                ));
            }
            if output.as_os_str() == "-" {
                return Err(Fail::usage(
                    "raw key material is never written to stdout; name a file",
                ));
            }
            let k = resolve(store, key)?;
            let material = k.hazmat_export_raw(*version)?;
            crate::output::write_new_secret(output, material.expose_secret())?;
            let v = json!({"id": k.id(), "output": output});
            line(g, &v, |_| {
                format!(
                    "wrote the raw material of key {} to {} (mode 0600)",
                    k.id(),
                    output.display()
                )
            })
        }
        KeyCmd::CheckValue { key, version } => {
            let k = resolve(store, key)?;
            let kcv = store.check_value(&k.id(), *version)?;
            let v = json!({"id": k.id(), "version": version, "check_value": kcv.to_string()});
            line(g, &v, |_| kcv.to_string())
        }
    }
}
