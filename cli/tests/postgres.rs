//! The CLI on a PostgreSQL store (`--store postgres://…`, a schema per
//! test), against the server of `scripts/pg.sh` (`KEYLIFE_PG_URL`,
//! `KEYLIFE_PG_CTL`): the lifecycle works the same, a second "machine"
//! sees a revocation at once, and a server that stops gives exit 10 and
//! one line, then everything works again once it is back.

mod common;

use common::{bin, s};

fn url() -> String {
    std::env::var("KEYLIFE_PG_URL")
        .expect("KEYLIFE_PG_URL is not set: run the PostgreSQL tests through scripts/pg.sh")
}

fn pg_ctl(args: &str) {
    let ctl = std::env::var("KEYLIFE_PG_CTL").expect("KEYLIFE_PG_CTL (scripts/pg.sh)");
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{ctl} {args} >/dev/null"))
        .status()
        .expect("pg_ctl runs")
        .success();
    assert!(ok, "pg_ctl {args} failed");
}

struct Pg {
    dir: tempfile::TempDir,
    schema: String,
}

impl Pg {
    fn new(tag: &str) -> Pg {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("kek"), "42".repeat(32)).expect("kek");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Pg {
            dir,
            schema: format!("cli_{tag}_{nanos}"),
        }
    }

    fn run(&self, args: &[&str]) -> common::Run {
        self.run_in(args, b"")
    }

    fn run_in(&self, args: &[&str], stdin: &[u8]) -> common::Run {
        let kek = self.dir.path().join("kek");
        let o = bin()
            .args([
                "--store",
                &url(),
                "--schema",
                &self.schema,
                "--kek-file",
                s(&kek),
            ])
            .args(args)
            .write_stdin(stdin.to_vec())
            .output()
            .expect("runs");
        common::Run {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

#[test]
fn lifecycle_and_revocation_on_postgres() {
    let pg = Pg::new("life");
    pg.run(&["key", "list"]).fails(3); // no store in this schema yet
    pg.run(&["store", "init"]).ok();
    pg.run(&["store", "init"]).fails(4); // never adopts an existing store
    pg.run(&["principal", "add", "app", "--role", "application"])
        .ok();
    pg.run(&[
        "key",
        "create",
        "k",
        "--purpose",
        "aead",
        "--owner",
        "t",
        "--active",
    ])
    .ok();
    pg.run(&[
        "key",
        "grant",
        "k",
        "app",
        "--operations",
        "encrypt,decrypt",
    ])
    .ok();
    let ct = pg
        .run_in(&["--as", "app", "encrypt", "-k", "k"], b"on the server")
        .ok()
        .stdout;
    assert_eq!(
        pg.run_in(&["--as", "app", "decrypt"], &ct).ok().stdout,
        b"on the server"
    );
    // Another process (another machine) compromises; the next use refuses.
    pg.run(&["key", "compromise", "k", "--yes"]).ok();
    pg.run_in(&["--as", "app", "encrypt", "-k", "k"], b"x")
        .fails(4);
    let info = pg.run(&["--format", "json", "store", "info"]).ok().json();
    assert!(
        info["store"].as_str().is_some_and(|u| !u.contains('@')),
        "no user or password: {info}"
    );
    pg.run(&["store", "verify"]).ok();
}

#[test]
fn a_stopped_server_gives_exit_10_then_work_resumes() {
    let pg = Pg::new("down");
    pg.run(&["store", "init"]).ok();
    pg.run(&[
        "key",
        "create",
        "k",
        "--purpose",
        "aead",
        "--owner",
        "t",
        "--active",
    ])
    .ok();
    let ct = pg.run_in(&["encrypt", "-k", "k"], b"kept").ok().stdout;
    pg_ctl("stop -m immediate");
    let down = pg.run(&["key", "list"]);
    pg_ctl("start");
    let down = down.fails(10);
    assert!(down.stderr.contains("unavailable"), "{}", down.stderr);
    assert!(!down.stderr.contains("password"), "{}", down.stderr);
    // Back: the acknowledged ciphertext decrypts and the store verifies.
    let mut back = None;
    for _ in 0..60 {
        let r = pg.run_in(&["decrypt"], &ct);
        if r.code == 0 {
            back = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(back.expect("the server came back").stdout, b"kept");
    pg.run(&["store", "verify"]).ok();
}
