//! Source output to every node: the node holding a source plugin's lease
//! publishes what the plugin produced on Redis pub/sub, and every node,
//! itself included, delivers it to its own sockets — so each socket gets
//! each message once, whichever node it is connected to.
//!
//! Channels (under the prefix): `ticks` (the name of the price source and
//! its ticks, or that it is silenced; every node decides from this one
//! stream which source owns each symbol, so all nodes agree), `orders`
//! (`seq|event|payload`, published by the history script) and `events`
//! (the raw event and its target users; each node runs the event filters
//! for its own subscribers). Messages published while a node's subscription
//! is down (Redis restarting) do not reach that node.
//!
//! Redis is inside the trust boundary (protect it with ACLs and TLS,
//! `rediss://`): only channels under this gateway's prefix are read, and
//! what arrives is parsed into its typed shape and held to the rules
//! applied to plugin output (symbol and event-type patterns, finite prices,
//! no ticks from the future), but a client able to publish there can still
//! send any user a well-formed notification.
//!
//! Order notifications and events resolve their [`Uplink`] call once Redis
//! has them (sequenced, or published with their id remembered), so a
//! poller's next poll, which stores its position, never moves past what
//! the cluster does not have; a batch Redis does not take within
//! [`PATIENCE`] is refused and polled again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use redis::Script;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::Cluster;
use super::order_log::{OrderLogError, SharedOrderLog, parse_published};
use crate::delivery::orders::Kept;
use crate::delivery::{Delivery, Uplink};
use crate::protocol::payloads::{Event, OrderBatch, Tick};
use crate::protocol::server;

/// Messages a publisher may have queued before new ones are dropped.
const QUEUE: usize = 4096;

/// How long a lost subscription waits before it reconnects.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// How long an order notification or event is retried while Redis fails
/// before its batch is refused (and polled again).
const PATIENCE: Duration = Duration::from_secs(30);

/// Publishes an event unless its id was accepted before: KEYS[1] the id's
/// key; ARGV channel, how long ids are remembered (ms), the event.
const PUBLISH_EVENT: &str = r"
if redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[2]) then
  redis.call('PUBLISH', ARGV[1], ARGV[3])
  return 1
end
return 0";

/// How long the cluster remembers an accepted event id.
const REMEMBER_EVENT: Duration = Duration::from_secs(3600);

/// Whether a batch was accepted.
type Accepted = oneshot::Sender<Result<(), String>>;

/// What goes out to the cluster.
enum Outgoing {
    Ticks(WireTicks),
    Orders(OrderBatch, Accepted),
    Events(Vec<Event>, Accepted),
}

/// A price source's output as it travels between nodes: its ticks, or
/// (with none) that its circuit opened.
#[derive(Serialize, Deserialize)]
struct WireTicks {
    source: String,
    ticks: Vec<Tick>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    silenced: bool,
}

/// An event as it travels between nodes: with its targets, which clients
/// never see.
#[derive(Serialize, Deserialize)]
struct WireEvent {
    event: Event,
    targets: Option<Vec<String>>,
}

/// Publishes source output to the cluster, in order, from one task; reads
/// the cluster's order log for replays.
pub(crate) struct Relay {
    tx: mpsc::Sender<Outgoing>,
    orders: Arc<SharedOrderLog>,
}

impl Relay {
    /// Starts the publishing task.
    pub(crate) fn start(cluster: Arc<Cluster>, orders: Arc<SharedOrderLog>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(publish(cluster, orders.clone(), rx));
        Self { tx, orders }
    }

    /// Queues `out`; `Err` when the queue is full or closed.
    fn send(&self, out: Outgoing) -> Result<(), String> {
        self.tx
            .try_send(out)
            .map_err(|e| format!("cannot queue for the cluster: {e}"))
    }

    /// Queues what `make` builds with an acceptance channel; resolves with
    /// the publisher's verdict.
    fn accepted(
        &self,
        make: impl FnOnce(Accepted) -> Outgoing,
    ) -> BoxFuture<'static, Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        let queued = self.send(make(tx));
        Box::pin(async move {
            queued?;
            rx.await
                .unwrap_or_else(|_| Err("the cluster publisher stopped".into()))
        })
    }
}

impl Uplink for Relay {
    fn ticks(&self, source: &str, ticks: Vec<Tick>) {
        let wire = WireTicks {
            source: source.to_owned(),
            ticks,
            silenced: false,
        };
        if let Err(e) = self.send(Outgoing::Ticks(wire)) {
            tracing::warn!("ticks dropped: {e}");
        }
    }

    fn silenced(&self, source: &str) {
        let wire = WireTicks {
            source: source.to_owned(),
            ticks: Vec::new(),
            silenced: true,
        };
        if let Err(e) = self.send(Outgoing::Ticks(wire)) {
            tracing::warn!("silenced source notice dropped: {e}");
        }
    }

    fn orders(&self, batch: OrderBatch) -> BoxFuture<'static, Result<(), String>> {
        self.accepted(|tx| Outgoing::Orders(batch, tx))
    }

    fn events(&self, events: Vec<Event>) -> BoxFuture<'static, Result<(), String>> {
        self.accepted(|tx| Outgoing::Events(events, tx))
    }

    fn read_orders<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Kept, String>> {
        Box::pin(async move { self.orders.read(user).await.map_err(|e| e.to_string()) })
    }
}

async fn publish(
    cluster: Arc<Cluster>,
    history: Arc<SharedOrderLog>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let ticks = cluster.key("ticks");
    let publish_event = Script::new(PUBLISH_EVENT);
    while let Some(out) = rx.recv().await {
        match out {
            Outgoing::Ticks(t) => {
                let mut conn = cluster.conn();
                let sent = match serde_json::to_string(&t) {
                    Ok(json) => redis::cmd("PUBLISH")
                        .arg(&ticks)
                        .arg(json)
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = sent {
                    tracing::warn!("publishing ticks to the cluster failed: {e}");
                }
            }
            Outgoing::Orders(batch, accepted) => {
                let _ = accepted.send(append_orders(&history, &batch).await);
            }
            Outgoing::Events(list, accepted) => {
                let _ = accepted.send(publish_events(&cluster, &publish_event, list).await);
            }
        }
    }
}

/// Sequences, keeps and publishes a batch in order; stops at the first
/// notification Redis would not take within [`PATIENCE`] (the batch is
/// polled again; appends are idempotent, so what went in is not repeated).
async fn append_orders(history: &SharedOrderLog, batch: &OrderBatch) -> Result<(), String> {
    for o in &batch.orders {
        patiently("an order notification", || {
            history.append(&o.user_id, server::ORDER_NOTIFICATION, o)
        })
        .await
        .map_err(|e| format!("order {} not sequenced: {e}", o.order_id))?;
    }
    for p in &batch.positions {
        patiently("a position update", || {
            history.append(&p.user_id, server::POSITION_UPDATE, p)
        })
        .await
        .map_err(|e| format!("position {} not sequenced: {e}", p.position_id))?;
    }
    Ok(())
}

/// Publishes each event whose id the cluster has not accepted before.
async fn publish_events(
    cluster: &Cluster,
    script: &Script,
    events: Vec<Event>,
) -> Result<(), String> {
    let channel = cluster.key("events");
    for event in events {
        let targets = event.target_user_ids.clone();
        let wire = WireEvent { event, targets };
        let json = serde_json::to_string(&wire).map_err(|e| e.to_string())?;
        let seen = cluster.key(&format!("event:{}", wire.event.id));
        patiently("an event", || async {
            let mut conn = cluster.conn();
            script
                .key(&seen)
                .arg(&channel)
                .arg(REMEMBER_EVENT.as_millis() as u64)
                .arg(&json)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map_err(|e| format!("event {} not published: {e}", wire.event.id))?;
    }
    Ok(())
}

/// An error worth retrying: Redis failed or did not answer.
trait Transient: std::fmt::Display {
    fn is_transient(&self) -> bool;
}

impl Transient for OrderLogError {
    fn is_transient(&self) -> bool {
        matches!(self, OrderLogError::Redis(_))
    }
}

impl Transient for redis::RedisError {
    fn is_transient(&self) -> bool {
        true
    }
}

/// Runs `attempt` (sending `what`) again while it fails with a transient
/// error, backing off from 100 ms to 2 s, for up to [`PATIENCE`]; later
/// messages wait, so their order holds. A retry after a lost answer does
/// not duplicate an order notification (appends are idempotent); an event
/// published twice is dropped the second time by the default event
/// filter, which remembers the ids it has passed.
async fn patiently<T, E, Fut>(what: &str, mut attempt: impl FnMut() -> Fut) -> Result<T, E>
where
    E: Transient,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if e.is_transient() && started.elapsed() + pause < PATIENCE => {
                tracing::warn!("sending {what} to the cluster failed, retrying in {pause:?}: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            done => return done,
        }
    }
}

/// Subscribes to the cluster's channels and hands what arrives to
/// `delivery`; returns once subscribed, then keeps (re)subscribing until
/// `delivery` is gone.
pub(crate) async fn listen(
    cluster: Arc<Cluster>,
    delivery: Weak<Delivery>,
) -> redis::RedisResult<()> {
    let first = subscribe(&cluster).await?;
    tokio::spawn(async move {
        let mut pubsub = Some(first);
        loop {
            let stream = match pubsub.take() {
                Some(p) => p,
                None => match subscribe(&cluster).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!("cannot resubscribe to the cluster: {e}");
                        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                        continue;
                    }
                },
            };
            let mut messages = stream.into_on_message();
            while let Some(msg) = messages.next().await {
                let Some(delivery) = delivery.upgrade() else {
                    return;
                };
                let channel = msg.get_channel_name().to_owned();
                let Ok(payload) = std::str::from_utf8(msg.get_payload_bytes()) else {
                    continue;
                };
                dispatch(&cluster, &delivery, &channel, payload);
            }
            if delivery.strong_count() == 0 {
                return;
            }
            tracing::warn!("cluster subscription lost; resubscribing");
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
        }
    });
    Ok(())
}

async fn subscribe(cluster: &Cluster) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = cluster.pubsub().await?;
    for name in ["ticks", "orders", "events"] {
        pubsub.subscribe(cluster.key(name)).await?;
    }
    Ok(pubsub)
}

fn dispatch(cluster: &Cluster, delivery: &Arc<Delivery>, channel: &str, payload: &str) {
    let Some(name) = channel
        .strip_prefix(&cluster.key(""))
        .filter(|n| !n.is_empty())
    else {
        return;
    };
    match name {
        "ticks" => match serde_json::from_str::<WireTicks>(payload) {
            Ok(WireTicks {
                source,
                silenced: true,
                ..
            }) => delivery.silence_source(&source),
            Ok(WireTicks {
                source, mut ticks, ..
            }) => {
                let now = crate::time::now_ms();
                ticks.retain(|t| t.refusal(now).is_none());
                delivery.publish_ticks(&source, ticks);
            }
            Err(e) => tracing::warn!("unreadable ticks from the cluster: {e}"),
        },
        "orders" => match parse_published(payload) {
            Some(entry) => delivery.deliver_sequenced(&entry),
            None => tracing::warn!("unreadable order notification from the cluster"),
        },
        "events" => match serde_json::from_str::<WireEvent>(payload) {
            Ok(WireEvent { event, .. }) if let Some(why) = event.refusal() => {
                tracing::warn!(event = %event.id, "event from the cluster refused: {why}");
            }
            Ok(WireEvent { mut event, targets }) => {
                event.target_user_ids = targets;
                let delivery = delivery.clone();
                tokio::spawn(async move { delivery.publish_event(event).await });
            }
            Err(e) => tracing::warn!("unreadable event from the cluster: {e}"),
        },
        _ => {}
    }
}
