//! Outbound HTTP through the host, limited to the hosts in the plugin's
//! manifest (`allowed_hosts`), with the host's timeout and size cap.

pub use crate::bindings::host::gateway::plugins::http::{HttpError, Request, Response};

/// Sends `request`.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::host::gateway::plugins::http::send(request);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::with_host(|h| h.http(request));
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    send(&Request {
        method: "GET".into(),
        url: url.into(),
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
        timeout_ms: None,
    })
}

/// `POST url` with a JSON body and extra headers.
pub fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> Result<Response, HttpError> {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    send(&Request {
        method: "POST".into(),
        url: url.into(),
        headers: all,
        body: Some(body.to_string().into_bytes()),
        timeout_ms: None,
    })
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
