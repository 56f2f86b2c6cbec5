//! Minting tokens for the `token` command and dev mode, and the secret dev
//! mode generates.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::Claims;

/// Mints an HS256 token for `sub`, valid for `ttl`.
pub fn mint(secret: &str, sub: &str, admin: bool, name: Option<&str>, ttl: Duration) -> String {
    let now = crate::time::now_ms() / 1000;
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now + ttl.as_secs(),
        roles: if admin {
            vec!["admin".into()]
        } else {
            Vec::new()
        },
        name: name.map(str::to_owned),
        iat: Some(now),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding of plain claims cannot fail")
}

/// A random secret for dev mode.
pub(crate) fn generate_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}
