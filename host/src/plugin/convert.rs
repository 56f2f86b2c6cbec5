//! Conversions between the WIT records and the gateway's own values.

use gateway_contract::records::{EVENT_FIELDS, ORDER_FIELDS, POSITION_FIELDS, SEQ_FIELD};
use serde_json::{Map, Value};

use super::bindings::types as wit;
use super::version::Subscriber;
use crate::protocol::payloads::{Event, OrderNotification, PositionUpdate, Severity, Tick};

/// Parses a plugin's `extra-json`; anything but a JSON object is dropped,
/// and so are the record's own `fields` (and `seq` where the gateway adds
/// it), which would duplicate (or, for `targetUserIds`, disclose) fields
/// the gateway writes.
fn extra(json: Option<String>, fields: &[&str], sequenced: bool) -> Map<String, Value> {
    let mut map = json
        .and_then(|j| serde_json::from_str::<Value>(&j).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    map.retain(|k, _| !(fields.contains(&k.as_str()) || sequenced && k == SEQ_FIELD));
    map
}

fn extra_json(m: &Map<String, Value>) -> Option<String> {
    (!m.is_empty()).then(|| Value::Object(m.clone()).to_string())
}

impl From<wit::Tick> for Tick {
    fn from(t: wit::Tick) -> Self {
        Tick {
            symbol: t.symbol,
            bid: t.bid,
            ask: t.ask,
            timestamp: t.timestamp,
        }
    }
}

impl From<wit::OrderNotification> for OrderNotification {
    fn from(o: wit::OrderNotification) -> Self {
        OrderNotification {
            order_id: o.order_id,
            kind: o.kind,
            symbol: o.symbol,
            user_id: o.user_id,
            status: o.status,
            side: o.side,
            quantity: o.quantity,
            price: o.price,
            timestamp: o.timestamp,
            extra: extra(o.extra_json, ORDER_FIELDS, true),
        }
    }
}

impl From<wit::PositionUpdate> for PositionUpdate {
    fn from(p: wit::PositionUpdate) -> Self {
        PositionUpdate {
            position_id: p.position_id,
            symbol: p.symbol,
            user_id: p.user_id,
            quantity: p.quantity,
            entry_price: p.entry_price,
            unrealized_pnl: p.unrealized_pnl,
            timestamp: p.timestamp,
            extra: extra(p.extra_json, POSITION_FIELDS, true),
        }
    }
}

impl From<wit::Severity> for Severity {
    fn from(s: wit::Severity) -> Self {
        match s {
            wit::Severity::Low => Severity::Low,
            wit::Severity::Medium => Severity::Medium,
            wit::Severity::High => Severity::High,
            wit::Severity::Critical => Severity::Critical,
        }
    }
}

impl From<Severity> for wit::Severity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Low => wit::Severity::Low,
            Severity::Medium => wit::Severity::Medium,
            Severity::High => wit::Severity::High,
            Severity::Critical => wit::Severity::Critical,
        }
    }
}

impl From<wit::Event> for Event {
    fn from(e: wit::Event) -> Self {
        Event {
            id: e.id,
            kind: e.kind,
            title: e.title,
            message: e.message,
            severity: e.severity.into(),
            timestamp: e.timestamp,
            target_user_ids: e.target_user_ids,
            extra: extra(e.extra_json, EVENT_FIELDS, false),
        }
    }
}

impl From<&Event> for wit::Event {
    fn from(e: &Event) -> Self {
        wit::Event {
            id: e.id.clone(),
            kind: e.kind.clone(),
            title: e.title.clone(),
            message: e.message.clone(),
            severity: e.severity.into(),
            timestamp: e.timestamp,
            target_user_ids: e.target_user_ids.clone(),
            extra_json: extra_json(&e.extra),
        }
    }
}

impl From<&Subscriber> for wit::Subscriber {
    fn from(s: &Subscriber) -> Self {
        wit::Subscriber {
            user_id: s.user_id.clone(),
            socket_id: s.socket_id.clone(),
            event_types: s.event_types.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An order notification from a plugin with `extra_json` as extras.
    pub(super) fn order(extra_json: &str) -> OrderNotification {
        wit::OrderNotification {
            order_id: "o1".into(),
            kind: "ORDER_CREATED".into(),
            symbol: "EURUSD".into(),
            user_id: "alice".into(),
            status: None,
            side: None,
            quantity: None,
            price: None,
            timestamp: 1,
            extra_json: Some(extra_json.into()),
        }
        .into()
    }

    #[test]
    fn upstream_fields_never_duplicate_what_the_gateway_writes() {
        let o = order(r#"{"seq": 99, "userId": "mallory", "orderId": "x", "venue": "XLON"}"#);
        let text = serde_json::to_string(&o).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["userId"], "alice");
        assert_eq!(value["venue"], "XLON");
        assert!(value.get("seq").is_none());
        for key in ["userId", "orderId"] {
            assert_eq!(text.matches(&format!("\"{key}\"")).count(), 1, "{text}");
        }
    }

    #[test]
    fn extra_json_that_is_not_an_object_is_dropped() {
        assert!(order("[1, 2]").extra.is_empty());
        assert!(order("not json").extra.is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn extra_json() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            prop::sample::select(ORDER_FIELDS.to_vec()).prop_map(str::to_owned),
            prop::sample::select(EVENT_FIELDS.to_vec()).prop_map(str::to_owned),
            Just(SEQ_FIELD.to_owned()),
            "[a-zA-Z]{1,8}",
        ];
        prop_oneof![
            prop::collection::btree_map(key, any::<i32>(), 0..8).prop_map(|m| json!(m).to_string()),
            ".{0,40}",
        ]
    }

    proptest! {
        /// Whatever a plugin passes as extras, the notification a client
        /// gets has each field once, the gateway's values for its own.
        #[test]
        fn proptest_extras_never_duplicate_or_override_fields(extra in extra_json()) {
            let order = super::tests::order(&extra);
            let text = serde_json::to_string(&order).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            let object = value.as_object().unwrap();
            // serde_json keeps the last of duplicate keys; count them in the text.
            for key in object.keys() {
                prop_assert_eq!(text.matches(&format!("\"{key}\":")).count(), 1, "{}", text);
            }
            prop_assert_eq!(&value["userId"], "alice");
            prop_assert!(value.get("seq").is_none());
            let event: Event = wit::Event {
                id: "e1".into(),
                kind: "HALT".into(),
                title: "t".into(),
                message: "m".into(),
                severity: wit::Severity::Low,
                timestamp: 1,
                target_user_ids: Some(vec!["bob".into()]),
                extra_json: Some(extra),
            }
            .into();
            let value = serde_json::to_value(&event).unwrap();
            prop_assert!(value.get("targetUserIds").is_none());
            prop_assert_eq!(&value["id"], "e1");
        }
    }
}
