//! A key's whole life on an on-disk SQLite store, narrated.
//!
//! ```sh
//! cargo run --example lifecycle                 # store in a fresh temporary directory
//! cargo run --example lifecycle -- ./demo.db    # or at a path you choose (kept)
//! ```
//!
//! It sets the shipped policy (`examples/policy.toml`), registers an
//! application and two approvers, creates and uses keys, rotates, revokes,
//! schedules a destruction under dual control, moves time forward with a
//! manual clock, reopens the store from disk, verifies the audit log and
//! the records, and prints the compliance report.

use std::time::Duration;

use keylife::approval::Approval;
use keylife::backend::SqliteBackend;
use keylife::policy::{ApprovalOperation, Policy};
use keylife::purpose::{Aead, Signing};
use keylife::{
    Argon2Params, ErrorKind, KeySpec, KeyStore, ManualClock, Operation, PassphraseKek, Principal,
    PublicKey, Role, Timestamp,
};

const DAY: Duration = Duration::from_secs(86_400);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(p) => std::path::PathBuf::from(p),
        None => tmp.path().join("keylife.db"),
    };
    // Dates are driven by a manual clock so the demo can jump 30 days.
    let clock = ManualClock::new(Timestamp(1_767_225_600_000)); // 2026-01-01
    // A passphrase KEK (Argon2id); modest costs keep the demo quick.
    let kek = || {
        PassphraseKek::new("correct horse battery staple").params(Argon2Params::new(
            19 * 1024,
            2,
            1,
        ))
    };
    let admin = Principal::admin("alice");
    let store = KeyStore::builder(SqliteBackend::open(&path)?)
        .clock(clock.clone())
        .open(&kek(), admin.clone())?;
    println!("1. opened {} as {}", path.display(), admin.name());

    // Governance: policy, principals, approvers (who keep their own keys).
    store.set_policy(&Policy::from_toml(include_str!("policy.toml"))?)?;
    let app = Principal::new("billing-api", &[Role::Application]);
    store.register_principal(&app)?;
    let carol_store = KeyStore::in_memory(Principal::admin("carol"))?;
    let carol = carol_store.create_active(KeySpec::<Signing>::new("approvals"))?;
    store.register_approver("carol", &carol.public_key(None)?)?;
    println!(
        "2. policy v{} in force; principal billing-api and approver carol registered",
        store.policy()?.map_or(0, |p| p.version())
    );

    // A data key: created PreActive, activated, granted to the application.
    let key = store.create(
        KeySpec::<Aead>::new("invoices")
            .owner("billing")
            .classification("confidential"),
    )?;
    let key = key.activate()?;
    key.grant(
        "billing-api",
        &[Operation::Encrypt, Operation::Decrypt],
        None,
    )?;
    let info = key.info()?;
    println!(
        "3. key {} ({}) active; usage limit {} per version, deactivates {}",
        info.id,
        info.name,
        info.usage_limit,
        info.deactivation_date
            .map_or("never".into(), |d| d.to_string())
    );

    let as_app = store.as_principal(app.name())?;
    let app_key = as_app.load_active::<Aead>(&key.id())?;
    let ct = app_key.encrypt(b"invoice #1001: 420.00 EUR", b"tenant=7")?;
    println!(
        "4. billing-api encrypted {} bytes -> {} bytes (header names key and version)",
        25,
        ct.len()
    );
    match app_key.rotate() {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            println!("   billing-api may not rotate: {e}")
        }
        other => return Err(format!("unexpected: {other:?}").into()),
    }

    // Rotation: v2 becomes primary, v1 still decrypts, rewrap moves data.
    let v = key.rotate()?;
    let ct2 = key.rewrap(&ct, b"tenant=7")?;
    println!(
        "5. rotated to v{v}; old ciphertext rewrapped to v{}",
        keylife::CiphertextInfo::parse(&ct2)?.key_version
    );

    // Signing: the public key leaves as PEM; anyone can verify.
    let signer =
        store.create_active(KeySpec::<Signing>::new("release-signing").owner("release"))?;
    let sig = signer.sign(b"keylife-1.0.tar.gz")?;
    let pem = signer.public_key(None)?.to_spki_pem()?;
    PublicKey::from_spki_pem(&pem)?.verify(b"keylife-1.0.tar.gz", &sig)?;
    println!("6. signed a release; verified with the exported PEM public key");

    // Revocation: the application's live handle stops at once.
    let key = key.compromise("laptop with a copy of the backups was stolen")?;
    match app_key.encrypt(b"invoice #1002", b"tenant=7") {
        Err(e) if e.kind() == ErrorKind::WrongState => {
            println!("7. compromised: billing-api's handle now refuses ({e})")
        }
        other => return Err(format!("unexpected: {other:?}").into()),
    }

    // Scheduled destruction is under dual control in this policy.
    let req = store.request_approval(
        ApprovalOperation::ScheduleDestruction,
        Some(key.id()),
        &[],
        DAY,
    )?;
    store.submit_approvals(
        &req,
        &[Approval::new("carol", carol.sign(&req.canonical_bytes())?)],
    )?;
    let pending = key.schedule_destruction(7 * DAY, "compromised key")?;
    println!(
        "8. carol approved; destruction scheduled for {}",
        pending
            .info()?
            .destruction_date
            .map_or("?".into(), |d| d.to_string())
    );
    drop(pending);

    clock.advance(8 * DAY);
    let report = store.maintenance()?;
    for (id, from, to) in &report.transitions {
        println!("9. eight days later, maintenance: {id} {from} -> {to}");
    }
    store.flush_audit()?;
    drop((store, app_key, as_app, signer));

    // Everything is on disk: reopen and check.
    let store = KeyStore::builder(SqliteBackend::open(&path)?)
        .clock(clock)
        .open(&kek(), admin)?;
    let keys = store.list(&keylife::KeyFilter::new())?;
    println!("10. reopened: {} keys", keys.len());
    for k in &keys {
        println!(
            "    {} {:<16} {:<22} v{} owner={}",
            k.id,
            k.name,
            k.state.as_str(),
            k.primary_version,
            k.owner.as_deref().unwrap_or("-")
        );
    }
    let audit = store.verify_audit()?;
    let integrity = store.verify_integrity()?;
    println!(
        "11. audit log verified: {} chained entries; {} key records match it",
        audit.entries, integrity.keys
    );
    let mut jsonl = Vec::new();
    store.export_audit_jsonl(&mut jsonl)?;
    println!("    last entries (JSON Lines, as a SIEM gets them):");
    for line in String::from_utf8(jsonl)?
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        println!("    {line}");
    }
    let report = store.compliance_report()?;
    println!("12. compliance report: {} findings", report.finding_count());
    println!("{}", report.to_json_pretty()?);
    Ok(())
}
