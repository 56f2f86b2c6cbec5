//! Where a client's token is found: an `Authorization: Bearer` header (the
//! scheme is case-insensitive, as HTTP says) or a `token` query parameter.
//! Used by the Socket.IO handshake and the HTTP API alike.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// The bearer token of `headers`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
