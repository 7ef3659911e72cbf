//! `keylife store …`: init, info, verify, rotate-kek, maintenance.

use keylife::{Argon2Params, KeyFilter, KeyStore};
use serde_json::json;

use crate::args::{Global, InitArgs, RotateKekArgs};
use crate::cmd::data::progress;
use crate::fail::Result;
use crate::open::{self, Location};
use crate::output::{line, read_text, show, table};
use crate::secret;

/// `store init`
pub fn init(g: &Global, a: &InitArgs) -> Result<()> {
    // Everything that can fail on input is checked before the store exists.
    let policy = match &a.policy {
        Some(path) => Some(
            keylife::Policy::from_toml(&read_text(path)?)
                .map_err(|e| crate::fail::Fail::from(e).context(&path.display().to_string()))?,
        ),
        None => None,
    };
    let params = Argon2Params::new(a.argon2_memory, a.argon2_passes, a.argon2_lanes);
    let kek = secret::kek(g, Some(params))?;
    let (store, loc) = open::init(g, &a.admin, &*kek)?;
    if let Some(policy) = &policy {
        store.set_policy(policy)?;
    }
    store.flush_audit()?;
    let v = json!({"store": loc.describe(), "administrator": a.admin});
    line(g, &v, |_| {
        format!(
            "created store {} with administrator {}",
            loc.describe(),
            a.admin
        )
    })
}

/// `store info`
pub fn info(g: &Global, store: &KeyStore) -> Result<()> {
    let loc = Location::of(g)?;
    let keys = store.list(&KeyFilter::new())?;
    let audit = store.verify_audit()?;
    let policy = store.policy()?;
    let provider = store.crypto_provider();
    let v = json!({
        "store": loc.describe(),
        "principal": store.principal().name(),
        "roles": store.principal().roles().iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "crypto_provider": provider.name(),
        "fips_mode": provider.fips_mode(),
        "keys": keys.len(),
        "policy_version": policy.as_ref().map(|p| p.version()),
        "policy_digest": policy.as_ref().map(|p| p.digest()),
        "audit_entries": audit.entries,
        "audit_head_seq": audit.head_seq,
        "kek_rotation_pending": store.kek_rotation_pending()?,
    });
    show(g, &v, |v| {
        let mut t = table(&["field", "value"]);
        if let Some(obj) = v.as_object() {
            for (k, val) in obj {
                let text = match val {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "-".to_owned(),
                    other => other.to_string(),
                };
                t.add_row(vec![k.replace('_', " "), text]);
            }
        }
        t
    })
}

/// `store verify`: every record and the whole audit chain. A store that
/// verifies but has a finding — an interrupted KEK rotation — exits 8.
pub fn verify(g: &Global, store: &KeyStore) -> Result<()> {
    let bar = crate::cmd::data::spinner("verifying every record and the audit chain");
    let r = store.verify_integrity();
    bar.finish_and_clear();
    let r = r?;
    let pending = store.kek_rotation_pending()?;
    let findings: Vec<&str> = if pending {
        vec![
            "a KEK rotation was interrupted: run `keylife store rotate-kek` again with the same new KEK",
        ]
    } else {
        Vec::new()
    };
    let v = json!({"ok": findings.is_empty(), "keys": r.keys, "audit_entries": r.audit_entries, "findings": findings});
    line(g, &v, |_| {
        format!(
            "store verified: {} key records, {} audit entries",
            r.keys, r.audit_entries
        )
    })?;
    if let Some(f) = findings.first() {
        return Err(crate::fail::Fail::new(crate::fail::Exit::Findings, *f));
    }
    Ok(())
}

/// `store rotate-kek`
pub fn rotate_kek(g: &Global, store: &KeyStore, a: &RotateKekArgs) -> Result<()> {
    let new = secret::new_kek(a.new_passphrase_file.as_deref(), a.new_kek_file.as_deref())?;
    let bar = progress(0, "re-wrapping records");
    store.rotate_kek(&*new, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    line(g, &json!({"rotated": true}), |_| {
        "KEK rotated: the old passphrase or KEK no longer opens the store".to_owned()
    })
}

/// `store maintenance`
pub fn maintenance(g: &Global, store: &KeyStore) -> Result<()> {
    let r = store.maintenance()?;
    let rows: Vec<_> = r
        .transitions
        .iter()
        .map(|(id, from, to)| json!({"id": id, "from": from, "to": to}))
        .collect();
    match g.format {
        crate::args::Format::Json => crate::output::json(&rows),
        crate::args::Format::Table => {
            if r.transitions.is_empty() {
                println!("maintenance: nothing due");
            } else {
                let mut t = table(&["id", "from", "to"]);
                for (id, from, to) in &r.transitions {
                    t.add_row(vec![id.to_string(), from.to_string(), to.to_string()]);
                }
                println!("{t}");
            }
            Ok(())
        }
    }
}
