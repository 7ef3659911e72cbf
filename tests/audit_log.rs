//! The tamper-evident audit log: one entry per operation, every kind of
//! tampering detected, signed checkpoints, JSON Lines export, no secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use common::Mint;

use common::Fixture;
use keylife::backend::{Backend, Record};
use keylife::purpose::{Aead, Signing};
use keylife::{ErrorKind, KeySpec, Operation, Outcome, Principal, Role, StoreOptions};

fn entry_ids(f: &Fixture) -> Vec<(String, Record)> {
    f.backend
        .raw_records()
        .unwrap()
        .into_iter()
        .filter(|(id, _)| id.starts_with("audit/"))
        .collect()
}

fn integrity(f: &Fixture) -> String {
    let e = f.store.verify_audit().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
    // Shown with --nocapture: what an operator sees.
    println!("verify_audit: {e}");
    e.to_string()
}

fn populated() -> Fixture {
    let f = Fixture::new();
    let k = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let ct = k.encrypt(b"m", b"").unwrap();
    f.store.decrypt(&ct, b"").unwrap();
    let app = f.store.mint(Principal::new("svc", &[Role::Application]));
    assert!(app.create(KeySpec::<Aead>::new("nope")).is_err());
    let k = k.deactivate("done").unwrap();
    assert!(k.info().is_ok());
    f.store.flush_audit().unwrap();
    f
}

#[test]
fn every_operation_is_one_entry_with_its_fields() {
    let f = populated();
    let entries = f.store.audit_entries().unwrap();
    let ops: Vec<_> = entries
        .iter()
        .map(|e| (e.operation, e.outcome, e.principal.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            // A new store registers its first administrator, then opens.
            (Operation::RegisterPrincipal, Outcome::Success, "alice"),
            (Operation::OpenStore, Outcome::Success, "alice"),
            (Operation::Create, Outcome::Success, "alice"),
            (Operation::Activate, Outcome::Success, "alice"),
            // The first encryption reserves a block of invocations first.
            (Operation::ReserveUsage, Outcome::Success, "alice"),
            (Operation::Encrypt, Outcome::Success, "alice"),
            // The first use of the day is recorded in the key's metadata.
            (Operation::RecordUse, Outcome::Success, "alice"),
            (Operation::Decrypt, Outcome::Success, "alice"),
            (Operation::RegisterPrincipal, Outcome::Success, "alice"),
            (Operation::Create, Outcome::Denied, "svc"),
            (Operation::Deactivate, Outcome::Success, "alice"),
            (Operation::ReadMetadata, Outcome::Success, "alice"),
        ]
    );
    let deact = &entries[10];
    assert_eq!(deact.reason.as_deref(), Some("done"));
    assert!(deact.key_id.is_some());
    assert_eq!(entries[5].version, Some(1));
    assert_eq!(entries[9].error.as_deref(), Some("permission denied"));
    // Record writes carry the record's generation: create and activate
    // in one write (create_active) 1, reservation 2, last use 3,
    // deactivate 4.
    let gens: Vec<_> = entries.iter().filter_map(|e| e.generation).collect();
    assert_eq!(gens, vec![1, 2, 3, 4]);
    assert_eq!(entries[3].generation, Some(1), "{:?}", entries[3]);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    // Reading the log is itself audited (after the read).
    let again = f.store.audit_entries().unwrap();
    assert_eq!(again[entries.len()].operation, Operation::ReadAudit);
    let v = f.store.verify_audit().unwrap();
    assert_eq!(v.entries, entries.len() as u64 + 2);
}

#[test]
fn editing_an_entry_is_detected() {
    let f = populated();
    let (id, mut rec) = entry_ids(&f)[3].clone();
    let n = rec.value.len();
    rec.value[n - 20] ^= 1;
    f.backend.tamper(&id, rec).unwrap();
    let msg = integrity(&f);
    assert!(msg.contains(&id), "{msg}");
}

#[test]
fn deleting_an_entry_is_detected() {
    let f = populated();
    let (id, _) = entry_ids(&f)[2].clone();
    f.backend
        .delete(&id, keylife::backend::Expect::Any)
        .unwrap();
    let msg = integrity(&f);
    assert!(msg.contains("entry 3 is missing"), "{msg}");
}

#[test]
fn reordering_entries_is_detected() {
    let f = populated();
    let ids = entry_ids(&f);
    let (a, ra) = ids[2].clone();
    let (b, rb) = ids[4].clone();
    f.backend.tamper(&a, rb).unwrap();
    f.backend.tamper(&b, ra).unwrap();
    let msg = integrity(&f);
    assert!(msg.contains(&a), "{msg}");
}

#[test]
fn inserting_an_entry_is_detected() {
    let f = populated();
    let ids = entry_ids(&f);
    // Replay an old, validly sealed entry as an extra one at the end.
    let next = format!("audit/{:020}", ids.len() + 1);
    f.backend.tamper(&next, ids[1].1.clone()).unwrap();
    let msg = integrity(&f);
    assert!(msg.contains(&next), "{msg}");
}

#[test]
fn cutting_entries_off_the_end_is_detected() {
    let f = populated();
    let (last, _) = entry_ids(&f).last().unwrap().clone();
    f.backend
        .delete(&last, keylife::backend::Expect::Any)
        .unwrap();
    let msg = integrity(&f);
    assert!(msg.contains("cut off the end"), "{msg}");
}

#[test]
fn signed_checkpoints_catch_a_rollback_of_log_and_head_together() {
    let f = populated();
    let signer = f
        .store
        .create_active(KeySpec::<Signing>::new("audit-signer"))
        .unwrap();
    let public = signer.public_key(None).unwrap();
    f.store.flush_audit().unwrap();
    // An attacker copies the store as it is now…
    let snapshot = f.backend.raw_records().unwrap();
    // … then something worth hiding happens, and an auditor takes a
    // checkpoint, kept outside the store as JSON.
    let k = f
        .store
        .create_active(KeySpec::<Aead>::new("evidence"))
        .unwrap();
    drop(k.compromise("oops").unwrap());
    let cp = f.store.audit_checkpoint(&signer).unwrap();
    let kept = keylife::AuditCheckpoint::from_json(&cp.to_json().unwrap()).unwrap();
    kept.verify(&public).unwrap();
    let mut forged = kept.clone();
    forged.seq -= 1;
    assert_eq!(
        forged.verify(&public).unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    f.store.verify_audit_against(&kept).unwrap();

    // The attacker rolls the log back to the copy — entries and head record
    // alike — so the log is consistent in itself.
    for (id, _) in f.backend.raw_records().unwrap() {
        if id.starts_with("audit/") || id == "meta/audit-head" {
            match snapshot.iter().find(|(s, _)| *s == id) {
                Some((_, rec)) => f.backend.tamper(&id, rec.clone()).unwrap(),
                None => f
                    .backend
                    .delete(&id, keylife::backend::Expect::Any)
                    .unwrap(),
            }
        }
    }
    let fresh = f.reopen(StoreOptions::default());
    fresh.verify_audit().unwrap();
    // But the checkpoint vouches for an entry the log no longer has.
    let err = fresh.verify_audit_against(&kept).unwrap_err();
    println!("verify_audit_against: {err}");
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert!(
        err.to_string().contains("cut off") || err.to_string().contains("rewritten"),
        "{err}"
    );
}

#[test]
fn only_auditors_and_administrators_read_the_log() {
    let f = populated();
    let auditor = f.store.mint(Principal::new("eve", &[Role::Auditor]));
    assert!(auditor.verify_audit().is_ok());
    let app = f.store.mint(Principal::new("svc", &[Role::Application]));
    assert_eq!(
        app.verify_audit().unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let entries = f.store.audit_entries().unwrap();
    assert!(entries.iter().any(|e| e.operation == Operation::ReadAudit
        && e.outcome == Outcome::Denied
        && e.principal == "svc"));
}

#[test]
fn jsonl_export_parses_line_by_line() {
    let f = populated();
    let mut out = Vec::new();
    let n = f.store.export_audit_jsonl(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count() as u64, n);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for field in [
            "seq",
            "at",
            "principal",
            "operation",
            "outcome",
            "prev",
            "mac",
        ] {
            assert!(v.get(field).is_some(), "{field} missing in {line}");
        }
    }
}

#[cfg(feature = "hazmat")]
#[test]
fn no_key_material_ever_enters_the_log() {
    use base64ct::Encoding;
    let f = Fixture::new();
    let mut secrets = Vec::new();
    let a = f
        .store
        .create_active(KeySpec::<Aead>::new("a").exportable(true))
        .unwrap();
    a.encrypt(b"m", b"").unwrap();
    a.rotate().unwrap();
    for v in [1, 2] {
        secrets.push(
            a.hazmat_export_raw(Some(v))
                .unwrap()
                .expose_secret()
                .to_vec(),
        );
    }
    let s = f
        .store
        .create_active(KeySpec::<Signing>::new("s").exportable(true))
        .unwrap();
    s.sign(b"m").unwrap();
    secrets.push(s.hazmat_export_raw(None).unwrap().expose_secret().to_vec());
    let m = f
        .store
        .create_active(KeySpec::<keylife::purpose::Mac>::new("m").exportable(true))
        .unwrap();
    m.mac(b"x").unwrap();
    secrets.push(m.hazmat_export_raw(None).unwrap().expose_secret().to_vec());
    let mut out = Vec::new();
    f.store.export_audit_jsonl(&mut out).unwrap();
    let log = String::from_utf8(out).unwrap();
    assert!(
        log.contains("\"operation\":\"export\""),
        "exports are audited"
    );
    for secret in &secrets {
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64ct::Base64::encode_string(secret);
        assert!(
            !log.contains(&hex) && !log.contains(&b64),
            "material in the audit log"
        );
        // Nor in any stored byte (everything is sealed).
        for (_, rec) in f.backend.raw_records().unwrap() {
            assert!(
                !rec.value
                    .windows(secret.len())
                    .any(|w| w == secret.as_slice())
            );
        }
    }
}

#[test]
fn state_changes_survive_a_kill_buffered_uses_at_most_one_buffer() {
    let f = Fixture::new();
    let k = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    for _ in 0..3 {
        k.encrypt(b"m", b"").unwrap();
    }
    let k = k.compromise("incident").unwrap();
    for _ in 0..2 {
        assert!(f.store.info(&k.id()).is_ok());
    }
    let encrypt_after = f.store.create_active(KeySpec::<Aead>::new("k2")).unwrap();
    // Its first use of the day is recorded (a write, which flushes the
    // buffer); the next one stays buffered.
    encrypt_after.encrypt(b"m", b"").unwrap();
    encrypt_after.encrypt(b"m", b"").unwrap();
    // A kill: no destructor runs.
    let (k_id, encrypt_after_id) = (k.id(), encrypt_after.id());
    std::mem::forget(encrypt_after);
    std::mem::forget(k);
    let Fixture {
        store,
        backend,
        kek,
        clock,
        ..
    } = f;
    std::mem::forget(store);
    let reopened = keylife::KeyStore::builder(backend.clone())
        .clock(clock)
        .open(&common::raw(&kek), Principal::admin("alice"))
        .unwrap();
    let entries = reopened.audit_entries().unwrap();
    let ops: Vec<_> = entries.iter().map(|e| e.operation).collect();
    // Uses before the compromise were flushed by it (ordering is kept);
    // the last encrypt was still buffered and is lost with the process.
    // (aggregated by default: the first use, flushed by the write that
    // records the day's use, then one entry counting the other two)
    let count = |id| -> Vec<u64> {
        entries
            .iter()
            .filter(|e| e.operation == Operation::Encrypt && e.key_id == Some(id))
            .map(|e| e.count)
            .collect()
    };
    assert_eq!(count(k_id), vec![1, 2]);
    assert_eq!(count(encrypt_after_id), vec![1], "the buffered use is lost");
    assert!(ops.contains(&Operation::Compromise));
    // The two metadata reads are aggregated like uses (one entry, count
    // 2), flushed by the next write (the second create).
    let reads: Vec<u64> = entries
        .iter()
        .filter(|e| e.operation == Operation::ReadMetadata)
        .map(|e| e.count)
        .collect();
    assert_eq!(reads, vec![2]);
    assert_eq!(ops.iter().filter(|o| **o == Operation::Create).count(), 2);
}

#[test]
fn two_processes_interleave_into_one_valid_chain() {
    let f = Fixture::new();
    let mut o = StoreOptions::default();
    o.audit_buffer = 1;
    let other = f.reopen(o);
    let a = f.store.create_active(KeySpec::<Aead>::new("a")).unwrap();
    let b = other.create_active(KeySpec::<Aead>::new("b")).unwrap();
    for _ in 0..5 {
        a.rotate().unwrap();
        b.encrypt(b"m", b"").unwrap();
    }
    f.store.flush_audit().unwrap();
    let v = other.verify_audit().unwrap();
    assert!(v.entries >= 2 + 4 + 5 + 5);
    f.store.verify_audit().unwrap();
}

#[test]
fn uses_are_aggregated_by_default_and_each_on_request() {
    for (mode, expect_entries) in [
        (keylife::AuditUses::Aggregate, 1),
        (keylife::AuditUses::Each, 50),
    ] {
        let mut o = StoreOptions::default();
        o.audit_uses = mode;
        let f = Fixture::with_options(o);
        let k = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
        // The day's first use is recorded (and flushed) on its own.
        k.encrypt(b"m", b"").unwrap();
        f.store.flush_audit().unwrap();
        let start = f.store.audit_entries().unwrap().len();
        for _ in 0..50 {
            k.encrypt(b"m", b"").unwrap();
        }
        // A refusal is never aggregated, and it flushes what came before.
        let app = f.store.mint(Principal::new("svc", &[Role::Application]));
        assert!(
            app.load_active::<Aead>(&k.id())
                .unwrap()
                .encrypt(b"m", b"")
                .is_err()
        );
        let entries = f.store.audit_entries().unwrap();
        let enc: Vec<_> = entries[start..]
            .iter()
            .filter(|e| e.operation == Operation::Encrypt && e.outcome == Outcome::Success)
            .collect();
        assert_eq!(enc.len(), expect_entries, "{mode:?}");
        assert_eq!(
            enc.iter().map(|e| e.count).sum::<u64>(),
            50,
            "{mode:?}: counts are exact"
        );
        assert!(entries.iter().any(|e| e.operation == Operation::Encrypt
            && e.outcome == Outcome::Denied
            && e.count == 1));
    }
}

#[test]
fn aggregated_uses_are_written_after_the_flush_interval() {
    let f = Fixture::new();
    let k = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    // The day's first use is recorded (a write that flushes); the second
    // is buffered.
    k.encrypt(b"m", b"").unwrap();
    k.encrypt(b"m", b"").unwrap();
    let before = entry_ids(&f).len();
    f.clock.advance(std::time::Duration::from_secs(2));
    // The next use finds the buffer older than the interval and writes it.
    k.encrypt(b"m", b"").unwrap();
    assert!(entry_ids(&f).len() > before);
}

#[test]
fn uses_counted_from_many_threads_are_exact_and_precede_later_changes() {
    // Each thread counts into its own shard of the aggregate buffer; every
    // commit merges them. 8 threads x 500 encryptions, a small buffer so
    // flushes race with counting, then a state change.
    let mut o = StoreOptions::default();
    o.audit_buffer = 7;
    let f = Fixture::with_options(o);
    let k = f.store.create_active(KeySpec::<Aead>::new("k")).unwrap();
    let m = f.store.create_active(KeySpec::<Aead>::new("m")).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let key = if t % 2 == 0 { &k } else { &m };
            s.spawn(move || {
                for _ in 0..500 {
                    key.encrypt(b"x", b"").unwrap();
                }
            });
        }
    });
    let k = k.deactivate("done").unwrap();
    let entries = f.store.audit_entries().unwrap();
    let uses = |id| {
        entries
            .iter()
            .filter(|e| {
                e.operation == Operation::Encrypt
                    && e.outcome == Outcome::Success
                    && e.key_id == Some(id)
            })
            .map(|e| e.count)
            .sum::<u64>()
    };
    assert_eq!(uses(k.id()), 2000);
    assert_eq!(uses(m.id()), 2000);
    // Every use entry of `k` comes before its deactivation.
    let deactivated = entries
        .iter()
        .position(|e| e.operation == Operation::Deactivate && e.key_id == Some(k.id()))
        .unwrap();
    assert!(
        entries[deactivated..]
            .iter()
            .all(|e| !(e.operation == Operation::Encrypt
                && e.outcome == Outcome::Success
                && e.key_id == Some(k.id())))
    );
    f.store.verify_audit().unwrap();
}

#[test]
fn incremental_verification_reads_only_what_came_after_a_checkpoint() {
    let f = populated();
    let signer = f
        .store
        .create_active(KeySpec::<Signing>::new("audit-signer"))
        .unwrap();
    let public = signer.public_key(None).unwrap();
    let cp = f.store.audit_checkpoint(&signer).unwrap();
    for i in 0..5 {
        f.store
            .create(KeySpec::<Aead>::new(&format!("later-{i}")))
            .unwrap();
    }
    f.store.flush_audit().unwrap();
    let full = f.store.verify_audit().unwrap();
    let since = f.store.verify_audit_since(&cp, &public).unwrap();
    // Only the entries after the checkpoint were checked, up to the head.
    assert!(
        since.entries >= 5 && since.entries < full.entries,
        "{since:?} vs {full:?}"
    );
    assert!(since.head_seq >= full.head_seq);
    assert_eq!(since.head_seq - since.entries, cp.seq);

    // Another key's signature over the checkpoint: refused.
    let other = f
        .store
        .create_active(KeySpec::<Signing>::new("someone-else"))
        .unwrap();
    let err = f
        .store
        .verify_audit_since(&cp, &other.public_key(None).unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthenticationFailed);

    // An entry after the checkpoint edited: found.
    let ids = entry_ids(&f);
    let after = ids
        .iter()
        .find(|(id, _)| id > &format!("audit/{:020}", cp.seq + 1))
        .cloned()
        .unwrap();
    let (id, mut rec) = after;
    let n = rec.value.len();
    rec.value[n - 20] ^= 1;
    f.backend.tamper(&id, rec).unwrap();
    let err = f.store.verify_audit_since(&cp, &public).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");

    // The checkpoint's own entry replaced: found as a rewrite.
    let g = populated();
    let s2 = g
        .store
        .create_active(KeySpec::<Signing>::new("audit-signer"))
        .unwrap();
    let cp2 = g.store.audit_checkpoint(&s2).unwrap();
    let (_, earlier) = entry_ids(&g)[1].clone();
    g.backend
        .tamper(&format!("audit/{:020}", cp2.seq), earlier)
        .unwrap();
    let err = g
        .store
        .verify_audit_since(&cp2, &s2.public_key(None).unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
}

#[test]
fn archiving_a_prefix_keeps_the_rest_verifiable_and_rollbacks_detectable() {
    let f = populated();
    let signer = f
        .store
        .create_active(KeySpec::<Signing>::new("audit-signer"))
        .unwrap();
    let public = signer.public_key(None).unwrap();
    let k = f
        .store
        .create_active(KeySpec::<Aead>::new("rolled"))
        .unwrap();
    let rid = format!("key/{}", k.id());
    // A copy of the key's record before a write, to roll back to later.
    let old_record = f
        .backend
        .raw_records()
        .unwrap()
        .into_iter()
        .find(|(id, _)| *id == rid)
        .map(|(_, r)| r)
        .unwrap();
    k.rotate().unwrap();
    let cp = f.store.audit_checkpoint(&signer).unwrap();
    let mut archive = Vec::new();
    let n = f.store.archive_audit(&cp, &public, &mut archive).unwrap();
    assert_eq!(n, cp.seq);
    // The archive: every entry up to the checkpoint, the last one its MAC.
    let lines: Vec<keylife::AuditEntry> = String::from_utf8(archive)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, cp.seq);
    assert_eq!(lines.last().unwrap().mac, cp.head_mac);
    assert!(lines.windows(2).all(|w| w[1].prev == w[0].mac));
    // The archived entries are gone; the rest verifies from the base.
    let left = entry_ids(&f);
    assert!(
        left.iter()
            .all(|(id, _)| *id > format!("audit/{:020}", cp.seq)),
        "{}",
        left.len()
    );
    let v = f.store.verify_audit().unwrap();
    assert_eq!(v.head_seq - v.entries, cp.seq);
    f.store.verify_integrity().unwrap();
    f.store.verify_audit_against(&cp).unwrap();
    f.store.verify_audit_since(&cp, &public).unwrap();
    // A key record rolled back to before the archived rotation: still caught.
    f.backend.tamper(&rid, old_record).unwrap();
    let err = f
        .reopen(StoreOptions::default())
        .verify_integrity()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(err.to_string().contains("rolled back"), "{err}");
}

#[test]
fn an_archived_log_detects_a_removed_base_and_finishes_an_interrupted_prune() {
    let f = populated();
    let signer = f
        .store
        .create_active(KeySpec::<Signing>::new("audit-signer"))
        .unwrap();
    let public = signer.public_key(None).unwrap();
    let first = f.store.audit_checkpoint(&signer).unwrap();
    let before = f.backend.raw_records().unwrap();
    f.store
        .archive_audit(&first, &public, &mut Vec::new())
        .unwrap();
    // An archived entry comes back (as after a crash between recording the
    // base and removing the entries): verification skips it, and the next
    // archival with the same checkpoint removes it and writes nothing.
    let (id, rec) = before
        .iter()
        .find(|(id, _)| id.starts_with("audit/"))
        .cloned()
        .unwrap();
    f.backend.tamper(&id, rec).unwrap();
    f.store.verify_audit().unwrap();
    assert_eq!(
        f.store
            .archive_audit(&first, &public, &mut Vec::new())
            .unwrap(),
        0
    );
    assert!(
        f.backend
            .raw_records()
            .unwrap()
            .iter()
            .all(|(i, _)| *i != id)
    );
    // A later checkpoint archives further; an earlier one is refused.
    f.store.create(KeySpec::<Aead>::new("more")).unwrap();
    let second = f.store.audit_checkpoint(&signer).unwrap();
    let mut out = Vec::new();
    let n = f.store.archive_audit(&second, &public, &mut out).unwrap();
    assert_eq!(n, second.seq - first.seq);
    let err = f
        .store
        .archive_audit(&first, &public, &mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        f.store.verify_audit_against(&first).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // Only administrators archive.
    let auditor = f.store.mint(Principal::new("aud", &[Role::Auditor]));
    assert_eq!(
        auditor
            .archive_audit(&second, &public, &mut Vec::new())
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    // Removing the base record breaks the chain: the log no longer starts.
    f.backend
        .delete("meta/audit-base", keylife::backend::Expect::Any)
        .unwrap();
    let err = f
        .reopen(StoreOptions::default())
        .verify_audit()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
}
