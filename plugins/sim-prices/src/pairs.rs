//! The built-in table of FX pairs: starting mid, annualised volatility,
//! typical spread in pips and decimals.

use gateway_sdk::Tick;

/// Served when the config names no symbols.
pub(crate) const DEFAULT_SYMBOLS: &[&str] = &[
    "EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD", "NZDUSD", "EURGBP", "EURJPY",
    "GBPJPY",
];

/// (symbol, starting mid, annual volatility, typical spread in pips)
const TABLE: &[(&str, f64, f64, f64)] = &[
    ("EURUSD", 1.0850, 0.07, 0.8),
    ("GBPUSD", 1.2650, 0.08, 1.2),
    ("USDJPY", 151.20, 0.09, 1.0),
    ("USDCHF", 0.8820, 0.07, 1.5),
    ("AUDUSD", 0.6550, 0.10, 1.2),
    ("USDCAD", 1.3580, 0.06, 1.6),
    ("NZDUSD", 0.6080, 0.11, 1.8),
    ("EURGBP", 0.8570, 0.05, 1.4),
    ("EURJPY", 164.10, 0.09, 1.8),
    ("GBPJPY", 191.30, 0.11, 2.6),
    ("EURCHF", 0.9560, 0.06, 2.0),
    ("AUDJPY", 99.050, 0.12, 2.2),
];

/// One pair's parameters.
pub(crate) struct Pair {
    pub(crate) symbol: String,
    pub(crate) base: f64,
    pub(crate) volatility: f64,
    pub(crate) spread_pips: f64,
    decimals: i32,
}

impl Pair {
    /// The pair's parameters; unknown but well-formed symbols get neutral ones.
    pub(crate) fn lookup(symbol: &str) -> Result<Pair, String> {
        let valid = symbol.len() <= 32
            && symbol.chars().enumerate().all(|(i, c)| {
                c.is_ascii_uppercase() || c.is_ascii_digit() || (i > 0 && "._:-".contains(c))
            });
        if !valid || symbol.is_empty() {
            return Err(format!("invalid symbol {symbol:?}: use e.g. EURUSD"));
        }
        let jpy = symbol.ends_with("JPY");
        let (base, volatility, spread_pips) = TABLE
            .iter()
            .find(|(s, ..)| *s == symbol)
            .map(|&(_, b, v, p)| (b, v, p))
            .unwrap_or(if jpy {
                (100.0, 0.10, 2.0)
            } else {
                (1.0, 0.10, 2.0)
            });
        Ok(Pair {
            symbol: symbol.to_owned(),
            base,
            volatility,
            spread_pips,
            decimals: if jpy { 3 } else { 5 },
        })
    }

    fn pip(&self) -> f64 {
        if self.decimals == 3 { 0.01 } else { 0.0001 }
    }

    /// A quote around `mid` with `spread_pips`, rounded to the pair's decimals;
    /// the ask is at least one point above the bid.
    pub(crate) fn quote(&self, mid: &f64, spread_pips: f64, timestamp: u64) -> Tick {
        let scale = 10f64.powi(self.decimals);
        let half = spread_pips * self.pip() / 2.0;
        let bid_points = ((mid - half) * scale).floor();
        let ask_points = ((mid + half) * scale).ceil().max(bid_points + 1.0);
        Tick {
            symbol: self.symbol.clone(),
            bid: bid_points / scale,
            ask: ask_points / scale,
            timestamp,
        }
    }
}
