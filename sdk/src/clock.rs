//! The wall clock, through the host so tests can set it.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::clock::now_ms();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.now_ms());
}
