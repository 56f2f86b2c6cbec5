//! The gateway's outbound HTTP clients and how their failures are told.
//!
//! Both speak TLS through rustls with the system's trust store
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it, as for OpenSSL-based
//! tools). The gateway's own client (JWKS, user service) follows redirects;
//! the plugins' client follows none, so every hop a plugin makes is checked
//! against its allowlist. Failures are described without their URL, whose
//! query may hold a key, but with their causes (a refused certificate says
//! so).

use std::error::Error as _;

/// The `User-Agent` of every outbound request.
const USER_AGENT: &str = concat!("gateway/", env!("CARGO_PKG_VERSION"));

/// The client for the gateway's own requests.
pub fn gateway_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("the TLS backend and system roots load")
}

/// The client for plugins' requests: redirects are handed to the plugin.
pub fn plugin_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the TLS backend and system roots load")
}

/// `e` and its causes, `: `-separated, without the URL.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
