//! Time: [`Timestamp`], RFC 3339 formatting, and the [`Clock`], injectable so
//! tests move it instead of sleeping.
//!
//! Date-driven transitions (activation date, end of cryptoperiod, destruction
//! date) are applied when a key is loaded or used, and by
//! [`crate::KeyStore::maintenance`], against the store's clock. There is no
//! daemon.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use core::fmt;
use core::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `d` (saturating).
    #[must_use]
    pub fn plus(self, d: core::time::Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, e.g. `2026-01-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&utc(*self))
    }
}

/// `ts` as RFC 3339 UTC (`2024-03-01T12:00:00Z`, with milliseconds only when
/// non-zero).
pub(crate) fn utc(ts: Timestamp) -> String {
    let ms = ts.0.rem_euclid(1000);
    let secs = ts.0.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
    out.push('Z');
    out
}

/// A source of the current time.
pub trait Clock: Send + Sync + core::fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // u64 arithmetic (not `as_millis`'s u128): read on every use.
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        });
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use keylife::{Clock, ManualClock};
/// use std::time::Duration;
/// let clock = ManualClock::new(keylife::Timestamp(1_000));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(clock.now().as_millis(), 2_000);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `t`.
    #[must_use]
    pub fn new(t: Timestamp) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(t.as_millis())))
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(t: SystemTime) -> i64 {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    #[test]
    fn system_clock_reads_unix_milliseconds() {
        let before = millis(SystemTime::now());
        let now = SystemClock.now().as_millis();
        let after = millis(SystemTime::now());
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }
}
