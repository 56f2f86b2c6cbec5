//! The optional LLM: an OpenAI-compatible `POST {llm_url}/chat/completions`
//! (non-streaming) whose system prompt carries the computed market context.

use gateway_sdk::http;
use gateway_sdk::upstream::redacted_url;
use serde_json::{Value, json};

/// Longest piece of an error body quoted in an error message.
const BODY_SNIPPET_CHARS: usize = 200;

/// How to reach the LLM, from config.
#[derive(Debug, Clone)]
pub(crate) struct Llm {
    /// The full completions URL.
    pub(crate) url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) model: String,
    pub(crate) timeout_ms: u32,
}

/// The system prompt: the assistant's role, the market context and the
/// built-in answer for reference.
pub(crate) fn system_prompt(context: &str, builtin: &str) -> String {
    format!(
        "You are the trading assistant of a trading platform. Answer the user's question in at most \
         four short sentences, using only the market data below; quote prices with the decimals \
         shown. Never invent prices or numbers, and give no personal investment advice. If the data \
         does not answer the question, say what you can answer instead.\n\n\
         Market data:\n{context}\n\n\
         The platform's own computed answer, for reference:\n{builtin}"
    )
}

impl Llm {
    /// The model's answer to `question`, or why there is none.
    pub(crate) fn ask(&self, system: &str, question: &str) -> Result<String, String> {
        let body = json!({
            "model": self.model,
            "stream": false,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": question},
            ],
        });
        let bearer = self.api_key.as_ref().map(|key| format!("Bearer {key}"));
        let mut headers = vec![("accept", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let response = http::post_json_with_timeout(&self.url, &headers, &body, self.timeout_ms)
            .map_err(|e| format!("POST {} failed: {}", redacted_url(&self.url), e.describe()))?;
        if !response.is_success() {
            return Err(format!(
                "POST {} answered HTTP {}: {}",
                redacted_url(&self.url),
                response.status,
                response.snippet(BODY_SNIPPET_CHARS)
            ));
        }
        let answer: Value = response.json()?;
        answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| "the answer has no `choices[0].message.content` text".to_owned())
    }
}
