//! Price fan-out: each tick is recorded in the price cache, serialized once
//! and queued on the socket of every subscriber of its symbol; a batch of
//! ticks goes out socket by socket, each socket's ticks back to back. A
//! subscriber that asked for a maximum rate ([`Pace`]) gets a tick only
//! when its interval has passed; the flusher sends it the latest one it is
//! owed when it has.
//!
//! Congestion: a socket whose send buffer is full when a price update
//! arrives is *parked*. It gets no further updates in bulk; instead, every
//! [`FLUSH_EVERY`] the flusher offers it the latest tick of each of its
//! symbols (latest wins, nothing queues without bound), and unparks it once
//! they all fit. A socket parked longer than the slow-socket timeout is
//! handed back to be cut off. A socket whose buffer another job is filling
//! (a paced order replay) stays parked until that job is done.
//!
//! The decisions are made over [`Recipient`], which an [`Outlet`] is and a
//! test fake can be, so they are unit-tested without sockets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::value::RawValue;
use socketioxide::socket::Sid;

use super::index::Index;
use super::outlet::{Outlet, Refused};
use super::pace::{self, Admit, Pace};
use crate::metrics::Metrics;
use crate::price_cache::PriceCache;
use crate::protocol::payloads::Tick;
use crate::protocol::server;

/// How often parked sockets are retried.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// What price fan-out needs of a socket.
pub(crate) trait Recipient: Clone {
    /// The socket id.
    fn sid(&self) -> Sid;
    /// Queues one `price:update`.
    fn send_tick(&self, tick: &RawValue) -> Result<(), Refused>;
    /// Whether bulk updates skip it.
    fn is_parked(&self) -> bool;
    /// Sets whether bulk updates skip it.
    fn set_parked(&self, parked: bool);
    /// Whether another job (an order replay) is filling its buffer.
    fn is_busy(&self) -> bool;
}

impl Recipient for Arc<Outlet> {
    fn sid(&self) -> Sid {
        Outlet::sid(self)
    }

    fn send_tick(&self, tick: &RawValue) -> Result<(), Refused> {
        self.send(server::PRICE_UPDATE, tick)
    }

    fn is_parked(&self) -> bool {
        Outlet::is_parked(self)
    }

    fn set_parked(&self, parked: bool) {
        Outlet::set_parked(self, parked);
    }

    fn is_busy(&self) -> bool {
        self.orders.lock().is_replaying()
    }
}

struct Parked<R> {
    recipient: R,
    since: Instant,
}

/// A tick owed to a paced subscriber.
struct Owed<R> {
    recipient: R,
    symbol: String,
    pace: Arc<Pace>,
}

/// Price fan-out, the sockets it parked and the ticks it owes.
pub(crate) struct Prices<R> {
    market: Arc<PriceCache>,
    metrics: Arc<Metrics>,
    parked: Mutex<HashMap<Sid, Parked<R>>>,
    owed: Mutex<Vec<Owed<R>>>,
    slow_socket_timeout: Duration,
}

impl<R: Recipient> Prices<R> {
    /// Fan-out recording into `market`; a socket congested longer than
    /// `slow_socket_timeout` is disconnected.
    pub(crate) fn new(
        market: Arc<PriceCache>,
        metrics: Arc<Metrics>,
        slow_socket_timeout: Duration,
    ) -> Self {
        Self {
            market,
            metrics,
            parked: Mutex::new(HashMap::new()),
            owed: Mutex::new(Vec::new()),
            slow_socket_timeout,
        }
    }

    /// The price cache.
    pub(crate) fn market(&self) -> &Arc<PriceCache> {
        &self.market
    }

    /// Records `ticks` and queues each on its subscribers' sockets. A batch
    /// is fanned out socket by socket: each socket gets its ticks of the
    /// batch back to back, so its writer wakes and writes once for them.
    pub(crate) fn publish(&self, index: &Index<R>, ticks: Vec<Tick>) {
        let fresh: Vec<(String, Box<RawValue>)> = ticks
            .into_iter()
            .filter(|tick| self.market.record(tick))
            .filter_map(|tick| {
                let raw = serde_json::value::to_raw_value(&tick).ok()?;
                Some((tick.symbol, raw))
            })
            .collect();
        if fresh.is_empty() {
            return;
        }
        let started = Instant::now();
        let now = pace::now_ms();
        if let [(symbol, raw)] = &fresh[..] {
            let mut sent = 0;
            index.for_each_symbol_subscriber(symbol, |recipient, pace| {
                if self.may_send(recipient, symbol, pace, now) {
                    sent += self.deliver(recipient, std::iter::once(&**raw));
                }
            });
            self.sent(sent, started);
            return;
        }
        let mut per_socket: HashMap<Sid, (R, Vec<usize>)> = HashMap::new();
        for (i, (symbol, _)) in fresh.iter().enumerate() {
            index.for_each_symbol_subscriber(symbol, |recipient, pace| {
                if self.may_send(recipient, symbol, pace, now) {
                    per_socket
                        .entry(recipient.sid())
                        .or_insert_with(|| (recipient.clone(), Vec::new()))
                        .1
                        .push(i);
                }
            });
        }
        let mut sent = 0;
        for (recipient, mine) in per_socket.into_values() {
            sent += self.deliver(&recipient, mine.iter().map(|&i| &*fresh[i].1));
        }
        self.sent(sent, started);
    }

    /// Counts `sent` updates of a batch whose fan-out began at `started`;
    /// the batch's latency is recorded when it reached a socket.
    fn sent(&self, sent: u64, started: Instant) {
        if sent > 0 {
            self.metrics.price_updates_out.inc_by(sent);
            self.metrics
                .tick_emit
                .observe(started.elapsed().as_secs_f64());
        }
    }

    /// Whether a new tick of `symbol` goes to `recipient` now: always
    /// without a pace; with one, when its interval has passed (otherwise the
    /// tick is owed, recorded once for the flusher).
    fn may_send(&self, recipient: &R, symbol: &str, pace: Option<&Arc<Pace>>, now: u64) -> bool {
        let Some(pace) = pace else { return true };
        match pace.admit(now) {
            Admit::Now => true,
            Admit::Owed { first } => {
                if first {
                    self.owed.lock().push(Owed {
                        recipient: recipient.clone(),
                        symbol: symbol.to_owned(),
                        pace: pace.clone(),
                    });
                }
                false
            }
        }
    }

    /// Queues `ticks` on `recipient` in order, unless it is parked; parks
    /// it when its buffer fills. Returns how many were queued; the rest
    /// count as conflated.
    fn deliver<'a>(&self, recipient: &R, ticks: impl Iterator<Item = &'a RawValue>) -> u64 {
        let mut ticks = ticks;
        if recipient.is_parked() {
            self.metrics.conflated.inc_by(ticks.count() as u64);
            return 0;
        }
        let mut sent = 0;
        while let Some(tick) = ticks.next() {
            match recipient.send_tick(tick) {
                Ok(()) => sent += 1,
                Err(Refused::Full) => {
                    self.metrics.conflated.inc_by(1 + ticks.count() as u64);
                    self.park(recipient);
                    break;
                }
                Err(Refused::Closed) => break,
            }
        }
        sent
    }

    /// Stops bulk updates to `recipient` until the flusher finds it has room.
    pub(crate) fn park(&self, recipient: &R) {
        recipient.set_parked(true);
        self.parked
            .lock()
            .entry(recipient.sid())
            .or_insert_with(|| Parked {
                recipient: recipient.clone(),
                since: Instant::now(),
            });
    }

    /// Forgets a socket that went away.
    pub(crate) fn forget(&self, sid: Sid) {
        self.parked.lock().remove(&sid);
    }

    /// Sockets parked right now.
    pub(crate) fn parked(&self) -> usize {
        self.parked.lock().len()
    }

    /// Sends paced subscribers the latest tick they are owed, where their
    /// interval has passed. A parked socket's debt is dropped: the parking
    /// flush sends it the latest of every symbol anyway.
    fn pay_owed(&self, index: &Index<R>) {
        let now = pace::now_ms();
        let due: Vec<Owed<R>> = {
            let mut owed = self.owed.lock();
            if owed.is_empty() {
                return;
            }
            let (due, later) = std::mem::take(&mut *owed)
                .into_iter()
                .partition(|o| o.pace.is_due(now));
            *owed = later;
            due
        };
        for o in due {
            o.pace.settle(now);
            let still_follows = index
                .subscriptions(o.recipient.sid())
                .is_some_and(|s| s.symbols.contains(&o.symbol));
            if !still_follows || o.recipient.is_parked() || o.recipient.is_busy() {
                continue;
            }
            let Some(tick) = self.market.latest(&o.symbol) else {
                continue;
            };
            let Ok(raw) = serde_json::value::to_raw_value(&tick) else {
                continue;
            };
            let sent = self.deliver(&o.recipient, std::iter::once(&*raw));
            self.metrics.price_updates_out.inc_by(sent);
        }
    }

    /// Serves parked sockets: the latest tick of each of their symbols;
    /// unparks those where everything fit. Returns those parked longer than
    /// the slow-socket timeout (forgotten here), to be cut off.
    pub(crate) fn flush(&self, index: &Index<R>) -> Vec<R> {
        self.pay_owed(index);
        let mut too_slow = Vec::new();
        let parked: Vec<(R, Instant)> = self
            .parked
            .lock()
            .values()
            .map(|p| (p.recipient.clone(), p.since))
            .collect();
        for (recipient, since) in parked {
            let sid = recipient.sid();
            let Some(subs) = index.subscriptions(sid) else {
                self.forget(sid);
                continue;
            };
            if since.elapsed() > self.slow_socket_timeout {
                self.forget(sid);
                too_slow.push(recipient);
                continue;
            }
            if recipient.is_busy() {
                continue;
            }
            let mut drained = true;
            for symbol in &subs.symbols {
                let Some(tick) = self.market.latest(symbol) else {
                    continue;
                };
                let Ok(raw) = serde_json::value::to_raw_value(&tick) else {
                    continue;
                };
                if recipient.send_tick(&raw).is_err() {
                    drained = false;
                    break;
                }
                self.metrics.price_updates_out.inc();
            }
            if drained {
                recipient.set_parked(false);
                self.forget(sid);
            }
        }
        too_slow
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::plugin::registry::Registry;

    /// A socket with room for `room` more packets.
    #[derive(Default)]
    struct Fake {
        sid: Sid,
        room: AtomicUsize,
        got: Mutex<Vec<String>>,
        parked: AtomicBool,
        busy: AtomicBool,
        /// Every socket's sends, in the order they happened (shared).
        order: Arc<Mutex<Vec<Sid>>>,
    }

    impl Recipient for Arc<Fake> {
        fn sid(&self) -> Sid {
            self.sid
        }
        fn send_tick(&self, tick: &RawValue) -> Result<(), Refused> {
            if self.room.load(Ordering::Relaxed) == 0 {
                return Err(Refused::Full);
            }
            self.room.fetch_sub(1, Ordering::Relaxed);
            self.order.lock().push(self.sid);
            let t: Tick = serde_json::from_str(tick.get()).unwrap();
            self.got
                .lock()
                .push(format!("{}@{}", t.symbol, t.timestamp));
            Ok(())
        }
        fn is_parked(&self) -> bool {
            self.parked.load(Ordering::Relaxed)
        }
        fn set_parked(&self, parked: bool) {
            self.parked.store(parked, Ordering::Relaxed);
        }
        fn is_busy(&self) -> bool {
            self.busy.load(Ordering::Relaxed)
        }
    }

    struct Setup {
        prices: Prices<Arc<Fake>>,
        index: Index<Arc<Fake>>,
        metrics: Arc<Metrics>,
    }

    fn setup(slow_socket_timeout: Duration) -> Setup {
        let metrics = Arc::new(Metrics::new(Arc::new(Registry::default()), None));
        Setup {
            prices: Prices::new(
                Arc::new(PriceCache::new(1)),
                metrics.clone(),
                slow_socket_timeout,
            ),
            index: Index::default(),
            metrics,
        }
    }

    fn socket(s: &Setup, room: usize, symbols: &[&str]) -> Arc<Fake> {
        logged_socket(s, room, symbols, Arc::default(), None)
    }

    /// A socket that logs its sends into `order`, following `symbols` at
    /// `pace`.
    fn logged_socket(
        s: &Setup,
        room: usize,
        symbols: &[&str],
        order: Arc<Mutex<Vec<Sid>>>,
        pace: Option<Duration>,
    ) -> Arc<Fake> {
        let fake = Arc::new(Fake {
            sid: Sid::new(),
            room: AtomicUsize::new(room),
            order,
            ..Fake::default()
        });
        s.index.get_or_add(fake.sid, "user", || Some(fake.clone()));
        let symbols: Vec<String> = symbols.iter().map(|s| (*s).to_owned()).collect();
        s.index
            .subscribe_symbols(fake.sid, &symbols, 10, pace)
            .unwrap();
        fake
    }

    fn tick(symbol: &str, timestamp: u64) -> Tick {
        Tick {
            symbol: symbol.into(),
            bid: 1.0,
            ask: 1.1,
            timestamp,
        }
    }

    fn got(f: &Fake) -> Vec<String> {
        f.got.lock().clone()
    }

    #[test]
    fn each_tick_goes_once_to_its_symbols_subscribers_and_stale_ticks_nowhere() {
        let s = setup(Duration::from_secs(30));
        let eur = socket(&s, 10, &["EURUSD"]);
        let both = socket(&s, 10, &["EURUSD", "GBPUSD"]);
        s.prices.publish(
            &s.index,
            vec![tick("EURUSD", 1), tick("GBPUSD", 1), tick("EURUSD", 1)],
        );
        s.prices.publish(&s.index, vec![tick("EURUSD", 0)]);
        assert_eq!(got(&eur), ["EURUSD@1"]);
        assert_eq!(got(&both), ["EURUSD@1", "GBPUSD@1"]);
        assert_eq!(s.metrics.price_updates_out.get(), 3);
    }

    #[test]
    fn a_batch_reaches_each_socket_back_to_back() {
        let s = setup(Duration::from_secs(30));
        let order = Arc::new(Mutex::new(Vec::new()));
        let sockets: Vec<Arc<Fake>> = (0..20)
            .map(|_| logged_socket(&s, 10, &["A", "B", "C"], order.clone(), None))
            .collect();
        s.prices
            .publish(&s.index, vec![tick("A", 1), tick("B", 1), tick("C", 1)]);
        let order = order.lock().clone();
        assert_eq!(order.len(), 60);
        for run in order.chunks(3) {
            assert!(
                run.iter().all(|sid| *sid == run[0]),
                "interleaved: {order:?}"
            );
        }
        for f in &sockets {
            assert_eq!(got(f), ["A@1", "B@1", "C@1"], "in the batch's order");
        }
    }

    #[test]
    fn a_paced_subscriber_gets_one_tick_per_interval_and_then_the_latest() {
        let s = setup(Duration::from_secs(30));
        let paced = logged_socket(
            &s,
            100,
            &["A"],
            Arc::default(),
            Some(Duration::from_millis(40)),
        );
        let every = socket(&s, 100, &["A"]);
        for ts in 1..=5 {
            s.prices.publish(&s.index, vec![tick("A", ts)]);
        }
        assert_eq!(got(&every).len(), 5);
        assert_eq!(got(&paced), ["A@1"], "the rest of the burst is owed");
        s.prices.flush(&s.index);
        assert_eq!(got(&paced), ["A@1"], "not yet due");
        std::thread::sleep(Duration::from_millis(45));
        s.prices.flush(&s.index);
        assert_eq!(got(&paced), ["A@1", "A@5"], "the final value of the burst");
        s.prices.flush(&s.index);
        assert_eq!(got(&paced).len(), 2, "owed once");
        std::thread::sleep(Duration::from_millis(45));
        s.prices.publish(&s.index, vec![tick("A", 6)]);
        assert_eq!(
            got(&paced).last().unwrap(),
            "A@6",
            "a quiet interval: at once"
        );
    }

    #[test]
    fn a_socket_that_fills_up_mid_batch_is_parked_with_the_rest_conflated() {
        let s = setup(Duration::from_secs(30));
        let slow = socket(&s, 1, &["A", "B", "C"]);
        s.prices
            .publish(&s.index, vec![tick("A", 1), tick("B", 1), tick("C", 1)]);
        assert_eq!(got(&slow), ["A@1"]);
        assert!(slow.is_parked());
        assert_eq!(s.metrics.conflated.get(), 2);
    }

    #[test]
    fn a_full_socket_is_parked_and_skipped_while_others_keep_receiving() {
        let s = setup(Duration::from_secs(30));
        let slow = socket(&s, 1, &["EURUSD"]);
        let fast = socket(&s, 100, &["EURUSD"]);
        for ts in 1..=5 {
            s.prices.publish(&s.index, vec![tick("EURUSD", ts)]);
        }
        assert_eq!(got(&slow), ["EURUSD@1"]);
        assert_eq!(got(&fast).len(), 5);
        assert!(slow.is_parked() && !fast.is_parked());
        assert_eq!(s.prices.parked(), 1);
        assert_eq!(
            s.metrics.conflated.get(),
            4,
            "the refused tick and the three skipped after it"
        );
    }

    #[test]
    fn the_flusher_serves_the_latest_of_each_symbol_and_unparks_once_all_fit() {
        let s = setup(Duration::from_secs(30));
        let slow = socket(&s, 0, &["EURUSD", "GBPUSD"]);
        s.prices.publish(&s.index, vec![tick("EURUSD", 1)]);
        s.prices
            .publish(&s.index, vec![tick("EURUSD", 2), tick("GBPUSD", 3)]);
        assert!(slow.is_parked());
        slow.room.store(1, Ordering::Relaxed);
        s.prices.flush(&s.index);
        assert_eq!(got(&slow), ["EURUSD@2"], "one fit");
        assert!(slow.is_parked(), "the other did not: still parked");
        slow.room.store(5, Ordering::Relaxed);
        s.prices.flush(&s.index);
        assert_eq!(got(&slow), ["EURUSD@2", "EURUSD@2", "GBPUSD@3"]);
        assert!(!slow.is_parked());
        assert_eq!(s.prices.parked(), 0);
        s.prices.publish(&s.index, vec![tick("GBPUSD", 4)]);
        assert_eq!(
            got(&slow).last().unwrap(),
            "GBPUSD@4",
            "bulk updates resume"
        );
    }

    #[test]
    fn a_socket_parked_past_the_timeout_is_handed_back_once() {
        let s = setup(Duration::ZERO);
        let slow = socket(&s, 0, &["EURUSD"]);
        s.prices.publish(&s.index, vec![tick("EURUSD", 1)]);
        std::thread::sleep(Duration::from_millis(2));
        let too_slow = s.prices.flush(&s.index);
        assert_eq!(too_slow.len(), 1);
        assert_eq!(too_slow[0].sid, slow.sid);
        assert_eq!(s.prices.parked(), 0);
        assert!(s.prices.flush(&s.index).is_empty());
    }

    #[test]
    fn a_busy_socket_stays_parked_but_still_times_out() {
        let s = setup(Duration::from_millis(50));
        let replaying = socket(&s, 0, &["EURUSD"]);
        s.prices.publish(&s.index, vec![tick("EURUSD", 1)]);
        replaying.busy.store(true, Ordering::Relaxed);
        replaying.room.store(10, Ordering::Relaxed);
        assert!(s.prices.flush(&s.index).is_empty());
        assert!(got(&replaying).is_empty(), "the replay has the buffer");
        assert!(replaying.is_parked());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(s.prices.flush(&s.index).len(), 1);
    }

    #[test]
    fn a_parked_socket_that_left_is_forgotten() {
        let s = setup(Duration::from_secs(30));
        let slow = socket(&s, 0, &["EURUSD"]);
        s.prices.publish(&s.index, vec![tick("EURUSD", 1)]);
        s.index.remove(slow.sid);
        assert!(s.prices.flush(&s.index).is_empty());
        assert_eq!(s.prices.parked(), 0);
    }
}
