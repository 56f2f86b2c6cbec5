//! Test guest: a price source that GETs config `url` and, when the answer
//! is a redirect, follows its `Location` itself. The host must hand it the
//! 3xx rather than follow it, and must check the `Location` against the
//! allowlist like any other URL.

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, config, http};

/// Follows redirects by hand.
pub struct Follower {
    url: String,
}

impl PriceSource for Follower {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("redirect-follower", "0.1.0", "follows redirects itself"),
            symbols: vec!["HOP".into()],
            interval_ms: 50,
        }
    }

    fn init() -> Result<Self, String> {
        Ok(Follower {
            url: config::get("url").ok_or("config `url` is required")?,
        })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        let first = http::get(&self.url).map_err(|e| e.describe())?;
        if !(300..400).contains(&first.status) {
            return Err(format!("expected a redirect, got HTTP {}", first.status));
        }
        let location = first
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.clone())
            .ok_or("a redirect without a Location")?;
        match http::get(&location) {
            Ok(r) => Err(format!("the redirect target answered HTTP {}", r.status)),
            Err(e) => Err(format!(
                "HTTP {} to {location}: {}",
                first.status,
                e.describe()
            )),
        }
    }
}

gateway_sdk::export_price_source!(Follower);
