//! The narrow WASI context plugins run with: no preopened directories, no
//! inherited environment or arguments, no sockets or name lookups; stdout
//! and stderr become log lines tagged with the plugin's name.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// The last stderr lines of an instance, kept to explain a trap.
pub(crate) type StderrTail = Arc<Mutex<String>>;

/// Most bytes of stderr kept in the tail.
const TAIL_BYTES: usize = 512;

/// The WASI context of one instance of plugin `name`.
pub(crate) fn wasi_ctx(name: &str, tail: StderrTail) -> WasiCtx {
    let name: Arc<str> = Arc::from(name);
    WasiCtxBuilder::new()
        .stdout(LogStream {
            plugin: name.clone(),
            stream: "stdout",
            tail: None,
        })
        .stderr(LogStream {
            plugin: name,
            stream: "stderr",
            tail: Some(tail),
        })
        .allow_ip_name_lookup(false)
        .allow_tcp(false)
        .allow_udp(false)
        .build()
}

/// A plugin's output stream, logged line by line.
#[derive(Clone)]
struct LogStream {
    plugin: Arc<str>,
    stream: &'static str,
    tail: Option<StderrTail>,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            target: self.clone(),
            line: Vec::new(),
        })
    }
}

/// Longest line buffered before it is logged anyway.
const MAX_LINE: usize = 4096;

struct LineWriter {
    target: LogStream,
    line: Vec<u8>,
}

impl LineWriter {
    fn flush_line(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        tracing::info!(plugin = %self.target.plugin, stream = self.target.stream, "{text}");
        if let Some(tail) = &self.target.tail {
            let mut tail = tail.lock();
            if !tail.is_empty() {
                tail.push_str(" | ");
            }
            tail.push_str(text);
            if tail.len() > TAIL_BYTES {
                let cut = tail.len() - TAIL_BYTES;
                let cut = (cut..tail.len())
                    .find(|&i| tail.is_char_boundary(i))
                    .unwrap_or(tail.len());
                tail.drain(..cut);
            }
        }
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &b in buf {
            if b == b'\n' || self.line.len() >= MAX_LINE {
                self.flush_line();
            }
            if b != b'\n' {
                self.line.push(b);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_line();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_line();
    }
}
