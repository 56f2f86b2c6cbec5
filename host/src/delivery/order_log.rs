//! The order log of a gateway without a cluster: every notification for a
//! user gets the next `seq` of that user (from 1, per gateway process) and
//! is kept for replay, bounded by a count and an age per user.
//!
//! Appending and the delivery that follows happen under one lock, so the
//! notifications of one user reach the order gates in `seq` order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use super::orders::{Entry, Kept};

#[derive(Default)]
struct UserLog {
    last_seq: u64,
    entries: VecDeque<(Instant, Entry)>,
}

/// Every user's sequence and kept notifications, in memory.
pub(crate) struct MemoryOrderLog {
    max_entries: usize,
    max_age: Duration,
    users: Mutex<HashMap<String, UserLog>>,
}

/// A value with `seq` first, then its own fields.
#[derive(Serialize)]
pub(crate) struct Sequenced<'a, T> {
    /// The user's sequence number.
    pub(crate) seq: u64,
    /// The notification.
    #[serde(flatten)]
    pub(crate) value: &'a T,
}

impl MemoryOrderLog {
    /// Keeps at most `max_entries` per user, none older than `max_age`.
    pub(crate) fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_age,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// Sequences `value` for `user`, keeps it, and calls `deliver` with it
    /// while no other append for that user can interleave.
    pub(crate) fn append<T: Serialize>(
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
            user: user.to_owned(),
            event,
            payload: Arc::from(raw),
        };
        log.entries.push_back((Instant::now(), entry.clone()));
        self.prune(log);
        deliver(&entry);
    }

    /// What is kept for `user`.
    pub(crate) fn read(&self, user: &str) -> Kept {
        let mut users = self.users.lock();
        let Some(log) = users.get_mut(user) else {
            return Kept::default();
        };
        self.prune(log);
        Kept {
            last_seq: log.last_seq,
            entries: log.entries.iter().map(|(_, e)| e.clone()).collect(),
        }
    }

    fn prune(&self, log: &mut UserLog) {
        while log.entries.len() > self.max_entries {
            log.entries.pop_front();
        }
        while log
            .entries
            .front()
            .is_some_and(|(at, _)| at.elapsed() > self.max_age)
        {
            log.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn append(log: &MemoryOrderLog, user: &str, id: u64) -> Entry {
        let mut got = None;
        log.append(user, "order:notification", &json!({ "orderId": id }), |e| {
            got = Some(e.clone())
        });
        got.unwrap()
    }

    #[test]
    fn sequences_per_user_with_seq_first() {
        let log = MemoryOrderLog::new(10, Duration::from_secs(60));
        for i in 0..3 {
            append(&log, "a", i);
        }
        let b = append(&log, "b", 7);
        assert_eq!((b.seq, b.user.as_str()), (1, "b"));
        assert_eq!(b.payload.get(), r#"{"seq":1,"orderId":7}"#);
        let v: Value = serde_json::from_str(b.payload.get()).unwrap();
        assert_eq!(v, json!({ "seq": 1, "orderId": 7 }));
        let a = log.read("a");
        assert_eq!(a.last_seq, 3);
        assert_eq!(
            a.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(log.read("nobody").last_seq, 0);
    }

    #[test]
    fn keeps_at_most_max_entries() {
        let log = MemoryOrderLog::new(2, Duration::from_secs(60));
        for i in 0..5 {
            append(&log, "a", i);
        }
        let kept = log.read("a");
        assert_eq!(
            kept.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [4, 5]
        );
        assert!(kept.truncated_after(1));
        assert!(!kept.truncated_after(3));
    }
}
