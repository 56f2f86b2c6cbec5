//! The HTTP price source: polls the market data service
//! (`GET {url}/prices?symbols=EURUSD,GBPUSD`, answer
//! `{ "prices": [{ "symbol", "bid", "ask", "timestamp" }] }`), drops
//! malformed ticks with a warning, and never emits a tick that is not newer
//! than the last one it emitted for the same symbol.
//!
//! Config:
//! - `url` (required): the service's base URL; the host sets it from
//!   `MARKET_DATA_SERVICE_URL`.
//! - `symbols`: comma-separated symbols to request (default: the majors and
//!   a few crosses). Ticks for other symbols in the answer are ignored.
//! - `interval_ms`: poll interval, 10 ms and up (default 1000).
//!
//! When the service fails (transport error, non-2xx status, invalid JSON),
//! `poll` returns the error once, then skips polls with exponential backoff
//! (1 s, 2 s, 4 s … at most 30 s) until a poll succeeds.

mod ticks;

use std::collections::{HashMap, HashSet};

use gateway_sdk::backoff::Backoff;
use gateway_sdk::contract::is_symbol;
use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, config, log, upstream};

/// Requested when the config names no symbols.
const DEFAULT_SYMBOLS: &[&str] = &[
    "EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD", "NZDUSD", "EURGBP", "EURJPY",
    "GBPJPY",
];
const DEFAULT_INTERVAL_MS: u32 = 1000;
const MIN_INTERVAL_MS: u32 = 10;

/// The plugin state.
pub struct HttpPrices {
    /// The full request URL, symbols included.
    url: String,
    /// Timestamp of the last tick emitted per symbol; also the set of
    /// requested symbols (0 until the first tick).
    last_emitted: HashMap<String, u64>,
    backoff: Backoff,
}

/// The configured symbols, or the defaults.
fn symbols() -> Vec<String> {
    let mut symbols = config::list("symbols")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SYMBOLS.iter().map(|s| (*s).to_owned()).collect());
    let mut seen = HashSet::new();
    symbols.retain(|s| seen.insert(s.clone()));
    symbols
}

fn interval_ms() -> Result<u32, String> {
    config::get_at_least("interval_ms", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS)
}

impl HttpPrices {
    /// One request to the service: the valid ticks of its answer.
    fn fetch(&self) -> Result<Vec<Tick>, String> {
        let answer = upstream::get_json(&self.url)?;
        let parsed = ticks::parse_answer(&answer)
            .map_err(|e| format!("GET {}: {e}", upstream::redacted_url(&self.url)))?;
        if let Some(reason) = parsed.first_reason {
            log::warn(&format!(
                "dropped {} of {} ticks from the market data service; first: {reason}",
                parsed.dropped,
                parsed.dropped + parsed.ticks.len(),
            ));
        }
        Ok(parsed.ticks)
    }

    /// The ticks of requested symbols that are newer than the last one
    /// emitted for their symbol; records them as emitted.
    fn newer_only(&mut self, ticks: Vec<Tick>) -> Vec<Tick> {
        let mut unrequested = 0;
        let fresh = ticks
            .into_iter()
            .filter(|t| match self.last_emitted.get_mut(&t.symbol) {
                Some(last) if t.timestamp > *last => {
                    *last = t.timestamp;
                    true
                }
                Some(_) => false,
                None => {
                    unrequested += 1;
                    false
                }
            })
            .collect();
        if unrequested > 0 {
            log::debug(&format!(
                "ignored {unrequested} ticks of symbols that were not requested"
            ));
        }
        fresh
    }
}

impl PriceSource for HttpPrices {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new(
                "http-prices",
                env!("CARGO_PKG_VERSION"),
                "Prices polled from the market data service over HTTP",
            ),
            symbols: symbols(),
            interval_ms: interval_ms().unwrap_or(DEFAULT_INTERVAL_MS),
        }
    }

    fn init() -> Result<Self, String> {
        let base = upstream::base_url("MARKET_DATA_SERVICE_URL")?;
        interval_ms()?;
        let symbols = symbols();
        if let Some(bad) = symbols.iter().find(|s| !is_symbol(s)) {
            return Err(format!(
                "config `symbols`: invalid symbol {bad:?}, use e.g. EURUSD"
            ));
        }
        let query: Vec<String> = symbols.iter().map(|s| upstream::encode(s)).collect();
        Ok(Self {
            url: format!("{base}/prices?symbols={}", query.join(",")),
            last_emitted: symbols.into_iter().map(|s| (s, 0)).collect(),
            backoff: Backoff::default(),
        })
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        let Some(attempt) = self.backoff.attempt() else {
            return Ok(Vec::new());
        };
        let fetched = self.fetch();
        let ticks = self.backoff.record(attempt, fetched)?;
        Ok(self.newer_only(ticks))
    }
}

gateway_sdk::export_price_source!(HttpPrices);

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::http::HttpError;
    use gateway_sdk::log::Level;
    use gateway_sdk::testing::FakeHost;
    use serde_json::json;

    const URL: &str = "http://md.test/prices";

    fn answer(ticks: &[(&str, f64, f64, u64)]) -> String {
        let prices: Vec<_> = ticks
            .iter()
            .map(|(s, b, a, t)| json!({"symbol": s, "bid": b, "ask": a, "timestamp": t}))
            .collect();
        json!({ "prices": prices }).to_string()
    }

    fn host(symbols: &str) -> FakeHost {
        FakeHost::new()
            .config("url", "http://md.test/")
            .config("symbols", symbols)
            .time_ms(1_700_000_000_000)
    }

    #[test]
    fn requests_the_configured_symbols_and_emits_their_ticks() {
        let host = host("EURUSD, USDJPY")
            .respond(
                URL,
                200,
                &answer(&[("EURUSD", 1.085, 1.0851, 10), ("USDJPY", 151.2, 151.21, 11)]),
            )
            .install();
        let mut p = HttpPrices::init().unwrap();
        let ticks = p.poll().unwrap();
        assert_eq!(
            ticks,
            [
                Tick {
                    symbol: "EURUSD".into(),
                    bid: 1.085,
                    ask: 1.0851,
                    timestamp: 10
                },
                Tick {
                    symbol: "USDJPY".into(),
                    bid: 151.2,
                    ask: 151.21,
                    timestamp: 11
                },
            ]
        );
        let requests = host.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(
            requests[0].url,
            "http://md.test/prices?symbols=EURUSD,USDJPY"
        );
        assert!(host.logs_at(Level::Warn).is_empty());
    }

    #[test]
    fn default_symbols_are_the_ten_majors_and_crosses() {
        let host = FakeHost::new().config("url", "https://md.test").install();
        let info = HttpPrices::describe();
        assert_eq!(info.plugin.name, "http-prices");
        assert_eq!(info.plugin.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.symbols.len(), 10);
        assert_eq!(info.interval_ms, 1000);
        let _ = HttpPrices::init().unwrap().poll();
        assert_eq!(
            host.requests()[0].url,
            format!(
                "https://md.test/prices?symbols={}",
                DEFAULT_SYMBOLS.join(",")
            )
        );
    }

    #[test]
    fn describe_reports_configured_symbols_and_interval() {
        let _host = host("GBPUSD,EURUSD,GBPUSD")
            .config("interval_ms", "250")
            .install();
        let info = HttpPrices::describe();
        assert_eq!(info.symbols, ["GBPUSD", "EURUSD"]);
        assert_eq!(info.interval_ms, 250);
    }

    #[test]
    fn init_refuses_missing_url_and_bad_config() {
        let host = FakeHost::new().install();
        let err = HttpPrices::init().err().unwrap();
        assert!(err.starts_with("config `url` is required"), "{err}");
        host.set_config("url", "md.test");
        assert!(HttpPrices::init().err().unwrap().contains("http://"));
        host.set_config("url", "http://md.test");
        host.set_config("interval_ms", "5");
        assert!(HttpPrices::init().err().unwrap().contains("at least 10"));
        host.set_config("interval_ms", "soon");
        assert!(HttpPrices::init().err().unwrap().contains("interval_ms"));
        host.set_config("interval_ms", "100");
        host.set_config("symbols", "EURUSD,eur/usd");
        assert!(HttpPrices::init().err().unwrap().contains("\"eur/usd\""));
        host.set_config("symbols", "EURUSD");
        assert!(HttpPrices::init().is_ok());
    }

    #[test]
    fn malformed_ticks_are_dropped_with_one_warning() {
        let body = json!({"prices": [
            {"symbol": "EURUSD", "bid": 1.1, "ask": 1.0, "timestamp": 5},
            {"symbol": "EURUSD", "bid": 1.0, "ask": 1.1, "timestamp": 5},
            {"symbol": "eurusd", "bid": 1.0, "ask": 1.1, "timestamp": 5},
            {"symbol": "GBPUSD", "bid": 0, "ask": 1.1, "timestamp": 5},
            {"symbol": "GBPUSD", "bid": 1.2, "ask": 1.3},
            {"symbol": "GBPUSD", "bid": 1.2, "ask": 1.3, "timestamp": 6},
            42,
        ]});
        let host = host("EURUSD,GBPUSD")
            .respond(URL, 200, &body.to_string())
            .install();
        let ticks = HttpPrices::init().unwrap().poll().unwrap();
        assert_eq!(ticks.len(), 2);
        assert_eq!(
            (ticks[0].symbol.as_str(), ticks[0].timestamp),
            ("EURUSD", 5)
        );
        assert_eq!(
            (ticks[1].symbol.as_str(), ticks[1].timestamp),
            ("GBPUSD", 6)
        );
        let warns = host.logs_at(Level::Warn);
        assert_eq!(warns.len(), 1, "{warns:?}");
        assert!(warns[0].contains("dropped 5 of 7 ticks"), "{}", warns[0]);
        assert!(
            warns[0].contains("prices[0]: EURUSD: bid 1.1 is not below ask 1"),
            "{}",
            warns[0]
        );
    }

    #[test]
    fn never_emits_a_tick_that_is_not_newer_than_the_last_one() {
        let host = host("EURUSD,GBPUSD")
            .respond(
                URL,
                200,
                &answer(&[("EURUSD", 1.0, 1.1, 100), ("GBPUSD", 1.2, 1.3, 50)]),
            )
            .install();
        let mut p = HttpPrices::init().unwrap();
        assert_eq!(p.poll().unwrap().len(), 2);

        // Same timestamp again, an older one, and a newer GBPUSD.
        host.respond(
            URL,
            200,
            &answer(&[
                ("EURUSD", 1.0, 1.1, 100),
                ("EURUSD", 1.0, 1.1, 99),
                ("GBPUSD", 1.2, 1.3, 51),
            ]),
        );
        let ticks = p.poll().unwrap();
        assert_eq!(ticks.len(), 1);
        assert_eq!(
            (ticks[0].symbol.as_str(), ticks[0].timestamp),
            ("GBPUSD", 51)
        );

        // Within one answer: increasing ticks pass in order, a step back does not.
        host.respond(
            URL,
            200,
            &answer(&[
                ("EURUSD", 1.0, 1.1, 101),
                ("EURUSD", 1.0, 1.1, 103),
                ("EURUSD", 1.0, 1.1, 102),
            ]),
        );
        let stamps: Vec<u64> = p.poll().unwrap().iter().map(|t| t.timestamp).collect();
        assert_eq!(stamps, [101, 103]);
        assert!(
            host.logs_at(Level::Warn).is_empty(),
            "stale ticks are normal, not worth a warning"
        );
    }

    #[test]
    fn ticks_of_unrequested_symbols_are_ignored() {
        let _host = host("EURUSD")
            .respond(
                URL,
                200,
                &answer(&[("EURUSD", 1.0, 1.1, 7), ("XAUUSD", 2300.0, 2300.5, 7)]),
            )
            .install();
        let ticks = HttpPrices::init().unwrap().poll().unwrap();
        assert_eq!(ticks.len(), 1);
        assert_eq!(ticks[0].symbol, "EURUSD");
    }

    #[test]
    fn upstream_failures_are_clear_errors() {
        let host = host("EURUSD")
            .respond(URL, 503, "Service\n  Unavailable")
            .install();
        let mut p = HttpPrices::init().unwrap();
        let err = p.poll().unwrap_err();
        assert!(err.contains("HTTP 503: Service Unavailable"), "{err}");
        assert!(
            err.contains("http://md.test/prices?…"),
            "the URL, its query left out: {err}"
        );

        host.advance_ms(60_000);
        host.respond(URL, 200, "<html>");
        assert!(p.poll().unwrap_err().contains("invalid JSON"));

        host.advance_ms(60_000);
        host.respond(URL, 200, r#"{"quotes": []}"#);
        assert!(p.poll().unwrap_err().contains("no `prices` array"));

        host.advance_ms(60_000);
        host.fail(URL, HttpError::Timeout);
        assert!(p.poll().unwrap_err().contains("timed out"));
    }

    #[test]
    fn backs_off_after_failures_and_resets_on_success() {
        let host = host("EURUSD")
            .fail(URL, HttpError::Transport("connection refused".into()))
            .install();
        let mut p = HttpPrices::init().unwrap();
        let sent = || host.requests().len();

        let err = p.poll().unwrap_err();
        assert!(
            err.contains("connection refused") && err.contains("next try in 1 s"),
            "{err}"
        );
        assert_eq!(sent(), 1);
        // Within the 1 s backoff: skipped without a request.
        host.advance_ms(999);
        assert_eq!(p.poll(), Ok(vec![]));
        assert_eq!(sent(), 1);
        // Due: tried again, fails, now 2 s.
        host.advance_ms(1);
        assert!(p.poll().unwrap_err().contains("next try in 2 s"));
        assert_eq!(sent(), 2);
        host.advance_ms(1_999);
        assert_eq!(p.poll(), Ok(vec![]));
        assert_eq!(sent(), 2);
        // The service is back: the next due poll succeeds.
        host.respond(URL, 200, &answer(&[("EURUSD", 1.0, 1.1, 1)]));
        host.advance_ms(1);
        assert_eq!(p.poll().unwrap().len(), 1);
        assert_eq!(sent(), 3);
        // After a success the backoff starts over at 1 s.
        host.fail(URL, HttpError::Timeout);
        assert!(p.poll().unwrap_err().contains("next try in 1 s"));
        assert_eq!(sent(), 4);
    }
}
