//! A fake identity provider: ES256 signing keys with their key ids, the
//! tokens they sign and the JWKS that publishes them (over HTTP or HTTPS,
//! changeable by the test, with `Cache-Control: max-age=1`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use rcgen::KeyPair;
use serde_json::{Value, json};

use crate::upstream::{self, Fake};

/// A signing key of the fake identity provider, with its key id.
pub struct IdpKey {
    /// Its key id.
    pub kid: &'static str,
    key: KeyPair,
}

impl IdpKey {
    /// A fresh P-256 key with id `kid`.
    pub fn new(kid: &'static str) -> Self {
        Self {
            kid,
            key: KeyPair::generate().unwrap(),
        }
    }

    /// Its public half as a JWK (P-256: the point's x and y).
    pub fn jwk(&self) -> Value {
        let raw = self.key.public_key_raw();
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
        })
    }

    /// An ES256 token for `sub`, valid for an hour.
    pub fn token(&self, sub: &str, admin: bool) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.to_owned());
        let exp = gateway::time::now_ms() / 1000 + 3600;
        let roles: Vec<&str> = if admin { vec!["admin"] } else { vec![] };
        jsonwebtoken::encode(
            &header,
            &json!({ "sub": sub, "exp": exp, "roles": roles }),
            &EncodingKey::from_ec_pem(self.key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap()
    }
}

/// A JWKS endpoint (`GET /jwks`, over HTTPS with `tls`) whose set a test
/// can change, answering with `Cache-Control: max-age=1`.
pub async fn jwks_server(
    keys: Vec<Value>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Fake<Mutex<Vec<Value>>> {
    let state = Arc::new(Mutex::new(keys));
    let router = Router::new()
        .route(
            "/jwks",
            get(|State(keys): State<Arc<Mutex<Vec<Value>>>>| async move {
                let set = json!({ "keys": keys.lock().clone() });
                ([(CACHE_CONTROL, "public, max-age=1")], Json(set))
            }),
        )
        .with_state(state.clone());
    match tls {
        Some(tls) => upstream::serve_https(state, router, tls).await,
        None => upstream::serve(state, router).await,
    }
}
