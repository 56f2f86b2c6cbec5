//! The cluster's order log: sequence numbers and replay history kept in
//! Redis, so that every node agrees on a user's `seq` and can replay what
//! the user missed, whichever node produced it.
//!
//! One script appends a notification atomically: it increments the user's
//! counter (`PREFIX:seq:USER`, never expires), stores `seq|ms|event|payload`
//! at the end of the user's capped list (`PREFIX:history:USER`, expiring
//! `ORDER_HISTORY_SECS` after its last append) and publishes `seq|event|payload`
//! on the orders channel. Publishing inside the script makes the channel's
//! order the `seq` order.
//!
//! Appending is idempotent, so a caller may retry after an error or a
//! timeout (the script may have run even though no answer came back): the
//! script remembers the SHA-256 of each appended notification for the
//! history's age (`PREFIX:seen:USER:HASH`) and answers a repeat with the
//! `seq` it got the first time, appending nothing.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::Cluster;
use crate::delivery::orders::{Entry, Kept};
use crate::protocol::server;

/// Sequences, keeps and publishes one notification.
const APPEND: &str = r#"
local seen = redis.call('GET', KEYS[3])
if seen then
  return tonumber(seen)
end
local seq = redis.call('INCR', KEYS[1])
local body = ARGV[2]
local payload
if body == '{}' then
  payload = '{"seq":' .. seq .. '}'
else
  payload = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
end
redis.call('RPUSH', KEYS[2], seq .. '|' .. ARGV[3] .. '|' .. ARGV[1] .. '|' .. payload)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[6], seq .. '|' .. ARGV[1] .. '|' .. payload)
redis.call('SET', KEYS[3], seq, 'PX', ARGV[5])
return seq"#;

/// The user's latest seq and kept entries, read together.
const READ: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
return { last, redis.call('LRANGE', KEYS[2], 0, -1) }";

/// Why an order log operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OrderLogError {
    /// Redis failed or did not answer.
    #[error("order history unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// A value could not be serialized.
    #[error("order notification not serializable: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The cluster's order log.
pub(crate) struct SharedOrderLog {
    cluster: Arc<Cluster>,
    max_entries: usize,
    max_age: Duration,
    append: Script,
    read: Script,
}

impl SharedOrderLog {
    /// Keeps at most `max_entries` per user, none older than `max_age`.
    pub(crate) fn new(cluster: Arc<Cluster>, max_entries: usize, max_age: Duration) -> Self {
        Self {
            cluster,
            max_entries: max_entries.max(1),
            max_age,
            append: Script::new(APPEND),
            read: Script::new(READ),
        }
    }

    /// The channel notifications are published on.
    pub(crate) fn channel(&self) -> String {
        self.cluster.key("orders")
    }

    /// Sequences `value` for `user`, keeps it and publishes it to every
    /// node; the same `event` and `value` again within the history's age
    /// get the first `seq` back and change nothing.
    pub(crate) async fn append<T: Serialize>(
        &self,
        user: &str,
        event: &'static str,
        value: &T,
    ) -> Result<u64, OrderLogError> {
        let body = serde_json::to_string(value)?;
        let digest = hex::encode(Sha256::digest(format!("{event}|{body}")));
        let mut conn = self.cluster.conn();
        let seq: u64 = self
            .append
            .key(self.cluster.key(&format!("seq:{user}")))
            .key(self.cluster.key(&format!("history:{user}")))
            .key(self.cluster.key(&format!("seen:{user}:{digest}")))
            .arg(event)
            .arg(body)
            .arg(crate::time::now_ms())
            .arg(self.max_entries)
            .arg(self.max_age.as_millis().max(1) as u64)
            .arg(self.channel())
            .invoke_async(&mut conn)
            .await?;
        Ok(seq)
    }

    /// What is kept for `user`.
    pub(crate) async fn read(&self, user: &str) -> Result<Kept, OrderLogError> {
        let mut conn = self.cluster.conn();
        let (last_seq, raw): (u64, Vec<String>) = self
            .read
            .key(self.cluster.key(&format!("seq:{user}")))
            .key(self.cluster.key(&format!("history:{user}")))
            .invoke_async(&mut conn)
            .await?;
        let oldest_ms = crate::time::now_ms().saturating_sub(self.max_age.as_millis() as u64);
        let entries = raw
            .iter()
            .filter_map(|line| {
                let (seq, rest) = line.split_once('|')?;
                let (ms, rest) = rest.split_once('|')?;
                if ms.parse::<u64>().ok()? < oldest_ms {
                    return None;
                }
                parse_entry(seq, rest, user)
            })
            .collect();
        Ok(Kept { last_seq, entries })
    }
}

/// The owner of a published notification.
#[derive(serde::Deserialize)]
struct Owner {
    #[serde(rename = "userId")]
    user_id: String,
}

/// Reads a published `seq|event|payload`; its user is the payload's `userId`.
pub(crate) fn parse_published(message: &str) -> Option<Entry> {
    let (seq, rest) = message.split_once('|')?;
    let (_, payload) = rest.split_once('|')?;
    let owner: Owner = serde_json::from_str(payload).ok()?;
    parse_entry(seq, rest, &owner.user_id)
}

fn parse_entry(seq: &str, event_and_payload: &str, user: &str) -> Option<Entry> {
    let (event, payload) = event_and_payload.split_once('|')?;
    let event = match event {
        server::ORDER_NOTIFICATION => server::ORDER_NOTIFICATION,
        server::POSITION_UPDATE => server::POSITION_UPDATE,
        _ => return None,
    };
    let payload = RawValue::from_string(payload.to_owned()).ok()?;
    Some(Entry {
        seq: seq.parse().ok()?,
        user: user.to_owned(),
        event,
        payload: Arc::from(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn published_lines_parse_and_garbage_does_not() {
        let e = parse_published(r#"7|order:notification|{"seq":7,"userId":"a"}"#).unwrap();
        assert_eq!(
            (e.seq, e.event, e.user.as_str()),
            (7, "order:notification", "a")
        );
        assert_eq!(e.payload.get(), r#"{"seq":7,"userId":"a"}"#);
        assert!(parse_published("7|other|{}").is_none());
        assert!(parse_published("x|order:notification|{}").is_none());
        assert!(parse_published("7|order:notification|{oops").is_none());
        assert!(parse_published(r#"7|order:notification|{"seq":7}"#).is_none());
    }

    /// Against the real Redis on 127.0.0.1:6379, under a key prefix of this
    /// test's own (removed at the end): appending is idempotent, so the
    /// relay may retry after an error or a lost answer.
    #[tokio::test]
    async fn a_repeated_append_keeps_its_first_seq_and_adds_nothing() {
        let prefix = format!("gwtest-orderlog-{}", std::process::id());
        let cluster = Cluster::connect(
            "redis://127.0.0.1:6379",
            &prefix,
            "node".into(),
            Duration::from_secs(3),
        )
        .await
        .expect("Redis on 127.0.0.1:6379");
        cluster.delete_all_keys().await;
        let log = SharedOrderLog::new(cluster.clone(), 100, Duration::from_secs(60));
        let first =
            json!({ "orderId": "o1", "type": "ORDER_CREATED", "userId": "ann", "timestamp": 1 });
        let second =
            json!({ "orderId": "o2", "type": "ORDER_CREATED", "userId": "ann", "timestamp": 2 });
        let order = server::ORDER_NOTIFICATION;
        let a = log.append("ann", order, &first).await.unwrap();
        let again = log.append("ann", order, &first).await.unwrap();
        let b = log.append("ann", order, &second).await.unwrap();
        let as_position = log
            .append("ann", server::POSITION_UPDATE, &first)
            .await
            .unwrap();
        assert_eq!((a, again, b, as_position), (1, 1, 2, 3));

        let kept = log.read("ann").await.unwrap();
        assert_eq!(kept.last_seq, 3);
        let seqs: Vec<u64> = kept.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3], "the repeat was not appended");
        assert_eq!(
            kept.entries[0].payload.get(),
            r#"{"seq":1,"orderId":"o1","timestamp":1,"type":"ORDER_CREATED","userId":"ann"}"#
        );
        assert!(kept.entries.iter().all(|e| e.user == "ann"));
        cluster.delete_all_keys().await;
    }
}
