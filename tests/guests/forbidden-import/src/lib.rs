//! Test guest: a price source that reads the market cache, which only chat
//! responders may import. The host must refuse to load it.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, market};

/// Echoes the cached EURUSD tick.
pub struct Peek;

impl PriceSource for Peek {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("forbidden-import", "0.1.0", "imports market"),
            symbols: vec!["EURUSD".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Peek)
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        Ok(market::latest("EURUSD").into_iter().collect())
    }
}

gateway_sdk::export_price_source!(Peek);
