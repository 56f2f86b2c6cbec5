//! A bounded memory of recently delivered item keys (oldest forgotten
//! first), stored in kv so that a reload or restart does not deliver an
//! item again.

use std::collections::{HashSet, VecDeque};

use gateway_sdk::kv::{self, KvError};
use gateway_sdk::log;

/// The most recent keys, at most `capacity`.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl Seen {
    /// The keys stored under `kv_key`, or none; unreadable contents are
    /// ignored with a warning.
    pub(crate) fn load(kv_key: &str, capacity: usize) -> Self {
        let mut seen = Self {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity,
        };
        if let Some(bytes) = kv::get(kv_key) {
            match serde_json::from_slice::<Vec<String>>(&bytes) {
                Ok(keys) => keys.into_iter().for_each(|k| {
                    seen.insert(k);
                }),
                Err(e) => log::warn(&format!("ignoring unreadable kv `{kv_key}`: {e}")),
            }
        }
        seen
    }

    /// Remembers `key`, forgetting the oldest one when full; false when it
    /// was already known.
    pub(crate) fn insert(&mut self, key: String) -> bool {
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

    /// Stores the newest `max` keys under `kv_key`.
    pub(crate) fn save(&self, kv_key: &str, max: usize) -> Result<(), String> {
        let skip = self.order.len().saturating_sub(max);
        let newest: Vec<&String> = self.order.iter().skip(skip).collect();
        kv::set_json(kv_key, &newest).map_err(|e| kv_failure(kv_key, &e))
    }
}

/// A readable sentence for a failed kv write.
pub(crate) fn kv_failure(key: &str, error: &KvError) -> String {
    match error {
        KvError::QuotaExceeded(why) => format!("cannot store kv `{key}`: quota exceeded ({why})"),
        KvError::Unavailable(why) => format!("cannot store kv `{key}`: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::testing::FakeHost;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let _host = FakeHost::new().install();
        let mut s = Seen::load("k", 3);
        for k in ["a", "b", "c"] {
            assert!(s.insert(k.into()));
        }
        assert!(!s.insert("a".into()));
        assert!(s.insert("d".into()));
        assert!(s.insert("a".into()), "a was forgotten when d came");
        assert!(!s.insert("c".into()));
    }

    #[test]
    fn survives_a_reload_through_kv() {
        let host = FakeHost::new().kv("broken", b"{").install();
        let mut s = Seen::load("k", 10);
        for k in ["a", "b", "c"] {
            s.insert(k.into());
        }
        s.save("k", 2).unwrap();
        assert_eq!(host.kv("k").unwrap(), br#"["b","c"]"#);
        let mut again = Seen::load("k", 10);
        assert!(!again.insert("c".into()));
        assert!(again.insert("a".into()));

        let mut empty = Seen::load("broken", 10);
        assert!(empty.insert("a".into()));
        assert!(
            host.logs()
                .iter()
                .any(|(_, m)| m.contains("unreadable kv `broken`"))
        );
    }
}
