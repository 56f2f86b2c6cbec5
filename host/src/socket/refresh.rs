//! `auth:refresh`: replaces the socket's token with a newer one for the
//! same user, pushing back its expiry. The user service (when configured)
//! is asked again, through its cache: a user it no longer accepts cannot
//! refresh, and their socket ends when its current token expires.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde_json::{Map, json};

use super::gate::Outcome;
use super::payload::Validate;
use super::reply::Rejection;
use crate::app::Gateway;
use crate::auth::AuthError;
use crate::delivery::outlet::Outlet;
use crate::protocol::ErrorCode;

/// `{ token: string }`.
#[derive(Debug, Deserialize)]
pub(super) struct NewToken {
    token: String,
}

impl Validate for NewToken {
    fn validate(&mut self) -> Result<(), Rejection> {
        Ok(())
    }
}

/// Verifies the new token and adopts its expiry.
pub(super) async fn refresh(gateway: Arc<Gateway>, outlet: Arc<Outlet>, p: NewToken) -> Outcome {
    let claims = gateway.auth.verify(&p.token).await.map_err(|e| match e {
        AuthError::Expired => {
            Rejection::new(ErrorCode::AuthExpired, "the new token has already expired")
        }
        other => Rejection::new(ErrorCode::AuthInvalid, other.to_string()),
    })?;
    let session = &outlet.session;
    if claims.sub != session.user_id {
        return Err(Rejection::new(
            ErrorCode::AuthInvalid,
            "the new token is for a different user",
        ));
    }
    gateway
        .auth
        .check_user(&claims.sub)
        .await
        .map_err(|e| Rejection::new(e.code(), e.to_string()))?;
    session.token_exp.store(claims.exp, Ordering::Relaxed);
    session.refreshed.notify_one();
    let mut ack = Map::new();
    ack.insert("exp".into(), json!(claims.exp));
    Ok(ack)
}
