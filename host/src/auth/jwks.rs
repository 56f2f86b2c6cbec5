//! Keys from a JWKS URL. The set is fetched on first use and then kept for
//! as long as the endpoint's `Cache-Control: max-age` says (bounded by
//! [`MIN_TTL`] and [`MAX_TTL`], [`DEFAULT_TTL`] without one); a background
//! task refetches it when that runs out, so a key removed from the set
//! (rotated out, compromised) stops being trusted within one max-age. A
//! token naming a key the set lacks refetches it at once, at most every
//! [`MIN_REFRESH`]. Only one fetch runs at a time; a failed fetch keeps the
//! keys already held and is retried after [`MIN_REFRESH`].

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use parking_lot::RwLock;
use reqwest::header::{CACHE_CONTROL, HeaderMap};

use super::AuthError;
use gateway_contract::redacted_url;

/// Unknown `kid`s refetch the set at most this often; so do failed fetches.
const MIN_REFRESH: Duration = Duration::from_secs(10);

/// How long the set is kept when the endpoint says nothing.
const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The shortest time the set is kept, whatever `max-age` says.
const MIN_TTL: Duration = Duration::from_secs(5);

/// The longest time the set is kept, whatever `max-age` says.
const MAX_TTL: Duration = Duration::from_secs(3600);

/// How long the JWKS endpoint may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The keys of one JWKS URL.
pub(crate) struct Jwks {
    url: String,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// Held while fetching: one fetch at a time.
    fetching: tokio::sync::Mutex<()>,
    refresher: std::sync::Once,
}

/// The keys last fetched, and when.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, DecodingKey>,
    /// When the last fetch (successful or not) finished.
    fetched: Option<Instant>,
    /// Whether the last fetch failed.
    failed: bool,
    /// How long the last successful fetch may be kept.
    ttl: Duration,
}

impl KeySet {
    /// How long after the last fetch the next one is due.
    fn due_after(&self) -> Duration {
        if self.failed { MIN_REFRESH } else { self.ttl }
    }

    /// Whether the set has run out (or was never fetched).
    fn is_stale(&self) -> bool {
        self.fetched
            .is_none_or(|at| at.elapsed() >= self.due_after())
    }

    /// Whether an unknown `kid` may refetch the set now.
    fn may_look_for_new_keys(&self) -> bool {
        self.fetched.is_none_or(|at| at.elapsed() >= MIN_REFRESH)
    }
}

impl Jwks {
    /// Keys from `url`, none fetched yet.
    pub(crate) fn new(url: &str, http: reqwest::Client) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_owned(),
            http,
            keys: RwLock::new(KeySet::default()),
            fetching: tokio::sync::Mutex::new(()),
            refresher: std::sync::Once::new(),
        })
    }

    /// The key with id `kid`.
    pub(crate) async fn key(self: &Arc<Self>, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let kid = kid.ok_or_else(|| {
            AuthError::Invalid("the token has no `kid` to pick a JWKS key".into())
        })?;
        self.refresher.call_once(|| {
            tokio::spawn(refresh_in_background(Arc::downgrade(self)));
        });
        if let Some(k) = self.keys.read().keys.get(kid) {
            return Ok(k.clone());
        }
        self.refresh_if(KeySet::may_look_for_new_keys).await;
        self.keys
            .read()
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))
    }

    /// Fetches the set if `due` still holds once this is the only fetch.
    async fn refresh_if(&self, due: impl Fn(&KeySet) -> bool) {
        let _one = self.fetching.lock().await;
        if !due(&self.keys.read()) {
            return;
        }
        let fetched = self.fetch().await;
        let mut set = self.keys.write();
        set.fetched = Some(Instant::now());
        match fetched {
            Ok((keys, ttl)) => {
                set.keys = keys;
                set.ttl = ttl;
                set.failed = false;
            }
            Err(e) => {
                set.failed = true;
                tracing::warn!(url = %redacted_url(&self.url), "cannot refresh JWKS, keeping the keys held: {e}");
            }
        }
    }

    /// The set and how long it may be kept.
    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Duration), String> {
        let response = self
            .http
            .get(&self.url)
            .timeout(TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(crate::outbound::describe)?;
        let ttl = ttl(response.headers());
        let set: JwkSet = response.json().await.map_err(crate::outbound::describe)?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        Ok((keys, ttl))
    }

    /// How long until the next background refresh is due.
    fn next_refresh(&self) -> Duration {
        let set = self.keys.read();
        let left = set.fetched.map_or(Duration::ZERO, |at| {
            set.due_after().saturating_sub(at.elapsed())
        });
        left.max(Duration::from_millis(100))
    }
}

/// Refetches the set of `jwks` whenever it runs out, for as long as the
/// authenticator holding it lives.
async fn refresh_in_background(jwks: Weak<Jwks>) {
    loop {
        let Some(wait) = jwks.upgrade().map(|j| j.next_refresh()) else {
            return;
        };
        tokio::time::sleep(wait).await;
        let Some(j) = jwks.upgrade() else { return };
        j.refresh_if(KeySet::is_stale).await;
    }
}

/// How long a response with `headers` may be kept: its `max-age`, bounded.
fn ttl(headers: &HeaderMap) -> Duration {
    let directives = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let mut ttl = None;
    for d in directives {
        if d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache") {
            return MIN_TTL;
        }
        if let Some((name, value)) = d.split_once('=')
            && name.trim().eq_ignore_ascii_case("max-age")
        {
            ttl = value.trim().trim_matches('"').parse::<u64>().ok();
        }
    }
    ttl.map_or(DEFAULT_TTL, Duration::from_secs)
        .clamp(MIN_TTL, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(ttl(&headers(&[])), DEFAULT_TTL);
        assert_eq!(
            ttl(&headers(&["public, max-age=120"])),
            Duration::from_secs(120)
        );
        assert_eq!(ttl(&headers(&["max-age=0"])), MIN_TTL);
        assert_eq!(ttl(&headers(&["max-age=99999999"])), MAX_TTL);
        assert_eq!(ttl(&headers(&["no-cache", "max-age=600"])), MIN_TTL);
        assert_eq!(ttl(&headers(&["max-age=abc"])), DEFAULT_TTL);
        assert_eq!(
            ttl(&headers(&["public", "Max-Age=\"60\""])),
            Duration::from_secs(60)
        );
    }
}
