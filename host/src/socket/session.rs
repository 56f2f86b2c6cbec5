//! What the gateway knows about one connected socket.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

use crate::history::OrderGate;
use crate::limits::ConnectionPermit;

/// One authenticated socket's state.
#[derive(Debug)]
pub struct Session {
    /// The socket id.
    pub socket_id: String,
    /// The user (`sub`).
    pub user_id: String,
    /// Display name from the token.
    pub name: Option<String>,
    /// Whether the token has the admin role.
    pub admin: bool,
    /// Connected at, ms since the Unix epoch.
    pub connected_at_ms: u64,
    /// Price symbols subscribed.
    pub symbols: Mutex<BTreeSet<String>>,
    /// Subscribed to its own orders.
    pub orders: AtomicBool,
    /// Event types subscribed.
    pub event_types: Mutex<BTreeSet<String>>,
    /// Token expiry, seconds since the Unix epoch.
    pub token_exp: AtomicU64,
    /// Woken when the token is refreshed.
    pub refreshed: Notify,
    /// Rate-limited events in a row.
    pub flood: AtomicU32,
    /// Its connection slot.
    pub permit: ConnectionPermit,
    /// `auth.lastOrderSeq` of the handshake: replay after it on connect.
    pub resume_orders_after: Option<u64>,
    /// Live order notifications during a replay from the cluster's history.
    pub order_gate: Mutex<OrderGate>,
    /// One replay at a time on this socket.
    pub replaying: tokio::sync::Mutex<()>,
}

impl Session {
    /// A new session with no subscriptions.
    pub fn new(
        socket_id: String,
        user_id: String,
        name: Option<String>,
        admin: bool,
        token_exp: u64,
        permit: ConnectionPermit,
        resume_orders_after: Option<u64>,
    ) -> Self {
        Self {
            socket_id,
            user_id,
            name,
            admin,
            connected_at_ms: crate::time::now_ms(),
            symbols: Mutex::new(BTreeSet::new()),
            orders: AtomicBool::new(false),
            event_types: Mutex::new(BTreeSet::new()),
            token_exp: AtomicU64::new(token_exp),
            refreshed: Notify::new(),
            flood: AtomicU32::new(0),
            permit,
            resume_orders_after,
            order_gate: Mutex::new(OrderGate::default()),
            replaying: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether it subscribed to its orders.
    pub fn wants_orders(&self) -> bool {
        self.orders.load(Ordering::Relaxed)
    }

    /// The admin API's view of it, on its current `transport`.
    pub fn describe(&self, transport: &'static str) -> ConnectionInfo {
        ConnectionInfo {
            socket_id: self.socket_id.clone(),
            user_id: self.user_id.clone(),
            transport,
            connected_at: self.connected_at_ms,
            subscriptions: Subscriptions {
                symbols: self.symbols.lock().iter().cloned().collect(),
                orders: self.wants_orders(),
                event_types: self.event_types.lock().iter().cloned().collect(),
            },
        }
    }
}

/// One connection in `/api/connections`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// Socket id.
    pub socket_id: String,
    /// User.
    pub user_id: String,
    /// Current transport: `websocket` or `polling`.
    pub transport: &'static str,
    /// ms since the Unix epoch.
    pub connected_at: u64,
    /// What it subscribed to.
    pub subscriptions: Subscriptions,
}

/// A connection's subscriptions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscriptions {
    /// Price symbols.
    pub symbols: Vec<String>,
    /// Own orders.
    pub orders: bool,
    /// Event types.
    pub event_types: Vec<String>,
}
