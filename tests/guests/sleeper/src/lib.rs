//! Test guest: a price source whose `poll` (or, with config
//! `sleep_in_init = true`, whose `init`) sleeps — a WASI sleep, which epoch
//! interruption cannot reach — for config `sleep_ms` (default: an hour).
//! The host must give up on the call at its wall-clock deadline, replace
//! the instance and keep serving.

use std::time::Duration;

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, config};

/// Sleeps when polled.
pub struct Sleeper {
    sleep: Duration,
}

impl PriceSource for Sleeper {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("sleeper", "0.1.0", "sleeps in poll"),
            symbols: vec!["SLEEP".into()],
            interval_ms: config::get_or("interval_ms", 50).unwrap_or(50),
        }
    }

    fn init() -> Result<Self, String> {
        let sleep = Duration::from_millis(config::get_or("sleep_ms", 3_600_000u64)?);
        if config::get_or("sleep_in_init", false)? {
            std::thread::sleep(sleep);
        }
        Ok(Sleeper { sleep })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        std::thread::sleep(self.sleep);
        Ok(Vec::new())
    }
}

gateway_sdk::export_price_source!(Sleeper);
