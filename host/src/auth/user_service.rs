//! The optional user-service check: `GET {USER_SERVICE_URL}/users/{sub}`
//! must answer 2xx for a user to connect. Answers are cached for a short
//! time; an unreachable service admits or refuses by configuration.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::AuthError;

/// Characters kept as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Most cached user answers before the cache is cleared.
const CACHE_MAX: usize = 100_000;

/// How long the user service may take to answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The user-service check with its answer cache.
pub(crate) struct UserService {
    url: String,
    ttl: Duration,
    fail_open: bool,
    cache: Mutex<HashMap<String, (bool, Instant)>>,
}

impl UserService {
    /// Checks users at `url`, reusing answers for `ttl`; `fail_open` admits
    /// users while the service cannot be reached.
    pub(crate) fn new(url: &str, ttl: Duration, fail_open: bool) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            ttl,
            fail_open,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `user` may connect.
    pub(crate) async fn check(&self, http: &reqwest::Client, user: &str) -> Result<(), AuthError> {
        let cached = self
            .cache
            .lock()
            .get(user)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(ok, _)| *ok);
        let allowed = match cached {
            Some(ok) => ok,
            None => {
                let url = format!("{}/users/{}", self.url, path_segment(user));
                match http.get(&url).timeout(TIMEOUT).send().await {
                    Ok(r) if r.status().is_success() => self.remember(user, true),
                    Ok(r) if r.status().is_client_error() => self.remember(user, false),
                    Ok(r) => return self.unreachable(&format!("answered {}", r.status())),
                    Err(e) => return self.unreachable(&crate::outbound::describe(e)),
                }
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(AuthError::UserRejected(
                "the user service does not accept this user".into(),
            ))
        }
    }

    fn remember(&self, user: &str, ok: bool) -> bool {
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(user.to_owned(), (ok, Instant::now()));
        ok
    }

    fn unreachable(&self, why: &str) -> Result<(), AuthError> {
        tracing::warn!(url = %gateway_contract::redacted_url(&self.url), "user service unavailable: {why}");
        if self.fail_open {
            Ok(())
        } else {
            Err(AuthError::UserRejected(
                "the user service is unavailable".into(),
            ))
        }
    }
}

/// `s` percent-encoded as one path segment.
fn path_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_escaped_as_one_path_segment() {
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(path_segment("alice-1_x.y~"), "alice-1_x.y~");
        assert_eq!(path_segment("é?#"), "%C3%A9%3F%23");
    }
}
