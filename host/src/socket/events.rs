//! `subscribe:events` / `unsubscribe:events`: which event types a socket
//! receives (the event filter plugins then decide per event).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Outcome;
use super::reply::{ErrorCode, Rejection};
use super::validate::{MAX_EVENT_TYPES, is_event_type, object, string_list};
use crate::app::Gateway;
use crate::bus::Conn;

/// Adds event types.
pub(super) async fn subscribe(
    _gateway: Arc<Gateway>,
    conn: Conn,
    payload: Option<Value>,
) -> Outcome {
    let obj = object(payload.as_ref(), false)?;
    let types =
        string_list(obj, "eventTypes", true, "event type", is_event_type)?.unwrap_or_default();
    let mut mine = conn.session.event_types.lock();
    let new = types.iter().filter(|t| !mine.contains(*t)).count();
    if mine.len() + new > MAX_EVENT_TYPES {
        return Err(Rejection::new(
            ErrorCode::LimitExceeded,
            format!("at most {MAX_EVENT_TYPES} event types per connection"),
        ));
    }
    mine.extend(types);
    let mut ack = Map::new();
    ack.insert("eventTypes".into(), json!(mine.iter().collect::<Vec<_>>()));
    Ok(ack)
}

/// Removes the given event types, or all of them.
pub(super) async fn unsubscribe(
    _gateway: Arc<Gateway>,
    conn: Conn,
    payload: Option<Value>,
) -> Outcome {
    let obj = object(payload.as_ref(), true)?;
    let types = string_list(obj, "eventTypes", false, "event type", is_event_type)?;
    let mut mine = conn.session.event_types.lock();
    match types {
        Some(types) => {
            for t in types {
                mine.remove(&t);
            }
        }
        None => mine.clear(),
    }
    let mut ack = Map::new();
    ack.insert("eventTypes".into(), json!(mine.iter().collect::<Vec<_>>()));
    Ok(ack)
}
