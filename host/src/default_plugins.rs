//! Which default plugins run, and the manifest each gets from the
//! gateway's settings: the simulated price source unless
//! `MARKET_DATA_SERVICE_URL` is set (then the HTTP price source), the order
//! poller when `TRADING_SERVICE_URL` is set, and always the chat assistant
//! and the event filter (polling `EVENT_SERVICE_URL` when set). An upstream
//! URL becomes the plugin's `url` config and its host its allowlist.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::embedded::EMBEDDED_PLUGINS;
use crate::plugin::deploy::DefaultPlugin;
use crate::plugin::manifest::{ConfigValue, Manifest};

/// The host (with port) of `url`, for an allowlist.
fn host_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

fn upstream(url: Option<&String>) -> Manifest {
    let mut m = Manifest::default();
    if let Some(url) = url {
        m.config.insert(
            "url".into(),
            ConfigValue::String(url.trim_end_matches('/').to_owned()),
        );
        m.allowed_hosts = Some(host_of(url).into_iter().collect());
    }
    m
}

/// The enabled default plugins with their base manifests.
pub(crate) fn enabled(config: &Config) -> Vec<DefaultPlugin> {
    let mut wanted: BTreeMap<&str, Manifest> = BTreeMap::new();
    match &config.market_data_service_url {
        Some(url) => {
            wanted.insert("http-prices", upstream(Some(url)));
        }
        None => {
            wanted.insert("sim-prices", Manifest::default());
        }
    }
    if config.trading_service_url.is_some() {
        wanted.insert(
            "order-poller",
            upstream(config.trading_service_url.as_ref()),
        );
    }
    wanted.insert("event-filter", upstream(config.event_service_url.as_ref()));
    let mut chat = Manifest {
        instances: Some(2),
        ..Manifest::default()
    };
    // A chat plugin waiting on an LLM must not be cut off by the CPU deadline
    // of a price poll; its HTTP wait is off the clock anyway.
    chat.limits.deadline_ms = Some(config.plugin_deadline_ms.max(200));
    wanted.insert("chat-assistant", chat);
    EMBEDDED_PLUGINS
        .iter()
        .filter_map(|(name, wasm)| {
            let manifest = wanted.remove(name)?;
            Some(DefaultPlugin {
                name: (*name).to_owned(),
                wasm: Arc::from(*wasm),
                manifest,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &Config) -> Vec<String> {
        enabled(c).into_iter().map(|d| d.name).collect()
    }

    #[test]
    fn simulated_prices_without_upstreams() {
        assert_eq!(
            names(&Config::default()),
            ["chat-assistant", "event-filter", "sim-prices"]
        );
    }

    #[test]
    fn upstream_urls_switch_plugins_and_allow_their_hosts() {
        let c = Config {
            market_data_service_url: Some("http://127.0.0.1:7001/".into()),
            trading_service_url: Some("http://127.0.0.1:7002".into()),
            ..Config::default()
        };
        let all = enabled(&c);
        let got: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            got,
            [
                "chat-assistant",
                "event-filter",
                "http-prices",
                "order-poller"
            ]
        );
        let http = all.iter().find(|d| d.name == "http-prices").unwrap();
        assert_eq!(
            http.manifest.config["url"].to_config_string(),
            "http://127.0.0.1:7001"
        );
        assert_eq!(
            http.manifest.allowed_hosts.as_deref(),
            Some(&["127.0.0.1:7001".to_owned()][..])
        );
    }
}
