//! The gateway end to end from a Rust Socket.IO client: the real host with
//! its embedded default plugins on a random port, fake upstreams as real
//! HTTP servers. (The whole contract is also checked from the real
//! `socket.io-client@4` in `node_contract.rs`.)

use std::time::Duration;

use gateway_tests::eventually;
use gateway_tests::server::{TestGateway, plugin_config};
use gateway_tests::sio::{self, ConnectError, Incoming, Options};
use gateway_tests::upstream::{self, MarketMode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

async fn get_json(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn prices_flow_from_the_simulated_source_to_subscribers_only() {
    let gw = TestGateway::start(|_| {}).await;
    let mut alice = gw.connect("alice").await;
    let greeting = alice.next("connected", WAIT).await.unwrap();
    assert_eq!(greeting["userId"], "alice");
    assert_eq!(greeting["socketId"], alice.sid.as_str());
    let ack = alice
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(ack["symbols"], json!(["EURUSD"]));
    let update = alice.next("price:update", WAIT).await.unwrap();
    assert_eq!(update["symbol"], "EURUSD");
    assert!(update["bid"].as_f64().unwrap() < update["ask"].as_f64().unwrap());
    for m in alice.drain(Duration::from_millis(300)).await {
        if let Incoming::Event(name, data) = m
            && name == "price:update"
        {
            assert_eq!(data["symbol"], "EURUSD", "only subscribed symbols arrive");
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_caps_updates_per_symbol_and_only_for_who_asked() {
    // Simulated ticks every 50 ms; one socket asks for at most 2 per second.
    let gw = TestGateway::start(|_| {}).await;
    let mut paced = gw.connect("paced").await;
    let mut every = gw.connect("every").await;
    let ack = paced
        .emit_ack(
            "subscribe:prices",
            &json!({ "symbols": ["EURUSD"], "maxRate": 2 }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    every
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    let window = Duration::from_secs(3);
    let (paced_got, every_got) = tokio::join!(paced.drain(window), every.drain(window));
    let stamps = |got: &[Incoming]| -> Vec<u64> {
        got.iter()
            .filter_map(|m| match m {
                Incoming::Event(e, t) if e == "price:update" => t["timestamp"].as_u64(),
                _ => None,
            })
            .collect()
    };
    let (paced_stamps, every_stamps) = (stamps(&paced_got), stamps(&every_got));
    assert!(
        (3..=7).contains(&paced_stamps.len()),
        "about 2 a second for 3 s: {paced_stamps:?}"
    );
    assert!(
        every_stamps.len() > 20,
        "the other socket gets every tick: {}",
        every_stamps.len()
    );
    for pair in paced_stamps.windows(2) {
        assert!(pair[1] >= pair[0] + 400, "too close: {paced_stamps:?}");
    }
    let bad = paced
        .emit_ack(
            "subscribe:prices",
            &json!({ "symbols": ["EURUSD"], "maxRate": 0 }),
        )
        .await;
    assert_eq!(bad["error"]["code"], "INVALID_PAYLOAD", "{bad}");
    gw.stop().await;
}

#[tokio::test]
async fn connection_caps_refuse_with_their_codes() {
    let gw = TestGateway::start(|c| {
        c.max_websocket_connections = 3;
        c.max_connections_per_user = 2;
    })
    .await;
    let _a1 = gw.connect("a").await;
    let _a2 = gw.connect("a").await;
    let refused = sio::connect(&gw.url, Options::token(&gw.token("a")))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&refused, ConnectError::Refused(m) if m.starts_with("TOO_MANY_CONNECTIONS: ")),
        "{refused:?}"
    );
    let _b = gw.connect("b").await;
    let full = sio::connect(&gw.url, Options::token(&gw.token("c")))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&full, ConnectError::Refused(m) if m.starts_with("SERVER_FULL: ")),
        "{full:?}"
    );
    let missing = sio::connect(&gw.url, Options::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&missing, ConnectError::Refused(m) if m.starts_with("AUTH_MISSING: ")),
        "{missing:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn tokens_are_read_from_header_and_query_too() {
    let gw = TestGateway::start(|_| {}).await;
    let t = gw.token("hdr");
    let header = Options {
        headers: vec![("authorization".into(), format!("Bearer {t}"))],
        ..Options::default()
    };
    sio::connect(&gw.url, header).await.unwrap();
    let query = Options {
        query: vec![("token".into(), gw.token("qry"))],
        ..Options::default()
    };
    sio::connect(&gw.url, query).await.unwrap();
    gw.stop().await;
}

#[tokio::test]
async fn odd_payloads_change_nothing_and_the_socket_keeps_answering() {
    let gw = TestGateway::start(|_| {}).await;
    let c = gw.connect("odd").await;
    for odd in [
        "2[\"subscribe:prices\"]",
        "2[\"subscribe:prices\",null]",
        "2[\"subscribe:prices\",\"EURUSD\",{\"symbols\":[\"EURUSD\"]}]",
        "2[\"subscribe:prices\",{\"symbols\":[[[[[]]]]]}]",
        "2[\"subscribe:prices\",{\"symbols\":[\"EURUSD\",7]}]",
        "2[\"no:such:event\",{}]",
    ] {
        c.emit_raw(odd);
    }
    let bad = c
        .emit_ack("subscribe:prices", &json!({ "symbols": "EURUSD" }))
        .await;
    assert_eq!(bad["error"]["code"], "INVALID_PAYLOAD");
    let ok = c
        .emit_ack("subscribe:prices", &json!({ "symbols": ["GBPUSD"] }))
        .await;
    assert_eq!(
        ok["symbols"],
        json!(["GBPUSD"]),
        "the refused attempts changed nothing"
    );
    gw.stop().await;
}

#[tokio::test]
async fn protocol_garbage_closes_only_that_connection() {
    // Like socket.io itself, a packet that does not parse ends that
    // connection; the server and everyone else carry on.
    let gw = TestGateway::start(|_| {}).await;
    let mut bystander = gw.connect("bystander").await;
    for junk in [
        "2[\"subscribe:prices\"",
        "2{\"not\":\"an array\"}",
        "2\u{0}\u{1}",
        "9",
        "2[42]",
    ] {
        let c = gw.connect("junk").await;
        c.emit_raw(junk);
        // Either answer is fine for the sender; what matters is below.
        let _ = c
            .try_emit_ack("unsubscribe:events", &Value::Null, Duration::from_secs(2))
            .await;
        c.close();
    }
    let fresh = gw.connect("fresh").await;
    let ack = fresh
        .try_emit_ack("unsubscribe:events", &Value::Null, WAIT)
        .await;
    assert_eq!(ack.map(|a| a["ok"].clone()), Some(json!(true)));
    let ack = bystander
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true);
    assert!(bystander.next("price:update", WAIT).await.is_some());
    let (status, _) = get_json(&format!("{}/health", gw.url), None).await;
    assert_eq!(status, 200);
    gw.stop().await;
}

fn order(id: &str, user: &str) -> Value {
    json!({ "orderId": id, "type": "ORDER_CREATED", "symbol": "EURUSD", "userId": user,
            "side": "BUY", "quantity": 1000.0, "timestamp": gateway::time::now_ms(), "venue": "X" })
}

#[tokio::test]
async fn orders_reach_only_their_users_and_the_cursor_survives_a_restart() {
    let trading = upstream::trading().await;
    let url = trading.url.clone();
    let start = |tmp| {
        let url = url.clone();
        TestGateway::start_in(tmp, move |c| {
            c.trading_service_url = Some(url);
            plugin_config(c, "order-poller", "interval_ms", "50");
        })
    };
    let gw = start(tempfile::tempdir().unwrap()).await;
    let mut alice = gw.connect("alice").await;
    let mut bob = gw.connect("bob").await;
    alice.emit_ack("subscribe:orders", &json!({})).await;
    bob.emit_ack("subscribe:orders", &Value::Null).await;
    trading
        .state
        .push("orders", &[order("o1", "alice"), order("o2", "bob")]);
    let a = alice.next("order:notification", WAIT).await.unwrap();
    assert_eq!(
        (a["orderId"].as_str(), a["venue"].as_str()),
        (Some("o1"), Some("X"))
    );
    let b = bob.next("order:notification", WAIT).await.unwrap();
    assert_eq!(b["orderId"], "o2");
    let leaked: Vec<_> = alice.drain(Duration::from_millis(300)).await;
    assert!(
        !leaked
            .iter()
            .any(|m| matches!(m, Incoming::Event(n, _) if n == "order:notification")),
        "{leaked:?}"
    );

    let tmp = gw.stop().await;
    let gw = start(tmp).await;
    let mut alice = gw.connect("alice").await;
    alice.emit_ack("subscribe:orders", &json!({})).await;
    trading.state.push("orders", &[order("o3", "alice")]);
    let next = alice.next("order:notification", WAIT).await.unwrap();
    assert_eq!(
        next["orderId"], "o3",
        "o1 was not replayed after the restart"
    );
    let sinces = trading.state.requests();
    assert_eq!(sinces[0], None, "the very first poll has no cursor");
    let after_restart: Vec<_> = sinces.iter().skip_while(|s| s.is_none()).collect();
    assert!(
        after_restart.iter().all(|s| s.is_some()),
        "every later poll, across the restart, sends its cursor: {sinces:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_broken_price_upstream_is_survived_and_reported() {
    let tick = json!({ "symbol": "EURUSD", "bid": 1.1, "ask": 1.1002 });
    let market = upstream::market(MarketMode::Garbage).await;
    let url = market.url.clone();
    let gw = TestGateway::start(move |c| {
        c.market_data_service_url = Some(url);
        plugin_config(c, "http-prices", "interval_ms", "50");
        plugin_config(c, "http-prices", "symbols", "EURUSD");
    })
    .await;
    let admin = gw.admin_token();
    let plugins_url = format!("{}/api/plugins", gw.url);
    let mut reported = None;
    for _ in 0..100 {
        let (_, body) = get_json(&plugins_url, Some(&admin)).await;
        let p = body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "http-prices")
            .cloned()
            .unwrap();
        if p["errors"].as_u64().unwrap_or(0) > 0 {
            reported = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let p = reported.expect("errors reported in /api/plugins");
    assert!(
        p["lastError"]["message"].as_str().unwrap().contains("JSON"),
        "{p}"
    );
    *market.state.lock() = MarketMode::Prices(vec![tick]);
    let mut c = gw.connect("watcher").await;
    c.emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    let update = c
        .next("price:update", Duration::from_secs(40))
        .await
        .expect("ticks flow once the upstream recovers");
    assert_eq!(update["bid"], 1.1);
    gw.stop().await;
}

#[tokio::test]
async fn chat_answers_with_the_cached_numbers_to_the_asker_only() {
    let gw = TestGateway::start(|c| plugin_config(c, "sim-prices", "interval_ms", "600000")).await;
    let market = gw.running.gateway.delivery.market().clone();
    let tick = eventually(WAIT, "a first tick", || market.latest("USDJPY")).await;
    let mut asker = gw.connect("asker").await;
    let mut other = gw.connect("other").await;
    let ack = asker
        .emit_ack(
            "chat:message",
            &json!({ "message": "What is the price of USDJPY?", "id": "q1" }),
        )
        .await;
    assert_eq!(ack["ok"], true);
    let reply = asker.next("chat:message", WAIT).await.unwrap();
    assert_eq!(reply["id"], ack["id"]);
    assert_eq!(reply["replyTo"], "q1");
    assert_eq!(reply["type"], "ai");
    let text = reply["message"].as_str().unwrap();
    assert!(text.contains("USDJPY"), "{text}");
    assert!(
        text.contains(&format!("{:.3}", tick.bid)),
        "bid {} in {text}",
        tick.bid
    );
    assert!(
        text.contains(&format!("{:.3}", tick.ask)),
        "ask {} in {text}",
        tick.ask
    );
    let leaked = other.drain(Duration::from_millis(300)).await;
    assert!(
        !leaked
            .iter()
            .any(|m| matches!(m, Incoming::Event(n, _) if n.starts_with("chat:"))),
        "{leaked:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn shutdown_turns_health_503_refuses_and_disconnects() {
    let gw = TestGateway::start(|_| {}).await;
    let mut c = gw.connect("stay").await;
    gw.running.gateway.begin_shutdown();
    let (status, body) = get_json(&format!("{}/health", gw.url), None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("shutting_down"))
    );
    let refused = sio::connect(&gw.url, Options::token(&gw.token("late")))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&refused, ConnectError::Refused(m) if m.starts_with("SERVER_SHUTTING_DOWN")),
        "{refused:?}"
    );
    let url = gw.url.clone();
    gw.stop().await;
    assert!(
        c.disconnected(WAIT).await,
        "connected sockets get a disconnect"
    );
    assert!(
        reqwest::get(format!("{url}/health")).await.is_err(),
        "the server stopped"
    );
}

#[tokio::test]
async fn events_respect_targets_and_the_admin_api_its_roles() {
    let gw = TestGateway::start(|c| c.service_token = Some("svc".into())).await;
    let mut alice = gw.connect("alice").await;
    let mut bob = gw.connect("bob").await;
    for c in [&alice, &bob] {
        let ack = c
            .emit_ack(
                "subscribe:events",
                &json!({ "eventTypes": ["MARGIN_CALL"] }),
            )
            .await;
        assert_eq!(ack["ok"], true);
    }
    let client = reqwest::Client::new();
    let post = |token: Option<String>, body: Value| {
        let mut req = client.post(format!("{}/api/events", gw.url)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let ev = json!({ "type": "MARGIN_CALL", "title": "Margin", "message": "top up", "severity": "critical", "targetUserIds": ["bob"] });
    assert_eq!(post(None, ev.clone()).await.unwrap().status(), 401);
    assert_eq!(
        post(Some(gw.token("alice")), ev.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    let accepted = post(Some("svc".into()), ev).await.unwrap();
    assert_eq!(accepted.status(), 202);
    let id = accepted.json::<Value>().await.unwrap()["id"].clone();
    let got = bob.next("event:notification", WAIT).await.unwrap();
    assert_eq!(
        (got["id"].clone(), got["severity"].clone()),
        (id, json!("critical"))
    );
    assert!(
        got.get("targetUserIds").is_none(),
        "targets are not disclosed"
    );
    let leaked = alice.drain(Duration::from_millis(300)).await;
    assert!(
        !leaked
            .iter()
            .any(|m| matches!(m, Incoming::Event(n, _) if n == "event:notification")),
        "{leaked:?}"
    );

    let (s, body) = get_json(&format!("{}/api/connections", gw.url), None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (s, body) = get_json(
        &format!("{}/api/connections", gw.url),
        Some(&gw.token("alice")),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let (s, body) = get_json(
        &format!("{}/api/connections", gw.url),
        Some(&gw.admin_token()),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["count"], 2);
    let subs = &body["connections"][0]["subscriptions"];
    assert_eq!(subs["eventTypes"], json!(["MARGIN_CALL"]));
    gw.stop().await;
}

#[tokio::test]
async fn missed_orders_are_replayed_in_order_after_a_reconnect() {
    let trading = upstream::trading().await;
    let url = trading.url.clone();
    let gw = TestGateway::start(move |c| {
        c.trading_service_url = Some(url);
        plugin_config(c, "order-poller", "interval_ms", "50");
    })
    .await;
    let mut first = gw.connect("carol").await;
    let ack = first.emit_ack("subscribe:orders", &json!({})).await;
    assert_eq!(ack["latestSeq"], 0);
    trading
        .state
        .push("orders", &[order("o1", "carol"), order("o2", "carol")]);
    for (id, seq) in [("o1", 1), ("o2", 2)] {
        let n = first.next("order:notification", WAIT).await.unwrap();
        assert_eq!(
            (n["orderId"].as_str(), n["seq"].as_u64()),
            (Some(id), Some(seq))
        );
    }
    first.close();
    assert!(first.disconnected(WAIT).await);
    trading
        .state
        .push("orders", &[order("o3", "carol"), order("o4", "carol")]);
    // Let the poller deliver o3 and o4 to nobody.
    let market = gw.running.gateway.clone();
    eventually(WAIT, "o3 and o4 to be polled", || {
        let slot = market.plugins.registry().get("order-poller")?;
        (trading.state.requests().len() > 4 && slot.calls() > 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resume = Options {
        auth: Some(json!({ "token": gw.token("carol"), "lastOrderSeq": 2 })),
        ..Options::default()
    };
    let mut again = sio::connect(&gw.url, resume).await.unwrap();
    for (id, seq) in [("o3", 3), ("o4", 4)] {
        let n = again.next("order:notification", WAIT).await.unwrap();
        assert_eq!(
            (n["orderId"].as_str(), n["seq"].as_u64()),
            (Some(id), Some(seq))
        );
    }
    let ack = again
        .emit_ack("orders:replay", &json!({ "since": 0 }))
        .await;
    assert_eq!(
        (
            ack["replayed"].as_u64(),
            ack["latestSeq"].as_u64(),
            ack["truncated"].as_bool()
        ),
        (Some(4), Some(4), Some(false))
    );
    let mut seqs = Vec::new();
    for _ in 0..4 {
        seqs.push(
            again.next("order:notification", WAIT).await.unwrap()["seq"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(seqs, [1, 2, 3, 4]);
    let bad = Options {
        auth: Some(json!({ "token": gw.token("carol"), "lastOrderSeq": "two" })),
        ..Options::default()
    };
    let refused = sio::connect(&gw.url, bad).await.err().unwrap();
    assert!(
        matches!(&refused, ConnectError::Refused(m) if m.starts_with("INVALID_PAYLOAD")),
        "{refused:?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn events_polled_from_the_event_service_reach_subscribers_once() {
    let feed = upstream::events().await;
    let url = feed.url.clone();
    let gw = TestGateway::start(move |c| {
        c.event_service_url = Some(url);
        plugin_config(c, "event-filter", "interval_ms", "50");
    })
    .await;
    let mut dave = gw.connect("dave").await;
    dave.emit_ack(
        "subscribe:events",
        &json!({ "eventTypes": ["MARKET_HALT"] }),
    )
    .await;
    let halt = json!({ "id": "ev-1", "type": "MARKET_HALT", "title": "Halt", "message": "EURUSD halted",
                       "severity": "high", "timestamp": gateway::time::now_ms() });
    feed.state.push("events", std::slice::from_ref(&halt));
    let got = dave
        .next("event:notification", WAIT)
        .await
        .expect("the polled event arrives");
    assert_eq!(
        (got["id"].as_str(), got["type"].as_str()),
        (Some("ev-1"), Some("MARKET_HALT"))
    );
    // The same event again (an upstream replaying around its cursor) is not redelivered.
    feed.state.push("events", &[halt]);
    let again = dave.drain(Duration::from_millis(800)).await;
    assert!(
        !again
            .iter()
            .any(|m| matches!(m, Incoming::Event(n, _) if n == "event:notification")),
        "{again:?}"
    );
    assert!(
        feed.state.requests().iter().skip(1).any(Option::is_some),
        "later polls send the cursor"
    );
    gw.stop().await;
}

#[tokio::test]
async fn cors_allows_the_configured_frontend_only() {
    let gw = TestGateway::start(|c| c.frontend_url = "http://app.test".into()).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{}/api/status", gw.url))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let ok = preflight("http://app.test").await.unwrap();
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("http://app.test")
    );
    let other = preflight("http://evil.test").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_emitted_the_moment_the_connect_arrives_is_answered() {
    // socket.io-client sends its buffered emits as soon as it sees the
    // CONNECT packet; so does this client. Many at once, so that the
    // server's connect handler task runs late for some of them.
    let gw = TestGateway::start(|_| {}).await;
    let clients = (0..100).map(|i| {
        let (url, token) = (gw.url.clone(), gw.token(&format!("user-{i}")));
        tokio::spawn(async move {
            let client = sio::connect(&url, Options::token(&token)).await.unwrap();
            client
                .try_emit_ack("subscribe:orders", &json!({}), WAIT)
                .await
        })
    });
    for (i, client) in clients.collect::<Vec<_>>().into_iter().enumerate() {
        let ack = client.await.unwrap();
        assert_eq!(
            ack.as_ref().map(|a| a["ok"].clone()),
            Some(json!(true)),
            "user-{i}: {ack:?}"
        );
    }
}
