//! The Socket.IO side of the contract: the handshake (auth, user check,
//! caps), then one module per event family. Every client event passes the
//! same gate — count, rate limit, payload shape — before its handler runs;
//! only chat and event filtering ever reach a plugin, and never on the
//! socket's I/O path (plugins run on their own threads).

mod chat;
mod connect;
mod events;
mod orders;
mod prices;
mod refresh;
pub mod reply;
pub mod session;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;

use crate::app::Gateway;
use crate::bus::Conn;
use reply::{AckRequested, ErrorCode, Rejection, Reply};
use session::Session;

/// What a handler answers: extra ack fields, or a rejection.
pub type Outcome = Result<Map<String, Value>, Rejection>;

/// Installs the default namespace's handshake and handlers.
pub fn attach(io: &SocketIo, gateway: Arc<Gateway>) {
    let on_connect = {
        let gateway = gateway.clone();
        move |socket: SocketRef| {
            let gateway = gateway.clone();
            async move { connect::connected(socket, gateway).await }
        }
    };
    let check = move |socket: SocketRef, auth: TryData<Value>| {
        connect::authenticate(socket, auth, gateway.clone())
    };
    io.ns("/", on_connect.with(check));
}

/// Registers the handlers of an authenticated socket. Handlers hold the
/// session, not the socket (the socket owns its handlers; holding it back
/// would keep it alive forever).
fn register(socket: &SocketRef, gateway: &Arc<Gateway>, session: &Arc<Session>) {
    let conn = session;
    on(socket, gateway, conn, "subscribe:prices", prices::subscribe);
    on(
        socket,
        gateway,
        conn,
        "unsubscribe:prices",
        prices::unsubscribe,
    );
    on(socket, gateway, conn, "subscribe:orders", orders::subscribe);
    on(
        socket,
        gateway,
        conn,
        "unsubscribe:orders",
        orders::unsubscribe,
    );
    on(socket, gateway, conn, "orders:replay", orders::replay);
    on(socket, gateway, conn, "chat:message", chat::message);
    on(socket, gateway, conn, "subscribe:events", events::subscribe);
    on(
        socket,
        gateway,
        conn,
        "unsubscribe:events",
        events::unsubscribe,
    );
    on(socket, gateway, conn, "auth:refresh", refresh::refresh);
    let (g, session) = (gateway.clone(), session.clone());
    socket.on_fallback(
        move |s: SocketRef, Event(name): Event, ack: AckSender, AckRequested(wants)| {
            let (g, session) = (g.clone(), session.clone());
            async move {
                g.metrics.event_in("(unknown)");
                let conn = Conn {
                    socket: s.clone(),
                    session,
                };
                let mut name = name;
                if let Some((cut, _)) = name.char_indices().nth(64) {
                    name.truncate(cut);
                }
                let rejection = admit(&g, &conn).await.err().unwrap_or_else(|| {
                    Rejection::new(ErrorCode::UnknownEvent, format!("unknown event {name:?}"))
                });
                g.metrics.rejected(&rejection.code_str());
                let reply = Reply {
                    socket: s,
                    event: name.into(),
                    ack: wants.then_some(ack),
                };
                reply.fail(&rejection);
            }
        },
    );
}

/// Registers `handler` for `event` behind the common gate.
fn on<H, Fut>(
    socket: &SocketRef,
    gateway: &Arc<Gateway>,
    session: &Arc<Session>,
    event: &'static str,
    handler: H,
) where
    H: Fn(Arc<Gateway>, Conn, Option<Value>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let (gateway, session) = (gateway.clone(), session.clone());
    socket.on(
        event,
        move |s: SocketRef, TryData(data): TryData<Value>, ack: AckSender, AckRequested(wants)| {
            let (gateway, handler) = (gateway.clone(), handler.clone());
            let conn = Conn {
                socket: s.clone(),
                session: session.clone(),
            };
            async move {
                gateway.metrics.event_in(event);
                let reply = Reply {
                    socket: s,
                    event: event.into(),
                    ack: wants.then_some(ack),
                };
                if let Err(r) = admit(&gateway, &conn).await {
                    gateway.metrics.rejected(&r.code_str());
                    reply.fail(&r);
                    return;
                }
                // A payload that is not JSON the parser understands is treated as none;
                // each handler then says what it needed.
                match handler(gateway.clone(), conn, data.ok()).await {
                    Ok(fields) => reply.ok(fields),
                    Err(r) => {
                        gateway.metrics.rejected(&r.code_str());
                        reply.fail(&r);
                    }
                }
            }
        },
    );
}

/// The rate limit: over it, the event is refused with `RATE_LIMITED`; a
/// client that keeps flooding is disconnected.
async fn admit(gateway: &Gateway, conn: &Conn) -> Result<(), Rejection> {
    let session = &conn.session;
    match gateway.limiter.check(&session.user_id).await {
        Ok(()) => {
            session.flood.store(0, Ordering::Relaxed);
            Ok(())
        }
        Err(wait) => {
            let strikes = session.flood.fetch_add(1, Ordering::Relaxed) + 1;
            if strikes >= gateway.config.flood_disconnect_after {
                tracing::warn!(socket = %conn.socket.id, user = %session.user_id, strikes, "disconnecting a flooding client");
                let socket = conn.socket.clone();
                tokio::spawn(async move {
                    // Let the RATE_LIMITED answer go out first.
                    tokio::task::yield_now().await;
                    let _ = socket.disconnect();
                });
            }
            Err(Rejection {
                code: ErrorCode::RateLimited,
                message: format!(
                    "more than {} events per minute; slow down",
                    gateway.config.max_messages_per_minute
                ),
                retry_after_ms: Some(wait.as_millis().max(1) as u64),
            })
        }
    }
}
