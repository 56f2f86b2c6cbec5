//! The values source plugins produce, in the shape clients receive them
//! (the contract's camelCase JSON): ticks, order notifications, position
//! updates and events.

use serde::Serialize;
use serde_json::{Map, Value};

/// One price quote, as sent to clients in `price:update`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Tick {
    /// Instrument, e.g. `EURUSD`.
    pub symbol: String,
    /// Bid price.
    pub bid: f64,
    /// Ask price.
    pub ask: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// How far ahead of this gateway's clock a tick may be stamped: a tick from
/// further ahead would hold back every real one until its time comes.
pub const MAX_TICK_CLOCK_SKEW_MS: u64 = 5_000;

impl Tick {
    /// Why the gateway will not deliver this tick at `now_ms`, if it won't:
    /// a symbol outside the contract's pattern, a price that is not a
    /// finite number, or a stamp beyond [`MAX_TICK_CLOCK_SKEW_MS`] ahead.
    pub fn refusal(&self, now_ms: u64) -> Option<&'static str> {
        if !gateway_contract::is_symbol(&self.symbol) {
            Some("the symbol does not match the contract's pattern")
        } else if !self.bid.is_finite() || !self.ask.is_finite() {
            Some("bid and ask must be finite numbers")
        } else if self.timestamp > now_ms.saturating_add(MAX_TICK_CLOCK_SKEW_MS) {
            Some("stamped too far in the future")
        } else {
            None
        }
    }
}

/// A change to one of a user's orders (`order:notification`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderNotification {
    /// The order.
    pub order_id: String,
    /// `ORDER_CREATED`, `ORDER_EXECUTED`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Instrument.
    pub symbol: String,
    /// The only user who may receive it.
    pub user_id: String,
    /// Order status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Buy or sell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// Quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<f64>,
    /// Price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Further fields from upstream, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A change to one of a user's positions (`position:update`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionUpdate {
    /// The position.
    pub position_id: String,
    /// Instrument.
    pub symbol: String,
    /// The only user who may receive it.
    pub user_id: String,
    /// Quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<f64>,
    /// Entry price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_price: Option<f64>,
    /// Unrealised profit and loss.
    #[serde(rename = "unrealizedPnL")]
    pub unrealized_pnl: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Further fields from upstream, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Low,
    /// Worth a look.
    Medium,
    /// Act soon.
    High,
    /// Act now.
    Critical,
}

/// A system event (`event:notification`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Event {
    /// Unique id; filters drop repeats.
    pub id: String,
    /// Event type, e.g. `MARKET_HALT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short title.
    pub title: String,
    /// Body text.
    pub message: String,
    /// How much it matters.
    pub severity: Severity,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Only these users may receive it; never sent to clients.
    #[serde(skip)]
    pub target_user_ids: Option<Vec<String>>,
    /// Further fields, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Longest event id, in bytes.
pub const MAX_EVENT_ID_BYTES: usize = 128;
/// Longest event title, in characters.
pub const MAX_EVENT_TITLE_CHARS: usize = 200;
/// Longest event message, in characters.
pub const MAX_EVENT_MESSAGE_CHARS: usize = 5000;

impl Event {
    /// Why the gateway will not deliver this event, if it won't: a type
    /// outside the contract's pattern, an empty or overlong id, title or
    /// message (the bounds `POST /api/events` applies too).
    pub fn refusal(&self) -> Option<&'static str> {
        if !gateway_contract::is_event_type(&self.kind) {
            Some("the type does not match the contract's pattern")
        } else if self.id.is_empty() || self.id.len() > MAX_EVENT_ID_BYTES {
            Some("the id must have 1 to 128 bytes")
        } else if self.title.trim().is_empty() || self.title.chars().count() > MAX_EVENT_TITLE_CHARS
        {
            Some("the title must have 1 to 200 characters")
        } else if self.message.trim().is_empty()
            || self.message.chars().count() > MAX_EVENT_MESSAGE_CHARS
        {
            Some("the message must have 1 to 5000 characters")
        } else {
            None
        }
    }
}

/// What one poll of an order source produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderBatch {
    /// Order notifications.
    pub orders: Vec<OrderNotification>,
    /// Position updates.
    pub positions: Vec<PositionUpdate>,
}

impl OrderBatch {
    /// Drops the notifications and updates that name no user (they could
    /// reach no one) and returns how many were dropped.
    pub fn drop_unaddressed(&mut self) -> usize {
        let before = self.orders.len() + self.positions.len();
        self.orders.retain(|o| !o.user_id.trim().is_empty());
        self.positions.retain(|p| !p.user_id.trim().is_empty());
        before - self.orders.len() - self.positions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(symbol: &str, bid: f64, timestamp: u64) -> Tick {
        Tick {
            symbol: symbol.into(),
            bid,
            ask: 1.0,
            timestamp,
        }
    }

    #[test]
    fn ticks_from_the_future_bad_symbols_and_non_numbers_are_refused() {
        let now = 1_000_000;
        assert_eq!(tick("EURUSD", 1.0, now).refusal(now), None);
        assert_eq!(tick("EURUSD", 1.0, now + 5_000).refusal(now), None);
        assert!(tick("EURUSD", 1.0, now + 5_001).refusal(now).is_some());
        assert!(tick("EURUSD", 1.0, u64::MAX).refusal(now).is_some());
        assert!(tick("eur usd", 1.0, now).refusal(now).is_some());
        assert!(tick("EURUSD", f64::NAN, now).refusal(now).is_some());
        assert!(tick("EURUSD", f64::INFINITY, now).refusal(now).is_some());
    }

    #[test]
    fn events_outside_the_contract_are_refused() {
        let ok = Event {
            id: "e1".into(),
            kind: "MARKET_HALT".into(),
            title: "Halt".into(),
            message: "Trading halted".into(),
            severity: Severity::High,
            timestamp: 1,
            target_user_ids: None,
            extra: Map::new(),
        };
        assert_eq!(ok.refusal(), None);
        for bad in [
            Event {
                kind: "halt".into(),
                ..ok.clone()
            },
            Event {
                id: String::new(),
                ..ok.clone()
            },
            Event {
                id: "x".repeat(129),
                ..ok.clone()
            },
            Event {
                title: " ".into(),
                ..ok.clone()
            },
            Event {
                message: "m".repeat(5001),
                ..ok.clone()
            },
        ] {
            assert!(bad.refusal().is_some(), "{bad:?}");
        }
    }
}
