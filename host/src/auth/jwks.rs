//! Keys from a JWKS URL: fetched on demand, cached by `kid`, and refetched
//! when a token names a key the cache lacks (at most every
//! [`MIN_REFRESH`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use parking_lot::{Mutex, RwLock};

use super::AuthError;

/// Unknown `kid`s refetch the JWKS at most this often.
const MIN_REFRESH: Duration = Duration::from_secs(10);

/// How long the JWKS endpoint may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The keys of one JWKS URL.
pub(crate) struct Jwks {
    url: String,
    keys: RwLock<HashMap<String, DecodingKey>>,
    refreshed: Mutex<Option<Instant>>,
}

impl Jwks {
    /// Keys from `url`, none fetched yet.
    pub(crate) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            keys: RwLock::new(HashMap::new()),
            refreshed: Mutex::new(None),
        }
    }

    /// The key with id `kid`.
    pub(crate) async fn key(
        &self,
        http: &reqwest::Client,
        kid: Option<&str>,
    ) -> Result<DecodingKey, AuthError> {
        let kid = kid.ok_or_else(|| {
            AuthError::Invalid("the token has no `kid` to pick a JWKS key".into())
        })?;
        if let Some(k) = self.keys.read().get(kid) {
            return Ok(k.clone());
        }
        let due = self
            .refreshed
            .lock()
            .is_none_or(|t| t.elapsed() >= MIN_REFRESH);
        if due {
            *self.refreshed.lock() = Some(Instant::now());
            match self.fetch(http).await {
                Ok(keys) => *self.keys.write() = keys,
                Err(e) => tracing::warn!(url = %self.url, "cannot refresh JWKS: {e}"),
            }
        }
        self.keys
            .read()
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<HashMap<String, DecodingKey>, String> {
        let set: JwkSet = http
            .get(&self.url)
            .timeout(TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }
}
