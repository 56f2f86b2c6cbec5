//! A socket that stops reading: with the long-polling transport a client
//! that does not poll leaves everything in the server's per-socket buffer,
//! so congestion is reached at once. The gateway must park it (no bulk
//! backlog, nothing queued without bound) and, when the client reads again,
//! send the latest tick of each symbol and resume normal delivery; one that
//! stays congested past `SLOW_SOCKET_TIMEOUT_MS` is disconnected.

use std::time::Duration;

use gateway_tests::eventually;
use gateway_tests::polling::Polling;
use gateway_tests::server::{TestGateway, plugin_config};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);
const SYMBOLS: &str = "EURUSD,GBPUSD,USDJPY,USDCHF,AUDUSD,USDCAD,NZDUSD,EURGBP";

fn ticks(packets: &[String]) -> Vec<Value> {
    packets
        .iter()
        .filter_map(|p| p.strip_prefix("42"))
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter(|v| v[0] == "price:update")
        .map(|v| v[1].clone())
        .collect()
}

/// A gateway ticking 8 symbols at 100 Hz into 8-packet socket buffers
/// (then `tweak`), and a polling client subscribed to all of them that has
/// stopped reading, once the gateway has parked it.
async fn parked_client(
    user: &str,
    tweak: impl FnOnce(&mut gateway::config::Config),
) -> (TestGateway, Polling) {
    let gw = TestGateway::start(|c| {
        c.socket_buffer_packets = 8;
        plugin_config(c, "sim-prices", "symbols", SYMBOLS);
        plugin_config(c, "sim-prices", "interval_ms", "10");
        tweak(c);
    })
    .await;
    let client = Polling::open(&gw.url, &serde_json::json!({ "token": gw.token(user) })).await;
    let greeting = client.poll().await;
    assert!(greeting.iter().any(|p| p.starts_with("40")), "{greeting:?}");
    let symbols: Vec<&str> = SYMBOLS.split(',').collect();
    client
        .send(&format!(
            "42{}",
            serde_json::json!(["subscribe:prices", { "symbols": symbols }])
        ))
        .await;
    let g = gw.running.gateway.clone();
    // 8 symbols × 100 ticks/s into an 8-packet buffer nobody reads.
    eventually(WAIT, "the socket to be parked", || {
        (g.delivery.parked() == 1).then_some(())
    })
    .await;
    (gw, client)
}

#[tokio::test]
async fn a_socket_that_stops_reading_is_parked_then_served_the_latest_ticks() {
    let (gw, client) = parked_client("slow", |_| {}).await;
    let symbols: Vec<&str> = SYMBOLS.split(',').collect();
    let g = gw.running.gateway.clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Reading again: a bounded amount, not the 400 ticks produced meanwhile.
    let backlog = ticks(&client.poll().await);
    assert!(
        backlog.len() <= 8 + symbols.len() * 2,
        "{} ticks queued",
        backlog.len()
    );
    let mut latest = std::collections::HashMap::new();
    let mut served = Vec::new();
    for _ in 0..20 {
        for t in ticks(&client.poll().await) {
            latest.insert(
                t["symbol"].as_str().unwrap().to_owned(),
                t["timestamp"].as_u64().unwrap(),
            );
            served.push(t);
        }
        if g.delivery.parked() == 0 && latest.len() == symbols.len() {
            break;
        }
    }
    assert_eq!(g.delivery.parked(), 0, "it was unparked once it read");
    assert_eq!(latest.len(), symbols.len(), "every symbol was served");
    let cache = g.delivery.market();
    for (symbol, ts) in &latest {
        let newest = cache.latest(symbol).unwrap().timestamp;
        assert!(
            newest - ts < 1_000,
            "{symbol}: got {ts}, cache has {newest}"
        );
    }
    let text = reqwest::get(format!("{}/metrics", gw.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let conflated = text
        .lines()
        .find(|l| l.starts_with("gateway_price_updates_conflated_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(conflated > 0.0, "{text}");
    gw.stop().await;
}

#[tokio::test]
async fn a_socket_that_stays_congested_is_disconnected() {
    let (gw, client) = parked_client("stuck", |c| c.slow_socket_timeout_ms = 300).await;
    let g = gw.running.gateway.clone();
    // Congested past the timeout: the first room in its buffer goes to a
    // disconnect, and its slot is freed. (A client that never reads again
    // is closed by the Engine.IO heartbeat, whose ping cannot be queued.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = Vec::new();
    for _ in 0..20 {
        let packets = client.poll().await;
        let closed = packets.iter().any(|p| p == "41" || p == "1");
        seen.extend(packets);
        if closed {
            break;
        }
    }
    assert!(
        seen.iter().any(|p| p == "41"),
        "no disconnect packet in {seen:?}"
    );
    eventually(WAIT, "the slot to be freed", || {
        (g.open_connections() == 0 && g.delivery.parked() == 0).then_some(())
    })
    .await;
    gw.stop().await;
}
