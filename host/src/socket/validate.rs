//! Payload validation for client events: shapes, symbols, event types and
//! sizes, per the contract. Every failure is an `INVALID_PAYLOAD` with a
//! sentence saying what was wrong.

use serde_json::Value;

use super::reply::Rejection;

/// Largest payload accepted, serialized.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Most event types one socket may subscribe to.
pub const MAX_EVENT_TYPES: usize = 64;

/// Whether `s` matches `^[A-Z0-9][A-Z0-9._:-]{0,31}$`.
pub fn is_symbol(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_uppercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || b"._:-".contains(c))
}

/// Whether `s` matches `^[A-Z][A-Z0-9_]{0,63}$`.
pub fn is_event_type(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// The payload as an object (`None` payload allowed when `optional`).
pub fn object(
    payload: Option<&Value>,
    optional: bool,
) -> Result<Option<&serde_json::Map<String, Value>>, Rejection> {
    match payload {
        None | Some(Value::Null) if optional => Ok(None),
        None | Some(Value::Null) => Err(Rejection::invalid("a payload object is required")),
        Some(Value::Object(m)) => {
            if serde_json::to_string(m).map_or(0, |s| s.len()) > MAX_PAYLOAD_BYTES {
                return Err(Rejection::invalid(format!(
                    "payload larger than {MAX_PAYLOAD_BYTES} bytes"
                )));
            }
            Ok(Some(m))
        }
        Some(_) => Err(Rejection::invalid("the payload must be an object")),
    }
}

/// A required (or optional) non-empty array of strings under `field`,
/// each passing `valid`; duplicates removed, order kept.
pub fn string_list(
    obj: Option<&serde_json::Map<String, Value>>,
    field: &str,
    required: bool,
    what: &str,
    valid: fn(&str) -> bool,
) -> Result<Option<Vec<String>>, Rejection> {
    let value = obj.and_then(|o| o.get(field));
    let items = match value {
        None | Some(Value::Null) if !required => return Ok(None),
        None | Some(Value::Null) => {
            return Err(Rejection::invalid(format!("`{field}` is required")));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Rejection::invalid(format!(
                "`{field}` must be an array of strings"
            )));
        }
    };
    if items.is_empty() {
        return Err(Rejection::invalid(format!("`{field}` must not be empty")));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Some(s) = item.as_str() else {
            return Err(Rejection::invalid(format!(
                "`{field}` must be an array of strings"
            )));
        };
        if !valid(s) {
            return Err(Rejection::invalid(format!("{s:?} is not a valid {what}")));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    Ok(Some(out))
}

/// An optional string field.
pub fn opt_string<'a>(
    obj: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, Rejection> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::invalid(format!("`{field}` must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn symbols_and_event_types() {
        assert!(
            is_symbol("EURUSD") && is_symbol("BTC-USD") && is_symbol("ES:Z5") && is_symbol("1INCH")
        );
        assert!(
            !is_symbol("")
                && !is_symbol("eurusd")
                && !is_symbol("-EUR")
                && !is_symbol(&"A".repeat(33))
        );
        assert!(is_event_type("MARKET_HALT") && is_event_type("A"));
        assert!(
            !is_event_type("1A") && !is_event_type("market") && !is_event_type(&"A".repeat(65))
        );
    }

    #[test]
    fn lists_are_checked_and_deduplicated() {
        let p = json!({"symbols": ["EURUSD", "EURUSD", "GBPUSD"]});
        let o = object(Some(&p), false).unwrap();
        assert_eq!(
            string_list(o, "symbols", true, "symbol", is_symbol)
                .unwrap()
                .unwrap(),
            ["EURUSD", "GBPUSD"]
        );
        for bad in [
            json!({"symbols": "EURUSD"}),
            json!({"symbols": []}),
            json!({"symbols": [1]}),
            json!({"symbols": ["eur"]}),
            json!({}),
        ] {
            let o = object(Some(&bad), false).unwrap();
            assert!(
                string_list(o, "symbols", true, "symbol", is_symbol).is_err(),
                "{bad}"
            );
        }
        assert!(object(Some(&json!([1])), false).is_err());
        assert!(object(None, false).is_err());
        assert!(object(None, true).unwrap().is_none());
        let big = json!({"x": "a".repeat(MAX_PAYLOAD_BYTES)});
        assert!(object(Some(&big), false).is_err());
    }
}
