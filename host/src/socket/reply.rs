//! How the gateway answers a client event: an ack `{ ok: true, ... }` or
//! `{ ok: false, error: { code, message } }` when the client asked for one,
//! otherwise an `error { code, message, event, retryAfterMs? }` emit.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::AckSender;
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::socket::Socket;

use crate::bus::Sock;

/// The contract's error codes for client events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Wrong type, missing field, bad symbol, oversize payload.
    InvalidPayload,
    /// An event the gateway does not know.
    UnknownEvent,
    /// Over a per-socket limit (symbols, event types).
    LimitExceeded,
    /// Over the per-user message rate.
    RateLimited,
    /// The token is invalid (refresh).
    AuthInvalid,
    /// The token expired.
    AuthExpired,
    /// The chat responder failed or none is loaded.
    ChatUnavailable,
}

/// A refused event.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Code.
    pub code: ErrorCode,
    /// A sentence for humans.
    pub message: String,
    /// When to retry (rate limits).
    pub retry_after_ms: Option<u64>,
}

impl Rejection {
    /// A rejection with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// `INVALID_PAYLOAD` with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
    }

    /// The code as the client sees it.
    pub fn code_str(&self) -> String {
        serde_json::to_value(self.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(ms) = self.retry_after_ms {
            error["retryAfterMs"] = json!(ms);
        }
        error
    }
}

/// Whether the client asked for an acknowledgement.
pub struct AckRequested(pub bool);

impl<A: Adapter> FromMessageParts<A> for AckRequested {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut PacketValue,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self(ack_id.is_some()))
    }
}

/// Answers a client event.
pub struct Reply {
    /// The socket.
    pub socket: Sock,
    /// The event being answered.
    pub event: Cow<'static, str>,
    /// The ack, if the client asked for one.
    pub ack: Option<AckSender>,
}

impl Reply {
    /// Acks `{ ok: true, ...fields }` (no-op without an ack).
    pub fn ok(self, fields: Map<String, Value>) {
        if let Some(ack) = self.ack {
            let mut body = Map::new();
            body.insert("ok".into(), Value::Bool(true));
            body.extend(fields);
            if let Err(e) = ack.send(&body) {
                tracing::debug!(socket = %self.socket.id, "ack not sent: {e}");
            }
        }
    }

    /// Acks `{ ok: false, error }`, or emits `error` without an ack.
    pub fn fail(self, rejection: &Rejection) {
        match self.ack {
            Some(ack) => {
                let _ = ack.send(&json!({ "ok": false, "error": rejection.body() }));
            }
            None => {
                let mut body = rejection.body();
                body["event"] = json!(self.event.as_ref());
                let _ = self.socket.emit("error", &body);
            }
        }
    }
}
