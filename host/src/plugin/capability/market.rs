//! `market`: read access to the gateway's price cache.

use super::wit::market::{Host, PricePoint};
use super::wit::types::Tick;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn latest(&mut self, symbol: String) -> Option<Tick> {
        let _span = tracing::info_span!("host.market.latest").entered();
        self.env.services.market.latest(&symbol).map(|t| Tick {
            symbol: t.symbol,
            bid: t.bid,
            ask: t.ask,
            timestamp: t.timestamp,
        })
    }

    fn symbols(&mut self) -> Vec<String> {
        let _span = tracing::info_span!("host.market.symbols").entered();
        self.env.services.market.symbols()
    }

    fn history(&mut self, symbol: String, since_ms: u64) -> Vec<PricePoint> {
        let _span = tracing::info_span!("host.market.history").entered();
        self.env
            .services
            .market
            .history(&symbol, since_ms)
            .into_iter()
            .map(|p| PricePoint {
                timestamp: p.timestamp,
                bid: p.bid,
                ask: p.ask,
            })
            .collect()
    }
}
