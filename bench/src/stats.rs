//! What the sockets of one run count, shared by all their tasks without
//! locks on the hot path: a lock-free log-linear latency histogram, the
//! delivered-update counter gated by the measurement phase, handshake and
//! subscription outcomes, failure reasons (rare, so behind a mutex) and,
//! when sockets follow their symbol streams, repeated and skipped ticks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Sub-buckets per power of two: values are kept to within 1/64 (1.6 %).
const SUB: u64 = 64;
/// Enough buckets for any `u64`.
const BUCKETS: usize = 64 * SUB as usize;

/// A concurrent histogram of microsecond values: exact below 128 µs, then
/// 64 buckets per power of two. Recording is three relaxed atomic adds.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - 6;
    ((u64::from(shift) + 1) * SUB + (v >> shift) - SUB) as usize
}

/// The middle of bucket `i`.
fn midpoint(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let low = (i % SUB + SUB) << shift;
    low + (1 << shift) / 2
}

/// Percentiles of a [`Histogram`], in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Summary {
    /// Values recorded.
    pub(crate) count: u64,
    /// Arithmetic mean.
    pub(crate) mean: f64,
    /// Median.
    pub(crate) p50: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// 99.9th percentile.
    pub(crate) p999: f64,
    /// Largest value (exact).
    pub(crate) max: f64,
}

impl Histogram {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records `us` microseconds.
    pub(crate) fn record(&self, us: u64) {
        self.buckets[index(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(us, Relaxed);
        self.max.fetch_max(us, Relaxed);
    }

    /// The summary so far, then starts again from empty (for a series of
    /// windows; values recorded meanwhile may land in either).
    pub(crate) fn take_summary(&self) -> Summary {
        let summary = self.summary();
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.sum.store(0, Relaxed);
        self.max.store(0, Relaxed);
        summary
    }

    /// Mean, percentiles and max, in milliseconds.
    pub(crate) fn summary(&self) -> Summary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return Summary::default();
        }
        let at = |q: f64| {
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return midpoint(i) as f64 / 1000.0;
                }
            }
            0.0
        };
        Summary {
            count,
            mean: self.sum.load(Relaxed) as f64 / self.count.load(Relaxed).max(1) as f64 / 1000.0,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: self.max.load(Relaxed) as f64 / 1000.0,
        }
    }
}

/// Phase in which updates are neither counted nor timed.
const WARMUP: u8 = 0;
/// Phase in which updates are counted and timed.
const MEASURE: u8 = 1;
/// Phase after the window.
const DONE: u8 = 2;

/// Everything the sockets of one run report.
pub(crate) struct Shared {
    origin: Instant,
    phase: AtomicU8,
    /// `price:update` frames received inside the measurement window.
    pub(crate) updates: AtomicU64,
    /// Tick timestamp to receive time, inside the window.
    pub(crate) latency: Histogram,
    /// Open + `connect` round trip of each admitted socket.
    pub(crate) handshake: Histogram,
    /// Sockets admitted (Socket.IO `connect` acknowledged).
    pub(crate) connected: AtomicU64,
    /// Sockets that failed to connect or were refused.
    pub(crate) connect_failed: AtomicU64,
    /// Nanoseconds after `origin` at which the last socket was admitted.
    pub(crate) last_connected_ns: AtomicU64,
    /// `subscribe:prices` acks with `ok: true`.
    pub(crate) subscribed: AtomicU64,
    /// `subscribe:prices` acks with `ok: false`.
    pub(crate) subscribe_failed: AtomicU64,
    /// Admitted sockets that the server closed (or that broke) later.
    pub(crate) dropped: AtomicU64,
    /// Ticks a socket got again, or older than one it had, for a symbol.
    pub(crate) repeats: AtomicU64,
    /// Ticks missing from sockets' symbol streams: for each gap between
    /// consecutive ticks of more than 1.5 intervals, the intervals in it
    /// minus one.
    pub(crate) skipped: AtomicU64,
    /// Longest gap between consecutive ticks of a symbol on a socket, µs
    /// (ms resolution: tick timestamps are in ms).
    max_gap_us: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
}

/// Stream counters at one instant, for a window inside a run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamCounts {
    /// `price:update`s counted so far.
    pub(crate) updates: u64,
    /// See [`Shared::repeats`].
    pub(crate) repeats: u64,
    /// See [`Shared::skipped`].
    pub(crate) skipped: u64,
    /// Longest gap since the previous reading, ms.
    pub(crate) max_gap_ms: f64,
}

impl Shared {
    /// Fresh counters; handshake times are measured from now.
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            phase: AtomicU8::new(WARMUP),
            updates: AtomicU64::new(0),
            latency: Histogram::new(),
            handshake: Histogram::new(),
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            last_connected_ns: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            subscribe_failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            repeats: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            max_gap_us: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
        }
    }

    /// Starts counting and timing updates.
    pub(crate) fn start_window(&self) {
        self.phase.store(MEASURE, Relaxed);
    }

    /// Stops counting and timing updates.
    pub(crate) fn end_window(&self) {
        self.phase.store(DONE, Relaxed);
    }

    /// A `price:update` whose tick was stamped `timestamp_ms` arrived now.
    pub(crate) fn update(&self, timestamp_ms: u64) {
        if self.phase.load(Relaxed) != MEASURE {
            return;
        }
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.updates.fetch_add(1, Relaxed);
        self.latency
            .record(now_us.saturating_sub(timestamp_ms.saturating_mul(1000)));
    }

    /// A socket's tick of a symbol stamped `timestamp_ms` followed one
    /// stamped `last_ms`; ticks come every `interval_ms`.
    pub(crate) fn stream_step(&self, last_ms: u64, timestamp_ms: u64, interval_ms: u64) {
        if self.phase.load(Relaxed) != MEASURE {
            return;
        }
        if timestamp_ms <= last_ms {
            self.repeats.fetch_add(1, Relaxed);
            return;
        }
        let gap = timestamp_ms - last_ms;
        self.max_gap_us.fetch_max(gap * 1000, Relaxed);
        let interval = interval_ms.max(1);
        if gap * 2 > interval * 3 {
            let intervals = (gap + interval / 2) / interval;
            self.skipped.fetch_add(intervals.saturating_sub(1), Relaxed);
        }
    }

    /// The stream counters now; the longest gap restarts from zero.
    pub(crate) fn stream_counts(&self) -> StreamCounts {
        StreamCounts {
            updates: self.updates.load(Relaxed),
            repeats: self.repeats.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            max_gap_ms: self.max_gap_us.swap(0, Relaxed) as f64 / 1000.0,
        }
    }

    /// A socket was admitted after a handshake that started at `began`.
    pub(crate) fn admitted(&self, began: Instant) {
        self.handshake.record(began.elapsed().as_micros() as u64);
        self.connected.fetch_add(1, Relaxed);
        self.last_connected_ns
            .fetch_max(self.origin.elapsed().as_nanos() as u64, Relaxed);
    }

    /// A socket could not connect, for `reason`.
    pub(crate) fn refused(&self, reason: String) {
        self.connect_failed.fetch_add(1, Relaxed);
        self.failure(reason);
    }

    /// Counts one failure under `reason`.
    pub(crate) fn failure(&self, reason: String) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        *failures.entry(reason).or_default() += 1;
    }

    /// Failure reasons and how often each happened.
    pub(crate) fn failures(&self) -> BTreeMap<String, u64> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sockets whose handshake has finished, either way.
    pub(crate) fn handshakes_done(&self) -> u64 {
        self.connected.load(Relaxed) + self.connect_failed.load(Relaxed)
    }

    /// Subscriptions answered, either way.
    pub(crate) fn subscriptions_done(&self) -> u64 {
        self.subscribed.load(Relaxed) + self.subscribe_failed.load(Relaxed)
    }

    /// Seconds from creation to the last admitted socket.
    pub(crate) fn last_connected_secs(&self) -> f64 {
        self.last_connected_ns.load(Relaxed) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut last = 0;
        for v in 0..1_000_000u64 {
            let i = index(v);
            assert!(i == last || i == last + 1, "gap at {v}");
            last = i;
            let mid = midpoint(i) as f64;
            assert!(
                (mid - v as f64).abs() <= v as f64 / 64.0 + 1.0,
                "{v} -> {mid}"
            );
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn stream_gaps_count_skipped_ticks_and_repeats() {
        let s = Shared::new();
        s.stream_step(1000, 1100, 100);
        assert_eq!(s.stream_counts().skipped, 0, "one interval: none skipped");
        s.start_window();
        s.stream_step(1000, 1100, 100);
        s.stream_step(1100, 1140, 100);
        s.stream_step(1140, 1440, 100);
        s.stream_step(1440, 1440, 100);
        s.stream_step(1440, 1400, 100);
        let c = s.stream_counts();
        assert_eq!((c.skipped, c.repeats), (2, 2), "{c:?}");
        assert_eq!(c.max_gap_ms, 300.0);
        assert_eq!(s.stream_counts().max_gap_ms, 0.0, "restarts per reading");
    }

    #[test]
    fn percentiles() {
        let h = Histogram::new();
        for v in 1..=1000 {
            h.record(v * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 10.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 16.0, "{s:?}");
        assert_eq!(s.max, 1000.0);
        assert!((s.mean - 500.5).abs() < 0.01);
    }
}
