//! Who is on one connected socket and the limits that apply to it: the
//! user, the token's expiry, the flood counter and the connection slot.
//! What the socket follows lives in the delivery index, not here.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use tokio::sync::Notify;

use crate::limits::connections::ConnectionPermit;

/// When `session`'s token stops being accepted, in ms since the Unix epoch.
pub(crate) fn expiry_ms(session: &Session, leeway_secs: u64) -> u64 {
    session
        .token_exp
        .load(Ordering::Relaxed)
        .saturating_add(leeway_secs)
        .saturating_mul(1000)
}

/// One authenticated socket's identity and limits.
#[derive(Debug)]
pub(crate) struct Session {
    /// The user (`sub`).
    pub(crate) user_id: String,
    /// Connected at, ms since the Unix epoch.
    pub(crate) connected_at_ms: u64,
    /// Token expiry, seconds since the Unix epoch.
    pub(crate) token_exp: AtomicU64,
    /// Woken when the token is refreshed or the socket closes.
    pub(crate) refreshed: Notify,
    /// Rate-limited events in a row.
    pub(crate) flood: AtomicU32,
    /// Its connection slot.
    pub(crate) permit: ConnectionPermit,
    /// `auth.lastOrderSeq` of the handshake: replay after it on connect.
    pub(crate) resume_orders_after: Option<u64>,
    closed: AtomicBool,
}

impl Session {
    /// The session of a socket just admitted.
    pub(crate) fn new(
        user_id: String,
        token_exp: u64,
        permit: ConnectionPermit,
        resume_orders_after: Option<u64>,
    ) -> Self {
        Self {
            user_id,
            connected_at_ms: crate::time::now_ms(),
            token_exp: AtomicU64::new(token_exp),
            refreshed: Notify::new(),
            flood: AtomicU32::new(0),
            permit,
            resume_orders_after,
            closed: AtomicBool::new(false),
        }
    }

    /// Marks the socket gone: its slot is given back, its watchers wake.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permit.release();
        self.refreshed.notify_one();
    }

    /// Whether the token has expired, `leeway_secs` allowed.
    pub(crate) fn expired(&self, leeway_secs: u64) -> bool {
        expiry_ms(self, leeway_secs) <= crate::time::now_ms()
    }

    /// Whether the socket is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
