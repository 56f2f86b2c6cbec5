//! Source output to every node: the node holding a source plugin's lease
//! publishes what the plugin produced on Redis pub/sub, and every node,
//! itself included, delivers it to its own sockets — so each socket gets
//! each message once, whichever node it is connected to.
//!
//! Channels (under the prefix): `ticks` (a JSON array of ticks), `orders`
//! (`seq|event|payload`, published by the history script) and `events`
//! (the raw event and its target users; each node runs the event filters
//! for its own subscribers). Messages published while a node's subscription
//! is down (Redis restarting) do not reach that node.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use futures_util::future::BoxFuture;

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
/// before it is given up (and logged as lost).
const PATIENCE: Duration = Duration::from_secs(30);

/// What goes out to the cluster.
enum Outgoing {
    Ticks(Vec<Tick>),
    Orders(OrderBatch),
    Events(Vec<Event>),
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

    fn send(&self, out: Outgoing, what: &str) {
        if let Err(e) = self.tx.try_send(out) {
            tracing::error!("cannot queue {what} for the cluster: {e}");
        }
    }
}

impl Uplink for Relay {
    fn ticks(&self, ticks: Vec<Tick>) {
        self.send(Outgoing::Ticks(ticks), "ticks");
    }

    fn orders(&self, batch: OrderBatch) {
        self.send(Outgoing::Orders(batch), "order notifications");
    }

    fn events(&self, events: Vec<Event>) {
        self.send(Outgoing::Events(events), "events");
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
    let (ticks, events) = (cluster.key("ticks"), cluster.key("events"));
    while let Some(out) = rx.recv().await {
        let mut conn = cluster.conn();
        let result = match out {
            Outgoing::Ticks(t) => match serde_json::to_string(&t) {
                Ok(json) => redis::cmd("PUBLISH")
                    .arg(&ticks)
                    .arg(json)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Outgoing::Orders(batch) => {
                let mut failed = Ok(());
                for o in &batch.orders {
                    let appended = patiently("an order notification", || {
                        history.append(&o.user_id, server::ORDER_NOTIFICATION, o)
                    });
                    if let Err(e) = appended.await {
                        tracing::error!(user = %o.user_id, order = %o.order_id, "order notification lost: {e}");
                        failed = Err(e.to_string());
                    }
                }
                for p in &batch.positions {
                    let appended = patiently("a position update", || {
                        history.append(&p.user_id, server::POSITION_UPDATE, p)
                    });
                    if let Err(e) = appended.await {
                        tracing::error!(user = %p.user_id, position = %p.position_id, "position update lost: {e}");
                        failed = Err(e.to_string());
                    }
                }
                failed
            }
            Outgoing::Events(list) => {
                let mut failed = Ok(());
                for event in list {
                    let targets = event.target_user_ids.clone();
                    let wire = WireEvent { event, targets };
                    let sent = match serde_json::to_string(&wire) {
                        Ok(json) => patiently("an event", || {
                            let mut conn = cluster.conn();
                            let publish = redis::cmd("PUBLISH").arg(&events).arg(&json).clone();
                            async move { publish.query_async::<()>(&mut conn).await }
                        })
                        .await
                        .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = sent {
                        tracing::error!(event = %wire.event.id, "event not published: {e}");
                        failed = Err(e);
                    }
                }
                failed
            }
        };
        if let Err(e) = result {
            tracing::warn!("publishing to the cluster failed: {e}");
        }
    }
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
        "ticks" => match serde_json::from_str::<Vec<Tick>>(payload) {
            Ok(ticks) => delivery.publish_ticks(ticks),
            Err(e) => tracing::warn!("unreadable ticks from the cluster: {e}"),
        },
        "orders" => match parse_published(payload) {
            Some(entry) => delivery.deliver_sequenced(&entry),
            None => tracing::warn!("unreadable order notification from the cluster"),
        },
        "events" => match serde_json::from_str::<WireEvent>(payload) {
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
