//! The handshake: the token (from `auth.token`, the `Authorization: Bearer`
//! header or `?token=`), its verification, the user-service check and the
//! connection caps; then the `connected` greeting, the resumed orders and
//! the token-expiry watch.

use std::sync::Arc;

use serde_json::{Value, json};
use socketioxide::extract::{SocketRef, TryData};

use super::session::Session;
use crate::app::Gateway;
use crate::auth::{AuthError, credentials};
use crate::protocol::{ErrorCode, server};

/// Refusal text sent as `connect_error`: `CODE: sentence`.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {sentence}")]
pub(super) struct Refused {
    code: ErrorCode,
    sentence: String,
}

/// A refusal, counted.
fn refuse(gateway: &Gateway, code: ErrorCode, sentence: impl Into<String>) -> Refused {
    gateway.metrics.rejected(code);
    Refused {
        code,
        sentence: sentence.into(),
    }
}

/// A refusal from an error whose text already starts with its code.
fn refuse_with(gateway: &Gateway, code: ErrorCode, error: &impl std::fmt::Display) -> Refused {
    let text = error.to_string();
    let sentence = text
        .strip_prefix(code.as_str())
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(&text);
    refuse(gateway, code, sentence)
}

fn token(socket: &SocketRef, auth: Option<&Value>) -> Option<String> {
    if let Some(t) = auth.and_then(|a| a.get("token")).and_then(Value::as_str) {
        return Some(t.to_owned());
    }
    let parts = socket.req_parts();
    credentials::bearer(&parts.headers)
        .map(str::to_owned)
        .or_else(|| credentials::query_token(parts.uri.query()))
}

/// Connect middleware: admits the socket or refuses it with a coded reason.
pub(super) async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    gateway: Arc<Gateway>,
) -> Result<(), Refused> {
    if gateway.is_shutting_down() {
        return Err(refuse(
            &gateway,
            ErrorCode::ServerShuttingDown,
            "the server is restarting; retry shortly",
        ));
    }
    let auth = auth.ok();
    let resume = match auth.as_ref().and_then(|a| a.get("lastOrderSeq")) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                return Err(refuse(
                    &gateway,
                    ErrorCode::InvalidPayload,
                    "auth.lastOrderSeq must be a non-negative integer",
                ));
            }
        },
    };
    let Some(token) = token(&socket, auth.as_ref()) else {
        let e = AuthError::Missing;
        return Err(refuse_with(&gateway, e.code(), &e));
    };
    let claims = gateway
        .auth
        .verify(&token)
        .await
        .map_err(|e| refuse_with(&gateway, e.code(), &e))?;
    gateway
        .auth
        .check_user(&claims.sub)
        .await
        .map_err(|e| refuse_with(&gateway, e.code(), &e))?;
    let permit = gateway
        .caps
        .acquire(&claims.sub)
        .map_err(|e| refuse_with(&gateway, e.code(), &e))?;
    if let Some(shared) = &gateway.user_limits {
        permit
            .share(shared, gateway.config.max_connections_per_user)
            .await
            .map_err(|e| refuse_with(&gateway, e.code(), &e))?;
    }
    let session = Arc::new(Session::new(claims.sub, claims.exp, permit, resume));
    // Handlers go in here, before socketioxide sends the CONNECT packet: a
    // client emits the moment it sees it, and the connect handler runs in a
    // task of its own that may start later; an event without a handler
    // would be dropped unanswered.
    super::register(&socket, &gateway, &session);
    socket.extensions.insert(session);
    Ok(())
}

/// The socket is admitted (its event handlers are in already): start
/// delivering to it, greet it, watch its token, resume its orders (paced to
/// its buffer).
///
/// The disconnect handler is installed first. A client that went away
/// while its handshake was checked may already be closed: then the greeting
/// cannot be sent and the socket is cleaned up here.
pub(super) async fn connected(socket: SocketRef, gateway: Arc<Gateway>) {
    let Some(session) = socket.extensions.get::<Arc<Session>>() else {
        return;
    };
    let cleanup = {
        let (g, s) = (gateway.clone(), session.clone());
        move |socket: &SocketRef| {
            g.delivery.remove(socket.id, &s);
            g.metrics.connections.set(g.caps.total() as i64);
            g.metrics.users.set(g.caps.users() as i64);
        }
    };
    let on_close = cleanup.clone();
    socket.on_disconnect(move |socket: SocketRef| async move { on_close(&socket) });
    let Some(outlet) = gateway.delivery.outlet(&socket, &session) else {
        return;
    };
    gateway.metrics.connections.set(gateway.caps.total() as i64);
    gateway.metrics.users.set(gateway.caps.users() as i64);
    let greeting = json!({
        "userId": session.user_id,
        "socketId": socket.id.to_string(),
        "serverTime": crate::time::now_ms(),
        "limits": {
            "messagesPerMinute": gateway.config.max_messages_per_minute,
            "maxSymbols": gateway.config.max_symbols_per_socket,
        },
    });
    match socket.emit(server::CONNECTED, &greeting) {
        Ok(()) => gateway.metrics.events_out(server::CONNECTED, 1),
        Err(e) => {
            tracing::debug!(socket = %socket.id, "client gone during its handshake ({e}); cleaning up");
            cleanup(&socket);
            let _ = socket.disconnect();
            return;
        }
    }
    tokio::spawn(super::expiry::watch(gateway.clone(), outlet.clone()));
    if let Some(since) = session.resume_orders_after {
        let replay = gateway
            .delivery
            .replay_orders(&outlet, Some(since), true)
            .await;
        tracing::debug!(socket = %socket.id, since, replayed = replay.replayed, "orders resumed");
    }
}
