//! Test guest: a price source whose `poll` never returns. The host must
//! interrupt it at its deadline and keep serving.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick};

/// Spins forever when polled.
pub struct Spin;

impl PriceSource for Spin {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("infinite-loop", "0.1.0", "loops forever in poll"),
            symbols: vec!["LOOP".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Spin)
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

gateway_sdk::export_price_source!(Spin);
