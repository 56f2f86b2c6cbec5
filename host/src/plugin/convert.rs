//! Conversions between the WIT records and the gateway's own values.

use serde_json::{Map, Value};

use super::bindings::types as wit;
use super::version::Subscriber;
use crate::protocol::payloads::{Event, OrderNotification, PositionUpdate, Severity, Tick};

/// Parses a plugin's `extra-json`; anything but a JSON object is dropped.
fn extra(json: Option<String>) -> Map<String, Value> {
    json.and_then(|j| serde_json::from_str::<Value>(&j).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
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
            extra: extra(o.extra_json),
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
            extra: extra(p.extra_json),
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
            extra: extra(e.extra_json),
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
