//! The dedup keys of the trading service's items (mapped by
//! `gateway_sdk::records`).

use gateway_sdk::{OrderNotification, PositionUpdate};

/// The dedup key of an order notification: one order has several
/// notifications (created, partial fills, executed), each with its own time.
pub(crate) fn order_key(o: &OrderNotification) -> String {
    format!("{}|{}|{}", o.kind, o.order_id, o.timestamp)
}

/// The dedup key of a position update: a position is updated many times.
pub(crate) fn position_key(p: &PositionUpdate) -> String {
    format!("POSITION|{}|{}", p.position_id, p.timestamp)
}
