//! The chat assistant: a market-aware trading assistant that answers from
//! the gateway's price cache — the latest quote, the spread in pips, the
//! trend (change and moving averages of the mid) and the volatility of the
//! symbol the user names (`EURUSD`, `eurusd`, `EUR/USD` …) or is looking at.
//! Replies are streamed sentence by sentence as `chat:chunk`s before the
//! final message.
//!
//! With `llm_url` set, the question goes to an OpenAI-compatible LLM along
//! with the computed market context; if that fails, the built-in answer is
//! sent instead (and a warning logged).
//!
//! Config (all optional):
//! - `trend_minutes`: window of the trend, 1 to 1440 (default 15); the short
//!   moving average covers a third of it.
//! - `volatility_minutes`: window of the volatility, 1 to 1440 (default 60).
//! - `llm_url`: base URL of an OpenAI-compatible API, e.g.
//!   `https://api.openai.com/v1`; its host must be in the allowed hosts.
//! - `llm_api_key`: sent as `Authorization: Bearer …`.
//! - `llm_model`: default `gpt-4o-mini`.
//! - `llm_timeout_ms`: timeout of an LLM call (default 20000), capped by the
//!   host's limit.

mod analysis;
mod answer;
mod intent;
mod llm;
mod stream;
mod symbol;

use gateway_sdk::{
    ChatReply, ChatRequest, ChatResponder, PluginInfo, clock, config, log, market, upstream,
};

use analysis::Windows;
use answer::Context;
use llm::Llm;

const DEFAULT_TREND_MINUTES: u32 = 15;
const DEFAULT_VOLATILITY_MINUTES: u32 = 60;
/// Longest analysis window: one day.
const MAX_WINDOW_MINUTES: u32 = 1440;
const DEFAULT_LLM_MODEL: &str = "gpt-4o-mini";
const DEFAULT_LLM_TIMEOUT_MS: u32 = 20_000;

/// The plugin state: its settings.
pub struct ChatAssistant {
    windows: Windows,
    llm: Option<Llm>,
}

/// A window length from config `key`.
fn window_minutes(key: &str, default: u32) -> Result<u32, String> {
    let minutes = config::get_or(key, default)?;
    if !(1..=MAX_WINDOW_MINUTES).contains(&minutes) {
        return Err(format!(
            "{key} must be between 1 and {MAX_WINDOW_MINUTES} minutes, got {minutes}"
        ));
    }
    Ok(minutes)
}

/// The LLM settings, when `llm_url` is set.
fn llm_config() -> Result<Option<Llm>, String> {
    let Some(url) = config::get("llm_url").filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let url = upstream::http_url("llm_url", url.trim().trim_end_matches('/'))?;
    let non_empty = |key: &str| {
        config::get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Ok(Some(Llm {
        url: format!("{url}/chat/completions"),
        api_key: non_empty("llm_api_key"),
        model: non_empty("llm_model").unwrap_or_else(|| DEFAULT_LLM_MODEL.to_owned()),
        timeout_ms: config::get_or("llm_timeout_ms", DEFAULT_LLM_TIMEOUT_MS)?,
    }))
}

impl ChatAssistant {
    /// What the answer is written from: the symbol asked about (`named` in
    /// the message, else the client's current one) and its facts.
    fn context(&self, request: &ChatRequest, known: Vec<String>, named: Option<String>) -> Context {
        let symbol = named.or_else(|| {
            request
                .current_symbol
                .as_deref()
                .map(symbol::normalize)
                .filter(|s| !s.is_empty())
        });
        let now = clock::now_ms();
        Context {
            known,
            facts: symbol
                .as_deref()
                .and_then(|s| analysis::facts(s, now, self.windows)),
            symbol,
            windows: self.windows,
            now,
        }
    }
}

impl ChatResponder for ChatAssistant {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "chat-assistant",
            env!("CARGO_PKG_VERSION"),
            "Trading assistant answering from live prices: quotes, spreads, trends and volatility; optional LLM",
        )
    }

    fn init() -> Result<Self, String> {
        Ok(Self {
            windows: Windows {
                trend_minutes: window_minutes("trend_minutes", DEFAULT_TREND_MINUTES)?,
                volatility_minutes: window_minutes(
                    "volatility_minutes",
                    DEFAULT_VOLATILITY_MINUTES,
                )?,
            },
            llm: llm_config()?,
        })
    }

    fn respond(&mut self, request: ChatRequest) -> Result<ChatReply, String> {
        let known = market::symbols();
        let named = symbol::find(&request.message, &known);
        let intent = intent::classify(&request.message, named.is_some());
        let ctx = self.context(&request, known, named);
        let builtin = answer::render(intent, &ctx);
        let message = match &self.llm {
            None => builtin,
            Some(llm) => {
                let system = llm::system_prompt(&answer::context_lines(&ctx), &builtin);
                llm.ask(&system, &request.message).unwrap_or_else(|e| {
                    log::warn(&format!("LLM failed, sending the built-in answer: {e}"));
                    builtin
                })
            }
        };
        stream::send(&request.id, &message);
        Ok(ChatReply { message })
    }
}

gateway_sdk::export_chat_responder!(ChatAssistant);

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::Tick;
    use gateway_sdk::http::HttpError;
    use gateway_sdk::log::Level;
    use gateway_sdk::testing::{FakeHost, HostHandle};
    use serde_json::{Value, json};

    /// 22:13:20 UTC.
    const NOW: u64 = 1_700_000_000_000;
    const MINUTE: u64 = 60_000;
    const LLM: &str = "http://llm.test/v1/chat/completions";

    fn tick(symbol: &str, bid: f64, ask: f64, timestamp: u64) -> Tick {
        Tick {
            symbol: symbol.into(),
            bid,
            ask,
            timestamp,
        }
    }

    /// GBPUSD and USDJPY, one tick each, a second ago.
    fn others() -> FakeHost {
        FakeHost::new()
            .time_ms(NOW)
            .tick(tick("GBPUSD", 1.265, 1.26512, NOW - 1_000))
            .tick(tick("USDJPY", 151.203, 151.215, NOW - 1_000))
    }

    /// EURUSD, GBPUSD and USDJPY, one tick each, a second ago.
    fn market() -> FakeHost {
        others().tick(tick("EURUSD", 1.08512, 1.0852, NOW - 1_000))
    }

    /// `host` with one EURUSD price a minute over the last 15 minutes, the
    /// mid going `start`, `start + step` …, spread 0.8 pips.
    fn eurusd_series(mut host: FakeHost, start: f64, step: f64) -> FakeHost {
        for i in 0..16u32 {
            let mid = start + f64::from(i) * step;
            host = host.tick(tick(
                "EURUSD",
                mid - 0.00004,
                mid + 0.00004,
                NOW - 15 * MINUTE + u64::from(i) * MINUTE,
            ));
        }
        host
    }

    fn request(message: &str, current: Option<&str>) -> ChatRequest {
        ChatRequest {
            id: "r-1".into(),
            user_id: "alice".into(),
            message: message.into(),
            current_symbol: current.map(str::to_owned),
        }
    }

    fn ask(message: &str, current: Option<&str>) -> String {
        ChatAssistant::init()
            .unwrap()
            .respond(request(message, current))
            .unwrap()
            .message
    }

    fn assert_mentions(text: &str, parts: &[&str]) {
        for part in parts {
            assert!(text.contains(part), "{part:?} missing from {text:?}");
        }
    }

    fn llm_answer(content: &str) -> String {
        json!({"id": "c-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}).to_string()
    }

    #[test]
    fn describes_itself() {
        let _host = FakeHost::new().install();
        let info = ChatAssistant::describe();
        assert_eq!(info.name, "chat-assistant");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn refuses_bad_config() {
        let host = FakeHost::new().config("trend_minutes", "0").install();
        assert!(
            ChatAssistant::init()
                .err()
                .unwrap()
                .contains("trend_minutes must be between 1 and 1440")
        );
        host.set_config("trend_minutes", "soon");
        assert!(
            ChatAssistant::init()
                .err()
                .unwrap()
                .contains("config `trend_minutes`")
        );
        host.set_config("trend_minutes", "30");
        host.set_config("volatility_minutes", "2000");
        assert!(
            ChatAssistant::init()
                .err()
                .unwrap()
                .contains("volatility_minutes")
        );
        host.set_config("volatility_minutes", "120");
        host.set_config("llm_url", "llm.test");
        assert!(ChatAssistant::init().err().unwrap().contains("`llm_url`"));
        host.set_config("llm_url", "https://llm.test/v1/");
        assert_eq!(
            ChatAssistant::init().unwrap().llm.unwrap().url,
            "https://llm.test/v1/chat/completions"
        );
    }

    #[test]
    fn price_of_the_named_symbol_with_its_decimals_and_spread() {
        let _host = market().install();
        let answer = ask("What's the EURUSD price?", None);
        assert_eq!(
            answer,
            "EURUSD is at 1.08512 bid / 1.08520 ask (mid 1.08516) as of 22:13:19 UTC. The spread is 0.8 pips."
        );
        let answer = ask("quote usd/jpy", Some("EURUSD"));
        assert_mentions(
            &answer,
            &[
                "USDJPY is at 151.203 bid / 151.215 ask",
                "mid 151.209",
                "1.2 pips",
            ],
        );
    }

    #[test]
    fn finds_the_symbol_in_the_message_else_the_current_one() {
        let _host = market().install();
        for message in ["eurusd?", "EUR/USD", "price of eur usd", "EUR-USD please"] {
            assert!(
                ask(message, Some("GBPUSD")).starts_with("EURUSD is at 1.08512"),
                "{message}"
            );
        }
        assert!(
            ask("what's the price?", Some("GBPUSD"))
                .starts_with("GBPUSD is at 1.26500 bid / 1.26512 ask")
        );
        assert!(ask("what's the price?", Some("gbp/usd")).starts_with("GBPUSD is at"));
        assert_eq!(
            ask("what's the price?", None),
            "Which symbol do you mean? Name one like EURUSD or EUR/USD. I have prices for EURUSD, GBPUSD and USDJPY."
        );
    }

    #[test]
    fn says_when_there_is_no_price() {
        let host = market().install();
        assert_eq!(
            ask("price?", Some("XAUUSD")),
            "I have no price for XAUUSD yet. I have prices for EURUSD, GBPUSD and USDJPY."
        );
        drop(host);
        let _host = FakeHost::new().install();
        assert_mentions(
            &ask("EURUSD price", Some("EURUSD")),
            &["no price for EURUSD", "no market prices yet"],
        );
    }

    #[test]
    fn spread_in_pips_with_its_recent_average() {
        let _host = eurusd_series(others(), 1.08, 0.0001).install();
        // The series ends with the latest tick: 1.08146/1.08154 at 22:13:20.
        let answer = ask("how wide is the spread on eur/usd", None);
        assert_mentions(
            &answer,
            &[
                "The EURUSD spread is 0.8 pips (1.08146 bid / 1.08154 ask) as of 22:13:20 UTC.",
                "Over the last 15 minutes it averaged 0.8 pips.",
            ],
        );
        let answer = ask("spread?", Some("USDJPY"));
        assert!(
            answer.starts_with("The USDJPY spread is 1.2 pips (151.203 bid / 151.215 ask)"),
            "{answer}"
        );
    }

    #[test]
    fn a_varying_spread_shows_its_range() {
        let _host = others()
            .tick(tick("EURUSD", 1.0850, 1.08508, NOW - 2 * MINUTE))
            .tick(tick("EURUSD", 1.0850, 1.08516, NOW - MINUTE))
            .install();
        assert!(
            ask("EURUSD spread", None).ends_with(
                "Over the last 15 minutes it averaged 1.2 pips, between 0.8 and 1.6 pips."
            )
        );
    }

    #[test]
    fn rising_series_trends_up() {
        let _host = eurusd_series(others(), 1.08, 0.0001).install();
        let answer = ask("Is EURUSD trending?", None);
        // (1.0815 / 1.08 - 1) * 100 = 0.1389 %; SMAs: last 6 mids and all 16.
        assert_eq!(
            answer,
            "EURUSD is trending up over the last 15 minutes: +0.139%, from 1.08000 to 1.08150 (mid). \
             The 5-minute moving average (1.08125) is above the 15-minute one (1.08075). \
             Short-term momentum agrees with the move. It is now at 1.08146 bid / 1.08154 ask."
        );
        assert!(
            ask("EURUSD price", None).ends_with("Over the last 15 minutes it is up (+0.139%).")
        );
    }

    #[test]
    fn falling_and_flat_series() {
        let host = eurusd_series(others(), 1.09, -0.0002).install();
        let answer = ask("which direction is eurusd going", None);
        assert_mentions(
            &answer,
            &[
                "EURUSD is trending down over the last 15 minutes: -0.275%",
                "is below the 15-minute one",
            ],
        );
        drop(host);
        let _host = eurusd_series(others(), 1.08, 0.0000001).install();
        assert!(
            ask("eurusd trend", None)
                .starts_with("EURUSD is flat over the last 15 minutes: +0.000%")
        );
    }

    #[test]
    fn trend_config_and_short_history() {
        let host = eurusd_series(others(), 1.08, 0.0001)
            .config("trend_minutes", "6")
            .install();
        // 6-minute window: mids 1.0809 … 1.0815 (7 prices), short SMA over 2 minutes.
        assert_mentions(
            &ask("eurusd trend", None),
            &[
                "over the last 6 minutes: +0.056%, from 1.08090",
                "The 2-minute moving average (1.08140)",
            ],
        );
        drop(host);
        let _host = market().install();
        assert_eq!(
            ask("USDJPY momentum?", None),
            "I don't have enough price history for USDJPY over the last 15 minutes to judge its trend yet. It is at 151.203 bid / 151.215 ask."
        );
    }

    #[test]
    fn partial_history_is_named_as_such() {
        let _host = market()
            .tick(tick("EURUSD", 1.08612, 1.0862, NOW))
            .install();
        let answer = ask("eurusd trend", None);
        assert!(
            answer.starts_with("EURUSD is trending up over the last 1 second (all the history I have so far): +0.092%"),
            "{answer}"
        );
    }

    #[test]
    fn volatility_per_minute_and_annualised() {
        let mut host = others();
        for (i, mid) in [1.0, 1.01, 1.0, 1.01, 1.0].into_iter().enumerate() {
            host = host.tick(tick(
                "EURUSD",
                mid - 0.00005,
                mid + 0.00005,
                NOW - 4 * MINUTE + i as u64 * MINUTE,
            ));
        }
        let _host = host.install();
        // Returns +a, -a, +a, -a with a = ln(1.01), one a minute: the sample
        // stdev a·sqrt(4/3) = 1.14896 % is already per minute.
        let per_minute = 1.01f64.ln() * (4.0f64 / 3.0).sqrt() * 100.0;
        let answer = ask("how volatile is EURUSD?", None);
        assert_mentions(
            &answer,
            &[
                &format!(
                    "EURUSD volatility over the last 60 minutes is {per_minute:.4}% per minute"
                ),
                "1.1490% per minute",
                "standard deviation of the log returns of the mid, from 5 prices",
                &format!(
                    "Annualised that is about {:.1}%, which is high",
                    per_minute * 525_600f64.sqrt()
                ),
            ],
        );
        assert_eq!(
            ask("volatility of usdjpy", None),
            "I don't have enough price history for USDJPY over the last 60 minutes to measure its volatility yet (I need at least 3 prices). It is at 151.203 bid / 151.215 ask."
        );
    }

    #[test]
    fn calm_prices_read_as_low_volatility() {
        let _host = eurusd_series(others(), 1.08, 0.000001).install();
        assert!(ask("eurusd vol", None).contains("which is low by FX standards"));
    }

    #[test]
    fn history_out_of_order_is_sorted_first() {
        // The latest tick is pushed first, so the fake history is not oldest first.
        let _host = eurusd_series(market(), 1.08, 0.0001).install();
        assert!(
            ask("eurusd trend", None)
                .starts_with("EURUSD is trending up over the last 15 minutes: +0.139%")
        );
    }

    #[test]
    fn help_lists_what_it_can_do() {
        let _host = market().install();
        let answer = ask("help", None);
        assert_mentions(
            &answer,
            &[
                "price (bid, ask and mid)",
                "spread in pips",
                "trend over the last 15 minutes",
                "volatility over the last 60 minutes",
                "EURUSD, GBPUSD and USDJPY",
            ],
        );
    }

    #[test]
    fn unknown_questions_get_the_menu_and_the_current_quote() {
        let _host = market().install();
        let answer = ask("tell me a joke", Some("USDJPY"));
        assert!(
            answer.starts_with("I'm not sure what you're asking. Ask me for a symbol's price"),
            "{answer}"
        );
        assert!(
            answer.ends_with("Right now USDJPY is at 151.203 bid / 151.215 ask."),
            "{answer}"
        );
        assert!(ask("hello", None).ends_with("I have prices for EURUSD, GBPUSD and USDJPY."));
    }

    #[test]
    fn streams_sentences_that_add_up_to_the_reply() {
        let host = eurusd_series(others(), 1.08, 0.0001).install();
        let reply = ask("eurusd trend", None);
        let chunks = host.chunks();
        assert!(chunks.len() >= 3, "{chunks:?}");
        assert!(chunks.iter().all(|(id, _)| id == "r-1"));
        assert_eq!(
            chunks.iter().map(|(_, d)| d.as_str()).collect::<String>(),
            reply
        );
        assert_eq!(
            chunks[0].1,
            "EURUSD is trending up over the last 15 minutes: +0.139%, from 1.08000 to 1.08150 (mid). "
        );
    }

    #[test]
    fn asks_the_llm_with_the_market_context() {
        let content =
            "EURUSD trades at 1.08512 bid and 1.08520 ask.\nThe spread is a tight 0.8 pips.";
        let host = market()
            .config("llm_url", "http://llm.test/v1/")
            .config("llm_api_key", "sk-test")
            .respond(LLM, 200, &llm_answer(&format!("  {content}\n")))
            .install();
        let reply = ask("EURUSD price?", None);
        assert_eq!(reply, content);
        let chunks: Vec<String> = host.chunks().into_iter().map(|(_, d)| d).collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks.concat(), content);

        let requests = host.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(
            (r.method.as_str(), r.url.as_str(), r.timeout_ms),
            ("POST", LLM, Some(20_000))
        );
        assert!(
            r.headers
                .contains(&("authorization".into(), "Bearer sk-test".into()))
        );
        let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["stream"], false);
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(
            body["messages"][1],
            json!({"role": "user", "content": "EURUSD price?"})
        );
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert_mentions(
            system,
            &[
                "Latest quote: bid 1.08512, ask 1.08520, mid 1.08516, spread 0.8 pips, at 22:13:19 UTC.",
                "Symbols with prices: EURUSD, GBPUSD, USDJPY.",
                "EURUSD is at 1.08512 bid / 1.08520 ask",
            ],
        );
        assert!(host.logs_at(Level::Warn).is_empty());
    }

    #[test]
    fn llm_context_carries_trend_and_volatility() {
        let host = eurusd_series(others(), 1.08, 0.0001)
            .config("llm_url", "http://llm.test/v1")
            .config("llm_model", "local-7b")
            .respond(LLM, 200, &llm_answer("Up."))
            .install();
        assert_eq!(ask("eurusd?", None), "Up.");
        let r = &host.requests()[0];
        assert!(!r.headers.iter().any(|(k, _)| k == "authorization"));
        let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["model"], "local-7b");
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert_mentions(
            system,
            &[
                "Trend over the last 15 minutes: up +0.139% (mid 1.08000 -> 1.08150); 5-minute SMA 1.08125, 15-minute SMA 1.08075.",
                "Volatility over the last 60 minutes:",
                "per minute",
                "Spread over the last 15 minutes: average 0.8 pips",
            ],
        );
    }

    #[test]
    fn falls_back_to_the_built_in_answer_when_the_llm_fails() {
        let builtin = {
            let _host = market().install();
            ask("What's the EURUSD price?", None)
        };
        /// Makes the fake LLM fail in one way.
        type Breakage = fn(&HostHandle);
        let failures: [(&str, Breakage); 4] = [
            ("HTTP 500", |h| h.respond(LLM, 500, "overloaded")),
            ("invalid JSON", |h| h.respond(LLM, 200, "<html>")),
            ("no `choices[0].message.content`", |h| {
                h.respond(LLM, 200, r#"{"choices": []}"#)
            }),
            ("timed out", |h| h.fail(LLM, HttpError::Timeout)),
        ];
        for (reason, fail) in failures {
            let host = market().config("llm_url", "http://llm.test/v1").install();
            fail(&host);
            let reply = ask("What's the EURUSD price?", None);
            assert_eq!(reply, builtin, "{reason}");
            assert_eq!(
                host.chunks()
                    .into_iter()
                    .map(|(_, d)| d)
                    .collect::<String>(),
                builtin
            );
            let warns = host.logs_at(Level::Warn);
            assert_eq!(warns.len(), 1, "{warns:?}");
            assert!(
                warns[0].starts_with("LLM failed, sending the built-in answer")
                    && warns[0].contains(reason),
                "{}",
                warns[0]
            );
        }
    }
}
