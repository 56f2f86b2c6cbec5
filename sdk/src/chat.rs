//! Streaming parts of a chat reply (chat responders only).

/// Sends `delta` to the asker as a `chat:chunk` of reply `reply_id`.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// let host = FakeHost::new().install();
/// gateway_sdk::chat::send_chunk("reply-1", "EURUSD is ");
/// gateway_sdk::chat::send_chunk("reply-1", "at 1.0851.");
/// assert_eq!(host.chunks().len(), 2);
/// ```
pub fn send_chunk(reply_id: &str, delta: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::host::gateway::plugins::chat_stream::send_chunk(reply_id, delta);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::with_host(|h| h.record_chunk(reply_id, delta));
}
