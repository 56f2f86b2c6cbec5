//! Outbound HTTP through the host, limited to the hosts in the plugin's
//! manifest (`allowed_hosts`), with the host's timeout and size cap.
//!
//! [`get`] and [`post_json`] cover the usual calls; [`post_json_with_timeout`]
//! overrides the plugin's default timeout for one slow call (the host still
//! caps it). For JSON `GET`s with readable errors see [`crate::upstream`].

pub use crate::bindings::host::gateway::plugins::http::{HttpError, Request, Response};

/// Sends `request`.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::http::{self, Request};
/// let host = FakeHost::new().respond("http://up.test/", 204, "").install();
/// let request = Request {
///     method: "DELETE".into(),
///     url: "http://up.test/session".into(),
///     headers: vec![],
///     body: None,
///     timeout_ms: Some(2_000),
/// };
/// assert_eq!(http::send(&request).unwrap().status, 204);
/// assert_eq!(host.requests()[0].method, "DELETE");
/// ```
pub fn send(request: &Request) -> Result<Response, HttpError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::http::send(request);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.http(request));
}

/// `GET url`.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::http;
/// let _host = FakeHost::new().respond("http://up.test/prices", 200, r#"{"bid":1.1}"#).install();
/// let answer = http::get("http://up.test/prices").unwrap();
/// assert!(answer.is_success());
/// assert_eq!(answer.text(), r#"{"bid":1.1}"#);
/// ```
pub fn get(url: &str) -> Result<Response, HttpError> {
    send(&Request {
        method: "GET".into(),
        url: url.into(),
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        timeout_ms: None,
    })
}

/// `POST url` with a JSON body and extra headers, under the plugin's
/// default timeout.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::http;
/// let host = FakeHost::new().respond("http://llm.test/", 200, "{}").install();
/// let body = serde_json::json!({"model": "small"});
/// http::post_json("http://llm.test/v1/chat", &[("authorization", "Bearer k")], &body).unwrap();
/// assert_eq!(host.requests()[0].body.as_deref(), Some(&br#"{"model":"small"}"#[..]));
/// ```
pub fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<Response, HttpError> {
    send(&json_post(url, headers, body, None))
}

/// `POST url` with a JSON body and extra headers, waiting at most
/// `timeout_ms` (capped by the plugin's limit) instead of the default.
///
/// ```
/// use gateway_sdk::testing::FakeHost;
/// use gateway_sdk::http;
/// let host = FakeHost::new().respond("http://llm.test/", 200, "{}").install();
/// http::post_json_with_timeout("http://llm.test/v1/chat", &[], &serde_json::json!({}), 20_000).unwrap();
/// assert_eq!(host.requests()[0].timeout_ms, Some(20_000));
/// ```
pub fn post_json_with_timeout(
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
    timeout_ms: u32,
) -> Result<Response, HttpError> {
    send(&json_post(url, headers, body, Some(timeout_ms)))
}

/// The request of [`post_json`]: `content-type` first, then `headers`.
fn json_post(
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
    timeout_ms: Option<u32>,
) -> Request {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Request {
        method: "POST".into(),
        url: url.into(),
        headers: all,
        body: Some(body.to_string().into_bytes()),
        timeout_ms,
    }
}

impl Response {
    /// Whether the status is 2xx.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let _host = FakeHost::new().respond("http://up.test/", 503, "down").install();
    /// assert!(!gateway_sdk::http::get("http://up.test/").unwrap().is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let _host = FakeHost::new().respond("http://up.test/", 200, "[1, 2]").install();
    /// let numbers: Vec<u32> = gateway_sdk::http::get("http://up.test/").unwrap().json().unwrap();
    /// assert_eq!(numbers, [1, 2]);
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    /// The body as text (lossy).
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let _host = FakeHost::new().respond("http://up.test/", 200, "pong").install();
    /// assert_eq!(gateway_sdk::http::get("http://up.test/").unwrap().text(), "pong");
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first `max_chars` characters of the body as text (lossy), for
    /// quoting an error answer in a message.
    ///
    /// ```
    /// use gateway_sdk::testing::FakeHost;
    /// let _host = FakeHost::new().respond("http://up.test/", 500, "a long error page").install();
    /// assert_eq!(gateway_sdk::http::get("http://up.test/").unwrap().snippet(6), "a long");
    /// ```
    pub fn snippet(&self, max_chars: usize) -> String {
        self.text().chars().take(max_chars).collect()
    }
}

impl HttpError {
    /// A readable sentence, e.g. `transport error: connection refused`.
    ///
    /// The `Display` of this type is generated by wit-bindgen and prints the
    /// debug form (`HttpError::Transport("connection refused")`); it cannot
    /// be replaced, so use this in messages meant for people.
    ///
    /// ```
    /// use gateway_sdk::http::HttpError;
    /// assert_eq!(HttpError::Transport("connection refused".into()).describe(), "transport error: connection refused");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            HttpError::Denied(host) => format!("host {host} is not in the plugin's allowed hosts"),
            HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
            HttpError::Timeout => "timed out".to_owned(),
            HttpError::TooLarge(limit) => format!("answer larger than the {limit}-byte limit"),
            HttpError::Transport(why) => format!("transport error: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;
    use serde_json::json;

    #[test]
    fn post_json_sends_content_type_then_extra_headers() {
        let host = FakeHost::new().respond("http://up/", 201, "{}").install();
        let body = json!({"a": 1});
        assert_eq!(
            post_json("http://up/x", &[("accept", "text/plain")], &body)
                .unwrap()
                .status,
            201
        );
        post_json_with_timeout("http://up/y", &[], &body, 1_500).unwrap();
        let requests = host.requests();
        assert_eq!(
            requests[0],
            Request {
                method: "POST".into(),
                url: "http://up/x".into(),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("accept".into(), "text/plain".into()),
                ],
                body: Some(br#"{"a":1}"#.to_vec()),
                timeout_ms: None,
            }
        );
        assert_eq!(requests[1].url, "http://up/y");
        assert_eq!(requests[1].timeout_ms, Some(1_500));
        assert_eq!(requests[1].headers.len(), 1);
    }

    #[test]
    fn get_asks_for_json() {
        let host = FakeHost::new().respond("http://up/", 200, "[]").install();
        let response = get("http://up/list").unwrap();
        assert!(response.is_success());
        assert_eq!(response.json::<Vec<u8>>().unwrap(), Vec::<u8>::new());
        let r = &host.requests()[0];
        assert_eq!((r.method.as_str(), r.timeout_ms), ("GET", None));
        assert_eq!(r.headers, [("accept".into(), "application/json".into())]);
    }

    #[test]
    fn snippet_cuts_at_characters() {
        let _host = FakeHost::new()
            .respond("http://up/", 500, "é€xyz")
            .install();
        let response = get("http://up/").unwrap();
        assert!(!response.is_success());
        assert_eq!(response.snippet(2), "é€");
        assert_eq!(response.snippet(99), "é€xyz");
        assert!(
            response
                .json::<u8>()
                .unwrap_err()
                .starts_with("invalid JSON body")
        );
    }

    #[test]
    fn errors_read_as_sentences_where_display_is_the_debug_form() {
        let cases = [
            (
                HttpError::Denied("evil.test".into()),
                "host evil.test is not in the plugin's allowed hosts",
            ),
            (
                HttpError::InvalidRequest("bad url".into()),
                "invalid request: bad url",
            ),
            (HttpError::Timeout, "timed out"),
            (
                HttpError::TooLarge(1024),
                "answer larger than the 1024-byte limit",
            ),
            (
                HttpError::Transport("connection refused".into()),
                "transport error: connection refused",
            ),
        ];
        for (error, sentence) in cases {
            assert_eq!(error.describe(), sentence);
        }
        assert_eq!(HttpError::Timeout.to_string(), "HttpError::Timeout");
    }
}
