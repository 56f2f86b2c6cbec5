//! The plugin's configuration (manifest < gateway config file < environment),
//! with typed accessors.

use std::str::FromStr;

/// A config value that is present but does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The key that was read.
    pub key: String,
    /// The value found.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "config `{}` = {:?}: {}",
            self.key, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.to_string()
    }
}

/// The raw value of `key`, if set.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::config::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.config_value(key));
}

/// Every key and value, sorted by key.
pub fn all() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::config::all();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.config_all());
}

/// `key` parsed as `T`, or `default` when unset or blank.
pub fn get_or<T>(key: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match get(key) {
        Some(v) if !v.trim().is_empty() => v.trim().parse().map_err(|e: T::Err| ConfigError {
            key: key.to_owned(),
            value: v.clone(),
            reason: e.to_string(),
        }),
        _ => Ok(default),
    }
}

/// `key` as a comma-separated list of trimmed, non-empty items.
pub fn list(key: &str) -> Option<Vec<String>> {
    get(key).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}
