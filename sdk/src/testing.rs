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

/// A scripted host: config, kv, clock, HTTP answers and market data.
#[derive(Debug, Default)]
pub struct FakeHost {
    config: BTreeMap<String, String>,
    kv: HashMap<String, Vec<u8>>,
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
    pub fn kv(mut self, key: &str, value: &[u8]) -> Self {
        self.kv.insert(key.to_owned(), value.to_vec());
        self
    }

    /// Answers requests whose URL starts with `url_prefix` (longest prefix wins).
    pub fn respond(mut self, url_prefix: &str, status: u16, body: &str) -> Self {
        self.set_answer(url_prefix, Answer::Response(response(status, body)));
        self
    }

    /// Fails requests whose URL starts with `url_prefix`.
    pub fn fail(mut self, url_prefix: &str, error: HttpError) -> Self {
        self.set_answer(url_prefix, Answer::Error(error));
        self
    }

    /// Adds a tick to the market cache (latest tick and one history point).
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

    fn push_tick(&mut self, tick: Tick) {
        self.history
            .entry(tick.symbol.clone())
            .or_default()
            .push(PricePoint {
                timestamp: tick.timestamp,
                bid: tick.bid,
                ask: tick.ask,
            });
        self.latest.insert(tick.symbol.clone(), tick);
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
        self.kv.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    pub(crate) fn kv_delete(&mut self, key: &str) -> Result<(), KvError> {
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
    pub fn respond(&self, url_prefix: &str, status: u16, body: &str) {
        with_host(|h| h.set_answer(url_prefix, Answer::Response(response(status, body))));
    }

    /// Makes requests to `url_prefix` fail.
    pub fn fail(&self, url_prefix: &str, error: HttpError) {
        with_host(|h| h.set_answer(url_prefix, Answer::Error(error)));
    }

    /// Sets config `key` to `value`.
    pub fn set_config(&self, key: &str, value: &str) {
        with_host(|h| {
            h.config.insert(key.to_owned(), value.to_owned());
        });
    }

    /// Adds a tick to the market cache.
    pub fn tick(&self, tick: Tick) {
        with_host(|h| h.push_tick(tick));
    }

    /// The value stored under `key`.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        with_host(|h| h.kv.get(key).cloned())
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        with_host(|h| h.logs.clone())
    }

    /// Every streamed chat chunk so far, as (reply id, delta).
    pub fn chunks(&self) -> Vec<(String, String)> {
        with_host(|h| h.chunks.clone())
    }

    /// Every HTTP request so far.
    pub fn requests(&self) -> Vec<Request> {
        with_host(|h| h.requests.clone())
    }
}

impl Drop for HostHandle {
    fn drop(&mut self) {
        HOST.with(|h| *h.borrow_mut() = None);
    }
}
