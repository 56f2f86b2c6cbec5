//! `subscribe:events` / `unsubscribe:events`: which event types a socket
//! receives (the event filter plugins then decide per event).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, json};

use super::gate::Outcome;
use super::payload::{Validate, names};
use super::reply::Rejection;
use crate::app::Gateway;
use crate::delivery::index::OverCap;
use crate::delivery::outlet::Outlet;
use crate::protocol::{ErrorCode, MAX_EVENT_TYPES, is_event_type};

/// `{ eventTypes: string[] }`, non-empty, each a valid event type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventTypes {
    pub(super) event_types: Vec<String>,
}

impl Validate for EventTypes {
    fn validate(&mut self) -> Result<(), Rejection> {
        names(
            "eventTypes",
            &mut self.event_types,
            "event type",
            is_event_type,
        )
    }
}

/// `{ eventTypes?: string[] }`; all types when absent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SomeEventTypes {
    #[serde(default)]
    event_types: Option<Vec<String>>,
}

impl Validate for SomeEventTypes {
    const OPTIONAL: bool = true;
    fn validate(&mut self) -> Result<(), Rejection> {
        match &mut self.event_types {
            Some(types) => names("eventTypes", types, "event type", is_event_type),
            None => Ok(()),
        }
    }
}

/// Adds event types.
pub(super) async fn subscribe(
    gateway: Arc<Gateway>,
    outlet: Arc<Outlet>,
    p: EventTypes,
) -> Outcome {
    let all = gateway
        .delivery
        .subscribe_events(&outlet, &p.event_types, MAX_EVENT_TYPES)
        .map_err(|OverCap { .. }| {
            Rejection::new(
                ErrorCode::LimitExceeded,
                format!("at most {MAX_EVENT_TYPES} event types per connection"),
            )
        })?;
    let mut ack = Map::new();
    ack.insert("eventTypes".into(), json!(all));
    Ok(ack)
}

/// Removes the given event types, or all of them.
pub(super) async fn unsubscribe(
    gateway: Arc<Gateway>,
    outlet: Arc<Outlet>,
    p: SomeEventTypes,
) -> Outcome {
    let left = gateway
        .delivery
        .unsubscribe_events(&outlet, p.event_types.as_deref());
    let mut ack = Map::new();
    ack.insert("eventTypes".into(), json!(left));
    Ok(ack)
}
