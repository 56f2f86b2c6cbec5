//! Test guest: a chat responder that streams far more than one reply may
//! (10 000 parts of 1 KiB) before its final message. The host must bound
//! what reaches the asker, still send the final message, and keep serving
//! everyone else.

use gateway_sdk::{ChatReply, ChatRequest, ChatResponder, PluginInfo, chat};

/// Streams without end.
pub struct Flooder;

impl ChatResponder for Flooder {
    fn describe() -> PluginInfo {
        PluginInfo::new("chunk-flooder", "0.1.0", "streams 10 MiB per reply")
    }

    fn init() -> Result<Self, String> {
        Ok(Flooder)
    }

    fn respond(&mut self, request: ChatRequest) -> Result<ChatReply, String> {
        let part = "x".repeat(1024);
        for _ in 0..10_000 {
            chat::send_chunk(&request.id, &part);
        }
        Ok(ChatReply {
            message: "done flooding".into(),
        })
    }
}

gateway_sdk::export_chat_responder!(Flooder);
