//! A fake host for native unit tests of plugin logic.
//!
//! In a native build every capability function of this crate calls the fake
//! host installed on the current thread. Install one, call the plugin's trait
//! methods directly, then inspect what it logged, stored and requested:
//!
//! ```
//! use gateway_sdk::testing::FakeHost;
//!
//! let host = FakeHost::new()
//!     .config("symbols", "EURUSD,USDJPY")
//!     .time_ms(1_700_000_000_000)
//!     .respond("http://up/prices", 200, r#"{"prices":[]}"#)
//!     .install();
//! assert_eq!(gateway_sdk::config::get("symbols").as_deref(), Some("EURUSD,USDJPY"));
//! assert_eq!(gateway_sdk::http::get("http://up/prices").unwrap().status, 200);
//! host.advance_ms(500);
//! assert_eq!(gateway_sdk::clock::now_ms(), 1_700_000_000_500);
//! ```
//!
//! Failures are scripted the same way: [`FakeHost::fail`] for HTTP and
//! [`FakeHost::kv_fail`] for kv writes. Between the steps of a test,
//! [`HostHandle::take_requests`] and [`HostHandle::take_logs`] return what
//! was recorded so far and start over.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::http::{HttpError, Request, Response};
use crate::kv::KvError;
use crate::log::Level;
use crate::{PricePoint, Tick};

thread_local! {
    static HOST: RefCell<Option<FakeHost>> = const { RefCell::new(None) };
}

/// Runs `f` on the fake host of this thread.
///
/// # Panics
/// When no [`FakeHost`] is installed: a capability was used outside a test
/// that set one up.
pub(crate) fn with_host<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| {
        let mut slot = h.borrow_mut();
        let host = slot
            .as_mut()
            .expect("no fake host installed: call FakeHost::new()...install() in this test");
        f(host)
    })
}

/// What the fake host answers to one URL.
#[derive(Debug, Clone)]
enum Answer {
    Response(Response),
    Error(HttpError),
}

/// A scripted host: config, kv (and kv failures), clock, HTTP answers and
/// market data.
#[derive(Debug, Default)]
pub struct FakeHost {
    config: BTreeMap<String, String>,
    kv: HashMap<String, Vec<u8>>,
    kv_failures: Vec<(String, KvError)>,
    now_ms: u64,
    answers: Vec<(String, Answer)>,
    latest: BTreeMap<String, Tick>,
    history: HashMap<String, Vec<PricePoint>>,
    logs: Vec<(Level, String)>,
    chunks: Vec<(String, String)>,
    requests: Vec<Request>,
}

impl FakeHost {
    /// An empty host at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets config `key` to `value`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets the clock.
    pub fn time_ms(mut self, now: u64) -> Self {
        self.now_ms = now;
        self
    }

    /// Pre-fills a kv entry.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let _host = FakeHost::new().kv("cursor", b"c7").install();
    /// assert_eq!(gateway_sdk::kv::get_string("cursor").as_deref(), Some("c7"));
    /// ```
    pub fn kv(mut self, key: &str, value: &[u8]) -> Self {
        self.kv.insert(key.to_owned(), value.to_vec());
        self
    }

    /// Makes kv writes (`set`, `delete`) of keys starting with `key_prefix`
    /// fail with `error`, leaving the stored value as it was (longest prefix
    /// wins; `""` fails every write).
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::kv::{self, KvError};
    /// let _host = FakeHost::new().kv_fail("cp", KvError::Unavailable("disk full".into())).install();
    /// assert!(kv::set("cp", b"1").is_err());
    /// assert!(kv::set("other", b"1").is_ok());
    /// ```
    pub fn kv_fail(mut self, key_prefix: &str, error: KvError) -> Self {
        self.set_kv_failure(key_prefix, error);
        self
    }

    /// Answers requests whose URL starts with `url_prefix` (longest prefix wins).
    pub fn respond(mut self, url_prefix: &str, status: u16, body: &str) -> Self {
        self.set_answer(url_prefix, Answer::Response(response(status, body)));
        self
    }

    /// Fails requests whose URL starts with `url_prefix`.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::http::{self, HttpError};
    /// let _host = FakeHost::new().fail("http://up.test/", HttpError::Timeout).install();
    /// assert_eq!(http::get("http://up.test/x").unwrap_err(), HttpError::Timeout);
    /// ```
    pub fn fail(mut self, url_prefix: &str, error: HttpError) -> Self {
        self.set_answer(url_prefix, Answer::Error(error));
        self
    }

    /// Adds a tick to the market cache: a history point, kept in timestamp
    /// order whatever order ticks are added in, and the symbol's latest tick
    /// unless it is older than the one already there.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::{Tick, market};
    /// let _host = FakeHost::new()
    ///     .tick(Tick { symbol: "EURUSD".into(), bid: 1.09, ask: 1.0902, timestamp: 2 })
    ///     .tick(Tick { symbol: "EURUSD".into(), bid: 1.08, ask: 1.0802, timestamp: 1 })
    ///     .install();
    /// assert_eq!(market::latest("EURUSD").unwrap().bid, 1.09, "the newest, not the last added");
    /// assert_eq!(market::history("EURUSD", 0).len(), 2);
    /// ```
    pub fn tick(mut self, tick: Tick) -> Self {
        self.push_tick(tick);
        self
    }

    /// Makes this the host of the current thread until the handle drops.
    pub fn install(self) -> HostHandle {
        HOST.with(|h| *h.borrow_mut() = Some(self));
        HostHandle { _private: () }
    }

    fn set_answer(&mut self, prefix: &str, answer: Answer) {
        self.answers.retain(|(p, _)| p != prefix);
        self.answers.push((prefix.to_owned(), answer));
    }

    fn set_kv_failure(&mut self, prefix: &str, error: KvError) {
        self.kv_failures.retain(|(p, _)| p != prefix);
        self.kv_failures.push((prefix.to_owned(), error));
    }

    /// The error of a write to `key`, if one is scripted.
    fn kv_failure(&self, key: &str) -> Option<KvError> {
        self.kv_failures
            .iter()
            .filter(|(p, _)| key.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, e)| e.clone())
    }

    fn push_tick(&mut self, tick: Tick) {
        let history = self.history.entry(tick.symbol.clone()).or_default();
        let at = history.partition_point(|p| p.timestamp <= tick.timestamp);
        history.insert(
            at,
            PricePoint {
                timestamp: tick.timestamp,
                bid: tick.bid,
                ask: tick.ask,
            },
        );
        let newest = self
            .latest
            .get(&tick.symbol)
            .is_none_or(|l| l.timestamp <= tick.timestamp);
        if newest {
            self.latest.insert(tick.symbol.clone(), tick);
        }
    }

    pub(crate) fn record_log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }

    pub(crate) fn record_chunk(&mut self, reply_id: &str, delta: &str) {
        self.chunks.push((reply_id.to_owned(), delta.to_owned()));
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub(crate) fn config_value(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    pub(crate) fn config_all(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        self.kv.get(key).cloned()
    }

    pub(crate) fn kv_set(&mut self, key: &str, value: &[u8]) -> Result<(), KvError> {
        if let Some(error) = self.kv_failure(key) {
            return Err(error);
        }
        self.kv.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    pub(crate) fn kv_delete(&mut self, key: &str) -> Result<(), KvError> {
        if let Some(error) = self.kv_failure(key) {
            return Err(error);
        }
        self.kv.remove(key);
        Ok(())
    }

    pub(crate) fn http(&mut self, request: &Request) -> Result<Response, HttpError> {
        self.requests.push(request.clone());
        let answer = self
            .answers
            .iter()
            .filter(|(p, _)| request.url.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, a)| a.clone());
        match answer {
            Some(Answer::Response(r)) => Ok(r),
            Some(Answer::Error(e)) => Err(e),
            None => Err(HttpError::Transport(format!(
                "fake host has no answer for {}",
                request.url
            ))),
        }
    }

    pub(crate) fn latest(&self, symbol: &str) -> Option<Tick> {
        self.latest.get(symbol).cloned()
    }

    pub(crate) fn symbols(&self) -> Vec<String> {
        self.latest.keys().cloned().collect()
    }

    pub(crate) fn history(&self, symbol: &str, since_ms: u64) -> Vec<PricePoint> {
        self.history
            .get(symbol)
            .map(|h| {
                h.iter()
                    .filter(|p| p.timestamp >= since_ms)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn response(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

/// The installed fake host; uninstalls it when dropped.
#[derive(Debug)]
pub struct HostHandle {
    _private: (),
}

impl HostHandle {
    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: u64) {
        with_host(|h| h.now_ms += ms);
    }

    /// Replaces the answer for `url_prefix`.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::http;
    /// let host = FakeHost::new().respond("http://up.test/", 503, "down").install();
    /// assert_eq!(http::get("http://up.test/").unwrap().status, 503);
    /// host.respond("http://up.test/", 200, "{}");
    /// assert_eq!(http::get("http://up.test/").unwrap().status, 200);
    /// ```
    pub fn respond(&self, url_prefix: &str, status: u16, body: &str) {
        with_host(|h| h.set_answer(url_prefix, Answer::Response(response(status, body))));
    }

    /// Makes requests to `url_prefix` fail.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::http::{self, HttpError};
    /// let host = FakeHost::new().respond("http://up.test/", 200, "{}").install();
    /// host.fail("http://up.test/", HttpError::Transport("reset".into()));
    /// assert!(http::get("http://up.test/").is_err());
    /// ```
    pub fn fail(&self, url_prefix: &str, error: HttpError) {
        with_host(|h| h.set_answer(url_prefix, Answer::Error(error)));
    }

    /// Makes kv writes of keys starting with `key_prefix` fail with `error`
    /// (see [`FakeHost::kv_fail`]).
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::kv::{self, KvError};
    /// let host = FakeHost::new().install();
    /// host.kv_fail("", KvError::QuotaExceeded("full".into()));
    /// assert!(kv::set("any", b"1").is_err());
    /// ```
    pub fn kv_fail(&self, key_prefix: &str, error: KvError) {
        with_host(|h| h.set_kv_failure(key_prefix, error));
    }

    /// Removes the failure scripted for exactly `key_prefix`: its writes
    /// succeed again unless another failing prefix still covers them.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::kv::{self, KvError};
    /// let host = FakeHost::new().kv_fail("cp", KvError::Unavailable("down".into())).install();
    /// host.kv_recover("cp");
    /// assert!(kv::set("cp", b"1").is_ok());
    /// ```
    pub fn kv_recover(&self, key_prefix: &str) {
        with_host(|h| h.kv_failures.retain(|(p, _)| p != key_prefix));
    }

    /// Sets config `key` to `value`.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let host = FakeHost::new().install();
    /// host.set_config("symbols", "EURUSD");
    /// assert_eq!(gateway_sdk::config::list("symbols").unwrap(), ["EURUSD"]);
    /// ```
    pub fn set_config(&self, key: &str, value: &str) {
        with_host(|h| {
            h.config.insert(key.to_owned(), value.to_owned());
        });
    }

    /// Adds a tick to the market cache (see [`FakeHost::tick`]).
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::{Tick, market};
    /// let host = FakeHost::new().install();
    /// host.tick(Tick { symbol: "GBPUSD".into(), bid: 1.27, ask: 1.2702, timestamp: 1 });
    /// assert_eq!(market::symbols(), ["GBPUSD"]);
    /// ```
    pub fn tick(&self, tick: Tick) {
        with_host(|h| h.push_tick(tick));
    }

    /// The value stored under `key`.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let host = FakeHost::new().install();
    /// gateway_sdk::kv::set_string("cursor", "c9").unwrap();
    /// assert_eq!(host.kv("cursor").as_deref(), Some(&b"c9"[..]));
    /// ```
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        with_host(|h| h.kv.get(key).cloned())
    }

    /// Every log line so far.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::log::{self, Level};
    /// let host = FakeHost::new().install();
    /// log::warn("slow upstream");
    /// assert_eq!(host.logs(), [(Level::Warn, "slow upstream".to_owned())]);
    /// ```
    pub fn logs(&self) -> Vec<(Level, String)> {
        with_host(|h| h.logs.clone())
    }

    /// Every streamed chat chunk so far, as (reply id, delta).
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let host = FakeHost::new().install();
    /// gateway_sdk::chat::send_chunk("r-1", "Hello");
    /// assert_eq!(host.chunks(), [("r-1".to_owned(), "Hello".to_owned())]);
    /// ```
    pub fn chunks(&self) -> Vec<(String, String)> {
        with_host(|h| h.chunks.clone())
    }

    /// Every HTTP request so far.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let host = FakeHost::new().respond("http://up.test/", 200, "{}").install();
    /// gateway_sdk::http::get("http://up.test/a").unwrap();
    /// assert_eq!(host.requests()[0].url, "http://up.test/a");
    /// ```
    pub fn requests(&self) -> Vec<Request> {
        with_host(|h| h.requests.clone())
    }

    /// The messages logged at `level` so far.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::log::{self, Level};
    /// let host = FakeHost::new().install();
    /// log::info("a");
    /// log::warn("b");
    /// assert_eq!(host.logs_at(Level::Warn), ["b"]);
    /// ```
    pub fn logs_at(&self, level: Level) -> Vec<String> {
        with_host(|h| {
            h.logs
                .iter()
                .filter(|(l, _)| *l == level)
                .map(|(_, m)| m.clone())
                .collect()
        })
    }

    /// Every log line since the start or the previous call; forgets them.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// use gateway_sdk::log;
    /// let host = FakeHost::new().install();
    /// log::info("first");
    /// assert_eq!(host.take_logs().len(), 1);
    /// assert!(host.take_logs().is_empty());
    /// ```
    pub fn take_logs(&self) -> Vec<(Level, String)> {
        with_host(|h| std::mem::take(&mut h.logs))
    }

    /// Every HTTP request since the start or the previous call; forgets them.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let host = FakeHost::new().respond("http://up.test/", 200, "{}").install();
    /// gateway_sdk::http::get("http://up.test/a").unwrap();
    /// assert_eq!(host.take_requests().len(), 1);
    /// assert!(host.take_requests().is_empty());
    /// ```
    pub fn take_requests(&self) -> Vec<Request> {
        with_host(|h| std::mem::take(&mut h.requests))
    }
}

impl Drop for HostHandle {
    fn drop(&mut self) {
        HOST.with(|h| *h.borrow_mut() = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{http, kv, log, market};

    fn tick(symbol: &str, bid: f64, timestamp: u64) -> Tick {
        Tick {
            symbol: symbol.into(),
            bid,
            ask: bid + 0.0001,
            timestamp,
        }
    }

    #[test]
    fn kv_writes_fail_under_a_prefix_until_recovered() {
        let host = FakeHost::new()
            .kv("cursor", b"c1")
            .kv_fail("cur", KvError::Unavailable("disk full".into()))
            .install();
        let full = KvError::QuotaExceeded("1 KiB".into());
        host.kv_fail("cursor.long", full.clone());
        assert_eq!(
            kv::set("cursor", b"c2"),
            Err(KvError::Unavailable("disk full".into()))
        );
        assert_eq!(kv::set("cursor.longer", b"x"), Err(full));
        assert!(kv::delete("cursor").is_err());
        assert_eq!(
            host.kv("cursor").unwrap(),
            b"c1",
            "a failed write changes nothing"
        );
        kv::set("delivered", b"[]").unwrap();

        host.kv_recover("cur");
        kv::set("cursor", b"c2").unwrap();
        assert_eq!(kv::get("cursor").unwrap(), b"c2");
        assert!(kv::set("cursor.longer", b"x").is_err());
        host.kv_fail("", KvError::Unavailable("down".into()));
        assert!(kv::set("anything", b"x").is_err());
    }

    #[test]
    fn ticks_added_out_of_order_keep_history_sorted() {
        let host = FakeHost::new()
            .tick(tick("EURUSD", 1.3, 3_000))
            .tick(tick("EURUSD", 1.1, 1_000))
            .install();
        host.tick(tick("EURUSD", 1.2, 2_000));
        host.tick(tick("USDJPY", 150.0, 500));
        let stamps: Vec<u64> = market::history("EURUSD", 0)
            .iter()
            .map(|p| p.timestamp)
            .collect();
        assert_eq!(stamps, [1_000, 2_000, 3_000]);
        assert_eq!(market::history("EURUSD", 2_000).len(), 2);
        assert_eq!(market::latest("EURUSD").unwrap().timestamp, 3_000);
        host.tick(tick("EURUSD", 1.4, 3_000));
        assert_eq!(
            market::latest("EURUSD").unwrap().bid,
            1.4,
            "same time: the later one"
        );
        assert_eq!(market::symbols(), ["EURUSD", "USDJPY"]);
    }

    #[test]
    fn take_forgets_what_was_recorded() {
        let host = FakeHost::new().respond("http://up/", 200, "{}").install();
        log::info("one");
        http::get("http://up/a").unwrap();
        assert_eq!(host.take_logs(), [(Level::Info, "one".to_owned())]);
        assert_eq!(host.take_requests().len(), 1);
        assert!(host.take_logs().is_empty());
        assert!(host.requests().is_empty());

        log::warn("two");
        log::debug("three");
        assert!(http::get("http://elsewhere/").is_err());
        assert_eq!(host.logs_at(Level::Warn), ["two"]);
        assert_eq!(host.logs().len(), 2);
        assert_eq!(host.take_requests()[0].url, "http://elsewhere/");
    }
}
