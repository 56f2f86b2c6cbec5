//! The built-in answers, written from the computed market facts: one per
//! intent, plus the plain-text market context given to an LLM.

use std::cmp::Ordering;

use gateway_sdk::Tick;

use crate::analysis::{Direction, Facts, Trend, Windows, mid};
use crate::intent::Intent;
use crate::symbol;

/// Symbols listed by name before "and N more".
const LISTED_SYMBOLS: usize = 12;

/// What an answer is written from.
#[derive(Debug)]
pub(crate) struct Context {
    /// Every symbol with a price, sorted.
    pub(crate) known: Vec<String>,
    /// The symbol asked about: named in the message, else the client's.
    pub(crate) symbol: Option<String>,
    /// The facts about `symbol`, when it has a price.
    pub(crate) facts: Option<Facts>,
    pub(crate) windows: Windows,
    /// Milliseconds since the epoch.
    pub(crate) now: u64,
}

/// The built-in answer to a question of kind `intent`.
pub(crate) fn render(intent: Intent, ctx: &Context) -> String {
    match intent {
        Intent::Help => help(ctx),
        Intent::Unknown => unknown(ctx),
        Intent::Price => about_symbol(ctx, |_, f| price(f)),
        Intent::Spread => about_symbol(ctx, spread),
        Intent::Trend => about_symbol(ctx, trend),
        Intent::Volatility => about_symbol(ctx, volatility),
    }
}

/// `answer` about the symbol in question, or why there is none.
fn about_symbol(ctx: &Context, answer: fn(&Context, &Facts) -> String) -> String {
    match (&ctx.symbol, &ctx.facts) {
        (_, Some(facts)) => answer(ctx, facts),
        (Some(s), None) => format!("I have no price for {s} yet. {}", available(ctx)),
        (None, None) => format!(
            "Which symbol do you mean? Name one like EURUSD or EUR/USD. {}",
            available(ctx)
        ),
    }
}

/// "HH:MM:SS UTC" of a timestamp in ms.
fn clock_time(ms: u64) -> String {
    let secs = (ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A list of names: "A", "A and B", "A, B and C", "A, B … and 3 more".
fn listing(names: &[String]) -> String {
    let shown = &names[..names.len().min(LISTED_SYMBOLS)];
    let hidden = names.len() - shown.len();
    match (shown, hidden) {
        ([], _) => String::new(),
        ([one], 0) => one.clone(),
        (_, 0) => format!(
            "{} and {}",
            shown[..shown.len() - 1].join(", "),
            shown[shown.len() - 1]
        ),
        _ => format!("{} and {hidden} more", shown.join(", ")),
    }
}

/// Which symbols have prices.
fn available(ctx: &Context) -> String {
    if ctx.known.is_empty() {
        "I have no market prices yet; please try again in a moment.".to_owned()
    } else {
        format!("I have prices for {}.", listing(&ctx.known))
    }
}

/// "1.08512 bid / 1.08520 ask".
fn bid_ask(q: &Tick) -> String {
    format!(
        "{} bid / {} ask",
        symbol::price(&q.symbol, q.bid),
        symbol::price(&q.symbol, q.ask)
    )
}

/// The spread of a quote, e.g. "0.8 pips".
fn spread_of(q: &Tick) -> String {
    pips(symbol::spread_pips(&q.symbol, q.bid, q.ask))
}

/// "1 minute", "15 minutes".
fn count(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A window length, e.g. "15 minutes".
fn minutes(n: u32) -> String {
    count(u64::from(n), "minute")
}

fn pips(value: f64) -> String {
    format!("{value:.1} pips")
}

/// A signed percentage, e.g. "+0.042%".
fn signed_percent(value: f64) -> String {
    format!("{value:+.3}%")
}

/// "over the last 15 minutes", or the shorter span the history covers.
fn trend_window(t: &Trend) -> String {
    if t.covers_window() {
        return format!("over the last {}", minutes(t.minutes));
    }
    let secs = t.span_ms / 1000;
    let span = if secs < 120 {
        count(secs, "second")
    } else {
        count(secs / 60, "minute")
    };
    format!("over the last {span} (all the history I have so far)")
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::Flat => "flat",
    }
}

fn price(f: &Facts) -> String {
    let q = &f.quote;
    let mut text = format!(
        "{} is at {} (mid {}) as of {}. The spread is {}.",
        q.symbol,
        bid_ask(q),
        symbol::price(&q.symbol, mid(q.bid, q.ask)),
        clock_time(q.timestamp),
        spread_of(q),
    );
    if let Some(t) = &f.trend {
        text.push_str(&format!(
            " {} it is {} ({}).",
            capitalise(&trend_window(t)),
            direction_word(t.direction),
            signed_percent(t.change_percent),
        ));
    }
    text
}

fn spread(ctx: &Context, f: &Facts) -> String {
    let q = &f.quote;
    let mut text = format!(
        "The {} spread is {} ({}) as of {}.",
        q.symbol,
        spread_of(q),
        bid_ask(q),
        clock_time(q.timestamp)
    );
    if let Some(s) = &f.spread {
        let (low, high) = (format!("{:.1}", s.min), pips(s.max));
        let range = if high.starts_with(&format!("{low} ")) {
            String::new()
        } else {
            format!(", between {low} and {high}")
        };
        text.push_str(&format!(
            " Over the last {} it averaged {}{range}.",
            minutes(ctx.windows.trend_minutes),
            pips(s.average),
        ));
    }
    text
}

fn trend(ctx: &Context, f: &Facts) -> String {
    let q = &f.quote;
    let Some(t) = &f.trend else {
        return format!(
            "I don't have enough price history for {} over the last {} to judge its trend yet. It is at {}.",
            q.symbol,
            minutes(ctx.windows.trend_minutes),
            bid_ask(q),
        );
    };
    let p = |v: f64| symbol::price(&q.symbol, v);
    let movement = match t.direction {
        Direction::Flat => "is flat",
        Direction::Up => "is trending up",
        Direction::Down => "is trending down",
    };
    let order = t
        .short_sma
        .partial_cmp(&t.long_sma)
        .unwrap_or(Ordering::Equal);
    let position = match order {
        Ordering::Greater => "above",
        Ordering::Less => "below",
        Ordering::Equal => "level with",
    };
    let momentum = match (t.direction, order) {
        (Direction::Up, Ordering::Greater) | (Direction::Down, Ordering::Less) => {
            " Short-term momentum agrees with the move."
        }
        (Direction::Up, Ordering::Less) | (Direction::Down, Ordering::Greater) => {
            " Short-term momentum is fading."
        }
        _ => "",
    };
    format!(
        "{} {movement} {}: {}, from {} to {} (mid). The {}-minute moving average ({}) is {position} the {}-minute one ({}).{momentum} It is now at {}.",
        q.symbol,
        trend_window(t),
        signed_percent(t.change_percent),
        p(t.first_mid),
        p(t.last_mid),
        t.short_minutes,
        p(t.short_sma),
        t.minutes,
        p(t.long_sma),
        bid_ask(q),
    )
}

fn volatility(ctx: &Context, f: &Facts) -> String {
    let q = &f.quote;
    let Some(v) = &f.volatility else {
        return format!(
            "I don't have enough price history for {} over the last {} to measure its volatility yet (I need at least 3 prices). It is at {}.",
            q.symbol,
            minutes(ctx.windows.volatility_minutes),
            bid_ask(q),
        );
    };
    let level = match v.annualised_percent {
        a if a < 5.0 => "low",
        a if a < 15.0 => "moderate",
        _ => "high",
    };
    format!(
        "{} volatility over the last {} is {:.4}% per minute (standard deviation of the log returns of the mid, from {} prices). Annualised that is about {:.1}%, which is {level} by FX standards. It is now at {}.",
        q.symbol,
        minutes(v.minutes),
        v.per_minute_percent,
        v.samples,
        v.annualised_percent,
        bid_ask(q),
    )
}

/// What the assistant can do.
fn capabilities(ctx: &Context) -> String {
    format!(
        "Ask me for a symbol's price (bid, ask and mid), its spread in pips, its trend over the last {} with moving averages, or its volatility over the last {}. Name the symbol like EURUSD or EUR/USD, or I use the one you are looking at.",
        minutes(ctx.windows.trend_minutes),
        minutes(ctx.windows.volatility_minutes),
    )
}

fn help(ctx: &Context) -> String {
    format!(
        "I'm your trading assistant and I answer from live market data. {} {}",
        capabilities(ctx),
        available(ctx)
    )
}

fn unknown(ctx: &Context) -> String {
    let mut text = format!("I'm not sure what you're asking. {}", capabilities(ctx));
    match &ctx.facts {
        Some(f) => text.push_str(&format!(
            " Right now {} is at {}.",
            f.quote.symbol,
            bid_ask(&f.quote)
        )),
        None => {
            text.push(' ');
            text.push_str(&available(ctx));
        }
    }
    text
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The facts as plain lines, the market context of an LLM prompt.
pub(crate) fn context_lines(ctx: &Context) -> String {
    let mut lines = vec![format!("Time now: {}.", clock_time(ctx.now))];
    lines.push(if ctx.known.is_empty() {
        "No symbol has a price yet.".to_owned()
    } else {
        format!("Symbols with prices: {}.", ctx.known.join(", "))
    });
    match (&ctx.symbol, &ctx.facts) {
        (None, _) => lines.push("The question names no symbol and the user views none.".to_owned()),
        (Some(s), None) => lines.push(format!("Symbol in question: {s}, which has no price yet.")),
        (Some(s), Some(f)) => {
            let q = &f.quote;
            let p = |v: f64| symbol::price(s, v);
            lines.push(format!(
                "Symbol in question: {s} ({} decimals, 1 pip = {}).",
                symbol::decimals(s),
                symbol::pip(s)
            ));
            lines.push(format!(
                "Latest quote: bid {}, ask {}, mid {}, spread {}, at {}.",
                p(q.bid),
                p(q.ask),
                p(mid(q.bid, q.ask)),
                spread_of(q),
                clock_time(q.timestamp)
            ));
            if let Some(t) = &f.trend {
                lines.push(format!(
                    "Trend {}: {} {} (mid {} -> {}); {}-minute SMA {}, {}-minute SMA {}.",
                    trend_window(t),
                    direction_word(t.direction),
                    signed_percent(t.change_percent),
                    p(t.first_mid),
                    p(t.last_mid),
                    t.short_minutes,
                    p(t.short_sma),
                    t.minutes,
                    p(t.long_sma),
                ));
            }
            if let Some(v) = &f.volatility {
                lines.push(format!(
                    "Volatility over the last {}: {:.4}% per minute, {:.1}% annualised (standard deviation of log returns of the mid, {} prices).",
                    minutes(v.minutes),
                    v.per_minute_percent, v.annualised_percent, v.samples
                ));
            }
            if let Some(sp) = &f.spread {
                lines.push(format!(
                    "Spread over the last {}: average {}, min {:.1}, max {}.",
                    minutes(ctx.windows.trend_minutes),
                    pips(sp.average),
                    sp.min,
                    pips(sp.max)
                ));
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_lists() {
        assert_eq!(clock_time(1_700_000_000_000), "22:13:20 UTC");
        let names = |n: usize| (0..n).map(|i| format!("S{i}")).collect::<Vec<_>>();
        assert_eq!(listing(&names(1)), "S0");
        assert_eq!(listing(&names(2)), "S0 and S1");
        assert_eq!(listing(&names(3)), "S0, S1 and S2");
        assert!(listing(&names(15)).ends_with("S11 and 3 more"));
        assert_eq!(signed_percent(0.04213), "+0.042%");
        assert_eq!(signed_percent(-1.5), "-1.500%");
        assert_eq!(capitalise("over"), "Over");
        assert_eq!(minutes(1), "1 minute");
        assert_eq!(minutes(15), "15 minutes");
        assert_eq!(count(0, "second"), "0 seconds");
    }
}
