//! Logging into the gateway's `tracing` output, tagged with the plugin's name.

pub use crate::bindings::host::gateway::plugins::log::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::host::gateway::plugins::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.record_log(level, message));
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
