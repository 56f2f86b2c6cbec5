//! Nothing lost without the client knowing: a socket that cannot take an
//! order notification is cut off and closed (never a gap in what it
//! received), its client resumes with `auth.lastOrderSeq` and gets exactly
//! the rest; replays larger than the socket's buffer are paced; an expired
//! token cuts a congested socket off at once; a restart continues the
//! sequence and replays what the client missed while the gateway was down.
//! Long-polling clients that stop reading make the buffers full at will.

use std::time::{Duration, Instant};

use gateway_tests::eventually;
use gateway_tests::polling::{self, Packet, Polling};
use gateway_tests::server::{SECRET, TestGateway, plugin_config};
use gateway_tests::sio::{self, Incoming, Options};
use gateway_tests::upstream;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn order(id: usize, user: &str) -> Value {
    json!({ "orderId": format!("o{id}"), "type": "ORDER_CREATED", "symbol": "EURUSD",
            "userId": user, "timestamp": gateway::time::now_ms() })
}

fn orders(range: std::ops::RangeInclusive<usize>, user: &str) -> Vec<Value> {
    range.map(|i| order(i, user)).collect()
}

/// `(seq, orderId)` of the order notifications among `packets`.
fn notifications(packets: &[Packet]) -> Vec<(u64, String)> {
    polling::events(packets, "order:notification")
        .into_iter()
        .map(|o| {
            (
                o["seq"].as_u64().unwrap(),
                o["orderId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Polls until the server disconnects the socket; everything read.
async fn read_until_closed(client: &Polling) -> Vec<Packet> {
    let mut all = Vec::new();
    let started = Instant::now();
    while started.elapsed() < WAIT {
        let packets = client.packets().await;
        let closed = packets.contains(&Packet::Disconnect);
        all.extend(packets);
        if closed {
            return all;
        }
    }
    panic!("the socket was never closed; read {all:?}");
}

/// The next `n` order notifications of `client`, as `(seq, orderId)`.
async fn next_orders(client: &mut sio::Client, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let o = client
            .next("order:notification", WAIT)
            .await
            .unwrap_or_else(|| panic!("only {} of {n} notifications: {got:?}", got.len()));
        got.push((
            o["seq"].as_u64().unwrap(),
            o["orderId"].as_str().unwrap().to_owned(),
        ));
    }
    got
}

fn expected(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, String)> {
    range.map(|i| (i, format!("o{i}"))).collect()
}

async fn trading_gateway(
    buffer: usize,
    tweak: impl FnOnce(&mut gateway::config::Config),
) -> (TestGateway, upstream::Fake<upstream::Feed>) {
    let trading = upstream::trading().await;
    let url = trading.url.clone();
    let gw = TestGateway::start(move |c| {
        c.trading_service_url = Some(url);
        c.socket_buffer_packets = buffer;
        plugin_config(c, "order-poller", "interval_ms", "20");
        tweak(c);
    })
    .await;
    (gw, trading)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_cannot_take_a_notification_is_closed_and_resumes_exactly() {
    let (gw, trading) = trading_gateway(8, |_| {}).await;
    let g = gw.running.gateway.clone();
    let client = Polling::open(&gw.url, &json!({ "token": gw.token("ann") })).await;
    client
        .emit_with_ack("subscribe:orders", &json!({}), 1)
        .await;
    let mut greeting = Vec::new();
    while !greeting.iter().any(|p| matches!(p, Packet::Ack(1, _))) {
        greeting.extend(client.packets().await);
    }
    assert_eq!(polling::events(&greeting, "connected").len(), 1);

    // Ann stops reading while 60 notifications arrive for her.
    trading.state.push("orders", &orders(1..=60, "ann"));
    eventually(WAIT, "ann's socket to be cut off", || {
        (g.open_connections() == 0).then_some(())
    })
    .await;
    // Later notifications never reach a socket that missed one.
    trading.state.push("orders", &orders(61..=70, "ann"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let read = read_until_closed(&client).await;
    let live = notifications(&read);
    let k = live.len() as u64;
    assert!((1..60).contains(&k), "a full buffer took {k}");
    assert_eq!(live, expected(1..=k), "1..k with no gap: {read:?}");

    let resume = Options {
        auth: Some(json!({ "token": gw.token("ann"), "lastOrderSeq": k })),
        ..Options::default()
    };
    let mut again = sio::connect(&gw.url, resume).await.unwrap();
    assert_eq!(
        next_orders(&mut again, (70 - k) as usize).await,
        expected(k + 1..=70)
    );
    let rest = again.drain(Duration::from_millis(500)).await;
    assert!(
        !rest
            .iter()
            .any(|m| matches!(m, Incoming::Event(n, _) if n == "order:notification")),
        "each exactly once: {rest:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_larger_than_the_buffer_is_paced_and_complete() {
    let (gw, trading) = trading_gateway(64, |_| {}).await;
    trading.state.push("orders", &orders(1..=1000, "rita"));
    // A socket that does not follow her orders sees the history grow.
    let history = gw.connect("rita").await;
    let started = Instant::now();
    while history
        .emit_ack("orders:replay", &json!({ "since": 1000 }))
        .await["latestSeq"]
        != 1000
    {
        assert!(started.elapsed() < WAIT, "1000 notifications were not kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    history.close();

    let client = Polling::open(&gw.url, &json!({ "token": gw.token("rita") })).await;
    client
        .emit_with_ack("orders:replay", &json!({ "since": 0 }), 1)
        .await;
    let mut read = Vec::new();
    let replaying = Instant::now();
    let ack = loop {
        assert!(
            replaying.elapsed() < WAIT,
            "no ack within {WAIT:?}; read {} packets, notifications {:?}, the last: {:?}",
            read.len(),
            notifications(&read).len(),
            read.iter().rev().take(3).collect::<Vec<_>>()
        );
        let packets = client.packets().await;
        let ack = packets.iter().find_map(|p| match p {
            Packet::Ack(1, data) => Some(data.clone()),
            _ => None,
        });
        read.extend(packets);
        if let Some(ack) = ack {
            break ack;
        }
        assert!(!read.contains(&Packet::Disconnect), "closed: {read:?}");
    };
    assert_eq!(notifications(&read), expected(1..=1000));
    assert_eq!(
        ack,
        json!({ "ok": true, "replayed": 1000, "latestSeq": 1000, "truncated": false })
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_cuts_a_congested_socket_off_at_once() {
    let gw = TestGateway::start(|c| {
        c.socket_buffer_packets = 8;
        c.jwt_leeway_secs = 0;
        plugin_config(c, "sim-prices", "interval_ms", "10");
    })
    .await;
    let g = gw.running.gateway.clone();
    let token = gateway::auth::mint(SECRET, "eve", false, None, Duration::from_secs(3));
    let exp_ms = (gateway::time::now_ms() / 1000 + 3) * 1000;
    let client = Polling::open(&gw.url, &json!({ "token": token })).await;
    client.packets().await;
    client
        .emit(
            "subscribe:prices",
            &json!({ "symbols": ["EURUSD", "GBPUSD", "USDJPY", "USDCHF"] }),
        )
        .await;
    eventually(WAIT, "eve's buffer to fill up", || {
        (g.delivery.parked() == 1).then_some(())
    })
    .await;
    eventually(WAIT, "eve to be cut off", || {
        (g.open_connections() == 0).then_some(())
    })
    .await;
    let cut_at = gateway::time::now_ms();
    assert!(
        cut_at < exp_ms + 1_000,
        "cut off {} ms after expiry",
        cut_at.saturating_sub(exp_ms)
    );

    let read = read_until_closed(&client).await;
    let late: Vec<&Value> = polling::events(&read, "price:update")
        .into_iter()
        .filter(|t| t["timestamp"].as_u64().unwrap() > cut_at + 100)
        .collect();
    assert!(late.is_empty(), "ticks queued after the cut-off: {late:?}");
    let errors = polling::events(&read, "error");
    assert!(
        errors.iter().any(|e| e["code"] == "AUTH_EXPIRED"),
        "told why: {read:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_continues_the_sequence_and_replays_what_was_missed() {
    let (gw, trading) = trading_gateway(256, |_| {}).await;
    let mut sam = gw.connect("sam").await;
    sam.emit_ack("subscribe:orders", &json!({})).await;
    trading.state.push("orders", &orders(1..=3, "sam"));
    assert_eq!(next_orders(&mut sam, 3).await, expected(1..=3));
    let url = trading.url.clone();
    let tmp = gw.stop().await;

    // While the gateway is down, two more orders happen.
    trading.state.push("orders", &orders(4..=5, "sam"));
    let gw = TestGateway::start_in(tmp, move |c| {
        c.trading_service_url = Some(url);
        plugin_config(c, "order-poller", "interval_ms", "20");
    })
    .await;
    let resume = Options {
        auth: Some(json!({ "token": gw.token("sam"), "lastOrderSeq": 3 })),
        ..Options::default()
    };
    let mut again = sio::connect(&gw.url, resume).await.unwrap();
    assert_eq!(next_orders(&mut again, 2).await, expected(4..=5));
    trading.state.push("orders", &orders(6..=6, "sam"));
    assert_eq!(next_orders(&mut again, 1).await, expected(6..=6));
    let ack = again
        .emit_ack("orders:replay", &json!({ "since": 0 }))
        .await;
    assert_eq!(
        ack,
        json!({ "ok": true, "replayed": 6, "latestSeq": 6, "truncated": false })
    );
    assert_eq!(next_orders(&mut again, 6).await, expected(1..=6));
    gw.stop().await;
}
