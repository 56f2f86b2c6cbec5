//! Test guest: a price source whose `poll` allocates without bound. The
//! host's memory cap must stop it and the gateway must keep serving.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick};

/// Hoards memory when polled.
pub struct Hog {
    hoard: Vec<Vec<u8>>,
}

impl PriceSource for Hog {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("memory-hog", "0.1.0", "allocates until stopped"),
            symbols: vec!["HOG".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Hog { hoard: Vec::new() })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        loop {
            self.hoard.push(vec![1u8; 1 << 20]);
        }
    }
}

gateway_sdk::export_price_source!(Hog);
