//! What the admin API and the console show of a plugin's recent past: its
//! last reloads (when, which version, what came of it) and the durations
//! of its last calls, from which the p99 call time is read. Both are
//! fixed-size rings, so a plugin called millions of times costs the same
//! memory as one called once, and the p99 follows what it does now rather
//! than since the gateway started.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

/// Reloads kept per plugin.
pub const RELOADS_KEPT: usize = 16;

/// Call durations kept per plugin for the p99.
pub const CALLS_KEPT: usize = 1024;

/// What came of one attempt to (re)load a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadOutcome {
    /// The first version under its name.
    Loaded,
    /// A new version replaced the running one.
    Replaced,
    /// The new files were refused; the running version stayed.
    Refused,
}

/// One reload, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reload {
    /// When, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The version it reported (none when refused before it could say).
    pub version: Option<String>,
    /// What came of it.
    pub outcome: ReloadOutcome,
    /// Why it was refused.
    pub message: Option<String>,
}

/// A ring of at most `cap` items, the oldest dropped first.
#[derive(Debug)]
struct Ring<T> {
    items: VecDeque<T>,
    cap: usize,
}

impl<T: Clone> Ring<T> {
    fn new(cap: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(cap.min(64)),
            cap: cap.max(1),
        }
    }

    fn push(&mut self, item: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    fn snapshot(&self) -> Vec<T> {
        self.items.iter().cloned().collect()
    }
}

/// The last [`RELOADS_KEPT`] reloads of one plugin, oldest first.
#[derive(Debug)]
pub struct ReloadHistory(Mutex<Ring<Reload>>);

impl Default for ReloadHistory {
    fn default() -> Self {
        Self(Mutex::new(Ring::new(RELOADS_KEPT)))
    }
}

impl ReloadHistory {
    /// Records a reload.
    pub fn record(&self, reload: Reload) {
        self.0.lock().push(reload);
    }

    /// The reloads kept, oldest first.
    pub fn list(&self) -> Vec<Reload> {
        self.0.lock().snapshot()
    }
}

/// The durations of the last [`CALLS_KEPT`] calls of one plugin.
#[derive(Debug)]
pub struct CallTimes(Mutex<Ring<Duration>>);

impl Default for CallTimes {
    fn default() -> Self {
        Self(Mutex::new(Ring::new(CALLS_KEPT)))
    }
}

impl CallTimes {
    /// Records one call's duration.
    pub fn record(&self, took: Duration) {
        self.0.lock().push(took);
    }

    /// The 99th percentile (nearest rank) of the kept durations; `None`
    /// before the first call.
    pub fn p99(&self) -> Option<Duration> {
        let mut all = self.0.lock().snapshot();
        if all.is_empty() {
            return None;
        }
        all.sort_unstable();
        let rank = (all.len() * 99).div_ceil(100);
        Some(all[rank.max(1) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reload(n: u64) -> Reload {
        Reload {
            at_ms: n,
            version: Some(format!("1.0.{n}")),
            outcome: ReloadOutcome::Replaced,
            message: None,
        }
    }

    #[test]
    fn the_history_keeps_the_last_reloads_oldest_first() {
        let h = ReloadHistory::default();
        assert!(h.list().is_empty());
        for n in 0..(RELOADS_KEPT as u64 + 5) {
            h.record(reload(n));
        }
        let kept = h.list();
        assert_eq!(kept.len(), RELOADS_KEPT);
        assert_eq!(kept[0].at_ms, 5);
        assert_eq!(kept.last().unwrap().at_ms, RELOADS_KEPT as u64 + 4);
    }

    #[test]
    fn p99_is_the_nearest_rank_of_the_kept_calls() {
        let t = CallTimes::default();
        assert_eq!(t.p99(), None);
        t.record(Duration::from_millis(7));
        assert_eq!(t.p99(), Some(Duration::from_millis(7)));
        let t = CallTimes::default();
        // 1..=100 ms in a shuffled order: the 99th of 100 is 99 ms.
        for i in (1..=100u64).map(|i| (i * 37) % 100 + 1) {
            t.record(Duration::from_millis(i));
        }
        assert_eq!(t.p99(), Some(Duration::from_millis(99)));
    }

    #[test]
    fn p99_forgets_calls_older_than_the_window() {
        let t = CallTimes::default();
        for _ in 0..CALLS_KEPT {
            t.record(Duration::from_secs(5));
        }
        for _ in 0..CALLS_KEPT {
            t.record(Duration::from_millis(1));
        }
        assert_eq!(t.p99(), Some(Duration::from_millis(1)));
    }
}
