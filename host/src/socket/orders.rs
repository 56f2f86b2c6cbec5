//! `subscribe:orders` / `unsubscribe:orders`: a socket may only ever follow
//! its own user's orders and positions; the payload, if any, is ignored.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::Outcome;
use crate::app::Gateway;
use crate::bus::Conn;

/// Follows the caller's own orders.
pub(super) async fn subscribe(
    _gateway: Arc<Gateway>,
    conn: Conn,
    _payload: Option<Value>,
) -> Outcome {
    conn.session.orders.store(true, Ordering::Relaxed);
    let mut ack = Map::new();
    ack.insert("userId".into(), json!(conn.session.user_id));
    Ok(ack)
}

/// Stops following them.
pub(super) async fn unsubscribe(
    _gateway: Arc<Gateway>,
    conn: Conn,
    _payload: Option<Value>,
) -> Outcome {
    conn.session.orders.store(false, Ordering::Relaxed);
    Ok(Map::new())
}
