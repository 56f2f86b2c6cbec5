//! Cluster mode end to end: two gateway processes (the real binary), each
//! on its own port, sharing the Redis at 127.0.0.1:6379 under a key prefix
//! of their own (removed at the end), with fake upstreams; one test runs
//! a Redis of its own, to freeze it.

use std::path::Path;
use std::time::Duration;

use gateway_tests::cluster::{self, clean, prefix};
use gateway_tests::process::GatewayProcess;
use gateway_tests::sio::{self, ConnectError, Incoming, Options};
use gateway_tests::upstream;
use gateway_tests::{eventually, eventually_async};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);
/// Starts node `node` of the cluster under `prefix`, with `extra` settings.
async fn node(prefix: &str, node: &str, extra: &[(&'static str, String)]) -> GatewayProcess {
    let env = cluster::settings(prefix, node, extra);
    GatewayProcess::start(Path::new(env!("CARGO_BIN_EXE_gateway-node")), node, &env).await
}

/// Settings of a node that polls `trading` every 50 ms.
fn polling(trading: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TRADING_SERVICE_URL", trading.to_owned()),
        ("SERVICE_TOKEN", "svc".to_owned()),
        ("GATEWAY_PLUGIN__ORDER_POLLER__INTERVAL_MS", "50".to_owned()),
    ]
}

/// Waits until `gw` holds the lease of `plugin`.
async fn wait_for_lease(gw: &GatewayProcess, plugin: &str) {
    let start = std::time::Instant::now();
    loop {
        let s = gw.status().await;
        if s["leases"]
            .as_array()
            .is_some_and(|l| l.iter().any(|p| p == plugin))
        {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{plugin} lease never reached {}: {s}",
            gw.url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `gateway_plugin_lease_held` of `plugin` in `gw`'s `/metrics`.
async fn lease_metric(gw: &GatewayProcess, plugin: &str) -> Option<u64> {
    gw.metric(&format!("gateway_plugin_lease_held{{plugin=\"{plugin}\"}}"))
        .await
        .map(|v| v as u64)
}

fn order(id: &str, user: &str) -> Value {
    json!({ "orderId": id, "type": "ORDER_CREATED", "symbol": "EURUSD", "userId": user,
            "side": "BUY", "quantity": 1000.0, "timestamp": gateway::time::now_ms() })
}

fn named<'a>(messages: &'a [Incoming], event: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter_map(|m| match m {
            Incoming::Event(n, v) if n == event => Some(v),
            _ => None,
        })
        .collect()
}

/// Asserts that the next order notification `client` gets is `id` with `seq`.
async fn expect_order(client: &mut sio::Client, id: &str, seq: u64) {
    let n = client.next("order:notification", WAIT).await.unwrap();
    assert_eq!(
        (n["orderId"].as_str(), n["seq"].as_u64()),
        (Some(id), Some(seq))
    );
}

/// Connects `user` to `gw`, retrying until a connection slot is free;
/// panics with `why` after [`WAIT`].
async fn connect_once_free(gw: &GatewayProcess, user: &str, why: &str) -> sio::Client {
    let start = std::time::Instant::now();
    loop {
        match sio::connect(&gw.url, Options::token(&gw.token(user))).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(start.elapsed() < WAIT, "{why}: {e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_of_the_lease_holder_reaches_clients_of_both_nodes_once() {
    let p = prefix("fanout");
    clean(&p).await;
    let trading = upstream::trading().await;
    let a = node(&p, "node-a", &polling(&trading.url)).await;
    wait_for_lease(&a, "sim-prices").await;
    wait_for_lease(&a, "order-poller").await;
    let b = node(&p, "node-b", &polling(&trading.url)).await;
    let sb = b.status().await;
    assert_eq!(sb["nodeId"], "node-b");
    assert_eq!(sb["leases"], json!([]), "node b runs no source: {sb}");
    let sa = a.status().await;
    assert_eq!(sa["nodeId"], "node-a");
    // The metrics say the same: only a holds the sources' leases.
    for plugin in ["sim-prices", "order-poller"] {
        assert_eq!(lease_metric(&a, plugin).await, Some(1), "{plugin} on a");
        assert_eq!(lease_metric(&b, plugin).await, Some(0), "{plugin} on b");
    }

    // Ticks produced on a reach b's client, once each, and feed b's cache.
    let mut on_b = b.connect("alice").await;
    let mut on_a = a.connect("alice").await;
    for c in [&on_a, &on_b] {
        c.emit_ack("subscribe:orders", &json!({})).await;
        c.emit_ack(
            "subscribe:events",
            &json!({ "eventTypes": ["MARKET_HALT"] }),
        )
        .await;
    }
    on_b.emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    on_b.next("price:update", WAIT)
        .await
        .expect("a tick from node a");
    let ticks = on_b.drain(Duration::from_millis(600)).await;
    let stamps: Vec<u64> = named(&ticks, "price:update")
        .iter()
        .map(|t| t["timestamp"].as_u64().unwrap())
        .collect();
    assert!(stamps.len() >= 3, "ticks keep coming: {stamps:?}");
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "each tick once, in order: {stamps:?}"
    );
    let late = b.connect("late").await;
    let ack = late
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(
        ack["prices"][0]["symbol"], "EURUSD",
        "b's cache is fed: {ack}"
    );

    // An order polled on a reaches alice on both nodes once, with the same seq.
    trading.state.push("orders", &[order("o1", "alice")]);
    for client in [&mut on_a, &mut on_b] {
        expect_order(client, "o1", 1).await;
    }

    // An event posted on either node reaches both subscribers once.
    let http = reqwest::Client::new();
    for (i, node) in [&a, &b].into_iter().enumerate() {
        let ev = json!({ "id": format!("ev-{i}"), "type": "MARKET_HALT", "title": "Halt",
                         "message": "halted", "severity": "high" });
        let posted = http
            .post(format!("{}/api/events", node.url))
            .bearer_auth("svc")
            .json(&ev)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        for client in [&mut on_a, &mut on_b] {
            let got = client.next("event:notification", WAIT).await.unwrap();
            assert_eq!(got["id"], format!("ev-{i}"));
        }
    }
    for client in [&mut on_a, &mut on_b] {
        let rest = client.drain(Duration::from_millis(500)).await;
        assert!(named(&rest, "order:notification").is_empty(), "{rest:?}");
        assert!(named(&rest, "event:notification").is_empty(), "{rest:?}");
    }
    a.stop().await;
    b.stop().await;
    clean(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_node_takes_over_from_the_cursor_and_replays() {
    let p = prefix("failover");
    clean(&p).await;
    let trading = upstream::trading().await;
    let a = node(&p, "node-a", &polling(&trading.url)).await;
    wait_for_lease(&a, "order-poller").await;
    let b = node(&p, "node-b", &polling(&trading.url)).await;
    let mut carol = b.connect("carol").await;
    carol.emit_ack("subscribe:orders", &json!({})).await;
    trading
        .state
        .push("orders", &[order("o1", "carol"), order("o2", "carol")]);
    for (id, seq) in [("o1", 1), ("o2", 2)] {
        expect_order(&mut carol, id, seq).await;
    }

    let polls_by_a = trading.state.requests().len();
    a.kill().await;
    let killed = std::time::Instant::now();
    trading.state.push("orders", &[order("o3", "carol")]);
    wait_for_lease(&b, "order-poller").await;
    expect_order(&mut carol, "o3", 3).await;
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "takeover took {:?}",
        killed.elapsed()
    );
    let rest = carol.drain(Duration::from_millis(500)).await;
    assert!(
        named(&rest, "order:notification").is_empty(),
        "no replay of o1/o2 after the takeover: {rest:?}"
    );
    // Node b starts from the position node a stored; node a's last batch
    // may come again (a was killed before its next poll stored the
    // position past it), and the cluster's idempotent order log does not
    // deliver it twice (checked above).
    let sinces = trading.state.requests();
    assert!(sinces.len() > polls_by_a + 1, "node b polls: {sinces:?}");
    assert!(
        sinces[polls_by_a + 1..].iter().all(Option::is_some),
        "then continues from its cursor: {sinces:?}"
    );

    // Reconnecting to b replays what a produced, then b's.
    carol.close();
    assert!(carol.disconnected(WAIT).await);
    let resume = Options {
        auth: Some(json!({ "token": b.token("carol"), "lastOrderSeq": 1 })),
        ..Options::default()
    };
    let mut again = sio::connect(&b.url, resume).await.unwrap();
    for (id, seq) in [("o2", 2), ("o3", 3)] {
        expect_order(&mut again, id, seq).await;
    }
    trading.state.push("orders", &[order("o4", "carol")]);
    expect_order(&mut again, "o4", 4).await;
    let ack = again
        .emit_ack("orders:replay", &json!({ "since": 0 }))
        .await;
    assert_eq!(
        (
            ack["replayed"].as_u64(),
            ack["latestSeq"].as_u64(),
            ack["truncated"].as_bool()
        ),
        (Some(4), Some(4), Some(false)),
        "{ack}"
    );
    b.stop().await;
    clean(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_limits_hold_across_nodes() {
    let p = prefix("caps");
    clean(&p).await;
    let limits = [
        ("MAX_CONNECTIONS_PER_USER", "2".to_owned()),
        ("MAX_MESSAGES_PER_MINUTE", "4".to_owned()),
    ];
    let a = node(&p, "node-a", &limits).await;
    let b = node(&p, "node-b", &limits).await;
    let first = a.connect("dave").await;
    let _second = b.connect("dave").await;
    for node in [&a, &b] {
        let refused = sio::connect(&node.url, Options::token(&node.token("dave")))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&refused, ConnectError::Refused(m) if m.starts_with("TOO_MANY_CONNECTIONS: ")),
            "{refused:?}"
        );
    }
    first.close();
    let third = connect_once_free(&b, "dave", "slot never freed").await;

    // Four events per minute for eve, wherever she sends them.
    let eve_a = a.connect("eve").await;
    let eve_b = b.connect("eve").await;
    let sub = json!({ "eventTypes": ["MARKET_HALT"] });
    for c in [&eve_a, &eve_b, &eve_a, &eve_b] {
        assert_eq!(c.emit_ack("subscribe:events", &sub).await["ok"], true);
    }
    let limited = eve_a.emit_ack("subscribe:events", &sub).await;
    assert_eq!(limited["error"]["code"], "RATE_LIMITED", "{limited}");
    assert!(limited["error"]["retryAfterMs"].as_u64().unwrap() > 0);
    drop(third);

    // The slots of a node that dies stop counting once its heartbeat
    // expires (three lease times).
    let _hal_a = a.connect("hal").await;
    let _hal_b = b.connect("hal").await;
    assert!(
        sio::connect(&b.url, Options::token(&b.token("hal")))
            .await
            .is_err()
    );
    a.kill().await;
    let _again = connect_once_free(&b, "hal", "the dead node's slot still counts").await;
    b.stop().await;
    clean(&p).await;
}

/// A node killed and restarted under the same `NODE_ID` (a host or pod
/// name) starts without what its predecessor held: before, the new process
/// kept the dead one's connection counts alive under the shared node id,
/// and a user was locked out for good after a few crashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_under_its_id_after_kill_9_inherits_no_connection_slots() {
    let p = prefix("reborn");
    clean(&p).await;
    let limits = [("MAX_CONNECTIONS_PER_USER", "2".to_owned())];
    let a = node(&p, "node-a", &limits).await;
    let _first = a.connect("ivy").await;
    let _second = a.connect("ivy").await;
    a.kill().await;
    let a = node(&p, "node-a", &limits).await;
    // At once: the heartbeat of the dead process (4.5 s here) has not expired.
    for n in 1..=2 {
        let again = sio::connect(&a.url, Options::token(&a.token("ivy"))).await;
        assert!(
            again.is_ok(),
            "connection {n} of ivy after the restart: {:?}",
            again.err()
        );
    }
    a.stop().await;
    clean(&p).await;
}

/// A Redis of one test's own on a free port, which the test can freeze.
struct PrivateRedis {
    url: String,
    child: tokio::process::Child,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (Debian package redis-server) on PATH");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let start = std::time::Instant::now();
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(start.elapsed() < WAIT, "the private Redis did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { url, child }
    }

    /// Runs `cmd` on it.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    }

    /// How many connections subscribe to `channel`.
    async fn subscribers(&self, channel: &str) -> u64 {
        let counts: Vec<(String, u64)> = self
            .query(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel))
            .await;
        counts[0].1
    }

    /// Sends `signal` (`STOP` freezes it: commands get no answer; `CONT`).
    async fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let sent = tokio::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posted_while_redis_is_frozen_is_accepted_and_arrives_once_it_thaws() {
    let redis = PrivateRedis::start().await;
    let settings = [
        ("REDIS_URL", redis.url.clone()),
        ("SERVICE_TOKEN", "svc".to_owned()),
    ];
    let a = node("frozen", "node-a", &settings).await;
    let b = node("frozen", "node-b", &settings).await;
    let mut on_a = a.connect("fay").await;
    let mut on_b = b.connect("gus").await;
    for c in [&on_a, &on_b] {
        let sub = json!({ "eventTypes": ["MARKET_HALT"] });
        assert_eq!(c.emit_ack("subscribe:events", &sub).await["ok"], true);
    }

    redis.signal("STOP").await;
    let ev = json!({ "id": "ev-frozen", "type": "MARKET_HALT", "title": "Halt",
                     "message": "halted", "severity": "high" });
    // 202 means accepted: the request waits while Redis cannot take it.
    let post = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/api/events", a.url))
            .bearer_auth("svc")
            .json(&ev)
            .send(),
    );
    // Frozen until a publish has timed out (a Redis command may take 2 s)
    // and been retried; the first attempt still sits in Redis's socket.
    eventually(Duration::from_secs(30), "the publish to be retried", || {
        a.logged("sending an event to the cluster failed, retrying")
            .then_some(())
    })
    .await;
    assert!(!post.is_finished(), "not answered while Redis is frozen");
    redis.signal("CONT").await;
    assert_eq!(post.await.unwrap().unwrap().status(), 202);

    for client in [&mut on_a, &mut on_b] {
        let got = client.next("event:notification", WAIT).await;
        assert_eq!(got.map(|e| e["id"].clone()), Some(json!("ev-frozen")));
    }
    for client in [&mut on_a, &mut on_b] {
        let rest = client.drain(Duration::from_secs(1)).await;
        assert!(named(&rest, "event:notification").is_empty(), "{rest:?}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_pub_sub_lost_closes_the_socket_and_the_resume_brings_it() {
    let redis = PrivateRedis::start().await;
    let trading = upstream::trading().await;
    let mut settings = polling(&trading.url);
    settings.push(("REDIS_URL", redis.url.clone()));
    let a = node("gap", "node-a", &settings).await;
    wait_for_lease(&a, "order-poller").await;
    let b = node("gap", "node-b", &settings).await;
    let mut hal = b.connect("hal").await;
    assert_eq!(
        hal.emit_ack("subscribe:orders", &json!({})).await["ok"],
        true
    );
    trading.state.push("orders", &[order("g1", "hal")]);
    expect_order(&mut hal, "g1", 1).await;

    // Both nodes lose their subscription; they resubscribe a second later.
    // g2 is sequenced and published in between, so it reaches no node.
    let killed: u64 = redis
        .query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))
        .await;
    assert_eq!(killed, 2, "one subscription per node");
    trading.state.push("orders", &[order("g2", "hal")]);
    eventually_async(WAIT, "g2 to be sequenced", || async {
        let seq: Option<u64> = redis.query(redis::cmd("GET").arg("gap:seq:hal")).await;
        (seq == Some(2)).then_some(())
    })
    .await;
    assert_eq!(
        redis.subscribers("gap:orders").await,
        0,
        "a node resubscribed before g2 was published: the loss did not happen"
    );
    eventually_async(WAIT, "both nodes to resubscribe", || async {
        (redis.subscribers("gap:orders").await == 2).then_some(())
    })
    .await;

    // g3 would follow a gap: the socket gets nothing more and is closed.
    trading.state.push("orders", &[order("g3", "hal")]);
    let after_gap = hal.drain(Duration::from_secs(3)).await;
    assert!(
        named(&after_gap, "order:notification").is_empty(),
        "nothing after the gap: {after_gap:?}"
    );
    assert!(
        after_gap
            .iter()
            .any(|m| matches!(m, Incoming::Disconnected)),
        "closed: {after_gap:?}"
    );
    let resume = Options {
        auth: Some(json!({ "token": b.token("hal"), "lastOrderSeq": 1 })),
        ..Options::default()
    };
    let mut again = sio::connect(&b.url, resume).await.unwrap();
    expect_order(&mut again, "g2", 2).await;
    expect_order(&mut again, "g3", 3).await;
    let rest = again.drain(Duration::from_millis(500)).await;
    assert!(named(&rest, "order:notification").is_empty(), "{rest:?}");
    a.stop().await;
    b.stop().await;
}
