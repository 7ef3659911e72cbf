//! Checking a policy document: semantic validation with every issue
//! reported, normalization, the canonical form (digest and diff), and
//! error positions (line numbers in TOML, field paths in JSON).

use std::fmt::Write as _;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::rules::{ALGORITHMS, PURPOSES, algorithm_from_name, algorithm_name};
use super::{
    AEAD_MAX_USAGE, ApprovalOperation, DAY_SECS, MAX_DAYS, Policy, PolicyDoc, PurposeRules,
};
use crate::base::{Error, ErrorKind, Result};
use crate::key::Purpose;

impl Policy {
    /// Validates and normalizes (sorts sets) a parsed document. `line` maps
    /// a field path to its line in the source, when the format keeps
    /// positions.
    pub(super) fn check(doc: PolicyDoc, line: impl Fn(&[Seg]) -> Option<usize>) -> Result<Policy> {
        let mut policy = Policy {
            version: doc.version,
            classifications: doc.classifications,
            destruction: doc.destruction,
            purpose: doc.purpose,
            approvals: doc.approvals,
        };
        let mut issues = Vec::new();
        policy.validate(&mut issues);
        if issues.is_empty() {
            policy.normalize();
            return Ok(policy);
        }
        let mut msgs: Vec<(usize, String)> = issues
            .into_iter()
            .map(|i| match line(&i.path) {
                Some(n) => (n, format!("policy line {n}: {}", i.msg)),
                None => (0, format!("policy: {}", i.msg)),
            })
            .collect();
        msgs.sort_by_key(|(n, _)| *n);
        Err(policy_error(
            msgs.into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
                .join("; "),
        ))
    }

    pub(super) fn normalize(&mut self) {
        for p in PURPOSES {
            if let Some(r) = self.purpose.get_mut(p)
                && let Some(list) = &mut r.algorithms
            {
                list.algs.sort_by_key(|a| *a as u8);
                list.names = list
                    .algs
                    .iter()
                    .map(|a| algorithm_name(*a).to_owned())
                    .collect();
            }
        }
        for op in ApprovalOperation::ALL {
            if let Some(rule) = self.approvals.slot_mut(op) {
                rule.approvers.sort();
            }
        }
    }

    pub(super) fn validate(&self, issues: &mut Vec<Issue>) {
        let mut path = Vec::new();
        if self.version == 0 {
            issues.push(Issue::at(
                &path,
                Seg::key("version"),
                "version must be at least 1".to_owned(),
            ));
        }
        path.push(Seg::key("classifications"));
        if self.classifications.is_empty() {
            issues.push(Issue::new(
                &path,
                "classifications must list at least one level".to_owned(),
            ));
        }
        for (i, c) in self.classifications.iter().enumerate() {
            if c.trim().is_empty() || c.trim() != c {
                issues.push(Issue::at(
                    &path,
                    Seg::Index(i),
                    format!(
                        "classifications[{i}] must be a non-empty name without surrounding spaces"
                    ),
                ));
            } else if self.classifications[..i]
                .iter()
                .any(|x| x.eq_ignore_ascii_case(c))
            {
                issues.push(Issue::at(
                    &path,
                    Seg::Index(i),
                    format!("classifications lists '{c}' twice"),
                ));
            }
        }
        path.pop();

        let d = &self.destruction;
        path.push(Seg::key("destruction"));
        if d.min_wait_days == 0 || d.min_wait_days > MAX_DAYS {
            issues.push(Issue::at(
                &path,
                Seg::key("min_wait_days"),
                format!(
                    "destruction.min_wait_days ({}) must be 1..={MAX_DAYS}",
                    d.min_wait_days
                ),
            ));
        }
        if d.default_wait_days > MAX_DAYS {
            issues.push(Issue::at(
                &path,
                Seg::key("default_wait_days"),
                format!(
                    "destruction.default_wait_days ({}) must be at most {MAX_DAYS}",
                    d.default_wait_days
                ),
            ));
        } else if d.default_wait_days < d.min_wait_days {
            issues.push(Issue::at(
                &path,
                Seg::key("default_wait_days"),
                format!(
                    "destruction.default_wait_days ({}) is below min_wait_days ({})",
                    d.default_wait_days, d.min_wait_days
                ),
            ));
        }
        path.pop();

        for p in PURPOSES {
            if let Some(r) = self.purpose.get(p) {
                path.push(Seg::key("purpose"));
                path.push(Seg::Key(p.as_str()));
                validate_purpose(p, r, &mut path, issues);
                path.pop();
                path.pop();
            }
        }

        for op in ApprovalOperation::ALL {
            if let Some(rule) = self.approvals.get(op) {
                path.push(Seg::key("approvals"));
                path.push(Seg::Key(op.as_str()));
                rule.validate(&mut path, issues);
                path.pop();
                path.pop();
            }
        }
    }

    pub(super) fn canonical(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "version = {}", self.version);
        let _ = writeln!(
            out,
            "classifications = {}",
            toml_array(&self.classifications)
        );
        out.push_str("\n[destruction]\n");
        let _ = writeln!(out, "min_wait_days = {}", self.destruction.min_wait_days);
        let _ = writeln!(
            out,
            "default_wait_days = {}",
            self.destruction.default_wait_days
        );
        for p in PURPOSES {
            if let Some(r) = self.purpose.get(p) {
                let _ = write!(out, "\n[purpose.{p}]\n");
                for (k, v) in purpose_fields(r) {
                    let _ = writeln!(out, "{k} = {v}");
                }
            }
        }
        for op in ApprovalOperation::ALL {
            if let Some(rule) = self.approvals.get(op) {
                let _ = write!(out, "\n[approvals.{op}]\n");
                let _ = writeln!(out, "required = {}", rule.required);
                let _ = writeln!(out, "approvers = {}", toml_array(&rule.approvers));
            }
        }
        out
    }

    /// `(dotted path, canonical TOML value)` for every present field, in
    /// canonical order.
    pub(super) fn flatten(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("version".to_owned(), self.version.to_string()),
            (
                "classifications".to_owned(),
                toml_array(&self.classifications),
            ),
            (
                "destruction.min_wait_days".to_owned(),
                self.destruction.min_wait_days.to_string(),
            ),
            (
                "destruction.default_wait_days".to_owned(),
                self.destruction.default_wait_days.to_string(),
            ),
        ];
        for p in PURPOSES {
            if let Some(r) = self.purpose.get(p) {
                let fields = purpose_fields(r);
                if fields.is_empty() {
                    v.push((format!("purpose.{p}"), "{}".to_owned()));
                }
                for (k, val) in fields {
                    v.push((format!("purpose.{p}.{k}"), val));
                }
            }
        }
        for op in ApprovalOperation::ALL {
            if let Some(rule) = self.approvals.get(op) {
                v.push((
                    format!("approvals.{op}.required"),
                    rule.required.to_string(),
                ));
                v.push((
                    format!("approvals.{op}.approvers"),
                    toml_array(&rule.approvers),
                ));
            }
        }
        v
    }
}

/// Position of a flattened path in canonical order (for [`Policy::diff`]).
pub(super) fn canonical_rank(path: &str) -> (usize, usize, usize) {
    const TOP: [&str; 5] = [
        "version",
        "classifications",
        "destruction",
        "purpose",
        "approvals",
    ];
    const FIELDS: [&str; 9] = [
        "min_wait_days",
        "default_wait_days",
        "algorithms",
        "rotation_period_days",
        "originator_usage_days",
        "recipient_usage_days",
        "usage_limit",
        "rotate_at_usage_limit",
        "max_unused_days",
    ];
    let mut parts = path.split('.');
    let top = parts.next().unwrap_or_default();
    let t = TOP.iter().position(|x| *x == top).unwrap_or(TOP.len());
    let (mid, last) = match t {
        3 => {
            let name = parts.next().unwrap_or_default();
            (
                PURPOSES
                    .iter()
                    .position(|p| p.as_str() == name)
                    .unwrap_or(PURPOSES.len()),
                parts.next().unwrap_or_default(),
            )
        }
        4 => {
            let name = parts.next().unwrap_or_default();
            (
                ApprovalOperation::ALL
                    .iter()
                    .position(|o| o.as_str() == name)
                    .unwrap_or(ApprovalOperation::ALL.len()),
                parts.next().unwrap_or_default(),
            )
        }
        _ => (0, parts.next().unwrap_or_default()),
    };
    let f = match last {
        "" => 0,
        "required" => 1,
        "approvers" => 2,
        other => {
            1 + FIELDS
                .iter()
                .position(|x| *x == other)
                .unwrap_or(FIELDS.len())
        }
    };
    (t, mid, f)
}

pub(super) fn purpose_fields(r: &PurposeRules) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    if let Some(algs) = r.algorithms() {
        let names: Vec<&str> = algs.iter().map(|a| algorithm_name(*a)).collect();
        v.push(("algorithms", toml_array(&names)));
    }
    let nums = [
        ("rotation_period_days", r.rotation_period_days),
        ("originator_usage_days", r.originator_usage_days),
        ("recipient_usage_days", r.recipient_usage_days),
        ("usage_limit", r.usage_limit),
    ];
    for (k, n) in nums {
        if let Some(n) = n {
            v.push((k, n.to_string()));
        }
    }
    if let Some(b) = r.rotate_at_usage_limit {
        v.push(("rotate_at_usage_limit", b.to_string()));
    }
    if let Some(n) = r.max_unused_days {
        v.push(("max_unused_days", n.to_string()));
    }
    v
}

pub(super) fn validate_purpose(
    p: Purpose,
    r: &PurposeRules,
    path: &mut Vec<Seg>,
    issues: &mut Vec<Issue>,
) {
    let prefix = format!("purpose.{p}");
    if let Some(list) = &r.algorithms {
        path.push(Seg::key("algorithms"));
        if list.names.is_empty() {
            issues.push(Issue::new(
                path,
                format!("{prefix}.algorithms is empty; list at least one algorithm or omit the field to allow all"),
            ));
        }
        for (i, name) in list.names.iter().enumerate() {
            let Some(a) = algorithm_from_name(name) else {
                issues.push(Issue::at(
                    path,
                    Seg::Index(i),
                    format!(
                        "{prefix}.algorithms: unknown algorithm '{name}' (known: {})",
                        ALGORITHMS
                            .iter()
                            .map(|a| algorithm_name(*a))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                continue;
            };
            if a.purpose() != p {
                issues.push(Issue::at(
                    path,
                    Seg::Index(i),
                    format!(
                        "{prefix}.algorithms: {name} is a {} algorithm, not {p}",
                        a.purpose()
                    ),
                ));
            } else if list.names[..i].contains(name) {
                issues.push(Issue::at(
                    path,
                    Seg::Index(i),
                    format!("{prefix}.algorithms lists {name} twice"),
                ));
            }
        }
        path.pop();
    }
    let periods = [
        ("rotation_period_days", r.rotation_period_days),
        ("originator_usage_days", r.originator_usage_days),
        ("recipient_usage_days", r.recipient_usage_days),
        ("max_unused_days", r.max_unused_days),
    ];
    for (name, value) in periods {
        if let Some(d) = value
            && !(1..=MAX_DAYS).contains(&d)
        {
            issues.push(Issue::at(
                path,
                Seg::Key(name),
                format!("{prefix}.{name} ({d}) must be 1..={MAX_DAYS}"),
            ));
        }
    }
    if let (Some(o), Some(rc)) = (r.originator_usage_days, r.recipient_usage_days)
        && rc < o
    {
        issues.push(Issue::at(
            path,
            Seg::key("recipient_usage_days"),
            format!(
                "{prefix}.recipient_usage_days ({rc}) is below originator_usage_days ({o}): both start at activation (NIST SP 800-57 §5.3.4)"
            ),
        ));
    }
    if let Some(limit) = r.usage_limit {
        if limit == 0 {
            issues.push(Issue::at(
                path,
                Seg::key("usage_limit"),
                format!("{prefix}.usage_limit must be at least 1"),
            ));
        } else if p == Purpose::Aead && limit > AEAD_MAX_USAGE {
            issues.push(Issue::at(
                path,
                Seg::key("usage_limit"),
                format!(
                    "{prefix}.usage_limit ({limit}) exceeds the AES-GCM bound of 2^32 invocations (NIST SP 800-38D §8.3)"
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------
// Error positions
// ---------------------------------------------------------------------------

/// One step of a field path: a table key or an array index.
#[derive(Clone, Debug)]
pub(super) enum Seg {
    Key(&'static str),
    Index(usize),
}

impl Seg {
    pub(super) fn key(k: &'static str) -> Seg {
        Seg::Key(k)
    }
}

/// One failed semantic check, with the path of the field to blame.
pub(super) struct Issue {
    pub(super) path: Vec<Seg>,
    pub(super) msg: String,
}

impl Issue {
    pub(super) fn new(path: &[Seg], msg: String) -> Issue {
        Issue {
            path: path.to_vec(),
            msg,
        }
    }

    pub(super) fn at(path: &[Seg], last: Seg, msg: String) -> Issue {
        let mut p = path.to_vec();
        p.push(last);
        Issue { path: p, msg }
    }
}

pub(super) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

pub(super) fn policy_error(msg: String) -> Error {
    Error::new(ErrorKind::Policy, msg)
}

/// serde and toml quote names with backticks; policy messages use `'`.
pub(super) fn quote(msg: &str) -> String {
    msg.replace('`', "'")
}

/// 1-based line of byte `offset` in `src`.
pub(super) fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    1 + src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// Byte offset of the deepest existing node along `path` (the value, or the
/// table header for tables).
pub(super) fn locate(root: &DeTable<'_>, path: &[Seg]) -> Option<usize> {
    let mut best = None;
    let mut cur: Option<&DeValue<'_>> = None;
    for seg in path {
        let next: Option<&Spanned<DeValue<'_>>> = match (seg, cur) {
            (Seg::Key(k), None) => root.get(*k),
            (Seg::Key(k), Some(DeValue::Table(t))) => t.get(*k),
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        match next {
            Some(v) => {
                best = Some(v.span().start);
                cur = Some(v.get_ref());
            }
            None => break,
        }
    }
    best
}

/// The key path of the deepest key or value containing `offset`.
pub(super) fn path_at(table: &DeTable<'_>, offset: usize, out: &mut Vec<String>) {
    for (k, v) in table.iter() {
        let (ks, vs) = (k.span(), v.span());
        let in_key = ks.start <= offset && offset < ks.end.max(ks.start + 1);
        let in_val = vs.start <= offset && offset < vs.end.max(vs.start + 1);
        if in_key {
            out.push(k.get_ref().to_string());
            return;
        }
        if let DeValue::Table(t) = v.get_ref() {
            let before = out.len();
            out.push(k.get_ref().to_string());
            path_at(t, offset, out);
            if out.len() > before + 1 || in_val {
                return;
            }
            out.truncate(before);
        } else if in_val {
            out.push(k.get_ref().to_string());
            return;
        }
    }
}

pub(super) fn describe_toml_error(src: &str, tree: &DeTable<'_>, e: &toml::de::Error) -> String {
    let msg = quote(e.message());
    let Some(span) = e.span() else {
        return format!("policy: {msg}");
    };
    let line = line_of(src, span.start);
    let mut path = Vec::new();
    path_at(tree, span.start, &mut path);
    if msg.starts_with("unknown field") {
        path.pop();
        let table = if path.is_empty() {
            "the top level".to_owned()
        } else {
            format!("[{}]", path.join("."))
        };
        // "unknown field 'x', expected ..." -> "unknown field 'x' in [t]; expected ..."
        return match msg.split_once(", ") {
            Some((head, rest)) => format!("policy line {line}: {head} in {table}; {rest}"),
            None => format!("policy line {line}: {msg} in {table}"),
        };
    }
    if path.is_empty() {
        format!("policy line {line}: {msg}")
    } else {
        format!("policy line {line}: {}: {msg}", path.join("."))
    }
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

pub(super) fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(DAY_SECS))
}

/// A TOML basic string (TOML 1.0 §String): `"`, `\` and control characters
/// escaped.
pub(super) fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn toml_array<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_string(s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}
