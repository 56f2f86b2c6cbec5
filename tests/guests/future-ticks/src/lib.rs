//! Test guest: a price source whose first tick is stamped an hour ahead,
//! then ticks stamped now. The host must refuse the tick from the future
//! (it would hold back every real tick of the symbol for an hour) and
//! deliver the rest.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, clock};

/// Sends one tick from the future, then honest ones.
pub struct FromTheFuture {
    polls: u64,
}

const HOUR_MS: u64 = 3_600_000;

impl PriceSource for FromTheFuture {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("future-ticks", "0.1.0", "one tick from an hour ahead"),
            symbols: vec!["FUT".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(FromTheFuture { polls: 0 })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        self.polls += 1;
        let now = clock::now_ms();
        let timestamp = if self.polls == 1 { now + HOUR_MS } else { now };
        Ok(vec![Tick {
            symbol: "FUT".into(),
            bid: self.polls as f64,
            ask: self.polls as f64 + 0.5,
            timestamp,
        }])
    }
}

gateway_sdk::export_price_source!(FromTheFuture);
