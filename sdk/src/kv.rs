//! The plugin's key-value store. The host keeps it across reloads and
//! restarts, which is where pollers keep their cursors.

pub use crate::bindings::host::gateway::plugins::kv::KvError;

/// The bytes stored under `key`.
pub fn get(key: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::kv::get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.kv_get(key));
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::kv::set(key, value);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.kv_set(key, value));
}

/// Removes `key`.
pub fn delete(key: &str) -> Result<(), KvError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::kv::delete(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.kv_delete(key));
}

/// The UTF-8 string stored under `key`.
pub fn get_string(key: &str) -> Option<String> {
    get(key).and_then(|b| String::from_utf8(b).ok())
}

/// Stores a string under `key`.
pub fn set_string(key: &str, value: &str) -> Result<(), KvError> {
    set(key, value.as_bytes())
}

/// The JSON value stored under `key`, if present and well-formed.
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    get(key).and_then(|b| serde_json::from_slice(&b).ok())
}

/// Stores `value` as JSON under `key`.
pub fn set_json<T: serde::Serialize>(key: &str, value: &T) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(value).map_err(|e| KvError::Unavailable(e.to_string()))?;
    set(key, &bytes)
}
