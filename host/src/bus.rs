//! The bus between source plugins and sockets: it records ticks in the
//! price cache, serializes each value once, and delivers it to exactly the
//! sockets that should have it — price subscribers of a symbol, the
//! subscribed sockets of an order's own user, and the event subscribers
//! the filter plugins accept.
//!
//! Congestion: a socket whose send buffer is full when a price update
//! arrives is *parked*. It gets no further updates in bulk; instead, every
//! [`FLUSH_EVERY`] the flusher sends it the latest tick of each of its
//! symbols (latest wins, nothing queues without bound), and unparks it once
//! they all fit. A socket parked longer than the slow-socket timeout is
//! disconnected. An order notification or event that a socket cannot take
//! is never dropped silently: it is counted and logged and the socket is
//! disconnected, so the client reconnects and resubscribes.
//!
//! In cluster mode ([`Delivery::Cluster`]) what source plugins produce and
//! what `POST /api/events` receives goes to Redis first (`cluster::relay`);
//! the bus of every node then delivers it to its own sockets.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};

use crate::cluster::history::SharedHistory;
use crate::cluster::relay::Relay;
use crate::history::{Entry, OrderHistory, Replay};
use crate::market::PriceCache;
use crate::metrics::Metrics;
use crate::model::{Event, OrderBatch, Subscriber, Tick};
use crate::plugin::PluginKind;
use crate::plugin::registry::Registry;
use crate::plugin::runner::SourceSink;
use crate::socket::session::{ConnectionInfo, Session};

/// A socket of this gateway.
pub type Sock = SocketRef<LocalAdapter>;

/// How often parked sockets are retried.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// A connected socket and its session.
#[derive(Clone)]
pub struct Conn {
    /// The socket.
    pub socket: Sock,
    /// Its session.
    pub session: Arc<Session>,
}

type ConnMap = HashMap<Sid, Conn>;

/// Where source output is sequenced and sent.
pub enum Delivery {
    /// This process only: order history in memory, output to local sockets.
    Local(OrderHistory),
    /// Through the cluster: order history in Redis, output published for
    /// every node (this one included) to deliver.
    Cluster {
        /// The shared order history.
        history: Arc<SharedHistory>,
        /// The publisher.
        relay: Relay,
    },
}

/// The owner of an order notification or position update.
#[derive(serde::Deserialize)]
struct Owner {
    #[serde(rename = "userId")]
    user_id: String,
}

/// Routes plugin output to sockets.
pub struct Bus {
    me: Weak<Bus>,
    market: Arc<PriceCache>,
    plugins: Arc<Registry>,
    metrics: Arc<Metrics>,
    conns: RwLock<ConnMap>,
    by_symbol: RwLock<HashMap<String, ConnMap>>,
    by_user: RwLock<HashMap<String, ConnMap>>,
    parked: Mutex<HashMap<Sid, Instant>>,
    slow_socket_timeout: Duration,
    delivery: Delivery,
}

impl Bus {
    /// A bus over `market`, filtering events with the event filters of `plugins`.
    pub fn new(
        market: Arc<PriceCache>,
        plugins: Arc<Registry>,
        metrics: Arc<Metrics>,
        slow_socket_timeout: Duration,
        delivery: Delivery,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            market,
            plugins,
            metrics,
            conns: RwLock::new(HashMap::new()),
            by_symbol: RwLock::new(HashMap::new()),
            by_user: RwLock::new(HashMap::new()),
            parked: Mutex::new(HashMap::new()),
            slow_socket_timeout,
            delivery,
        })
    }

    /// The price cache.
    pub fn market(&self) -> &Arc<PriceCache> {
        &self.market
    }

    /// Registers a connected socket.
    pub fn add(&self, conn: Conn) {
        let sid = conn.socket.id;
        self.by_user
            .write()
            .entry(conn.session.user_id.clone())
            .or_default()
            .insert(sid, conn.clone());
        self.conns.write().insert(sid, conn);
    }

    /// Forgets a socket and all its subscriptions.
    pub fn remove(&self, sid: Sid) {
        let Some(conn) = self.conns.write().remove(&sid) else {
            return;
        };
        let symbols: Vec<String> = conn.session.symbols.lock().iter().cloned().collect();
        self.unsubscribe_prices(sid, &symbols);
        let mut users = self.by_user.write();
        if let Some(map) = users.get_mut(&conn.session.user_id) {
            map.remove(&sid);
            if map.is_empty() {
                users.remove(&conn.session.user_id);
            }
        }
        self.parked.lock().remove(&sid);
    }

    /// Adds `symbols` to the price subscriptions of `conn`.
    pub fn subscribe_prices(&self, conn: &Conn, symbols: &[String]) {
        let mut by_symbol = self.by_symbol.write();
        for s in symbols {
            by_symbol
                .entry(s.clone())
                .or_default()
                .insert(conn.socket.id, conn.clone());
        }
    }

    /// Removes `symbols` from the price subscriptions of socket `sid`.
    pub fn unsubscribe_prices(&self, sid: Sid, symbols: &[String]) {
        let mut by_symbol = self.by_symbol.write();
        for s in symbols {
            if let Some(map) = by_symbol.get_mut(s) {
                map.remove(&sid);
                if map.is_empty() {
                    by_symbol.remove(s);
                }
            }
        }
    }

    /// The latest known tick of each of `symbols` that has one.
    pub fn latest(&self, symbols: &[String]) -> Vec<Tick> {
        symbols
            .iter()
            .filter_map(|s| self.market.latest(s))
            .collect()
    }

    /// Every connection, for the admin API.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut all: Vec<ConnectionInfo> = self
            .conns
            .read()
            .values()
            .map(|c| {
                let transport = match c.socket.transport_type() {
                    socketioxide::TransportType::Websocket => "websocket",
                    socketioxide::TransportType::Polling => "polling",
                };
                c.session.describe(transport)
            })
            .collect();
        all.sort_by_key(|c| c.connected_at);
        all
    }

    /// Every socket, for shutdown.
    pub fn sockets(&self) -> Vec<Sock> {
        self.conns
            .read()
            .values()
            .map(|c| c.socket.clone())
            .collect()
    }

    /// Sockets with full send buffers right now.
    pub fn parked(&self) -> usize {
        self.parked.lock().len()
    }

    fn park(&self, sid: Sid) {
        self.parked.lock().entry(sid).or_insert_with(Instant::now);
    }

    /// Records and delivers ticks from a price source.
    pub fn publish_ticks(&self, ticks: Vec<Tick>) {
        for tick in ticks {
            if !self.market.record(&tick) {
                continue;
            }
            let Ok(raw) = serde_json::value::to_raw_value(&tick) else {
                continue;
            };
            let mut full = Vec::new();
            let mut sent = 0;
            {
                let by_symbol = self.by_symbol.read();
                let Some(subscribers) = by_symbol.get(&tick.symbol) else {
                    continue;
                };
                let parked = self.parked.lock();
                for conn in subscribers.values() {
                    if parked.contains_key(&conn.socket.id) {
                        self.metrics.conflated.inc();
                        continue;
                    }
                    match conn.socket.emit("price:update", &*raw) {
                        Ok(()) => sent += 1,
                        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                            full.push(conn.socket.id)
                        }
                        Err(_) => {}
                    }
                }
            }
            self.metrics.price_updates_out.inc_by(sent);
            for sid in full {
                self.metrics.conflated.inc();
                self.park(sid);
            }
        }
    }

    /// Delivers order notifications and position updates to their users
    /// (in cluster mode: sequences and publishes them for every node).
    pub fn publish_orders(&self, batch: OrderBatch) {
        let history = match &self.delivery {
            Delivery::Local(history) => history,
            Delivery::Cluster { relay, .. } => return relay.orders(batch),
        };
        for order in &batch.orders {
            self.to_user(history, &order.user_id, "order:notification", order);
        }
        for position in &batch.positions {
            self.to_user(history, &position.user_id, "position:update", position);
        }
    }

    fn to_user<T: Serialize>(
        &self,
        history: &OrderHistory,
        user: &str,
        event: &'static str,
        value: &T,
    ) {
        history.append(user, event, value, |entry| {
            let users = self.by_user.read();
            let Some(map) = users.get(user) else { return };
            for conn in map.values().filter(|c| c.session.wants_orders()) {
                self.deliver(conn, entry.event, &entry.payload);
            }
        });
    }

    /// Delivers a notification sequenced by the cluster to this node's
    /// sockets of its user (held back on a socket while it replays).
    pub fn deliver_shared(&self, entry: Entry) {
        let Ok(owner) = serde_json::from_str::<Owner>(entry.payload.get()) else {
            tracing::warn!(
                seq = entry.seq,
                "order notification without userId from the cluster"
            );
            return;
        };
        let conns: Vec<Conn> = self
            .by_user
            .read()
            .get(&owner.user_id)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for conn in conns {
            let mut gate = conn.session.order_gate.lock();
            if gate.holding {
                gate.held.push(entry.clone());
            } else if conn.session.wants_orders() && entry.seq > gate.floor {
                gate.floor = entry.seq;
                self.deliver(&conn, entry.event, &entry.payload);
            }
        }
    }

    /// Subscribes `conn` to its user's orders (when `subscribe`) and sends
    /// what it missed after `since`, with no gap or repeat against live
    /// notifications.
    pub async fn replay_orders(&self, conn: &Conn, since: Option<u64>, subscribe: bool) -> Replay {
        let session = &conn.session;
        let subscribe_now = || {
            if subscribe {
                session
                    .orders
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        };
        match &self.delivery {
            Delivery::Local(history) => {
                history.replay(&session.user_id, since, subscribe_now, |entry| {
                    self.deliver(conn, entry.event, &entry.payload)
                })
            }
            Delivery::Cluster { history, .. } => {
                self.replay_shared(conn, history, since, subscribe_now)
                    .await
            }
        }
    }

    /// [`Self::replay_orders`] from the cluster's history: live
    /// notifications wait at the socket's [`OrderGate`](crate::history::OrderGate) while the history
    /// is read, then those the replay did not cover follow, each once.
    async fn replay_shared(
        &self,
        conn: &Conn,
        history: &SharedHistory,
        since: Option<u64>,
        subscribe_now: impl FnOnce(),
    ) -> Replay {
        let session = &conn.session;
        let _one_at_a_time = session.replaying.lock().await;
        let was_subscribed = session.wants_orders();
        session.order_gate.lock().holding = true;
        subscribe_now();
        let kept = history.read(&session.user_id).await;
        let mut gate = session.order_gate.lock();
        gate.holding = false;
        let held = std::mem::take(&mut gate.held);
        let replay = match kept {
            Ok(kept) => {
                let oldest = kept.entries.first().map_or(kept.last_seq + 1, |e| e.seq);
                let mut replayed = 0;
                for e in kept
                    .entries
                    .iter()
                    .filter(|e| since.is_some_and(|s| e.seq > s))
                {
                    self.deliver(conn, e.event, &e.payload);
                    replayed += 1;
                }
                if since.is_some() || !was_subscribed {
                    gate.floor = gate.floor.max(kept.last_seq);
                }
                Replay {
                    replayed,
                    latest_seq: kept.last_seq,
                    truncated: since.is_some_and(|s| s > kept.last_seq || s + 1 < oldest),
                }
            }
            Err(e) => {
                tracing::warn!(user = %session.user_id, "replay failed: {e}");
                Replay {
                    replayed: 0,
                    latest_seq: 0,
                    truncated: since.is_some(),
                }
            }
        };
        if session.wants_orders() {
            for e in held {
                if e.seq > gate.floor {
                    gate.floor = e.seq;
                    self.deliver(conn, e.event, &e.payload);
                }
            }
        }
        replay
    }

    /// Sends a must-not-lose message; a socket that cannot take it is
    /// disconnected so its client reconnects and resubscribes.
    fn deliver(&self, conn: &Conn, event: &str, raw: &RawValue) {
        match conn.socket.emit(event, raw) {
            Ok(()) => self.metrics.events_out(event, 1),
            Err(e) => {
                self.metrics.undelivered.inc();
                tracing::warn!(
                    socket = %conn.socket.id,
                    user = %conn.session.user_id,
                    event,
                    "socket cannot take a notification ({e}); disconnecting it"
                );
                self.park(conn.socket.id);
                let _ = conn.socket.clone().disconnect();
            }
        }
    }

    /// Accepts an event for delivery: filtered and delivered in the
    /// background here, or (in cluster mode) published for every node.
    pub fn submit_event(&self, event: Event) {
        self.submit_events(vec![event]);
    }

    fn submit_events(&self, events: Vec<Event>) {
        if let Delivery::Cluster { relay, .. } = &self.delivery {
            return relay.events(events);
        }
        let Some(bus) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            for event in events {
                bus.publish_event(event).await;
            }
        });
    }

    /// Filters `event` through the event filter plugins and delivers it to
    /// this node's subscribers.
    pub async fn publish_event(&self, event: Event) {
        let candidates: Vec<Conn> = self
            .conns
            .read()
            .values()
            .filter(|c| c.session.event_types.lock().contains(&event.kind))
            .filter(|c| {
                event
                    .target_user_ids
                    .as_ref()
                    .is_none_or(|targets| targets.contains(&c.session.user_id))
            })
            .cloned()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let mut keep = vec![true; candidates.len()];
        for slot in self.plugins.of_kind(PluginKind::EventFilter) {
            let idx: Vec<usize> = (0..candidates.len()).filter(|&i| keep[i]).collect();
            if idx.is_empty() {
                break;
            }
            let subscribers: Vec<Subscriber> = idx
                .iter()
                .map(|&i| {
                    let s = &candidates[i].session;
                    Subscriber {
                        user_id: s.user_id.clone(),
                        socket_id: s.socket_id.clone(),
                        event_types: s.event_types.lock().iter().cloned().collect(),
                    }
                })
                .collect();
            let ev = event.clone();
            match slot
                .call(|v| async move { v.filter(&ev, &subscribers).await })
                .await
            {
                Ok(flags) => {
                    for (&i, ok) in idx.iter().zip(flags) {
                        keep[i] = ok;
                    }
                }
                Err(e) => {
                    tracing::warn!(plugin = slot.name(), event = %event.id, "event filter failed, skipped: {e}")
                }
            }
        }
        let Ok(raw) = serde_json::value::to_raw_value(&event) else {
            return;
        };
        for (conn, _) in candidates.iter().zip(keep).filter(|(_, k)| *k) {
            self.deliver(conn, "event:notification", &raw);
        }
    }

    /// Starts the task that serves parked sockets.
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FLUSH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(bus) = me.upgrade() else { return };
                bus.flush_parked();
            }
        })
    }

    fn flush_parked(&self) {
        let parked: Vec<(Sid, Instant)> =
            self.parked.lock().iter().map(|(s, t)| (*s, *t)).collect();
        for (sid, since) in parked {
            let Some(conn) = self.conns.read().get(&sid).cloned() else {
                self.parked.lock().remove(&sid);
                continue;
            };
            if since.elapsed() > self.slow_socket_timeout {
                tracing::warn!(socket = %sid, user = %conn.session.user_id, "disconnecting a socket that stayed too slow");
                if conn.socket.clone().disconnect().is_ok() {
                    self.parked.lock().remove(&sid);
                }
                continue;
            }
            let symbols: Vec<String> = conn.session.symbols.lock().iter().cloned().collect();
            let mut drained = true;
            for tick in self.latest(&symbols) {
                if conn.socket.emit("price:update", &tick).is_err() {
                    drained = false;
                    break;
                }
                self.metrics.price_updates_out.inc();
            }
            if drained {
                self.parked.lock().remove(&sid);
            }
        }
    }
}

impl SourceSink for Bus {
    fn ticks(&self, _plugin: &str, ticks: Vec<Tick>) {
        match &self.delivery {
            Delivery::Local(_) => self.publish_ticks(ticks),
            Delivery::Cluster { relay, .. } => relay.ticks(ticks),
        }
    }

    fn orders(&self, _plugin: &str, batch: OrderBatch) {
        self.publish_orders(batch);
    }

    fn events(&self, _plugin: &str, events: Vec<Event>) {
        self.submit_events(events);
    }
}
