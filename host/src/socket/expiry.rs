//! The token-expiry watch: a socket whose token expires (plus the leeway)
//! without an `auth:refresh` gets `error { code: "AUTH_EXPIRED" }` and is
//! cut off at once (nothing more is sent to it, and its close is retried
//! until its buffer has room for it).

use std::sync::Arc;
use std::time::Duration;

use super::session::expiry_ms;
use crate::app::Gateway;
use crate::delivery::CutOff;
use crate::delivery::outlet::Outlet;

/// Cuts the socket off when its token expires without a refresh.
pub(super) async fn watch(gateway: Arc<Gateway>, outlet: Arc<Outlet>) {
    let session = &outlet.session;
    let leeway_secs = gateway.auth.leeway_secs();
    loop {
        let left = expiry_ms(session, leeway_secs).saturating_sub(crate::time::now_ms());
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(left)) => {}
            () = session.refreshed.notified() => {}
        }
        if session.is_closed() || outlet.is_closing() {
            return;
        }
        if session.expired(leeway_secs) {
            tracing::info!(socket = %outlet.sid(), user = %session.user_id, "token expired");
            gateway.delivery.cut_off(&outlet, CutOff::TokenExpired);
            return;
        }
    }
}
