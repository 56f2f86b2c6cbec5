//! ES256 verification with a PEM public key and with a JWKS URL (served by
//! a real HTTP server, fetched on the first unknown `kid`). The key pair in
//! `tests/keys/` exists only for these tests.

use std::time::Duration;

use gateway::auth::{AuthError, Authenticator};
use gateway::config::{Config, JwtAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const PRIVATE: &[u8] = include_bytes!("keys/es256-private.pem");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn es256(kid: Option<&str>, sub: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    let claims = json!({ "sub": sub, "exp": gateway::time::now_ms() / 1000 + 60 });
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(PRIVATE).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn es256_with_a_pem_key() {
    let config = Config {
        jwt_algorithm: JwtAlgorithm::ES256,
        jwt_public_key_file: Some(format!("{KEYS}/es256-public.pem").into()),
        ..Config::default()
    };
    let auth = Authenticator::new(&config, None, reqwest::Client::new()).unwrap();
    assert_eq!(
        auth.verify(&es256(None, "alice")).await.unwrap().sub,
        "alice"
    );
    let hs = gateway::auth::mint("secret", "alice", false, None, Duration::from_secs(60));
    assert!(matches!(auth.verify(&hs).await, Err(AuthError::Invalid(m)) if m.contains("HS256")));
}

#[tokio::test]
async fn es256_with_jwks_fetched_on_an_unknown_kid() {
    let jwks = json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": "Nw7rPmjZXpeb7zOwYl6gdao4W4SNf0kJbD74L4zV-ck",
        "y": "jlN4Zlwq-7OeAawkbnRwHAzOeOsX0HtFNSbYMo1SqPo"
    }]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || async move { axum::Json(jwks) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = Config {
        jwt_algorithm: JwtAlgorithm::ES256,
        jwks_url: Some(url),
        ..Config::default()
    };
    let auth = Authenticator::new(&config, None, reqwest::Client::new()).unwrap();
    assert_eq!(
        auth.verify(&es256(Some("k1"), "bob")).await.unwrap().sub,
        "bob"
    );
    let err = auth.verify(&es256(Some("k2"), "bob")).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Invalid(m) if m.contains("unknown key id")),
        "{err:?}"
    );
    let err = auth.verify(&es256(None, "bob")).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Invalid(m) if m.contains("kid")),
        "{err:?}"
    );
}
