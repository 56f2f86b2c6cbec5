//! Where a poller is, kept in [`crate::kv`] so that a reload or restart
//! neither replays nor skips: the upstream's [`Cursor`], and the
//! [`RecentKeys`] of the items delivered last, for upstreams that replay
//! items around the cursor.
//!
//! Both change only through a successful kv write: when the write fails the
//! value in memory stays as it was and the error says which key could not be
//! stored, so the poll fails and is retried as a whole.
//!
//! ```
//! use gateway_sdk::cursor::{Cursor, RecentKeys};
//! # let _host = gateway_sdk::testing::FakeHost::new().install();
//!
//! let mut cursor = Cursor::load("cursor");
//! let mut delivered = RecentKeys::load("delivered", 1000);
//! assert_eq!(cursor.get(), None); // first poll: from the start
//! // … an answer with items "a", "a", "b" and cursor "c1":
//! let fresh: Vec<_> = ["a", "a", "b"].into_iter().filter(|k| delivered.insert(k.to_string())).collect();
//! assert_eq!(fresh, ["a", "b"]);
//! delivered.save(1000)?;
//! cursor.advance(Some("c1".into()))?;
//! assert_eq!(Cursor::load("cursor").get(), Some("c1"));
//! # Ok::<(), String>(())
//! ```

use std::collections::{HashSet, VecDeque};

use crate::kv::{self, KvError};
use crate::log;

/// An upstream cursor stored as a string under one kv key.
#[derive(Debug, Clone)]
pub struct Cursor {
    kv_key: String,
    value: Option<String>,
}

impl Cursor {
    /// The cursor stored under `kv_key`; none when missing or empty.
    pub fn load(kv_key: &str) -> Self {
        Self {
            kv_key: kv_key.to_owned(),
            value: kv::get_string(kv_key).filter(|c| !c.is_empty()),
        }
    }

    /// Where the next poll continues; none before the first answer with a cursor.
    pub fn get(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Moves to `next`, the cursor of an answer, storing it when it changed;
    /// none keeps the current cursor. A failed write leaves it unmoved.
    pub fn advance(&mut self, next: Option<String>) -> Result<(), String> {
        if let Some(next) = next
            && self.value.as_ref() != Some(&next)
        {
            kv::set_string(&self.kv_key, &next).map_err(|e| not_stored(&self.kv_key, &e))?;
            self.value = Some(next);
        }
        Ok(())
    }
}

/// The most recent keys, at most `capacity`, oldest forgotten first; stored
/// as a JSON array of strings under one kv key.
#[derive(Debug, Clone)]
pub struct RecentKeys {
    kv_key: String,
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl RecentKeys {
    /// The keys stored under `kv_key`, or none; unreadable contents are
    /// ignored with a warning.
    pub fn load(kv_key: &str, capacity: usize) -> Self {
        let mut keys = Self {
            kv_key: kv_key.to_owned(),
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity,
        };
        if let Some(bytes) = kv::get(kv_key) {
            match serde_json::from_slice::<Vec<String>>(&bytes) {
                Ok(stored) => stored.into_iter().for_each(|k| {
                    keys.insert(k);
                }),
                Err(e) => log::warn(&format!("ignoring unreadable kv `{kv_key}`: {e}")),
            }
        }
        keys
    }

    /// Remembers `key`, forgetting the oldest one when full; false when it
    /// was already known.
    pub fn insert(&mut self, key: String) -> bool {
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

    /// Stores the newest `max` keys (all of them when `max` is at least the
    /// capacity).
    pub fn save(&self, max: usize) -> Result<(), String> {
        let skip = self.order.len().saturating_sub(max);
        let newest: Vec<&String> = self.order.iter().skip(skip).collect();
        kv::set_json(&self.kv_key, &newest).map_err(|e| not_stored(&self.kv_key, &e))
    }
}

/// A readable sentence for a failed kv write of `key`.
fn not_stored(key: &str, error: &KvError) -> String {
    format!("cannot store kv `{key}`: {}", error.describe())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

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
    fn cursor_changes_only_to_a_new_value() {
        let host = FakeHost::new().kv("empty", b"").install();
        assert_eq!(Cursor::load("empty").get(), None);
        let mut c = Cursor::load("cursor");
        assert_eq!(c.get(), None);
        c.advance(None).unwrap();
        assert_eq!(host.kv("cursor"), None, "nothing to store");
        c.advance(Some("c1".into())).unwrap();
        assert_eq!(c.get(), Some("c1"));
        assert_eq!(host.kv("cursor").unwrap(), b"c1");
        c.advance(None).unwrap();
        assert_eq!(c.get(), Some("c1"), "an answer without cursor keeps it");
        assert_eq!(Cursor::load("cursor").get(), Some("c1"));
    }

    #[test]
    fn failed_writes_change_nothing_and_name_the_key() {
        let host = FakeHost::new()
            .kv("cursor", b"c1")
            .kv_fail("", KvError::QuotaExceeded("64 KiB".into()))
            .install();
        let mut c = Cursor::load("cursor");
        assert_eq!(
            c.advance(Some("c2".into())).unwrap_err(),
            "cannot store kv `cursor`: quota exceeded (64 KiB)"
        );
        assert_eq!(c.get(), Some("c1"));
        c.advance(Some("c1".into())).unwrap();

        let mut keys = RecentKeys::load("delivered", 10);
        keys.insert("a".into());
        host.kv_fail("delivered", KvError::Unavailable("disk full".into()));
        assert_eq!(
            keys.save(10).unwrap_err(),
            "cannot store kv `delivered`: disk full"
        );
        assert_eq!(host.kv("delivered"), None);
        host.kv_recover("");
        host.kv_recover("delivered");
        keys.save(10).unwrap();
        c.advance(Some("c2".into())).unwrap();
        assert_eq!(host.kv("cursor").unwrap(), b"c2");
    }
}
