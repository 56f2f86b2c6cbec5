//! `chat:message`: asks the chat responder plugin and answers the caller
//! only — streamed `chat:chunk`s while the plugin works, then the final
//! `chat:message`. The ack comes at once with the reply's id; the plugin
//! call runs on its own task, off the socket's path. A user with
//! `CHAT_MAX_PENDING_PER_USER` questions unanswered is refused with
//! `CHAT_BUSY`, so one user cannot queue the responder up for everyone.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, json};
use tracing::Instrument;

use super::gate::Outcome;
use super::payload::Validate;
use super::reply::Rejection;
use crate::app::Gateway;
use crate::delivery::outlet::Outlet;
use crate::plugin::PluginKind;
use crate::plugin::bindings::types::ChatRequest;
use crate::plugin::capability::chat_stream::ChunkSink;
use crate::protocol::{ErrorCode, MAX_CHAT_CHARS, MAX_CHAT_ID_BYTES, is_symbol, server};

/// `{ message, context?: { currentSymbol? }, id? }`.
#[derive(Debug, Deserialize)]
pub(super) struct Question {
    message: String,
    #[serde(default)]
    context: Option<Context>,
    #[serde(default)]
    id: Option<String>,
}

/// What the client says the user is looking at.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Context {
    #[serde(default)]
    current_symbol: Option<String>,
}

impl Validate for Question {
    fn validate(&mut self) -> Result<(), Rejection> {
        let chars = self.message.chars().count();
        if chars == 0 || chars > MAX_CHAT_CHARS || self.message.trim().is_empty() {
            return Err(Rejection::invalid(format!(
                "`message` must have 1 to {MAX_CHAT_CHARS} characters"
            )));
        }
        if let Some(s) = self
            .context
            .as_ref()
            .and_then(|c| c.current_symbol.as_ref())
            && !is_symbol(s)
        {
            return Err(Rejection::invalid(format!("{s:?} is not a valid symbol")));
        }
        if self
            .id
            .as_ref()
            .is_some_and(|id| id.len() > MAX_CHAT_ID_BYTES)
        {
            return Err(Rejection::invalid(format!(
                "`id` must have at most {MAX_CHAT_ID_BYTES} characters"
            )));
        }
        Ok(())
    }
}

/// Starts the plugin call; acks with the reply's id.
pub(super) async fn message(gateway: Arc<Gateway>, outlet: Arc<Outlet>, q: Question) -> Outcome {
    let Some(slot) = gateway
        .plugins
        .registry()
        .of_kind(PluginKind::ChatResponder)
        .into_iter()
        .next()
    else {
        return Err(Rejection::new(
            ErrorCode::ChatUnavailable,
            "no chat responder is loaded",
        ));
    };
    let Some(permit) = gateway.chat_slots.try_acquire(&outlet.session.user_id) else {
        return Err(Rejection::new(
            ErrorCode::ChatBusy,
            format!(
                "{} questions are still being answered; ask again when one is",
                gateway.chat_slots.per_user()
            ),
        ));
    };
    let id = uuid::Uuid::new_v4().to_string();
    let request = ChatRequest {
        id: id.clone(),
        user_id: outlet.session.user_id.clone(),
        message: q.message,
        current_symbol: q.context.and_then(|c| c.current_symbol),
    };
    let reply_to = q.id;
    let reply_id = id.clone();
    // The reply's plugin call belongs to this event's trace.
    let event_span = tracing::Span::current();
    tokio::spawn(async move {
        let _permit = permit;
        let id = reply_id;
        let (sink, mut rx) = ChunkSink::new(&id);
        let forward = {
            let (socket, metrics) = (outlet.socket.clone(), gateway.metrics.clone());
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    let body = json!({ "id": chunk.id, "delta": chunk.delta });
                    if socket.emit(server::CHAT_CHUNK, &body).is_ok() {
                        metrics.events_out(server::CHAT_CHUNK, 1);
                    }
                }
            })
        };
        let result = slot
            .call("respond", |v| async move { v.respond(request, sink).await })
            .instrument(event_span)
            .await;
        // All chunks reach the socket before the final message.
        let _ = forward.await;
        match result {
            Ok(message) => {
                let mut body = json!({
                    "id": id,
                    "message": message,
                    "type": "ai",
                    "timestamp": crate::time::now_ms(),
                });
                if let Some(r) = reply_to {
                    body["replyTo"] = json!(r);
                }
                if outlet.socket.emit(server::CHAT_MESSAGE, &body).is_ok() {
                    gateway.metrics.events_out(server::CHAT_MESSAGE, 1);
                }
            }
            Err(e) => {
                tracing::warn!(plugin = slot.name(), "chat responder failed: {e}");
                gateway.metrics.rejected(ErrorCode::ChatUnavailable);
                let _ = outlet.socket.emit(
                    server::ERROR,
                    &json!({
                        "code": ErrorCode::ChatUnavailable,
                        "message": "the assistant could not answer; try again",
                        "event": server::CHAT_MESSAGE,
                        "id": id,
                    }),
                );
            }
        }
    });
    let mut ack = Map::new();
    ack.insert("id".into(), json!(id));
    Ok(ack)
}
