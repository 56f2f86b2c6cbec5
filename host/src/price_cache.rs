//! The price cache: the latest tick of every symbol (for `prices:initial`)
//! and a short sampled history per symbol (for the chat responder).

use std::collections::{HashMap, VecDeque};

use parking_lot::RwLock;

use crate::protocol::payloads::Tick;

/// One sampled point of a symbol's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PricePoint {
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Bid price.
    pub bid: f64,
    /// Ask price.
    pub ask: f64,
}

/// History keeps one sample per slot of this length.
const SAMPLE_SPACING_MS: u64 = 1_000;

#[derive(Default)]
struct Symbol {
    latest: Option<Tick>,
    history: VecDeque<PricePoint>,
}

/// Latest ticks and sampled history, shared by delivery and the plugins.
pub struct PriceCache {
    window_ms: u64,
    symbols: RwLock<HashMap<String, Symbol>>,
}

impl PriceCache {
    /// A cache keeping `history_minutes` of samples per symbol.
    pub fn new(history_minutes: u64) -> Self {
        Self {
            window_ms: history_minutes * 60_000,
            symbols: RwLock::new(HashMap::new()),
        }
    }

    /// Records `tick` unless it is not newer than the symbol's latest one;
    /// returns whether it was recorded.
    pub fn record(&self, tick: &Tick) -> bool {
        let mut symbols = self.symbols.write();
        let entry = symbols.entry(tick.symbol.clone()).or_default();
        if entry
            .latest
            .as_ref()
            .is_some_and(|l| l.timestamp >= tick.timestamp)
        {
            return false;
        }
        let point = PricePoint {
            timestamp: tick.timestamp,
            bid: tick.bid,
            ask: tick.ask,
        };
        // One sample per spacing slot: a newer tick in the same slot replaces it.
        let slot = tick.timestamp / SAMPLE_SPACING_MS;
        match entry.history.back_mut() {
            Some(last) if last.timestamp / SAMPLE_SPACING_MS == slot => *last = point,
            _ => entry.history.push_back(point),
        }
        let horizon = tick.timestamp.saturating_sub(self.window_ms);
        while entry.history.front().is_some_and(|p| p.timestamp < horizon) {
            entry.history.pop_front();
        }
        entry.latest = Some(tick.clone());
        true
    }

    /// The latest tick of `symbol`.
    pub fn latest(&self, symbol: &str) -> Option<Tick> {
        self.symbols
            .read()
            .get(symbol)
            .and_then(|s| s.latest.clone())
    }

    /// Every symbol with a known price, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .symbols
            .read()
            .iter()
            .filter(|(_, s)| s.latest.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        all.sort();
        all
    }

    /// Samples of `symbol` at or after `since_ms`, oldest first.
    pub fn history(&self, symbol: &str, since_ms: u64) -> Vec<PricePoint> {
        self.symbols
            .read()
            .get(symbol)
            .map(|s| {
                s.history
                    .iter()
                    .filter(|p| p.timestamp >= since_ms)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(ts: u64, bid: f64) -> Tick {
        Tick {
            symbol: "EURUSD".into(),
            bid,
            ask: bid + 0.0001,
            timestamp: ts,
        }
    }

    #[test]
    fn keeps_latest_and_refuses_older_ticks() {
        let cache = PriceCache::new(1);
        assert!(cache.record(&tick(2_000, 1.1)));
        assert!(!cache.record(&tick(1_000, 1.0)));
        assert!(!cache.record(&tick(2_000, 1.0)));
        assert_eq!(cache.latest("EURUSD").unwrap().bid, 1.1);
        assert_eq!(cache.symbols(), ["EURUSD"]);
    }

    #[test]
    fn history_is_sampled_and_bounded_by_the_window() {
        let cache = PriceCache::new(1);
        for i in 0..1_000u64 {
            cache.record(&tick(i * 100, 1.0 + i as f64 * 1e-5));
        }
        let all = cache.history("EURUSD", 0);
        assert!(all.len() <= 62, "{} samples", all.len());
        assert!(all.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        assert_eq!(all.last().unwrap().timestamp, 99_900);
        assert!(all[0].timestamp >= 99_900 - 60_000);
    }
}
