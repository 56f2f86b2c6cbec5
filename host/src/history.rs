//! Per-user sequencing and a bounded history of order notifications and
//! position updates, so a client that reconnects (or asks) receives what it
//! missed, in order.
//!
//! Every notification for a user gets the next `seq` of that user (from 1,
//! per gateway process) and is kept for replay, bounded by a count and an
//! age per user. Appending and delivering, and replaying and subscribing,
//! happen under one lock: a socket that subscribes while notifications
//! arrive gets each one exactly once, either replayed or live.
//!
//! In cluster mode the sequence and the history live in Redis
//! (`cluster::history`); the [`OrderGate`] of each socket then holds back
//! live notifications while a replay is read, so the socket still gets
//! each one once and in order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::value::RawValue;

/// One sequenced notification.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The user's sequence number.
    pub seq: u64,
    /// `order:notification` or `position:update`.
    pub event: &'static str,
    /// The payload, with `seq`, serialized once.
    pub payload: Arc<RawValue>,
    at: Instant,
}

impl Entry {
    /// An entry received now.
    pub fn new(seq: u64, event: &'static str, payload: Arc<RawValue>) -> Self {
        Self {
            seq,
            event,
            payload,
            at: Instant::now(),
        }
    }
}

/// One socket's live order notifications while a replay is being read
/// from the cluster's history.
#[derive(Debug, Default)]
pub struct OrderGate {
    /// A replay is in progress: live notifications wait in `held`.
    pub holding: bool,
    /// Live notifications that arrived during the replay.
    pub held: Vec<Entry>,
    /// The highest `seq` the socket has (live or replayed); live
    /// notifications at or below it are not sent again.
    pub floor: u64,
}

#[derive(Default)]
struct UserLog {
    last_seq: u64,
    entries: VecDeque<Entry>,
}

/// What a replay found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// Entries sent.
    pub replayed: usize,
    /// The user's latest `seq` (0 when none yet).
    pub latest_seq: u64,
    /// Some entries after `since` are no longer kept (or `since` is from
    /// before a restart): the client should refetch its state.
    pub truncated: bool,
}

/// The histories of every user.
pub struct OrderHistory {
    max_entries: usize,
    max_age: Duration,
    users: Mutex<HashMap<String, UserLog>>,
}

#[derive(Serialize)]
struct Sequenced<'a, T> {
    seq: u64,
    #[serde(flatten)]
    value: &'a T,
}

impl OrderHistory {
    /// Keeps at most `max_entries` per user, none older than `max_age`.
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_age,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Sequences `value` for `user`, keeps it, and calls `deliver` with it
    /// while no replay for that user can interleave.
    pub fn append<T: Serialize>(
        &self,
        user: &str,
        event: &'static str,
        value: &T,
        deliver: impl FnOnce(&Entry),
    ) {
        let mut users = self.users.lock();
        let log = users.entry(user.to_owned()).or_default();
        let seq = log.last_seq + 1;
        let Ok(raw) = serde_json::value::to_raw_value(&Sequenced { seq, value }) else {
            return;
        };
        log.last_seq = seq;
        let entry = Entry {
            seq,
            event,
            payload: Arc::from(raw),
            at: Instant::now(),
        };
        log.entries.push_back(entry.clone());
        self.prune(log);
        deliver(&entry);
    }

    /// Calls `send` with every kept entry of `user` after `since` (none when
    /// `since` is `None`), after `before` ran, all under the lock.
    pub fn replay(
        &self,
        user: &str,
        since: Option<u64>,
        before: impl FnOnce(),
        mut send: impl FnMut(&Entry),
    ) -> Replay {
        let mut users = self.users.lock();
        let log = users.entry(user.to_owned()).or_default();
        self.prune(log);
        before();
        let Some(since) = since else {
            return Replay {
                replayed: 0,
                latest_seq: log.last_seq,
                truncated: false,
            };
        };
        let oldest_kept = log.entries.front().map_or(log.last_seq + 1, |e| e.seq);
        let truncated = since > log.last_seq || since + 1 < oldest_kept;
        let mut replayed = 0;
        for e in log.entries.iter().filter(|e| e.seq > since) {
            send(e);
            replayed += 1;
        }
        Replay {
            replayed,
            latest_seq: log.last_seq,
            truncated,
        }
    }

    fn prune(&self, log: &mut UserLog) {
        while log.entries.len() > self.max_entries {
            log.entries.pop_front();
        }
        while log
            .entries
            .front()
            .is_some_and(|e| e.at.elapsed() > self.max_age)
        {
            log.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn seqs(h: &OrderHistory, user: &str, since: Option<u64>) -> (Vec<u64>, Replay) {
        let mut got = Vec::new();
        let r = h.replay(user, since, || {}, |e| got.push(e.seq));
        (got, r)
    }

    #[test]
    fn sequences_per_user_and_replays_in_order() {
        let h = OrderHistory::new(10, Duration::from_secs(60));
        for i in 0..3 {
            h.append("a", "order:notification", &json!({ "orderId": i }), |_| {});
        }
        let mut payload = None;
        h.append("b", "order:notification", &json!({ "orderId": "x" }), |e| {
            payload = Some(e.payload.clone())
        });
        let v: Value = serde_json::from_str(payload.unwrap().get()).unwrap();
        assert_eq!(v, json!({ "seq": 1, "orderId": "x" }));
        let (got, r) = seqs(&h, "a", Some(1));
        assert_eq!(got, [2, 3]);
        assert_eq!(
            r,
            Replay {
                replayed: 2,
                latest_seq: 3,
                truncated: false
            }
        );
        let (got, r) = seqs(&h, "a", None);
        assert!(got.is_empty() && r.latest_seq == 3);
    }

    #[test]
    fn bounded_history_reports_truncation() {
        let h = OrderHistory::new(2, Duration::from_secs(60));
        for i in 0..5 {
            h.append("a", "order:notification", &json!({ "orderId": i }), |_| {});
        }
        let (got, r) = seqs(&h, "a", Some(1));
        assert_eq!(got, [4, 5]);
        assert!(r.truncated, "seq 2 and 3 are gone");
        assert!(!seqs(&h, "a", Some(3)).1.truncated);
        assert!(
            seqs(&h, "a", Some(9)).1.truncated,
            "a seq from before a restart"
        );
    }
}
