//! Talking to the upstream service: its base URL from config, query
//! encoding, and one JSON `GET` whose failures read clearly in `/api/plugins`.

use gateway_sdk::config;
use gateway_sdk::http::{self, HttpError};
use serde_json::Value;

/// Longest piece of an error body quoted in an error message.
const BODY_SNIPPET_CHARS: usize = 200;

/// The upstream base URL (config `url`, without a trailing slash).
pub(crate) fn base_url(env_var: &str) -> Result<String, String> {
    let url = config::get("url").unwrap_or_default();
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(format!(
            "config `url` is required: set {env_var} (or `url` in the plugin's config) to the service's base URL"
        ));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "config `url` must be an http:// or https:// URL, got {url:?}"
        ));
    }
    Ok(url.to_owned())
}

/// `value` percent-encoded for a query string (RFC 3986 unreserved characters kept).
pub(crate) fn encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `GET url`, expecting a 2xx answer with a JSON body.
pub(crate) fn get_json(url: &str) -> Result<Value, String> {
    let response = http::get(url).map_err(|e| format!("GET {url} failed: {}", describe(&e)))?;
    if !response.is_success() {
        let body = response.text();
        let snippet: String = body.chars().take(BODY_SNIPPET_CHARS).collect();
        return Err(format!(
            "GET {url} answered HTTP {}: {}",
            response.status,
            snippet.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    response.json().map_err(|e| format!("GET {url}: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters_only() {
        assert_eq!(encode("EURUSD"), "EURUSD");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(encode("x-y_z.~"), "x-y_z.~");
    }
}
