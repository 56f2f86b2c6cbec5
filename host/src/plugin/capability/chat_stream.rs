//! `chat-stream`: parts of a chat reply, forwarded to the asker while the
//! plugin is still answering.

use tokio::sync::mpsc::UnboundedSender;

use super::wit::chat_stream::Host;
use crate::plugin::state::HostState;

/// One streamed part of a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatChunk {
    /// The reply's id.
    pub id: String,
    /// The text to append.
    pub delta: String,
}

/// Where the chunks of the call in progress go.
pub(crate) type ChunkSink = UnboundedSender<ChatChunk>;

/// Most chunks one reply may stream; further ones are dropped.
const MAX_CHUNK_BYTES: usize = 64 * 1024;

impl Host for HostState {
    fn send_chunk(&mut self, reply_id: String, delta: String) {
        let Some(sink) = &self.chunks else {
            tracing::warn!(plugin = %self.env.name, "send-chunk outside a chat call ignored");
            return;
        };
        if delta.len() > MAX_CHUNK_BYTES {
            tracing::warn!(plugin = %self.env.name, len = delta.len(), "oversized chat chunk dropped");
            return;
        }
        // A closed sink means the asker is gone; the chunk has nowhere to go.
        let _ = sink.send(ChatChunk {
            id: reply_id,
            delta,
        });
    }
}
