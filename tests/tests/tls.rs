//! Outbound TLS end to end: a gateway process trusting a CA made by the
//! test (through `SSL_CERT_FILE`, as OpenSSL-based tools do) reaches an
//! HTTPS market data service, an HTTPS JWKS and an HTTPS LLM, and a Redis
//! that speaks only TLS (`rediss://`); a certificate from any other CA is
//! refused with a clear error in `/api/plugins` and the log. Also: keys
//! removed from a JWKS stop being trusted within the set's `max-age`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::post;
use gateway_tests::eventually_async;
use gateway_tests::idp::{IdpKey, jwks_server};
use gateway_tests::process::GatewayProcess;
use gateway_tests::server::SECRET;
use gateway_tests::sio::{self, ConnectError, WAIT};
use gateway_tests::tls::TestCa;
use gateway_tests::upstream::{self, MarketMode};
use serde_json::{Value, json};

fn program() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway-node"))
}

/// An OpenAI-compatible chat endpoint that always answers `text`.
async fn llm_server(text: &'static str, tls: Arc<rustls::ServerConfig>) -> upstream::Fake<()> {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            Json(json!({ "choices": [{ "message": { "role": "assistant", "content": text } }] }))
        }),
    );
    upstream::serve_https(Arc::new(()), router, tls).await
}

fn host_port(url: &str) -> String {
    url.split("://").nth(1).unwrap().to_owned()
}

fn eurusd() -> MarketMode {
    MarketMode::Prices(vec![
        json!({ "symbol": "EURUSD", "bid": 1.1, "ask": 1.1002 }),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_market_data_jwks_and_llm_are_reached_through_a_trusted_ca() {
    let ca = TestCa::new("gateway test CA");
    let tls = ca.leaf().server_config();
    let dir = tempfile::tempdir().unwrap();
    let market = upstream::market_https(eurusd(), tls.clone()).await;
    let idp = IdpKey::new("k1");
    let jwks = jwks_server(vec![idp.jwk()], Some(tls.clone())).await;
    let llm = llm_server("Answered by the LLM over TLS.", tls).await;
    let plugins = dir.path().join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(
        plugins.join("chat-assistant.toml"),
        format!(
            "allowed_hosts = [{:?}]\n[config]\nllm_url = \"{}/v1\"\n",
            host_port(&llm.url),
            llm.url
        ),
    )
    .unwrap();
    let env = [
        ("SSL_CERT_FILE", ca.write(dir.path()).display().to_string()),
        ("MARKET_DATA_SERVICE_URL", market.url.clone()),
        ("JWT_ALGORITHM", "ES256".to_owned()),
        ("JWKS_URL", format!("{}/jwks", jwks.url)),
    ];
    let gw = GatewayProcess::start_in(program(), "tls", dir.path(), &env).await;

    let mut alice = sio::connect(&gw.url, sio::Options::token(&idp.token("alice", false)))
        .await
        .expect("a token signed with a key from the HTTPS JWKS is accepted");
    let ack = alice
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let tick = alice
        .next("price:update", WAIT)
        .await
        .expect("prices from the HTTPS market data service");
    assert_eq!(tick["symbol"], "EURUSD");

    alice.emit("chat:message", &json!({ "message": "how is EURUSD?" }));
    let reply = alice
        .next("chat:message", WAIT)
        .await
        .expect("a chat reply");
    assert_eq!(
        reply["message"], "Answered by the LLM over TLS.",
        "the reply comes from the HTTPS LLM, not the built-in fallback"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_is_refused_with_a_clear_error() {
    let trusted = TestCa::new("trusted CA");
    let stranger = TestCa::new("someone else's CA");
    let dir = tempfile::tempdir().unwrap();
    let market = upstream::market_https(eurusd(), stranger.leaf().server_config()).await;
    let env = [
        (
            "SSL_CERT_FILE",
            trusted.write(dir.path()).display().to_string(),
        ),
        ("MARKET_DATA_SERVICE_URL", market.url.clone()),
    ];
    let gw = GatewayProcess::start_in(program(), "untrusted", dir.path(), &env).await;
    let admin = gateway::auth::mint(SECRET, "ops", true, None, Duration::from_secs(600));
    let client = reqwest::Client::new();
    let error = eventually_async(WAIT, "the certificate error in /api/plugins", || async {
        let body: Value = client
            .get(format!("{}/api/plugins", gw.url))
            .bearer_auth(&admin)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let plugin = body["plugins"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "http-prices")?
            .clone();
        plugin["lastError"]["message"].as_str().map(str::to_owned)
    })
    .await;
    assert!(
        error.contains("certificate") && error.contains("UnknownIssuer"),
        "the error names the certificate problem: {error}"
    );
    assert!(gw.logged("UnknownIssuer"), "and the log says so too");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_removed_from_the_jwks_stops_being_trusted_within_its_max_age() {
    let ca = TestCa::new("gateway test CA");
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (IdpKey::new("old"), IdpKey::new("new"));
    let jwks = jwks_server(vec![old.jwk()], Some(ca.leaf().server_config())).await;
    let env = [
        ("SSL_CERT_FILE", ca.write(dir.path()).display().to_string()),
        ("JWT_ALGORITHM", "ES256".to_owned()),
        ("JWKS_URL", format!("{}/jwks", jwks.url)),
    ];
    let gw = GatewayProcess::start_in(program(), "rotation", dir.path(), &env).await;
    let connect = |token: String| {
        let url = gw.url.clone();
        async move { sio::connect(&url, sio::Options::token(&token)).await }
    };
    assert!(connect(old.token("alice", false)).await.is_ok());

    *jwks.state.lock() = vec![new.jwk()];
    // The set says max-age=1, which the gateway raises to its floor of 5 s.
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let refused = eventually_async(
        Duration::from_secs(20),
        "the old key to be refused",
        || async {
            // A user of its own per attempt: sockets still open do not count.
            let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match connect(old.token(&format!("user-{n}"), false)).await {
                Err(ConnectError::Refused(m)) => Some(m),
                _ => None,
            }
        },
    )
    .await;
    assert!(refused.starts_with("AUTH_INVALID"), "{refused}");
    assert!(
        connect(new.token("alice", false)).await.is_ok(),
        "the new key is trusted"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_works_over_a_redis_that_speaks_only_tls() {
    let ca = TestCa::new("gateway test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.leaf().write(dir.path(), "redis");
    let ca_file = ca.write(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = tokio::process::Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .arg("--tls-ca-cert-file")
        .arg(&ca_file)
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs");
    let env = [
        ("SSL_CERT_FILE", ca_file.display().to_string()),
        ("REDIS_URL", format!("rediss://localhost:{port}")),
        ("REDIS_PREFIX", gateway_tests::cluster::prefix("rediss")),
    ];
    eventually_async(WAIT, "redis-server to listen", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    let gw = GatewayProcess::start_in(program(), "rediss", dir.path(), &env).await;
    let mut alice = gw.connect("alice").await;
    alice
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert!(
        alice.next("price:update", WAIT).await.is_some(),
        "ticks travel through the TLS Redis to the socket"
    );
    gw.stop().await;
    redis.kill().await.unwrap();
}
