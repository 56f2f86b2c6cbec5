//! The list of settings with a one-line meaning each: the source of
//! `gateway config defaults`, of which environment variables are read, and
//! of which values are secret. A test checks it names every field of
//! [`super::Config`], so a new setting cannot go undocumented.

/// One setting of [`super::Config`].
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The file key (the field name); its variable is this in upper case.
    pub key: &'static str,
    /// What it means, in one line.
    pub about: &'static str,
    /// For a setting unset by default: an example value, as TOML.
    pub example: Option<&'static str>,
    /// Whether its value is a secret, never printed.
    pub secret: bool,
}

const fn set(key: &'static str, about: &'static str) -> Setting {
    Setting {
        key,
        about,
        example: None,
        secret: false,
    }
}

const fn unset(key: &'static str, about: &'static str, example: &'static str) -> Setting {
    Setting {
        key,
        about,
        example: Some(example),
        secret: false,
    }
}

const fn secret(key: &'static str, about: &'static str, example: &'static str) -> Setting {
    Setting {
        key,
        about,
        example: Some(example),
        secret: true,
    }
}

/// Every setting but `plugins` (the `[plugins.NAME]` tables), in the
/// order `gateway config defaults` prints them.
pub const SETTINGS: &[Setting] = &[
    set("port", "HTTP and Socket.IO port."),
    set("host", "Address to bind."),
    set(
        "log_level",
        "Tracing filter: `info`, `debug`, `gateway=debug,info`...",
    ),
    set("log_format", "Log output format: `pretty` or `json`."),
    unset(
        "log_file",
        "Also write JSON logs to this file, rotated daily.",
        "\"/var/log/gateway/gateway.log\"",
    ),
    set(
        "gateway_dev",
        "Dev mode: a generated JWT secret (kept in data_dir) when none is set.",
    ),
    secret(
        "jwt_secret",
        "HS256 secret that client tokens are signed with.",
        "\"a-long-random-secret\"",
    ),
    set(
        "jwt_algorithm",
        "JWT signature algorithm accepted: `HS256`, `RS256` or `ES256`.",
    ),
    unset(
        "jwt_public_key_file",
        "PEM public key for RS256/ES256.",
        "\"/etc/gateway/jwt.pem\"",
    ),
    unset(
        "jwks_url",
        "JWKS endpoint for RS256/ES256 (cached, refetched on an unknown `kid`).",
        "\"https://idp.example/.well-known/jwks.json\"",
    ),
    unset(
        "jwt_issuer",
        "Required `iss` of client tokens, when set.",
        "\"https://idp.example\"",
    ),
    unset(
        "jwt_audience",
        "Required `aud` of client tokens, when set.",
        "\"gateway\"",
    ),
    set(
        "jwt_leeway_secs",
        "Clock-skew allowance on `exp` and `nbf`, in seconds (at most 60).",
    ),
    set(
        "frontend_url",
        "Allowed CORS origins, comma-separated, or `*`.",
    ),
    unset(
        "market_data_service_url",
        "Market-data service: the HTTP price source instead of the simulated one.",
        "\"http://market-data:8080\"",
    ),
    unset(
        "trading_service_url",
        "Trading service: enables the order poller.",
        "\"http://trading:8080\"",
    ),
    unset(
        "event_service_url",
        "Event service: enables event polling in the event filter.",
        "\"http://events:8080\"",
    ),
    unset(
        "user_service_url",
        "User service: users must exist there (`GET /users/{sub}`) to connect.",
        "\"http://users:8080\"",
    ),
    set(
        "user_service_fail_open",
        "Accept users while the user service cannot be reached.",
    ),
    set(
        "user_service_cache_secs",
        "How long a user-service answer is reused, in seconds.",
    ),
    set("max_websocket_connections", "Socket.IO connections in all."),
    set(
        "max_connections_per_user",
        "Socket.IO connections per user.",
    ),
    set(
        "max_tcp_connections",
        "Open TCP connections of any kind (0: twice max_websocket_connections plus 256).",
    ),
    set(
        "max_messages_per_minute",
        "Client events per user per minute (token bucket; at least 1).",
    ),
    set("max_symbols_per_socket", "Price subscriptions per socket."),
    set(
        "chat_max_pending_per_user",
        "Chat questions a user may have unanswered at once.",
    ),
    set(
        "flood_disconnect_after",
        "Rate-limited events in a row before a disconnect.",
    ),
    set(
        "socket_buffer_packets",
        "Packets queued per socket before it counts as congested.",
    ),
    set(
        "slow_socket_timeout_ms",
        "How long a socket may stay congested before it is disconnected, in ms.",
    ),
    secret(
        "service_token",
        "Bearer token accepted by `POST /api/events` besides admin JWTs.",
        "\"a-long-random-token\"",
    ),
    set("metrics_public", "Serve `/metrics` without a token."),
    set("plugins_dir", "Watched directory of plugin files."),
    set(
        "data_dir",
        "Plugin kv store, order log and (by default) the compile cache.",
    ),
    unset(
        "compile_cache_dir",
        "Compiled plugins (default: data_dir/compile-cache).",
        "\"/var/cache/gateway\"",
    ),
    set(
        "plugin_deadline_ms",
        "Default CPU deadline of a plugin call, in ms.",
    ),
    set("plugin_memory_mib", "Default plugin memory cap, in MiB."),
    set(
        "plugin_http_timeout_ms",
        "Default timeout of a plugin's HTTP request, in ms.",
    ),
    set(
        "order_history_size",
        "Order notifications kept per user for replay.",
    ),
    set(
        "order_history_secs",
        "Oldest order notification kept for replay, in seconds.",
    ),
    set(
        "order_history_max_entries",
        "Order notifications kept for replay, all users together.",
    ),
    set(
        "source_stale_intervals",
        "A price source sending no tick for this many of its intervals loses its symbols to the next source claiming them (at least 1).",
    ),
    set(
        "price_history_minutes",
        "Price history kept for the chat plugin, in minutes.",
    ),
    set(
        "shutdown_timeout_secs",
        "Longest graceful shutdown, in seconds.",
    ),
    unset(
        "redis_url",
        "Cluster mode through this Redis when set.",
        "\"redis://127.0.0.1:6379\"",
    ),
    set(
        "redis_prefix",
        "First part of every Redis key and channel (no spaces).",
    ),
    unset(
        "node_id",
        "This node's id in the cluster (default: generated).",
        "\"node-1\"",
    ),
    set(
        "lease_ttl_ms",
        "Lease time of a source plugin in cluster mode, in ms (at least 300).",
    ),
];

/// The setting whose environment variable is `var`.
pub fn by_variable(var: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.key.eq_ignore_ascii_case(var) && var.bytes().all(|b| !b.is_ascii_lowercase()))
}

/// The setting of file key `key`.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The environment variable of `key`.
pub fn variable(key: &str) -> String {
    key.to_ascii_uppercase()
}

/// Whether a plugin config key (or any key) names a secret: an API key,
/// a token, a password.
pub fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["key", "secret", "token", "password", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_the_keys_in_upper_case() {
        assert_eq!(
            by_variable("MAX_CONNECTIONS_PER_USER").unwrap().key,
            "max_connections_per_user"
        );
        assert!(by_variable("max_connections_per_user").is_none());
        assert!(by_variable("PLUGINS").is_none());
        assert!(by_key("jwt_secret").unwrap().secret);
        assert!(looks_secret("llm_api_key") && looks_secret("AUTH_TOKEN") && !looks_secret("url"));
    }
}
