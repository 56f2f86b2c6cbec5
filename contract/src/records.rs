//! The contract's records as JSON objects: the order notification types and
//! the fields each record has a place of its own for. A plugin maps
//! upstream JSON by them (whatever else an item carries travels as its
//! extras), and the host drops extras that would repeat or override them.
//!
//! ```
//! use gateway_contract::records::{ORDER_FIELDS, ORDER_TYPES};
//!
//! assert!(ORDER_TYPES.contains(&"ORDER_EXECUTED"));
//! assert!(ORDER_FIELDS.contains(&"orderId"));
//! ```

/// The order notification types (`type`).
pub const ORDER_TYPES: &[&str] = &[
    "ORDER_CREATED",
    "ORDER_EXECUTED",
    "ORDER_PARTIALLY_FILLED",
    "ORDER_CANCELLED",
    "ORDER_REJECTED",
];

/// Fields of an order notification.
pub const ORDER_FIELDS: &[&str] = &[
    "orderId",
    "type",
    "symbol",
    "userId",
    "status",
    "side",
    "quantity",
    "price",
    "timestamp",
];

/// Fields of a position update.
pub const POSITION_FIELDS: &[&str] = &[
    "positionId",
    "symbol",
    "userId",
    "quantity",
    "entryPrice",
    "unrealizedPnL",
    "timestamp",
];

/// Fields of an event (`targetUserIds` is never sent to clients).
pub const EVENT_FIELDS: &[&str] = &[
    "id",
    "type",
    "title",
    "message",
    "severity",
    "timestamp",
    "targetUserIds",
];

/// The field the gateway adds to order notifications and position updates:
/// the user's sequence number.
pub const SEQ_FIELD: &str = "seq";
