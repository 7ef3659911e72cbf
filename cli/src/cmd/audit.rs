//! `keylife audit …` and `keylife report`.

use keylife::{
    AuditCheckpoint, ComplianceReport, KeyFilter, KeyStore, audit::Outcome, purpose::Signing,
    state::Active,
};
use serde_json::json;

use crate::args::{AuditCmd, Format, Global, ReportArgs};
use crate::cmd::key::{operation_name, resolve};
use crate::fail::{Exit, Fail, Result};
use crate::output::{line, read_text, show, table, write_output};

fn read_checkpoint(path: &std::path::Path) -> Result<AuditCheckpoint> {
    AuditCheckpoint::from_json(&read_text(path)?)
        .map_err(|e| Fail::from(e).context(&path.display().to_string()))
}

/// The key a checkpoint is verified with: a PEM file, or the signing key of
/// this store it names (primary version).
fn signer_key(
    store: &KeyStore,
    cp: &AuditCheckpoint,
    pem: Option<&std::path::Path>,
) -> Result<keylife::PublicKey> {
    match pem {
        Some(p) => keylife::PublicKey::from_spki_pem(&read_text(p)?)
            .map_err(|e| Fail::from(e).context(&p.display().to_string())),
        None => Ok(store.load_handle(&cp.signer)?.public_key(None)?),
    }
}

/// A new file written through a temporary one, synced and renamed into
/// place at the first flush: `archive_audit` flushes before it removes
/// anything, so the archive is durable first.
struct DurableOnFlush {
    tmp: Option<std::io::BufWriter<tempfile::NamedTempFile>>,
    dest: std::path::PathBuf,
}

impl DurableOnFlush {
    fn create(dest: &std::path::Path) -> Result<DurableOnFlush> {
        let tmp = crate::output::temp_beside(dest)?;
        Ok(DurableOnFlush {
            tmp: Some(std::io::BufWriter::new(tmp)),
            dest: dest.to_path_buf(),
        })
    }
}

impl std::io::Write for DurableOnFlush {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.tmp {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("the archive is already in place")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let Some(w) = self.tmp.take() else {
            return Ok(());
        };
        let tmp = w
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        tmp.as_file().sync_all()?;
        tmp.persist_noclobber(&self.dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `audit …`
pub fn run(g: &Global, store: &KeyStore, cmd: &AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Verify {
            checkpoint,
            since,
            signer_public_key,
        } => {
            let read_cp = read_checkpoint;
            let bar = crate::cmd::data::spinner("verifying the audit chain");
            let v = match (checkpoint, since) {
                (_, Some(path)) => {
                    let cp = read_cp(path)?;
                    let signer = signer_key(store, &cp, signer_public_key.as_deref())?;
                    store.verify_audit_since(&cp, &signer)?
                }
                (Some(path), None) => store.verify_audit_against(&read_cp(path)?)?,
                (None, None) => store.verify_audit()?,
            };
            bar.finish_and_clear();
            let out = json!({"ok": true, "entries": v.entries, "head_seq": v.head_seq, "head_mac": v.head_mac, "incremental": since.is_some()});
            line(g, &out, |_| {
                let what = if since.is_some() {
                    "entries since the checkpoint"
                } else {
                    "entries"
                };
                format!(
                    "audit chain verified: {} {what}, head #{} {}",
                    v.entries, v.head_seq, v.head_mac
                )
            })
        }
        AuditCmd::Archive {
            checkpoint,
            signer_public_key,
            output,
        } => {
            let cp = read_checkpoint(checkpoint)?;
            let signer = signer_key(store, &cp, signer_public_key.as_deref())?;
            if output.exists() {
                return Err(Fail::new(
                    Exit::Io,
                    format!(
                        "{} exists: an archive never overwrites a file",
                        output.display()
                    ),
                ));
            }
            let mut file = DurableOnFlush::create(output)?;
            let bar = crate::cmd::data::spinner("archiving the audit log");
            let n = store.archive_audit(&cp, &signer, &mut file);
            bar.finish_and_clear();
            let n = n?;
            let v = json!({"archived": n, "output": output, "up_to": cp.seq});
            line(g, &v, |_| {
                format!(
                    "archived {n} entries (up to #{}) to {}; the store keeps the rest",
                    cp.seq,
                    output.display()
                )
            })
        }
        AuditCmd::Export { output } => {
            let mut buf = Vec::new();
            store.export_audit_jsonl(&mut buf)?;
            write_output(output, &buf)
        }
        AuditCmd::Checkpoint { key, output } => {
            let signer = resolve(store, key)?.typed::<Signing, Active>()?;
            let cp = store.audit_checkpoint(&signer)?;
            write_output(output, format!("{}\n", cp.to_json()?).as_bytes())
        }
        AuditCmd::Tail { lines } => {
            let all = store.audit_entries()?;
            let tail = &all[all.len().saturating_sub(*lines)..];
            show(g, &tail.to_vec(), |entries| {
                let mut t = table(&[
                    "seq",
                    "at",
                    "principal",
                    "operation",
                    "key",
                    "outcome",
                    "count",
                    "detail",
                ]);
                for e in entries {
                    let outcome = match e.outcome {
                        Outcome::Success => "ok".to_owned(),
                        other => format!("{other:?}").to_lowercase(),
                    };
                    let detail = e
                        .error
                        .clone()
                        .or_else(|| e.reason.clone())
                        .unwrap_or_default();
                    t.add_row(vec![
                        e.seq.to_string(),
                        e.at.to_string(),
                        e.principal.clone(),
                        operation_name(e.operation),
                        e.key_id.map_or(String::new(), |k| match e.version {
                            Some(v) => format!("{k} v{v}"),
                            None => k.to_string(),
                        }),
                        outcome,
                        e.count.to_string(),
                        detail,
                    ]);
                }
                t
            })
        }
    }
}

/// `report`: the compliance report (table, JSON, and with `--html` the
/// HTML page); exit 8 with `--fail-on-findings` when there is any finding.
pub fn report(g: &Global, store: &KeyStore, a: &ReportArgs) -> Result<()> {
    let bar = crate::cmd::data::spinner("building the report");
    let keys = store.list(&KeyFilter::new())?;
    let in_force = store.policy()?;
    let policy = in_force.clone().unwrap_or_default();
    let now = a.at.unwrap_or_else(|| store.now());
    let r = ComplianceReport::build(&keys, &policy, now);
    let json = r.to_json_pretty()?;
    if a.html.is_none() {
        bar.finish_and_clear();
    }
    match (&a.html, g.format) {
        (_, Format::Json) => println!("{json}"),
        (None, Format::Table) => print_report(&r),
        (Some(_), Format::Table) => {}
    }
    if let Some(path) = &a.html {
        store.verify_audit()?;
        let events: Vec<_> = store
            .audit_entries()?
            .into_iter()
            .filter(|e| crate::html::is_lifecycle(e.operation))
            .collect();
        let loc = crate::open::Location::of(g)?.describe();
        let page = crate::html::render(&crate::html::Inputs {
            report: &r,
            json: &json,
            keys: &keys,
            policy: &policy,
            policy_in_force: in_force.is_some(),
            store: &loc,
            kek_kind: crate::secret::kek_kind(g),
            provider: store.crypto_provider().name(),
            events: &events,
            now,
        });
        bar.finish_and_clear();
        write_output(path, page.as_bytes())?;
        if g.format == Format::Table {
            println!(
                "report written to {} ({} keys, {} finding(s))",
                path.display(),
                r.total_keys,
                r.finding_count()
            );
        }
    }
    if a.fail_on_findings && r.finding_count() > 0 {
        return Err(Fail::new(
            Exit::Findings,
            format!("{} finding(s)", r.finding_count()),
        ));
    }
    Ok(())
}

fn print_report(r: &ComplianceReport) {
    println!(
        "compliance report at {} — policy v{} ({}), {} keys, {} finding(s)",
        r.generated_at,
        r.policy_version,
        r.policy_digest,
        r.total_keys,
        r.finding_count()
    );
    let sections = [
        ("overdue for rotation", &r.overdue_rotation),
        ("past cryptoperiod", &r.past_cryptoperiod),
        ("policy violations", &r.policy_violations),
        ("without owner", &r.without_owner),
        ("near usage limit", &r.near_usage_limit),
        ("pending destruction", &r.pending_destruction),
        ("unused", &r.unused),
    ];
    for (title, findings) in sections {
        if findings.is_empty() {
            continue;
        }
        println!("\n{title} ({})", findings.len());
        let mut t = table(&["key", "name", "owner", "state", "detail"]);
        for f in findings {
            t.add_row(vec![
                f.key_id.to_string(),
                f.name.clone(),
                f.owner.clone().unwrap_or_else(|| "-".to_owned()),
                f.state.to_string(),
                f.detail.clone(),
            ]);
        }
        println!("{t}");
    }
}
