//! Talking to an upstream service: its base URL from config, query
//! encoding, and one JSON `GET` whose failures read clearly in the host's
//! plugin status (`/api/plugins`).
//!
//! By convention a plugin that polls one service reads its base URL from
//! config `url`, which the host fills from an environment variable such as
//! `TRADING_SERVICE_URL`:
//!
//! ```
//! use gateway_sdk::upstream;
//! # let _host = gateway_sdk::testing::FakeHost::new()
//! #     .config("url", "http://trading.test/")
//! #     .respond("http://trading.test/notifications", 200, r#"{"orders": []}"#)
//! #     .install();
//!
//! let base = upstream::base_url("TRADING_SERVICE_URL")?;
//! let url = format!("{base}/notifications?since={}", upstream::encode("10:00/7"));
//! assert_eq!(url, "http://trading.test/notifications?since=10%3A00%2F7");
//! let answer = upstream::get_json(&url)?;
//! assert!(answer["orders"].is_array());
//! # Ok::<(), String>(())
//! ```

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::{config, http};
/// URLs in error messages go through this: no credentials, no query.
pub use gateway_contract::redacted_url;

/// Longest piece of an error body quoted in an error message.
const BODY_SNIPPET_CHARS: usize = 200;

/// The service's base URL from config `url`, trimmed and without a trailing
/// slash. `env_var` is where the host takes it from, named in the error when
/// it is missing.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::upstream;
/// let host = FakeHost::new().config("url", " http://events.test/ ").install();
/// assert_eq!(upstream::base_url("EVENT_SERVICE_URL").unwrap(), "http://events.test");
/// host.set_config("url", "");
/// assert!(upstream::base_url("EVENT_SERVICE_URL").unwrap_err().contains("EVENT_SERVICE_URL"));
/// ```
pub fn base_url(env_var: &str) -> Result<String, String> {
    let url = config::get("url").unwrap_or_default();
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(format!(
            "config `url` is required: set {env_var} (or `url` in the plugin's config) to the service's base URL"
        ));
    }
    http_url("url", url)
}

/// `url` (the value of config `key`) when it is an `http://` or `https://`
/// URL; otherwise an error naming `key`.
///
/// ```
/// use gateway_sdk::upstream;
/// assert_eq!(upstream::http_url("llm_url", "https://api.test/v1").unwrap(), "https://api.test/v1");
/// assert!(upstream::http_url("llm_url", "ftp://files.test").is_err());
/// ```
pub fn http_url(key: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "config `{key}` must be an http:// or https:// URL, got {:?}",
            redacted_url(url)
        ));
    }
    Ok(url.to_owned())
}

/// Characters a query value keeps as they are (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` percent-encoded for a query string (RFC 3986 unreserved
/// characters kept, everything else as UTF-8 `%XX`).
///
/// ```
/// assert_eq!(gateway_sdk::upstream::encode("a b&c"), "a%20b%26c");
/// ```
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// `GET url`, expecting a 2xx answer with a JSON body. Errors name the URL
/// (as [`redacted_url`] shows it) and read as sentences: `GET … failed:
/// timed out`, `GET … answered HTTP 503: Service Unavailable` (the first
/// 200 characters of the body, on one line), `GET …: invalid JSON body: …`.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::upstream;
/// let _host = FakeHost::new()
///     .respond("http://up.test/ok", 200, r#"{"cursor": "c1"}"#)
///     .respond("http://up.test/down", 503, "Service Unavailable")
///     .install();
/// assert_eq!(upstream::get_json("http://up.test/ok").unwrap()["cursor"], "c1");
/// assert_eq!(
///     upstream::get_json("http://up.test/down").unwrap_err(),
///     "GET http://up.test/down answered HTTP 503: Service Unavailable"
/// );
/// ```
pub fn get_json(url: &str) -> Result<Value, String> {
    let shown = redacted_url(url);
    let response = http::get(url).map_err(|e| format!("GET {shown} failed: {}", e.describe()))?;
    if !response.is_success() {
        let snippet = response.snippet(BODY_SNIPPET_CHARS);
        return Err(format!(
            "GET {shown} answered HTTP {}: {}",
            response.status,
            snippet.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    response.json().map_err(|e| format!("GET {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpError;
    use crate::testing::FakeHost;

    #[test]
    fn encodes_reserved_characters_only() {
        assert_eq!(encode("EURUSD"), "EURUSD");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(encode("x-y_z.~"), "x-y_z.~");
    }

    #[test]
    fn base_url_is_required_and_http() {
        let host = FakeHost::new().install();
        let err = base_url("SERVICE_URL").unwrap_err();
        assert!(
            err.starts_with("config `url` is required: set SERVICE_URL"),
            "{err}"
        );
        host.set_config("url", " / ");
        assert!(base_url("SERVICE_URL").unwrap_err().contains("is required"));
        host.set_config("url", "svc.test");
        assert_eq!(
            base_url("SERVICE_URL").unwrap_err(),
            r#"config `url` must be an http:// or https:// URL, got "svc.test""#
        );
        host.set_config("url", " https://svc.test/v1// ");
        assert_eq!(base_url("SERVICE_URL").unwrap(), "https://svc.test/v1");
        assert!(
            http_url("llm_url", "ftp://x")
                .unwrap_err()
                .contains("`llm_url`")
        );
    }

    #[test]
    fn get_json_errors_name_the_url_and_the_reason() {
        let url = "http://svc.test/items";
        let host = FakeHost::new()
            .respond(url, 200, r#"{"items": [1]}"#)
            .install();
        assert_eq!(get_json(url).unwrap()["items"][0], 1);

        let long = format!("Service\n  Unavailable {}", "x".repeat(300));
        host.respond(url, 503, &long);
        let err = get_json(url).unwrap_err();
        assert!(
            err.starts_with("GET http://svc.test/items answered HTTP 503: Service Unavailable xxx"),
            "{err}"
        );
        assert!(err.len() < 260, "the body is cut: {err}");

        host.respond(url, 200, "<html>");
        assert!(
            get_json(url)
                .unwrap_err()
                .starts_with("GET http://svc.test/items: invalid JSON body")
        );
        host.fail(url, HttpError::Transport("connection refused".into()));
        assert_eq!(
            get_json(url).unwrap_err(),
            "GET http://svc.test/items failed: transport error: connection refused"
        );
    }
}
