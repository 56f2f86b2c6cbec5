//! The token-expiry watch: a socket whose token expires (plus the leeway)
//! without an `auth:refresh` gets `error { code: "AUTH_EXPIRED" }` and is
//! disconnected.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::session::Session;
use crate::delivery::outlet::Outlet;
use crate::protocol::{ErrorCode, server};

/// When `session`'s token stops being accepted, in ms since the Unix epoch.
fn expiry_ms(session: &Session, leeway_secs: u64) -> u64 {
    session
        .token_exp
        .load(Ordering::Relaxed)
        .saturating_add(leeway_secs)
        .saturating_mul(1000)
}

/// Disconnects the socket when its token expires without a refresh.
pub(super) async fn watch(outlet: Arc<Outlet>, leeway_secs: u64) {
    let session = &outlet.session;
    loop {
        let left = expiry_ms(session, leeway_secs).saturating_sub(crate::time::now_ms());
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(left)) => {}
            () = session.refreshed.notified() => {}
        }
        if session.is_closed() || !outlet.socket.connected() {
            return;
        }
        if expiry_ms(session, leeway_secs) <= crate::time::now_ms() {
            let _ = outlet.socket.emit(
                server::ERROR,
                &json!({
                    "code": ErrorCode::AuthExpired,
                    "message": "the token expired; reconnect with a new one",
                }),
            );
            tracing::info!(socket = %outlet.sid(), user = %session.user_id, "token expired; disconnecting");
            let _ = outlet.socket.clone().disconnect();
            return;
        }
    }
}
