//! Policy and compliance report through the public API: the shipped example
//! policy, a real store on a manual clock, and the report as JSON.
#![allow(clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::Duration;

use keylife::backend::MemoryBackend;
use keylife::policy::{ApprovalOperation, Policy};
use keylife::purpose::{Aead, Mac, Signing};
use keylife::report::ComplianceReport;
use keylife::{
    Algorithm, Clock, ErrorKind, Kek, KeyFilter, KeySpec, KeyStore, ManualClock, Principal,
    Purpose, RawKek, StoreOptions, Timestamp,
};

const DAY: Duration = Duration::from_secs(86_400);
/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp(1_767_225_600_000);

fn example() -> Policy {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml"))
        .expect("examples/policy.toml");
    Policy::from_toml(&src).unwrap_or_else(|e| panic!("{e}"))
}

fn store(clock: &ManualClock) -> KeyStore {
    let kek = RawKek::new(Kek::generate().expect("kek"));
    // Exact usage counts (no block reservation) so the report's numbers
    // are the real ones.
    let mut options = StoreOptions::default();
    options.usage_block = 1;
    KeyStore::builder(MemoryBackend::new())
        .clock(clock.clone())
        .options(options)
        .open(&kek, Principal::admin("security-team"))
        .expect("open store")
}

#[test]
fn example_policy_through_public_api() {
    let p = example();
    assert_eq!(p.version(), 3);
    assert!(p.allows_algorithm(Algorithm::Aes256Gcm));
    assert_eq!(
        p.rules(Purpose::Aead).and_then(|r| r.recipient_usage()),
        Some(730 * DAY)
    );
    assert_eq!(p.destruction_wait(), (7 * DAY, 30 * DAY));
    for op in ApprovalOperation::ALL {
        assert!(p.approval_rule(op).is_some(), "{op}");
    }
    // The canonical form of the example round-trips and is stable.
    let canonical = p.to_toml().expect("to_toml");
    assert_eq!(Policy::from_toml(&canonical).expect("canonical parses"), p);
    assert_eq!(
        Policy::from_toml(&canonical).expect("parses").digest(),
        p.digest()
    );
}

#[test]
fn typo_in_example_is_caught_with_its_line() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/policy.toml"))
        .expect("examples/policy.toml");
    let line = src
        .lines()
        .position(|l| l.starts_with("rotation_period_days = 90"))
        .expect("example has the aead rotation period")
        + 1;
    let bad = src.replace("rotation_period_days = 90", "rotaton_period_days = 90");
    let err = Policy::from_toml(&bad).expect_err("typo accepted");
    assert_eq!(err.kind(), ErrorKind::Policy);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "policy line {line}: unknown field 'rotaton_period_days' in [purpose.aead]"
        )),
        "{msg}"
    );
    // Twin: the untouched example parses.
    assert!(Policy::from_toml(&src).is_ok());
}

#[test]
fn compliance_report_from_a_real_store() {
    let clock = ManualClock::new(T0);
    let store = store(&clock);
    let policy = example();
    let year = 365 * DAY;

    // An archive key used two years ago and never destroyed.
    let archive = store
        .create_active(
            KeySpec::<Aead>::new("archive-2026")
                .owner("records")
                .classification("confidential")
                .cryptoperiod(year)
                .rotate_at_usage_limit(true),
        )
        .expect("create archive");
    archive.deactivate("superseded").expect("deactivate");
    clock.advance(700 * DAY);

    // Keys created 700 days later.
    let invoices = store
        .create_active(
            KeySpec::<Aead>::new("invoices")
                .owner("billing")
                .classification("confidential")
                .cryptoperiod(year)
                .usage_limit(1000)
                .rotate_at_usage_limit(true),
        )
        .expect("create invoices");
    for _ in 0..950 {
        invoices.encrypt(b"invoice", b"").expect("encrypt");
    }
    store
        .create_active(KeySpec::<Signing>::new("release-signing").cryptoperiod(2 * year))
        .expect("create signing");
    store
        .create_active(
            KeySpec::<Mac>::new("session-mac")
                .owner("web")
                .classification("top-secret"),
        )
        .expect("create mac");
    let old = store
        .create_active(
            KeySpec::<Aead>::new("old-export")
                .owner("crm")
                .cryptoperiod(year)
                .rotate_at_usage_limit(true),
        )
        .expect("create old-export");
    old.deactivate("retired")
        .expect("deactivate")
        .schedule_destruction(120 * DAY, "no longer needed")
        .expect("schedule");
    clock.advance(100 * DAY);

    let keys = store.list(&KeyFilter::default()).expect("list");
    let report = ComplianceReport::build(&keys, &policy, clock.now());
    println!("{}", report.to_json_pretty().expect("json"));

    let names = |f: &[keylife::report::Finding]| -> Vec<String> {
        let mut v: Vec<String> = f.iter().map(|f| f.name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(report.total_keys, 5);
    assert_eq!(report.policy_version, 3);
    assert_eq!(report.policy_digest, policy.digest());
    assert_eq!(names(&report.overdue_rotation), ["invoices"]);
    assert_eq!(names(&report.past_cryptoperiod), ["archive-2026"]);
    assert_eq!(names(&report.without_owner), ["release-signing"]);
    assert_eq!(names(&report.near_usage_limit), ["invoices"]);
    assert_eq!(names(&report.pending_destruction), ["old-export"]);
    assert_eq!(
        names(&report.policy_violations),
        ["session-mac"],
        "{:#?}",
        report.policy_violations
    );
    assert!(
        report.policy_violations[0]
            .detail
            .contains("classification 'top-secret'")
    );
    // Twin: the same inventory on the day the keys were made has only the
    // structural findings (owner, classification, pending destruction).
    let early = ComplianceReport::build(&keys, &policy, T0.plus(700 * DAY));
    assert!(early.overdue_rotation.is_empty());
    assert!(early.past_cryptoperiod.is_empty());
}
