//! Price fan-out: each tick is recorded in the price cache, serialized once
//! and queued on the socket of every subscriber of its symbol.
//!
//! Congestion: a socket whose send buffer is full when a price update
//! arrives is *parked*. It gets no further updates in bulk; instead, every
//! [`FLUSH_EVERY`] the flusher offers it the latest tick of each of its
//! symbols (latest wins, nothing queues without bound), and unparks it once
//! they all fit. A socket parked longer than the slow-socket timeout is
//! disconnected.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use socketioxide::socket::Sid;

use super::index::Index;
use super::outlet::{Outlet, Refused};
use crate::metrics::Metrics;
use crate::price_cache::PriceCache;
use crate::protocol::payloads::Tick;
use crate::protocol::server;

/// How often parked sockets are retried.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(50);

struct Parked {
    outlet: Arc<Outlet>,
    since: Instant,
}

/// Price fan-out and the sockets it parked.
pub(crate) struct Prices {
    market: Arc<PriceCache>,
    metrics: Arc<Metrics>,
    parked: Mutex<HashMap<Sid, Parked>>,
    slow_socket_timeout: Duration,
}

impl Prices {
    /// Fan-out recording into `market`; a socket congested longer than
    /// `slow_socket_timeout` is disconnected.
    pub(crate) fn new(
        market: Arc<PriceCache>,
        metrics: Arc<Metrics>,
        slow_socket_timeout: Duration,
    ) -> Self {
        Self {
            market,
            metrics,
            parked: Mutex::new(HashMap::new()),
            slow_socket_timeout,
        }
    }

    /// The price cache.
    pub(crate) fn market(&self) -> &Arc<PriceCache> {
        &self.market
    }

    /// Records `ticks` and queues each on its subscribers' sockets.
    pub(crate) fn publish(&self, index: &Index<Arc<Outlet>>, ticks: Vec<Tick>) {
        for tick in ticks {
            if !self.market.record(&tick) {
                continue;
            }
            let Ok(raw) = serde_json::value::to_raw_value(&tick) else {
                continue;
            };
            let mut full = Vec::new();
            let mut sent = 0;
            index.for_each_symbol_subscriber(&tick.symbol, |outlet| {
                if outlet.is_parked() {
                    self.metrics.conflated.inc();
                    return;
                }
                match outlet.send(server::PRICE_UPDATE, &raw) {
                    Ok(()) => sent += 1,
                    Err(Refused::Full) => full.push(outlet.clone()),
                    Err(Refused::Closed) => {}
                }
            });
            self.metrics.price_updates_out.inc_by(sent);
            for outlet in full {
                self.metrics.conflated.inc();
                self.park(&outlet);
            }
        }
    }

    /// Stops bulk updates to `outlet` until the flusher finds it has room.
    pub(crate) fn park(&self, outlet: &Arc<Outlet>) {
        outlet.set_parked(true);
        self.parked
            .lock()
            .entry(outlet.sid())
            .or_insert_with(|| Parked {
                outlet: outlet.clone(),
                since: Instant::now(),
            });
    }

    /// Forgets a socket that went away.
    pub(crate) fn forget(&self, sid: Sid) {
        self.parked.lock().remove(&sid);
    }

    /// Sockets parked right now.
    pub(crate) fn parked(&self) -> usize {
        self.parked.lock().len()
    }

    /// Serves parked sockets: the latest tick of each of their symbols;
    /// unparks those where everything fit, disconnects those parked too long.
    pub(crate) fn flush(&self, index: &Index<Arc<Outlet>>) {
        let parked: Vec<(Arc<Outlet>, Instant)> = self
            .parked
            .lock()
            .values()
            .map(|p| (p.outlet.clone(), p.since))
            .collect();
        for (outlet, since) in parked {
            let sid = outlet.sid();
            let Some(subs) = index.subscriptions(sid) else {
                self.forget(sid);
                continue;
            };
            if since.elapsed() > self.slow_socket_timeout {
                tracing::warn!(socket = %sid, user = %outlet.session.user_id, "disconnecting a socket that stayed too slow");
                if outlet.socket.clone().disconnect().is_ok() {
                    self.forget(sid);
                }
                continue;
            }
            let mut drained = true;
            for symbol in &subs.symbols {
                let Some(tick) = self.market.latest(symbol) else {
                    continue;
                };
                let Ok(raw) = serde_json::value::to_raw_value(&tick) else {
                    continue;
                };
                if outlet.send(server::PRICE_UPDATE, &raw).is_err() {
                    drained = false;
                    break;
                }
                self.metrics.price_updates_out.inc();
            }
            if drained {
                outlet.set_parked(false);
                self.forget(sid);
            }
        }
    }
}
