//! The trading service's items, mapped from the contract's camelCase JSON to
//! the WIT records: order notifications and position updates.

use gateway_sdk::contract::records::{ORDER_FIELDS, ORDER_TYPES, POSITION_FIELDS};
use gateway_sdk::fields;
use gateway_sdk::{OrderNotification, PositionUpdate};
use serde_json::Value;

/// One order notification: `orderId`, a known `type`, `symbol`, `userId`
/// and `timestamp` are required; other unknown fields go to `extra_json`.
pub(crate) fn order(item: &Value) -> Result<OrderNotification, String> {
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
pub(crate) fn position(item: &Value) -> Result<PositionUpdate, String> {
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

/// The dedup key of an order notification: one order has several
/// notifications (created, partial fills, executed), each with its own time.
pub(crate) fn order_key(o: &OrderNotification) -> String {
    format!("{}|{}|{}", o.kind, o.order_id, o.timestamp)
}

/// The dedup key of a position update: a position is updated many times.
pub(crate) fn position_key(p: &PositionUpdate) -> String {
    format!("POSITION|{}|{}", p.position_id, p.timestamp)
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
}
