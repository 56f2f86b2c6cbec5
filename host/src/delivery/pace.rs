//! A subscriber's maximum update rate for one symbol (`maxRate` of
//! `subscribe:prices`): at most one tick per interval, and never a stale
//! one. A tick that comes too soon is *owed*: the flusher sends the
//! symbol's latest tick once the interval has passed, so the final value of
//! a burst always arrives (within one flusher round of its slot).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What [`Pace::admit`] decided for a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Send it now.
    Now,
    /// Too soon: one is owed; `first` when nothing was owed before.
    Owed {
        /// Whether this made the debt (the caller records it once).
        first: bool,
    },
}

/// At most one tick per `interval` for one socket and symbol.
#[derive(Debug)]
pub(crate) struct Pace {
    interval_ms: u64,
    /// When the next tick may go, in ms since [`origin`].
    next_ms: AtomicU64,
    owed: AtomicBool,
}

static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds of the process's monotonic clock.
pub(crate) fn now_ms() -> u64 {
    ORIGIN.elapsed().as_millis() as u64
}

impl Pace {
    /// At most one tick per `interval` (at least 1 ms).
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval_ms: (interval.as_millis() as u64).max(1),
            next_ms: AtomicU64::new(0),
            owed: AtomicBool::new(false),
        }
    }

    /// Whether a tick may go at `now` (which then starts the next interval).
    pub(crate) fn admit(&self, now: u64) -> Admit {
        if now >= self.next_ms.load(Ordering::Acquire) && !self.owed.load(Ordering::Acquire) {
            self.next_ms
                .store(now + self.interval_ms, Ordering::Release);
            return Admit::Now;
        }
        Admit::Owed {
            first: !self.owed.swap(true, Ordering::AcqRel),
        }
    }

    /// Whether the owed tick may go at `now`.
    pub(crate) fn is_due(&self, now: u64) -> bool {
        now >= self.next_ms.load(Ordering::Acquire)
    }

    /// The owed tick went (or is no longer owed) at `now`.
    pub(crate) fn settle(&self, now: u64) {
        self.next_ms
            .store(now + self.interval_ms, Ordering::Release);
        self.owed.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tick_per_interval_and_one_debt_for_the_rest() {
        let pace = Pace::new(Duration::from_millis(100));
        assert_eq!(pace.admit(1_000), Admit::Now);
        assert_eq!(pace.admit(1_050), Admit::Owed { first: true });
        assert_eq!(pace.admit(1_060), Admit::Owed { first: false });
        assert!(!pace.is_due(1_099));
        assert!(pace.is_due(1_100));
        pace.settle(1_100);
        assert_eq!(pace.admit(1_150), Admit::Owed { first: true });
        pace.settle(1_200);
        assert_eq!(pace.admit(1_300), Admit::Now);
    }

    #[test]
    fn a_tick_after_a_quiet_interval_goes_at_once() {
        let pace = Pace::new(Duration::from_millis(100));
        assert_eq!(pace.admit(0), Admit::Now);
        assert_eq!(pace.admit(500), Admit::Now);
    }
}
