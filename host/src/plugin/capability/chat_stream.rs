//! `chat-stream`: parts of a chat reply, forwarded to the asker while the
//! plugin is still answering. One reply may stream at most
//! [`MAX_CHUNKS`] parts of at most [`MAX_REPLY_BYTES`] in all; further
//! parts are dropped (the final message still arrives). Parts go through a
//! bounded channel to the task that emits them, and always carry the id of
//! the reply being answered, whatever id the plugin passes.

use tokio::sync::mpsc;

use super::wit::chat_stream::Host;
use crate::plugin::state::HostState;

/// One streamed part of a reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatChunk {
    /// The reply's id.
    pub(crate) id: String,
    /// The text to append.
    pub(crate) delta: String,
}

/// Most parts one reply may stream.
pub(crate) const MAX_CHUNKS: usize = 2_000;

/// Most bytes of text one reply may stream, over all its parts.
pub(crate) const MAX_REPLY_BYTES: usize = 256 * 1024;

/// Parts buffered between the plugin and the emitting task.
const CHANNEL_DEPTH: usize = 64;

/// Where the parts of the call in progress go, and what it has sent.
pub(crate) struct ChunkSink {
    id: String,
    tx: mpsc::Sender<ChatChunk>,
    chunks: usize,
    bytes: usize,
    cut: bool,
}

impl ChunkSink {
    /// A sink for reply `id`, and the receiving end for the emitting task.
    pub(crate) fn new(id: &str) -> (Self, mpsc::Receiver<ChatChunk>) {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let sink = Self {
            id: id.to_owned(),
            tx,
            chunks: 0,
            bytes: 0,
            cut: false,
        };
        (sink, rx)
    }

    /// Queues `delta` unless the reply reached its bounds. Blocks while the
    /// channel is full: the emitting task never waits on the client.
    fn send(&mut self, plugin: &str, delta: String) {
        if self.cut {
            return;
        }
        if self.chunks >= MAX_CHUNKS || self.bytes + delta.len() > MAX_REPLY_BYTES {
            self.cut = true;
            tracing::warn!(
                plugin,
                chunks = self.chunks,
                bytes = self.bytes,
                "chat reply streamed too much; later parts dropped"
            );
            return;
        }
        self.chunks += 1;
        self.bytes += delta.len();
        let chunk = ChatChunk {
            id: self.id.clone(),
            delta,
        };
        // A closed channel means the asker is gone; the part has nowhere to go.
        let _ = self.tx.blocking_send(chunk);
    }
}

impl Host for HostState {
    fn send_chunk(&mut self, _reply_id: String, delta: String) {
        let _span = tracing::info_span!("host.chat_stream.send_chunk").entered();
        let name = self.env.name.clone();
        match &mut self.chunks {
            Some(sink) => sink.send(&name, delta),
            None => tracing::warn!(plugin = %name, "send-chunk outside a chat call ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_streams_within_its_bounds_under_its_own_id() {
        let (mut sink, mut rx) = ChunkSink::new("r1");
        let part = "x".repeat(100 * 1024);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..4 {
                    sink.send("chat", part.clone());
                }
                drop(sink);
            });
            let mut got = Vec::new();
            while let Some(c) = rx.blocking_recv() {
                got.push(c);
            }
            assert_eq!(got.len(), 2, "the third part would pass 256 KiB");
            assert!(got.iter().all(|c| c.id == "r1"));
        });
        let (mut sink, mut rx) = ChunkSink::new("r2");
        std::thread::spawn(move || {
            for _ in 0..MAX_CHUNKS + 10 {
                sink.send("chat", "y".into());
            }
        });
        let mut n = 0;
        while rx.blocking_recv().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_CHUNKS);
    }
}
