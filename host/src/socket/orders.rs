//! `subscribe:orders` / `unsubscribe:orders` / `orders:replay`: a socket may
//! only ever follow its own user's orders and positions (the subscribe
//! payload, if any, is ignored); a replay resends what the user's history
//! still holds after a `seq`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::Outcome;
use super::reply::Rejection;
use super::validate::object;
use crate::app::Gateway;
use crate::bus::Conn;

/// Follows the caller's own orders.
pub(super) async fn subscribe(
    gateway: Arc<Gateway>,
    conn: Conn,
    _payload: Option<Value>,
) -> Outcome {
    let replay = gateway.bus.replay_orders(&conn, None, true).await;
    let mut ack = Map::new();
    ack.insert("userId".into(), json!(conn.session.user_id));
    ack.insert("latestSeq".into(), json!(replay.latest_seq));
    Ok(ack)
}

/// Resends the caller's notifications after `since`, in order.
pub(super) async fn replay(gateway: Arc<Gateway>, conn: Conn, payload: Option<Value>) -> Outcome {
    let obj = object(payload.as_ref(), false)?.expect("required payload");
    let since = match obj.get("since") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| Rejection::invalid("`since` must be a non-negative integer"))?,
        None => return Err(Rejection::invalid("`since` is required")),
    };
    let replay = gateway.bus.replay_orders(&conn, Some(since), false).await;
    let mut ack = Map::new();
    ack.insert("replayed".into(), json!(replay.replayed));
    ack.insert("latestSeq".into(), json!(replay.latest_seq));
    ack.insert("truncated".into(), json!(replay.truncated));
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
