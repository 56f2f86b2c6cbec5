//! Test guest: a price source quoting one fixed price, for the primary and
//! backup feed tests. Config: `symbol` (default EURUSD), `bid` (default
//! 1.1), `interval_ms` (default 50), `silent` (`true`: it is polled but
//! returns no ticks, like a feed whose upstream went quiet) and `fail`
//! (`true`: every poll fails, so its circuit opens).

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, clock, config};

/// Quotes `bid` for `symbol` on every poll, unless silent.
pub struct SteadyQuote {
    symbol: String,
    bid: f64,
    silent: bool,
    fail: bool,
}

fn symbol() -> String {
    config::get("symbol").unwrap_or_else(|| "EURUSD".into())
}

impl PriceSource for SteadyQuote {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("steady-quote", "0.1.0", "one fixed quote"),
            symbols: vec![symbol()],
            interval_ms: config::get_or("interval_ms", 50).unwrap_or(50),
        }
    }

    fn init() -> Result<Self, String> {
        Ok(SteadyQuote {
            symbol: symbol(),
            bid: config::get_or("bid", 1.1).map_err(|e| e.to_string())?,
            silent: config::get_or("silent", false).map_err(|e| e.to_string())?,
            fail: config::get_or("fail", false).map_err(|e| e.to_string())?,
        })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        if self.fail {
            return Err("failing on purpose".into());
        }
        if self.silent {
            return Ok(Vec::new());
        }
        Ok(vec![Tick {
            symbol: self.symbol.clone(),
            bid: self.bid,
            ask: self.bid + 0.0002,
            timestamp: clock::now_ms(),
        }])
    }
}

gateway_sdk::export_price_source!(SteadyQuote);
