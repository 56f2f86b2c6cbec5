//! Test guest: a price source that panics on every other poll. Each panic
//! traps; the host must discard that instance, start a fresh one, and the
//! next poll must succeed.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, kv};

/// Panics on odd-numbered polls (counted in kv, which outlives instances).
pub struct Flaky;

impl PriceSource for Flaky {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("trap-on-poll", "0.1.0", "panics on every other poll"),
            symbols: vec!["TRAP".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Flaky)
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        let n: u64 = kv::get_json("polls").unwrap_or(0) + 1;
        kv::set_json("polls", &n).map_err(|e| e.to_string())?;
        if n % 2 == 1 {
            panic!("poll {n} panics on purpose");
        }
        Ok(vec![Tick {
            symbol: "TRAP".into(),
            bid: 1.0,
            ask: 1.1,
            timestamp: gateway_sdk::clock::now_ms(),
        }])
    }
}

gateway_sdk::export_price_source!(Flaky);
