//! A real gateway (the host library with its embedded default plugins) on
//! a random 127.0.0.1 port with temporary data and plugin directories.

use std::time::Duration;

use gateway::app::Running;
use gateway::config::Config;
use gateway::plugin::manifest::ConfigValue;

use crate::sio;

/// The HS256 secret test gateways use.
pub const SECRET: &str = "test-secret-not-for-production";

/// A running test gateway.
pub struct TestGateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The running gateway.
    pub running: Running,
    /// Holds its data and plugin directories.
    pub tmp: tempfile::TempDir,
}

/// Sets config `key` of plugin `name`.
pub fn plugin_config(config: &mut Config, name: &str, key: &str, value: &str) {
    config
        .plugins
        .entry(name.to_owned())
        .or_default()
        .config
        .insert(key.to_owned(), ConfigValue::String(value.to_owned()));
}

impl TestGateway {
    /// Starts a gateway: simulated prices every 50 ms (fixed seed), then
    /// `tweak` applied to the config.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self::start_in(tmp, tweak).await
    }

    /// Like [`Self::start`], reusing `tmp` (a restart keeps kv and cache).
    pub async fn start_in(tmp: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            jwt_secret: Some(SECRET.into()),
            data_dir: tmp.path().join("data"),
            plugins_dir: tmp.path().join("plugins.d"),
            // Shared by every test gateway: keyed by wasm and engine hash.
            compile_cache_dir: Some(std::env::temp_dir().join("gateway-tests-compile-cache")),
            host: "127.0.0.1".into(),
            port: 0,
            shutdown_timeout_secs: 5,
            ..Config::default()
        };
        plugin_config(&mut config, "sim-prices", "interval_ms", "50");
        plugin_config(&mut config, "sim-prices", "seed", "42");
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = gateway::app::start(config, Some(SECRET.into()), listener)
            .await
            .expect("gateway starts");
        Self {
            url: format!("http://{}", running.addr),
            running,
            tmp,
        }
    }

    /// A one-hour token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        gateway::auth::mint(SECRET, sub, false, None, Duration::from_secs(3600))
    }

    /// A one-hour admin token.
    pub fn admin_token(&self) -> String {
        gateway::auth::mint(SECRET, "admin", true, None, Duration::from_secs(3600))
    }

    /// A connected socket for `sub`.
    pub async fn connect(&self, sub: &str) -> sio::Client {
        sio::connect(&self.url, sio::Options::token(&self.token(sub)))
            .await
            .unwrap_or_else(|e| panic!("{sub} cannot connect: {e:?}"))
    }

    /// Graceful shutdown; returns the temp dir for a restart.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.shutdown().await;
        self.tmp
    }
}
