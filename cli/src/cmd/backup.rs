//! `keylife backup …`: k-of-n custodian backups.

use keylife::{KeyStore, RestoreReport};
use serde_json::json;

use crate::args::{BackupCmd, Global, RestoreArgs};
use crate::cmd::key::resolve;
use crate::fail::{Exit, Fail, Result};
use crate::output::{line, read_input, read_text, show, table, write_new_secret, write_output};

/// `backup …`
pub fn run(g: &Global, store: &KeyStore, cmd: &BackupCmd) -> Result<()> {
    match cmd {
        BackupCmd::Create {
            keys,
            threshold,
            custodians,
            output,
            shares_dir,
        } => {
            let ids = keys
                .iter()
                .map(|k| resolve(store, k).map(|h| h.id()))
                .collect::<Result<Vec<_>>>()?;
            // Shares go to a new directory so none lands next to another's.
            std::fs::create_dir(shares_dir).map_err(|e| {
                Fail::new(
                    Exit::Io,
                    format!("cannot create {}: {e}", shares_dir.display()),
                )
            })?;
            let names: Vec<&str> = custodians.iter().map(String::as_str).collect();
            let bar = crate::cmd::data::spinner("backing up");
            let backup = store.backup(&ids, *threshold, &names)?;
            bar.finish_and_clear();
            write_output(output, &backup.bundle)?;
            let mut files = Vec::new();
            for share in &backup.shares {
                let path = shares_dir.join(format!("{}.share", share.custodian));
                write_new_secret(&path, share.text.as_bytes())?;
                files.push(path);
            }
            let v = json!({"bundle": output, "keys": ids, "threshold": threshold, "shares": files});
            line(g, &v, |_| {
                format!(
                    "backed up {} key(s) to {}; {} shares ({} needed) in {}",
                    ids.len(),
                    output.display(),
                    files.len(),
                    threshold,
                    shares_dir.display()
                )
            })
        }
        BackupCmd::Restore(a) => restore(g, store, a, false),
        BackupCmd::Drill(a) => restore(g, store, a, true),
    }
}

fn restore(g: &Global, store: &KeyStore, a: &RestoreArgs, drill: bool) -> Result<()> {
    let bundle = read_input(&a.bundle)?;
    let shares = a
        .shares
        .iter()
        .map(|p| read_text(p).map(|t| zeroize::Zeroizing::new(t.trim().to_owned())))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&str> = shares.iter().map(|s| s.as_str()).collect();
    let bar = crate::cmd::data::spinner(if drill { "restore drill" } else { "restoring" });
    let r = if drill {
        store.restore_drill(&bundle, &refs)
    } else {
        store.restore(&bundle, &refs)
    };
    bar.finish_and_clear();
    let r: RestoreReport = r?;
    let v = json!({
        "drill": r.drill,
        "restored": r.restored,
        "skipped": r.skipped.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
        "check_values": r.check_values.iter().map(|(id, v, kcv)| json!({"id": id, "version": v, "check_value": kcv.to_string()})).collect::<Vec<_>>(),
        "custodians_used": r.custodians_used,
    });
    show(g, &v, |_| {
        let mut t = table(&["key", "version", "check value", "outcome"]);
        for (id, ver, kcv) in &r.check_values {
            let outcome = if let Some((_, why)) = r.skipped.iter().find(|(s, _)| s == id) {
                format!("skipped: {why}")
            } else if drill {
                "would restore".to_owned()
            } else {
                "restored".to_owned()
            };
            t.add_row(vec![
                id.to_string(),
                ver.to_string(),
                kcv.to_string(),
                outcome,
            ]);
        }
        t
    })
}
