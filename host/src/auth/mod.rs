//! Client authentication: JWT verification (HS256 with a secret, RS256/ES256
//! with a PEM key or keys from a JWKS URL) and the claims the gateway uses.
//! Beside it: where tokens are found ([`credentials`]), the JWKS cache
//! ([`jwks`]), the optional user-service check ([`user_service`]) and
//! minting tokens ([`mint`]).

pub(crate) mod credentials;
mod jwks;
mod mint;
mod user_service;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Config, JwtAlgorithm};
use crate::protocol::ErrorCode;
use jwks::Jwks;
pub(crate) use mint::generate_secret;
pub use mint::mint;
use user_service::UserService;

/// The claims a client token carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Roles; `admin` opens the admin API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

impl Claims {
    /// Whether the token has the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// Why a client was not let in. Each has the contract's stable code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// No token in `auth.token`, the `Authorization` header or `?token=`.
    #[error("AUTH_MISSING: no token was provided")]
    Missing,
    /// Bad signature, wrong algorithm, malformed, missing claims, `nbf` ahead.
    #[error("AUTH_INVALID: {0}")]
    Invalid(String),
    /// `exp` has passed.
    #[error("AUTH_EXPIRED: the token has expired")]
    Expired,
    /// The user service refused the user (or could not be asked).
    #[error("USER_REJECTED: {0}")]
    UserRejected(String),
}

impl AuthError {
    /// The contract's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::AuthMissing,
            AuthError::Invalid(_) => ErrorCode::AuthInvalid,
            AuthError::Expired => ErrorCode::AuthExpired,
            AuthError::UserRejected(_) => ErrorCode::UserRejected,
        }
    }
}

/// Where verification keys come from.
enum Keys {
    Static(DecodingKey),
    Jwks(Arc<Jwks>),
}

/// Why the authenticator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// No secret and not in dev mode.
    #[error("JWT_SECRET is not set; set it, or run with --dev (GATEWAY_DEV=1) for a generated one")]
    MissingSecret,
    /// The PEM key could not be read or parsed.
    #[error("cannot use JWT public key {path}: {reason}")]
    BadKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The largest clock-skew allowance accepted, in seconds.
pub const MAX_LEEWAY_SECS: u64 = 60;

/// The longest token read; longer ones are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The longest user id (`sub`).
const MAX_SUB_BYTES: usize = 256;

/// Verifies client tokens.
pub struct Authenticator {
    validation: Validation,
    leeway_secs: u64,
    keys: Keys,
    http: reqwest::Client,
    users: Option<UserService>,
}

impl Authenticator {
    /// Builds the verifier `config` describes; `secret` is the resolved HS256
    /// secret (from config or generated in dev mode).
    pub fn new(
        config: &Config,
        secret: Option<&str>,
        http: reqwest::Client,
    ) -> Result<Self, AuthSetupError> {
        let alg = match config.jwt_algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
        };
        let mut validation = Validation::new(alg);
        validation.leeway = config.jwt_leeway_secs.min(MAX_LEEWAY_SECS);
        validation.validate_nbf = true;
        // A configured issuer or audience is required, not only checked
        // when present (jsonwebtoken checks absent claims only if required).
        let mut required = vec!["exp", "sub"];
        if let Some(iss) = &config.jwt_issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &config.jwt_audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let keys = match (alg, &config.jwt_public_key_file, &config.jwks_url) {
            (Algorithm::HS256, ..) => Keys::Static(DecodingKey::from_secret(
                secret.ok_or(AuthSetupError::MissingSecret)?.as_bytes(),
            )),
            (_, Some(path), _) => {
                let bad = |reason: String| AuthSetupError::BadKey {
                    path: path.display().to_string(),
                    reason,
                };
                let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
                let key = if alg == Algorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)
                } else {
                    DecodingKey::from_ec_pem(&pem)
                };
                Keys::Static(key.map_err(|e| bad(e.to_string()))?)
            }
            (_, None, Some(url)) => Keys::Jwks(Jwks::new(url, http.clone())),
            (_, None, None) => unreachable!("Config::check requires a key source for RS256/ES256"),
        };
        let users = config.user_service_url.as_deref().map(|url| {
            UserService::new(
                url,
                Duration::from_secs(config.user_service_cache_secs),
                config.user_service_fail_open,
            )
        });
        Ok(Self {
            leeway_secs: validation.leeway,
            validation,
            keys,
            http,
            users,
        })
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.trim().is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid(format!(
                "the token is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(describe(e.kind())))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = match &self.keys {
            Keys::Static(k) => k.clone(),
            Keys::Jwks(jwks) => jwks.key(header.kid.as_deref()).await?,
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                other => AuthError::Invalid(describe(other)),
            }
        })?;
        let sub = data.claims.sub.as_str();
        if sub.trim().is_empty() {
            return Err(AuthError::Invalid("the token's `sub` is empty".into()));
        }
        // A user id is a path segment of the user service's URL, and `.` and
        // `..` would climb out of `/users/` however they are encoded.
        if sub == "." || sub == ".." || sub.len() > MAX_SUB_BYTES {
            return Err(AuthError::Invalid(
                "the token's `sub` is not a usable user id".into(),
            ));
        }
        Ok(data.claims)
    }

    /// The clock-skew allowance applied to `exp`, in seconds.
    pub(crate) fn leeway_secs(&self) -> u64 {
        self.leeway_secs
    }

    /// Asks the user service (if configured) whether `user` may connect.
    pub(crate) async fn check_user(&self, user: &str) -> Result<(), AuthError> {
        match &self.users {
            Some(check) => check.check(&self.http, user).await,
            None => Ok(()),
        }
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "algorithm not accepted".into()
        }
        ErrorKind::MissingRequiredClaim(c) => format!("missing required claim `{c}`"),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::Json(e) => format!("malformed claims: {e}"),
        _ => "malformed token".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn auth(secret: &str) -> Authenticator {
        Authenticator::new(&Config::default(), Some(secret), reqwest::Client::new()).unwrap()
    }

    fn token_with(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> u64 {
        crate::time::now_ms() / 1000
    }

    #[tokio::test]
    async fn accepts_a_minted_token() {
        let t = mint(
            "s3cret",
            "alice",
            true,
            Some("Alice"),
            Duration::from_secs(60),
        );
        let c = auth("s3cret").verify(&t).await.unwrap();
        assert_eq!(c.sub, "alice");
        assert!(c.is_admin());
        assert_eq!(c.name.as_deref(), Some("Alice"));
    }

    #[tokio::test]
    async fn rejects_with_the_contract_codes() {
        let a = auth("s3cret");
        assert_eq!(
            a.verify("").await.unwrap_err().code(),
            ErrorCode::AuthMissing
        );
        assert_eq!(
            a.verify("not.a.jwt").await.unwrap_err().code(),
            ErrorCode::AuthInvalid
        );
        let other = mint("other", "alice", false, None, Duration::from_secs(60));
        assert_eq!(
            a.verify(&other).await.unwrap_err(),
            AuthError::Invalid("bad signature".into())
        );
        let expired = token_with(
            serde_json::json!({"sub": "a", "exp": now() - 120}),
            "s3cret",
        );
        assert_eq!(a.verify(&expired).await.unwrap_err(), AuthError::Expired);
        let within_leeway =
            token_with(serde_json::json!({"sub": "a", "exp": now() - 30}), "s3cret");
        assert!(a.verify(&within_leeway).await.is_ok());
        let no_sub = token_with(serde_json::json!({"exp": now() + 60}), "s3cret");
        assert!(
            matches!(a.verify(&no_sub).await.unwrap_err(), AuthError::Invalid(m) if m.contains("sub"))
        );
        let no_exp = token_with(serde_json::json!({"sub": "a"}), "s3cret");
        assert!(
            matches!(a.verify(&no_exp).await.unwrap_err(), AuthError::Invalid(m) if m.contains("exp"))
        );
        let future = token_with(
            serde_json::json!({"sub": "a", "exp": now() + 600, "nbf": now() + 300}),
            "s3cret",
        );
        assert!(
            matches!(a.verify(&future).await.unwrap_err(), AuthError::Invalid(m) if m.contains("nbf"))
        );
    }

    #[tokio::test]
    async fn rejects_alg_none_and_other_algorithms() {
        let a = auth("s3cret");
        // {"alg":"none","typ":"JWT"} . {"sub":"a","exp":9999999999} . (no signature)
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert_eq!(
            a.verify(none).await.unwrap_err().code(),
            ErrorCode::AuthInvalid
        );
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &serde_json::json!({"sub": "a", "exp": now() + 60}),
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(
            matches!(a.verify(&hs384).await.unwrap_err(), AuthError::Invalid(m) if m.contains("HS384"))
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn authenticator() -> Authenticator {
        Authenticator::new(&Config::default(), Some("s3cret"), reqwest::Client::new()).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    proptest! {
        /// Any string, or three base64 parts of anything, is refused with
        /// an auth code and never panics.
        #[test]
        fn proptest_garbage_tokens_are_refused(
            text in ".{0,200}",
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 3),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let auth = authenticator();
            let dotted = parts.iter().map(|p| b64(p)).collect::<Vec<_>>().join(".");
            for token in [text, dotted] {
                let err = rt.block_on(auth.verify(&token)).unwrap_err();
                prop_assert!(matches!(err, AuthError::Missing | AuthError::Invalid(_)), "{:?}", err);
            }
        }

        /// Correctly signed tokens with any claims are accepted only with a
        /// usable `sub` and an `exp` ahead.
        #[test]
        fn proptest_signed_claims_are_checked(
            sub in prop_oneof![".{0,300}".prop_map(serde_json::Value::from), any::<i64>().prop_map(serde_json::Value::from)],
            exp_offset in -7200i64..7200,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let now = (crate::time::now_ms() / 1000) as i64;
            let claims = serde_json::json!({ "sub": sub, "exp": now + exp_offset });
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
            )
            .unwrap();
            match rt.block_on(authenticator().verify(&token)) {
                Ok(c) => {
                    prop_assert_eq!(Some(c.sub.as_str()), sub.as_str());
                    prop_assert!(!c.sub.trim().is_empty() && c.sub != "." && c.sub != "..");
                    prop_assert!(c.sub.len() <= MAX_SUB_BYTES);
                    prop_assert!(exp_offset > -(MAX_LEEWAY_SECS as i64) - 1);
                }
                Err(e) => prop_assert!(matches!(e, AuthError::Invalid(_) | AuthError::Expired)),
            }
        }
    }
}
