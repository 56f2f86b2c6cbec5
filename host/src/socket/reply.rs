//! How the gateway answers a client event: an ack `{ ok: true, ... }` or
//! `{ ok: false, error: { code, message } }` when the client asked for one,
//! otherwise an `error { code, message, event, retryAfterMs? }` emit.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::AckSender;
use socketioxide::handler::{FromMessageParts, Value as PacketValue};
use socketioxide::socket::Socket;

use crate::delivery::outlet::Sock;
use crate::protocol::{ErrorCode, server};

/// A refused event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    /// Code.
    pub(crate) code: ErrorCode,
    /// A sentence for humans.
    pub(crate) message: String,
    /// When to retry (rate limits).
    pub(crate) retry_after_ms: Option<u64>,
}

impl Rejection {
    /// A rejection with `code` and `message`.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// `INVALID_PAYLOAD` with `message`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message)
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
pub(crate) struct AckRequested(pub(crate) bool);

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
pub(crate) struct Reply {
    /// The socket.
    pub(crate) socket: Sock,
    /// The event being answered.
    pub(crate) event: Cow<'static, str>,
    /// The ack, if the client asked for one.
    pub(crate) ack: Option<AckSender>,
}

impl Reply {
    /// Acks `{ ok: true, ...fields }` (no-op without an ack).
    pub(crate) fn ok(self, fields: Map<String, Value>) {
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
    pub(crate) fn fail(self, rejection: &Rejection) {
        match self.ack {
            Some(ack) => {
                let _ = ack.send(&json!({ "ok": false, "error": rejection.body() }));
            }
            None => {
                let mut body = rejection.body();
                body["event"] = json!(self.event.as_ref());
                let _ = self.socket.emit(server::ERROR, &body);
            }
        }
    }
}
