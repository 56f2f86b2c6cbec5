//! Limits on clients: connection caps ([`connections`]) and the per-user
//! message budget ([`messages`]).

pub(crate) mod connections;
pub(crate) mod messages;
