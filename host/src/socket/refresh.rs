//! `auth:refresh`: replaces the socket's token with a newer one for the
//! same user, pushing back its expiry.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::Outcome;
use super::reply::{ErrorCode, Rejection};
use super::validate::{object, opt_string};
use crate::app::Gateway;
use crate::auth::AuthError;
use crate::bus::Conn;

/// Verifies the new token and adopts its expiry.
pub(super) async fn refresh(gateway: Arc<Gateway>, conn: Conn, payload: Option<Value>) -> Outcome {
    let obj = object(payload.as_ref(), false)?.expect("required payload");
    let token =
        opt_string(obj, "token")?.ok_or_else(|| Rejection::invalid("`token` is required"))?;
    let claims = gateway.auth.verify(token).await.map_err(|e| match e {
        AuthError::Expired => {
            Rejection::new(ErrorCode::AuthExpired, "the new token has already expired")
        }
        other => Rejection::new(ErrorCode::AuthInvalid, other.to_string()),
    })?;
    if claims.sub != conn.session.user_id {
        return Err(Rejection::new(
            ErrorCode::AuthInvalid,
            "the new token is for a different user",
        ));
    }
    conn.session.token_exp.store(claims.exp, Ordering::Relaxed);
    conn.session.refreshed.notify_one();
    let mut ack = Map::new();
    ack.insert("exp".into(), json!(claims.exp));
    Ok(ack)
}
