//! The contract's records read from upstream JSON: an order notification,
//! a position update or an event as the contract's camelCase object (the
//! shape the Node service's upstreams answer with) mapped to its WIT
//! record, every required field checked and every other field kept in
//! `extra_json`. What a poller or event source needs to turn an answer's
//! items into a batch; the default plugins and `gateway plugin new`'s
//! templates use them.
//!
//! ```
//! use gateway_sdk::records;
//! use serde_json::json;
//!
//! let o = records::order(&json!({"orderId": "o-1", "type": "ORDER_CREATED", "symbol": "EURUSD",
//!                                "userId": "alice", "timestamp": 1, "venue": "LP1"})).unwrap();
//! assert_eq!((o.order_id.as_str(), o.extra_json.as_deref()), ("o-1", Some(r#"{"venue":"LP1"}"#)));
//! assert!(records::order(&json!({"orderId": "o-2"})).is_err());
//! ```

use serde_json::Value;

use crate::contract::is_event_type;
use crate::contract::records::{EVENT_FIELDS, ORDER_FIELDS, ORDER_TYPES, POSITION_FIELDS};
use crate::fields;
use crate::{Event, OrderNotification, PositionUpdate, Severity};

/// One order notification: `orderId`, a known `type`, `symbol`, `userId`
/// and `timestamp` are required; other unknown fields go to `extra_json`.
pub fn order(item: &Value) -> Result<OrderNotification, String> {
    let obj = fields::object(item)?;
    let kind = fields::string(obj, "type")?;
    if !ORDER_TYPES.contains(&kind.as_str()) {
        return Err(format!("unknown order type {kind:?}"));
    }
    Ok(OrderNotification {
        order_id: fields::id(obj, "orderId")?,
        kind,
        symbol: fields::string(obj, "symbol")?,
        user_id: fields::id(obj, "userId")?,
        status: fields::opt_string(obj, "status")?,
        side: fields::opt_string(obj, "side")?,
        quantity: fields::opt_number(obj, "quantity")?,
        price: fields::opt_number(obj, "price")?,
        timestamp: fields::timestamp(obj, "timestamp")?,
        extra_json: fields::extra_json(obj, ORDER_FIELDS),
    })
}

/// One position update: `positionId`, `symbol`, `userId`, `unrealizedPnL`
/// and `timestamp` are required; other unknown fields go to `extra_json`.
pub fn position(item: &Value) -> Result<PositionUpdate, String> {
    let obj = fields::object(item)?;
    Ok(PositionUpdate {
        position_id: fields::id(obj, "positionId")?,
        symbol: fields::string(obj, "symbol")?,
        user_id: fields::id(obj, "userId")?,
        quantity: fields::opt_number(obj, "quantity")?,
        entry_price: fields::opt_number(obj, "entryPrice")?,
        unrealized_pnl: fields::number(obj, "unrealizedPnL")?,
        timestamp: fields::timestamp(obj, "timestamp")?,
        extra_json: fields::extra_json(obj, POSITION_FIELDS),
    })
}

/// One event: every contract field but `targetUserIds` is required; other
/// fields go to `extra_json`.
pub fn event(item: &Value) -> Result<Event, String> {
    let obj = fields::object(item)?;
    let kind = fields::string(obj, "type")?;
    if !is_event_type(&kind) {
        return Err(format!(
            "type {kind:?} does not match ^[A-Z][A-Z0-9_]{{0,63}}$"
        ));
    }
    let severity = fields::string(obj, "severity")?;
    let severity = Severity::parse(&severity).ok_or_else(|| {
        format!("severity {severity:?} is not one of low, medium, high, critical")
    })?;
    Ok(Event {
        id: fields::id(obj, "id")?,
        kind,
        title: fields::string(obj, "title")?,
        message: fields::text(obj, "message")?,
        severity,
        timestamp: fields::timestamp(obj, "timestamp")?,
        target_user_ids: fields::opt_string_list(obj, "targetUserIds")?,
        extra_json: fields::extra_json(obj, EVENT_FIELDS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_an_order_with_extra_fields() {
        let o = order(&json!({
            "orderId": "o-1", "type": "ORDER_EXECUTED", "symbol": "EURUSD", "userId": "alice",
            "status": "FILLED", "side": "BUY", "quantity": 1000, "price": 1.0851,
            "timestamp": 1_700_000_000_000u64, "fee": 0.5, "venue": "LP1"
        }))
        .unwrap();
        assert_eq!(
            o,
            OrderNotification {
                order_id: "o-1".into(),
                kind: "ORDER_EXECUTED".into(),
                symbol: "EURUSD".into(),
                user_id: "alice".into(),
                status: Some("FILLED".into()),
                side: Some("BUY".into()),
                quantity: Some(1000.0),
                price: Some(1.0851),
                timestamp: 1_700_000_000_000,
                extra_json: Some(r#"{"fee":0.5,"venue":"LP1"}"#.into()),
            }
        );
    }

    #[test]
    fn minimal_order_has_no_extra() {
        let o = order(&json!({
            "orderId": 7, "type": "ORDER_CREATED", "symbol": "EURUSD", "userId": "bob", "timestamp": 3
        }))
        .unwrap();
        assert_eq!(o.order_id, "7");
        assert_eq!(
            (o.status, o.side, o.quantity, o.price, o.extra_json),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn refuses_bad_orders() {
        let base = json!({"orderId": "o", "type": "ORDER_CREATED", "symbol": "EURUSD", "userId": "u", "timestamp": 3});
        let cases = [
            (
                "type",
                json!("ORDER_EXPLODED"),
                "unknown order type \"ORDER_EXPLODED\"",
            ),
            ("type", Value::Null, "missing `type`"),
            ("orderId", Value::Null, "missing `orderId`"),
            ("userId", json!(""), "`userId`"),
            ("symbol", json!(5), "`symbol` is not a string"),
            ("timestamp", json!("now"), "`timestamp`"),
            ("quantity", json!("many"), "`quantity` is not a number"),
            ("side", json!(1), "`side` is not a string"),
        ];
        for (key, value, reason) in cases {
            let mut item = base.clone();
            item[key] = value;
            let err = order(&item).unwrap_err();
            assert!(err.contains(reason), "{key}: {err}");
        }
        assert!(
            order(&json!([1]))
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn maps_a_position() {
        let p = position(&json!({
            "positionId": "p-1", "symbol": "USDJPY", "userId": "alice", "quantity": -2000,
            "entryPrice": 151.2, "unrealizedPnL": -12.5, "timestamp": 9, "margin": 100
        }))
        .unwrap();
        assert_eq!(p.quantity, Some(-2000.0));
        assert_eq!(p.entry_price, Some(151.2));
        assert_eq!(p.unrealized_pnl, -12.5);
        assert_eq!(p.extra_json.as_deref(), Some(r#"{"margin":100}"#));
        let err =
            position(&json!({"positionId": "p", "symbol": "X", "userId": "u", "timestamp": 9}))
                .unwrap_err();
        assert!(err.contains("missing `unrealizedPnL`"), "{err}");
    }

    fn base() -> Value {
        json!({"id": "e-1", "type": "MARKET_HALT", "title": "Halt", "message": "Trading halted",
               "severity": "high", "timestamp": 5})
    }

    fn typed(kind: &str) -> Result<Event, String> {
        let mut item = base();
        item["type"] = json!(kind);
        event(&item)
    }

    #[test]
    fn an_event_type_must_match_the_contract_pattern() {
        for ok in ["A", "MARKET_HALT", "X1_2", &format!("A{}", "B".repeat(63))] {
            assert!(typed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1A",
            "_A",
            "market_halt",
            "MARKET-HALT",
            &format!("A{}", "B".repeat(64)),
        ] {
            assert!(typed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_an_event_with_targets_and_extra_fields() {
        let mut item = base();
        item["targetUserIds"] = json!(["alice"]);
        item["venue"] = json!("XLON");
        let e = event(&item).unwrap();
        assert_eq!(
            e,
            Event {
                id: "e-1".into(),
                kind: "MARKET_HALT".into(),
                title: "Halt".into(),
                message: "Trading halted".into(),
                severity: Severity::High,
                timestamp: 5,
                target_user_ids: Some(vec!["alice".into()]),
                extra_json: Some(r#"{"venue":"XLON"}"#.into()),
            }
        );
        let plain = event(&base()).unwrap();
        assert_eq!((plain.target_user_ids, plain.extra_json), (None, None));
    }

    #[test]
    fn refuses_bad_events() {
        let cases = [
            ("type", json!("market-halt"), "does not match"),
            ("severity", json!("urgent"), "\"urgent\" is not one of"),
            ("severity", Value::Null, "missing `severity`"),
            ("id", json!(""), "`id`"),
            ("title", json!(3), "`title` is not a string"),
            ("message", Value::Null, "missing `message`"),
            ("timestamp", json!(0), "`timestamp`"),
            ("targetUserIds", json!("alice"), "not an array"),
        ];
        for (key, value, reason) in cases {
            let mut item = base();
            item[key] = value;
            let err = event(&item).unwrap_err();
            assert!(err.contains(reason), "{key}: {err}");
        }
    }
}
