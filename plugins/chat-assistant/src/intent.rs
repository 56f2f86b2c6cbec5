//! What a chat message asks for, by keywords: a price, the spread, the
//! trend, the volatility, help, or something else.

/// The kind of question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    /// Bid, ask, mid: "price", "quote", "rate" … or a bare symbol.
    Price,
    /// The spread in pips.
    Spread,
    /// Direction and change over the trend window, with moving averages.
    Trend,
    /// Standard deviation of log returns.
    Volatility,
    /// What the assistant can do.
    Help,
    /// None of the above.
    Unknown,
}

/// Words or phrases per intent, most specific intent first.
const KEYWORDS: &[(Intent, &[&str])] = &[
    (Intent::Spread, &["spread", "spreads"]),
    (
        Intent::Volatility,
        &[
            "volatility",
            "volatile",
            "vol",
            "stdev",
            "standard deviation",
            "risky",
            "choppy",
            "swings",
        ],
    ),
    (
        Intent::Trend,
        &[
            "trend",
            "trending",
            "direction",
            "moving average",
            "sma",
            "momentum",
            "going up",
            "going down",
            "rising",
            "falling",
            "up or down",
            "change",
            "changed",
            "moved",
            "movement",
            "bullish",
            "bearish",
            "outlook",
        ],
    ),
    (
        Intent::Price,
        &[
            "price",
            "prices",
            "quote",
            "quoted",
            "bid",
            "ask",
            "rate",
            "trading at",
            "how much",
            "worth",
            "level",
            "mid",
        ],
    ),
    (
        Intent::Help,
        &[
            "help",
            "what can you do",
            "commands",
            "how do you work",
            "what do you do",
        ],
    ),
];

/// The intent of `message`; `names_symbol` says whether it named a symbol,
/// so that a bare "EURUSD?" asks for its price.
pub(crate) fn classify(message: &str, names_symbol: bool) -> Intent {
    let words: Vec<String> = message
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let text = format!(" {} ", words.join(" "));
    let mentions = |phrase: &&str| text.contains(&format!(" {phrase} "));
    KEYWORDS
        .iter()
        .find(|(_, phrases)| phrases.iter().any(mentions))
        .map(|(intent, _)| *intent)
        .unwrap_or(if names_symbol {
            Intent::Price
        } else {
            Intent::Unknown
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_keywords_most_specific_first() {
        let cases = [
            ("What's the EURUSD price?", Intent::Price),
            ("quote me cable", Intent::Price),
            ("how wide is the spread on EUR/USD", Intent::Spread),
            ("price spread?", Intent::Spread),
            ("is it trending?", Intent::Trend),
            ("where is the price going, up or down?", Intent::Trend),
            ("How volatile is USDJPY", Intent::Volatility),
            ("what's the vol", Intent::Volatility),
            ("help", Intent::Help),
            ("What can you do?", Intent::Help),
            ("can you help me with the trend", Intent::Trend),
            ("hi there", Intent::Unknown),
            ("tell me a joke", Intent::Unknown),
            ("task list", Intent::Unknown),
            ("small things", Intent::Unknown),
        ];
        for (message, expected) in cases {
            assert_eq!(classify(message, false), expected, "{message}");
        }
    }

    #[test]
    fn a_bare_symbol_asks_for_its_price() {
        assert_eq!(classify("EURUSD?", true), Intent::Price);
        assert_eq!(classify("hmm", false), Intent::Unknown);
    }
}
