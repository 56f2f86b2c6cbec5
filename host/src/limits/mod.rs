//! Limits on clients: open TCP connections ([`tcp`]), Socket.IO
//! connection caps ([`connections`]), the per-user message budget
//! ([`messages`]) and chat questions in flight per user ([`chat`]).

pub(crate) mod chat;
pub(crate) mod connections;
pub(crate) mod messages;
pub(crate) mod tcp;
