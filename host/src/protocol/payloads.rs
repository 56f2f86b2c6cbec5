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

/// What one poll of an order source produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderBatch {
    /// Order notifications.
    pub orders: Vec<OrderNotification>,
    /// Position updates.
    pub positions: Vec<PositionUpdate>,
}
