//! `subscribe:prices` / `unsubscribe:prices`: the symbols a socket follows,
//! the per-socket symbol cap, and `prices:initial` from the price cache.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, json};

use super::gate::Outcome;
use super::payload::{Validate, names};
use super::reply::Rejection;
use crate::app::Gateway;
use crate::delivery::index::OverCap;
use crate::delivery::outlet::Outlet;
use crate::protocol::{ErrorCode, is_symbol, server};

/// `{ symbols: string[] }`, non-empty, each a valid symbol.
#[derive(Debug, Deserialize)]
pub(super) struct Symbols {
    pub(super) symbols: Vec<String>,
}

impl Validate for Symbols {
    fn validate(&mut self) -> Result<(), Rejection> {
        names("symbols", &mut self.symbols, "symbol", is_symbol)
    }
}

/// Follows the symbols and sends their latest known ticks.
pub(super) async fn subscribe(gateway: Arc<Gateway>, outlet: Arc<Outlet>, p: Symbols) -> Outcome {
    let max = gateway.config.max_symbols_per_socket;
    let (all, prices) = gateway
        .delivery
        .subscribe_prices(&outlet, &p.symbols, max)
        .map_err(|OverCap { have }| {
            Rejection::new(
                ErrorCode::LimitExceeded,
                format!("at most {max} symbols per connection ({have} already subscribed)"),
            )
        })?;
    if outlet
        .socket
        .emit(server::PRICES_INITIAL, &json!({ "prices": prices }))
        .is_ok()
    {
        gateway.metrics.events_out(server::PRICES_INITIAL, 1);
    }
    let mut ack = Map::new();
    ack.insert("symbols".into(), json!(all));
    ack.insert("prices".into(), json!(prices));
    Ok(ack)
}

/// Stops following the symbols.
pub(super) async fn unsubscribe(gateway: Arc<Gateway>, outlet: Arc<Outlet>, p: Symbols) -> Outcome {
    let left = gateway.delivery.unsubscribe_prices(&outlet, &p.symbols);
    let mut ack = Map::new();
    ack.insert("symbols".into(), json!(left));
    Ok(ack)
}
