//! A chat responder: the gateway calls `respond` for each `chat:message` a
//! user sends; the reply goes back to that user as `chat:reply`, after any
//! `chat:chunk`s streamed with `chat::send_chunk`.
//!
//! This one greets the user and quotes the symbol they ask about (or are
//! looking at) from the gateway's price cache (the `market` import), and
//! streams its answer in two parts.
//!
//! Config (in the manifest's `[config]`; all optional):
//! - `greeting`: the first word of every answer (default `Hello`).

use gateway_sdk::{ChatReply, ChatRequest, ChatResponder, PluginInfo, chat, config, market};

/// The plugin's state, kept between calls.
pub struct Responder {
    greeting: String,
}

/// The symbol the message names (a known one, any case), else the one the
/// user is looking at.
fn symbol_of(request: &ChatRequest, known: &[String]) -> Option<String> {
    let upper = request.message.to_ascii_uppercase();
    known
        .iter()
        .find(|s| upper.contains(s.as_str()))
        .cloned()
        .or_else(|| request.current_symbol.clone())
}

impl ChatResponder for Responder {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "An example chat responder: greets and quotes the symbol asked about",
        )
    }

    fn init() -> Result<Self, String> {
        Ok(Self {
            greeting: config::get("greeting").unwrap_or_else(|| "Hello".to_owned()),
        })
    }

    fn respond(&mut self, request: ChatRequest) -> Result<ChatReply, String> {
        let hello = format!("{}, {}. ", self.greeting, request.user_id);
        chat::send_chunk(&request.id, &hello);
        let quote = match symbol_of(&request, &market::symbols()) {
            Some(symbol) => match market::latest(&symbol) {
                Some(t) => format!("{symbol}: bid {} / ask {}.", t.bid, t.ask),
                None => format!("I have no price for {symbol} yet."),
            },
            None => "Ask me about a symbol, e.g. EURUSD.".to_owned(),
        };
        chat::send_chunk(&request.id, &quote);
        Ok(ChatReply {
            message: format!("{hello}{quote}"),
        })
    }
}

gateway_sdk::export_chat_responder!(Responder);

/// Native tests: the plugin's trait methods against the SDK's fake host
/// (`cargo test`, no wasm needed).
#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::Tick;
    use gateway_sdk::testing::FakeHost;

    fn request(message: &str, current: Option<&str>) -> ChatRequest {
        ChatRequest {
            id: "r-1".into(),
            user_id: "alice".into(),
            message: message.into(),
            current_symbol: current.map(str::to_owned),
        }
    }

    #[test]
    fn quotes_the_symbol_asked_about_and_streams_the_answer() {
        let host = FakeHost::new()
            .config("greeting", "Hi")
            .tick(Tick {
                symbol: "EURUSD".into(),
                bid: 1.085,
                ask: 1.0852,
                timestamp: 1,
            })
            .install();
        let mut responder = Responder::init().unwrap();
        let reply = responder.respond(request("how is eurusd?", None)).unwrap();
        assert_eq!(reply.message, "Hi, alice. EURUSD: bid 1.085 / ask 1.0852.");
        let chunks: String = host.chunks().into_iter().map(|(_, d)| d).collect();
        assert_eq!(chunks, reply.message);
    }

    #[test]
    fn falls_back_to_the_current_symbol_and_says_when_it_has_no_price() {
        let _host = FakeHost::new().install();
        let mut responder = Responder::init().unwrap();
        let reply = responder
            .respond(request("and now?", Some("GBPUSD")))
            .unwrap();
        assert_eq!(
            reply.message,
            "Hello, alice. I have no price for GBPUSD yet."
        );
    }
}
