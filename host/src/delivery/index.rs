//! The subscription index: the one owner of which socket follows what
//! (price symbols, its user's orders, event types) and of the lookups
//! delivery needs (the subscribers of a symbol, the sockets of a user, the
//! subscribers of an event type). Each socket's entry carries a value of
//! the caller's choosing (the socket's outlet), so fan-out finds what it
//! sends to without a second map.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::RwLock;
use socketioxide::socket::Sid;

use super::pace::Pace;

/// What one socket follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subscriptions {
    /// Price symbols.
    pub(crate) symbols: BTreeSet<String>,
    /// Its own user's orders and positions.
    pub(crate) orders: bool,
    /// Event types.
    pub(crate) event_types: BTreeSet<String>,
}

/// A subscription would pass a per-socket cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverCap {
    /// How many the socket already has.
    pub(crate) have: usize,
}

struct Entry<T> {
    user: String,
    value: T,
    subs: Subscriptions,
}

/// Sockets under one key (a symbol, a user, an event type).
type Members<T> = HashMap<Sid, T>;

/// A socket following a symbol: its value, and the pace it asked for
/// (`None`: every tick).
pub(crate) type Follower<T> = (T, Option<Arc<Pace>>);

struct Inner<T> {
    sockets: HashMap<Sid, Entry<T>>,
    by_symbol: HashMap<String, Members<Follower<T>>>,
    by_user: HashMap<String, Members<T>>,
    by_event_type: HashMap<String, Members<T>>,
}

/// Who follows what. `T` is what delivery keeps per socket.
pub(crate) struct Index<T> {
    inner: RwLock<Inner<T>>,
}

impl<T> Default for Index<T> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Inner {
                sockets: HashMap::new(),
                by_symbol: HashMap::new(),
                by_user: HashMap::new(),
                by_event_type: HashMap::new(),
            }),
        }
    }
}

fn join<K: Hash + Eq + Clone, T: Clone>(
    map: &mut HashMap<K, Members<T>>,
    key: &K,
    sid: Sid,
    value: &T,
) {
    map.entry(key.clone())
        .or_default()
        .insert(sid, value.clone());
}

fn leave<K: Hash + Eq>(map: &mut HashMap<K, Members<impl Sized>>, key: &K, sid: Sid) {
    if let Some(members) = map.get_mut(key) {
        members.remove(&sid);
        if members.is_empty() {
            map.remove(key);
        }
    }
}

impl<T: Clone> Index<T> {
    /// The value of socket `sid`, adding the socket (of `user`, following
    /// nothing yet) with the value `make` gives when it is not indexed;
    /// `make` may decline (then nothing is added). `make` runs under the
    /// index's lock, so it can check a condition that a concurrent
    /// [`Self::remove`] changes before it removes.
    pub(crate) fn get_or_add(
        &self,
        sid: Sid,
        user: &str,
        make: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        let mut inner = self.inner.write();
        if let Some(e) = inner.sockets.get(&sid) {
            return Some(e.value.clone());
        }
        let value = make()?;
        join(&mut inner.by_user, &user.to_owned(), sid, &value);
        inner.sockets.insert(
            sid,
            Entry {
                user: user.to_owned(),
                value: value.clone(),
                subs: Subscriptions::default(),
            },
        );
        Some(value)
    }

    /// Forgets socket `sid` and everything it followed; its value, if it was here.
    pub(crate) fn remove(&self, sid: Sid) -> Option<T> {
        let mut inner = self.inner.write();
        let entry = inner.sockets.remove(&sid)?;
        for s in &entry.subs.symbols {
            leave(&mut inner.by_symbol, s, sid);
        }
        for t in &entry.subs.event_types {
            leave(&mut inner.by_event_type, t, sid);
        }
        leave(&mut inner.by_user, &entry.user, sid);
        Some(entry.value)
    }

    /// The value of socket `sid`.
    pub(crate) fn get(&self, sid: Sid) -> Option<T> {
        self.inner.read().sockets.get(&sid).map(|e| e.value.clone())
    }

    /// What socket `sid` follows.
    pub(crate) fn subscriptions(&self, sid: Sid) -> Option<Subscriptions> {
        self.inner.read().sockets.get(&sid).map(|e| e.subs.clone())
    }

    /// Every socket's value, with what it follows.
    pub(crate) fn all(&self) -> Vec<(T, Subscriptions)> {
        self.inner
            .read()
            .sockets
            .values()
            .map(|e| (e.value.clone(), e.subs.clone()))
            .collect()
    }

    /// Adds `symbols` to socket `sid`, each at most one tick per `pace`
    /// (or every tick; a symbol already followed takes the new pace),
    /// unless it would then follow more than `max`; returns every symbol it
    /// now follows.
    pub(crate) fn subscribe_symbols(
        &self,
        sid: Sid,
        symbols: &[String],
        max: usize,
        pace: Option<std::time::Duration>,
    ) -> Result<Vec<String>, OverCap> {
        let mut inner = self.inner.write();
        let Inner {
            sockets, by_symbol, ..
        } = &mut *inner;
        let Some(entry) = sockets.get_mut(&sid) else {
            return Ok(Vec::new());
        };
        let have = entry.subs.symbols.len();
        let new = symbols
            .iter()
            .filter(|s| !entry.subs.symbols.contains(*s))
            .count();
        if have + new > max {
            return Err(OverCap { have });
        }
        for s in symbols {
            entry.subs.symbols.insert(s.clone());
            let follower = (entry.value.clone(), pace.map(|p| Arc::new(Pace::new(p))));
            by_symbol
                .entry(s.clone())
                .or_default()
                .insert(sid, follower);
        }
        Ok(entry.subs.symbols.iter().cloned().collect())
    }

    /// Removes `symbols` from socket `sid`; returns the symbols it still follows.
    pub(crate) fn unsubscribe_symbols(&self, sid: Sid, symbols: &[String]) -> Vec<String> {
        let mut inner = self.inner.write();
        let Inner {
            sockets, by_symbol, ..
        } = &mut *inner;
        let Some(entry) = sockets.get_mut(&sid) else {
            return Vec::new();
        };
        for s in symbols {
            if entry.subs.symbols.remove(s) {
                leave(by_symbol, s, sid);
            }
        }
        entry.subs.symbols.iter().cloned().collect()
    }

    /// Calls `f` with the value of every socket following `symbol`, and
    /// the pace it asked for.
    pub(crate) fn for_each_symbol_subscriber(
        &self,
        symbol: &str,
        mut f: impl FnMut(&T, Option<&Arc<Pace>>),
    ) {
        if let Some(members) = self.inner.read().by_symbol.get(symbol) {
            members.values().for_each(|(v, pace)| f(v, pace.as_ref()));
        }
    }

    /// Whether socket `sid` follows its user's orders.
    pub(crate) fn follows_orders(&self, sid: Sid) -> bool {
        self.inner
            .read()
            .sockets
            .get(&sid)
            .is_some_and(|e| e.subs.orders)
    }

    /// Starts or stops socket `sid` following its user's orders.
    pub(crate) fn set_orders(&self, sid: Sid, follow: bool) {
        if let Some(e) = self.inner.write().sockets.get_mut(&sid) {
            e.subs.orders = follow;
        }
    }

    /// Every socket of `user`, with whether it follows the user's orders.
    pub(crate) fn user_sockets(&self, user: &str) -> Vec<(T, bool)> {
        let inner = self.inner.read();
        inner
            .by_user
            .get(user)
            .map(|members| {
                members
                    .iter()
                    .map(|(sid, v)| {
                        let follows = inner.sockets.get(sid).is_some_and(|e| e.subs.orders);
                        (v.clone(), follows)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds event `types` to socket `sid`, unless it would then follow more
    /// than `max`; returns every type it now follows.
    pub(crate) fn subscribe_event_types(
        &self,
        sid: Sid,
        types: &[String],
        max: usize,
    ) -> Result<Vec<String>, OverCap> {
        let mut inner = self.inner.write();
        let Inner {
            sockets,
            by_event_type,
            ..
        } = &mut *inner;
        let Some(entry) = sockets.get_mut(&sid) else {
            return Ok(Vec::new());
        };
        let have = entry.subs.event_types.len();
        let new = types
            .iter()
            .filter(|t| !entry.subs.event_types.contains(*t))
            .count();
        if have + new > max {
            return Err(OverCap { have });
        }
        for t in types {
            if entry.subs.event_types.insert(t.clone()) {
                join(by_event_type, t, sid, &entry.value);
            }
        }
        Ok(entry.subs.event_types.iter().cloned().collect())
    }

    /// Removes event `types` (all when `None`) from socket `sid`; returns
    /// the types it still follows.
    pub(crate) fn unsubscribe_event_types(
        &self,
        sid: Sid,
        types: Option<&[String]>,
    ) -> Vec<String> {
        let mut inner = self.inner.write();
        let Inner {
            sockets,
            by_event_type,
            ..
        } = &mut *inner;
        let Some(entry) = sockets.get_mut(&sid) else {
            return Vec::new();
        };
        let gone: Vec<String> = match types {
            Some(types) => types
                .iter()
                .filter(|t| entry.subs.event_types.contains(*t))
                .cloned()
                .collect(),
            None => entry.subs.event_types.iter().cloned().collect(),
        };
        for t in &gone {
            entry.subs.event_types.remove(t);
            leave(by_event_type, t, sid);
        }
        entry.subs.event_types.iter().cloned().collect()
    }

    /// The sockets following event type `kind` (of `users`, when given),
    /// each with its user and every type it follows.
    pub(crate) fn event_subscribers(
        &self,
        kind: &str,
        users: Option<&[String]>,
    ) -> Vec<(T, String, Vec<String>)> {
        let inner = self.inner.read();
        let Some(members) = inner.by_event_type.get(kind) else {
            return Vec::new();
        };
        members
            .keys()
            .filter_map(|sid| inner.sockets.get(sid))
            .filter(|e| users.is_none_or(|u| u.contains(&e.user)))
            .map(|e| {
                (
                    e.value.clone(),
                    e.user.clone(),
                    e.subs.event_types.iter().cloned().collect(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn add(index: &Index<u32>, sid: Sid, user: &str, value: u32) {
        assert_eq!(index.get_or_add(sid, user, || Some(value)), Some(value));
    }

    fn symbol_subscribers(index: &Index<u32>, symbol: &str) -> Vec<u32> {
        let mut got = Vec::new();
        index.for_each_symbol_subscriber(symbol, |v, _| got.push(*v));
        got.sort_unstable();
        got
    }

    #[test]
    fn symbols_are_followed_per_socket_within_the_cap() {
        let index = Index::default();
        let (a, b) = (Sid::new(), Sid::new());
        add(&index, a, "alice", 1);
        add(&index, b, "bob", 2);
        assert_eq!(
            index.subscribe_symbols(a, &strings(&["EURUSD", "GBPUSD"]), 2, None),
            Ok(strings(&["EURUSD", "GBPUSD"]))
        );
        assert_eq!(
            index.subscribe_symbols(a, &strings(&["EURUSD", "USDJPY"]), 2, None),
            Err(OverCap { have: 2 }),
            "a new symbol over the cap is refused and nothing changes"
        );
        assert_eq!(
            index.subscribe_symbols(a, &strings(&["EURUSD"]), 2, None),
            Ok(strings(&["EURUSD", "GBPUSD"])),
            "resubscribing costs nothing"
        );
        index
            .subscribe_symbols(b, &strings(&["EURUSD"]), 2, None)
            .unwrap();
        assert_eq!(symbol_subscribers(&index, "EURUSD"), [1, 2]);
        assert_eq!(symbol_subscribers(&index, "USDJPY"), Vec::<u32>::new());
        assert_eq!(
            index.unsubscribe_symbols(a, &strings(&["EURUSD", "NOPE"])),
            strings(&["GBPUSD"])
        );
        assert_eq!(symbol_subscribers(&index, "EURUSD"), [2]);
    }

    #[test]
    fn adding_is_once_and_may_be_declined() {
        let index = Index::default();
        let (a, b) = (Sid::new(), Sid::new());
        add(&index, a, "alice", 1);
        assert_eq!(index.get_or_add(a, "alice", || Some(9)), Some(1));
        assert_eq!(index.get_or_add(b, "bob", || None), None);
        assert_eq!(index.get(b), None);
        assert_eq!(index.all().len(), 1);
    }

    #[test]
    fn removing_a_socket_forgets_every_subscription() {
        let index = Index::default();
        let a = Sid::new();
        add(&index, a, "alice", 1);
        index
            .subscribe_symbols(a, &strings(&["EURUSD"]), 5, None)
            .unwrap();
        index
            .subscribe_event_types(a, &strings(&["MARKET_HALT"]), 5)
            .unwrap();
        index.set_orders(a, true);
        assert_eq!(index.remove(a), Some(1));
        assert_eq!(index.remove(a), None);
        assert!(symbol_subscribers(&index, "EURUSD").is_empty());
        assert!(index.event_subscribers("MARKET_HALT", None).is_empty());
        assert!(index.user_sockets("alice").is_empty());
        assert!(index.all().is_empty());
        let inner = index.inner.read();
        assert!(inner.by_symbol.is_empty() && inner.by_user.is_empty());
        assert!(inner.by_event_type.is_empty());
    }

    #[test]
    fn a_users_sockets_and_who_follows_orders() {
        let index = Index::default();
        let (a1, a2, b) = (Sid::new(), Sid::new(), Sid::new());
        add(&index, a1, "alice", 1);
        add(&index, a2, "alice", 2);
        add(&index, b, "bob", 3);
        index.set_orders(a2, true);
        let mut alice = index.user_sockets("alice");
        alice.sort_unstable();
        assert_eq!(alice, [(1, false), (2, true)]);
        assert!(index.follows_orders(a2) && !index.follows_orders(a1));
        index.set_orders(a2, false);
        assert!(!index.follows_orders(a2));
        assert_eq!(index.user_sockets("bob"), [(3, false)]);
    }

    #[test]
    fn event_types_with_targets() {
        let index = Index::default();
        let (a, b) = (Sid::new(), Sid::new());
        add(&index, a, "alice", 1);
        add(&index, b, "bob", 2);
        index
            .subscribe_event_types(a, &strings(&["HALT", "NEWS"]), 2)
            .unwrap();
        index
            .subscribe_event_types(b, &strings(&["HALT"]), 2)
            .unwrap();
        assert_eq!(
            index.subscribe_event_types(b, &strings(&["A", "B"]), 2),
            Err(OverCap { have: 1 })
        );
        let mut halt: Vec<(u32, String)> = index
            .event_subscribers("HALT", None)
            .into_iter()
            .map(|(v, u, _)| (v, u))
            .collect();
        halt.sort();
        assert_eq!(halt, [(1, "alice".into()), (2, "bob".into())]);
        let only_bob = index.event_subscribers("HALT", Some(&strings(&["bob"])));
        assert_eq!(only_bob.len(), 1);
        assert_eq!(only_bob[0].0, 2);
        let alice = index.event_subscribers("NEWS", None);
        assert_eq!(alice[0].2, strings(&["HALT", "NEWS"]));
        assert_eq!(
            index.unsubscribe_event_types(a, Some(&strings(&["HALT"]))),
            strings(&["NEWS"])
        );
        assert_eq!(index.event_subscribers("HALT", None).len(), 1);
        assert!(index.unsubscribe_event_types(a, None).is_empty());
        assert!(index.event_subscribers("NEWS", None).is_empty());
    }
}
