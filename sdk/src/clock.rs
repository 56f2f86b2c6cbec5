//! The wall clock, through the host so tests can set it.

/// Milliseconds since the Unix epoch.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// let _host = FakeHost::new().time_ms(1_700_000_000_000).install();
/// assert_eq!(gateway_sdk::clock::now_ms(), 1_700_000_000_000);
/// ```
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::clock::now_ms();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.now_ms());
}
