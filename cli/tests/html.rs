//! The HTML compliance report (`keylife report --html`): self-contained,
//! deterministic for the same store, policy and time, every label escaped,
//! its embedded JSON equal to `report --format json`, and rendered by
//! headless Chromium (installed by scripts/test.sh) into a non-trivial
//! screenshot with no console errors.

mod common;

use common::{Env, s};

const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_OWNER: &str = "ops & \"friends\" <em>";

fn store() -> Env {
    let env = Env::new();
    let policy = env.path("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[purpose.aead]\nrotation_period_days = 90\n\
         [purpose.signing]\nrotation_period_days = 365\n",
    )
    .expect("write");
    env.run(&["policy", "set", s(&policy)]).ok();
    for n in ["inv-a", "inv-b", "inv-c"] {
        env.run(&[
            "key",
            "create",
            n,
            "--purpose",
            "aead",
            "--owner",
            "billing",
            "--active",
        ])
        .ok();
    }
    env.run(&[
        "key",
        "create",
        "release",
        "--purpose",
        "signing",
        "--owner",
        HOSTILE_OWNER,
        "--active",
    ])
    .ok();
    env.run(&["key", "create", HOSTILE_NAME, "--purpose", "mac"])
        .ok(); // no owner: a finding
    env.run(&[
        "key",
        "compromise",
        "inv-b",
        "--yes",
        "--reason",
        "<i>leak</i>",
    ])
    .ok();
    env.run(&["key", "deactivate", "inv-c"]).ok();
    env.run(&["key", "schedule-destroy", "inv-c", "--after", "30d"])
        .ok();
    env
}

/// An RFC 3339 time `days` from now (the store's keys are created now).
fn in_days(days: u64) -> String {
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(days * 86_400);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Undoes maud's escaping (&, <, >, ").
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn the_page_is_self_contained_deterministic_escaped_and_holds_the_json() {
    let env = store();
    // 27 days on: inv-c's destruction (day 30) falls in the next 30 days,
    // the aead keys' rotation (day 90) in 61–90 days.
    let at = &in_days(27);
    let (a, b) = (env.path("a.html"), env.path("b.html"));
    env.run(&["report", "--html", s(&a), "--at", at]).ok();
    env.run(&["report", "--html", s(&b), "--at", at]).ok();
    let page = std::fs::read_to_string(&a).expect("read");
    assert_eq!(
        page,
        std::fs::read_to_string(&b).expect("read"),
        "same store, policy, time: same page"
    );
    // Another time, another page.
    env.run(&["report", "--html", s(&b), "--at", &in_days(200)])
        .ok();
    assert_ne!(page, std::fs::read_to_string(&b).expect("read"));

    // Self-contained: no script, no link, no fetched resource.
    let lower = page.to_lowercase();
    for bad in [
        "<script", "<link", "<iframe", "<img", "<object", "src=\"", "href=\"", "url(", "@import",
    ] {
        assert!(!lower.contains(bad), "the page contains {bad:?}");
    }
    // Labels escaped: the hostile strings only ever appear escaped.
    assert!(!page.contains(HOSTILE_NAME) && !page.contains("<em>") && !page.contains("<i>leak"));
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the hostile name is shown, escaped"
    );
    assert!(
        page.contains("ops &amp; &quot;friends&quot; &lt;em&gt;"),
        "the hostile owner is shown, escaped"
    );
    // The content the issue lists.
    for part in [
        "Provenance",
        "argon2id",
        "audit chain",
        "Risk summary",
        "rotation compliance",
        "<svg",
        "aead rotation: 90 d",
        "signing rotation: 365 d",
        "Keys by state and purpose",
        "Compliance by owner",
        "Findings and fixes",
        "keylife key set-owner",
        "next 30 days",
        "61–90 days",
        "destruction",
        "rotation due",
        "Recent lifecycle events",
        "compromise",
    ] {
        assert!(page.contains(part), "the page lacks {part:?}");
    }
    // No secret: the passphrase never appears.
    assert!(!page.contains("correct horse"));

    // The embedded JSON is `report --format json` at the same time.
    let start = page
        .find("<pre id=\"report-json\">")
        .expect("embedded JSON")
        + "<pre id=\"report-json\">".len();
    let end = start + page[start..].find("</pre>").expect("end of JSON");
    let embedded: serde_json::Value =
        serde_json::from_str(&unescape(&page[start..end])).expect("JSON");
    let printed = env
        .run(&["--format", "json", "report", "--at", at])
        .ok()
        .json();
    assert_eq!(embedded, printed);
    assert_eq!(printed["total_keys"], 5);
}

fn chromium() -> std::path::PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
        {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !p.is_empty() {
                return p.into();
            }
        }
    }
    panic!("chromium not found: scripts/test.sh installs it (apt-get install chromium)");
}

#[test]
fn headless_chromium_renders_it_without_console_errors() {
    let env = store();
    let page = env.path("report.html");
    env.run(&["report", "--html", s(&page), "--at", &in_days(27)])
        .ok();
    let shot = env.path("shot.png");
    let profile = env.path("profile");
    let out = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    let console: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE") || l.contains("net::ERR") || l.contains("Failed to load")
        })
        .collect();
    assert!(console.is_empty(), "console errors: {console:?}");

    // A non-trivial screenshot: many colours, much of it not background.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    assert!(
        info.width >= 1000 && info.height >= 1000,
        "{}x{}",
        info.width,
        info.height
    );
    let background = pixels[0];
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let busy = pixels.iter().filter(|p| *p != &background).count();
    assert!(colours.len() > 50, "{} colours", colours.len());
    assert!(
        busy * 10 > pixels.len(),
        "only {busy} of {} pixels drawn",
        pixels.len()
    );
}
