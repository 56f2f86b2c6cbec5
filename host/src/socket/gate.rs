//! The gate every client event passes before its handler: it is counted,
//! refused when the socket's token has expired (and the socket cut off, in
//! case its expiry watch could not close it), charged against the user's
//! message budget (a client that keeps flooding is cut off), and its
//! payload is parsed into the event's type and validated. Then the handler
//! runs and its outcome becomes the ack, or an `error` emit when the client
//! asked for no ack. All of it runs in a `socket.event` span.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use tracing::Instrument;

use super::payload::{self, Validate};
use super::reply::{AckRequested, Rejection, Reply};
use super::session::Session;
use crate::app::Gateway;
use crate::delivery::CutOff;
use crate::delivery::outlet::Outlet;
use crate::protocol::ErrorCode;

/// What a handler answers: extra ack fields, or a rejection.
pub(super) type Outcome = Result<Map<String, Value>, Rejection>;

/// Longest unknown event name quoted back, in characters.
const MAX_QUOTED_NAME: usize = 64;

/// Registers `handler` for `event` behind the gate. Handlers hold the
/// session, not the socket (the socket owns its handlers; holding it back
/// would keep it alive forever).
pub(super) fn on<P, H, Fut>(
    socket: &SocketRef,
    gateway: &Arc<Gateway>,
    session: &Arc<Session>,
    event: &'static str,
    handler: H,
) where
    P: DeserializeOwned + Validate + Send + 'static,
    H: Fn(Arc<Gateway>, Arc<Outlet>, P) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let (gateway, session) = (gateway.clone(), session.clone());
    socket.on(
        event,
        move |s: SocketRef, TryData(data): TryData<Value>, ack: AckSender, AckRequested(wants)| {
            let (gateway, session, handler) = (gateway.clone(), session.clone(), handler.clone());
            async move {
                gateway.metrics.event_in(event);
                // A socket already gone has nobody to answer.
                let Some(outlet) = gateway.delivery.outlet(&s, &session) else {
                    return;
                };
                let reply = Reply {
                    socket: s,
                    event: event.into(),
                    ack: wants.then_some(ack),
                };
                // A payload that is not JSON the parser understands reads as none.
                let outcome = match admit(&gateway, &outlet).await {
                    Ok(()) => match payload::parse::<P>(data.ok()) {
                        Ok(p) => handler(gateway.clone(), outlet, p).await,
                        Err(r) => Err(r),
                    },
                    Err(r) => Err(r),
                };
                match outcome {
                    Ok(fields) => reply.ok(fields),
                    Err(r) => {
                        gateway.metrics.rejected(r.code);
                        reply.fail(&r);
                    }
                }
            }
            .instrument(tracing::info_span!("socket.event", event))
        },
    );
}

/// Answers events no handler takes with `UNKNOWN_EVENT` (after the same
/// rate limit, so unknown events cannot flood for free).
pub(super) fn on_unknown(socket: &SocketRef, gateway: &Arc<Gateway>, session: &Arc<Session>) {
    let (gateway, session) = (gateway.clone(), session.clone());
    socket.on_fallback(
        move |s: SocketRef, Event(name): Event, ack: AckSender, AckRequested(wants)| {
            let (gateway, session) = (gateway.clone(), session.clone());
            async move {
                gateway.metrics.event_in("(unknown)");
                let Some(outlet) = gateway.delivery.outlet(&s, &session) else {
                    return;
                };
                let mut name = name;
                if let Some((cut, _)) = name.char_indices().nth(MAX_QUOTED_NAME) {
                    name.truncate(cut);
                }
                let rejection = admit(&gateway, &outlet).await.err().unwrap_or_else(|| {
                    Rejection::new(ErrorCode::UnknownEvent, format!("unknown event {name:?}"))
                });
                gateway.metrics.rejected(rejection.code);
                let reply = Reply {
                    socket: s,
                    event: name.into(),
                    ack: wants.then_some(ack),
                };
                reply.fail(&rejection);
            }
            .instrument(tracing::info_span!("socket.event", event = "(unknown)"))
        },
    );
}

/// The token's expiry, then the rate limit: over it, the event is refused
/// with `RATE_LIMITED`; a client that keeps flooding is cut off.
async fn admit(gateway: &Arc<Gateway>, outlet: &Arc<Outlet>) -> Result<(), Rejection> {
    let session = &outlet.session;
    if session.expired(gateway.auth.leeway_secs()) {
        cut_off_soon(gateway, outlet, CutOff::TokenExpired);
        return Err(Rejection::new(
            ErrorCode::AuthExpired,
            "the token expired; reconnect with a new one",
        ));
    }
    match gateway.limiter.check(&session.user_id).await {
        Ok(()) => {
            session.flood.store(0, Ordering::Relaxed);
            Ok(())
        }
        Err(wait) => {
            let strikes = session.flood.fetch_add(1, Ordering::Relaxed) + 1;
            if strikes >= gateway.config.flood_disconnect_after {
                cut_off_soon(gateway, outlet, CutOff::Flooding);
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

/// Cuts `outlet` off once the answer to the current event is queued.
fn cut_off_soon(gateway: &Arc<Gateway>, outlet: &Arc<Outlet>, why: CutOff) {
    let (gateway, outlet) = (gateway.clone(), outlet.clone());
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        gateway.delivery.cut_off(&outlet, why);
    });
}
