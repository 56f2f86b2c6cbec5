//! The optional `NAME.toml` beside a plugin: whether it is enabled, its
//! config values, the hosts it may call, its limits and failure policy.
//!
//! The same shape is accepted in the gateway's config file under
//! `[plugins.NAME]`; later sources override earlier ones key by key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::kind::PluginKind;

/// A plugin's manifest; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `false` keeps the plugin from loading.
    pub enabled: Option<bool>,
    /// Config values the plugin reads with `config::get`.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
    /// Hosts the plugin may reach over HTTP: `host` (any port) or `host:port`.
    pub allowed_hosts: Option<Vec<String>>,
    /// Resource limits.
    #[serde(default)]
    pub limits: LimitsOverride,
    /// Circuit-breaker policy.
    #[serde(default)]
    pub failure: FailureOverride,
    /// Instances serving calls concurrently (chat responders benefit).
    pub instances: Option<usize>,
    /// Price sources: which source owns a symbol several claim — the
    /// highest priority (default 0), then the one loaded first.
    pub priority: Option<i64>,
}

/// A config value as written in TOML; numbers and booleans become strings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ConfigValue {
    /// A string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list, joined with commas.
    List(Vec<ConfigValue>),
}

impl ConfigValue {
    /// The string the plugin sees.
    pub fn to_config_string(&self) -> String {
        match self {
            ConfigValue::String(s) => s.clone(),
            ConfigValue::Integer(i) => i.to_string(),
            ConfigValue::Float(f) => f.to_string(),
            ConfigValue::Bool(b) => b.to_string(),
            ConfigValue::List(items) => items
                .iter()
                .map(ConfigValue::to_config_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// Limits as written; unset fields keep the gateway's defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    /// CPU deadline of one call.
    pub deadline_ms: Option<u64>,
    /// Wall-clock deadline of one call (CPU, host imports and waiting).
    pub wall_ms: Option<u64>,
    /// Linear memory cap.
    pub memory_mib: Option<u64>,
    /// Timeout of one outbound HTTP request.
    pub http_timeout_ms: Option<u64>,
    /// Largest outbound HTTP response body.
    pub http_max_response_bytes: Option<u64>,
    /// Largest total size of the plugin's kv entries.
    pub kv_max_bytes: Option<u64>,
}

/// Failure policy as written; unset fields keep the defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FailureOverride {
    /// Consecutive failures that open the circuit.
    pub max_consecutive_failures: Option<u32>,
    /// First pause once the circuit opens.
    pub backoff_initial_ms: Option<u64>,
    /// Longest pause.
    pub backoff_max_ms: Option<u64>,
    /// What an event filter's failure means for the event (event filters only).
    pub filter: Option<FilterFailure>,
}

/// What happens to an event when an event filter fails on it (after one
/// retry): `closed` (the default) delivers it to none of the subscribers
/// the filter was asked about, so a filter that enforces who may see what
/// never leaks an event by failing; `open` delivers it to all of them, for
/// filters that only trim noise.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FilterFailure {
    /// Deliver to none of the subscribers asked about.
    #[default]
    Closed,
    /// Deliver to all of the subscribers asked about.
    Open,
}

/// Resolved resource limits of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// CPU deadline of one call, in ms.
    pub deadline_ms: u64,
    /// Wall-clock deadline of one call, in ms; unset, the kind's default
    /// ([`default_wall`]).
    pub wall_ms: Option<u64>,
    /// Linear memory cap, in MiB (all of an instance's memories together).
    pub memory_mib: u64,
    /// Timeout of one outbound HTTP request, in ms.
    pub http_timeout_ms: u64,
    /// Largest outbound HTTP response body, in bytes.
    pub http_max_response_bytes: u64,
    /// Largest total size of the plugin's kv entries, in bytes.
    pub kv_max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline_ms: 100,
            wall_ms: None,
            memory_mib: 64,
            http_timeout_ms: 5_000,
            http_max_response_bytes: 1 << 20,
            kv_max_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Applies the set fields of `o`.
    pub fn apply(&mut self, o: &LimitsOverride) {
        let LimitsOverride {
            deadline_ms,
            wall_ms,
            memory_mib,
            http_timeout_ms,
            http_max_response_bytes,
            kv_max_bytes,
        } = o;
        self.deadline_ms = deadline_ms.unwrap_or(self.deadline_ms);
        self.wall_ms = wall_ms.or(self.wall_ms);
        self.memory_mib = memory_mib.unwrap_or(self.memory_mib);
        self.http_timeout_ms = http_timeout_ms.unwrap_or(self.http_timeout_ms);
        self.http_max_response_bytes =
            http_max_response_bytes.unwrap_or(self.http_max_response_bytes);
        self.kv_max_bytes = kv_max_bytes.unwrap_or(self.kv_max_bytes);
    }

    /// The CPU deadline of one call.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// The wall-clock deadline of one call into a plugin of `kind`: never
    /// shorter than the CPU deadline.
    pub fn wall(&self, kind: PluginKind) -> Duration {
        Duration::from_millis(
            self.wall_ms
                .unwrap_or_else(|| default_wall(kind))
                .max(self.deadline_ms),
        )
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib << 20).unwrap_or(usize::MAX)
    }
}

/// The wall-clock deadline of a call into a plugin of `kind` whose manifest
/// sets none, in ms: sources may make a few upstream requests per poll, a
/// chat reply may wait on an LLM.
pub fn default_wall(kind: PluginKind) -> u64 {
    match kind {
        PluginKind::PriceSource | PluginKind::OrderPoller | PluginKind::EventFilter => 15_000,
        PluginKind::ChatResponder => 30_000,
    }
}

/// Resolved circuit-breaker policy of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailurePolicy {
    /// Consecutive failures that open the circuit.
    pub max_consecutive_failures: u32,
    /// First pause once the circuit opens, in ms; doubles per further failure.
    pub backoff_initial_ms: u64,
    /// Longest pause, in ms.
    pub backoff_max_ms: u64,
    /// What an event filter's failure means for the event.
    pub filter: FilterFailure,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            max_consecutive_failures: 5,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 60_000,
            filter: FilterFailure::Closed,
        }
    }
}

impl FailurePolicy {
    /// Applies the set fields of `o`.
    pub fn apply(&mut self, o: &FailureOverride) {
        self.max_consecutive_failures = o
            .max_consecutive_failures
            .unwrap_or(self.max_consecutive_failures);
        self.backoff_initial_ms = o.backoff_initial_ms.unwrap_or(self.backoff_initial_ms);
        self.backoff_max_ms = o.backoff_max_ms.unwrap_or(self.backoff_max_ms);
        self.filter = o.filter.unwrap_or(self.filter);
    }
}

impl Manifest {
    /// Parses a manifest file's text.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Layers `over` on top of `self`: set fields win, config maps merge.
    pub fn merged_with(mut self, over: &Manifest) -> Manifest {
        self.enabled = over.enabled.or(self.enabled);
        self.config
            .extend(over.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(hosts) = &over.allowed_hosts {
            self.allowed_hosts = Some(hosts.clone());
        }
        let l = &over.limits;
        let s = &mut self.limits;
        s.deadline_ms = l.deadline_ms.or(s.deadline_ms);
        s.wall_ms = l.wall_ms.or(s.wall_ms);
        s.memory_mib = l.memory_mib.or(s.memory_mib);
        s.http_timeout_ms = l.http_timeout_ms.or(s.http_timeout_ms);
        s.http_max_response_bytes = l.http_max_response_bytes.or(s.http_max_response_bytes);
        s.kv_max_bytes = l.kv_max_bytes.or(s.kv_max_bytes);
        let f = &over.failure;
        let s = &mut self.failure;
        s.max_consecutive_failures = f.max_consecutive_failures.or(s.max_consecutive_failures);
        s.backoff_initial_ms = f.backoff_initial_ms.or(s.backoff_initial_ms);
        s.backoff_max_ms = f.backoff_max_ms.or(s.backoff_max_ms);
        s.filter = f.filter.or(s.filter);
        self.instances = over.instances.or(self.instances);
        self.priority = over.priority.or(self.priority);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_section_and_stringifies_values() {
        let m = Manifest::parse(
            r#"
            enabled = true
            allowed_hosts = ["127.0.0.1:9000"]
            instances = 2
            priority = -3
            [config]
            symbols = ["EURUSD", "USDJPY"]
            interval_ms = 10
            [limits]
            deadline_ms = 50
            [failure]
            max_consecutive_failures = 2
            filter = "open"
            "#,
        )
        .unwrap();
        assert_eq!(m.config["symbols"].to_config_string(), "EURUSD,USDJPY");
        assert_eq!(m.priority, Some(-3));
        assert_eq!(m.config["interval_ms"].to_config_string(), "10");
        let mut limits = Limits::default();
        limits.apply(&m.limits);
        assert_eq!(limits.deadline_ms, 50);
        assert_eq!(limits.memory_mib, 64);
        let mut failure = FailurePolicy::default();
        assert_eq!(failure.filter, FilterFailure::Closed);
        failure.apply(&m.failure);
        assert_eq!(failure.filter, FilterFailure::Open);
        assert!(Manifest::parse("[failure]\nfilter = \"maybe\"").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Manifest::parse("enabeld = true").unwrap_err();
        assert!(err.to_string().contains("enabeld"), "{err}");
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let base =
            Manifest::parse("[config]\na = \"1\"\nb = \"2\"\n[limits]\ndeadline_ms = 5").unwrap();
        let over = Manifest::parse("[config]\nb = \"3\"\n[limits]\nmemory_mib = 8").unwrap();
        let m = base.merged_with(&over);
        assert_eq!(m.config["a"].to_config_string(), "1");
        assert_eq!(m.config["b"].to_config_string(), "3");
        assert_eq!(m.limits.deadline_ms, Some(5));
        assert_eq!(m.limits.memory_mib, Some(8));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn manifest() -> impl Strategy<Value = Manifest> {
        let value = prop_oneof![
            "[ -~]{0,12}".prop_map(ConfigValue::String),
            any::<i64>().prop_map(ConfigValue::Integer),
            any::<bool>().prop_map(ConfigValue::Bool),
        ];
        (
            proptest::option::of(any::<bool>()),
            prop::collection::btree_map("[a-z_]{1,8}", value, 0..4),
            proptest::option::of(prop::collection::vec("[a-z0-9.:]{1,12}", 0..3)),
            proptest::option::of(0u64..100_000),
            proptest::option::of(0u64..100_000),
            proptest::option::of(prop_oneof![
                Just(FilterFailure::Open),
                Just(FilterFailure::Closed)
            ]),
            proptest::option::of(0usize..20),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(
                |(enabled, config, hosts, deadline, wall, filter, instances, priority)| Manifest {
                    enabled,
                    config,
                    allowed_hosts: hosts,
                    limits: LimitsOverride {
                        deadline_ms: deadline,
                        wall_ms: wall,
                        ..LimitsOverride::default()
                    },
                    failure: FailureOverride {
                        filter,
                        ..FailureOverride::default()
                    },
                    instances,
                    priority,
                },
            )
    }

    proptest! {
        /// Any text parses or is refused with an error; nothing panics.
        #[test]
        fn proptest_manifest_text_never_panics(text in "[\\[\\]a-z_=\"0-9. \n{},-]{0,200}") {
            let _ = Manifest::parse(&text);
        }

        /// What the gateway writes as a manifest reads back the same.
        #[test]
        fn proptest_manifests_round_trip(m in manifest()) {
            let text = toml::to_string(&m).unwrap();
            prop_assert_eq!(Manifest::parse(&text).unwrap(), m);
        }
    }
}
