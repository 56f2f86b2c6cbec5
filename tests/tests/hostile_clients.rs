//! Hostile clients against a running gateway: a JWT attack suite, the
//! event API authenticating before it reads a body, transport limits
//! (message size, sessions that never CONNECT, the TCP connection cap),
//! `auth:refresh` asking the user service again, the per-user chat cap,
//! Socket.IO packets generated at random, and logs at trace level that
//! carry no token, secret or key.
//!
//! `tests/fixtures/jwt-rs256-test.{key,pub}` is an RSA key made for these
//! tests only.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use gateway_tests::idp::{IdpKey, jwks_server};
use gateway_tests::process::GatewayProcess;
use gateway_tests::server::{SECRET, TestGateway, plugin_config};
use gateway_tests::sio::{self, ConnectError, WAIT};
use gateway_tests::upstream;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn now() -> u64 {
    gateway::time::now_ms() / 1000
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn hs(alg: Algorithm, secret: &[u8], claims: &Value) -> String {
    sign(alg, &EncodingKey::from_secret(secret), claims)
}

/// `header.claims.` with no signature.
fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", part(header), part(claims))
}

/// The code a connection attempt with `token` is refused with, or `OK`.
async fn outcome(url: &str, token: &str) -> String {
    match sio::connect(url, sio::Options::token(token)).await {
        Ok(_) => "OK".into(),
        Err(ConnectError::Refused(m)) => m.split(':').next().unwrap_or_default().to_owned(),
        Err(e) => panic!("transport failure instead of an answer: {e:?}"),
    }
}

/// Runs every `(what, token, expected code)` and reports all mismatches.
async fn expect_outcomes(url: &str, cases: Vec<(&str, String, &str)>) {
    let mut wrong = Vec::new();
    for (what, token, expected) in cases {
        let got = outcome(url, &token).await;
        if got != expected {
            wrong.push(format!("{what}: expected {expected}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_attacks_on_an_hs256_gateway_are_refused() {
    let gw = TestGateway::start(|c| {
        c.jwt_issuer = Some("https://idp.test".into());
        c.jwt_audience = Some("gateway".into());
    })
    .await;
    let s = SECRET.as_bytes();
    let (iss, aud) = ("https://idp.test", "gateway");
    let good = json!({ "sub": "alice", "exp": now() + 3600, "iss": iss, "aud": aud });
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let hs256 = |claims: Value| hs(Algorithm::HS256, s, &claims);
    let cases = vec![
        ("a valid token", hs256(good.clone()), "OK"),
        (
            "alg none",
            unsigned(&json!({ "alg": "none", "typ": "JWT" }), &good),
            "AUTH_INVALID",
        ),
        (
            "alg None",
            unsigned(&json!({ "alg": "None" }), &good),
            "AUTH_INVALID",
        ),
        (
            "HS384 with the secret",
            hs(Algorithm::HS384, s, &good),
            "AUTH_INVALID",
        ),
        (
            "HS512 with the secret",
            hs(Algorithm::HS512, s, &good),
            "AUTH_INVALID",
        ),
        (
            "another secret",
            hs(Algorithm::HS256, b"guess", &good),
            "AUTH_INVALID",
        ),
        (
            "expired",
            hs256(with(json!({ "exp": now() - 3600 }))),
            "AUTH_EXPIRED",
        ),
        (
            "not valid yet",
            hs256(with(json!({ "nbf": now() + 600 }))),
            "AUTH_INVALID",
        ),
        (
            "no exp",
            hs256(with(json!({ "exp": null }))),
            "AUTH_INVALID",
        ),
        (
            "no sub",
            hs256(with(json!({ "sub": null }))),
            "AUTH_INVALID",
        ),
        (
            "no iss",
            hs256(with(json!({ "iss": null }))),
            "AUTH_INVALID",
        ),
        (
            "no aud",
            hs256(with(json!({ "aud": null }))),
            "AUTH_INVALID",
        ),
        (
            "another iss",
            hs256(with(json!({ "iss": "https://evil.test" }))),
            "AUTH_INVALID",
        ),
        (
            "another aud",
            hs256(with(json!({ "aud": "other" }))),
            "AUTH_INVALID",
        ),
        (
            "a numeric sub",
            hs256(with(json!({ "sub": 123 }))),
            "AUTH_INVALID",
        ),
        (
            "an object sub",
            hs256(with(json!({ "sub": { "id": "a" } }))),
            "AUTH_INVALID",
        ),
        (
            "sub ..",
            hs256(with(json!({ "sub": ".." }))),
            "AUTH_INVALID",
        ),
        (
            "an empty sub",
            hs256(with(json!({ "sub": " " }))),
            "AUTH_INVALID",
        ),
        (
            "a string exp",
            hs256(with(json!({ "exp": "soon" }))),
            "AUTH_INVALID",
        ),
        (
            "an absurd exp",
            hs256(with(json!({ "exp": u64::MAX }))),
            "OK",
        ),
        (
            "an oversized token",
            hs256(with(json!({ "name": "x".repeat(10_000) }))),
            "AUTH_INVALID",
        ),
        ("garbage", "a.b.c".into(), "AUTH_INVALID"),
        ("not a JWT", "hello".into(), "AUTH_INVALID"),
        ("an empty token", String::new(), "AUTH_MISSING"),
    ];
    expect_outcomes(&gw.url, cases).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_attacks_on_an_rs256_gateway_are_refused() {
    let gw = TestGateway::start(|c| {
        c.jwt_algorithm = gateway::config::JwtAlgorithm::RS256;
        c.jwt_public_key_file = Some(fixture("jwt-rs256-test.pub"));
    })
    .await;
    let private = std::fs::read(fixture("jwt-rs256-test.key")).unwrap();
    let public = std::fs::read(fixture("jwt-rs256-test.pub")).unwrap();
    let claims = json!({ "sub": "alice", "exp": now() + 3600 });
    let rs256 = sign(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(&private).unwrap(),
        &claims,
    );
    let cases = vec![
        ("a valid RS256 token", rs256, "OK"),
        (
            "HS256 signed with the RS256 public key",
            hs(Algorithm::HS256, &public, &claims),
            "AUTH_INVALID",
        ),
        (
            "HS256 signed with the test secret",
            hs(Algorithm::HS256, SECRET.as_bytes(), &claims),
            "AUTH_INVALID",
        ),
        (
            "alg none",
            unsigned(&json!({ "alg": "none" }), &claims),
            "AUTH_INVALID",
        ),
    ];
    expect_outcomes(&gw.url, cases).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_attacks_on_a_jwks_gateway_are_refused() {
    let (known, stranger) = (IdpKey::new("known"), IdpKey::new("stranger"));
    let jwks = jwks_server(vec![known.jwk()], None).await;
    let jwks_url = format!("{}/jwks", jwks.url);
    let gw = TestGateway::start(|c| {
        c.jwt_algorithm = gateway::config::JwtAlgorithm::ES256;
        c.jwks_url = Some(jwks_url);
    })
    .await;
    let claims = json!({ "sub": "alice", "exp": now() + 3600 });
    let mut no_kid = known.token("alice", false);
    no_kid = {
        let mut parts = no_kid.splitn(2, '.');
        let (_, rest) = (parts.next(), parts.next().unwrap());
        format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256" }).to_string())
        )
    };
    let cases = vec![
        ("a key in the set", known.token("alice", false), "OK"),
        (
            "a kid not in the set",
            stranger.token("alice", false),
            "AUTH_INVALID",
        ),
        ("no kid", no_kid, "AUTH_INVALID"),
        (
            "HS256 with the key id of a set key",
            {
                let mut h = Header::new(Algorithm::HS256);
                h.kid = Some("known".into());
                jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(b"known")).unwrap()
            },
            "AUTH_INVALID",
        ),
    ];
    expect_outcomes(&gw.url, cases).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_api_authenticates_before_it_reads_the_body() {
    let gw = TestGateway::start(|c| c.service_token = Some("svc-token".into())).await;
    let addr = gw.running.addr;
    // Headers promising a body that never comes: the answer must not wait
    // for it.
    let answer = |auth: &'static str, length: usize| async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/events HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let refused = answer("wrong-token", 1_000_000).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(answer("", 1_000_000).await.starts_with("HTTP/1.1 401"));
    // Authenticated, but declaring more than the API reads: 413, unread.
    let huge = answer("svc-token", 3 << 20).await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");

    let client = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        client
            .post(format!("{}/api/events", gw.url))
            .bearer_auth("svc-token")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let bad = post(b"{not json".to_vec()).await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_PAYLOAD");
    let ok = post(
        json!({ "type": "MARKET_HALT", "title": "Halt", "message": "m", "severity": "low" })
            .to_string()
            .into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 202);
    gw.stop().await;
}

/// A user service whose refused users a test can change.
async fn user_service() -> upstream::Fake<Mutex<HashSet<String>>> {
    let state: Arc<Mutex<HashSet<String>>> = Arc::default();
    let router =
        Router::new()
            .route(
                "/users/{id}",
                get(
                    |State(off): State<Arc<Mutex<HashSet<String>>>>,
                     UrlPath(id): UrlPath<String>| async move {
                        if off.lock().contains(&id) {
                            StatusCode::FORBIDDEN
                        } else {
                            StatusCode::OK
                        }
                    },
                ),
            )
            .with_state(state.clone());
    upstream::serve(state, router).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_the_user_service_disabled_cannot_refresh() {
    let users = user_service().await;
    let url = users.url.clone();
    let gw = TestGateway::start(|c| {
        c.user_service_url = Some(url);
        c.user_service_cache_secs = 0;
    })
    .await;
    let alice = gw.connect("alice").await;
    let ack = alice
        .emit_ack("auth:refresh", &json!({ "token": gw.token("alice") }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    users.state.lock().insert("alice".into());
    let ack = alice
        .emit_ack("auth:refresh", &json!({ "token": gw.token("alice") }))
        .await;
    assert_eq!(ack["error"]["code"], "USER_REJECTED", "{ack}");
    gw.stop().await;
}

/// An OpenAI-compatible endpoint that takes `delay` to answer.
async fn slow_llm(delay: Duration) -> upstream::Fake<()> {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            tokio::time::sleep(delay).await;
            Json(json!({ "choices": [{ "message": { "content": "slow answer" } }] }))
        }),
    );
    upstream::serve(Arc::new(()), router).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_queue_up_the_chat_responder() {
    let llm = slow_llm(Duration::from_millis(1500)).await;
    let (host, url) = (
        llm.url.trim_start_matches("http://").to_owned(),
        llm.url.clone(),
    );
    let gw = TestGateway::start(|c| {
        c.chat_max_pending_per_user = 1;
        plugin_config(c, "chat-assistant", "llm_url", &format!("{url}/v1"));
        c.plugins
            .entry("chat-assistant".into())
            .or_default()
            .allowed_hosts = Some(vec![host]);
    })
    .await;
    let mut alice = gw.connect("alice").await;
    let bob = gw.connect("bob").await;
    let ask = json!({ "message": "EURUSD?" });
    assert_eq!(alice.emit_ack("chat:message", &ask).await["ok"], true);
    let busy = alice.emit_ack("chat:message", &ask).await;
    assert_eq!(busy["error"]["code"], "CHAT_BUSY", "{busy}");
    assert_eq!(
        bob.emit_ack("chat:message", &ask).await["ok"],
        true,
        "other users are not held back"
    );
    let reply = alice.next("chat:message", WAIT).await.expect("answered");
    assert_eq!(reply["message"], "slow answer");
    assert_eq!(
        alice.emit_ack("chat:message", &ask).await["ok"],
        true,
        "answered, the user may ask again"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_the_transport_limit_close_the_connection() {
    let gw = TestGateway::start(|_| {}).await;
    let mut alice = gw.connect("alice").await;
    let mut bob = gw.connect("bob").await;
    // Over the contract's 16 KiB but within the transport's 64 KiB: a
    // contract error, and the socket stays.
    let big = json!({ "message": "x".repeat(20_000) });
    let ack = alice.emit_ack("chat:message", &big).await;
    assert_eq!(ack["error"]["code"], "INVALID_PAYLOAD", "{ack}");
    let ack = alice
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true);
    // Over 64 KiB: not read at all; the connection closes.
    alice.emit_raw(&format!(
        "2[\"chat:message\",{{\"message\":\"{}\"}}]",
        "x".repeat(100_000)
    ));
    assert!(alice.disconnected(WAIT).await, "closed");
    bob.emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert!(
        bob.next("price:update", WAIT).await.is_some(),
        "others unaffected"
    );

    // The same limit for a long-polling request body.
    let http = reqwest::Client::new();
    let base = format!("{}/socket.io/?EIO=4&transport=polling", gw.url);
    let open = http.get(&base).send().await.unwrap().text().await.unwrap();
    let sid: Value = serde_json::from_str(open.trim_start_matches('0')).unwrap();
    let posted = http
        .post(format!("{base}&sid={}", sid["sid"].as_str().unwrap()))
        .body(format!("42[\"x\",\"{}\"]", "y".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert!(!posted.status().is_success(), "{}", posted.status());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_never_connects_is_closed() {
    let gw = TestGateway::start(|_| {}).await;
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        gw.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'));
    let started = Instant::now();
    // No CONNECT: the session is closed (the bound is the 10 s timeout
    // plus slack, well under socketioxide's default of 45 s).
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after {:?}", started.elapsed());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_tcp_cap_are_closed_at_once() {
    let gw = TestGateway::start(|c| c.max_tcp_connections = 8).await;
    let addr = gw.running.addr;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the gateway accept them all before the one over the cap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), over.read(&mut byte))
        .await
        .expect("closed at once, not left waiting");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    held.truncate(4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = reqwest::get(format!("{}/health", gw.url)).await.unwrap();
    assert_eq!(health.status(), 200, "freed slots serve again");
    drop(held);
    gw.stop().await;
}

/// Every error code of the contract.
const CODES: &[&str] = &[
    "AUTH_MISSING",
    "AUTH_INVALID",
    "AUTH_EXPIRED",
    "USER_REJECTED",
    "TOO_MANY_CONNECTIONS",
    "SERVER_FULL",
    "SERVER_SHUTTING_DOWN",
    "INVALID_PAYLOAD",
    "UNKNOWN_EVENT",
    "LIMIT_EXCEEDED",
    "RATE_LIMITED",
    "CHAT_UNAVAILABLE",
    "CHAT_BUSY",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        "[A-Z0-9._:-]{0,36}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        let key = prop_oneof![
            Just("symbols".to_owned()),
            Just("eventTypes".to_owned()),
            Just("message".to_owned()),
            Just("context".to_owned()),
            Just("currentSymbol".to_owned()),
            Just("token".to_owned()),
            Just("since".to_owned()),
            Just("id".to_owned()),
            "[a-zA-Z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "subscribe:prices",
            "unsubscribe:prices",
            "subscribe:orders",
            "unsubscribe:orders",
            "orders:replay",
            "chat:message",
            "subscribe:events",
            "unsubscribe:events",
            "auth:refresh",
        ])
        .prop_map(str::to_owned),
        "[a-z:]{1,20}",
    ]
}

/// Raw text after the Engine.IO message type: any Socket.IO packet type,
/// then anything.
fn raw_packet() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-6][0-9]{0,3}[\\[\\]{}\",:a-z0-9 ]{0,80}",
        "2\\[\"[a-z:]{0,16}\"(,.{0,40})?\\]",
        ".{0,120}",
    ]
}

/// Cases drawn from `strategy` (`PROPTEST_CASES` sets how many).
fn draw<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy.new_tree(runner).unwrap().current()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_socket_io_packets_get_contract_answers_and_never_bring_it_down() {
    let env = [("MAX_MESSAGES_PER_MINUTE", "1000000".to_owned())];
    let gw = GatewayProcess::start(
        Path::new(env!("CARGO_BIN_EXE_gateway-node")),
        "fuzzed",
        &env,
    )
    .await;
    let mut runner = TestRunner::default();
    let cases = runner.config().cases;
    let events = (event_name(), json_value());
    let mut client = gw.connect("fuzz").await;
    let mut unanswered = Vec::new();
    let (mut refused, mut closed) = (0, 0);
    for _ in 0..cases {
        let (event, data) = draw(&mut runner, &events);
        let mut answer = client
            .try_emit_ack(&event, &data, Duration::from_secs(5))
            .await;
        if answer.is_none() && client.is_closed() {
            // Closed by the previous raw packet after all: ask again.
            closed += 1;
            client = gw.connect("fuzz").await;
            answer = client
                .try_emit_ack(&event, &data, Duration::from_secs(5))
                .await;
        }
        match answer {
            Some(ack) if ack["ok"] == true => {}
            Some(ack) => {
                let code = ack["error"]["code"].as_str().unwrap_or_default();
                assert!(CODES.contains(&code), "{event} {data}: {ack}");
                refused += 1;
            }
            None => unanswered.push(format!("{event} {data}")),
        }
        let raw = draw(&mut runner, &raw_packet());
        client.emit_raw(&raw);
        let probe = client
            .try_emit_ack(
                "unsubscribe:events",
                &json!({ "eventTypes": ["X"] }),
                Duration::from_secs(5),
            )
            .await;
        if probe.is_none() {
            // The raw packet broke the protocol and the server closed the
            // connection, as it should: reconnect.
            closed += 1;
            client = gw.connect("fuzz").await;
        }
    }
    assert!(unanswered.is_empty(), "no answer to: {unanswered:?}");
    eprintln!(
        "{cases} events ({refused} refused with a code), {cases} raw packets ({closed} closed the connection)"
    );
    let health = reqwest::get(format!("{}/health", gw.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(!gw.logged("panicked"), "a handler panicked");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_at_trace_level_carry_no_token_secret_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    // An LLM that cannot be reached, with a key in its URL and another in
    // its header: the failure is logged, the keys are not.
    std::fs::write(
        plugins.join("chat-assistant.toml"),
        "allowed_hosts = [\"127.0.0.1:9\"]\n[config]\n\
         llm_url = \"http://127.0.0.1:9/v1?key=LLM-URL-KEY-7c1\"\n\
         llm_api_key = \"LLM-API-KEY-9f2\"\n",
    )
    .unwrap();
    let env = [
        ("LOG_LEVEL", "trace".to_owned()),
        ("SERVICE_TOKEN", "SERVICE-TOKEN-4d8".to_owned()),
    ];
    let gw = GatewayProcess::start_in(
        Path::new(env!("CARGO_BIN_EXE_gateway-node")),
        "tracing",
        dir.path(),
        &env,
    )
    .await;
    let tokens = [gw.token("alice"), gw.token("bob"), gw.token("carol")];
    let mut alice = sio::connect(&gw.url, sio::Options::token(&tokens[0]))
        .await
        .unwrap();
    let by_query = sio::Options {
        query: vec![("token".into(), tokens[1].clone())],
        ..sio::Options::default()
    };
    let _bob = sio::connect(&gw.url, by_query).await.unwrap();
    let by_header = sio::Options {
        headers: vec![("authorization".into(), format!("Bearer {}", tokens[2]))],
        ..sio::Options::default()
    };
    let _carol = sio::connect(&gw.url, by_header).await.unwrap();
    let refreshed = gw.token("alice");
    alice
        .emit_ack("auth:refresh", &json!({ "token": refreshed }))
        .await;
    alice
        .emit_ack("chat:message", &json!({ "message": "EURUSD?" }))
        .await;
    alice
        .next("chat:message", WAIT)
        .await
        .expect("the fallback answer");
    let client = reqwest::Client::new();
    for bearer in ["SERVICE-TOKEN-4d8", tokens[0].as_str()] {
        client
            .post(format!("{}/api/events", gw.url))
            .bearer_auth(bearer)
            .json(
                &json!({ "type": "MARKET_HALT", "title": "t", "message": "m", "severity": "low" }),
            )
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gw.logged("\"TRACE\""), "trace logging is on");
    assert!(
        gw.logged("127.0.0.1:9/v1?…"),
        "the LLM failure is logged, its URL redacted"
    );
    let secrets = [
        SECRET,
        "SERVICE-TOKEN-4d8",
        "LLM-URL-KEY-7c1",
        "LLM-API-KEY-9f2",
        &tokens[0],
        &tokens[1],
        &tokens[2],
        &refreshed,
    ];
    for secret in secrets {
        // A token's signature alone is enough to leak it.
        let tail = &secret[secret.len().saturating_sub(16)..];
        assert!(!gw.logged(tail), "the log carries {secret}");
    }
    gw.stop().await;
}
