//! The HTML compliance report (`keylife report --html FILE`): one
//! self-contained page — inline CSS and SVG, no scripts, no network —
//! deterministic for the same store, policy and time. Every label goes
//! through maud, which HTML-escapes whatever it interpolates; no key
//! material is ever read.

use std::collections::{BTreeMap, BTreeSet};

use keylife::report::Finding;
use keylife::{
    AuditEntry, ComplianceReport, KeyInfo, Operation, Policy, Purpose, StateName, Timestamp,
};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::cmd::key::operation_name;

const DAY_MS: i64 = 86_400_000;

/// What the page is made of.
pub struct Inputs<'a> {
    /// The report (findings).
    pub report: &'a ComplianceReport,
    /// `report --format json`, embedded verbatim.
    pub json: &'a str,
    /// Every key.
    pub keys: &'a [KeyInfo],
    /// The policy the report applied.
    pub policy: &'a Policy,
    /// Whether a policy is in force (else the built-in default applied).
    pub policy_in_force: bool,
    /// The store, printable.
    pub store: &'a str,
    /// The KEK kind (`argon2id`, `raw`).
    pub kek_kind: &'a str,
    /// The crypto provider's name.
    pub provider: &'a str,
    /// Lifecycle events of the audit log (verified), oldest first.
    pub events: &'a [AuditEntry],
    /// The report's time.
    pub now: Timestamp,
}

/// The operations shown as lifecycle events.
pub fn is_lifecycle(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        Create
            | Import
            | Activate
            | Suspend
            | Resume
            | Deactivate
            | Compromise
            | ScheduleDestruction
            | CancelDestruction
            | Destroy
            | Rotate
            | CompromiseVersion
            | DestroyVersion
            | SetMinDecryptionVersion
            | Grant
            | RevokeGrant
            | SetPolicy
            | RegisterPrincipal
            | RotateKek
            | Backup
            | Restore
            | SetOwner
    )
}

fn holds_material(s: StateName) -> bool {
    !matches!(s, StateName::Destroyed | StateName::DestroyedCompromised)
}

fn can_protect(s: StateName) -> bool {
    matches!(
        s,
        StateName::PreActive | StateName::Active | StateName::Suspended
    )
}

/// When the primary version was made (what rotation age counts from).
fn primary_since(k: &KeyInfo) -> Timestamp {
    k.versions
        .iter()
        .find(|v| v.number == k.primary_version)
        .map(|v| v.created_at)
        .or(k.last_rotated_at)
        .unwrap_or(k.created_at)
}

fn days(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

fn rotation_days(p: &Policy, purpose: Purpose) -> Option<i64> {
    p.rules(purpose)
        .and_then(|r| r.rotation_period())
        .and_then(|d| i64::try_from(d.as_secs() / 86_400).ok())
}

/// The finding lists with their titles and the command that fixes each.
fn categories(r: &ComplianceReport) -> Vec<(&'static str, &Vec<Finding>, &'static str)> {
    vec![
        (
            "past cryptoperiod",
            &r.past_cryptoperiod,
            "keylife key deactivate {id} --reason \"cryptoperiod ended\"",
        ),
        (
            "policy violation",
            &r.policy_violations,
            "keylife key rotate {id}",
        ),
        (
            "overdue rotation",
            &r.overdue_rotation,
            "keylife key rotate {id}",
        ),
        (
            "near usage limit",
            &r.near_usage_limit,
            "keylife key rotate {id}",
        ),
        (
            "without owner",
            &r.without_owner,
            "keylife key set-owner {id} <team>",
        ),
        (
            "unused",
            &r.unused,
            "keylife key deactivate {id} --reason unused",
        ),
        (
            "pending destruction",
            &r.pending_destruction,
            "keylife key cancel-destroy {id}   # only if it is still needed",
        ),
    ]
}

struct Summary {
    eligible: usize,
    compliant: usize,
    compromised: usize,
    findings: usize,
    risk: &'static str,
}

fn summary(i: &Inputs<'_>) -> Summary {
    let r = i.report;
    let overdue: BTreeSet<String> = r
        .overdue_rotation
        .iter()
        .map(|f| f.key_id.to_string())
        .collect();
    let eligible: Vec<&KeyInfo> = i
        .keys
        .iter()
        .filter(|k| can_protect(k.state) && rotation_days(i.policy, k.purpose).is_some())
        .collect();
    let compliant = eligible
        .iter()
        .filter(|k| !overdue.contains(&k.id.to_string()))
        .count();
    let compromised = i
        .keys
        .iter()
        .filter(|k| k.state == StateName::Compromised)
        .count();
    let risk =
        if compromised > 0 || !r.past_cryptoperiod.is_empty() || !r.policy_violations.is_empty() {
            "high"
        } else if !r.overdue_rotation.is_empty()
            || !r.without_owner.is_empty()
            || !r.near_usage_limit.is_empty()
        {
            "medium"
        } else {
            "low"
        };
    Summary {
        eligible: eligible.len(),
        compliant,
        compromised,
        findings: r.finding_count(),
        risk,
    }
}

fn percent(num: usize, den: usize) -> String {
    if den == 0 {
        return "100%".to_owned();
    }
    format!("{:.0}%", num as f64 * 100.0 / den as f64)
}

/// Bucket edges in days for the age histogram; the last bucket is open.
const EDGES: [i64; 6] = [0, 30, 90, 180, 365, 730];
const LABELS: [&str; 6] = [
    "0–30 d",
    "30–90 d",
    "90–180 d",
    "180 d–1 y",
    "1–2 y",
    "> 2 y",
];
const BAR_W: f64 = 96.0;
const LEFT: f64 = 40.0;
const CHART_H: f64 = 160.0;

/// x of an age in days: linear inside each bucket (the last one spans
/// 730..1095 days and caps there).
fn x_of(d: i64) -> f64 {
    let d = d.max(0);
    for (b, w) in EDGES.windows(2).enumerate() {
        if d < w[1] {
            return LEFT + BAR_W * (b as f64 + (d - w[0]) as f64 / (w[1] - w[0]) as f64);
        }
    }
    let last = EDGES.len() - 1;
    LEFT + BAR_W * (last as f64 + ((d - 730).min(365)) as f64 / 365.0)
}

fn age_histogram(i: &Inputs<'_>) -> Markup {
    let mut counts = [0usize; 6];
    for k in i.keys.iter().filter(|k| holds_material(k.state)) {
        let age = days(i.now.as_millis() - primary_since(k).as_millis());
        let b = EDGES.iter().rposition(|e| age >= *e).unwrap_or(0);
        counts[b] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let width = LEFT + BAR_W * 6.0 + 20.0;
    let marks: Vec<(Purpose, i64)> = Purpose::ALL
        .iter()
        .filter_map(|p| rotation_days(i.policy, *p).map(|d| (*p, d)))
        .collect();
    let top = 20.0;
    let height = top + CHART_H + 30.0 + 14.0 * marks.len() as f64;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}")) role="img"
            aria-label="Age of each key's primary version" {
            line x1=(LEFT) y1=(top + CHART_H) x2=(LEFT + BAR_W * 6.0) y2=(top + CHART_H) stroke="#555" {}
            @for (b, c) in counts.iter().enumerate() {
                @let h = CHART_H * (*c as f64) / (max as f64);
                @let x = LEFT + BAR_W * b as f64 + 8.0;
                rect x=(x) y=(top + CHART_H - h) width=(BAR_W - 16.0) height=(h) fill="#4a78b5" {}
                text x=(x + (BAR_W - 16.0) / 2.0) y=(top + CHART_H - h - 4.0) text-anchor="middle" class="n" { (c) }
                text x=(x + (BAR_W - 16.0) / 2.0) y=(top + CHART_H + 16.0) text-anchor="middle" { (LABELS[b]) }
            }
            @for (n, (p, d)) in marks.iter().enumerate() {
                @let x = x_of(*d);
                line x1=(x) y1=(top - 6.0) x2=(x) y2=(top + CHART_H) stroke="#c0392b" stroke-dasharray="4 3" {}
                text x=(x + 3.0) y=(top + CHART_H + 34.0 + 14.0 * n as f64) class="mark" {
                    (format!("{p} rotation: {d} d"))
                }
            }
        }
    }
}

fn state_purpose(i: &Inputs<'_>) -> Markup {
    let mut counts: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for k in i.keys {
        *counts
            .entry((k.state.code(), k.purpose.code()))
            .or_default() += 1;
    }
    html! {
        table {
            thead { tr { th { "state" } @for p in Purpose::ALL { th { (p) } } th { "total" } } }
            tbody {
                @for s in StateName::ALL {
                    @let row: Vec<usize> = Purpose::ALL.iter().map(|p| counts.get(&(s.code(), p.code())).copied().unwrap_or(0)).collect();
                    tr {
                        td { (s) }
                        @for c in &row { td.num.zero[*c == 0] { (c) } }
                        td.num { (row.iter().sum::<usize>()) }
                    }
                }
            }
        }
    }
}

fn owners(i: &Inputs<'_>) -> Markup {
    let flagged: BTreeSet<String> = categories(i.report)
        .iter()
        .filter(|(t, _, _)| *t != "pending destruction")
        .flat_map(|(_, f, _)| f.iter().map(|x| x.key_id.to_string()))
        .collect();
    let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for k in i.keys.iter().filter(|k| holds_material(k.state)) {
        let owner = k
            .owner
            .clone()
            .filter(|o| !o.trim().is_empty())
            .unwrap_or_else(|| "(no owner)".to_owned());
        let e = by.entry(owner).or_default();
        e.0 += 1;
        if flagged.contains(&k.id.to_string()) {
            e.1 += 1;
        }
    }
    let mut rows: Vec<(String, usize, usize)> =
        by.into_iter().map(|(o, (n, f))| (o, n, f)).collect();
    // Worst first: lowest share of clean keys, then most flagged.
    rows.sort_by(|a, b| {
        let (sa, sb) = ((a.1 - a.2) * b.1, (b.1 - b.2) * a.1);
        sa.cmp(&sb).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0))
    });
    html! {
        table {
            thead { tr { th { "owner" } th { "keys" } th { "with findings" } th { "compliant" } } }
            tbody {
                @for (o, n, f) in &rows {
                    tr { td { (o) } td.num { (n) } td.num { (f) } td.num.bad[*f > 0] { (percent(n - f, *n)) } }
                }
            }
        }
    }
}

fn findings(i: &Inputs<'_>) -> Markup {
    html! {
        @if i.report.finding_count() == 0 {
            p.ok { "No findings." }
        } @else {
            table {
                thead { tr { th { "finding" } th { "key" } th { "owner" } th { "state" } th { "detail" } th { "fix" } } }
                tbody {
                    @for (title, list, fix) in categories(i.report) {
                        @for f in list {
                            tr {
                                td { (title) }
                                td { (f.name) br; span.id { (f.key_id.to_string()) } }
                                td { (f.owner.as_deref().unwrap_or("-")) }
                                td { (f.state) }
                                td { (f.detail) }
                                td { code { (fix.replace("{id}", &f.key_id.to_string())) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn due(i: &Inputs<'_>) -> Markup {
    let now = i.now.as_millis();
    let mut rows: Vec<(i64, String, String, &'static str)> = Vec::new();
    for k in i.keys.iter().filter(|k| holds_material(k.state)) {
        let mut push = |at: i64, what: &'static str| {
            if at > now && at <= now + 90 * DAY_MS {
                rows.push((at, k.name.clone(), k.id.to_string(), what));
            }
        };
        if can_protect(k.state)
            && let Some(d) = rotation_days(i.policy, k.purpose)
        {
            push(primary_since(k).as_millis() + d * DAY_MS, "rotation due");
        }
        if matches!(k.state, StateName::Active | StateName::Suspended)
            && let Some(t) = k.deactivation_date
        {
            push(t.as_millis(), "deactivation");
        }
        if k.state == StateName::PendingDestruction
            && let Some(t) = k.destruction_date
        {
            push(t.as_millis(), "destruction");
        }
    }
    rows.sort();
    let window = |at: i64| match days(at - now) {
        0..=29 => "next 30 days",
        30..=59 => "31–60 days",
        _ => "61–90 days",
    };
    html! {
        @if rows.is_empty() {
            p { "Nothing falls due in the next 90 days." }
        } @else {
            table {
                thead { tr { th { "when" } th { "window" } th { "what" } th { "key" } } }
                tbody {
                    @for (at, name, id, what) in &rows {
                        tr { td { (Timestamp(*at).to_string()) } td { (window(*at)) } td { (what) } td { (name) br; span.id { (id) } } }
                    }
                }
            }
        }
    }
}

fn events(i: &Inputs<'_>) -> Markup {
    let recent: Vec<&AuditEntry> = i.events.iter().rev().take(25).collect();
    html! {
        table {
            thead { tr { th { "#" } th { "when" } th { "who" } th { "what" } th { "key" } th { "outcome" } th { "reason" } } }
            tbody {
                @for e in &recent {
                    tr {
                        td.num { (e.seq) }
                        td { (e.at.to_string()) }
                        td { (e.principal) }
                        td { (operation_name(e.operation)) }
                        td.id { (e.key_id.map(|k| k.to_string()).unwrap_or_default()) }
                        td { (format!("{:?}", e.outcome).to_lowercase()) }
                        td { (e.reason.as_deref().or(e.error.as_deref()).unwrap_or("")) }
                    }
                }
            }
        }
    }
}

const CSS: &str = "
body{font:14px/1.45 system-ui,sans-serif;color:#1d2733;margin:0;background:#f4f6f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5dbe3;padding-bottom:4px}
section{background:#fff;border:1px solid #d5dbe3;border-radius:6px;padding:4px 16px 16px;margin-bottom:16px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}td.zero{color:#aab}
.id{font-family:ui-monospace,monospace;font-size:11px;color:#667;word-break:break-all}td{overflow-wrap:anywhere}code{font-size:12px;background:#f0f2f5;padding:1px 4px;border-radius:3px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{flex:1;min-width:150px;border:1px solid #d5dbe3;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:26px}.risk-high{background:#fdecea}.risk-medium{background:#fff6e0}.risk-low{background:#e9f7ef}
.bad{color:#b03a2e;font-weight:600}.ok{color:#1e8449}svg text{font-size:11px;fill:#333}svg text.mark{fill:#c0392b}svg text.n{font-weight:600}
pre{white-space:pre-wrap;font-size:11px;max-height:400px;overflow:auto;background:#f8f9fb;padding:8px}
";

/// The whole page.
pub fn render(i: &Inputs<'_>) -> String {
    let s = summary(i);
    let r = i.report;
    let lifecycle = i.events.len();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "keylife compliance report — " (r.generated_at.to_string()) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { "Key compliance report" }
                    p { "Generated " (r.generated_at.to_string()) " by keylife " (env!("CARGO_PKG_VERSION")) ". No key material is read or shown." }
                    section id="provenance" {
                        h2 { "Provenance" }
                        table { tbody {
                            tr { th { "store" } td { (i.store) } }
                            tr { th { "policy" } td {
                                "version " (r.policy_version)
                                @if !i.policy_in_force { " (built-in default: no policy in force)" }
                                br; span.id { (r.policy_digest) }
                            } }
                            tr { th { "key-encryption key" } td { (i.kek_kind) } }
                            tr { th { "crypto provider" } td { (i.provider) } }
                            tr { th { "audit chain" } td.ok { "verified: every entry's MAC and link checked; " (lifecycle) " lifecycle events" } }
                            tr { th { "keys" } td { (r.total_keys) } }
                        } }
                    }
                    section id="summary" {
                        h2 { "Risk summary" }
                        div.cards {
                            div class=(format!("card risk-{}", s.risk)) { "risk" b { (s.risk) } }
                            div.card { "rotation compliance" b { (percent(s.compliant, s.eligible)) } (s.compliant) " of " (s.eligible) " keys with a rotation period" }
                            div.card { "findings" b { (s.findings) } }
                            div.card { "compromised, not destroyed" b.bad[s.compromised > 0] { (s.compromised) } }
                            div.card { "pending destruction" b { (r.pending_destruction.len()) } }
                        }
                    }
                    section id="age" {
                        h2 { "Age of primary versions" }
                        p { "Keys holding material, by the age of their primary version; dashed lines mark each purpose's rotation period." }
                        (age_histogram(i))
                    }
                    section id="states" { h2 { "Keys by state and purpose" } (state_purpose(i)) }
                    section id="owners" { h2 { "Compliance by owner (worst first)" } (owners(i)) }
                    section id="findings" { h2 { "Findings and fixes" } (findings(i)) }
                    section id="due" { h2 { "Falling due in the next 30 / 60 / 90 days" } (due(i)) }
                    section id="events" { h2 { "Recent lifecycle events" } (events(i)) }
                    section id="data" {
                        h2 { "Report data" }
                        details {
                            summary { "The report as JSON (keylife report --format json)" }
                            pre id="report-json" { (i.json) }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}
