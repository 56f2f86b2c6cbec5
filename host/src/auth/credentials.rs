//! Where a client's token is found: an `Authorization: Bearer` header (the
//! scheme is case-insensitive, as HTTP says) or a `token` query parameter.
//! Used by the Socket.IO handshake and the HTTP API alike.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The bearer token of `headers`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `presented` is the shared `secret`, compared in constant time.
/// Both sides are hashed first, so neither their bytes nor the secret's
/// length show in how long the comparison takes.
pub(crate) fn is_secret(presented: &str, secret: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(secret.as_bytes());
    a.ct_eq(&b).into()
}

/// The `token` parameter of a query string, percent-decoded.
pub(crate) fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer abc ")), Some("abc"));
        assert_eq!(bearer(&headers("BEARER abc")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&headers("Bearerabc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn secrets_match_only_exactly() {
        assert!(is_secret("s3cret", "s3cret"));
        assert!(!is_secret("s3cre", "s3cret"));
        assert!(!is_secret("s3cret ", "s3cret"));
        assert!(!is_secret("", "s3cret"));
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(
            query_token(Some("EIO=4&token=a.b%2Ec")),
            Some("a.b.c".into())
        );
        assert_eq!(query_token(Some("token=abc%")), Some("abc%".into()));
        assert_eq!(query_token(Some("x=1")), None);
        assert_eq!(query_token(None), None);
    }
}

#[cfg(test)]
mod proptests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any header or query yields a token only when one is there, and
        /// a bearer token is never empty or padded.
        #[test]
        fn proptest_token_extraction_never_panics(header in "[ -~]{0,60}", query in "[ -~]{0,60}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&header) {
                h.insert(AUTHORIZATION, v);
            }
            if let Some(t) = bearer(&h) {
                prop_assert!(!t.is_empty() && t.trim() == t);
            }
            let _ = query_token(Some(&query));
        }
    }
}
