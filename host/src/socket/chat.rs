//! `chat:message`: asks the chat responder plugin and answers the caller
//! only — streamed `chat:chunk`s while the plugin works, then the final
//! `chat:message`. The ack comes at once with the reply's id; the plugin
//! call runs on its own task, off the socket's path.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::Outcome;
use super::reply::{ErrorCode, Rejection};
use super::validate::{MAX_CHAT_CHARS, is_symbol, object, opt_string};
use crate::app::Gateway;
use crate::bus::Conn;
use crate::plugin::PluginKind;
use crate::plugin::bindings::types::ChatRequest;

/// Validates the question and starts the plugin call.
pub(super) async fn message(gateway: Arc<Gateway>, conn: Conn, payload: Option<Value>) -> Outcome {
    let obj = object(payload.as_ref(), false)?.expect("required payload");
    let text =
        opt_string(obj, "message")?.ok_or_else(|| Rejection::invalid("`message` is required"))?;
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_CHAT_CHARS || text.trim().is_empty() {
        return Err(Rejection::invalid(format!(
            "`message` must have 1 to {MAX_CHAT_CHARS} characters"
        )));
    }
    let current_symbol = match obj.get("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(ctx)) => match opt_string(ctx, "currentSymbol")? {
            Some(s) if is_symbol(s) => Some(s.to_owned()),
            Some(s) => return Err(Rejection::invalid(format!("{s:?} is not a valid symbol"))),
            None => None,
        },
        Some(_) => return Err(Rejection::invalid("`context` must be an object")),
    };
    let reply_to = match opt_string(obj, "id")? {
        Some(id) if id.len() <= 128 => Some(id.to_owned()),
        Some(_) => return Err(Rejection::invalid("`id` must have at most 128 characters")),
        None => None,
    };
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
    let id = uuid::Uuid::new_v4().to_string();
    let request = ChatRequest {
        id: id.clone(),
        user_id: conn.session.user_id.clone(),
        message: text.to_owned(),
        current_symbol,
    };
    let reply_id = id.clone();
    tokio::spawn(async move {
        let id = reply_id;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let forward = {
            let (socket, metrics) = (conn.socket.clone(), gateway.metrics.clone());
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    let chunk: crate::plugin::capability::chat_stream::ChatChunk = chunk;
                    if socket
                        .emit(
                            "chat:chunk",
                            &json!({ "id": chunk.id, "delta": chunk.delta }),
                        )
                        .is_ok()
                    {
                        metrics.events_out("chat:chunk", 1);
                    }
                }
            })
        };
        let result = slot
            .call(|v| async move { v.respond(request, tx).await })
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
                if conn.socket.emit("chat:message", &body).is_ok() {
                    gateway.metrics.events_out("chat:message", 1);
                }
            }
            Err(e) => {
                tracing::warn!(plugin = slot.name(), "chat responder failed: {e}");
                gateway.metrics.rejected("CHAT_UNAVAILABLE");
                let _ = conn.socket.emit(
                    "error",
                    &json!({
                        "code": "CHAT_UNAVAILABLE",
                        "message": "the assistant could not answer; try again",
                        "event": "chat:message",
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
