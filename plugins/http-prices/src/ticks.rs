//! Validating the market data service's answer `{ "prices": [Tick] }`, one
//! tick at a time, so a malformed tick is dropped without losing the rest.

use gateway_sdk::Tick;
use gateway_sdk::contract::is_symbol;
use serde_json::Value;

/// The well-formed ticks of one answer, and what was dropped.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Ticks that passed validation, in the upstream's order.
    pub(crate) ticks: Vec<Tick>,
    /// How many items were malformed.
    pub(crate) dropped: usize,
    /// Why the first dropped item was refused.
    pub(crate) first_reason: Option<String>,
}

/// Splits an answer into valid ticks and dropped items; an answer without a
/// `prices` array is an error.
pub(crate) fn parse_answer(answer: &Value) -> Result<Parsed, String> {
    let prices = answer
        .get("prices")
        .and_then(Value::as_array)
        .ok_or("the answer has no `prices` array")?;
    let mut parsed = Parsed {
        ticks: Vec::with_capacity(prices.len()),
        dropped: 0,
        first_reason: None,
    };
    for (i, item) in prices.iter().enumerate() {
        match parse_tick(item) {
            Ok(tick) => parsed.ticks.push(tick),
            Err(why) => {
                parsed.dropped += 1;
                parsed
                    .first_reason
                    .get_or_insert_with(|| format!("prices[{i}]: {why}"));
            }
        }
    }
    Ok(parsed)
}

/// One tick: a valid symbol, finite positive `bid < ask`, positive timestamp.
fn parse_tick(item: &Value) -> Result<Tick, String> {
    let symbol = item
        .get("symbol")
        .and_then(Value::as_str)
        .ok_or("missing string `symbol`")?;
    if !is_symbol(symbol) {
        return Err(format!(
            "symbol {symbol:?} does not match ^[A-Z0-9][A-Z0-9._:-]{{0,31}}$"
        ));
    }
    let bid = positive_price(item, "bid")?;
    let ask = positive_price(item, "ask")?;
    if bid >= ask {
        return Err(format!("{symbol}: bid {bid} is not below ask {ask}"));
    }
    let timestamp = item
        .get("timestamp")
        .and_then(positive_integer)
        .ok_or_else(|| {
            format!("{symbol}: `timestamp` is not a positive integer (ms since epoch)")
        })?;
    Ok(Tick {
        symbol: symbol.to_owned(),
        bid,
        ask,
        timestamp,
    })
}

/// `item[key]` as a finite number above zero.
fn positive_price(item: &Value, key: &str) -> Result<f64, String> {
    match item.get(key).and_then(Value::as_f64) {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        Some(v) => Err(format!("`{key}` {v} is not a positive number")),
        None => Err(format!("missing number `{key}`")),
    }
}

/// A JSON integer above zero (also written as a whole float, e.g. `1.7e12`).
fn positive_integer(value: &Value) -> Option<u64> {
    match value.as_u64() {
        Some(n) => (n > 0).then_some(n),
        None => value
            .as_f64()
            .filter(|f| *f >= 1.0 && f.fract() == 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_malformed_field_is_refused_with_a_reason() {
        let cases = [
            (json!({"bid": 1.0, "ask": 1.1, "timestamp": 5}), "symbol"),
            (
                json!({"symbol": "eur", "bid": 1.0, "ask": 1.1, "timestamp": 5}),
                "does not match",
            ),
            (
                json!({"symbol": "EURUSD", "bid": "1.0", "ask": 1.1, "timestamp": 5}),
                "`bid`",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 0.0, "ask": 1.1, "timestamp": 5}),
                "`bid` 0",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.0, "ask": -1.1, "timestamp": 5}),
                "`ask` -1.1",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.2, "ask": 1.1, "timestamp": 5}),
                "not below",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.1, "ask": 1.1, "timestamp": 5}),
                "not below",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.0, "ask": 1.1, "timestamp": 0}),
                "timestamp",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.0, "ask": 1.1, "timestamp": -3}),
                "timestamp",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.0, "ask": 1.1, "timestamp": 1.5}),
                "timestamp",
            ),
            (
                json!({"symbol": "EURUSD", "bid": 1.0, "ask": 1.1}),
                "timestamp",
            ),
            (json!("EURUSD 1.0 1.1"), "symbol"),
        ];
        for (item, reason) in cases {
            let err = parse_tick(&item).expect_err(&item.to_string());
            assert!(err.contains(reason), "{item}: {err}");
        }
    }

    #[test]
    fn accepts_whole_float_timestamps() {
        let t =
            parse_tick(&json!({"symbol": "EURUSD", "bid": 1.0, "ask": 1.1, "timestamp": 1.7e12}));
        assert_eq!(t.unwrap().timestamp, 1_700_000_000_000);
    }

    #[test]
    fn answer_without_prices_array_is_an_error() {
        assert!(parse_answer(&json!({"ticks": []})).is_err());
        assert!(parse_answer(&json!({"prices": {}})).is_err());
        assert!(parse_answer(&json!([])).is_err());
    }
}
