//! Test guest: version 2.0.0 of the swappable price source used by the hot
//! reload tests. Both versions emit symbol SWAP, bid 2.0, and count their polls
//! in kv so a test can see the count carry over a swap.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, kv};

/// Emits one SWAP tick per poll.
pub struct Swap;

impl PriceSource for Swap {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("swap", "2.0.0", "hot reload test source"),
            symbols: vec!["SWAP".into()],
            interval_ms: gateway_sdk::config::get_or("interval_ms", 20).unwrap_or(20),
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Swap)
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        let polls: u64 = kv::get_json("polls").unwrap_or(0) + 1;
        kv::set_json("polls", &polls).map_err(|e| e.to_string())?;
        Ok(vec![Tick {
            symbol: "SWAP".into(),
            bid: 2.0,
            ask: 2.0 + 0.5,
            // Tests read the poll count from the timestamp's low digits.
            timestamp: gateway_sdk::clock::now_ms() * 1000 + polls % 1000,
        }])
    }
}

gateway_sdk::export_price_source!(Swap);
