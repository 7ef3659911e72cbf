//! kill -9 on `keylife` commands at random moments, at least 100 times:
//! afterwards `store verify` passes, every acknowledged encryption still
//! decrypts, every acknowledged key exists, and no output file is half
//! written (outputs are renamed into place whole).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, s};

/// xorshift64: the delays only need to spread, not to be secret.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn a_hundred_kills_lose_nothing_acknowledged() {
    let env = Env::new();
    env.key("k", "aead");
    let big: Vec<u8> = (0..(2 << 20) + 5).map(|i| (i % 253) as u8).collect();
    let big_path = env.path("big");
    std::fs::write(&big_path, &big).expect("write");
    let bin = assert_cmd::cargo::cargo_bin("keylife");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    let (mut kills, mut finished, mut runs) = (0u32, 0u32, 0u32);
    let mut acked_ct: Vec<(std::path::PathBuf, bool)> = Vec::new(); // (file, big?)
    let mut acked_keys: Vec<String> = Vec::new();
    // Calibrate: how long one command takes here.
    let t = Instant::now();
    env.run(&["key", "list"]).ok();
    let typical = t.elapsed().as_millis().max(5) as u64;
    while kills < 100 && runs < 600 {
        runs += 1;
        let op = rng.next(4);
        let out = env.path(&format!("ct{runs}"));
        let name = format!("key{runs}");
        let args: Vec<String> = match op {
            0 => vec![
                "encrypt".into(),
                "-k".into(),
                "k".into(),
                s(&big_path).into(),
                "-o".into(),
                s(&out).into(),
            ],
            1 => vec![
                "encrypt".into(),
                "-k".into(),
                "k".into(),
                "-o".into(),
                s(&out).into(),
            ],
            2 => vec![
                "key".into(),
                "create".into(),
                name.clone(),
                "--purpose".into(),
                "mac".into(),
                "--active".into(),
            ],
            _ => vec!["key".into(), "rotate".into(), "k".into()],
        };
        let mut child = Command::new(&bin)
            .args(["--store", s(&env.store), "--passphrase-file", s(&env.pw)])
            .args(&args)
            .stdin(if op == 1 {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns");
        if op == 1 {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            let _ = stdin.write_all(format!("message {runs}").as_bytes());
        }
        std::thread::sleep(Duration::from_millis(rng.next(typical * 2)));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("waits");
        if status.signal() == Some(9) {
            kills += 1;
            // A killed encryption leaves either nothing or a whole file.
            continue;
        }
        assert!(status.success(), "{args:?} failed on its own: {status}");
        finished += 1;
        match op {
            0 => acked_ct.push((out, true)),
            1 => acked_ct.push((out, false)),
            2 => acked_keys.push(name),
            _ => {}
        }
    }
    eprintln!("{runs} runs: {kills} killed, {finished} finished first (typical {typical} ms)");
    assert!(kills >= 100, "only {kills} kills landed in {runs} runs");
    env.assert_verifies();
    for (file, is_big) in &acked_ct {
        let pt = env.run(&["decrypt", s(file)]).ok().stdout;
        if *is_big {
            assert_eq!(pt, big, "{}", file.display());
        } else {
            assert!(pt.starts_with(b"message "), "{}", file.display());
        }
    }
    for name in &acked_keys {
        env.run(&["key", "show", name]).ok();
    }
    // Files of killed encryptions: absent or whole (they decrypt).
    for i in 1..=runs {
        let f = env.path(&format!("ct{i}"));
        if f.exists() {
            env.run(&["decrypt", s(&f)]).ok();
        }
    }
    eprintln!(
        "acknowledged and checked: {} ciphertexts, {} keys",
        acked_ct.len(),
        acked_keys.len()
    );
}
