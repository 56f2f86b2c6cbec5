//! Test guest: a price source that calls the URL in its config `url`. The
//! test gives it a host outside its allowlist; the host must deny the
//! request with a clear error, which the plugin reports from `poll`.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, config, http};

/// Fetches `url` on every poll.
pub struct Caller;

impl PriceSource for Caller {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("forbidden-host", "0.1.0", "calls a host it may not"),
            symbols: vec!["NET".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Caller)
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        let url = config::get("url").ok_or("config `url` missing")?;
        let resp = http::get(&url).map_err(|e| e.describe())?;
        Err(format!(
            "unexpectedly reached {url}: status {}",
            resp.status
        ))
    }
}

gateway_sdk::export_price_source!(Caller);
