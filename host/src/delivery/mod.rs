//! Delivery: what source plugins produce (and `POST /api/events` accepts)
//! goes to exactly the sockets that should have it. One file per job:
//!
//! - [`index`]: who follows what — the only owner of subscriptions;
//! - [`prices`]: tick fan-out, conflation and parking of slow sockets;
//!   before it, the [`Owners`] table drops ticks from sources that do not
//!   own their symbol (a backup feed stands by while the primary produces);
//! - [`orders`]: per-user sequence, paced replay and the order gate of
//!   each socket;
//! - [`events`]: filtering through the event filter plugins, then delivery;
//! - [`outlet`]: one socket's send path and delivery state.
//!
//! Orders and events are *accepted* before they are delivered: sequenced
//! (orders) or recorded (event ids) durably, so a source's poller moves its
//! cursor only past what is accepted, and what was accepted before is not
//! delivered twice. A gateway alone keeps them in its [`Journal`] (the
//! embedded store); in cluster mode they go to an [`Uplink`] (the Redis
//! relay) and come back through the same functions on every node. The
//! cluster and the store depend on delivery, never the other way round.
//!
//! A socket that cannot take what must not be lost (an order notification,
//! a position update, an event) is [cut off](Delivery::cut_off): it gets
//! nothing more, its session ends, and its close is retried until the
//! socket can take it, so its client reconnects and resumes by sequence
//! number. Expired tokens, flooding clients and sockets that stay
//! congested past the slow-socket timeout are cut off the same way.

pub(crate) mod events;
pub(crate) mod index;
pub(crate) mod orders;
pub(crate) mod outlet;
pub(crate) mod pace;
pub(crate) mod prices;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use socketioxide::socket::Sid;

use crate::metrics::Metrics;
use crate::plugin::owners::{Claim, Holdings, Owners, Switch};
use crate::plugin::registry::Registry;
use crate::plugin::runner::{NotAccepted, SourceSink};
use crate::price_cache::PriceCache;
use crate::protocol::payloads::{Event, OrderBatch, Tick};
use crate::protocol::{ErrorCode, server};
use crate::socket::session::Session;
use index::{Index, OverCap, Subscriptions};
use orders::{Entry, Kept, Notification, Progress, Pruned};
use outlet::{Outlet, Sock};
use prices::{FLUSH_EVERY, Prices};

/// How often kept order notifications are pruned by age.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What a gateway without a cluster keeps durably.
pub(crate) trait Journal: Send + Sync {
    /// Sequences and keeps `items` in one durable step: the new entries in
    /// order (notifications kept before are left out) and what was pruned.
    fn append_orders(&self, items: &[Notification<'_>]) -> Result<(Vec<Entry>, Pruned), String>;
    /// What is kept of `user`'s notifications.
    fn read_orders(&self, user: &str) -> Result<Kept, String>;
    /// Drops notifications past their age; how many.
    fn prune_orders(&self) -> Result<u64, String>;
    /// Notifications kept, all users together.
    fn kept_orders(&self) -> Result<u64, String>;
    /// Records event ids as accepted; for each, whether it is new.
    fn accept_events(&self, ids: &[&str]) -> Result<Vec<bool>, String>;
}

/// Where a node sends source output when it is part of a cluster.
pub(crate) trait Uplink: Send + Sync {
    /// Publishes the ticks of price source `source` for every node.
    fn ticks(&self, source: &str, ticks: Vec<Tick>);
    /// Tells every node that price source `source` is silenced (its
    /// circuit opened).
    fn silenced(&self, source: &str);
    /// Sequences, keeps and publishes order notifications and position
    /// updates; resolves once the cluster has them.
    fn orders(&self, batch: OrderBatch) -> BoxFuture<'static, Result<(), String>>;
    /// Publishes events (dropping ids accepted before) for every node to
    /// filter and deliver; resolves once published.
    fn events(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), String>>;
    /// What the cluster keeps of `user`'s notifications.
    fn read_orders<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Kept, String>>;
}

/// Where source output is accepted.
pub(crate) enum Mode {
    /// This process only, kept in the embedded store.
    Local {
        /// The durable order log and event ids.
        journal: Arc<dyn Journal>,
        /// Sequencing and delivering one batch at a time keeps each user's
        /// notifications in `seq` order at the sockets.
        sequencing: Mutex<()>,
    },
    /// Through the cluster.
    Cluster {
        /// The relay to every node.
        uplink: Arc<dyn Uplink>,
    },
}

/// Why a socket was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CutOff {
    /// It could not take an order notification, position update or event.
    Undeliverable,
    /// Its buffer stayed full past the slow-socket timeout.
    TooSlow,
    /// Its token expired without a refresh.
    TokenExpired,
    /// It kept sending over its rate limit.
    Flooding,
    /// A notification reached this node after a gap in its user's `seq`
    /// (in cluster mode, pub/sub messages published while this node was
    /// resubscribing are lost); the client resumes with `lastOrderSeq`.
    SequenceGap,
}

impl Mode {
    /// A gateway on its own, keeping what it accepts in `journal`.
    pub(crate) fn local(journal: Arc<dyn Journal>) -> Self {
        Mode::Local {
            journal,
            sequencing: Mutex::new(()),
        }
    }
}

impl CutOff {
    /// Every reason, so that each has a series from the start.
    pub(crate) const ALL: [CutOff; 5] = [
        CutOff::Undeliverable,
        CutOff::TooSlow,
        CutOff::TokenExpired,
        CutOff::Flooding,
        CutOff::SequenceGap,
    ];

    /// The reason as the metrics label it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CutOff::Undeliverable => "undeliverable",
            CutOff::TooSlow => "too_slow",
            CutOff::TokenExpired => "token_expired",
            CutOff::Flooding => "flooding",
            CutOff::SequenceGap => "sequence_gap",
        }
    }
}

/// A socket cut off whose close is still to go out.
struct Closing {
    outlet: Arc<Outlet>,
    /// What its client is told first, until it is queued.
    notice: Option<serde_json::Value>,
}

impl Closing {
    /// Queues the notice (once) and the disconnect; whether it is done.
    fn attempt(&mut self) -> bool {
        let socket = &self.outlet.socket;
        if !socket.connected() {
            return true;
        }
        if let Some(notice) = &self.notice {
            if socket.emit(server::ERROR, notice).is_err() {
                return false;
            }
            self.notice = None;
        }
        socket.clone().disconnect().is_ok()
    }
}

/// Routes source output to sockets.
pub struct Delivery {
    me: Weak<Delivery>,
    index: Index<Arc<Outlet>>,
    prices: Prices<Arc<Outlet>>,
    /// Which price source owns each symbol.
    owners: Mutex<Owners>,
    plugins: Arc<Registry>,
    metrics: Arc<Metrics>,
    mode: Mode,
    /// Sockets whose paced replay waits for room.
    replays: Mutex<HashMap<Sid, Arc<Outlet>>>,
    /// Sockets cut off whose close could not be queued yet.
    closing: Mutex<HashMap<Sid, Closing>>,
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
    /// event filters of `plugins`; a price source is stale after
    /// `stale_intervals` of its intervals without a tick.
    pub(crate) fn new(
        market: Arc<PriceCache>,
        plugins: Arc<Registry>,
        metrics: Arc<Metrics>,
        slow_socket_timeout: Duration,
        stale_intervals: u32,
        mode: Mode,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            index: Index::default(),
            prices: Prices::new(market, metrics.clone(), slow_socket_timeout),
            owners: Mutex::new(Owners::new(stale_intervals)),
            plugins,
            metrics,
            mode,
            replays: Mutex::new(HashMap::new()),
            closing: Mutex::new(HashMap::new()),
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
        self.replays.lock().remove(&sid);
    }

    /// Cuts `outlet` off: it receives nothing more, its session ends (its
    /// connection slot is free, its events go unanswered), a notice for its
    /// client is queued when there is room, and its disconnect is retried
    /// until it goes out.
    pub(crate) fn cut_off(&self, outlet: &Arc<Outlet>, why: CutOff) {
        if !outlet.begin_closing() {
            return;
        }
        let sid = outlet.sid();
        tracing::warn!(socket = %sid, user = %outlet.session.user_id, reason = why.as_str(), "cutting a socket off");
        self.metrics.cut_off(why.as_str());
        self.remove(sid, &outlet.session);
        outlet.orders.lock().abandon_replay();
        let mut closing = Closing {
            outlet: outlet.clone(),
            notice: (why == CutOff::TokenExpired).then(|| {
                json!({
                    "code": ErrorCode::AuthExpired,
                    "message": "the token expired; reconnect with a new one",
                })
            }),
        };
        if !closing.attempt() {
            self.closing.lock().insert(sid, closing);
        }
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

    /// Makes `outlet` follow `symbols` (at most `max` in all), each at most
    /// one tick per `pace` when given; every symbol it now follows and the
    /// latest tick of each of `symbols`.
    pub(crate) fn subscribe_prices(
        &self,
        outlet: &Outlet,
        symbols: &[String],
        max: usize,
        pace: Option<std::time::Duration>,
    ) -> Result<(Vec<String>, Vec<Tick>), OverCap> {
        let all = self
            .index
            .subscribe_symbols(outlet.sid(), symbols, max, pace)?;
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

    /// Records and delivers the ticks of price source `source` whose
    /// symbols it owns (from this node's sources, or in cluster mode from
    /// the cluster, so every node decides on the same stream).
    pub(crate) fn publish_ticks(&self, source: &str, mut ticks: Vec<Tick>) {
        if ticks.is_empty() {
            return;
        }
        let switches = {
            let mut owners = self.owners.lock();
            let switches = owners.heard(
                source,
                ticks.iter().map(|t| t.symbol.as_str()),
                Instant::now(),
            );
            ticks.retain(|t| owners.delivers(source, &t.symbol));
            switches
        };
        self.switched(switches);
        self.prices.publish(&self.index, ticks);
    }

    /// Records that price source `source` is silenced (its circuit opened):
    /// its symbols pass to the next source claiming them.
    pub(crate) fn silence_source(&self, source: &str) {
        let switches = self.owners.lock().silence(source, Instant::now());
        self.switched(switches);
    }

    /// What price source `source` owns and stands by for, if it claims any.
    pub(crate) fn holdings(&self, source: &str) -> Option<Holdings> {
        self.owners.lock().holdings(source)
    }

    /// Logs and counts each switch of owner.
    fn switched(&self, switches: Vec<Switch>) {
        for s in switches {
            tracing::info!(
                symbol = %s.symbol,
                from = %s.from,
                to = %s.to,
                reason = %s.reason,
                "price source switch: {} now comes from {}",
                s.symbol,
                s.to
            );
            self.metrics.owner_switched(&s.symbol, s.reason.as_str());
        }
    }

    /// Sends a message that must not be lost; a socket that cannot take it
    /// is cut off, so its client reconnects and resumes.
    fn deliver_notification(&self, outlet: &Arc<Outlet>, event: &str, payload: &RawValue) {
        if outlet.is_closing() {
            return;
        }
        match outlet.send(event, payload) {
            Ok(()) => self.metrics.events_out(event, 1),
            Err(_) => {
                self.metrics.undelivered.inc();
                self.cut_off(outlet, CutOff::Undeliverable);
            }
        }
    }

    /// One round of the flusher: closes what is being cut off, continues
    /// paced replays, serves parked sockets, cuts off those too slow and
    /// reports how many stay parked.
    fn flush(&self) {
        let switches = self.owners.lock().check(Instant::now());
        self.switched(switches);
        self.closing.lock().retain(|_, closing| !closing.attempt());
        let replays: Vec<Arc<Outlet>> = self.replays.lock().values().cloned().collect();
        for outlet in replays {
            if self.pump_replay(&outlet) == Progress::Done {
                self.replays.lock().remove(&outlet.sid());
            }
        }
        for outlet in self.prices.flush(&self.index) {
            self.cut_off(&outlet, CutOff::TooSlow);
        }
        self.metrics.parked_sockets.set(self.prices.parked() as i64);
    }

    /// Starts the task that retries closes, paces replays and serves parked
    /// sockets, and (without a cluster) the one that prunes old notifications.
    pub(crate) fn spawn_background(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FLUSH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(delivery) = me.upgrade() else { return };
                delivery.flush();
            }
        });
        if !matches!(self.mode, Mode::Local { .. }) {
            return;
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_EVERY);
            loop {
                every.tick().await;
                let Some(delivery) = me.upgrade() else { return };
                let Mode::Local { journal, .. } = &delivery.mode else {
                    return;
                };
                let journal = journal.clone();
                let pruned = tokio::task::spawn_blocking(move || {
                    Ok::<_, String>((journal.prune_orders()?, journal.kept_orders()?))
                })
                .await;
                match pruned {
                    Ok(Ok((aged, kept))) => {
                        delivery.metrics.history_pruned("age", aged);
                        delivery.metrics.history_entries.set(kept as i64);
                    }
                    Ok(Err(e)) => tracing::warn!("pruning the order history failed: {e}"),
                    Err(_) => return,
                }
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
    fn ticks(&self, plugin: &str, mut ticks: Vec<Tick>) {
        let now = crate::time::now_ms();
        let before = ticks.len();
        let mut why = None;
        ticks.retain(|t| match t.refusal(now) {
            None => true,
            Some(reason) => {
                why.get_or_insert(reason);
                false
            }
        });
        if let Some(why) = why {
            tracing::warn!(
                plugin,
                refused = before - ticks.len(),
                "ticks refused: {why}"
            );
        }
        match &self.mode {
            Mode::Local { .. } => self.publish_ticks(plugin, ticks),
            Mode::Cluster { uplink } => uplink.ticks(plugin, ticks),
        }
    }

    fn claimed(&self, plugin: &str, claim: Claim) {
        let symbols = claim.symbols.clone();
        let switches = {
            let mut owners = self.owners.lock();
            let switches = owners.claim(plugin, claim, Instant::now());
            for symbol in &symbols {
                let claimants = owners.claimants(symbol);
                if claimants.len() > 1 {
                    tracing::info!(
                        symbol = %symbol,
                        owner = owners.owner(symbol).unwrap_or_default(),
                        claimants = %claimants.join(","),
                        "several price sources claim {symbol}; only its owner's ticks are delivered"
                    );
                }
            }
            switches
        };
        self.switched(switches);
    }

    fn released(&self, plugin: &str) {
        let switches = self.owners.lock().release(plugin, Instant::now());
        self.switched(switches);
    }

    fn silenced(&self, plugin: &str) {
        match &self.mode {
            Mode::Local { .. } => self.silence_source(plugin),
            Mode::Cluster { uplink } => uplink.silenced(plugin),
        }
    }

    fn orders(
        &self,
        plugin: &str,
        mut batch: OrderBatch,
    ) -> BoxFuture<'static, Result<(), NotAccepted>> {
        let dropped = batch.drop_unaddressed();
        if dropped > 0 {
            tracing::warn!(
                plugin,
                dropped,
                "order notifications without a user dropped"
            );
        }
        let me = self.me.clone();
        Box::pin(async move {
            match me.upgrade() {
                Some(delivery) => delivery.accept_orders(batch).await,
                None => Err(NotAccepted("the gateway is stopping".into())),
            }
        })
    }

    fn events(
        &self,
        plugin: &str,
        mut events: Vec<Event>,
    ) -> BoxFuture<'static, Result<(), NotAccepted>> {
        events.retain(|e| match e.refusal() {
            None => true,
            Some(why) => {
                tracing::warn!(plugin, event = %e.id, "event refused: {why}");
                false
            }
        });
        let me = self.me.clone();
        Box::pin(async move {
            match me.upgrade() {
                Some(delivery) => delivery.accept_events(events).await,
                None => Err(NotAccepted("the gateway is stopping".into())),
            }
        })
    }
}
