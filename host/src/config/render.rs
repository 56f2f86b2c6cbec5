//! The configuration as TOML for people: every setting with its default
//! and meaning (`gateway config defaults`, a file that loads back to the
//! defaults), and the effective settings with where each came from and
//! secrets hidden (`gateway config check`).

use std::fmt::Write as _;

use gateway_contract::redacted_url;

use super::problems::{HIDDEN, Origin};
use super::settings::{self, SETTINGS};
use super::{Config, Resolved};

/// The settings of `config` as a TOML table (unset ones absent).
fn table(config: &Config) -> toml::Table {
    toml::Table::try_from(config).unwrap_or_default()
}

/// Every setting, commented, with its default: a config file that loads
/// to the same settings as none.
pub fn defaults() -> String {
    let values = table(&Config::default());
    let mut out = String::from(
        "# The gateway's settings, each with its default and meaning\n\
         # (`gateway config defaults`). Load a file like this one with\n\
         # `gateway --config FILE` (or GATEWAY_CONFIG=FILE). The environment\n\
         # variable named like a key in upper case (PORT=4000) beats the file.\n",
    );
    for s in SETTINGS {
        let value = values.get(s.key);
        let _ = write!(out, "\n# {}", s.about);
        if s.secret {
            out.push_str(" Secret.");
        }
        if value.is_none() {
            out.push_str(" Not set by default; for example:");
        }
        let _ = writeln!(out, "\n# env: {}", settings::variable(s.key));
        match value {
            Some(v) => {
                let _ = writeln!(out, "{} = {v}", s.key);
            }
            None => {
                let _ = writeln!(out, "# {} = {}", s.key, s.example.unwrap_or("\"\""));
            }
        }
    }
    out.push_str(
        "\n# Per-plugin settings: a [plugins.NAME] table per plugin, in the shape of\n\
         # a plugin manifest (enabled, config, allowed_hosts, limits, failure,\n\
         # instances); GATEWAY_PLUGIN__NAME__KEY=value sets one config key.\n\
         # None by default. For example:\n\
         # [plugins.sim-prices.config]\n\
         # interval_ms = 100\n",
    );
    out
}

/// How a value of `key` may be shown: secrets hidden, URLs without
/// credentials or query.
fn shown(key: &str, secret: bool, value: &toml::Value) -> toml::Value {
    match value {
        _ if secret => toml::Value::String(HIDDEN.into()),
        toml::Value::String(s) if key.ends_with("url") => toml::Value::String(redacted_url(s)),
        toml::Value::Table(t) => toml::Value::Table(shown_table(t)),
        other => other.clone(),
    }
}

/// A plugin table shown: secret-looking keys hidden, empty tables left out.
fn shown_table(t: &toml::Table) -> toml::Table {
    t.iter()
        .filter(|(_, v)| !matches!(v, toml::Value::Table(t) if t.is_empty()))
        .map(|(k, v)| (k.clone(), shown(k, settings::looks_secret(k), v)))
        .filter(|(_, v)| !matches!(v, toml::Value::Table(t) if t.is_empty()))
        .collect()
}

/// The effective settings, each with its origin, secrets hidden.
pub fn effective(resolved: &Resolved) -> String {
    let values = table(&resolved.config);
    let mut out =
        String::from("# Effective settings (default < file < environment; secrets hidden)\n");
    for s in SETTINGS {
        let origin = resolved.origin(s.key);
        match values.get(s.key) {
            Some(v) => {
                let _ = write!(out, "{} = {}", s.key, shown(s.key, s.secret, v));
                if origin != Origin::Default {
                    let _ = write!(out, "    # {origin}");
                }
                out.push('\n');
            }
            None => {
                let _ = writeln!(out, "# {}: not set", s.key);
            }
        }
    }
    if let Some(toml::Value::Table(plugins)) = values.get("plugins") {
        let plugins = shown_table(plugins);
        if !plugins.is_empty() {
            let mut wrapper = toml::Table::new();
            wrapper.insert("plugins".into(), toml::Value::Table(plugins));
            out.push('\n');
            out.push_str(&toml::to_string(&wrapper).unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_serde_knows() -> Vec<&'static str> {
        let mut probe = figment::value::Dict::new();
        probe.insert("no_such_key".into(), 1.into());
        let err = figment::Figment::from(figment::providers::Serialized::globals(probe))
            .extract::<Config>()
            .unwrap_err();
        match err.kind {
            figment::error::Kind::UnknownField(_, fields) => fields.to_vec(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn defaults_name_every_key_and_load_back_to_the_defaults() {
        let text = defaults();
        for key in keys_serde_knows() {
            let documented = text.lines().any(|l| {
                l.starts_with(&format!("{key} = "))
                    || l.starts_with(&format!("# {key} = "))
                    || l.starts_with(&format!("# [{key}."))
            });
            assert!(
                documented,
                "setting `{key}` is missing from `config defaults`"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateway.toml");
        std::fs::write(&file, &text).unwrap();
        let loaded = Config::load_from(Some(&file), Vec::new()).unwrap();
        assert_eq!(loaded, Config::load_from(None, Vec::new()).unwrap());

        // Each example of an unset setting is a valid value once uncommented.
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if SETTINGS
                        .iter()
                        .any(|s| rest.starts_with(&format!("{} = ", s.key))) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&file, &uncommented).unwrap();
        let loaded = Config::load_from(Some(&file), Vec::new()).unwrap();
        assert_eq!(
            loaded.jwks_url.as_deref(),
            Some("https://idp.example/.well-known/jwks.json")
        );
        assert!(loaded.jwt_secret.is_some() && loaded.node_id.is_some());
    }

    #[test]
    fn the_settings_table_lists_every_field_once() {
        let known = keys_serde_knows();
        let mut listed: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        listed.push("plugins");
        listed.sort_unstable();
        let mut known_sorted = known.clone();
        known_sorted.sort_unstable();
        assert_eq!(listed, known_sorted);
    }

    #[test]
    fn effective_settings_hide_secrets_and_say_where_values_came_from() {
        let vars = [
            ("JWT_SECRET", "hs-secret-value"),
            ("SERVICE_TOKEN", "svc-token-value"),
            ("REDIS_URL", "redis://:redis-pw@127.0.0.1:6379"),
            ("GATEWAY_PLUGIN__CHAT_ASSISTANT__LLM_API_KEY", "sk-llm-key"),
            ("PORT", "4000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let resolved = Config::resolve(None, vars, crate::config::Purpose::Serve).unwrap();
        let text = effective(&resolved);
        for secret in [
            "hs-secret-value",
            "svc-token-value",
            "redis-pw",
            "sk-llm-key",
        ] {
            assert!(!text.contains(secret), "{secret} shown:\n{text}");
        }
        assert!(text.contains("port = 4000    # environment PORT"), "{text}");
        assert!(text.contains("jwt_secret = \"<hidden>\""), "{text}");
        assert!(text.contains("llm_api_key = \"<hidden>\""), "{text}");
        assert!(text.contains("# jwks_url: not set"), "{text}");
    }
}
