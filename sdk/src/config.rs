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
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::config;
/// let _host = FakeHost::new().config("url", "http://prices.test").install();
/// assert_eq!(config::get("url").as_deref(), Some("http://prices.test"));
/// assert_eq!(config::get("missing"), None);
/// ```
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::config::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.config_value(key));
}

/// Every key and value, sorted by key.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::config;
/// let _host = FakeHost::new().config("b", "2").config("a", "1").install();
/// assert_eq!(config::all(), [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
/// ```
pub fn all() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::config::all();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.config_all());
}

/// `key` parsed as `T`, or `default` when unset or blank.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::config;
/// let _host = FakeHost::new().config("scale", "2.5").config("bad", "x").install();
/// assert_eq!(config::get_or("scale", 1.0), Ok(2.5));
/// assert_eq!(config::get_or("missing", 1.0), Ok(1.0));
/// assert!(config::get_or("bad", 1.0).is_err());
/// ```
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
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::config;
/// let _host = FakeHost::new().config("interval_ms", "5").install();
/// assert_eq!(
///     config::get_at_least("interval_ms", 1000u32, 10),
///     Err("interval_ms must be at least 10, got 5".to_owned())
/// );
/// assert_eq!(config::get_at_least("missing", 1000u32, 10), Ok(1000));
/// ```
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
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::config;
/// let _host = FakeHost::new().config("symbols", "EURUSD, GBPUSD,").install();
/// assert_eq!(config::list("symbols").unwrap(), ["EURUSD", "GBPUSD"]);
/// ```
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
