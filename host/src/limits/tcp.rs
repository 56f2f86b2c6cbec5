//! A cap on open TCP connections, at accept. Sockets are capped at the
//! Socket.IO level once they authenticate; this bounds everything before
//! that (Engine.IO sessions that never send CONNECT, idle HTTP keep-alives,
//! half-written requests), so a flood of raw connections cannot take the
//! process's file descriptors and memory. A connection over the cap is
//! closed at once, so its client fails fast instead of waiting in the
//! kernel's backlog. Accepted connections get `TCP_NODELAY`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A listener that keeps at most `cap` accepted connections open.
pub(crate) struct CappedListener {
    inner: TcpListener,
    open: Arc<Semaphore>,
}

/// An accepted connection holding one of the listener's slots.
pub(crate) struct CappedStream {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
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
                    return (CappedStream { io, _slot: slot }, addr);
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
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;
    use tokio::io::AsyncReadExt;

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
}
