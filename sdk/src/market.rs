//! Read access to the gateway's price cache (chat responders only: the
//! other worlds do not import it, and the host refuses a plugin that tries).

use crate::{PricePoint, Tick};

/// The latest tick of `symbol`.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::{Tick, market};
/// let _host = FakeHost::new()
///     .tick(Tick { symbol: "EURUSD".into(), bid: 1.085, ask: 1.0852, timestamp: 10 })
///     .install();
/// assert_eq!(market::latest("EURUSD").map(|t| t.bid), Some(1.085));
/// assert_eq!(market::latest("GBPUSD"), None);
/// ```
pub fn latest(symbol: &str) -> Option<Tick> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::market::latest(symbol);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.latest(symbol));
}

/// Every symbol with a known price, sorted.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::{Tick, market};
/// let _host = FakeHost::new()
///     .tick(Tick { symbol: "USDJPY".into(), bid: 150.1, ask: 150.12, timestamp: 1 })
///     .tick(Tick { symbol: "EURUSD".into(), bid: 1.085, ask: 1.0852, timestamp: 1 })
///     .install();
/// assert_eq!(market::symbols(), ["EURUSD", "USDJPY"]);
/// ```
pub fn symbols() -> Vec<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::market::symbols();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.symbols());
}

/// Sampled prices of `symbol` since `since_ms`, oldest first.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::{Tick, market};
/// let tick = |bid, timestamp| Tick { symbol: "EURUSD".into(), bid, ask: bid + 0.0002, timestamp };
/// let _host = FakeHost::new().tick(tick(1.08, 1_000)).tick(tick(1.09, 2_000)).install();
/// let since = market::history("EURUSD", 1_500);
/// assert_eq!(since.len(), 1);
/// assert_eq!(since[0].bid, 1.09);
/// ```
pub fn history(symbol: &str, since_ms: u64) -> Vec<PricePoint> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::market::history(symbol, since_ms);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.history(symbol, since_ms));
}
