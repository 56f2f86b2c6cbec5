//! A cap on open TCP connections, at accept. Sockets are capped at the
//! Socket.IO level once they authenticate; this bounds everything before
//! that (Engine.IO sessions that never send CONNECT, idle HTTP keep-alives,
//! half-written requests), so a flood of raw connections cannot take the
//! process's file descriptors and memory. A connection over the cap is
//! closed at once, so its client fails fast instead of waiting in the
//! kernel's backlog. Accepted connections get `TCP_NODELAY`.
//!
//! Connections close *lingering*, as nginx's `lingering_close` does:
//! closing a socket whose peer's data is still unread makes the kernel send
//! a reset instead of a FIN, and the reset makes the peer's kernel drop
//! what it received last but its program had not read yet. engineioxide
//! closes a WebSocket that way when the gateway disconnects a client in
//! mid-burst (a flood cut off), and the client then lost the disconnect
//! packet and saw `transport close`. So a dropped connection is shut down
//! for writing (a FIN after everything sent) and its incoming data read
//! and discarded until the peer closes, for at most [`LINGER`] and
//! [`LINGER_BYTES`], before the socket is closed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a closed connection's incoming data is drained at most.
const LINGER: Duration = Duration::from_secs(2);

/// How much of a closed connection's incoming data is drained at most.
const LINGER_BYTES: usize = 1 << 20;

/// A listener that keeps at most `cap` accepted connections open.
pub(crate) struct CappedListener {
    inner: TcpListener,
    open: Arc<Semaphore>,
}

/// An accepted connection holding one of the listener's slots (until it
/// has lingered; see the module docs).
pub(crate) struct CappedStream {
    /// Taken by `Drop` to linger.
    io: Option<TcpStream>,
    slot: Option<OwnedSemaphorePermit>,
}

impl CappedStream {
    fn io(&mut self) -> &mut TcpStream {
        self.io.as_mut().expect("present until dropped")
    }
}

impl Drop for CappedStream {
    fn drop(&mut self) {
        let (Some(io), slot) = (self.io.take(), self.slot.take()) else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(io, slot));
        }
    }
}

/// Shuts `io` down for writing, then reads and discards what its peer
/// still sends until it closes (or [`LINGER`] / [`LINGER_BYTES`] pass);
/// `slot` is freed with the socket.
async fn linger(mut io: TcpStream, slot: Option<OwnedSemaphorePermit>) {
    let _ = io.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 8192];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    drop(slot);
}

impl CappedListener {
    /// Wraps `inner`, allowing `cap` (at least 1) open connections.
    pub(crate) fn new(inner: TcpListener, cap: usize) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(cap.max(1))),
        }
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            match self.open.clone().try_acquire_owned() {
                Ok(slot) => {
                    // Updates are small and spread over time: send each at
                    // once rather than wait on the peer's delayed ACK.
                    if let Err(e) = io.set_nodelay(true) {
                        tracing::debug!(%addr, "cannot set TCP_NODELAY: {e}");
                    }
                    return (
                        CappedStream {
                            io: Some(io),
                            slot: Some(slot),
                        },
                        addr,
                    );
                }
                Err(_) => {
                    tracing::debug!(%addr, "connection refused: the TCP connection cap is reached");
                    drop(io);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.io()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.io()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.io()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_and_slots_come_back() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = CappedListener::new(inner, 1);
        let first = TcpStream::connect(addr).await.unwrap();
        let (held, _) = listener.accept().await;
        let mut second = TcpStream::connect(addr).await.unwrap();
        let accepting = tokio::spawn(async move {
            let (io, addr) = listener.accept().await;
            (io, addr, listener)
        });
        let mut byte = [0u8; 1];
        assert_eq!(second.read(&mut byte).await.unwrap(), 0, "closed at once");
        drop((held, first));
        let third = TcpStream::connect(addr).await.unwrap();
        let (_io, accepted, _listener) = accepting.await.unwrap();
        assert_eq!(accepted, third.local_addr().unwrap());
    }

    /// A server that closes a connection while the client's data is still
    /// unread (a flooding client cut off) must not reset it: a reset makes
    /// the client's kernel drop what the server sent last (the disconnect
    /// packet), and the client sees a transport error instead.
    #[tokio::test]
    async fn what_is_sent_before_a_close_arrives_even_with_unread_data() {
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = CappedListener::new(inner, 4);
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await;
        client.write_all(&[7u8; 64 * 1024]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        server.write_all(b"bye").await.unwrap();
        drop(server);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut got = Vec::new();
        let read = client.read_to_end(&mut got).await;
        assert!(read.is_ok(), "the close reset the connection: {read:?}");
        assert_eq!(got, b"bye");
    }
}
