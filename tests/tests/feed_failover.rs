//! Primary and backup price feeds end to end, on a real gateway process:
//! two sources claiming EURUSD (the default simulated source, priority 0,
//! and the `steady-quote` test guest at 1.1 with a higher priority), a
//! real Socket.IO subscriber, `/api/plugins` and `/metrics`. The owner's
//! prices alone reach the subscriber; when it goes quiet or is deleted the
//! simulated feed takes over, and it hands back when the owner returns.
//! In a cluster (two processes sharing the Redis at 127.0.0.1:6379), both
//! nodes decide alike from the relayed stream of ticks.

use std::path::Path;
use std::time::{Duration, Instant};

use gateway_tests::cluster;
use gateway_tests::process::GatewayProcess;
use gateway_tests::server::SECRET;
use gateway_tests::sio::{Client, Incoming};
use gateway_tests::{STEADY_QUOTE, atomic_write, eventually, eventually_async, guest};
use serde_json::{Value, json};

/// A bound on waiting for a switch (not a performance target).
const WAIT: Duration = Duration::from_secs(20);

/// The guest's fixed bid; the simulated EURUSD is near 1.085.
const FIXED: f64 = 1.1;

/// The primary's manifest (its circuit opens after 2 failures in a row,
/// for 1 s), with `config` lines added: `silent = true` makes it return no
/// ticks, `fail = true` makes every poll fail.
fn primary_manifest(config: &str) -> String {
    format!(
        "priority = 10\n[failure]\nmax_consecutive_failures = 2\nbackoff_initial_ms = 1000\n\
         [config]\nsymbol = \"EURUSD\"\nbid = {FIXED}\n{config}\n"
    )
}

/// Writes the primary (manifest, then component) into `dir`'s plugins directory.
fn drop_primary(dir: &Path, config: &str) {
    let plugins_dir = dir.join("plugins.d");
    std::fs::create_dir_all(&plugins_dir).unwrap();
    atomic_write(
        &plugins_dir,
        "primary.toml",
        primary_manifest(config).as_bytes(),
    );
    atomic_write(&plugins_dir, "primary.wasm", &guest(STEADY_QUOTE));
}

/// Starts a gateway on `dir` (plus `extra` settings) whose price sources
/// are stale after 20 intervals without a tick.
async fn start(dir: &Path, name: &str, extra: &[(&'static str, String)]) -> GatewayProcess {
    let mut env = vec![("SOURCE_STALE_INTERVALS", "20".to_owned())];
    env.extend_from_slice(extra);
    GatewayProcess::start_in(
        Path::new(env!("CARGO_BIN_EXE_gateway-node")),
        name,
        dir,
        &env,
    )
    .await
}

async fn subscriber(gw: &GatewayProcess) -> Client {
    let client = gw.connect("reader").await;
    let ack = client
        .emit_ack("subscribe:prices", &json!({ "symbols": ["EURUSD"] }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    client
}

/// The bids of the `price:update`s received within `window`.
async fn bids(client: &mut Client, window: Duration) -> Vec<f64> {
    client
        .drain(window)
        .await
        .into_iter()
        .filter_map(|m| match m {
            Incoming::Event(name, tick) if name == "price:update" => tick["bid"].as_f64(),
            _ => None,
        })
        .collect()
}

/// Waits (within [`WAIT`]) for a EURUSD update whose bid satisfies `wanted`.
async fn until_bid(client: &mut Client, what: &str, wanted: impl Fn(f64) -> bool) {
    let started = Instant::now();
    while started.elapsed() < WAIT {
        if let Some(tick) = client.next("price:update", WAIT).await
            && tick["bid"].as_f64().is_some_and(&wanted)
        {
            return;
        }
    }
    panic!("no EURUSD update from {what} within {WAIT:?}");
}

async fn plugins(gw: &GatewayProcess) -> Value {
    let admin = gateway::auth::mint(SECRET, "ops", true, None, Duration::from_secs(600));
    reqwest::Client::new()
        .get(format!("{}/api/plugins", gw.url))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn plugin<'a>(all: &'a Value, name: &str) -> &'a Value {
    all["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {all}"))
}

/// `gateway_price_source_switches_total` for EURUSD and `reason`.
async fn switches(gw: &GatewayProcess, reason: &str) -> u64 {
    let series =
        format!("gateway_price_source_switches_total{{symbol=\"EURUSD\",reason=\"{reason}\"}}");
    gw.metric(&series).await.map_or(0, |n| n as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_in_feed_with_a_higher_priority_owns_its_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path(), "failover", &[]).await;
    let mut client = subscriber(&gw).await;
    until_bid(&mut client, "the simulated feed", |b| b != FIXED).await;

    // The README's scenario: a constant EURUSD feed dropped in beside the
    // simulated one.
    drop_primary(dir.path(), "");
    until_bid(&mut client, "the dropped-in feed", |b| b == FIXED).await;
    let seen = bids(&mut client, Duration::from_secs(2)).await;
    assert!(seen.len() >= 10, "the owner keeps ticking: {seen:?}");
    assert!(
        seen.iter().all(|&b| b == FIXED),
        "only the owner's prices arrive, not interleaved: {seen:?}"
    );

    let all = plugins(&gw).await;
    let primary = plugin(&all, "primary");
    assert_eq!(primary["owns"], json!(["EURUSD"]), "{primary}");
    let sim = plugin(&all, "sim-prices");
    assert_eq!(sim["standsBy"]["EURUSD"], "primary", "{sim}");
    assert!(
        sim["owns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "USDJPY"),
        "it keeps the symbols nobody else claims: {sim}"
    );
    assert_eq!(switches(&gw, "outranked").await, 1);
    eventually(WAIT, "the overlap in the log", || {
        gw.logged("several price sources claim EURUSD")
            .then_some(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_takes_over_when_the_primary_stops_and_hands_back() {
    let dir = tempfile::tempdir().unwrap();
    let plugins_dir = dir.path().join("plugins.d");
    drop_primary(dir.path(), "");
    let gw = start(dir.path(), "failover", &[]).await;
    let mut client = subscriber(&gw).await;
    until_bid(&mut client, "the primary", |b| b == FIXED).await;

    // Loaded together at start-up, the simulated feed may have owned
    // EURUSD for a moment before the primary's claim: count from here.
    let outranked = switches(&gw, "outranked").await;

    // The primary goes quiet (polled, no ticks): after 20 of its 50 ms
    // intervals the simulated feed takes over.
    atomic_write(
        &plugins_dir,
        "primary.toml",
        primary_manifest("silent = true").as_bytes(),
    );
    until_bid(
        &mut client,
        "the backup after the primary went quiet",
        |b| b != FIXED,
    )
    .await;
    assert_eq!(switches(&gw, "stale").await, 1);
    eventually(WAIT, "the switch in the log", || {
        gw.logged("price source switch: EURUSD now comes from sim-prices")
            .then_some(())
    })
    .await;

    // It ticks again: it gets the symbol back, and only its prices arrive.
    atomic_write(
        &plugins_dir,
        "primary.toml",
        primary_manifest("").as_bytes(),
    );
    until_bid(&mut client, "the primary back", |b| b == FIXED).await;
    let seen = bids(&mut client, Duration::from_secs(1)).await;
    assert!(seen.iter().all(|&b| b == FIXED), "handed back: {seen:?}");

    // Deleted: the backup takes over at once; back in: handed back.
    std::fs::remove_file(plugins_dir.join("primary.wasm")).unwrap();
    until_bid(&mut client, "the backup after the unload", |b| b != FIXED).await;
    assert_eq!(switches(&gw, "unloaded").await, 1);
    let all = plugins(&gw).await;
    assert!(
        plugin(&all, "sim-prices")["owns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "EURUSD"),
        "{all}"
    );
    atomic_write(&plugins_dir, "primary.wasm", &guest(STEADY_QUOTE));
    until_bid(&mut client, "the primary reloaded", |b| b == FIXED).await;
    let seen = bids(&mut client, Duration::from_secs(1)).await;
    assert!(seen.iter().all(|&b| b == FIXED), "handed back: {seen:?}");

    // Its polls fail: once its circuit opens the backup takes over, without
    // waiting for it to go stale; it hands back when a poll succeeds again.
    atomic_write(
        &plugins_dir,
        "primary.toml",
        primary_manifest("fail = true").as_bytes(),
    );
    until_bid(&mut client, "the backup after the circuit opened", |b| {
        b != FIXED
    })
    .await;
    assert_eq!(switches(&gw, "circuit-open").await, 1);
    atomic_write(
        &plugins_dir,
        "primary.toml",
        primary_manifest("").as_bytes(),
    );
    until_bid(&mut client, "the primary after its circuit closed", |b| {
        b == FIXED
    })
    .await;
    let handed_back = eventually_async(WAIT, "three hand-backs counted", || async {
        let n = switches(&gw, "outranked").await - outranked;
        (n >= 3).then_some(n)
    })
    .await;
    assert_eq!(handed_back, 3);
    assert_eq!(switches(&gw, "stale").await, 1, "nothing went stale since");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cluster_node_delivers_the_same_owner_and_fails_over_alike() {
    let prefix = cluster::prefix("feed-failover");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut nodes = Vec::new();
    for (dir, name) in dirs.iter().zip(["node-a", "node-b"]) {
        drop_primary(dir.path(), "");
        nodes.push(start(dir.path(), name, &cluster::settings(&prefix, name, &[])).await);
    }
    let mut clients = Vec::new();
    for gw in &nodes {
        clients.push(subscriber(gw).await);
    }
    for client in &mut clients {
        until_bid(client, "the primary", |b| b == FIXED).await;
        let seen = bids(client, Duration::from_secs(1)).await;
        assert!(
            !seen.is_empty() && seen.iter().all(|&b| b == FIXED),
            "{seen:?}"
        );
    }

    // The primary goes quiet on whichever node runs it: both nodes switch
    // to the simulated feed, from the same relayed stream.
    for dir in &dirs {
        drop_primary(dir.path(), "silent = true");
    }
    for client in &mut clients {
        until_bid(client, "the backup", |b| b != FIXED).await;
    }
    for gw in &nodes {
        assert_eq!(switches(gw, "stale").await, 1, "{}", gw.name);
    }
    for dir in &dirs {
        drop_primary(dir.path(), "");
    }
    for client in &mut clients {
        until_bid(client, "the primary back", |b| b == FIXED).await;
        let seen = bids(client, Duration::from_secs(1)).await;
        assert!(seen.iter().all(|&b| b == FIXED), "handed back: {seen:?}");
    }
    for gw in nodes {
        gw.stop().await;
    }
    cluster::clean(&prefix).await;
}
