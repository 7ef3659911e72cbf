//! Running the built `keylife` binary on a temporary store.

#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary directory with a store in it and a passphrase file.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: PathBuf,
    pub pw: PathBuf,
}

/// What a run gave.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.out()))
    }

    /// Asserts success, returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            0,
            "expected success, got {}: {}{}",
            self.code,
            self.stderr,
            self.out()
        );
        self
    }

    /// Asserts this exit code and exactly one line on stderr.
    #[track_caller]
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(self.code, code, "stderr: {}", self.stderr);
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "expected one line on stderr: {:?}",
            self.stderr
        );
        self
    }
}

pub fn bin() -> Command {
    let mut c = Command::cargo_bin("keylife").expect("the keylife binary is built");
    c.env_remove("KEYLIFE_STORE")
        .env_remove("KEYLIFE_PASSPHRASE")
        .env_remove("KEYLIFE_PRINCIPAL")
        .env_remove("KEYLIFE_FORMAT")
        .env_remove("KEYLIFE_PG_SCHEMA")
        .env_remove("KEYLIFE_PASSPHRASE_FILE")
        .env_remove("KEYLIFE_KEK_FILE");
    c
}

fn run_cmd(mut c: Command, stdin: &[u8]) -> Run {
    let o = c
        .write_stdin(stdin.to_vec())
        .output()
        .expect("keylife runs");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

impl Env {
    /// A new store (administrator `admin`) with cheap Argon2 costs.
    pub fn new() -> Env {
        let env = Env::empty();
        env.run(&[
            "store",
            "init",
            "--argon2-memory",
            "8192",
            "--argon2-passes",
            "1",
            "--argon2-lanes",
            "1",
        ])
        .ok();
        env
    }

    /// A directory and passphrase file, no store yet.
    pub fn empty() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("store.db");
        let pw = dir.path().join("passphrase");
        std::fs::write(&pw, "correct horse battery staple\n").expect("write passphrase");
        Env { dir, store, pw }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command with store and passphrase set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin();
        c.arg("--store")
            .arg(&self.store)
            .arg("--passphrase-file")
            .arg(&self.pw)
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_cmd(self.cmd(args), b"")
    }

    pub fn run_in(&self, args: &[&str], stdin: &[u8]) -> Run {
        run_cmd(self.cmd(args), stdin)
    }

    /// `--format json` runs.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }

    /// Asserts the store still verifies (records and audit chain).
    #[track_caller]
    pub fn assert_verifies(&self) {
        let v = self.json(&["store", "verify"]);
        assert_eq!(v["ok"], true, "{v}");
    }

    /// Creates an active key, returns its id.
    pub fn key(&self, name: &str, purpose: &str) -> String {
        let v = self.json(&[
            "key",
            "create",
            name,
            "--purpose",
            purpose,
            "--owner",
            "team",
            "--active",
        ]);
        v["id"].as_str().expect("id").to_owned()
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
