//! The gateway's configuration: defaults < config file (TOML) < environment
//! variables, with the replaced service's variable names. This is the only
//! module that reads the environment.
//!
//! Per-plugin settings come from `[plugins.NAME]` tables in the file (the
//! manifest shape) and from `GATEWAY_PLUGIN__NAME__KEY=value` variables,
//! which set config key `key` (lowercased) of plugin `name` (lowercased,
//! `_` read as `-` when no plugin has the underscore form), e.g.
//! `GATEWAY_PLUGIN__SIM_PRICES__INTERVAL_MS=10`.
//!
//! A load reports every problem at once, each naming the key as it was
//! written (variable or file key), its value and what is expected
//! ([`problems`]); [`settings`] lists the settings with their meaning, and
//! [`render`] prints them for `gateway config defaults` and `check`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use serde::{Deserialize, Serialize};

use crate::plugin::manifest::{ConfigValue, Limits, Manifest};
use problems::HIDDEN;
pub use problems::{Origin, Problem};

pub mod problems;
pub mod render;
pub mod settings;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// `SOURCE_STALE_INTERVALS`: intervals of its own without a tick after
    /// which a price source loses its symbols to the next source claiming them.
    pub source_stale_intervals: u32,
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
            source_stale_intervals: 5,
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

/// Prefix of per-plugin config variables.
const PLUGIN_PREFIX: &str = "GATEWAY_PLUGIN__";

/// Why the configuration cannot be used: every problem found, not only the
/// first.
#[derive(Debug, thiserror::Error)]
#[error("{}", list(.problems))]
pub struct ConfigError {
    /// What is wrong, in the order found.
    pub problems: Vec<Problem>,
}

fn list(problems: &[Problem]) -> String {
    let mut text = match problems.len() {
        1 => "the configuration has a problem:".to_owned(),
        n => format!("the configuration has {n} problems:"),
    };
    for p in problems {
        text.push_str("\n  - ");
        text.push_str(&p.to_string());
    }
    text
}

/// What the configuration is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A tool that needs no secret (`plugin check`, `token` minting).
    Tool,
    /// Serving, or checking that the gateway would serve: also requires a
    /// JWT secret or key, a valid `LOG_LEVEL` and a readable key file.
    Serve,
}

/// A loaded configuration and where each setting came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The effective settings.
    pub config: Config,
    /// The origin of each setting given in the file or environment, by key.
    pub origins: BTreeMap<String, Origin>,
    /// Environment variables that look meant for the gateway but are not
    /// read (a mistyped name); warnings, not errors.
    pub ignored: Vec<Problem>,
}

impl Resolved {
    /// Where setting `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }
}

/// One value given in the file or the environment.
struct Entry {
    origin: Origin,
    /// The field it sets.
    key: String,
    value: figment::value::Value,
    /// As written, for messages (hidden for secrets).
    shown: String,
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
        Self::resolve(file, vars, Purpose::Tool).map(|r| r.config)
    }

    /// Like [`Self::resolve`] with the process environment; `dev` (the
    /// `--dev` flag) counts as `GATEWAY_DEV=true`.
    pub fn resolve_process(
        file: Option<&Path>,
        dev: bool,
        purpose: Purpose,
    ) -> Result<Resolved, ConfigError> {
        let dev = dev.then(|| ("GATEWAY_DEV".to_owned(), "true".to_owned()));
        Self::resolve(file, std::env::vars().chain(dev), purpose)
    }

    /// Loads defaults < `file` < `vars` for `purpose`, keeping where each
    /// setting came from; every problem is reported at once.
    pub fn resolve(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
        purpose: Purpose,
    ) -> Result<Resolved, ConfigError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        if let Some(file) = file {
            match file_entries(file) {
                Ok(found) => entries.extend(found),
                Err(why) => problems.push(Problem {
                    origin: Origin::File(file.to_owned()),
                    key: String::new(),
                    value: None,
                    expected: why,
                    did_you_mean: None,
                }),
            }
        }
        for (var, raw) in &vars {
            let Some(setting) = settings::by_variable(var) else {
                continue;
            };
            let shown = if setting.secret {
                HIDDEN.to_owned()
            } else {
                format!("{raw:?}")
            };
            match env_value(setting.key, raw) {
                Ok(value) => entries.push(Entry {
                    origin: Origin::Env(var.clone()),
                    key: setting.key.to_owned(),
                    value,
                    shown,
                }),
                Err(expected) => problems.push(Problem {
                    origin: Origin::Env(var.clone()),
                    key: var.clone(),
                    value: Some(shown),
                    expected,
                    did_you_mean: None,
                }),
            }
        }
        for entry in &entries {
            problems.extend(entry_problems(entry));
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let origins: BTreeMap<String, Origin> = entries
            .iter()
            .map(|e| (e.key.clone(), e.origin.clone()))
            .collect();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for entry in entries {
            let mut one = figment::value::Dict::new();
            one.insert(entry.key, entry.value);
            figment = figment.merge(Serialized::globals(one));
        }
        let mut config: Config = figment.extract().map_err(|e| ConfigError {
            problems: vec![Problem {
                origin: Origin::Default,
                key: "configuration".into(),
                value: None,
                expected: e.to_string(),
                did_you_mean: None,
            }],
        })?;
        config.apply_plugin_vars(&vars);
        let ignored = vars.iter().filter_map(|(var, _)| ignored(var)).collect();
        let resolved = Resolved {
            config,
            origins,
            ignored,
        };
        let mut problems = resolved.config.check(&resolved);
        if purpose == Purpose::Serve {
            problems.extend(resolved.config.serve_check(&resolved));
        }
        if problems.is_empty() {
            Ok(resolved)
        } else {
            Err(ConfigError { problems })
        }
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

    /// Combinations and ranges the types cannot say.
    fn check(&self, at: &Resolved) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, value: String, expected: String| {
            problems.push(problem_at(at, key, Some(value), expected));
        };
        if self.jwt_leeway_secs > crate::auth::MAX_LEEWAY_SECS {
            bad(
                "jwt_leeway_secs",
                self.jwt_leeway_secs.to_string(),
                format!("expected at most {}", crate::auth::MAX_LEEWAY_SECS),
            );
        }
        if self
            .service_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            bad(
                "service_token",
                "\"\"".into(),
                "expected a secret; unset it to accept admin tokens only".into(),
            );
        }
        if self.max_messages_per_minute == 0 {
            bad(
                "max_messages_per_minute",
                "0".into(),
                "expected at least 1".into(),
            );
        }
        if self.source_stale_intervals == 0 {
            bad(
                "source_stale_intervals",
                "0".into(),
                "expected at least 1".into(),
            );
        }
        if self.lease_ttl_ms < 300 {
            bad(
                "lease_ttl_ms",
                self.lease_ttl_ms.to_string(),
                "expected at least 300".into(),
            );
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            bad(
                "redis_prefix",
                format!("{:?}", self.redis_prefix),
                "expected a non-empty prefix without spaces".into(),
            );
        }
        if matches!(
            self.jwt_algorithm,
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256
        ) && self.jwt_public_key_file.is_none()
            && self.jwks_url.is_none()
        {
            bad(
                "jwt_algorithm",
                format!("{:?}", self.jwt_algorithm),
                "needs JWT_PUBLIC_KEY_FILE or JWKS_URL as well".into(),
            );
        }
        problems
    }

    /// What serving needs beyond [`Self::check`]: a way to verify tokens
    /// and a usable log filter.
    fn serve_check(&self, at: &Resolved) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.jwt_algorithm == JwtAlgorithm::HS256 && !self.gateway_dev {
            match &self.jwt_secret {
                None => problems.push(problem_at(
                    at,
                    "jwt_secret",
                    None,
                    "not set; set it, or run with --dev (GATEWAY_DEV=1) for a generated one".into(),
                )),
                Some(s) if s.trim().is_empty() => problems.push(problem_at(
                    at,
                    "jwt_secret",
                    Some("\"\"".into()),
                    "expected a secret, not an empty string".into(),
                )),
                Some(_) => {}
            }
        }
        if let Some(path) = &self.jwt_public_key_file
            && self.jwt_algorithm != JwtAlgorithm::HS256
            && let Err(e) = std::fs::metadata(path)
        {
            problems.push(problem_at(
                at,
                "jwt_public_key_file",
                Some(format!("{:?}", path.display().to_string())),
                format!("expected a readable PEM file: {e}"),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            problems.push(problem_at(
                at,
                "log_level",
                Some(format!("{:?}", self.log_level)),
                format!("expected a tracing filter such as `info` or `gateway=debug,info`: {e}"),
            ));
        }
        problems
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

/// An environment string typed for figment as the setting `key` is:
/// numbers and booleans as such. Refused: what is expected.
fn env_value(key: &str, raw: &str) -> Result<figment::value::Value, String> {
    use figment::value::Value;
    let default = match Value::serialize(Config::default()) {
        Ok(Value::Dict(_, dict)) => dict.get(key).cloned(),
        _ => None,
    };
    Ok(match default {
        Some(Value::Num(..)) => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "expected a whole number".to_owned())?,
        Some(Value::Bool(..)) => match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Value::from(true),
            "0" | "false" | "no" | "off" | "" => Value::from(false),
            _ => return Err("expected true or false (or 1/0, yes/no, on/off)".into()),
        },
        _ => Value::from(raw.to_owned()),
    })
}

/// The top-level keys of config file `file`, or why it cannot be read.
fn file_entries(file: &Path) -> Result<Vec<Entry>, String> {
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("cannot read the config file: {e}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.to_string().trim()))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let secret = settings::by_key(&key).is_some_and(|s| s.secret);
            let shown = match &value {
                _ if secret => HIDDEN.to_owned(),
                toml::Value::Table(_) => "a table".to_owned(),
                v => v.to_string(),
            };
            let value = figment::value::Value::serialize(&value)
                .map_err(|e| format!("cannot read `{key}`: {e}"))?;
            Ok(Entry {
                origin: Origin::File(file.to_owned()),
                key,
                value,
                shown,
            })
        })
        .collect()
}

/// What is wrong with `entry` on its own, over the defaults.
fn entry_problems(entry: &Entry) -> Vec<Problem> {
    let mut one = figment::value::Dict::new();
    one.insert(entry.key.clone(), entry.value.clone());
    let Err(error) = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::globals(one))
        .extract::<Config>()
    else {
        return Vec::new();
    };
    error
        .into_iter()
        .map(|e| {
            let reading = problems::read_kind(&e.kind);
            let mut path = e.path.clone();
            if path.is_empty() {
                path.push(entry.key.clone());
            }
            if let Some(unknown) = &reading.unknown
                && path.last() != Some(unknown)
            {
                path.push(unknown.clone());
            }
            let nested = path.len() > 1;
            let key = match &entry.origin {
                Origin::Env(var) => var.clone(),
                _ => path.join("."),
            };
            let secret = settings::by_key(&entry.key).is_some_and(|s| s.secret)
                || path.iter().skip(1).any(|p| settings::looks_secret(p));
            let value = if secret {
                Some(HIDDEN.to_owned())
            } else if nested {
                reading.value
            } else {
                Some(entry.shown.clone())
            };
            Problem {
                origin: entry.origin.clone(),
                key,
                value,
                expected: reading.expected,
                did_you_mean: reading.did_you_mean,
            }
        })
        .collect()
}

/// Variables the gateway reads besides the settings.
const OTHER_VARIABLES: &[&str] = &["GATEWAY_CONFIG"];

/// Why variable `var`, which the gateway does not read, looks meant for
/// it: a near miss of a setting's variable, or a per-plugin variable
/// without the `GATEWAY_PLUGIN__NAME__KEY` shape.
fn ignored(var: &str) -> Option<Problem> {
    if settings::by_variable(var).is_some() || OTHER_VARIABLES.contains(&var) {
        return None;
    }
    let problem = |expected: &str, did_you_mean| {
        Some(Problem {
            origin: Origin::Env(var.to_owned()),
            key: var.to_owned(),
            value: None,
            expected: expected.to_owned(),
            did_you_mean,
        })
    };
    if var.starts_with("GATEWAY_PLUGIN") {
        let shaped = var
            .strip_prefix(PLUGIN_PREFIX)
            .and_then(|rest| rest.split_once("__"))
            .is_some_and(|(plugin, key)| !plugin.is_empty() && !key.is_empty());
        if shaped {
            return None;
        }
        return problem(
            "not read: a plugin setting is GATEWAY_PLUGIN__NAME__KEY",
            None,
        );
    }
    let looks_like_ours = var.len() >= 8
        && var
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !looks_like_ours {
        return None;
    }
    let variables: Vec<String> = settings::SETTINGS
        .iter()
        .map(|s| settings::variable(s.key))
        .collect();
    let near = problems::did_you_mean(var, variables.iter().map(String::as_str))?;
    if strsim::osa_distance(var, &near) > 2 {
        return None;
    }
    problem("not a gateway setting, ignored", Some(near))
}

/// A problem with setting `key`, named as it was given.
fn problem_at(at: &Resolved, key: &str, value: Option<String>, expected: String) -> Problem {
    let origin = at.origin(key);
    let written = match &origin {
        Origin::Env(var) => var.clone(),
        _ => key.to_owned(),
    };
    let secret = settings::by_key(key).is_some_and(|s| s.secret);
    Problem {
        origin,
        key: written,
        value: value.map(|v| if secret { HIDDEN.to_owned() } else { v }),
        expected,
        did_you_mean: None,
    }
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

    fn problems(file: Option<&str>, env: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let err = Config::load_from(file.map(|_| path.as_path()), vars(env)).unwrap_err();
        err.problems
            .iter()
            .map(|p| {
                p.to_string()
                    .replace(&path.display().to_string(), "gateway.toml")
            })
            .collect()
    }

    #[test]
    fn bad_values_name_the_key_as_written_the_value_and_what_is_expected() {
        assert_eq!(
            problems(None, &[("PORT", "eighty")]),
            ["environment variable PORT = \"eighty\": expected a whole number"]
        );
        assert_eq!(
            problems(None, &[("MAX_CONNECTIONS_PER_USER", "-1")]),
            [
                "environment variable MAX_CONNECTIONS_PER_USER = \"-1\": expected a whole number from 0 to 18446744073709551615"
            ]
        );
        assert_eq!(
            problems(None, &[("PORT", "70000")]),
            ["environment variable PORT = \"70000\": expected a whole number from 0 to 65535"]
        );
        assert_eq!(
            problems(None, &[("LOG_FORMAT", "xml")]),
            ["environment variable LOG_FORMAT = \"xml\": expected one of `pretty`, `json`"]
        );
        assert_eq!(
            problems(None, &[("JWT_ALGORITHM", "RS256")]),
            [
                "environment variable JWT_ALGORITHM = RS256: needs JWT_PUBLIC_KEY_FILE or JWKS_URL as well"
            ]
        );
        assert_eq!(
            problems(Some("prot = 1\n"), &[]),
            ["gateway.toml: prot = 1: not a known setting; did you mean `port`?"]
        );
        assert_eq!(
            problems(Some("jwt_leeway_secs = 90\n"), &[]),
            ["gateway.toml: jwt_leeway_secs = 90: expected at most 60"]
        );
        assert_eq!(
            problems(Some("[plugins.sim-prices.limits]\nmemry_mib = 8\n"), &[]),
            [
                "gateway.toml: plugins.sim-prices.limits.memry_mib: not a known setting; did you mean `memory_mib`?"
            ]
        );
        let syntax = problems(Some("port = \n"), &[]);
        assert!(
            syntax[0].starts_with("gateway.toml: not valid TOML"),
            "{syntax:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = problems(
            Some("prot = 1\nlog_format = 3\nmax_messages_per_minute = 0\n"),
            &[
                ("MAX_CONNECTIONS_PER_USER", "-1"),
                ("METRICS_PUBLIC", "maybe"),
                ("JWT_SECRET", "not-shown"),
            ],
        );
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().any(|p| p.contains("prot = 1")));
        assert!(found.iter().any(|p| p.contains("log_format = 3")));
        assert!(found.iter().any(|p| p.contains("MAX_CONNECTIONS_PER_USER")));
        assert!(
            found
                .iter()
                .any(|p| p.contains("METRICS_PUBLIC = \"maybe\": expected true or false"))
        );
        // Range checks run once the types are right: the fifth problem
        // (max_messages_per_minute = 0) shows after these are fixed.
        let found = problems(
            Some("max_messages_per_minute = 0\n"),
            &[("LEASE_TTL_MS", "10"), ("REDIS_PREFIX", "a b")],
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn serving_needs_a_secret_and_a_valid_log_filter() {
        let err = Config::resolve(None, vars(&[("LOG_LEVEL", "gateway=loud")]), Purpose::Serve)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("the configuration has 2 problems:"),
            "{text}"
        );
        assert!(
            text.contains("setting jwt_secret (JWT_SECRET): not set"),
            "{text}"
        );
        assert!(
            text.contains("environment variable LOG_LEVEL = \"gateway=loud\""),
            "{text}"
        );
        let dev = vars(&[("GATEWAY_DEV", "1")]);
        assert!(Config::resolve(None, dev, Purpose::Serve).is_ok());
        let err = Config::resolve(None, vars(&[("JWT_SECRET", " ")]), Purpose::Serve).unwrap_err();
        assert_eq!(
            err.problems[0].to_string(),
            "environment variable JWT_SECRET = <hidden>: expected a secret, not an empty string"
        );
    }

    #[test]
    fn mistyped_variables_are_pointed_out_and_others_left_alone() {
        let resolved = Config::resolve(
            None,
            vars(&[
                ("MAX_CONECTIONS_PER_USER", "3"),
                ("PLUGIN_DIR", "/srv/plugins"),
                ("GATEWAY_PLUGIN__SIM_PRICES_INTERVAL_MS", "10"),
                ("GATEWAY_PLUGIN__SIM_PRICES__SEED", "1"),
                ("HOME", "/root"),
                ("HOSTNAME", "box"),
                ("NODE_ENV", "production"),
                ("XDG_DATA_DIRS", "/usr/share"),
                ("GATEWAY_CONFIG", "gateway.toml"),
            ]),
            Purpose::Tool,
        )
        .unwrap();
        let warned: Vec<String> = resolved.ignored.iter().map(ToString::to_string).collect();
        assert_eq!(
            warned,
            [
                "environment variable MAX_CONECTIONS_PER_USER: not a gateway setting, ignored; did you mean `MAX_CONNECTIONS_PER_USER`?",
                "environment variable PLUGIN_DIR: not a gateway setting, ignored; did you mean `PLUGINS_DIR`?",
                "environment variable GATEWAY_PLUGIN__SIM_PRICES_INTERVAL_MS: not read: a plugin setting is GATEWAY_PLUGIN__NAME__KEY",
            ]
        );
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
                (prop::sample::select(settings::SETTINGS.iter().map(|s| settings::variable(s.key)).collect::<Vec<_>>()), "[ -~]{0,16}"),
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
