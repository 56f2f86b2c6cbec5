//! Order notifications and position updates: sequenced per user (`seq`),
//! kept for replay, and delivered to the user's sockets that follow their
//! orders — each exactly once and in order, live or replayed.
//!
//! Each socket has an [`OrderGate`]. While a replay reads the kept
//! notifications, live ones wait in the gate; then the replay's entries go
//! out, followed by the waiting ones it did not cover. `floor` is the
//! highest `seq` the socket has, so nothing goes out twice. The same gate
//! serves both modes: here, notifications are sequenced by the local order
//! log and delivered under its lock; in cluster mode they are sequenced in
//! Redis and arrive over pub/sub in `seq` order.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::outlet::Outlet;
use super::{Delivery, Mode};
use crate::protocol::payloads::OrderBatch;
use crate::protocol::server;

/// One sequenced notification.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The user's sequence number.
    pub(crate) seq: u64,
    /// The user it belongs to.
    pub(crate) user: String,
    /// `order:notification` or `position:update`.
    pub(crate) event: &'static str,
    /// The payload with `seq`, serialized once.
    pub(crate) payload: Arc<RawValue>,
}

/// A user's latest `seq` and the notifications still kept, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept {
    /// The user's latest `seq` (0 when none yet).
    pub(crate) last_seq: u64,
    /// Kept entries.
    pub(crate) entries: Vec<Entry>,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replay {
    /// Entries sent.
    pub(crate) replayed: usize,
    /// The user's latest `seq` (0 when none yet).
    pub(crate) latest_seq: u64,
    /// Some entries after `since` are no longer kept (or `since` is ahead
    /// of the latest): the client should refetch its state.
    pub(crate) truncated: bool,
}

impl Kept {
    /// Whether a replay after `since` misses something: entries after it
    /// are gone, or `since` is ahead of the latest `seq`.
    pub(crate) fn truncated_after(&self, since: u64) -> bool {
        let oldest = self.entries.first().map_or(self.last_seq + 1, |e| e.seq);
        since > self.last_seq || since + 1 < oldest
    }
}

/// One socket's live notifications while a replay is read.
#[derive(Debug, Default)]
pub(crate) struct OrderGate {
    /// A replay is in progress: live notifications wait in `held`.
    holding: bool,
    /// Live notifications that arrived during the replay.
    held: Vec<Entry>,
    /// The highest `seq` the socket has (live or replayed).
    floor: u64,
}

impl Delivery {
    /// Sequences and delivers order notifications and position updates (in
    /// cluster mode: hands them to the cluster, which sequences them and
    /// brings them back to every node).
    pub(crate) fn publish_orders(&self, batch: OrderBatch) {
        let log = match &self.mode {
            Mode::Local { orders } => orders,
            Mode::Cluster { uplink } => return uplink.orders(batch),
        };
        for o in &batch.orders {
            log.append(&o.user_id, server::ORDER_NOTIFICATION, o, |e| {
                self.deliver_sequenced(e)
            });
        }
        for p in &batch.positions {
            log.append(&p.user_id, server::POSITION_UPDATE, p, |e| {
                self.deliver_sequenced(e)
            });
        }
    }

    /// Delivers a sequenced notification to its user's sockets on this
    /// node (held back on a socket while it replays). Entries of one user
    /// must arrive here in `seq` order.
    pub(crate) fn deliver_sequenced(&self, entry: &Entry) {
        for (outlet, follows) in self.index.user_sockets(&entry.user) {
            let mut gate = outlet.orders.lock();
            if gate.holding {
                gate.held.push(entry.clone());
            } else if follows && entry.seq > gate.floor {
                gate.floor = entry.seq;
                self.deliver_notification(&outlet, entry.event, &entry.payload);
            }
        }
    }

    /// Makes `outlet` follow its user's orders (when `subscribe`) and sends
    /// what it missed after `since`, with no gap or repeat against live
    /// notifications.
    pub(crate) async fn replay_orders(
        &self,
        outlet: &Arc<Outlet>,
        since: Option<u64>,
        subscribe: bool,
    ) -> Replay {
        let sid = outlet.sid();
        let user = outlet.session.user_id.clone();
        let _one_at_a_time = outlet.replaying.lock().await;
        let was_following = self.index.follows_orders(sid);
        outlet.orders.lock().holding = true;
        if subscribe {
            self.index.set_orders(sid, true);
        }
        let kept = match &self.mode {
            Mode::Local { orders } => Ok(orders.read(&user)),
            Mode::Cluster { uplink } => uplink.read_orders(&user).await,
        };
        let mut gate = outlet.orders.lock();
        gate.holding = false;
        let held = std::mem::take(&mut gate.held);
        let replay = match kept {
            Ok(kept) => {
                let mut replayed = 0;
                if let Some(since) = since {
                    for e in kept.entries.iter().filter(|e| e.seq > since) {
                        self.deliver_notification(outlet, e.event, &e.payload);
                        replayed += 1;
                    }
                }
                if since.is_some() || !was_following {
                    gate.floor = gate.floor.max(kept.last_seq);
                }
                Replay {
                    replayed,
                    latest_seq: kept.last_seq,
                    truncated: since.is_some_and(|s| kept.truncated_after(s)),
                }
            }
            Err(e) => {
                tracing::warn!(user, "replay failed: {e}");
                Replay {
                    replayed: 0,
                    latest_seq: 0,
                    truncated: since.is_some(),
                }
            }
        };
        if self.index.follows_orders(sid) {
            for e in held {
                if e.seq > gate.floor {
                    gate.floor = e.seq;
                    self.deliver_notification(outlet, e.event, &e.payload);
                }
            }
        }
        replay
    }

    /// Stops `outlet` following its user's orders.
    pub(crate) fn unsubscribe_orders(&self, outlet: &Outlet) {
        self.index.set_orders(outlet.sid(), false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(last_seq: u64, seqs: &[u64]) -> Kept {
        Kept {
            last_seq,
            entries: seqs
                .iter()
                .map(|&seq| Entry {
                    seq,
                    user: "a".into(),
                    event: server::ORDER_NOTIFICATION,
                    payload: Arc::from(RawValue::from_string("{}".into()).unwrap()),
                })
                .collect(),
        }
    }

    #[test]
    fn truncation_means_something_after_since_is_gone() {
        let k = kept(5, &[4, 5]);
        assert!(!k.truncated_after(3), "4 and 5 are kept");
        assert!(!k.truncated_after(5), "nothing after 5");
        assert!(k.truncated_after(2), "3 is gone");
        assert!(k.truncated_after(9), "a seq from before a restart");
        assert!(!kept(0, &[]).truncated_after(0));
        assert!(kept(3, &[]).truncated_after(1), "everything aged out");
    }
}
