//! The wire contract in one place: the Socket.IO event names, the error
//! codes clients and HTTP callers see, and the payload limits. Every module
//! that names an event or answers with a code takes it from here.

pub mod payloads;

use serde::{Serialize, Serializer};

pub use gateway_contract::{is_event_type, is_symbol};

/// Events clients send.
pub(crate) mod client {
    /// `{ symbols }`: join each symbol's price updates.
    pub(crate) const SUBSCRIBE_PRICES: &str = "subscribe:prices";
    /// `{ symbols }`: leave them.
    pub(crate) const UNSUBSCRIBE_PRICES: &str = "unsubscribe:prices";
    /// Follow the caller's own orders and positions.
    pub(crate) const SUBSCRIBE_ORDERS: &str = "subscribe:orders";
    /// Stop following them.
    pub(crate) const UNSUBSCRIBE_ORDERS: &str = "unsubscribe:orders";
    /// `{ since }`: resend kept notifications after a sequence number.
    pub(crate) const ORDERS_REPLAY: &str = "orders:replay";
    /// `{ message, context?, id? }`: ask the chat responder.
    pub(crate) const CHAT_MESSAGE: &str = "chat:message";
    /// `{ eventTypes }`: receive those event types.
    pub(crate) const SUBSCRIBE_EVENTS: &str = "subscribe:events";
    /// `{ eventTypes? }`: stop receiving those (or all).
    pub(crate) const UNSUBSCRIBE_EVENTS: &str = "unsubscribe:events";
    /// `{ token }`: replace the socket's token.
    pub(crate) const AUTH_REFRESH: &str = "auth:refresh";
}

/// Events the gateway sends.
pub(crate) mod server {
    /// The greeting after a successful handshake.
    pub(crate) const CONNECTED: &str = "connected";
    /// The latest known ticks of newly subscribed symbols.
    pub(crate) const PRICES_INITIAL: &str = "prices:initial";
    /// One tick.
    pub(crate) const PRICE_UPDATE: &str = "price:update";
    /// A change to one of the user's orders.
    pub(crate) const ORDER_NOTIFICATION: &str = "order:notification";
    /// A change to one of the user's positions.
    pub(crate) const POSITION_UPDATE: &str = "position:update";
    /// Part of a chat reply.
    pub(crate) const CHAT_CHUNK: &str = "chat:chunk";
    /// A chat reply (the same name as the client's question).
    pub(crate) const CHAT_MESSAGE: &str = "chat:message";
    /// A system event.
    pub(crate) const EVENT_NOTIFICATION: &str = "event:notification";
    /// A failure without an ack to carry it.
    pub(crate) const ERROR: &str = "error";
}

/// Largest client event payload, serialized.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Largest WebSocket message or long-polling request body read from a
/// client: room for one largest payload with its event name and framing,
/// or a few batched. Larger ones close the connection unread.
pub(crate) const MAX_TRANSPORT_MESSAGE_BYTES: usize = 64 * 1024;
/// Longest chat message, in characters.
pub(crate) const MAX_CHAT_CHARS: usize = 2000;
/// Longest chat message id a client may send, in bytes.
pub(crate) const MAX_CHAT_ID_BYTES: usize = 128;
/// Most event types one socket may subscribe to.
pub(crate) const MAX_EVENT_TYPES: usize = 64;

/// Every code a client or HTTP caller can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No token anywhere.
    AuthMissing,
    /// Any token verification failure but expiry.
    AuthInvalid,
    /// The token's `exp` has passed.
    AuthExpired,
    /// The user service refused the user (or could not be asked).
    UserRejected,
    /// The user already has the most connections allowed.
    TooManyConnections,
    /// The gateway has the most connections allowed.
    ServerFull,
    /// Graceful shutdown has begun.
    ServerShuttingDown,
    /// Wrong type, missing field, bad symbol or type, oversize payload.
    InvalidPayload,
    /// An event the gateway does not know.
    UnknownEvent,
    /// Over a per-socket limit (symbols, event types).
    LimitExceeded,
    /// Over the per-user message rate.
    RateLimited,
    /// No chat responder is loaded, or it failed.
    ChatUnavailable,
    /// The user already has the most chat questions unanswered.
    ChatBusy,
    /// HTTP: no or invalid credentials.
    Unauthorized,
    /// HTTP: valid credentials without the admin role.
    Forbidden,
    /// HTTP: no such route.
    NotFound,
    /// HTTP: the route exists, but not with this method.
    MethodNotAllowed,
    /// HTTP: the request could not be accepted now (the store or Redis
    /// failed); it may be retried.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthMissing => "AUTH_MISSING",
            ErrorCode::AuthInvalid => "AUTH_INVALID",
            ErrorCode::AuthExpired => "AUTH_EXPIRED",
            ErrorCode::UserRejected => "USER_REJECTED",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::ServerFull => "SERVER_FULL",
            ErrorCode::ServerShuttingDown => "SERVER_SHUTTING_DOWN",
            ErrorCode::InvalidPayload => "INVALID_PAYLOAD",
            ErrorCode::UnknownEvent => "UNKNOWN_EVENT",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ChatUnavailable => "CHAT_UNAVAILABLE",
            ErrorCode::ChatBusy => "CHAT_BUSY",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Unavailable => "UNAVAILABLE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_names() {
        assert_eq!(
            serde_json::to_value(ErrorCode::TooManyConnections).unwrap(),
            "TOO_MANY_CONNECTIONS"
        );
        assert_eq!(ErrorCode::RateLimited.to_string(), "RATE_LIMITED");
    }
}
