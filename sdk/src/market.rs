//! Read access to the gateway's price cache (chat responders only: the
//! other worlds do not import it, and the host refuses a plugin that tries).

use crate::{PricePoint, Tick};

/// The latest tick of `symbol`.
pub fn latest(symbol: &str) -> Option<Tick> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::market::latest(symbol);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.latest(symbol));
}

/// Every symbol with a known price, sorted.
pub fn symbols() -> Vec<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::market::symbols();
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.symbols());
}

/// Sampled prices of `symbol` since `since_ms`, oldest first.
pub fn history(symbol: &str, since_ms: u64) -> Vec<PricePoint> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::market::history(symbol, since_ms);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.history(symbol, since_ms));
}
