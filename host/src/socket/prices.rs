//! `subscribe:prices` / `unsubscribe:prices`: price rooms per symbol, the
//! per-socket symbol cap, and `prices:initial` from the latest-tick cache.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Outcome;
use super::reply::{ErrorCode, Rejection};
use super::validate::{is_symbol, object, string_list};
use crate::app::Gateway;
use crate::bus::Conn;

fn symbols(payload: Option<&Value>) -> Result<Vec<String>, Rejection> {
    let obj = object(payload, false)?;
    Ok(string_list(obj, "symbols", true, "symbol", is_symbol)?.unwrap_or_default())
}

/// Joins each symbol's room and sends the latest known ticks.
pub(super) async fn subscribe(
    gateway: Arc<Gateway>,
    conn: Conn,
    payload: Option<Value>,
) -> Outcome {
    let wanted = symbols(payload.as_ref())?;
    let max = gateway.config.max_symbols_per_socket;
    let all: Vec<String> = {
        let mut mine = conn.session.symbols.lock();
        let new = wanted.iter().filter(|s| !mine.contains(*s)).count();
        if mine.len() + new > max {
            return Err(Rejection::new(
                ErrorCode::LimitExceeded,
                format!(
                    "at most {max} symbols per connection ({} already subscribed)",
                    mine.len()
                ),
            ));
        }
        mine.extend(wanted.iter().cloned());
        mine.iter().cloned().collect()
    };
    gateway.bus.subscribe_prices(&conn, &wanted);
    let prices = gateway.bus.latest(&wanted);
    if conn
        .socket
        .emit("prices:initial", &json!({ "prices": prices }))
        .is_ok()
    {
        gateway.metrics.events_out("prices:initial", 1);
    }
    let mut ack = Map::new();
    ack.insert("symbols".into(), json!(all));
    ack.insert("prices".into(), json!(prices));
    Ok(ack)
}

/// Leaves the symbols' rooms.
pub(super) async fn unsubscribe(
    gateway: Arc<Gateway>,
    conn: Conn,
    payload: Option<Value>,
) -> Outcome {
    let gone = symbols(payload.as_ref())?;
    let left: Vec<String> = {
        let mut mine = conn.session.symbols.lock();
        for s in &gone {
            mine.remove(s);
        }
        mine.iter().cloned().collect()
    };
    gateway.bus.unsubscribe_prices(conn.socket.id, &gone);
    let mut ack = Map::new();
    ack.insert("symbols".into(), json!(left));
    Ok(ack)
}
