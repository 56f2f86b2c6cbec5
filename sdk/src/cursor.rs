//! Where a poller is, kept in [`crate::kv`] so that a reload, a restart or
//! a crash neither skips nor repeats.
//!
//! A [`Checkpoint`] is the upstream's cursor together with the keys of the
//! items delivered last (for upstreams that replay items around the
//! cursor), stored as one JSON value under one kv key:
//! `{"cursor":"c1","delivered":["a","b"]}`, so both change together.
//!
//! The position a poll reaches is stored at the start of the *next* poll.
//! The host calls `poll` again only once it has accepted (sequenced and
//! stored) the batch the previous call returned, so the stored position
//! never runs ahead of what the host has: a gateway killed after a poll
//! but before it sequenced the batch finds the old position in kv and polls
//! the batch again. When the host could not accept a batch it re-creates
//! the plugin's instance, which starts from the stored position the same
//! way; the host recognises what it accepted before and does not deliver
//! it twice.
//!
//! One poll: [`Checkpoint::settle`] first (store the previous poll's
//! position), then a [`Draft`] records what this poll delivers and where
//! the upstream continues, and [`Checkpoint::reach`] takes it right before
//! the batch is returned.
//!
//! ```
//! use gateway_sdk::cursor::Checkpoint;
//! # let host = gateway_sdk::testing::FakeHost::new().install();
//!
//! let mut checkpoint = Checkpoint::load("checkpoint", 1000);
//! checkpoint.settle()?;
//! assert_eq!(checkpoint.cursor(), None); // first poll: from the start
//! // … an answer with items "a", "a", "b" and cursor "c1":
//! let mut next = checkpoint.draft();
//! let fresh: Vec<_> = ["a", "a", "b"].into_iter().filter(|k| next.deliver(k.to_string())).collect();
//! assert_eq!(fresh, ["a", "b"]);
//! next.advance(Some("c1".into()));
//! checkpoint.reach(next);
//! assert_eq!(checkpoint.cursor(), Some("c1")); // the next request continues there
//! assert_eq!(host.kv("checkpoint"), None); // stored once the host has the batch
//!
//! checkpoint.settle()?; // the next poll
//! let reloaded = Checkpoint::load("checkpoint", 1000);
//! assert_eq!(reloaded.cursor(), Some("c1"));
//! assert!(!reloaded.draft().deliver("a".into()), "delivered before the reload");
//! # Ok::<(), String>(())
//! ```
//!
//! [`RecentKeys`] is the bounded set of keys on its own, under its own kv
//! key, for what is not tied to a cursor (e.g. the event ids a filter saw).

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::kv::{self, KvError};
use crate::log;

/// A poller's position: the upstream cursor and the keys of the items
/// delivered last, at most `capacity`, stored together as one JSON value
/// under one kv key.
#[derive(Debug)]
pub struct Checkpoint {
    kv_key: String,
    /// What kv holds.
    stored: Position,
    /// Where the last poll got to, stored by the next [`Checkpoint::settle`].
    reached: Option<Position>,
}

#[derive(Debug, Clone)]
struct Position {
    cursor: Option<String>,
    delivered: KeySet,
}

/// The next position of a [`Checkpoint`], built during one poll and taken
/// by [`Checkpoint::reach`].
#[derive(Debug)]
#[must_use = "hand the draft to `Checkpoint::reach`"]
pub struct Draft {
    position: Position,
    /// Whether it differs from the position it was drafted from.
    changed: bool,
}

/// A checkpoint as written to kv.
#[derive(Serialize)]
struct Stored<'a> {
    cursor: Option<&'a str>,
    delivered: &'a VecDeque<String>,
}

/// A checkpoint as read from kv.
#[derive(Deserialize)]
struct Loaded {
    cursor: Option<String>,
    #[serde(default)]
    delivered: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint stored under `kv_key`, remembering at most `capacity`
    /// delivered keys; none when `kv_key` is missing. Unreadable contents
    /// are ignored with a warning; an empty cursor is none.
    pub fn load(kv_key: &str, capacity: usize) -> Self {
        let (cursor, delivered) = match kv::get(kv_key) {
            Some(bytes) => match serde_json::from_slice::<Loaded>(&bytes) {
                Ok(loaded) => (
                    loaded.cursor.filter(|c| !c.is_empty()),
                    KeySet::from_keys(loaded.delivered, capacity),
                ),
                Err(e) => {
                    log::warn(&format!("ignoring unreadable kv `{kv_key}`: {e}"));
                    (None, KeySet::new(capacity))
                }
            },
            None => (None, KeySet::new(capacity)),
        };
        Self {
            kv_key: kv_key.to_owned(),
            stored: Position { cursor, delivered },
            reached: None,
        }
    }

    fn current(&self) -> &Position {
        self.reached.as_ref().unwrap_or(&self.stored)
    }

    /// Where the next request continues: after the last poll's answer; none
    /// before the first answer with a cursor.
    pub fn cursor(&self) -> Option<&str> {
        self.current().cursor.as_deref()
    }

    /// Stores the position the previous poll reached (the host has accepted
    /// that poll's batch, or it would not poll again), with one kv write.
    /// Call it first in every poll. When the write fails nothing changes,
    /// the error names the key, and the poll should fail with it: the next
    /// one tries again.
    pub fn settle(&mut self) -> Result<(), String> {
        let Some(reached) = &self.reached else {
            return Ok(());
        };
        let stored = Stored {
            cursor: reached.cursor.as_deref(),
            delivered: &reached.delivered.order,
        };
        kv::set_json(&self.kv_key, &stored).map_err(|e| not_stored(&self.kv_key, &e))?;
        self.stored = self.reached.take().expect("checked above");
        Ok(())
    }

    /// A copy of the position to record one poll in.
    pub fn draft(&self) -> Draft {
        Draft {
            position: self.current().clone(),
            changed: false,
        }
    }

    /// Takes `draft` as the position this poll reached, to be stored by the
    /// next [`Checkpoint::settle`]; call it right before returning the
    /// batch the draft describes. A draft without changes changes nothing.
    pub fn reach(&mut self, draft: Draft) {
        if draft.changed {
            self.reached = Some(draft.position);
        }
    }
}

impl Draft {
    /// Records `key` as delivered, forgetting the oldest key when full;
    /// false when it was delivered before, by this poll or an earlier one.
    pub fn deliver(&mut self, key: String) -> bool {
        let new = self.position.delivered.insert(key);
        self.changed |= new;
        new
    }

    /// Moves to `next`, the cursor of the answer; none keeps the current one.
    pub fn advance(&mut self, next: Option<String>) {
        if let Some(next) = next
            && self.position.cursor.as_ref() != Some(&next)
        {
            self.position.cursor = Some(next);
            self.changed = true;
        }
    }
}

/// The most recent keys, at most `capacity`, oldest forgotten first; stored
/// as a JSON array of strings under one kv key.
#[derive(Debug, Clone)]
pub struct RecentKeys {
    kv_key: String,
    keys: KeySet,
}

impl RecentKeys {
    /// The keys stored under `kv_key`, or none; unreadable contents are
    /// ignored with a warning.
    pub fn load(kv_key: &str, capacity: usize) -> Self {
        Self {
            kv_key: kv_key.to_owned(),
            keys: read_keys(kv_key, capacity),
        }
    }

    /// Remembers `key`, forgetting the oldest one when full; false when it
    /// was already known.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::cursor::RecentKeys;
    /// # let _host = gateway_sdk::testing::FakeHost::new().install();
    /// let mut seen = RecentKeys::load("seen", 2);
    /// assert!(seen.insert("e-1".into()));
    /// assert!(!seen.insert("e-1".into()), "known");
    /// seen.save(2).unwrap();
    /// assert!(!RecentKeys::load("seen", 2).insert("e-1".into()), "stored");
    /// ```
    pub fn insert(&mut self, key: String) -> bool {
        self.keys.insert(key)
    }

    /// Stores the newest `max` keys (all of them when `max` is at least the
    /// capacity).
    pub fn save(&self, max: usize) -> Result<(), String> {
        let order = &self.keys.order;
        let newest: Vec<&String> = order.iter().skip(order.len().saturating_sub(max)).collect();
        kv::set_json(&self.kv_key, &newest).map_err(|e| not_stored(&self.kv_key, &e))
    }
}

/// A set of at most `capacity` keys that forgets the oldest first.
#[derive(Debug, Clone)]
struct KeySet {
    /// Oldest first.
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl KeySet {
    fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity,
        }
    }

    /// `keys`, oldest first, of which the newest `capacity` are kept.
    fn from_keys(keys: Vec<String>, capacity: usize) -> Self {
        let mut set = Self::new(capacity);
        for key in keys {
            set.insert(key);
        }
        set
    }

    /// Adds `key`, forgetting the oldest one when full; false when it was
    /// already there.
    fn insert(&mut self, key: String) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
        true
    }
}

/// The keys stored as a JSON array under `kv_key`, or none; unreadable
/// contents are ignored with a warning.
fn read_keys(kv_key: &str, capacity: usize) -> KeySet {
    let keys = kv::get(kv_key).map_or_else(Vec::new, |bytes| {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            log::warn(&format!("ignoring unreadable kv `{kv_key}`: {e}"));
            Vec::new()
        })
    });
    KeySet::from_keys(keys, capacity)
}

/// A readable sentence for a failed kv write of `key`.
fn not_stored(key: &str, error: &KvError) -> String {
    format!("cannot store kv `{key}`: {}", error.describe())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use crate::testing::{FakeHost, HostHandle};

    const KEY: &str = "checkpoint";

    /// Delivers `keys` and advances to `cursor` in a draft of `checkpoint`:
    /// the keys that were new, and the draft.
    fn poll(checkpoint: &Checkpoint, keys: &[&str], cursor: &str) -> (Vec<String>, Draft) {
        let mut next = checkpoint.draft();
        let fresh = keys
            .iter()
            .map(|k| (*k).to_owned())
            .filter(|k| next.deliver(k.clone()))
            .collect();
        next.advance(Some(cursor.to_owned()));
        (fresh, next)
    }

    fn stored(host: &HostHandle) -> String {
        String::from_utf8(host.kv(KEY).expect("a stored checkpoint")).unwrap()
    }

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let _host = FakeHost::new().install();
        let mut s = RecentKeys::load("k", 3);
        for k in ["a", "b", "c"] {
            assert!(s.insert(k.into()));
        }
        assert!(!s.insert("a".into()));
        assert!(s.insert("d".into()));
        assert!(s.insert("a".into()), "a was forgotten when d came");
        assert!(!s.insert("c".into()));
    }

    #[test]
    fn recent_keys_survive_a_reload_through_kv() {
        let host = FakeHost::new().kv("broken", b"{").install();
        let mut s = RecentKeys::load("k", 10);
        for k in ["a", "b", "c"] {
            s.insert(k.into());
        }
        s.save(2).unwrap();
        assert_eq!(host.kv("k").unwrap(), br#"["b","c"]"#);
        let mut again = RecentKeys::load("k", 10);
        assert!(!again.insert("c".into()));
        assert!(again.insert("a".into()));

        let mut empty = RecentKeys::load("broken", 10);
        assert!(empty.insert("a".into()));
        assert!(
            host.logs()
                .iter()
                .any(|(_, m)| m.contains("unreadable kv `broken`"))
        );
    }

    #[test]
    fn a_failed_recent_keys_write_names_the_key() {
        let host = FakeHost::new()
            .kv_fail("", KvError::QuotaExceeded("64 KiB".into()))
            .install();
        let mut keys = RecentKeys::load("delivered", 10);
        keys.insert("a".into());
        assert_eq!(
            keys.save(10).unwrap_err(),
            "cannot store kv `delivered`: quota exceeded (64 KiB)"
        );
        assert_eq!(host.kv("delivered"), None);
        host.kv_recover("");
        keys.save(10).unwrap();
        assert_eq!(host.kv("delivered").unwrap(), br#"["a"]"#);
    }

    #[test]
    fn a_position_is_stored_at_the_next_settle_as_one_value() {
        let host = FakeHost::new().install();
        let mut c = Checkpoint::load(KEY, 3);
        c.settle().unwrap();
        assert_eq!(c.cursor(), None);
        let (fresh, next) = poll(&c, &["a", "a", "b"], "c1");
        assert_eq!(fresh, ["a", "b"]);
        c.reach(next);
        assert_eq!(
            c.cursor(),
            Some("c1"),
            "the next request continues after c1"
        );
        assert_eq!(
            host.kv(KEY),
            None,
            "not stored before the host has the batch"
        );
        c.settle().unwrap();
        assert_eq!(stored(&host), r#"{"cursor":"c1","delivered":["a","b"]}"#);

        let mut c = Checkpoint::load(KEY, 3);
        assert_eq!(c.cursor(), Some("c1"));
        let (fresh, next) = poll(&c, &["b", "c", "d"], "c2");
        assert_eq!(fresh, ["c", "d"]);
        c.reach(next);
        c.settle().unwrap();
        assert_eq!(
            stored(&host),
            r#"{"cursor":"c2","delivered":["b","c","d"]}"#,
            "at most the capacity, oldest forgotten"
        );
    }

    #[test]
    fn a_batch_the_host_may_not_have_is_polled_again_after_a_reload() {
        let host = FakeHost::new().install();
        let mut c = Checkpoint::load(KEY, 10);
        let (_, next) = poll(&c, &["a"], "c1");
        c.reach(next);
        c.settle().unwrap();
        let (fresh, next) = poll(&c, &["b"], "c2");
        assert_eq!(fresh, ["b"]);
        c.reach(next);
        drop(c);

        let c = Checkpoint::load(KEY, 10);
        assert_eq!(c.cursor(), Some("c1"), "b's poll was never settled");
        let (fresh, _) = poll(&c, &["a", "b"], "c2");
        assert_eq!(fresh, ["b"], "b is polled again, a is not");
        assert_eq!(stored(&host), r#"{"cursor":"c1","delivered":["a"]}"#);
    }

    #[test]
    fn a_draft_without_changes_writes_nothing() {
        let host = FakeHost::new()
            .kv(KEY, br#"{"cursor":"c1","delivered":["a"]}"#)
            .kv_fail("", KvError::Unavailable("read-only".into()))
            .install();
        let mut c = Checkpoint::load(KEY, 10);
        let mut next = c.draft();
        assert!(!next.deliver("a".into()));
        next.advance(None);
        next.advance(Some("c1".into()));
        c.reach(next);
        c.settle().unwrap();
        assert_eq!(c.cursor(), Some("c1"));

        host.kv_recover("");
        let mut next = c.draft();
        assert!(next.deliver("b".into()));
        c.reach(next);
        c.settle().unwrap();
        assert_eq!(
            stored(&host),
            r#"{"cursor":"c1","delivered":["a","b"]}"#,
            "new keys without a new cursor"
        );
    }

    #[test]
    fn a_failed_settle_changes_nothing_and_is_tried_again() {
        let host = FakeHost::new()
            .kv(KEY, br#"{"cursor":"c1","delivered":["a"]}"#)
            .kv_fail(KEY, KvError::QuotaExceeded("64 KiB".into()))
            .install();
        let mut c = Checkpoint::load(KEY, 10);
        let (fresh, next) = poll(&c, &["a", "b"], "c2");
        assert_eq!(fresh, ["b"]);
        c.reach(next);
        assert_eq!(
            c.settle().unwrap_err(),
            "cannot store kv `checkpoint`: quota exceeded (64 KiB)"
        );
        assert_eq!(stored(&host), r#"{"cursor":"c1","delivered":["a"]}"#);
        assert_eq!(c.cursor(), Some("c2"), "still where the last poll got to");

        host.kv_recover(KEY);
        c.settle().unwrap();
        assert_eq!(stored(&host), r#"{"cursor":"c2","delivered":["a","b"]}"#);
        assert!(poll(&c, &["a", "b"], "c2").0.is_empty());
    }

    #[test]
    fn unreadable_or_empty_values_start_from_nothing() {
        let host = FakeHost::new()
            .kv(KEY, b"{")
            .kv("other", br#"{"cursor":""}"#)
            .install();
        let c = Checkpoint::load(KEY, 10);
        assert_eq!(c.cursor(), None);
        assert!(c.draft().deliver("a".into()));
        assert_eq!(Checkpoint::load("other", 10).cursor(), None);
        assert_eq!(Checkpoint::load("new", 10).cursor(), None);
        assert_eq!(
            host.logs_at(Level::Warn)
                .iter()
                .map(|m| m.split(':').next().unwrap())
                .collect::<Vec<_>>(),
            ["ignoring unreadable kv `checkpoint`"]
        );
    }
}
