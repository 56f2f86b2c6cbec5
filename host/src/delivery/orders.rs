//! Order notifications and position updates: sequenced per user (`seq`),
//! kept for replay, and delivered to the user's sockets that follow their
//! orders — each exactly once and in order, live or replayed.
//!
//! Each socket has an [`OrderGate`]. While a replay is in progress, live
//! notifications wait in the gate; the replay's entries go out first, then
//! the waiting ones it did not cover. `floor` is the highest `seq` the
//! socket has, so nothing goes out twice. A replay is paced to the socket:
//! it sends what fits, and the flusher sends the rest as the socket's buffer
//! drains; the `orders:replay` ack comes once all of it is queued.
//!
//! A socket that cannot take a live notification is cut off (see
//! [`Delivery::cut_off`]): it receives nothing more, so it never sees a
//! later notification after a gap, and its client resumes with
//! `auth.lastOrderSeq`. So is a socket to which a notification arrives
//! after a gap in its user's `seq` (in cluster mode, what Redis published
//! while this node was resubscribing never arrives here). The same gate serves both modes: here notifications
//! are sequenced by the [`Journal`](super::Journal) and delivered under one
//! lock; in cluster mode they are sequenced in Redis and arrive over
//! pub/sub in `seq` order.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::outlet::{Outlet, Refused};
use super::{CutOff, Delivery, Mode, NotAccepted};
use crate::protocol::payloads::OrderBatch;
use crate::protocol::server;

/// Live notifications a replaying socket may hold back before it is cut off.
const MAX_HELD: usize = 10_000;

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

/// A notification to sequence: its user, event and JSON body (an object).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Notification<'a> {
    /// The user it belongs to.
    pub(crate) user: &'a str,
    /// `order:notification` or `position:update`.
    pub(crate) event: &'static str,
    /// The body, without `seq`.
    pub(crate) body: &'a str,
}

/// Entries an append pruned to stay within its bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Over the per-user bound.
    pub(crate) size: u64,
    /// Over the total bound.
    pub(crate) budget: u64,
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

/// One socket's replay in progress and the live notifications it holds back.
#[derive(Debug, Default)]
pub(crate) struct OrderGate {
    /// A replay is in progress: live notifications wait in `held`.
    holding: bool,
    /// Live notifications that arrived during the replay.
    held: Vec<Entry>,
    /// The highest `seq` the socket has (live or replayed).
    floor: u64,
    /// Whether `floor` is the user's `seq` as of the socket's subscription
    /// or a notification since, so that a jump past `floor + 1` is a gap.
    floor_known: bool,
    /// Entries still to send, each marked whether it is a replayed one.
    pending: VecDeque<(Entry, bool)>,
    /// Replayed entries sent so far.
    replayed: usize,
    /// Told how many were replayed once the replay is done.
    done: Option<oneshot::Sender<usize>>,
}

/// What a live notification is to a socket's [`OrderGate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit {
    /// The next one (or the first the socket can judge): send it.
    Next,
    /// The socket has it already (replayed, or delivered before).
    Had,
    /// The socket lacks the notifications of this range before it.
    Gap(std::ops::Range<u64>),
}

/// Whether a replay finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Everything is queued (or the socket is gone).
    Done,
    /// The socket's buffer is full; the flusher continues later.
    Waiting,
}

impl OrderGate {
    /// Judges live notification `seq` and, when it is the next, counts it
    /// as the socket's.
    pub(crate) fn admit(&mut self, seq: u64) -> Admit {
        if seq <= self.floor {
            return Admit::Had;
        }
        if self.floor_known && seq > self.floor + 1 {
            return Admit::Gap(self.floor + 1..seq);
        }
        self.floor = seq;
        self.floor_known = true;
        Admit::Next
    }

    /// Sets the floor to the user's latest `seq` as read from the history
    /// when the socket starts following (or resumes).
    fn start_at(&mut self, latest: u64) {
        self.floor = self.floor.max(latest);
        self.floor_known = true;
    }

    /// Queues the live notifications held back during the replay, judged
    /// like any live one (`follows`: whether the socket still follows its
    /// user's orders); stops at a gap and returns its range, since what
    /// comes after must not reach the socket without what is missing.
    fn release_held(&mut self, follows: bool) -> Result<(), std::ops::Range<u64>> {
        let held = std::mem::take(&mut self.held);
        if !follows {
            return Ok(());
        }
        for entry in held {
            match self.admit(entry.seq) {
                Admit::Next => self.pending.push_back((entry, false)),
                Admit::Had => {}
                Admit::Gap(missed) => return Err(missed),
            }
        }
        Ok(())
    }

    /// Whether a replay is in progress.
    pub(crate) fn is_replaying(&self) -> bool {
        self.holding
    }

    /// Drops a replay in progress (the socket is cut off); its waiter wakes.
    pub(crate) fn abandon_replay(&mut self) {
        self.holding = false;
        self.held.clear();
        self.pending.clear();
        self.done = None;
    }
}

impl Delivery {
    /// Sequences order notifications and position updates durably, then
    /// delivers them (in cluster mode: once the cluster has sequenced them;
    /// every node then delivers to its own sockets). A notification
    /// sequenced before (the same batch polled again) is not delivered
    /// again.
    pub(crate) async fn accept_orders(
        self: Arc<Self>,
        batch: OrderBatch,
    ) -> Result<(), NotAccepted> {
        if let Mode::Cluster { uplink } = &self.mode {
            return uplink.orders(batch).await.map_err(NotAccepted);
        }
        tokio::task::spawn_blocking(move || self.sequence_here(&batch))
            .await
            .map_err(|e| NotAccepted(format!("sequencing stopped: {e}")))?
    }

    fn sequence_here(&self, batch: &OrderBatch) -> Result<(), NotAccepted> {
        let Mode::Local {
            journal,
            sequencing,
        } = &self.mode
        else {
            return Ok(());
        };
        let bodies: Vec<(&str, &'static str, String)> = batch
            .orders
            .iter()
            .map(|o| {
                (
                    o.user_id.as_str(),
                    server::ORDER_NOTIFICATION,
                    serde_json::to_string(o),
                )
            })
            .chain(batch.positions.iter().map(|p| {
                (
                    p.user_id.as_str(),
                    server::POSITION_UPDATE,
                    serde_json::to_string(p),
                )
            }))
            .map(|(user, event, body)| body.map(|b| (user, event, b)))
            .collect::<Result<_, _>>()
            .map_err(|e| NotAccepted(format!("notification not serializable: {e}")))?;
        let items: Vec<_> = bodies
            .iter()
            .map(|(user, event, body)| Notification { user, event, body })
            .collect();
        let _in_order = sequencing.lock();
        let (entries, pruned) = journal.append_orders(&items).map_err(NotAccepted)?;
        self.metrics.history_pruned("size", pruned.size);
        self.metrics.history_pruned("budget", pruned.budget);
        for entry in &entries {
            self.deliver_sequenced(entry);
        }
        Ok(())
    }

    /// Delivers a sequenced notification to its user's sockets on this
    /// node (held back on a socket while it replays). Entries of one user
    /// must arrive here in `seq` order.
    pub(crate) fn deliver_sequenced(&self, entry: &Entry) {
        for (outlet, follows) in self.index.user_sockets(&entry.user) {
            let mut gate = outlet.orders.lock();
            if gate.holding {
                if gate.held.len() >= MAX_HELD {
                    drop(gate);
                    self.cut_off(&outlet, CutOff::Undeliverable);
                    continue;
                }
                gate.held.push(entry.clone());
            } else if follows {
                match gate.admit(entry.seq) {
                    Admit::Next => {
                        drop(gate);
                        self.deliver_notification(&outlet, entry.event, &entry.payload);
                    }
                    Admit::Had => {}
                    Admit::Gap(missed) => {
                        drop(gate);
                        tracing::warn!(
                            socket = %outlet.sid(),
                            user = %entry.user,
                            "notifications {missed:?} never reached this node; the socket resumes from {}",
                            missed.start - 1
                        );
                        self.cut_off(&outlet, CutOff::SequenceGap);
                    }
                }
            }
        }
    }

    /// Makes `outlet` follow its user's orders (when `subscribe`) and sends
    /// what it missed after `since`, paced to its buffer, with no gap or
    /// repeat against live notifications; returns once all of it is queued.
    pub(crate) async fn replay_orders(
        self: &Arc<Self>,
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
            Mode::Local { journal, .. } => {
                let journal = journal.clone();
                let u = user.clone();
                tokio::task::spawn_blocking(move || journal.read_orders(&u))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
            }
            Mode::Cluster { uplink } => uplink.read_orders(&user).await,
        };
        let (mut replay, done) = {
            let mut gate = outlet.orders.lock();
            let replay = match kept {
                Ok(kept) => {
                    let truncated = since.is_some_and(|s| kept.truncated_after(s));
                    if since.is_some() || !was_following {
                        gate.start_at(kept.last_seq);
                    }
                    if let Some(since) = since {
                        let after = kept.entries.into_iter().filter(|e| e.seq > since);
                        gate.pending.extend(after.map(|e| (e, true)));
                    }
                    Replay {
                        replayed: 0,
                        latest_seq: kept.last_seq,
                        truncated,
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
            let (tx, rx) = oneshot::channel();
            gate.replayed = 0;
            gate.done = Some(tx);
            (replay, rx)
        };
        if self.pump_replay(outlet) == Progress::Waiting {
            self.prices.park(outlet);
            self.replays.lock().insert(sid, outlet.clone());
        }
        replay.replayed = done.await.unwrap_or(0);
        replay
    }

    /// Sends what fits of `outlet`'s replay and, once it is through, the
    /// live notifications it held back (those the replay did not cover).
    pub(crate) fn pump_replay(&self, outlet: &Arc<Outlet>) -> Progress {
        if outlet.is_closing() {
            outlet.orders.lock().done = None;
            return Progress::Done;
        }
        let follows = self.index.follows_orders(outlet.sid());
        let mut gate = outlet.orders.lock();
        loop {
            if gate.pending.is_empty() {
                if let Err(missed) = gate.release_held(follows) {
                    drop(gate);
                    tracing::warn!(
                        socket = %outlet.sid(),
                        user = %outlet.session.user_id,
                        "notifications {missed:?} never reached this node during a replay; the socket resumes from {}",
                        missed.start - 1
                    );
                    self.cut_off(outlet, CutOff::SequenceGap);
                    return Progress::Done;
                }
                if gate.pending.is_empty() {
                    gate.holding = false;
                    if let Some(done) = gate.done.take() {
                        let _ = done.send(gate.replayed);
                    }
                    return Progress::Done;
                }
            }
            let Some((event, payload, replayed)) = gate
                .pending
                .front()
                .map(|(e, r)| (e.event, e.payload.clone(), *r))
            else {
                continue;
            };
            match outlet.send(event, &payload) {
                Ok(()) => {
                    self.metrics.events_out(event, 1);
                    if replayed {
                        gate.replayed += 1;
                    }
                    gate.pending.pop_front();
                }
                Err(Refused::Full) => return Progress::Waiting,
                Err(Refused::Closed) => {
                    gate.done = None;
                    return Progress::Done;
                }
            }
        }
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

    #[test]
    fn a_socket_takes_each_next_notification_once() {
        let mut gate = OrderGate::default();
        gate.start_at(4);
        assert_eq!(gate.admit(4), Admit::Had, "sequenced before it followed");
        assert_eq!(gate.admit(5), Admit::Next);
        assert_eq!(gate.admit(5), Admit::Had);
        assert_eq!(gate.admit(6), Admit::Next);
    }

    #[test]
    fn a_notification_after_a_gap_is_a_gap_and_changes_nothing() {
        let mut gate = OrderGate::default();
        gate.start_at(4);
        assert_eq!(gate.admit(5), Admit::Next);
        assert_eq!(gate.admit(8), Admit::Gap(6..8));
        assert_eq!(gate.admit(6), Admit::Next, "the floor stayed at 5");
    }

    #[test]
    fn a_socket_that_could_not_read_its_history_judges_from_its_first_notification() {
        let mut gate = OrderGate::default();
        assert_eq!(gate.admit(17), Admit::Next);
        assert_eq!(gate.admit(19), Admit::Gap(18..19));
    }

    fn live(seqs: &[u64]) -> Vec<Entry> {
        kept(0, seqs).entries
    }

    fn pending(gate: &OrderGate) -> Vec<u64> {
        gate.pending.iter().map(|(e, _)| e.seq).collect()
    }

    #[test]
    fn notifications_held_during_a_replay_follow_it_without_repeats() {
        let mut gate = OrderGate::default();
        gate.start_at(6);
        gate.held = live(&[5, 6, 7, 8]);
        assert_eq!(gate.release_held(true), Ok(()));
        assert_eq!(pending(&gate), [7, 8], "5 and 6 were in the replay");
        assert_eq!(gate.admit(9), Admit::Next);
    }

    #[test]
    fn a_gap_among_the_held_notifications_stops_them_there() {
        let mut gate = OrderGate::default();
        gate.start_at(6);
        gate.held = live(&[7, 9, 10]);
        assert_eq!(gate.release_held(true), Err(8..9));
        assert_eq!(pending(&gate), [7], "nothing after the gap is queued");
    }

    #[test]
    fn a_socket_that_stopped_following_releases_nothing() {
        let mut gate = OrderGate::default();
        gate.start_at(6);
        gate.held = live(&[7]);
        assert_eq!(gate.release_held(false), Ok(()));
        assert!(gate.pending.is_empty() && gate.held.is_empty());
    }

    #[test]
    fn a_first_follower_of_a_new_user_expects_seq_1() {
        let mut gate = OrderGate::default();
        gate.start_at(0);
        assert_eq!(gate.admit(2), Admit::Gap(1..2));
        assert_eq!(gate.admit(1), Admit::Next);
    }
}
