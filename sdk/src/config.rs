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

/// `key` parsed as `T`, or `default` when unset or blank; a value below
/// `min` is refused with `KEY must be at least MIN, got VALUE`.
pub fn get_at_least<T>(key: &str, default: T, min: T) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    T::Err: std::fmt::Display,
{
    let value = get_or(key, default)?;
    if value < min {
        return Err(format!("{key} must be at least {min}, got {value}"));
    }
    Ok(value)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    #[test]
    fn typed_values_with_defaults_and_minimums() {
        let host = FakeHost::new()
            .config("interval_ms", " 250 ")
            .config("blank", " ")
            .config("list", "a, b,,c ")
            .install();
        assert_eq!(get_or("interval_ms", 1000u32), Ok(250));
        assert_eq!(get_or("blank", 7u32), Ok(7));
        assert_eq!(get_at_least("interval_ms", 1000u32, 10), Ok(250));
        assert_eq!(get_at_least("missing", 1000u32, 10), Ok(1000));
        assert_eq!(list("list").unwrap(), ["a", "b", "c"]);
        assert_eq!(list("missing"), None);

        host.set_config("interval_ms", "5");
        assert_eq!(
            get_at_least("interval_ms", 1000u32, 10).unwrap_err(),
            "interval_ms must be at least 10, got 5"
        );
        host.set_config("interval_ms", "soon");
        let err = get_at_least("interval_ms", 1000u32, 10).unwrap_err();
        assert!(
            err.starts_with("config `interval_ms` = \"soon\": "),
            "{err}"
        );
    }
}
