//! Delivery: what source plugins produce (and `POST /api/events` accepts)
//! goes to exactly the sockets that should have it. One file per job:
//!
//! - [`index`]: who follows what — the only owner of subscriptions;
//! - [`prices`]: tick fan-out, conflation and parking of slow sockets;
//! - [`orders`]: per-user sequence, replay and the order gate of each
//!   socket, with [`order_log`] keeping them on a gateway without a cluster;
//! - [`events`]: filtering through the event filter plugins, then delivery;
//! - [`outlet`]: one socket's send path and delivery state.
//!
//! In cluster mode source output goes to an [`Uplink`] (the Redis relay)
//! instead, and comes back through the same functions on every node; the
//! cluster depends on delivery, never the other way round.

pub(crate) mod events;
pub(crate) mod index;
pub(crate) mod order_log;
pub(crate) mod orders;
pub(crate) mod outlet;
pub(crate) mod prices;

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::socket::Sid;

use crate::metrics::Metrics;
use crate::plugin::registry::Registry;
use crate::plugin::runner::SourceSink;
use crate::price_cache::PriceCache;
use crate::protocol::payloads::{Event, OrderBatch, Tick};
use crate::socket::session::Session;
use index::{Index, OverCap, Subscriptions};
use order_log::MemoryOrderLog;
use orders::Kept;
use outlet::{Outlet, Sock};
use prices::{FLUSH_EVERY, Prices};

/// Where a node sends source output when it is part of a cluster.
pub(crate) trait Uplink: Send + Sync {
    /// Publishes ticks for every node.
    fn ticks(&self, ticks: Vec<Tick>);
    /// Sequences, keeps and publishes order notifications and position updates.
    fn orders(&self, batch: OrderBatch);
    /// Publishes events for every node to filter and deliver.
    fn events(&self, events: Vec<Event>);
    /// What the cluster keeps of `user`'s notifications.
    fn read_orders<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Kept, String>>;
}

/// Where source output is sequenced and sent.
pub(crate) enum Mode {
    /// This process only: sequence and history in memory.
    Local {
        /// The order log.
        orders: MemoryOrderLog,
    },
    /// Through the cluster.
    Cluster {
        /// The relay to every node.
        uplink: Arc<dyn Uplink>,
    },
}

/// Routes source output to sockets.
pub struct Delivery {
    me: Weak<Delivery>,
    index: Index<Arc<Outlet>>,
    prices: Prices<Arc<Outlet>>,
    plugins: Arc<Registry>,
    metrics: Arc<Metrics>,
    mode: Mode,
}

/// One connection in `/api/connections`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionInfo {
    socket_id: String,
    user_id: String,
    transport: &'static str,
    connected_at: u64,
    subscriptions: SubscriptionInfo,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionInfo {
    symbols: Vec<String>,
    orders: bool,
    event_types: Vec<String>,
}

impl Delivery {
    /// Delivery recording ticks in `market` and filtering events with the
    /// event filters of `plugins`.
    pub(crate) fn new(
        market: Arc<PriceCache>,
        plugins: Arc<Registry>,
        metrics: Arc<Metrics>,
        slow_socket_timeout: Duration,
        mode: Mode,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            index: Index::default(),
            prices: Prices::new(market, metrics.clone(), slow_socket_timeout),
            plugins,
            metrics,
            mode,
        })
    }

    /// The price cache.
    pub fn market(&self) -> &Arc<PriceCache> {
        self.prices.market()
    }

    /// The outlet of an admitted socket, created the first time it is asked
    /// for (a client's first event may arrive before the connect handler
    /// runs); `None` once the socket closed.
    pub(crate) fn outlet(&self, socket: &Sock, session: &Arc<Session>) -> Option<Arc<Outlet>> {
        if let Some(outlet) = self.index.get(socket.id) {
            return Some(outlet);
        }
        self.index.get_or_add(socket.id, &session.user_id, || {
            (!session.is_closed()).then(|| Arc::new(Outlet::new(socket.clone(), session.clone())))
        })
    }

    /// Closes `session` and forgets its socket and all it followed.
    pub(crate) fn remove(&self, sid: Sid, session: &Session) {
        session.close();
        self.index.remove(sid);
        self.prices.forget(sid);
    }

    /// Every connection, oldest first, for the admin API.
    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        let mut all: Vec<ConnectionInfo> = self
            .index
            .all()
            .into_iter()
            .map(|(outlet, subs)| describe(&outlet, subs))
            .collect();
        all.sort_by_key(|c| c.connected_at);
        all
    }

    /// Every socket, for shutdown.
    pub(crate) fn sockets(&self) -> Vec<Sock> {
        self.index
            .all()
            .into_iter()
            .map(|(o, _)| o.socket.clone())
            .collect()
    }

    /// Sockets whose send buffer was full and has not drained yet.
    pub fn parked(&self) -> usize {
        self.prices.parked()
    }

    /// Makes `outlet` follow `symbols` (at most `max` in all); every
    /// symbol it now follows and the latest tick of each of `symbols`.
    pub(crate) fn subscribe_prices(
        &self,
        outlet: &Outlet,
        symbols: &[String],
        max: usize,
    ) -> Result<(Vec<String>, Vec<Tick>), OverCap> {
        let all = self.index.subscribe_symbols(outlet.sid(), symbols, max)?;
        let latest = symbols
            .iter()
            .filter_map(|s| self.market().latest(s))
            .collect();
        Ok((all, latest))
    }

    /// Stops `outlet` following `symbols`; the symbols it still follows.
    pub(crate) fn unsubscribe_prices(&self, outlet: &Outlet, symbols: &[String]) -> Vec<String> {
        self.index.unsubscribe_symbols(outlet.sid(), symbols)
    }

    /// Makes `outlet` receive events of `types` (at most `max` in all);
    /// every type it now follows.
    pub(crate) fn subscribe_events(
        &self,
        outlet: &Outlet,
        types: &[String],
        max: usize,
    ) -> Result<Vec<String>, OverCap> {
        self.index.subscribe_event_types(outlet.sid(), types, max)
    }

    /// Stops `outlet` receiving events of `types` (all when `None`); the
    /// types it still follows.
    pub(crate) fn unsubscribe_events(
        &self,
        outlet: &Outlet,
        types: Option<&[String]>,
    ) -> Vec<String> {
        self.index.unsubscribe_event_types(outlet.sid(), types)
    }

    /// Records and delivers ticks (from this node's sources, or in cluster
    /// mode from the cluster).
    pub(crate) fn publish_ticks(&self, ticks: Vec<Tick>) {
        self.prices.publish(&self.index, ticks);
    }

    /// Sends a message that must not be lost; a socket that cannot take it
    /// is disconnected so its client reconnects and resumes.
    fn deliver_notification(&self, outlet: &Arc<Outlet>, event: &str, payload: &RawValue) {
        match outlet.send(event, payload) {
            Ok(()) => self.metrics.events_out(event, 1),
            Err(e) => {
                self.metrics.undelivered.inc();
                tracing::warn!(
                    socket = %outlet.sid(),
                    user = %outlet.session.user_id,
                    event,
                    "socket cannot take a notification ({e:?}); disconnecting it"
                );
                self.prices.park(outlet);
                let _ = outlet.socket.clone().disconnect();
            }
        }
    }

    /// Starts the task that serves parked sockets.
    pub(crate) fn spawn_flusher(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FLUSH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(delivery) = me.upgrade() else { return };
                delivery.prices.flush(&delivery.index);
            }
        });
    }
}

fn describe(outlet: &Outlet, subs: Subscriptions) -> ConnectionInfo {
    let transport = match outlet.socket.transport_type() {
        socketioxide::TransportType::Websocket => "websocket",
        socketioxide::TransportType::Polling => "polling",
    };
    ConnectionInfo {
        socket_id: outlet.sid().to_string(),
        user_id: outlet.session.user_id.clone(),
        transport,
        connected_at: outlet.session.connected_at_ms,
        subscriptions: SubscriptionInfo {
            symbols: subs.symbols.into_iter().collect(),
            orders: subs.orders,
            event_types: subs.event_types.into_iter().collect(),
        },
    }
}

impl SourceSink for Delivery {
    fn ticks(&self, _plugin: &str, ticks: Vec<Tick>) {
        match &self.mode {
            Mode::Local { .. } => self.publish_ticks(ticks),
            Mode::Cluster { uplink } => uplink.ticks(ticks),
        }
    }

    fn orders(&self, _plugin: &str, batch: OrderBatch) {
        self.publish_orders(batch);
    }

    fn events(&self, _plugin: &str, events: Vec<Event>) {
        self.submit_events(events);
    }
}
