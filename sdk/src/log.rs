//! Logging into the gateway's `tracing` output, tagged with the plugin's name.

pub use crate::bindings::host::gateway::plugins::log::Level;

/// Logs `message` at `level`.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::log::{self, Level};
/// let host = FakeHost::new().install();
/// log::log(Level::Info, "connected");
/// assert_eq!(host.logs(), [(Level::Info, "connected".to_owned())]);
/// ```
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::host::gateway::plugins::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.record_log(level, message));
}

/// Logs at debug level.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::log::{self, Level};
/// let host = FakeHost::new().install();
/// log::debug("polled 3 items");
/// assert_eq!(host.logs_at(Level::Debug), ["polled 3 items"]);
/// ```
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::log::{self, Level};
/// let host = FakeHost::new().install();
/// log::info("started");
/// assert_eq!(host.logs_at(Level::Info), ["started"]);
/// ```
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::log::{self, Level};
/// let host = FakeHost::new().install();
/// log::warn("dropped 1 item");
/// assert_eq!(host.logs_at(Level::Warn), ["dropped 1 item"]);
/// ```
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::log::{self, Level};
/// let host = FakeHost::new().install();
/// log::error("upstream refused the key");
/// assert_eq!(host.logs_at(Level::Error), ["upstream refused the key"]);
/// ```
pub fn error(message: &str) {
    log(Level::Error, message);
}
