//! A price source: every `interval_ms` the gateway calls `poll`, and the
//! ticks it returns go to the clients subscribed to their symbols.
//!
//! This one quotes each configured symbol around a fixed mid price that
//! drifts a little every poll; replace `quote` with a call to your
//! upstream (`gateway_sdk::upstream::get_json`, with its host in the
//! manifest's `allowed_hosts`).
//!
//! Config (in the manifest's `[config]`; all optional):
//! - `symbols`: comma-separated symbols (default `EURUSD`).
//! - `mid`: the starting mid price (default 1.1).
//! - `interval_ms`: the poll interval, 10 ms and up (default 1000).

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, clock, config};

const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 10;
/// Half the spread, in price units.
const HALF_SPREAD: f64 = 0.0001;

/// The plugin's state, kept between polls.
pub struct Source {
    symbols: Vec<String>,
    mid: f64,
    polls: u64,
}

fn symbols() -> Vec<String> {
    config::list("symbols")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["EURUSD".to_owned()])
}

fn interval_ms() -> Result<u32, String> {
    config::get_at_least("interval_ms", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
}

impl Source {
    /// The quote of `symbol` at the current poll.
    fn quote(&self, symbol: &str, timestamp: u64) -> Tick {
        // A small deterministic drift: up for 5 polls, down for 5.
        let step = (self.polls % 10) as f64;
        let mid = self.mid * (1.0 + 0.0001 * (5.0 - (step - 5.0).abs()));
        Tick {
            symbol: symbol.to_owned(),
            bid: mid - HALF_SPREAD,
            ask: mid + HALF_SPREAD,
            timestamp,
        }
    }
}

impl PriceSource for Source {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new(
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION"),
                "An example price source: a drifting quote per configured symbol",
            ),
            symbols: symbols(),
            interval_ms: interval_ms().unwrap_or(DEFAULT_INTERVAL_MS),
        }
    }

    fn init() -> Result<Self, String> {
        interval_ms()?;
        let mid: f64 = config::get_or("mid", 1.1)?;
        if !(mid.is_finite() && mid > 0.0) {
            return Err(format!("mid must be a positive number, got {mid}"));
        }
        Ok(Self {
            symbols: symbols(),
            mid,
            polls: 0,
        })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        self.polls += 1;
        let now = clock::now_ms();
        Ok(self.symbols.iter().map(|s| self.quote(s, now)).collect())
    }
}

gateway_sdk::export_price_source!(Source);

/// Native tests: the plugin's trait methods against the SDK's fake host
/// (`cargo test`, no wasm needed).
#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::testing::FakeHost;

    #[test]
    fn quotes_every_configured_symbol_with_the_clock_time() {
        let host = FakeHost::new()
            .config("symbols", "EURUSD,GBPUSD")
            .config("mid", "1.25")
            .time_ms(1_700_000_000_000)
            .install();
        let mut source = Source::init().unwrap();
        let ticks = source.poll().unwrap();
        assert_eq!(ticks.len(), 2);
        assert_eq!(ticks[0].symbol, "EURUSD");
        assert_eq!(ticks[1].symbol, "GBPUSD");
        for t in &ticks {
            assert!(t.bid < t.ask, "{t:?}");
            assert!((t.bid - 1.25).abs() < 0.01, "{t:?}");
            assert_eq!(t.timestamp, 1_700_000_000_000);
        }
        host.advance_ms(1000);
        assert_eq!(source.poll().unwrap()[0].timestamp, 1_700_000_001_000);
    }

    #[test]
    fn describes_its_symbols_and_interval() {
        let _host = FakeHost::new()
            .config("symbols", "USDJPY")
            .config("interval_ms", "250")
            .install();
        let info = Source::describe();
        assert_eq!(info.plugin.name, env!("CARGO_PKG_NAME"));
        assert_eq!(info.symbols, ["USDJPY"]);
        assert_eq!(info.interval_ms, 250);
    }

    #[test]
    fn refuses_a_bad_mid() {
        let _host = FakeHost::new().config("mid", "-1").install();
        assert!(Source::init().is_err());
    }
}
