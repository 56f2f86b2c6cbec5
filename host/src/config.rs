//! The gateway's configuration: defaults < config file (TOML) < environment
//! variables, with the replaced service's variable names. This is the only
//! module that reads the environment.
//!
//! Per-plugin settings come from `[plugins.NAME]` tables in the file (the
//! manifest shape) and from `GATEWAY_PLUGIN__NAME__KEY=value` variables,
//! which set config key `key` (lowercased) of plugin `name` (lowercased,
//! `_` read as `-` when no plugin has the underscore form), e.g.
//! `GATEWAY_PLUGIN__SIM_PRICES__INTERVAL_MS=10`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::plugin::manifest::{ConfigValue, Limits, Manifest};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// JWT signature algorithm accepted from clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with `JWT_SECRET`.
    HS256,
    /// RSA with a PEM public key or JWKS.
    RS256,
    /// ECDSA P-256 with a PEM public key or JWKS.
    ES256,
}

/// Every setting; field names are the environment variables, lowercased.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `PORT`: HTTP and Socket.IO port.
    pub port: u16,
    /// `HOST`: address to bind.
    pub host: String,
    /// `LOG_LEVEL`: tracing filter (`info`, `debug`, `gateway=debug,info`…).
    pub log_level: String,
    /// `LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// `LOG_FILE`: also write logs to this file, rotated daily.
    pub log_file: Option<PathBuf>,
    /// `GATEWAY_DEV`: dev mode (a generated JWT secret when none is set).
    pub gateway_dev: bool,
    /// `JWT_SECRET`: HS256 secret.
    pub jwt_secret: Option<String>,
    /// `JWT_ALGORITHM`: `HS256`, `RS256` or `ES256`.
    pub jwt_algorithm: JwtAlgorithm,
    /// `JWT_PUBLIC_KEY_FILE`: PEM public key for RS256/ES256.
    pub jwt_public_key_file: Option<PathBuf>,
    /// `JWKS_URL`: JWKS endpoint for RS256/ES256 (fetched, cached, refreshed on unknown `kid`).
    pub jwks_url: Option<String>,
    /// `JWT_ISSUER`: required `iss`, when set.
    pub jwt_issuer: Option<String>,
    /// `JWT_AUDIENCE`: required `aud`, when set.
    pub jwt_audience: Option<String>,
    /// `JWT_LEEWAY_SECS`: clock-skew allowance on `exp` and `nbf` (at most 60).
    pub jwt_leeway_secs: u64,
    /// `FRONTEND_URL`: allowed CORS origins, comma-separated, or `*`.
    pub frontend_url: String,
    /// `MARKET_DATA_SERVICE_URL`: enables the HTTP price source instead of the simulated one.
    pub market_data_service_url: Option<String>,
    /// `TRADING_SERVICE_URL`: enables the order poller.
    pub trading_service_url: Option<String>,
    /// `EVENT_SERVICE_URL`: enables event polling in the event filter.
    pub event_service_url: Option<String>,
    /// `USER_SERVICE_URL`: users must exist there to connect.
    pub user_service_url: Option<String>,
    /// `USER_SERVICE_FAIL_OPEN`: accept users when the user service is unreachable.
    pub user_service_fail_open: bool,
    /// `USER_SERVICE_CACHE_SECS`: how long a user-service answer is reused.
    pub user_service_cache_secs: u64,
    /// `MAX_WEBSOCKET_CONNECTIONS`: connections in all.
    pub max_websocket_connections: usize,
    /// `MAX_CONNECTIONS_PER_USER`: connections per user.
    pub max_connections_per_user: usize,
    /// `MAX_TCP_CONNECTIONS`: open TCP connections of any kind (0: twice
    /// `MAX_WEBSOCKET_CONNECTIONS` plus 256).
    pub max_tcp_connections: usize,
    /// `MAX_MESSAGES_PER_MINUTE`: client events per user per minute (token bucket).
    pub max_messages_per_minute: u32,
    /// `MAX_SYMBOLS_PER_SOCKET`: price subscriptions per socket.
    pub max_symbols_per_socket: usize,
    /// `CHAT_MAX_PENDING_PER_USER`: chat questions a user may have unanswered at once.
    pub chat_max_pending_per_user: usize,
    /// `FLOOD_DISCONNECT_AFTER`: rate-limited events in a row before a disconnect.
    pub flood_disconnect_after: u32,
    /// `SOCKET_BUFFER_PACKETS`: packets queued per socket before it counts as congested.
    pub socket_buffer_packets: usize,
    /// `SLOW_SOCKET_TIMEOUT_MS`: how long a socket may stay congested before it is disconnected.
    pub slow_socket_timeout_ms: u64,
    /// `SERVICE_TOKEN`: bearer token accepted by `POST /api/events` besides admin JWTs.
    pub service_token: Option<String>,
    /// `METRICS_PUBLIC`: `/metrics` without a token.
    pub metrics_public: bool,
    /// `PLUGINS_DIR`: watched directory of plugin files.
    pub plugins_dir: PathBuf,
    /// `DATA_DIR`: plugin kv store (and the compile cache by default).
    pub data_dir: PathBuf,
    /// `COMPILE_CACHE_DIR`: compiled plugins (default `DATA_DIR/compile-cache`).
    pub compile_cache_dir: Option<PathBuf>,
    /// `PLUGIN_DEADLINE_MS`: default CPU deadline of a plugin call.
    pub plugin_deadline_ms: u64,
    /// `PLUGIN_MEMORY_MIB`: default plugin memory cap.
    pub plugin_memory_mib: u64,
    /// `PLUGIN_HTTP_TIMEOUT_MS`: default plugin HTTP timeout.
    pub plugin_http_timeout_ms: u64,
    /// `ORDER_HISTORY_SIZE`: notifications kept per user for replay.
    pub order_history_size: usize,
    /// `ORDER_HISTORY_SECS`: oldest notification kept for replay.
    pub order_history_secs: u64,
    /// `ORDER_HISTORY_MAX_ENTRIES`: notifications kept for replay, all users together.
    pub order_history_max_entries: usize,
    /// `PRICE_HISTORY_MINUTES`: history kept for the chat plugin.
    pub price_history_minutes: u64,
    /// `SHUTDOWN_TIMEOUT_SECS`: longest graceful shutdown.
    pub shutdown_timeout_secs: u64,
    /// `REDIS_URL`: cluster mode through this Redis when set.
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX`: first part of every Redis key and channel.
    pub redis_prefix: String,
    /// `NODE_ID`: this node's id in the cluster (default: generated).
    pub node_id: Option<String>,
    /// `LEASE_TTL_MS`: lease time of a source plugin in cluster mode.
    pub lease_ttl_ms: u64,
    /// `[plugins.NAME]` tables of the config file.
    pub plugins: BTreeMap<String, Manifest>,
}

impl Default for Config {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            port: 3006,
            host: "0.0.0.0".into(),
            log_level: "info".into(),
            log_format: LogFormat::Pretty,
            log_file: None,
            gateway_dev: false,
            jwt_secret: None,
            jwt_algorithm: JwtAlgorithm::HS256,
            jwt_public_key_file: None,
            jwks_url: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway_secs: 60,
            frontend_url: "http://localhost:3000".into(),
            market_data_service_url: None,
            trading_service_url: None,
            event_service_url: None,
            user_service_url: None,
            user_service_fail_open: false,
            user_service_cache_secs: 30,
            max_websocket_connections: 1000,
            max_connections_per_user: 5,
            max_tcp_connections: 0,
            max_messages_per_minute: 60,
            max_symbols_per_socket: 50,
            chat_max_pending_per_user: 2,
            flood_disconnect_after: 20,
            socket_buffer_packets: 256,
            slow_socket_timeout_ms: 30_000,
            service_token: None,
            metrics_public: true,
            plugins_dir: "plugins.d".into(),
            data_dir: "data".into(),
            compile_cache_dir: None,
            plugin_deadline_ms: limits.deadline_ms,
            plugin_memory_mib: limits.memory_mib,
            plugin_http_timeout_ms: limits.http_timeout_ms,
            order_history_size: 1000,
            order_history_secs: 3600,
            order_history_max_entries: 1_000_000,
            price_history_minutes: 60,
            shutdown_timeout_secs: 10,
            redis_url: None,
            redis_prefix: "gateway".into(),
            node_id: None,
            lease_ttl_ms: 3000,
            plugins: BTreeMap::new(),
        }
    }
}

/// The environment variables read into [`Config`] (the fields, uppercased).
const VARIABLES: &[&str] = &[
    "PORT",
    "HOST",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "LOG_FILE",
    "GATEWAY_DEV",
    "JWT_SECRET",
    "JWT_ALGORITHM",
    "JWT_PUBLIC_KEY_FILE",
    "JWKS_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY_SECS",
    "FRONTEND_URL",
    "MARKET_DATA_SERVICE_URL",
    "TRADING_SERVICE_URL",
    "EVENT_SERVICE_URL",
    "USER_SERVICE_URL",
    "USER_SERVICE_FAIL_OPEN",
    "USER_SERVICE_CACHE_SECS",
    "MAX_WEBSOCKET_CONNECTIONS",
    "MAX_CONNECTIONS_PER_USER",
    "MAX_TCP_CONNECTIONS",
    "MAX_MESSAGES_PER_MINUTE",
    "MAX_SYMBOLS_PER_SOCKET",
    "CHAT_MAX_PENDING_PER_USER",
    "FLOOD_DISCONNECT_AFTER",
    "SOCKET_BUFFER_PACKETS",
    "SLOW_SOCKET_TIMEOUT_MS",
    "SERVICE_TOKEN",
    "METRICS_PUBLIC",
    "PLUGINS_DIR",
    "DATA_DIR",
    "COMPILE_CACHE_DIR",
    "PLUGIN_DEADLINE_MS",
    "PLUGIN_MEMORY_MIB",
    "PLUGIN_HTTP_TIMEOUT_MS",
    "ORDER_HISTORY_SIZE",
    "ORDER_HISTORY_SECS",
    "ORDER_HISTORY_MAX_ENTRIES",
    "PRICE_HISTORY_MINUTES",
    "SHUTDOWN_TIMEOUT_SECS",
    "REDIS_URL",
    "REDIS_PREFIX",
    "NODE_ID",
    "LEASE_TTL_MS",
];

/// Prefix of per-plugin config variables.
const PLUGIN_PREFIX: &str = "GATEWAY_PLUGIN__";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source failed to parse or a value has the wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// A variable combination makes no sense.
    #[error("invalid configuration: {0}")]
    Inconsistent(String),
}

impl Config {
    /// Loads defaults < `file` (if given) < the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads defaults < `file` < `vars` (the environment, for tests).
    pub fn load_from(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Inconsistent(format!(
                    "config file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        let env: BTreeMap<String, String> = vars
            .iter()
            .filter(|(k, _)| VARIABLES.contains(&k.as_str()))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        figment = figment.merge(Serialized::globals(env_values(&env)?));
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.apply_plugin_vars(&vars);
        config.check()?;
        Ok(config)
    }

    fn apply_plugin_vars(&mut self, vars: &[(String, String)]) {
        for (key, value) in vars {
            let Some(rest) = key.strip_prefix(PLUGIN_PREFIX) else {
                continue;
            };
            let Some((plugin, setting)) = rest.split_once("__") else {
                continue;
            };
            let mut name = plugin.to_ascii_lowercase();
            if !self.plugins.contains_key(&name) {
                name = name.replace('_', "-");
            }
            self.plugins.entry(name).or_default().config.insert(
                setting.to_ascii_lowercase(),
                ConfigValue::String(value.clone()),
            );
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.jwt_leeway_secs > crate::auth::MAX_LEEWAY_SECS {
            return Err(ConfigError::Inconsistent(format!(
                "JWT_LEEWAY_SECS must be at most {}, got {}",
                crate::auth::MAX_LEEWAY_SECS,
                self.jwt_leeway_secs
            )));
        }
        if self
            .service_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::Inconsistent(
                "SERVICE_TOKEN is empty: set a secret, or unset it to accept admin tokens only"
                    .into(),
            ));
        }
        if self.max_messages_per_minute == 0 {
            return Err(ConfigError::Inconsistent(
                "MAX_MESSAGES_PER_MINUTE must be at least 1".into(),
            ));
        }
        if self.lease_ttl_ms < 300 {
            return Err(ConfigError::Inconsistent(
                "LEASE_TTL_MS must be at least 300".into(),
            ));
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::Inconsistent(
                "REDIS_PREFIX must be non-empty without spaces".into(),
            ));
        }
        if matches!(
            self.jwt_algorithm,
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256
        ) && self.jwt_public_key_file.is_none()
            && self.jwks_url.is_none()
        {
            return Err(ConfigError::Inconsistent(format!(
                "JWT_ALGORITHM={:?} needs JWT_PUBLIC_KEY_FILE or JWKS_URL",
                self.jwt_algorithm
            )));
        }
        Ok(())
    }

    /// Open TCP connections allowed: `MAX_TCP_CONNECTIONS`, or room for
    /// every socket on two connections (long-polling) plus the HTTP API.
    pub fn tcp_connection_cap(&self) -> usize {
        match self.max_tcp_connections {
            0 => self
                .max_websocket_connections
                .saturating_mul(2)
                .saturating_add(256),
            n => n,
        }
    }

    /// The default limits plugins get unless their manifest says otherwise.
    pub fn plugin_limits(&self) -> Limits {
        Limits {
            deadline_ms: self.plugin_deadline_ms,
            memory_mib: self.plugin_memory_mib,
            http_timeout_ms: self.plugin_http_timeout_ms,
            ..Limits::default()
        }
    }

    /// Where compiled plugins are cached.
    pub fn compile_cache(&self) -> PathBuf {
        self.compile_cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("compile-cache"))
    }

    /// The allowed CORS origins; `None` means any (`*`).
    pub fn cors_origins(&self) -> Option<Vec<String>> {
        let origins: Vec<String> = self
            .frontend_url
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        (!origins.iter().any(|o| o == "*")).then_some(origins)
    }
}

/// Environment strings typed for figment: numbers and booleans as such.
fn env_values(
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, figment::value::Value>, ConfigError> {
    use figment::value::Value;
    let defaults = figment::value::Value::serialize(Config::default())
        .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
    let dict = defaults.into_dict().unwrap_or_default();
    env.iter()
        .map(|(k, v)| {
            let typed = match dict.get(k) {
                Some(Value::Num(..)) => v.trim().parse::<i64>().map(Value::from).map_err(|_| {
                    ConfigError::Inconsistent(format!(
                        "{} must be a whole number, got {v:?}",
                        k.to_ascii_uppercase()
                    ))
                })?,
                Some(Value::Bool(..)) => match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Value::from(true),
                    "0" | "false" | "no" | "off" | "" => Value::from(false),
                    _ => {
                        return Err(ConfigError::Inconsistent(format!(
                            "{} must be true or false, got {v:?}",
                            k.to_ascii_uppercase()
                        )));
                    }
                },
                _ => Value::from(v.clone()),
            };
            Ok((k.clone(), typed))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_replaced_service() {
        let c = Config::load_from(None, vars(&[])).unwrap();
        assert_eq!(c.port, 3006);
        assert_eq!(c.max_websocket_connections, 1000);
        assert_eq!(c.max_connections_per_user, 5);
        assert_eq!(c.max_messages_per_minute, 60);
        assert_eq!(c.max_symbols_per_socket, 50);
    }

    #[test]
    fn env_beats_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateway.toml");
        std::fs::write(
            &file,
            "port = 4000\nlog_level = \"debug\"\n[plugins.sim-prices.config]\nsymbols = \"EURUSD\"\n",
        )
        .unwrap();
        let c = Config::load_from(
            Some(&file),
            vars(&[
                ("PORT", "5000"),
                ("GATEWAY_DEV", "true"),
                ("GATEWAY_PLUGIN__SIM_PRICES__INTERVAL_MS", "10"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.port, 5000);
        assert_eq!(c.log_level, "debug");
        assert!(c.gateway_dev);
        let sim = &c.plugins["sim-prices"].config;
        assert_eq!(sim["symbols"].to_config_string(), "EURUSD");
        assert_eq!(sim["interval_ms"].to_config_string(), "10");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let err = Config::load_from(None, vars(&[("PORT", "eighty")])).unwrap_err();
        assert!(
            err.to_string().contains("PORT must be a whole number"),
            "{err}"
        );
        let err = Config::load_from(None, vars(&[("JWT_ALGORITHM", "RS256")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs JWT_PUBLIC_KEY_FILE or JWKS_URL"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateway.toml");
        std::fs::write(&file, "prot = 1\n").unwrap();
        let err = Config::load_from(Some(&file), vars(&[])).unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn cors_origins() {
        let mut c = Config {
            frontend_url: "http://a.test, http://b.test/".into(),
            ..Config::default()
        };
        assert_eq!(
            c.cors_origins().unwrap(),
            ["http://a.test", "http://b.test"]
        );
        c.frontend_url = "*".into();
        assert_eq!(c.cors_origins(), None);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any values of the known variables load or are refused with an
        /// error; nothing panics, and what loads passes the checks.
        #[test]
        fn proptest_environment_never_panics(
            values in prop::collection::vec(
                (prop::sample::select(VARIABLES.to_vec()), "[ -~]{0,16}"),
                0..8,
            ),
        ) {
            let vars = values.into_iter().map(|(k, v)| (k.to_owned(), v));
            if let Ok(config) = Config::load_from(None, vars) {
                prop_assert!(config.jwt_leeway_secs <= crate::auth::MAX_LEEWAY_SECS);
                prop_assert!(config.max_messages_per_minute >= 1);
            }
        }
    }
}
