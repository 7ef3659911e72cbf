//! Time, injectable so tests move it instead of sleeping.
//!
//! Date-driven transitions (activation date, end of cryptoperiod, destruction
//! date) are applied when a key is loaded or used, and by
//! [`crate::KeyStore::maintenance`], against the store's clock. There is no
//! daemon.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::key::Timestamp;

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
