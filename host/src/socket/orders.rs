//! `subscribe:orders` / `unsubscribe:orders` / `orders:replay`: a socket may
//! only ever follow its own user's orders and positions (the subscribe
//! payload, if any, is ignored); a replay resends what the user's history
//! still holds after a `seq`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, json};

use super::gate::Outcome;
use super::payload::{Ignored, Validate};
use super::reply::Rejection;
use crate::app::Gateway;
use crate::delivery::outlet::Outlet;

/// `{ since: integer ≥ 0 }`.
#[derive(Debug, Deserialize)]
pub(super) struct Since {
    since: u64,
}

impl Validate for Since {
    fn validate(&mut self) -> Result<(), Rejection> {
        Ok(())
    }
}

/// Follows the caller's own orders.
pub(super) async fn subscribe(gateway: Arc<Gateway>, outlet: Arc<Outlet>, _: Ignored) -> Outcome {
    let replay = gateway.delivery.replay_orders(&outlet, None, true).await;
    let mut ack = Map::new();
    ack.insert("userId".into(), json!(outlet.session.user_id));
    ack.insert("latestSeq".into(), json!(replay.latest_seq));
    Ok(ack)
}

/// Resends the caller's notifications after `since`, in order.
pub(super) async fn replay(gateway: Arc<Gateway>, outlet: Arc<Outlet>, p: Since) -> Outcome {
    let replay = gateway
        .delivery
        .replay_orders(&outlet, Some(p.since), false)
        .await;
    let mut ack = Map::new();
    ack.insert("replayed".into(), json!(replay.replayed));
    ack.insert("latestSeq".into(), json!(replay.latest_seq));
    ack.insert("truncated".into(), json!(replay.truncated));
    Ok(ack)
}

/// Stops following them.
pub(super) async fn unsubscribe(gateway: Arc<Gateway>, outlet: Arc<Outlet>, _: Ignored) -> Outcome {
    gateway.delivery.unsubscribe_orders(&outlet);
    Ok(Map::new())
}
