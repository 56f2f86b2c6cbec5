//! Typed client payloads, checked at the gate before any handler runs: the
//! payload must be a JSON object of at most [`MAX_PAYLOAD_BYTES`], must
//! deserialize into the event's payload type, and must pass its
//! [`Validate`] check (patterns, non-empty lists, lengths). Every failure
//! is an `INVALID_PAYLOAD` with a sentence saying what was wrong.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::reply::Rejection;
use crate::protocol::MAX_PAYLOAD_BYTES;

/// A payload's own rules beyond its shape; may normalise (deduplicate).
pub(crate) trait Validate {
    /// Whether the event may come with no payload at all (it then reads as `{}`).
    const OPTIONAL: bool = false;
    /// Whether the event ignores its payload: anything is accepted, unread.
    const IGNORED: bool = false;

    /// Checks (and normalises) the deserialized payload.
    fn validate(&mut self) -> Result<(), Rejection>;
}

/// Parses and validates the payload of an event whose type is `P`.
pub(crate) fn parse<P: DeserializeOwned + Validate>(raw: Option<Value>) -> Result<P, Rejection> {
    if P::IGNORED {
        return serde_json::from_value(Value::Null).map_err(|e| Rejection::invalid(e.to_string()));
    }
    let object = match raw {
        None | Some(Value::Null) if P::OPTIONAL => Value::Object(serde_json::Map::new()),
        None | Some(Value::Null) => return Err(Rejection::invalid("a payload object is required")),
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(Rejection::invalid("the payload must be an object")),
    };
    if serde_json::to_string(&object).map_or(0, |s| s.len()) > MAX_PAYLOAD_BYTES {
        return Err(Rejection::invalid(format!(
            "payload larger than {MAX_PAYLOAD_BYTES} bytes"
        )));
    }
    let mut payload: P =
        serde_json::from_value(object).map_err(|e| Rejection::invalid(e.to_string()))?;
    payload.validate()?;
    Ok(payload)
}

/// Checks a list of names: non-empty, each passing `valid` (named `what`
/// in errors); duplicates are removed, order kept.
pub(crate) fn names(
    field: &str,
    list: &mut Vec<String>,
    what: &str,
    valid: fn(&str) -> bool,
) -> Result<(), Rejection> {
    if list.is_empty() {
        return Err(Rejection::invalid(format!("`{field}` must not be empty")));
    }
    if let Some(bad) = list.iter().find(|s| !valid(s)) {
        return Err(Rejection::invalid(format!("{bad:?} is not a valid {what}")));
    }
    let mut seen = std::collections::HashSet::new();
    list.retain(|s| seen.insert(s.clone()));
    Ok(())
}

/// A payload an event ignores (anything, or nothing, is accepted).
#[derive(Debug, Default)]
pub(crate) struct Ignored;

impl<'de> serde::Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

impl Validate for Ignored {
    const IGNORED: bool = true;
    fn validate(&mut self) -> Result<(), Rejection> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::is_symbol;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Symbols {
        symbols: Vec<String>,
    }

    impl Validate for Symbols {
        fn validate(&mut self) -> Result<(), Rejection> {
            names("symbols", &mut self.symbols, "symbol", is_symbol)
        }
    }

    #[test]
    fn lists_are_checked_and_deduplicated() {
        let p: Symbols = parse(Some(json!({"symbols": ["EURUSD", "EURUSD", "GBPUSD"]}))).unwrap();
        assert_eq!(p.symbols, ["EURUSD", "GBPUSD"]);
        for bad in [
            json!({"symbols": "EURUSD"}),
            json!({"symbols": []}),
            json!({"symbols": [1]}),
            json!({"symbols": ["eur"]}),
            json!({}),
            json!([1]),
            json!("x"),
        ] {
            let err = parse::<Symbols>(Some(bad.clone())).unwrap_err();
            assert_eq!(
                err.code,
                crate::protocol::ErrorCode::InvalidPayload,
                "{bad}"
            );
        }
        assert!(parse::<Symbols>(None).is_err());
        let big = json!({"symbols": ["A"], "x": "a".repeat(MAX_PAYLOAD_BYTES)});
        assert!(
            parse::<Symbols>(Some(big))
                .unwrap_err()
                .message
                .contains("larger")
        );
    }

    #[test]
    fn ignored_payloads_take_anything() {
        for p in [
            None,
            Some(json!(null)),
            Some(json!({"x": 1})),
            Some(json!(5)),
        ] {
            assert!(parse::<Ignored>(p).is_ok());
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::protocol::{ErrorCode, is_event_type, is_symbol};
    use crate::socket::reply::Rejection;
    use crate::socket::{chat, events, orders, prices, refresh};

    /// JSON of the shapes client payloads have, with fields that are often
    /// right and often wrong.
    fn payload() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-10.0f64..2000.0).prop_map(Value::from),
            ".{0,30}".prop_map(Value::from),
            "[A-Z][A-Z0-9._:_-]{0,34}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(2, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..3).prop_map(|m| json!(m)),
            ]
        });
        let field = prop::sample::select(vec![
            "symbols",
            "eventTypes",
            "message",
            "context",
            "id",
            "since",
            "token",
        ]);
        prop_oneof![
            prop::collection::btree_map(field.prop_map(str::to_owned), value.clone(), 0..4)
                .prop_map(|m| json!(m)),
            value,
        ]
    }

    fn refused_as_invalid<T>(r: &Result<T, Rejection>) -> bool {
        r.as_ref()
            .err()
            .is_none_or(|e| e.code == ErrorCode::InvalidPayload)
    }

    proptest! {
        /// Every event's payload type takes any JSON without panicking;
        /// what it refuses is INVALID_PAYLOAD; what it accepts is valid.
        #[test]
        fn proptest_client_payloads_are_parsed_or_refused(v in payload()) {
            let symbols = parse::<prices::Symbols>(Some(v.clone()));
            prop_assert!(refused_as_invalid(&symbols));
            if let Ok(s) = symbols {
                let list = s.symbols;
                prop_assert!(!list.is_empty() && list.iter().all(|s| is_symbol(s)));
                let unique: std::collections::HashSet<_> = list.iter().collect();
                prop_assert_eq!(unique.len(), list.len());
            }
            let types = parse::<events::EventTypes>(Some(v.clone()));
            prop_assert!(refused_as_invalid(&types));
            if let Ok(t) = types {
                prop_assert!(t.event_types.iter().all(|t| is_event_type(t)));
            }
            let subscription = parse::<prices::Subscription>(Some(v.clone()));
            prop_assert!(refused_as_invalid(&subscription));
            if let Ok(s) = subscription {
                prop_assert!(s.max_rate.is_none_or(|r| r > 0.0 && r <= 1000.0));
            }
            prop_assert!(refused_as_invalid(&parse::<chat::Question>(Some(v.clone()))));
            prop_assert!(refused_as_invalid(&parse::<orders::Since>(Some(v.clone()))));
            prop_assert!(refused_as_invalid(&parse::<refresh::NewToken>(Some(v))));
        }
    }
}
