//! `keylife key export-raw` exists only in a `hazmat` build
//! (`cargo nextest run -p keylife-cli --features hazmat --test hazmat`,
//! run by scripts/test.sh) and needs --allow-plaintext-output; without the
//! feature the command does not exist (`cli.rs` checks that).
#![cfg(feature = "hazmat")]

mod common;

use common::{Env, s};

#[test]
fn raw_export_needs_the_flag_and_never_goes_to_stdout() {
    let env = Env::new();
    let id = env.json(&[
        "key",
        "create",
        "k",
        "--purpose",
        "aead",
        "--owner",
        "t",
        "--exportable",
        "--active",
    ])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    env.key("kept-in", "aead");
    let out = env.path("k.raw");
    // A key not created exportable never leaves, even here.
    env.run(&[
        "key",
        "export-raw",
        "kept-in",
        "-o",
        s(&out),
        "--allow-plaintext-output",
    ])
    .fails(7);
    env.run(&["key", "export-raw", "k", "-o", s(&out)]).fails(2);
    assert!(!out.exists());
    env.run(&[
        "key",
        "export-raw",
        "k",
        "-o",
        "-",
        "--allow-plaintext-output",
    ])
    .fails(2);
    env.run(&[
        "key",
        "export-raw",
        "k",
        "-o",
        s(&out),
        "--allow-plaintext-output",
    ])
    .ok();
    let raw = std::fs::read(&out).expect("read");
    assert_eq!(raw.len(), 32);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never over an existing file.
    env.run(&[
        "key",
        "export-raw",
        "k",
        "-o",
        s(&out),
        "--allow-plaintext-output",
    ])
    .fails(11);
    // The export is audited.
    let log = env.run(&["audit", "export"]).ok().out();
    assert!(
        log.lines()
            .any(|l| l.contains("\"export\"") && l.contains(&id)),
        "{log}"
    );
}
