//! The optional LLM: an OpenAI-compatible `POST {llm_url}/chat/completions`
//! (non-streaming) whose system prompt carries the computed market context.

use gateway_sdk::http::{self, HttpError, Request};
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
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if let Some(key) = &self.api_key {
            headers.push(("authorization".to_owned(), format!("Bearer {key}")));
        }
        let request = Request {
            method: "POST".into(),
            url: self.url.clone(),
            headers,
            body: Some(body.to_string().into_bytes()),
            timeout_ms: Some(self.timeout_ms),
        };
        let response = http::send(&request)
            .map_err(|e| format!("POST {} failed: {}", self.url, describe(&e)))?;
        if !response.is_success() {
            let snippet: String = response.text().chars().take(BODY_SNIPPET_CHARS).collect();
            return Err(format!(
                "POST {} answered HTTP {}: {snippet}",
                self.url, response.status
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

/// A readable sentence for an HTTP error.
fn describe(error: &HttpError) -> String {
    match error {
        HttpError::Denied(host) => format!("host {host} is not in the plugin's allowed hosts"),
        HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
        HttpError::Timeout => "timed out".to_owned(),
        HttpError::TooLarge(limit) => format!("answer larger than the {limit}-byte limit"),
        HttpError::Transport(why) => format!("transport error: {why}"),
    }
}
