//! The audit log through the C ABI: the MAC chain verifies, exports as JSON
//! Lines, and is vouched for by signed checkpoints that catch a restored
//! old copy of the store; the integrity check; role checks; and NULL for
//! every pointer argument of those calls.

use std::ffi::CString;
use std::ptr::{null, null_mut};

use keylife::ffi::*;

use crate::util::*;

/// `(entries, head_seq, head_mac)`.
fn verify_audit(s: &Store) -> Result<(u64, u64, String), kl_result> {
    let (mut n, mut seq) = (0u64, 0u64);
    let mut mac = [0u8; KL_AUDIT_HEAD_MAC_HEX_LEN + 1];
    let mut len = 0;
    match kl_store_verify_audit(
        s.0,
        &mut n,
        &mut seq,
        mac.as_mut_ptr().cast(),
        mac.len(),
        &mut len,
    ) {
        KL_OK => Ok((n, seq, text(mac[..len].to_vec()))),
        e => Err(e),
    }
}

fn export(s: &Store, from: u64, to: u64) -> Result<String, kl_result> {
    fetch(|o, c, l| kl_store_export_audit_jsonl(s.0, from, to, o, c, l)).map(text)
}

#[test]
fn audit_log_verifies_exports_as_jsonl_and_checkpoints() {
    let s = store();
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let _ = encrypt(&k, b"m", b"").unwrap_or_default();
    ok!(kl_store_flush_audit(s.0));
    let (n, seq, mac) = verify_audit(&s).unwrap_or_default();
    assert!(n >= 4, "open, create, activate, encrypt: {n}");
    assert_eq!(seq, n, "sequence numbers start at 1 with no gaps");
    assert_eq!(mac.len(), KL_AUDIT_HEAD_MAC_HEX_LEN);
    assert!(mac.bytes().all(|b| b.is_ascii_hexdigit()));
    // The verification itself is audited.
    let (n2, _, mac2) = verify_audit(&s).unwrap_or_default();
    assert_eq!(n2, n + 1);
    assert_ne!(mac2, mac);

    // The head MAC buffer is checked before any work: nothing is written.
    let (mut e, mut q) = (7u64, 7u64);
    let mut small = [0xAAu8; KL_AUDIT_HEAD_MAC_HEX_LEN];
    let mut len = 0;
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_verify_audit(
            s.0,
            &mut e,
            &mut q,
            small.as_mut_ptr().cast(),
            small.len(),
            &mut len
        )
    );
    assert_eq!(len, KL_AUDIT_HEAD_MAC_HEX_LEN + 1);
    assert_eq!((e, q), (7, 7), "out-params untouched on failure");
    assert!(small.iter().all(|b| *b == 0xAA));
    let (n3, ..) = verify_audit(&s).unwrap_or_default();
    assert_eq!(n3, n2 + 1, "the refused call did not read the log");

    // JSON Lines over a fixed range: the size query and the real call
    // agree, although each read adds an entry to the log.
    let lines = export(&s, 1, n).unwrap_or_default();
    assert!(lines.ends_with('\n'));
    let parsed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::Null))
        .collect();
    assert_eq!(parsed.len() as u64, n);
    for (i, e) in parsed.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "{e}");
        assert!(e["mac"].as_str().is_some_and(|m| m.len() == 64), "{e}");
    }
    // A new store's first entries: its first administrator registered,
    // then the store opened.
    assert_eq!(parsed[0]["operation"], "register_principal");
    assert_eq!(parsed[1]["operation"], "open_store");
    assert!(
        parsed
            .iter()
            .any(|e| e["operation"] == "encrypt" && e["outcome"] == "success")
    );
    assert!(!lines.contains("\"m\""), "never plaintext");
    let middle = export(&s, 2, 3).unwrap_or_default();
    assert_eq!(middle.lines().count(), 2);
    assert!(middle.starts_with("{\"seq\":2,"), "{middle}");
    assert_eq!(export(&s, n + 1000, n + 2000).as_deref(), Ok(""));
    // The whole log (to UINT64_MAX) grows with every read, so it is read
    // into a generous buffer rather than with a size query.
    let mut big = vec![0u8; 1 << 16];
    let mut len = 0;
    ok!(kl_store_export_audit_jsonl(
        s.0,
        1,
        u64::MAX,
        big.as_mut_ptr(),
        big.len(),
        &mut len
    ));
    let all = text(big[..len].to_vec());
    assert!(all.lines().count() as u64 > n + 3);
    assert_eq!(
        export(&s, 1, u64::MAX),
        Err(KL_ERR_BUFFER_TOO_SMALL),
        "a size query for a growing range is out of date at once"
    );
    let mut len = 0;
    fails!(
        KL_ERR_INVALID_ARGUMENT,
        kl_store_export_audit_jsonl(s.0, 5, 4, null_mut(), 0, &mut len)
    );
    // A buffer one byte short (the NUL) is too small; nothing is written.
    let need = lines.len() + 1;
    let mut buf = vec![0xAAu8; need - 1];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_export_audit_jsonl(s.0, 1, n, buf.as_mut_ptr(), buf.len(), &mut len)
    );
    assert_eq!(len, need);
    assert!(buf.iter().all(|b| *b == 0xAA));

    // Checkpoints: signed by an Active signing key, verified with the key
    // (any of its versions) or with its public key alone.
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let cp = checkpoint(&s, &signer).unwrap_or_default();
    assert!(cp.as_bytes().len() < KL_AUDIT_CHECKPOINT_JSON_MAX);
    let cp_json: serde_json::Value =
        serde_json::from_slice(cp.as_bytes()).unwrap_or(serde_json::Value::Null);
    assert_eq!(
        cp_json["signer"].as_str(),
        Some(id_of(&signer).to_str().unwrap_or_default())
    );
    let mut entries = 0u64;
    ok!(kl_store_verify_audit_checkpoint(
        s.0,
        cp.as_ptr(),
        signer.0,
        &mut entries
    ));
    assert!(entries > cp_json["seq"].as_u64().unwrap_or(u64::MAX));
    let der = public_der(&signer).unwrap_or_default();
    ok!(kl_audit_checkpoint_verify(
        cp.as_ptr(),
        der.as_ptr(),
        der.len()
    ));
    // After a rotation the old version still verifies the old checkpoint.
    let mut v = 0;
    ok!(kl_key_rotate(signer.0, &mut v));
    ok!(kl_store_verify_audit_checkpoint(
        s.0,
        cp.as_ptr(),
        signer.0,
        &mut entries
    ));
    // An auditor verifies it too (auditors may not use keys, only read
    // their public keys).
    let auditor = as_principal(&s, c"auditor", KL_ROLE_AUDITOR);
    let signer_as_auditor = load(&auditor, &signer);
    ok!(kl_store_verify_audit_checkpoint(
        auditor.0,
        cp.as_ptr(),
        signer_as_auditor.0,
        &mut entries
    ));
    // Another key, a tampered checkpoint, junk.
    let other = key(&s, KL_PURPOSE_SIGNING, true);
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), other.0, &mut entries)
    );
    let other_der = public_der(&other).unwrap_or_default();
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_audit_checkpoint_verify(cp.as_ptr(), other_der.as_ptr(), other_der.len())
    );
    let mut forged = cp_json.clone();
    forged["seq"] = serde_json::json!(1);
    let forged = CString::new(forged.to_string()).unwrap_or_default();
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_store_verify_audit_checkpoint(s.0, forged.as_ptr(), signer.0, &mut entries)
    );
    fails!(
        KL_ERR_AUTHENTICATION_FAILED,
        kl_audit_checkpoint_verify(forged.as_ptr(), der.as_ptr(), der.len())
    );
    for junk in [c"", c"{", c"[]", c"{\"seq\":1}"] {
        fails!(
            KL_ERR_MALFORMED,
            kl_store_verify_audit_checkpoint(s.0, junk.as_ptr(), signer.0, &mut entries)
        );
        fails!(
            KL_ERR_MALFORMED,
            kl_audit_checkpoint_verify(junk.as_ptr(), der.as_ptr(), der.len())
        );
    }
    fails!(
        KL_ERR_MALFORMED,
        kl_audit_checkpoint_verify(cp.as_ptr(), b"junk".as_ptr(), 4)
    );

    // The checkpoint buffer is checked first: no signature is spent.
    let mut small = [0u8; 64];
    fails!(
        KL_ERR_BUFFER_TOO_SMALL,
        kl_store_audit_checkpoint(s.0, signer.0, small.as_mut_ptr(), small.len(), &mut len)
    );
    assert_eq!(len, KL_AUDIT_CHECKPOINT_JSON_MAX);
    // Wrong purpose, wrong state, wrong role.
    assert_eq!(checkpoint(&s, &k), Err(KL_ERR_WRONG_PURPOSE));
    let idle = key(&s, KL_PURPOSE_SIGNING, false);
    assert_eq!(checkpoint(&s, &idle), Err(KL_ERR_WRONG_STATE));
    assert_eq!(state(&idle), KL_STATE_PRE_ACTIVE, "not consumed");
    fails!(
        KL_ERR_WRONG_PURPOSE,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), k.0, &mut entries)
    );
    let app = as_principal(&s, c"app", KL_ROLE_APPLICATION);
    assert_eq!(verify_audit(&app), Err(KL_ERR_PERMISSION_DENIED));
    assert_eq!(export(&app, 1, 10), Err(KL_ERR_PERMISSION_DENIED));
    assert_eq!(checkpoint(&app, &signer), Err(KL_ERR_PERMISSION_DENIED));
}

#[test]
fn integrity_check_and_a_checkpoint_catch_a_restored_old_copy() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("keys.kl");
    let cpath = c_path(&path);
    let kek = [7u8; 32];
    let open = || open_raw(KL_BACKEND_FILE, &cpath, &kek).map_err(describe);
    let s = open()?;
    let k = key(&s, KL_PURPOSE_AEAD, true);
    let signer = key(&s, KL_PURPOSE_SIGNING, true);
    let (mut keys, mut entries) = (0u64, 0u64);
    ok!(kl_store_verify_integrity(s.0, &mut keys, &mut entries));
    assert_eq!(keys, 2);
    assert!(entries >= 5);
    ok!(kl_store_flush_audit(s.0));
    let old = std::fs::read(&path).map_err(|e| e.to_string())?;
    // More history, then a checkpoint that vouches for it.
    ok!(kl_key_rotate(k.0, &mut 0));
    let _ = encrypt(&k, b"later", b"").unwrap_or_default();
    let cp = checkpoint(&s, &signer).unwrap_or_default();
    let signer_id = id_of(&signer);
    drop((k, signer, s));

    // Someone puts the old file back: on its own it is a consistent store…
    std::fs::write(&path, &old).map_err(|e| e.to_string())?;
    let s = open()?;
    assert!(verify_audit(&s).is_ok());
    ok!(kl_store_verify_integrity(s.0, &mut keys, &mut entries));
    // …but the checkpoint proves entries were cut off.
    let mut signer = null_mut();
    ok!(kl_key_load(s.0, signer_id.as_ptr(), &mut signer));
    let signer = Key(signer);
    fails!(
        KL_ERR_INTEGRITY,
        kl_store_verify_audit_checkpoint(s.0, cp.as_ptr(), signer.0, &mut entries)
    );
    // The reopened old copy has logged new entries since, so the entry the
    // checkpoint vouches for exists again, with another MAC.
    let msg = last_error();
    assert!(
        msg.contains("rewritten") || msg.contains("cut off"),
        "{msg}"
    );
    let app = as_principal(&s, c"app", KL_ROLE_APPLICATION);
    fails!(
        KL_ERR_PERMISSION_DENIED,
        kl_store_verify_integrity(app.0, &mut keys, &mut entries)
    );
    Ok(())
}

/// Every pointer argument of the audit and integrity calls, NULL in turn,
/// with every other argument valid (each call then succeeds as a control):
/// `KL_ERR_NULL_POINTER`.
#[test]
fn null_for_every_pointer_argument() {
    const NP: kl_result = KL_ERR_NULL_POINTER;
    let st = store();
    let s = st.0;
    let signer = key(&st, KL_PURPOSE_SIGNING, true);
    let sk = signer.0.cast_const();
    let der = public_der(&signer).unwrap_or_default();
    let (pk, pkl) = (der.as_ptr(), der.len());
    let cp = checkpoint(&st, &signer).unwrap_or_default();
    let cp = cp.as_ptr();
    let mut out = Scratch::new(4096);
    let (b, cap, l) = out.args();
    let (mut u, mut v) = (0u64, 0u64);
    let (u, v): (*mut u64, *mut u64) = (&mut u, &mut v);

    #[rustfmt::skip]
    let table: &[NullCase] = &[
        ("kl_store_flush_audit", "store", NP, &|| kl_store_flush_audit(null())),
        ("kl_store_verify_audit", "store", NP, &|| kl_store_verify_audit(null(), u, v, b.cast(), cap, l)),
        ("kl_store_verify_audit", "out_entries", NP, &|| kl_store_verify_audit(s, null_mut(), v, b.cast(), cap, l)),
        ("kl_store_verify_audit", "out_head_seq", NP, &|| kl_store_verify_audit(s, u, null_mut(), b.cast(), cap, l)),
        ("kl_store_verify_audit", "out", NP, &|| kl_store_verify_audit(s, u, v, null_mut(), cap, l)),
        ("kl_store_verify_audit", "out_len", NP, &|| kl_store_verify_audit(s, u, v, b.cast(), cap, null_mut())),
        ("kl_store_verify_audit", "-", KL_OK, &|| kl_store_verify_audit(s, u, v, b.cast(), cap, l)),
        ("kl_store_export_audit_jsonl", "store", NP, &|| kl_store_export_audit_jsonl(null(), 1, 2, b, cap, l)),
        ("kl_store_export_audit_jsonl", "out", NP, &|| kl_store_export_audit_jsonl(s, 1, 2, null_mut(), cap, l)),
        ("kl_store_export_audit_jsonl", "out_len", NP, &|| kl_store_export_audit_jsonl(s, 1, 2, b, cap, null_mut())),
        ("kl_store_export_audit_jsonl", "-", KL_OK, &|| kl_store_export_audit_jsonl(s, 1, 2, b, cap, l)),
        ("kl_store_audit_checkpoint", "store", NP, &|| kl_store_audit_checkpoint(null(), sk, b, cap, l)),
        ("kl_store_audit_checkpoint", "signer", NP, &|| kl_store_audit_checkpoint(s, null(), b, cap, l)),
        ("kl_store_audit_checkpoint", "out", NP, &|| kl_store_audit_checkpoint(s, sk, null_mut(), cap, l)),
        ("kl_store_audit_checkpoint", "out_len", NP, &|| kl_store_audit_checkpoint(s, sk, b, cap, null_mut())),
        ("kl_store_verify_audit_checkpoint", "store", NP, &|| kl_store_verify_audit_checkpoint(null(), cp, sk, u)),
        ("kl_store_verify_audit_checkpoint", "checkpoint_json", NP, &|| kl_store_verify_audit_checkpoint(s, null(), sk, u)),
        ("kl_store_verify_audit_checkpoint", "signer", NP, &|| kl_store_verify_audit_checkpoint(s, cp, null(), u)),
        ("kl_store_verify_audit_checkpoint", "out_entries", NP, &|| kl_store_verify_audit_checkpoint(s, cp, sk, null_mut())),
        ("kl_store_verify_audit_checkpoint", "-", KL_OK, &|| kl_store_verify_audit_checkpoint(s, cp, sk, u)),
        ("kl_audit_checkpoint_verify", "checkpoint_json", NP, &|| kl_audit_checkpoint_verify(null(), pk, pkl)),
        ("kl_audit_checkpoint_verify", "public_key", NP, &|| kl_audit_checkpoint_verify(cp, null(), pkl)),
        ("kl_audit_checkpoint_verify", "-", KL_OK, &|| kl_audit_checkpoint_verify(cp, pk, pkl)),
        ("kl_store_verify_integrity", "store", NP, &|| kl_store_verify_integrity(null(), u, v)),
        ("kl_store_verify_integrity", "out_keys", NP, &|| kl_store_verify_integrity(s, null_mut(), v)),
        ("kl_store_verify_integrity", "out_audit_entries", NP, &|| kl_store_verify_integrity(s, u, null_mut())),
        ("kl_store_verify_integrity", "-", KL_OK, &|| kl_store_verify_integrity(s, u, v)),
    ];
    check_null_table(table);
}
