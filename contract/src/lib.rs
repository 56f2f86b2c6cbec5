//! The parts of the gateway's wire contract that both sides of the plugin
//! boundary check: the host when a client subscribes, a plugin when it
//! accepts data from upstream. One definition, so the two cannot drift.
//! The record fields and order types are in [`records`].
//! Also the one rule for URLs in logs and error messages on both sides
//! ([`redacted_url`]): credentials and query strings never appear.
//!
//! ```
//! use gateway_contract::{is_event_type, is_symbol};
//!
//! assert!(is_symbol("EURUSD") && is_symbol("ES:Z5") && !is_symbol("eurusd"));
//! assert!(is_event_type("MARKET_HALT") && !is_event_type("halt"));
//! ```

pub mod records;

/// Longest symbol, in bytes.
pub const MAX_SYMBOL_LEN: usize = 32;
/// Longest event type, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 64;

/// Whether `s` is a symbol: `^[A-Z0-9][A-Z0-9._:-]{0,31}$`.
pub fn is_symbol(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_SYMBOL_LEN
        && (b[0].is_ascii_uppercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || b"._:-".contains(c))
}

/// Whether `s` is an event type: `^[A-Z][A-Z0-9_]{0,63}$`.
pub fn is_event_type(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_EVENT_TYPE_LEN
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// `url` as it may appear in a log line or an error: scheme, host, port and
/// path, without user info, query or fragment (where API keys and tokens
/// travel). A dropped query shows as `?…`.
///
/// ```
/// use gateway_contract::redacted_url;
///
/// assert_eq!(redacted_url("https://u:pw@llm.example/v1?key=s3cret"), "https://llm.example/v1?…");
/// ```
pub fn redacted_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (kept, dropped) = rest.split_at(end);
    let (authority, path) = kept.split_at(kept.find('/').unwrap_or(kept.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(host);
    out.push_str(path);
    if dropped.starts_with('?') {
        out.push_str("?…");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        for ok in ["EURUSD", "BTC-USD", "ES:Z5", "1INCH", "A", "BRK.B"] {
            assert!(is_symbol(ok), "{ok}");
        }
        for bad in ["", "eurusd", "-EUR", ".A", "EUR USD", "EUR/USD", "ÉUR"] {
            assert!(!is_symbol(bad), "{bad}");
        }
        assert!(is_symbol(&"A".repeat(32)));
        assert!(!is_symbol(&"A".repeat(33)));
    }

    #[test]
    fn urls_lose_credentials_queries_and_fragments() {
        for (url, shown) in [
            (
                "http://127.0.0.1:8080/prices",
                "http://127.0.0.1:8080/prices",
            ),
            (
                "https://llm.example/v1/chat?key=s3cret",
                "https://llm.example/v1/chat?…",
            ),
            ("https://user:pass@host/x#frag", "https://host/x"),
            ("https://user:p@ss@host", "https://host"),
            ("https://host?token=a/b", "https://host?…"),
            ("not a url ?secret", "not a url ?…"),
            ("", ""),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
    }

    #[test]
    fn event_types() {
        for ok in ["MARKET_HALT", "A", "A1_"] {
            assert!(is_event_type(ok), "{ok}");
        }
        for bad in ["", "1A", "_A", "market", "A-B"] {
            assert!(!is_event_type(bad), "{bad}");
        }
        assert!(is_event_type(&"A".repeat(64)));
        assert!(!is_event_type(&"A".repeat(65)));
    }
}
