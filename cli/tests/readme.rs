//! Replays the session in README.md ("The command line") with the built
//! binary and compares every command's output with the README's, ids,
//! times and digests aside. `KEYLIFE_WRITE_README=1` rewrites the
//! README's outputs from this run instead (review the diff).

mod common;

use std::path::Path;

const START: &str = "<!-- cli-session -->\n```console\n";

struct Step {
    command: String,
    output: String,
}

fn readme_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// The session block: its byte range and its steps.
fn session(readme: &str) -> (usize, usize, Vec<Step>) {
    let start = readme.find(START).expect("README has the CLI session") + START.len();
    let end = start + readme[start..].find("```\n").expect("the block ends");
    let mut steps: Vec<Step> = Vec::new();
    for line in readme[start..end].lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: cmd.to_owned(),
                output: String::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.output.push_str(line);
            step.output.push('\n');
        }
    }
    (start, end, steps)
}

fn normalize(text: &str, data_home: &str) -> String {
    let text = text.replace(data_home, "$XDG_DATA_HOME");
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").expect("regex");
    let digest = regex::Regex::new(r"\b[0-9a-f]{64}\b").expect("regex");
    let id = regex::Regex::new(r"\b[0-9a-f]{32}\b").expect("regex");
    let text = time.replace_all(&text, "<time>");
    let text = digest.replace_all(&text, "<digest>");
    let text = id.replace_all(&text, "<id>");
    // Table borders stretch with the widths of what was replaced.
    let rules = regex::Regex::new(r"[─═]+").expect("regex");
    let spaces = regex::Regex::new(r" +┆| +│").expect("regex");
    let text = rules.replace_all(&text, "─");
    spaces.replace_all(&text, " |").into_owned()
}

#[test]
fn the_readme_session_replays() {
    let readme = std::fs::read_to_string(readme_path()).expect("README.md");
    let (start, end, steps) = session(&readme);
    assert!(steps.len() > 10, "the session has {} commands", steps.len());
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let bin = assert_cmd::cargo::cargo_bin("keylife");
    let bin_dir = bin.parent().expect("bin dir");
    let mut script = String::new();
    for (i, s) in steps.iter().enumerate() {
        script.push_str(&format!("echo '@@step {i}'\n{{ {}\n}} 2>&1\n", s.command));
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("XDG_DATA_HOME", &data)
        .env_remove("KEYLIFE_STORE")
        .env_remove("KEYLIFE_PASSPHRASE")
        .env_remove("KEYLIFE_PASSPHRASE_FILE")
        .env_remove("KEYLIFE_PRINCIPAL")
        .env_remove("KEYLIFE_FORMAT")
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut actual: Vec<String> = Vec::new();
    for chunk in text.split("@@step ").skip(1) {
        let body = chunk.split_once('\n').map_or("", |(_, b)| b);
        actual.push(body.to_owned());
    }
    assert_eq!(actual.len(), steps.len(), "every step ran: {text}");
    let data_home = data.display().to_string();
    if std::env::var_os("KEYLIFE_WRITE_README").is_some() {
        let mut block = String::new();
        for (s, a) in steps.iter().zip(&actual) {
            block.push_str(&format!(
                "$ {}\n{}",
                s.command,
                a.replace(&data_home, "$XDG_DATA_HOME")
            ));
        }
        let new = format!("{}{}{}", &readme[..start], block, &readme[end..]);
        std::fs::write(readme_path(), new).expect("write README");
        return;
    }
    for (s, a) in steps.iter().zip(&actual) {
        assert_eq!(
            normalize(a, &data_home),
            normalize(&s.output, &data_home),
            "output of `{}` differs from README.md:\n{a}",
            s.command
        );
    }
}
