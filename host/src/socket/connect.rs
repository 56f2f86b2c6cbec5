//! The handshake: token (from `auth.token`, the `Authorization: Bearer`
//! header or `?token=`), verification, the user-service check and the
//! connection caps; then the `connected` greeting and the token-expiry
//! watch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use socketioxide::extract::{SocketRef, TryData};

use super::session::Session;
use crate::app::Gateway;
use crate::bus::Conn;

/// Refusal text sent as `connect_error`: `CODE: sentence`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refused(String);

/// Refusal while shutting down.
const SHUTTING_DOWN: &str = "SERVER_SHUTTING_DOWN: the server is restarting; retry shortly";

fn token(socket: &SocketRef, auth: &Option<Value>) -> Option<String> {
    if let Some(t) = auth
        .as_ref()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
    {
        return Some(t.to_owned());
    }
    let parts = socket.req_parts();
    if let Some(bearer) = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some(bearer.trim().to_owned());
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                match (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connect middleware: admits the socket or refuses it with a coded reason.
pub(super) async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    gateway: Arc<Gateway>,
) -> Result<(), Refused> {
    let refuse = |code: &str, text: String| {
        gateway.metrics.rejected(code);
        Refused(text)
    };
    if gateway.is_shutting_down() {
        return Err(refuse("SERVER_SHUTTING_DOWN", SHUTTING_DOWN.into()));
    }
    let auth = auth.ok();
    let resume = match auth.as_ref().and_then(|a| a.get("lastOrderSeq")) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                return Err(refuse(
                    "INVALID_PAYLOAD",
                    "INVALID_PAYLOAD: auth.lastOrderSeq must be a non-negative integer".into(),
                ));
            }
        },
    };
    let Some(token) = token(&socket, &auth) else {
        let e = crate::auth::AuthError::Missing;
        return Err(refuse(e.code(), e.to_string()));
    };
    let claims = match gateway.auth.verify(&token).await {
        Ok(c) => c,
        Err(e) => return Err(refuse(e.code(), e.to_string())),
    };
    if let Err(e) = gateway.auth.check_user(&claims.sub).await {
        return Err(refuse(e.code(), e.to_string()));
    }
    let permit = match gateway.caps.acquire(&claims.sub) {
        Ok(p) => p,
        Err(e) => return Err(refuse(e.code(), e.to_string())),
    };
    if let Some(shared) = &gateway.cluster_caps
        && let Err(e) = permit
            .share(shared, gateway.config.max_connections_per_user)
            .await
    {
        return Err(refuse(e.code(), e.to_string()));
    }
    let session = Session::new(
        socket.id.to_string(),
        claims.sub.clone(),
        claims.name.clone(),
        claims.is_admin(),
        claims.exp,
        permit,
        resume,
    );
    let session = Arc::new(session);
    // Handlers go in here, before socketioxide sends the CONNECT packet: a
    // client emits the moment it sees it, and the connect handler runs in a
    // task of its own that may start later; an event without a handler
    // would be dropped unanswered.
    super::register(&socket, &gateway, &session);
    socket.extensions.insert(session);
    Ok(())
}

/// The socket is admitted (its event handlers are in already): add it to
/// the bus, greet it, watch its token.
///
/// The disconnect handler is installed first. A client that went away
/// while its handshake was checked may already be closed: then the greeting
/// cannot be sent and the socket is cleaned up here.
pub(super) async fn connected(socket: SocketRef, gateway: Arc<Gateway>) {
    let Some(session) = socket.extensions.get::<Arc<Session>>() else {
        return;
    };
    let conn = Conn {
        socket: socket.clone(),
        session: session.clone(),
    };
    let cleanup = {
        let (g, s) = (gateway.clone(), session.clone());
        move |sid| {
            g.bus.remove(sid);
            s.permit.release();
            g.metrics.connections.set(g.caps.total() as i64);
            g.metrics.users.set(g.caps.users() as i64);
            s.refreshed.notify_one();
        }
    };
    let on_close = cleanup.clone();
    socket.on_disconnect(move |socket: SocketRef| async move { on_close(socket.id) });
    gateway.bus.add(conn.clone());
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
    match socket.emit("connected", &greeting) {
        Ok(()) => gateway.metrics.events_out("connected", 1),
        Err(e) => {
            tracing::debug!(socket = %socket.id, "client gone during its handshake ({e}); cleaning up");
            cleanup(socket.id);
            let _ = socket.disconnect();
            return;
        }
    }
    if let Some(since) = session.resume_orders_after {
        let replay = gateway.bus.replay_orders(&conn, Some(since), true).await;
        tracing::debug!(socket = %socket.id, since, replayed = replay.replayed, "orders resumed");
    }
    tokio::spawn(watch_expiry(conn, gateway.auth.leeway_secs()));
}

/// Disconnects the socket when its token expires (plus the leeway)
/// without a refresh.
async fn watch_expiry(conn: Conn, leeway_secs: u64) {
    let expiry_ms = |s: &Session| (s.token_exp.load(Ordering::Relaxed) + leeway_secs) * 1000;
    loop {
        let exp_ms = expiry_ms(&conn.session);
        let left = Duration::from_millis(exp_ms.saturating_sub(crate::time::now_ms()));
        tokio::select! {
            () = tokio::time::sleep(left) => {}
            () = conn.session.refreshed.notified() => {}
        }
        if !conn.socket.connected() {
            return;
        }
        if expiry_ms(&conn.session) <= crate::time::now_ms() {
            let _ = conn.socket.emit(
                "error",
                &json!({ "code": "AUTH_EXPIRED", "message": "the token expired; reconnect with a new one" }),
            );
            tracing::info!(socket = %conn.socket.id, user = %conn.session.user_id, "token expired; disconnecting");
            let _ = conn.socket.clone().disconnect();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("a.b%2Ec"), "a.b.c");
        assert_eq!(percent_decode("abc%"), "abc%");
        assert_eq!(percent_decode("x%zz"), "x%zz");
    }
}
