//! Symbols in chat messages and their number formats: which known symbol a
//! message names (`EURUSD`, `eurusd`, `EUR/USD`, `EUR USD`, `EUR-USD`), and a
//! pair's decimals (3 for JPY pairs, 5 otherwise) and pip size.

/// Characters that may appear inside a symbol besides letters and digits.
const SYMBOL_PUNCTUATION: &[char] = &['.', '_', ':', '-'];

/// The first known symbol the message names, if any.
pub(crate) fn find(message: &str, known: &[String]) -> Option<String> {
    let tokens: Vec<String> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || SYMBOL_PUNCTUATION.contains(&c)))
        .map(|t| t.trim_matches(SYMBOL_PUNCTUATION).to_ascii_uppercase())
        .filter(|t| !t.is_empty())
        .collect();
    let is_known = |candidate: &str| known.iter().find(|k| k.as_str() == candidate).cloned();
    tokens.iter().enumerate().find_map(|(i, token)| {
        let squashed: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
        let joined = tokens.get(i + 1).map(|next| format!("{token}{next}"));
        is_known(token)
            .or_else(|| is_known(&squashed))
            .or_else(|| joined.and_then(|j| is_known(&j)))
    })
}

/// A symbol as the client sent it (`eur/usd`, ` EURUSD `), in the
/// gateway's form (`EURUSD`).
pub(crate) fn normalize(symbol: &str) -> String {
    symbol
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '/'))
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Whether prices of `symbol` are quoted in yen (3 decimals, pip 0.01).
fn is_jpy(symbol: &str) -> bool {
    symbol.ends_with("JPY")
}

/// Decimals of the pair's prices.
pub(crate) fn decimals(symbol: &str) -> usize {
    if is_jpy(symbol) { 3 } else { 5 }
}

/// Size of one pip.
pub(crate) fn pip(symbol: &str) -> f64 {
    if is_jpy(symbol) { 0.01 } else { 0.0001 }
}

/// `price` with the pair's decimals.
pub(crate) fn price(symbol: &str, price: f64) -> String {
    format!("{price:.*}", decimals(symbol))
}

/// `bid`-to-`ask` distance in pips.
pub(crate) fn spread_pips(symbol: &str, bid: f64, ask: f64) -> f64 {
    (ask - bid) / pip(symbol)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["EURUSD", "GBPUSD", "USDJPY", "BTC-USD", "GOLD"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn finds_symbols_in_their_usual_spellings() {
        let cases = [
            ("what's the EURUSD price?", Some("EURUSD")),
            ("eurusd", Some("EURUSD")),
            ("quote for EUR/USD please", Some("EURUSD")),
            ("how is eur usd doing", Some("EURUSD")),
            ("EUR-USD spread", Some("EURUSD")),
            ("usd/jpy trend.", Some("USDJPY")),
            ("btc-usd?", Some("BTC-USD")),
            ("is gold up", Some("GOLD")),
            ("golden cross on cable", None),
            ("compare gbpusd and eurusd", Some("GBPUSD")),
            ("what about AUDUSD", None),
            ("hello", None),
        ];
        for (message, expected) in cases {
            assert_eq!(find(message, &known()).as_deref(), expected, "{message}");
        }
    }

    #[test]
    fn normalizes_client_symbols() {
        assert_eq!(normalize(" eur/usd "), "EURUSD");
        assert_eq!(normalize("USDJPY"), "USDJPY");
    }

    #[test]
    fn jpy_pairs_have_three_decimals_and_a_bigger_pip() {
        assert_eq!(price("USDJPY", 151.2), "151.200");
        assert_eq!(price("EURUSD", 1.0851), "1.08510");
        assert_eq!(
            format!("{:.1}", spread_pips("USDJPY", 151.203, 151.215)),
            "1.2"
        );
        assert_eq!(
            format!("{:.1}", spread_pips("EURUSD", 1.08512, 1.0852)),
            "0.8"
        );
    }
}
