//! Noticing other processes' writes without a daemon.
//!
//! Every use of a key asks [`Sync::current_epoch`]. At most once per refresh
//! interval it reads the backend's change counter (SQLite: `data_version`);
//! if it moved, the epoch advances and every cell re-reads its record's
//! revision on its next use, reloading when it differs. So a key compromised
//! by another process stops working here within one interval — or at the
//! next use after the backend's change hint moved (PostgreSQL's `NOTIFY`),
//! whichever comes first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::backend::Backend;
use crate::base::Result;

pub(crate) struct Sync {
    start: Instant,
    /// Time the interval on the caller's wall-clock reading (the store's
    /// `SystemClock`, already read once per use) instead of reading
    /// `Instant` again: one clock read per use instead of two. Off for
    /// injected clocks, which may stand still.
    wall_clock: bool,
    /// Milliseconds (since `start`, or wall clock) of the last counter read.
    last_check: AtomicU64,
    counter: AtomicU64,
    /// The backend's change hint at the last counter read.
    hint: AtomicU64,
    /// Starts at 1 so fresh cells (epoch 0) check once.
    epoch: AtomicU64,
}

impl Sync {
    pub(crate) fn new(backend: &dyn Backend, wall_clock: bool) -> Result<Sync> {
        Ok(Sync {
            start: Instant::now(),
            wall_clock,
            last_check: AtomicU64::new(0),
            hint: AtomicU64::new(backend.change_hint().unwrap_or(0)),
            counter: AtomicU64::new(backend.change_counter()?),
            epoch: AtomicU64::new(1),
        })
    }

    /// The current epoch; `wall_ms` is the caller's reading of the
    /// store's clock (used when `wall_clock`).
    pub(crate) fn current_epoch(
        &self,
        backend: &dyn Backend,
        interval: Duration,
        wall_ms: i64,
    ) -> Result<u64> {
        let now = if self.wall_clock {
            u64::try_from(wall_ms).unwrap_or(0)
        } else {
            u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
        };
        let last = self.last_check.load(Ordering::Acquire);
        let interval = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        // A wall clock set back counts as due (checking early is harmless;
        // waiting for it to catch up would not be).
        let hint = backend.change_hint();
        let hinted = hint.is_some_and(|h| h != self.hint.load(Ordering::Acquire));
        if (now < last || now - last >= interval || hinted)
            && self
                .last_check
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // The hint first: a notification arriving during the read
            // below moves it again, and the next use reads once more.
            if let Some(h) = hint {
                self.hint.store(h, Ordering::Release);
            }
            let c = backend.change_counter()?;
            if self.counter.swap(c, Ordering::AcqRel) != c {
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
        Ok(self.epoch.load(Ordering::Acquire))
    }
}
