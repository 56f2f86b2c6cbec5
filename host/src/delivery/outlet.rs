//! One socket as delivery sees it: the socket and its session, whether its
//! send buffer was found full (parked), whether it is being closed, and its
//! order gate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use serde_json::value::RawValue;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};

use super::orders::OrderGate;
use crate::socket::session::Session;

/// A socket of this gateway.
pub(crate) type Sock = SocketRef<LocalAdapter>;

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The socket's send buffer is full.
    Full,
    /// The socket is closed.
    Closed,
}

/// A socket and its delivery state.
pub(crate) struct Outlet {
    /// The socket.
    pub(crate) socket: Sock,
    /// Who is on it.
    pub(crate) session: Arc<Session>,
    parked: AtomicBool,
    closing: AtomicBool,
    /// Live order notifications and replays.
    pub(crate) orders: Mutex<OrderGate>,
    /// One replay at a time.
    pub(crate) replaying: tokio::sync::Mutex<()>,
}

impl Outlet {
    /// The delivery state of a newly admitted socket.
    pub(crate) fn new(socket: Sock, session: Arc<Session>) -> Self {
        Self {
            socket,
            session,
            parked: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            orders: Mutex::new(OrderGate::default()),
            replaying: tokio::sync::Mutex::new(()),
        }
    }

    /// The socket id.
    pub(crate) fn sid(&self) -> Sid {
        self.socket.id
    }

    /// Queues `event` with its payload already serialized.
    pub(crate) fn send(&self, event: &str, payload: &RawValue) -> Result<(), Refused> {
        match self.socket.emit(event, payload) {
            Ok(()) => Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(Refused::Full),
            Err(_) => Err(Refused::Closed),
        }
    }

    /// Whether price updates are being conflated for this socket.
    pub(crate) fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    /// Marks the socket parked (or not).
    pub(crate) fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Ordering::Relaxed);
    }

    /// Marks the socket as being closed; `true` the first time only.
    pub(crate) fn begin_closing(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    /// Whether the socket is being closed: nothing more is sent to it.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
}
