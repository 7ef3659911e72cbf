//! End-to-end tests of the `keylife` binary: a whole lifecycle through the
//! CLI alone, every documented exit code, and bad inputs that must give
//! one line on stderr, the documented code, and a store that still verifies.

mod common;

use common::{Env, bin, s};

#[test]
fn a_whole_lifecycle_through_the_cli() {
    let env = Env::new();
    // Governance: an application principal with a grant.
    env.run(&["principal", "add", "billing-api", "--role", "application"])
        .ok();
    let id = env.key("invoices", "aead");
    env.run(&[
        "key",
        "grant",
        "invoices",
        "billing-api",
        "--operations",
        "encrypt,decrypt",
    ])
    .ok();

    // The application encrypts from stdin; the admin decrypts the file.
    let ct = env.path("invoice.kl");
    env.run_in(
        &[
            "--as",
            "billing-api",
            "encrypt",
            "-k",
            &id,
            "-o",
            s(&ct),
            "--aad",
            "tenant=7",
        ],
        b"invoice #1001: 420.00 EUR",
    )
    .ok();
    let pt = env.run(&["decrypt", s(&ct), "--aad", "tenant=7"]).ok();
    assert_eq!(pt.stdout, b"invoice #1001: 420.00 EUR");
    // The application may not rotate.
    env.run(&["--as", "billing-api", "key", "rotate", "invoices"])
        .fails(5);

    // Rotation, rewrap, min-version, trim.
    let v = env.json(&["key", "rotate", "invoices"]);
    assert_eq!(v["primary_version"], 2);
    let r = env.json(&["rewrap", s(&ct), "--aad", "tenant=7"]);
    assert_eq!(r["rewritten"], 1);
    env.run(&["key", "min-version", "invoices", "2"]).ok();
    env.run(&[
        "key",
        "trim",
        "invoices",
        "--version",
        "1",
        "--reason",
        "rewrapped",
    ])
    .ok();
    let versions = env.json(&["key", "versions", "invoices"]);
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(
        env.run(&["decrypt", s(&ct), "--aad", "tenant=7"])
            .ok()
            .stdout,
        b"invoice #1001: 420.00 EUR"
    );

    // Signing: sign, verify, export the public key in three encodings.
    env.key("release", "signing");
    let msg = env.path("release.tar");
    std::fs::write(&msg, b"keylife-1.0").expect("write");
    let sig = env.path("release.sig");
    env.run(&["sign", "-k", "release", s(&msg), "-o", s(&sig)])
        .ok();
    env.run(&["verify", "-k", "release", s(&msg), "--signature", s(&sig)])
        .ok();
    std::fs::write(&msg, b"keylife-1.1").expect("write");
    env.run(&["verify", "-k", "release", s(&msg), "--signature", s(&sig)])
        .fails(6);
    let pem = env.run(&["key", "public-key", "release"]).ok().out();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let jwk = env
        .run(&["key", "public-key", "release", "--encoding", "jwk"])
        .ok()
        .json();
    assert_eq!(jwk["crv"], "P-256");
    let der = env
        .run(&["key", "public-key", "release", "--encoding", "der"])
        .ok();
    assert_eq!(der.stdout[0], 0x30);
    let raw = env.path("release.raw");
    env.run(&[
        "sign",
        "-k",
        "release",
        "--encoding",
        "raw",
        s(&msg),
        "-o",
        s(&raw),
    ])
    .ok();
    assert_eq!(std::fs::read(&raw).expect("read").len(), 64);

    // MAC and data keys.
    env.key("webhooks", "mac");
    let tag = env.json(&["mac", "-k", "webhooks", s(&msg)])["tag"]
        .as_str()
        .expect("tag")
        .to_owned();
    assert_eq!(tag.len(), 64);
    env.run(&["mac", "-k", "webhooks", s(&msg), "--verify", &tag])
        .ok();
    let wrong = format!(
        "{}{}",
        if tag.starts_with('0') { "1" } else { "0" },
        &tag[1..]
    );
    env.run(&["mac", "-k", "webhooks", s(&msg), "--verify", &wrong])
        .fails(6);
    let dk = env.path("dk.plain");
    let wrapped = env.path("dk.wrapped");
    env.run(&[
        "data-key",
        "-k",
        "invoices",
        "-o",
        s(&wrapped),
        "--plaintext-output",
        s(&dk),
    ])
    .ok();
    assert_eq!(std::fs::read(&dk).expect("read").len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dk).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "plaintext data key file mode {mode:o}");
    }
    let kcv = env.json(&["key", "check-value", "invoices"]);
    assert!(kcv["check_value"].as_str().is_some_and(|c| !c.is_empty()));

    // State changes.
    env.run(&["key", "suspend", "invoices", "--reason", "audit"])
        .ok();
    env.run_in(&["encrypt", "-k", "invoices"], b"x").fails(4);
    env.run(&["key", "resume", "invoices"]).ok();
    env.run(&["key", "deactivate", "invoices", "--reason", "retired"])
        .ok();
    env.run(&["key", "schedule-destroy", "invoices", "--after", "7d"])
        .ok();
    assert_eq!(
        env.json(&["key", "show", "invoices"])["state"],
        "pending_destruction"
    );
    env.run(&["key", "cancel-destroy", "invoices"]).ok();
    env.run(&["key", "compromise", "release", "--reason", "leak", "--yes"])
        .ok();
    env.run(&["key", "schedule-destroy", "release", "--after", "30d"])
        .ok();
    assert_eq!(
        env.json(&["key", "show", "release"])["state"],
        "pending_destruction"
    );
    // Immediate destruction is for keys never activated.
    env.run(&["key", "create", "draft", "--purpose", "derivation"])
        .ok();
    env.run(&["key", "destroy", "draft", "--reason", "unused", "--yes"])
        .ok();
    assert_eq!(env.json(&["key", "show", "draft"])["state"], "destroyed");
    let list = env.json(&["key", "list", "--state", "deactivated"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    // Audit: verify, export, checkpoint, verify against the checkpoint.
    env.key("audit-signer", "signing");
    let cp = env.path("checkpoint.json");
    env.run(&["audit", "checkpoint", "-k", "audit-signer", "-o", s(&cp)])
        .ok();
    let v = env.json(&["audit", "verify", "--checkpoint", s(&cp)]);
    assert_eq!(v["ok"], true);
    let jsonl = env.run(&["audit", "export"]).ok().out();
    assert!(jsonl.lines().count() > 20, "{jsonl}");
    assert!(jsonl.contains("\"compromise\""), "{jsonl}");
    let tail = env.json(&["audit", "tail", "-n", "3"]);
    assert_eq!(tail.as_array().map(Vec::len), Some(3));
    // Only what came after the checkpoint.
    let v = env.json(&["audit", "verify"]);
    let inc = env.json(&["audit", "verify", "--since", s(&cp)]);
    assert_eq!(inc["incremental"], true);
    assert!(
        inc["entries"].as_u64() < v["entries"].as_u64(),
        "{inc} vs {v}"
    );
    // Archive up to the checkpoint: the entries go to a file, the rest
    // still verifies (from the base on), and so does the store.
    let archive = env.path("audit-archive.jsonl");
    let arch = env.json(&[
        "audit",
        "archive",
        "--checkpoint",
        s(&cp),
        "-o",
        s(&archive),
    ]);
    assert!(arch["archived"].as_u64().is_some_and(|n| n > 10), "{arch}");
    let text = std::fs::read_to_string(&archive).expect("archive");
    assert_eq!(
        text.lines().count() as u64,
        arch["archived"].as_u64().unwrap_or(0)
    );
    env.run(&[
        "audit",
        "archive",
        "--checkpoint",
        s(&cp),
        "-o",
        s(&archive),
    ])
    .fails(11);
    let after = env.json(&["audit", "verify", "--checkpoint", s(&cp)]);
    assert_eq!(
        after["head_seq"].as_u64().unwrap_or(0) - after["entries"].as_u64().unwrap_or(0),
        arch["up_to"].as_u64().unwrap_or(1)
    );
    env.assert_verifies();

    // KEK rotation to a raw KEK file; the passphrase stops working.
    let kek = env.path("kek.hex");
    std::fs::write(&kek, "11".repeat(32)).expect("write");
    env.run(&["store", "rotate-kek", "--new-kek-file", s(&kek)])
        .ok();
    env.run(&["key", "list"]).fails(6);
    let out = bin()
        .args([
            "--store",
            s(&env.store),
            "--kek-file",
            s(&kek),
            "--format",
            "json",
            "store",
            "verify",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = bin()
        .args([
            "--store",
            s(&env.store),
            "--kek-file",
            s(&kek),
            "--format",
            "json",
            "store",
            "info",
        ])
        .output()
        .expect("runs");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("json");
    assert_eq!(info["keys"], 5);
    assert_eq!(info["roles"][0], "administrator");
}

#[test]
fn dual_control_policy_and_backup_through_the_cli() {
    let env = Env::new();
    let carol = Env::new(); // the approver keeps her own store
    carol.key("approvals", "signing");
    let pem = env.path("carol.pem");
    carol
        .run(&["key", "public-key", "approvals", "-o", s(&pem)])
        .ok();
    env.run(&["approver", "add", "carol", "--public-key", s(&pem)])
        .ok();

    let policy = env.path("policy.toml");
    std::fs::write(
        &policy,
        "version = 2\nclassifications = [\"internal\", \"secret\"]\n\
         [approvals.schedule_destruction]\nrequired = 1\napprovers = [\"carol\"]\n",
    )
    .expect("write");
    let diff = env.json(&["policy", "diff", s(&policy)]);
    assert!(diff.as_array().is_some_and(|d| !d.is_empty()), "{diff}");
    env.run(&["policy", "set", s(&policy)]).ok();
    assert!(
        env.run(&["policy", "show"])
            .ok()
            .out()
            .contains("schedule_destruction")
    );
    // The same version again is refused, and so is an unknown classification.
    env.run(&["policy", "set", s(&policy)]).fails(7);
    env.run(&[
        "key",
        "create",
        "x",
        "--purpose",
        "aead",
        "--classification",
        "top-secret",
    ])
    .fails(7);
    assert_eq!(
        env.json(&["policy", "history"]).as_array().map(Vec::len),
        Some(1)
    );

    let id = env.key("ledger", "aead");
    env.run(&["key", "deactivate", &id]).ok();
    env.run(&["key", "schedule-destroy", &id, "--after", "7d"])
        .fails(5);
    let req = env.path("req.json");
    env.run(&[
        "approval",
        "request",
        "--operation",
        "schedule-destruction",
        "--key",
        &id,
        "-o",
        s(&req),
    ])
    .ok();
    assert_eq!(
        env.json(&["approval", "show", s(&req)])["operation"],
        "schedule_destruction"
    );
    let approval = env.path("carol.approval");
    carol
        .run(&[
            "approval",
            "sign",
            s(&req),
            "-k",
            "approvals",
            "--approver",
            "carol",
            "-o",
            s(&approval),
        ])
        .ok();
    env.run(&["approval", "submit", s(&req), s(&approval)]).ok();
    env.run(&["key", "schedule-destroy", &id, "--after", "7d"])
        .ok();

    // Backup to two of three custodians; a drill and a restore elsewhere.
    for c in ["c1", "c2", "c3"] {
        env.run(&["principal", "add", c, "--role", "custodian"])
            .ok();
    }
    let keep = env.key("keep", "aead");
    let ct = env.path("keep.kl");
    env.run_in(&["encrypt", "-k", "keep", "-o", s(&ct)], b"kept")
        .ok();
    let bundle = env.path("bundle.klb");
    let shares = env.path("shares");
    env.run(&[
        "backup",
        "create",
        "--key",
        "keep",
        "--threshold",
        "2",
        "--custodian",
        "c1",
        "--custodian",
        "c2",
        "--custodian",
        "c3",
        "-o",
        s(&bundle),
        "--shares-dir",
        s(&shares),
    ])
    .ok();
    let share = |c: &str| shares.join(format!("{c}.share"));
    let drill = env.json(&[
        "backup",
        "drill",
        s(&bundle),
        "--share",
        s(&share("c1")),
        "--share",
        s(&share("c3")),
    ]);
    assert_eq!(drill["drill"], true);
    env.run(&["backup", "drill", s(&bundle), "--share", s(&share("c1"))])
        .fails(2);
    let other = Env::new();
    let r = other.json(&[
        "backup",
        "restore",
        s(&bundle),
        "--share",
        s(&share("c2")),
        "--share",
        s(&share("c3")),
    ]);
    assert_eq!(r["restored"][0], keep);
    assert_eq!(other.run(&["decrypt", s(&ct)]).ok().stdout, b"kept");
    // An owner can be set (the fix for a "without owner" finding).
    other.run(&["key", "set-owner", &keep, "vault-team"]).ok();
    assert_eq!(other.json(&["key", "show", &keep])["owner"], "vault-team");
    other.run(&["key", "set-owner", &keep, " "]).fails(2);
    env.assert_verifies();
    other.assert_verifies();
}

#[test]
fn every_documented_exit_code_is_provoked() {
    let env = Env::new();
    env.key("k", "aead");
    // 1: a failure without a more specific code (storage: the store path
    // is a directory).
    let dir = env.path("a-directory");
    std::fs::create_dir(&dir).expect("mkdir");
    bin()
        .args([
            "--store",
            s(&dir),
            "--passphrase-file",
            s(&env.pw),
            "key",
            "list",
        ])
        .assert()
        .code(1);
    // 2: usage.
    env.run(&["key", "frobnicate"]).fails(2);
    env.run(&["--format", "yaml", "key", "list"]).fails(2);
    env.run(&["key", "compromise", "k"]).fails(2); // not confirmed, no terminal
    // 3: not found.
    env.run(&["key", "show", "nope"]).fails(3);
    env.run(&["--as", "nobody", "key", "list"]).fails(3);
    bin()
        .args([
            "--store",
            s(&env.path("none.db")),
            "--passphrase-file",
            s(&env.pw),
            "key",
            "list",
        ])
        .assert()
        .code(3);
    // 4: wrong state or purpose.
    env.run_in(&["sign", "-k", "k"], b"m").fails(4);
    env.run(&["key", "activate", "k"]).fails(4);
    env.run(&["store", "init"]).fails(4);
    // 5: denied.
    env.run(&["principal", "add", "aud", "--role", "auditor"])
        .ok();
    env.run(&["--as", "aud", "key", "rotate", "k"]).fails(5);
    // 6: integrity (wrong passphrase; tampered ciphertext).
    let bad = env.path("bad-pw");
    std::fs::write(&bad, "wrong\n").expect("write");
    bin()
        .args([
            "--store",
            s(&env.store),
            "--passphrase-file",
            s(&bad),
            "key",
            "list",
        ])
        .assert()
        .code(6);
    let ct = env.path("ct");
    env.run_in(&["encrypt", "-k", "k", "-o", s(&ct)], b"secret")
        .ok();
    let mut bytes = std::fs::read(&ct).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&ct, &bytes).expect("write");
    env.run(&["decrypt", s(&ct)]).fails(6);
    // 7: policy.
    let policy = env.path("p.toml");
    std::fs::write(&policy, "version = 1\nclassifications = [\"internal\"]\n").expect("write");
    env.run(&["policy", "set", s(&policy)]).ok();
    env.run(&[
        "key",
        "create",
        "y",
        "--purpose",
        "mac",
        "--classification",
        "secret",
    ])
    .fails(7);
    // 8: findings (a key without owner is one).
    env.run(&["key", "create", "orphan", "--purpose", "aead", "--active"])
        .ok();
    let r = env.run(&["report", "--fail-on-findings"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert!(r.out().contains("without owner"), "{}", r.out());
    // 9: malformed input.
    let junk = env.path("junk");
    std::fs::write(
        &junk,
        b"\x01not a ciphertext, just some bytes long enough to parse.....",
    )
    .expect("write");
    env.run(&["decrypt", s(&junk)]).fails(9);
    // 10: unavailable (nothing listens on port 1).
    bin()
        .args([
            "--store",
            "postgres://keylife@127.0.0.1:1/none",
            "--kek-file",
            s(&policy),
            "key",
            "list",
        ])
        .assert()
        .code(10);
    // 11: unwritable output.
    env.run_in(&["encrypt", "-k", "k", "-o", "/nonexistent-dir/out"], b"m")
        .fails(11);
    env.assert_verifies();
}

#[test]
fn bad_inputs_give_one_line_the_code_and_a_verifiable_store() {
    let env = Env::new();
    env.key("k", "aead");
    let ct = env.path("ct");
    env.run_in(&["encrypt", "-k", "k", "-o", s(&ct)], &vec![7u8; 1000])
        .ok();
    let full = std::fs::read(&ct).expect("read");
    let cases: Vec<(Vec<String>, i32)> = {
        let truncated = env.path("truncated");
        std::fs::write(&truncated, &full[..full.len() - 17]).expect("write");
        let short = env.path("short");
        std::fs::write(&short, &full[..10]).expect("write");
        let empty = env.path("empty");
        std::fs::write(&empty, b"").expect("write");
        let p = |x: &std::path::Path| s(x).to_owned();
        vec![
            (vec!["decrypt".into(), p(&truncated)], 6),
            (vec!["decrypt".into(), p(&short)], 9),
            (vec!["decrypt".into(), p(&empty)], 9),
            (vec!["decrypt".into(), p(&env.path("missing"))], 3),
            (
                vec!["decrypt".into(), p(&ct), "--aad".into(), "wrong".into()],
                6,
            ),
            (
                vec![
                    "decrypt".into(),
                    p(&ct),
                    "-o".into(),
                    "/proc/forbidden/x".into(),
                ],
                11,
            ),
            (
                vec![
                    "key".into(),
                    "show".into(),
                    "0123456789abcdef0123456789abcdef".into(),
                ],
                3,
            ),
            (
                vec![
                    "key".into(),
                    "schedule-destroy".into(),
                    "k".into(),
                    "--after".into(),
                    "soon".into(),
                ],
                2,
            ),
            (
                vec![
                    "key".into(),
                    "grant".into(),
                    "k".into(),
                    "ghost".into(),
                    "--operations".into(),
                    "encrypt".into(),
                ],
                3,
            ),
            (
                vec![
                    "key".into(),
                    "grant".into(),
                    "k".into(),
                    "admin".into(),
                    "--operations".into(),
                    "teleport".into(),
                ],
                2,
            ),
            (vec!["policy".into(), "set".into(), p(&ct)], 9),
            (vec!["approval".into(), "show".into(), p(&ct)], 9),
            (
                vec![
                    "backup".into(),
                    "drill".into(),
                    p(&ct),
                    "--share".into(),
                    p(&ct),
                ],
                9,
            ),
        ]
    };
    for (args, code) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = env.run(&args);
        assert_eq!(r.code, *code, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim_end().lines().count(),
            1,
            "{args:?}: {:?}",
            r.stderr
        );
        assert!(r.stderr.starts_with("keylife: "), "{}", r.stderr);
        // With --format json the error is one JSON object on stderr.
        let mut j = vec!["--format", "json"];
        j.extend_from_slice(&args);
        let r = env.run(&j);
        assert_eq!(r.code, *code, "{args:?}");
        let e: serde_json::Value = serde_json::from_str(r.stderr.trim()).expect("JSON error");
        assert_eq!(e["error"]["exit_code"], *code, "{e}");
    }
    // A damaged store file: refused, not replaced.
    let damaged = env.path("damaged.db");
    std::fs::write(&damaged, b"not a database at all").expect("write");
    let out = bin()
        .args([
            "--store",
            s(&damaged),
            "--passphrase-file",
            s(&env.pw),
            "key",
            "list",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&damaged).expect("read"),
        b"not a database at all"
    );
    // Decryption still works and the store verifies.
    assert_eq!(env.run(&["decrypt", s(&ct)]).ok().stdout, vec![7u8; 1000]);
    env.assert_verifies();
}

#[test]
fn secrets_stay_off_the_command_line_and_out_of_output() {
    let env = Env::new();
    // The environment variable works, with a warning.
    let out = bin()
        .args(["--store", s(&env.store), "key", "list"])
        .env("KEYLIFE_PASSPHRASE", "correct horse battery staple")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("KEYLIFE_PASSPHRASE"),
        "{err}"
    );
    assert!(!err.contains("correct horse"), "{err}");
    // No terminal and no source: a clear usage error.
    bin()
        .args(["--store", s(&env.store), "key", "list"])
        .assert()
        .code(2);
    // A failed init leaves no store behind: no passphrase, a bad policy.
    let fresh = Env::empty();
    bin()
        .args(["--store", s(&fresh.store), "store", "init"])
        .assert()
        .code(2);
    assert!(!fresh.store.exists(), "no store without a passphrase");
    let bad_policy = fresh.path("p.toml");
    std::fs::write(&bad_policy, "version = 0\n").expect("write");
    let r = fresh.run(&["store", "init", "--policy", s(&bad_policy)]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(!fresh.store.exists(), "no store with a bad policy");
    // There is no option that takes a secret value.
    bin()
        .args(["--store", s(&env.store), "--passphrase", "x", "key", "list"])
        .assert()
        .code(2);
    // A wrong passphrase is not echoed back.
    let bad = env.path("bad");
    std::fs::write(&bad, "hunter2-wrong\n").expect("write");
    let out = bin()
        .args([
            "--store",
            s(&env.store),
            "--passphrase-file",
            s(&bad),
            "key",
            "list",
        ])
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
    // Raw export does not exist without the hazmat build.
    #[cfg(not(feature = "hazmat"))]
    env.run(&[
        "key",
        "export-raw",
        "k",
        "-o",
        "x",
        "--allow-plaintext-output",
    ])
    .fails(2);
    // The passphrase from an inherited file descriptor.
    let fd_run = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec 3<'{}'; '{}' --store '{}' --passphrase-fd 3 key list",
            s(&env.pw),
            s(&assert_cmd::cargo::cargo_bin("keylife")),
            s(&env.store)
        ))
        .output()
        .expect("bash runs");
    assert!(
        fd_run.status.success(),
        "{}",
        String::from_utf8_lossy(&fd_run.stderr)
    );
    // On a terminal the passphrase is asked for (script(1) gives the
    // command a pseudo-terminal and types the answer).
    let mut child = std::process::Command::new("script")
        .arg("-qec")
        .arg(format!(
            "'{}' --store '{}' key list",
            s(&assert_cmd::cargo::cargo_bin("keylife")),
            s(&env.store)
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    std::thread::sleep(std::time::Duration::from_millis(500));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"correct horse battery staple\n")
            .expect("types");
    }
    let tty = child.wait_with_output().expect("script ends");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(shown.contains("store passphrase:"), "{shown}");
    // A data key's plaintext never goes to stdout.
    env.key("k", "aead");
    env.run(&["data-key", "-k", "k", "--plaintext-output", "-"])
        .fails(2);
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = bin().args(["completion", shell]).output().expect("runs");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("schedule-destroy"));
    }
    let man = bin().arg("man").output().expect("runs");
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH keylife"));
}

#[test]
fn large_files_are_streamed_and_a_damaged_stream_leaves_no_output() {
    let env = Env::new();
    env.key("files", "aead");
    let seg = 1 << 20;
    let big: Vec<u8> = (0..3 * seg + 123).map(|i| (i % 251) as u8).collect();
    let (pt, ct, out) = (env.path("big"), env.path("big.kl"), env.path("big.out"));
    std::fs::write(&pt, &big).expect("write");
    env.run(&["encrypt", "-k", "files", s(&pt), "-o", s(&ct), "--aad", "f"])
        .ok();
    let bytes = std::fs::read(&ct).expect("read");
    assert_eq!(bytes[0], 2, "a stream above one segment");
    assert_eq!(bytes.len(), 65 + big.len() + 4 * 16);
    env.run(&["decrypt", s(&ct), "-o", s(&out), "--aad", "f"])
        .ok();
    assert_eq!(std::fs::read(&out).expect("read"), big);
    // Through stdin and stdout too.
    let piped = env
        .run_in(&["encrypt", "-k", "files", "--aad", "f"], &big)
        .ok()
        .stdout;
    assert_eq!(piped[0], 2);
    assert_eq!(
        env.run_in(&["decrypt", "--aad", "f"], &piped).ok().stdout,
        big
    );
    // Rewrap after rotation; a second rewrap finds it current.
    env.run(&["key", "rotate", "files"]).ok();
    assert_eq!(env.json(&["rewrap", s(&ct), "--aad", "f"])["rewritten"], 1);
    assert_eq!(env.json(&["rewrap", s(&ct), "--aad", "f"])["rewritten"], 0);
    let bytes = std::fs::read(&ct).expect("read");
    assert_eq!(
        u32::from_be_bytes([bytes[18], bytes[19], bytes[20], bytes[21]]),
        2
    );
    // Truncated at each segment boundary, or with a flipped byte: exit 6,
    // the output file is not created, and the store verifies.
    let s1 = seg + 16;
    let mut flipped = bytes.clone();
    flipped[65 + s1 + 10] ^= 1;
    for (name, damaged) in [
        ("cut1", bytes[..65 + s1].to_vec()),
        ("cut2", bytes[..65 + 2 * s1].to_vec()),
        ("cut3", bytes[..65 + 3 * s1].to_vec()),
        ("flipped", flipped),
    ] {
        let (inp, outp) = (env.path(name), env.path(&format!("{name}.out")));
        std::fs::write(&inp, damaged).expect("write");
        env.run(&["decrypt", s(&inp), "-o", s(&outp), "--aad", "f"])
            .fails(6);
        assert!(!outp.exists(), "{name}: no output may be left");
        // And a damaged stream is never rewrapped into a valid one.
        let before = std::fs::read(&inp).expect("read");
        env.run(&["key", "rotate", "files"]).ok();
        env.run(&["rewrap", s(&inp), "--aad", "f"]).fails(6);
        assert_eq!(std::fs::read(&inp).expect("read"), before, "{name}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".keylife-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    env.assert_verifies();
}

#[test]
fn a_key_travels_to_another_party_with_transport() {
    let here = Env::new();
    let partner = Env::new();
    partner.key("inbox", "agreement");
    let inbox_pem = here.path("inbox.pem");
    partner
        .run(&["key", "public-key", "inbox", "-o", s(&inbox_pem)])
        .ok();
    here.run(&[
        "key",
        "create",
        "webhooks",
        "--purpose",
        "mac",
        "--owner",
        "t",
        "--exportable",
        "--active",
    ])
    .ok();
    here.run(&[
        "key",
        "create",
        "stay",
        "--purpose",
        "mac",
        "--owner",
        "t",
        "--active",
    ])
    .ok();
    let sent = here.path("webhooks.klt");
    // Not yet trusted: refused.
    here.run(&[
        "transport",
        "export",
        "webhooks",
        "--recipient",
        s(&inbox_pem),
        "-o",
        s(&sent),
    ])
    .fails(5);
    here.run(&[
        "transport",
        "trust",
        "partner",
        "--public-key",
        s(&inbox_pem),
    ])
    .ok();
    assert_eq!(here.json(&["transport", "list"])[0]["name"], "partner");
    let out = here.json(&[
        "transport",
        "export",
        "webhooks",
        "--recipient",
        s(&inbox_pem),
        "-o",
        s(&sent),
    ]);
    // A key not created exportable never leaves.
    here.run(&[
        "transport",
        "export",
        "stay",
        "--recipient",
        s(&inbox_pem),
        "-o",
        s(&here.path("x")),
    ])
    .fails(7);
    let got = partner.json(&[
        "transport",
        "import",
        s(&sent),
        "--name",
        "webhooks",
        "--purpose",
        "mac",
        "--inbox",
        "inbox",
    ]);
    assert_eq!(
        got["check_value"], out["check_value"],
        "the check values agree"
    );
    assert_eq!(got["state"], "pre_active");
    // The copy computes the same MAC.
    partner.run(&["key", "activate", "webhooks"]).ok();
    let msg = here.path("msg");
    std::fs::write(&msg, b"event 42").expect("write");
    let a = here.json(&["mac", "-k", "webhooks", s(&msg)]);
    let b = partner.json(&["mac", "-k", "webhooks", s(&msg)]);
    assert_eq!(a["tag"], b["tag"]);
    // An edited transport never imports; the wrong purpose neither.
    let mut bytes = std::fs::read(&sent).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let bad = here.path("bad.klt");
    std::fs::write(&bad, bytes).expect("write");
    partner
        .run(&[
            "transport",
            "import",
            s(&bad),
            "--name",
            "x",
            "--purpose",
            "mac",
            "--inbox",
            "inbox",
        ])
        .fails(6);
    partner
        .run(&[
            "transport",
            "import",
            s(&sent),
            "--name",
            "y",
            "--purpose",
            "aead",
            "--inbox",
            "inbox",
        ])
        .fails(4);
    here.run(&["transport", "untrust", "partner"]).ok();
    here.assert_verifies();
    partner.assert_verifies();
}

#[test]
fn batches_create_many_keys_and_rewrap_a_file_of_ciphertexts() {
    use base64ct::{Base64, Encoding};
    let env = Env::new();
    let made = env.json(&[
        "key",
        "create",
        "tenant",
        "--purpose",
        "aead",
        "--owner",
        "t",
        "--active",
        "--count",
        "12",
    ]);
    assert_eq!(made["created"], 12);
    let list = env.json(&["key", "list", "--state", "active"]);
    assert_eq!(list.as_array().map(Vec::len), Some(12));
    assert_eq!(env.json(&["key", "show", "tenant-07"])["state"], "active");
    env.run(&["key", "create", "x", "--purpose", "aead", "--count", "0"])
        .fails(2);
    // Ciphertexts of three keys, one per line in base64.
    let mut lines = String::new();
    let mut plain = Vec::new();
    for (i, k) in ["tenant-01", "tenant-02", "tenant-12"].iter().enumerate() {
        let pt = format!("record {i}");
        let ct = env
            .run_in(&["encrypt", "-k", k, "--aad", "db"], pt.as_bytes())
            .ok()
            .stdout;
        lines.push_str(&Base64::encode_string(&ct));
        lines.push('\n');
        plain.push(pt);
        env.run(&["key", "rotate", k]).ok();
    }
    let input = env.path("cts.b64");
    std::fs::write(&input, &lines).expect("write");
    let output = env.path("new.b64");
    let r = env.json(&[
        "rewrap",
        "--lines",
        s(&input),
        "-o",
        s(&output),
        "--aad",
        "db",
    ]);
    assert_eq!(r["rewrapped"], 3);
    let new = std::fs::read_to_string(&output).expect("read");
    for (line, pt) in new.lines().zip(&plain) {
        let ct = Base64::decode_vec(line).expect("base64");
        assert_eq!(
            u32::from_be_bytes([ct[18], ct[19], ct[20], ct[21]]),
            2,
            "under version 2"
        );
        assert_eq!(
            env.run_in(&["decrypt", "--aad", "db"], &ct).ok().stdout,
            pt.as_bytes()
        );
    }
    // All or nothing: one bad ciphertext fails the batch, naming it; no output.
    let mut bad: Vec<String> = lines.lines().map(str::to_owned).collect();
    let mut ct = Base64::decode_vec(&bad[1]).expect("base64");
    ct[40] ^= 1;
    bad[1] = Base64::encode_string(&ct);
    std::fs::write(&input, bad.join("\n")).expect("write");
    let out2 = env.path("never.b64");
    let r = env
        .run(&[
            "rewrap",
            "--lines",
            s(&input),
            "-o",
            s(&out2),
            "--aad",
            "db",
        ])
        .fails(6);
    assert!(r.stderr.contains("ciphertext 1"), "{}", r.stderr);
    assert!(!out2.exists());
    std::fs::write(&input, "not base64 at all!\n").expect("write");
    env.run(&["rewrap", "--lines", s(&input), "-o", s(&out2)])
        .fails(9);
    env.assert_verifies();
}
