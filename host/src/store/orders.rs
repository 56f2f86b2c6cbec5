//! The order log of a gateway without a cluster, kept durably: per user a
//! sequence number and the notifications still kept for replay.
//!
//! Appending is idempotent: each notification's SHA-256 (of its event name
//! and body) is remembered with the entry, and a notification seen before
//! gets nothing new — so a poller that polls the same batch again after a
//! crash (its cursor is stored only once the batch was accepted) does not
//! deliver it twice. One append is one transaction: the batch is sequenced,
//! kept and marked seen together, or not at all.
//!
//! What is kept is bounded three ways: at most `max_per_user` entries per
//! user, none older than `max_age`, and at most `max_total` in all (the
//! oldest go first). Sequence numbers are kept for every user, so a user
//! whose history aged out continues where it was.

use std::sync::Arc;
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::delivery::orders::{Entry, Kept, Notification, Pruned};
use crate::protocol::server;

/// user → the user's latest `seq`.
const SEQ: TableDefinition<&str, u64> = TableDefinition::new("order_seq");
/// A kept entry: ms appended, event, payload with `seq`, digest.
type Stored = (u64, &'static str, &'static str, &'static [u8; 32]);

/// (user, seq) → the entry.
const LOG: TableDefinition<(&str, u64), Stored> = TableDefinition::new("order_log");
/// (user, digest) → seq: what was appended, for idempotency.
const SEEN: TableDefinition<(&str, &[u8; 32]), u64> = TableDefinition::new("order_seen");
/// (ms appended, user, seq): the kept entries, oldest first.
const BY_TIME: TableDefinition<(u64, &str, u64), ()> = TableDefinition::new("order_by_time");

/// The bounds of what is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Entries kept per user.
    pub(crate) max_per_user: u64,
    /// Entries kept in all.
    pub(crate) max_total: u64,
    /// Oldest entry kept.
    pub(crate) max_age: Duration,
}

/// The durable order log.
pub(crate) struct OrderLog {
    store: Arc<Store>,
    bounds: Bounds,
}

fn event_name(name: &str) -> Option<&'static str> {
    match name {
        server::ORDER_NOTIFICATION => Some(server::ORDER_NOTIFICATION),
        server::POSITION_UPDATE => Some(server::POSITION_UPDATE),
        _ => None,
    }
}

/// `body` (a JSON object) with `"seq": seq` as its first field.
fn with_seq(seq: u64, body: &str) -> String {
    match body.strip_prefix('{').map(str::trim_start) {
        Some(rest) if rest.starts_with('}') => format!("{{\"seq\":{seq}}}"),
        Some(rest) => format!("{{\"seq\":{seq},{rest}"),
        None => format!("{{\"seq\":{seq}}}"),
    }
}

fn entry(user: &str, seq: u64, event: &str, payload: &str) -> Result<Entry, StoreError> {
    let event = event_name(event).ok_or_else(|| StoreError::Corrupt(format!("event {event:?}")))?;
    let payload = RawValue::from_string(payload.to_owned())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Entry {
        seq,
        user: user.to_owned(),
        event,
        payload: Arc::from(payload),
    })
}

impl OrderLog {
    /// The order log in `store`, kept within `bounds`.
    pub(crate) fn new(store: Arc<Store>, bounds: Bounds) -> Self {
        Self { store, bounds }
    }

    /// Sequences and keeps `items` at `now_ms` in one transaction; the new
    /// entries in order (repeats of kept notifications are left out) and
    /// what was pruned to stay within the per-user and total bounds.
    pub(crate) fn append(
        &self,
        items: &[Notification<'_>],
        now_ms: u64,
    ) -> Result<(Vec<Entry>, Pruned), StoreError> {
        let tx = self.store.db()?.begin_write()?;
        let mut added = Vec::new();
        let mut pruned = Pruned::default();
        {
            let mut seqs = tx.open_table(SEQ)?;
            let mut log = tx.open_table(LOG)?;
            let mut seen = tx.open_table(SEEN)?;
            let mut by_time = tx.open_table(BY_TIME)?;
            for item in items {
                let digest: [u8; 32] =
                    Sha256::digest(format!("{}|{}", item.event, item.body)).into();
                if seen.get((item.user, &digest))?.is_some() {
                    continue;
                }
                let seq = seqs.get(item.user)?.map_or(0, |v| v.value()) + 1;
                let payload = with_seq(seq, item.body);
                seqs.insert(item.user, seq)?;
                log.insert(
                    (item.user, seq),
                    (now_ms, item.event, payload.as_str(), &digest),
                )?;
                seen.insert((item.user, &digest), seq)?;
                by_time.insert((now_ms, item.user, seq), ())?;
                added.push(entry(item.user, seq, item.event, &payload)?);
                if seq > self.bounds.max_per_user {
                    let old = seq - self.bounds.max_per_user;
                    if remove(&mut log, &mut seen, &mut by_time, item.user, old)? {
                        pruned.size += 1;
                    }
                }
            }
            while log.len()? > self.bounds.max_total {
                let Some(oldest) = by_time.first()? else {
                    break;
                };
                let (_, user, seq) = oldest.0.value();
                let user = user.to_owned();
                drop(oldest);
                remove(&mut log, &mut seen, &mut by_time, &user, seq)?;
                pruned.budget += 1;
            }
        }
        tx.commit()?;
        Ok((added, pruned))
    }

    /// What is kept for `user` at `now_ms`.
    pub(crate) fn read(&self, user: &str, now_ms: u64) -> Result<Kept, StoreError> {
        let tx = self.store.db()?.begin_read()?;
        let last_seq = match tx.open_table(SEQ) {
            Ok(seqs) => seqs.get(user)?.map_or(0, |v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Kept::default()),
            Err(e) => return Err(e.into()),
        };
        let log = tx.open_table(LOG)?;
        let oldest = self.oldest_kept(now_ms);
        let mut entries = Vec::new();
        for row in log.range((user, 0)..=(user, u64::MAX))? {
            let (key, value) = row?;
            let (_, seq) = key.value();
            let (at, event, payload, _) = value.value();
            if at >= oldest {
                entries.push(entry(user, seq, event, payload)?);
            }
        }
        Ok(Kept { last_seq, entries })
    }

    /// Removes entries older than the age bound at `now_ms`; how many.
    pub(crate) fn prune(&self, now_ms: u64) -> Result<u64, StoreError> {
        let tx = self.store.db()?.begin_write()?;
        let mut removed = 0;
        {
            let mut log = tx.open_table(LOG)?;
            let mut seen = tx.open_table(SEEN)?;
            let mut by_time = tx.open_table(BY_TIME)?;
            let oldest = self.oldest_kept(now_ms);
            loop {
                let Some(first) = by_time.first()? else { break };
                let (at, user, seq) = first.0.value();
                if at >= oldest {
                    break;
                }
                let user = user.to_owned();
                drop(first);
                remove(&mut log, &mut seen, &mut by_time, &user, seq)?;
                removed += 1;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Entries kept, all users together.
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        let tx = self.store.db()?.begin_read()?;
        match tx.open_table(LOG) {
            Ok(log) => Ok(log.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn oldest_kept(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.bounds.max_age.as_millis() as u64)
    }
}

type LogTable<'t> =
    redb::Table<'t, (&'static str, u64), (u64, &'static str, &'static str, &'static [u8; 32])>;
type SeenTable<'t> = redb::Table<'t, (&'static str, &'static [u8; 32]), u64>;
type TimeTable<'t> = redb::Table<'t, (u64, &'static str, u64), ()>;

/// Removes entry (`user`, `seq`) and what indexes it; whether it was kept.
fn remove(
    log: &mut LogTable<'_>,
    seen: &mut SeenTable<'_>,
    by_time: &mut TimeTable<'_>,
    user: &str,
    seq: u64,
) -> Result<bool, StoreError> {
    let Some(gone) = log.remove((user, seq))? else {
        return Ok(false);
    };
    let (at, _, _, digest) = gone.value();
    let digest = *digest;
    drop(gone);
    seen.remove((user, &digest))?;
    by_time.remove((at, user, seq))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn bounds(per_user: u64, total: u64, age_secs: u64) -> Bounds {
        Bounds {
            max_per_user: per_user,
            max_total: total,
            max_age: Duration::from_secs(age_secs),
        }
    }

    fn order(user: &str, id: u64) -> String {
        json!({ "orderId": id, "userId": user }).to_string()
    }

    fn append(log: &OrderLog, user: &str, ids: &[u64], now: u64) -> Vec<u64> {
        let bodies: Vec<String> = ids.iter().map(|id| order(user, *id)).collect();
        let items: Vec<Notification<'_>> = bodies
            .iter()
            .map(|b| Notification {
                user,
                event: server::ORDER_NOTIFICATION,
                body: b,
            })
            .collect();
        log.append(&items, now)
            .unwrap()
            .0
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    fn kept(log: &OrderLog, user: &str, now: u64) -> (u64, Vec<u64>) {
        let k = log.read(user, now).unwrap();
        (k.last_seq, k.entries.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn sequences_per_user_with_seq_first_and_ignores_repeats() {
        let log = OrderLog::new(Store::in_memory(), bounds(10, 100, 60));
        assert_eq!(kept(&log, "a", 0), (0, vec![]));
        assert_eq!(append(&log, "a", &[1, 2], 1000), [1, 2]);
        assert_eq!(append(&log, "b", &[7], 1000), [1]);
        assert_eq!(
            append(&log, "a", &[2, 3], 1000),
            [3],
            "order 2 was appended before: only order 3 is new"
        );
        let k = log.read("a", 1000).unwrap();
        assert_eq!(k.last_seq, 3);
        let first: Value = serde_json::from_str(k.entries[0].payload.get()).unwrap();
        assert_eq!(first, json!({ "seq": 1, "orderId": 1, "userId": "a" }));
        assert!(k.entries[0].payload.get().starts_with(r#"{"seq":1,"#));
        assert_eq!(k.entries[2].user, "a");
        assert_eq!(log.len().unwrap(), 4);
    }

    #[test]
    fn a_batch_is_one_transaction() {
        let log = OrderLog::new(Store::in_memory(), bounds(10, 100, 60));
        let body = order("a", 1);
        let items = [
            Notification {
                user: "a",
                event: server::ORDER_NOTIFICATION,
                body: &body,
            },
            Notification {
                user: "a",
                event: "no:such-event",
                body: &body,
            },
        ];
        assert!(
            log.append(&items, 0).is_err(),
            "an unknown event fails the batch"
        );
        assert_eq!(kept(&log, "a", 0), (0, vec![]), "and nothing of it is kept");
    }

    #[test]
    fn keeps_at_most_max_per_user_and_max_total() {
        let log = OrderLog::new(Store::in_memory(), bounds(3, 5, 60));
        append(&log, "a", &[1, 2, 3, 4, 5], 1000);
        assert_eq!(kept(&log, "a", 1000), (5, vec![3, 4, 5]));
        append(&log, "b", &[1, 2], 2000);
        assert_eq!(log.len().unwrap(), 5);
        let (entries, pruned) = log
            .append(
                &[Notification {
                    user: "b",
                    event: server::ORDER_NOTIFICATION,
                    body: &order("b", 3),
                }],
                3000,
            )
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(pruned.budget, 1, "the oldest entry went");
        assert_eq!(kept(&log, "a", 3000), (5, vec![4, 5]));
        assert_eq!(kept(&log, "b", 3000), (3, vec![1, 2, 3]));
    }

    #[test]
    fn entries_age_out_and_sequences_continue() {
        let log = OrderLog::new(Store::in_memory(), bounds(10, 100, 60));
        append(&log, "a", &[1, 2], 1_000);
        append(&log, "a", &[3], 50_000);
        assert_eq!(kept(&log, "a", 62_000), (3, vec![3]), "read hides the old");
        assert_eq!(log.prune(62_000).unwrap(), 2);
        assert_eq!(log.len().unwrap(), 1);
        assert_eq!(log.prune(200_000).unwrap(), 1);
        assert_eq!(kept(&log, "a", 200_000), (3, vec![]));
        assert_eq!(append(&log, "a", &[4], 200_000), [4], "seq continues");
    }

    #[test]
    fn a_hundred_thousand_users_age_out_without_returning() {
        let log = OrderLog::new(Store::in_memory(), bounds(1000, 1_000_000, 60));
        let users: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
        let bodies: Vec<String> = users.iter().map(|u| order(u, 1)).collect();
        for chunk in users.iter().zip(&bodies).collect::<Vec<_>>().chunks(10_000) {
            let items: Vec<Notification<'_>> = chunk
                .iter()
                .map(|(u, b)| Notification {
                    user: u,
                    event: server::ORDER_NOTIFICATION,
                    body: b,
                })
                .collect();
            log.append(&items, 1_000).unwrap();
        }
        assert_eq!(log.len().unwrap(), 100_000);
        assert_eq!(log.prune(1_000 + 61_000).unwrap(), 100_000);
        assert_eq!(log.len().unwrap(), 0);
        let tx = log.store.db().unwrap().begin_read().unwrap();
        assert_eq!(tx.open_table(SEEN).unwrap().len().unwrap(), 0);
        assert_eq!(tx.open_table(BY_TIME).unwrap().len().unwrap(), 0);
    }

    #[test]
    fn survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = OrderLog::new(Store::open(dir.path()).unwrap(), bounds(10, 100, 60));
        append(&log, "a", &[1, 2], 1000);
        drop(log);
        let log = OrderLog::new(Store::open(dir.path()).unwrap(), bounds(10, 100, 60));
        assert_eq!(kept(&log, "a", 1000), (2, vec![1, 2]));
        assert_eq!(append(&log, "a", &[2, 3], 1000), [3]);
    }

    #[test]
    fn seq_goes_first_whatever_the_body() {
        assert_eq!(with_seq(4, "{}"), r#"{"seq":4}"#);
        assert_eq!(with_seq(4, "{ }"), r#"{"seq":4}"#);
        assert_eq!(with_seq(4, r#"{"a":1}"#), r#"{"seq":4,"a":1}"#);
    }
}
