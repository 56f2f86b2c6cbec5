//! Test guest: a price source whose `init` refuses its config. Loading it
//! must fail with the plugin's own message.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick};

/// Never starts.
pub struct Refuses;

impl PriceSource for Refuses {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("failing-init", "0.1.0", "init always fails"),
            symbols: vec![],
            interval_ms: 1000,
        }
    }

    fn init() -> Result<Self, String> {
        Err("config `token` is required".into())
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        Ok(Vec::new())
    }
}

gateway_sdk::export_price_source!(Refuses);
