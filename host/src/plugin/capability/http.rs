//! `http`: outbound requests, only to the hosts in the plugin's allowlist,
//! with the plugin's timeout and response-size cap. Redirects are not
//! followed: the plugin gets the 3xx, and a request to its `Location` is
//! checked against the allowlist like any other. With tracing on, the
//! request carries the W3C `traceparent` of its `host.http.send` span.
//!
//! The import is synchronous for the guest; the request runs on the
//! gateway's tokio runtime while the plugin's worker thread waits, and that
//! wait does not count against the plugin's CPU deadline.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Url;

use super::wit::http::{Host, HttpError, Request, Response};
use crate::plugin::env::PluginEnv;
use crate::plugin::state::HostState;

impl Host for HostState {
    fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        let _span = tracing::info_span!("host.http.send").entered();
        let result = self.off_the_clock(|env| send(env, req));
        if let Err(e) = &result {
            tracing::debug!(plugin = %self.env.name, "outbound http failed: {e:?}");
        }
        result
    }
}

/// Whether `url`'s host (and port) is in `allowed`: entries are `host`
/// (any port) or `host:port`, compared case-insensitively.
pub(crate) fn is_allowed(url: &Url, allowed: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let port = url.port_or_known_default();
    allowed.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        match entry.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {
                h.trim_matches(['[', ']']) == host.trim_matches(['[', ']'])
                    && p.parse::<u16>().ok() == port
            }
            _ => entry.trim_matches(['[', ']']) == host.trim_matches(['[', ']']),
        }
    })
}

fn send(env: &PluginEnv, req: Request) -> Result<Response, HttpError> {
    let url = Url::parse(&req.url).map_err(|e| {
        HttpError::InvalidRequest(format!("{}: {e}", gateway_contract::redacted_url(&req.url)))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::InvalidRequest(format!(
            "scheme {} not supported",
            url.scheme()
        )));
    }
    if !is_allowed(&url, &env.allowed_hosts) {
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_owned(),
        };
        // The host alone: the SDK words the sentence around it.
        return Err(HttpError::Denied(host));
    }
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| HttpError::InvalidRequest(format!("bad method {:?}", req.method)))?;
    let limit = env.limits.http_timeout_ms;
    let timeout = Duration::from_millis(req.timeout_ms.map_or(limit, |t| u64::from(t).min(limit)));
    let cap = env.limits.http_max_response_bytes;
    let mut builder = env.services.http.request(method, url).timeout(timeout);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let mut trace = reqwest::header::HeaderMap::new();
    crate::telemetry::inject(&mut trace);
    builder = builder.headers(trace);
    env.services.runtime.block_on(async move {
        let fetch = async {
            let resp = builder.send().await.map_err(transport)?;
            let status = resp.status().as_u16();
            if resp.content_length().is_some_and(|n| n > cap) {
                return Err(HttpError::TooLarge(cap));
            }
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(transport)?;
                if (body.len() + chunk.len()) as u64 > cap {
                    return Err(HttpError::TooLarge(cap));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        // The client timeout covers connect and headers; this also bounds a
        // body that trickles in.
        tokio::time::timeout(timeout, fetch)
            .await
            .unwrap_or(Err(HttpError::Timeout))
    })
}

/// The failure with its causes, without its URL (a log line must not carry
/// a key in its query).
fn transport(e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::Timeout
    } else {
        HttpError::Transport(crate::outbound::describe(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(url: &str, list: &[&str]) -> bool {
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        is_allowed(&Url::parse(url).unwrap(), &list)
    }

    #[test]
    fn host_entries_allow_any_port_and_host_port_entries_one() {
        assert!(allowed("http://127.0.0.1:8080/x", &["127.0.0.1"]));
        assert!(allowed("http://127.0.0.1:8080/x", &["127.0.0.1:8080"]));
        assert!(!allowed("http://127.0.0.1:8081/x", &["127.0.0.1:8080"]));
        assert!(allowed(
            "https://API.example.com/v1",
            &["api.example.com:443"]
        ));
        assert!(allowed("http://[::1]:9000/", &["[::1]:9000"]));
    }

    #[test]
    fn other_hosts_and_empty_lists_are_denied() {
        assert!(!allowed("http://127.0.0.2/", &["127.0.0.1"]));
        assert!(!allowed("http://evil.example.com/", &[]));
        assert!(!allowed("http://example.com.evil.net/", &["example.com"]));
    }
}
