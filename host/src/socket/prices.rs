//! `subscribe:prices` / `unsubscribe:prices`: the symbols a socket follows
//! (each at an optional `maxRate`), the per-socket symbol cap, and
//! `prices:initial` from the price cache.

use std::sync::Arc;
use std::time::Duration;

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

/// Highest `maxRate` accepted, in updates per second.
const MAX_RATE: f64 = 1000.0;

/// `{ symbols: string[], maxRate?: number }`: `maxRate` caps the updates
/// per second per symbol (the latest tick, never a stale one).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Subscription {
    pub(super) symbols: Vec<String>,
    #[serde(default)]
    pub(super) max_rate: Option<f64>,
}

impl Subscription {
    /// The interval `maxRate` asks for.
    fn pace(&self) -> Option<Duration> {
        self.max_rate
            .map(|rate| Duration::from_secs_f64(1.0 / rate))
    }
}

impl Validate for Subscription {
    fn validate(&mut self) -> Result<(), Rejection> {
        if self
            .max_rate
            .is_some_and(|r| !(r.is_finite() && r > 0.0 && r <= MAX_RATE))
        {
            return Err(Rejection::invalid(format!(
                "`maxRate` must be a number of updates per second above 0 and at most {MAX_RATE}"
            )));
        }
        names("symbols", &mut self.symbols, "symbol", is_symbol)
    }
}

/// Follows the symbols and sends their latest known ticks.
pub(super) async fn subscribe(
    gateway: Arc<Gateway>,
    outlet: Arc<Outlet>,
    p: Subscription,
) -> Outcome {
    let max = gateway.config.max_symbols_per_socket;
    let (all, prices) = gateway
        .delivery
        .subscribe_prices(&outlet, &p.symbols, max, p.pace())
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
