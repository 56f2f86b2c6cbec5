//! Crash tests: a fake trading service produces order notifications while
//! the gateway is killed with SIGKILL at random moments and restarted;
//! each user's client resumes with `auth.lastOrderSeq` after every
//! restart. Every notification must reach its user exactly once, with
//! `seq` 1, 2, 3, … without a gap, across all the kills — on one gateway
//! (its embedded store on the same `DATA_DIR`) and in a cluster (the
//! node holding the order poller's lease is the one killed).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_tests::cluster::{self, clean, prefix};
use gateway_tests::process::GatewayProcess;
use gateway_tests::sio::{self, Incoming, Options};
use gateway_tests::upstream::{self, Fake, Feed};
use parking_lot::Mutex;
use serde_json::json;
use tokio::task::JoinHandle;

const USERS: [&str; 3] = ["ann", "bob", "cid"];
/// Notifications produced in all (over about 12 s).
const ORDERS: usize = 300;
/// How long the clients may take to catch up once production ends.
const CATCH_UP: Duration = Duration::from_secs(30);
/// How long a follower waits for a node to answer its handshake.
const CONNECT: Duration = Duration::from_secs(5);

fn program() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway-node"))
}

/// A small pseudo-random sequence (no crate needed for picking delays).
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        eprintln!("crash test dice seed: {seed}");
        Self(seed | 1)
    }

    /// A number in `range`.
    fn roll(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + self.0 % (range.end - range.start)
    }
}

/// What each user received: `(seq, orderId)` in arrival order.
#[derive(Default)]
struct Received(Mutex<HashMap<String, Vec<(u64, String)>>>);

impl Received {
    fn last_seq(&self, user: &str) -> u64 {
        self.0
            .lock()
            .get(user)
            .and_then(|v| v.last())
            .map_or(0, |(seq, _)| *seq)
    }

    fn total(&self) -> usize {
        self.0.lock().values().map(Vec::len).sum()
    }
}

/// Pushes [`ORDERS`] notifications, round robin over [`USERS`], two every
/// 80 ms; the ids of each user's, in order.
fn produce(trading: &Fake<Feed>) -> JoinHandle<HashMap<String, Vec<String>>> {
    let feed = trading.state.clone();
    tokio::spawn(async move {
        let mut pushed: HashMap<String, Vec<String>> = HashMap::new();
        for i in 1..=ORDERS {
            let user = USERS[i % USERS.len()];
            let id = format!("o{i}");
            feed.push(
                "orders",
                &[
                    json!({ "orderId": id, "type": "ORDER_CREATED", "symbol": "EURUSD",
                           "userId": user, "timestamp": gateway::time::now_ms() }),
                ],
            );
            pushed.entry(user.to_owned()).or_default().push(id);
            if i % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(80)).await;
            }
        }
        pushed
    })
}

/// Follows `user`'s orders on whichever node `url` returns, resuming with
/// `lastOrderSeq` after every disconnect, until `done`.
fn follow(
    user: &'static str,
    url: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    received: Arc<Received>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let Some(base) = url() else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let token = gateway::auth::mint(
                gateway_tests::server::SECRET,
                user,
                false,
                None,
                Duration::from_secs(600),
            );
            let auth = json!({ "token": token, "lastOrderSeq": received.last_seq(user) });
            let options = Options {
                auth: Some(auth),
                ..Options::default()
            };
            // A node killed mid-handshake must not hang the follower.
            let connecting = tokio::time::timeout(CONNECT, sio::connect(&base, options)).await;
            let mut client = match connecting {
                Ok(Ok(client)) => client,
                Ok(Err(sio::ConnectError::Refused(why))) => {
                    eprintln!("{user} refused by {base}: {why}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Ok(Err(_)) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match client.recv(Duration::from_millis(200)).await {
                    Some(Incoming::Event(name, o)) if name == "order:notification" => {
                        let entry = (
                            o["seq"].as_u64().unwrap(),
                            o["orderId"].as_str().unwrap().to_owned(),
                        );
                        received
                            .0
                            .lock()
                            .entry(user.to_owned())
                            .or_default()
                            .push(entry);
                    }
                    Some(Incoming::Disconnected) => break,
                    _ => {}
                }
            }
        }
    })
}

/// Every notification reached its user once, in order, `seq` 1..n.
fn check(pushed: &HashMap<String, Vec<String>>, received: &Received) {
    let received = received.0.lock();
    for user in USERS {
        let got = received.get(user).cloned().unwrap_or_default();
        let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        let ids: Vec<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
        let want: Vec<&str> = pushed[user].iter().map(String::as_str).collect();
        assert_eq!(
            seqs,
            (1..=want.len() as u64).collect::<Vec<_>>(),
            "{user}: seq must be 1..n without gap or repeat"
        );
        assert_eq!(ids, want, "{user}: every order exactly once, in order");
    }
}

/// Prints, for each user short of notifications, which order ids the
/// cluster's order log holds, and the cursors the trading service was asked
/// for: where a missing notification was lost.
async fn diagnose(
    prefix: &str,
    pushed: &HashMap<String, Vec<String>>,
    received: &Received,
    trading: &Fake<Feed>,
) {
    let client = redis::Client::open(cluster::REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for user in USERS {
        let got: Vec<String> = received
            .0
            .lock()
            .get(user)
            .map(|v| v.iter().map(|(_, id)| id.clone()).collect())
            .unwrap_or_default();
        let missing: Vec<&String> = pushed[user].iter().filter(|id| !got.contains(id)).collect();
        if missing.is_empty() {
            continue;
        }
        let seq: Option<String> = redis::cmd("GET")
            .arg(format!("{prefix}:seq:{user}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        let history: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{prefix}:history:{user}"))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        let logged: Vec<&String> = missing
            .iter()
            .copied()
            .filter(|id| history.iter().any(|h| h.contains(&format!("\"{id}\""))))
            .collect();
        eprintln!(
            "{user}: missing {missing:?}; seq counter {seq:?}, {} kept; of the missing, in the log: {logged:?}",
            history.len()
        );
    }
    let mut sinces = trading.state.requests();
    sinces.dedup();
    eprintln!("trading requests (since, repeats folded): {sinces:?}");
}

async fn wait_for(received: &Received, total: usize) {
    let started = Instant::now();
    while received.total() < total && started.elapsed() < CATCH_UP {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_random_moments_on_one_gateway_loses_and_repeats_nothing() {
    let trading = upstream::trading().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TRADING_SERVICE_URL", trading.url.clone()),
        ("GATEWAY_PLUGIN__ORDER_POLLER__INTERVAL_MS", "20".to_owned()),
    ];
    let current: Arc<Mutex<Option<String>>> = Arc::default();
    let received = Arc::new(Received::default());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url: Arc<dyn Fn() -> Option<String> + Send + Sync> = {
        let current = current.clone();
        Arc::new(move || current.lock().clone())
    };
    let followers: Vec<_> = USERS
        .iter()
        .map(|u| follow(u, url.clone(), received.clone(), done.clone()))
        .collect();
    let producer = produce(&trading);
    let mut dice = Dice::new();
    let mut kills = 0;
    while !producer.is_finished() {
        let gw = GatewayProcess::start_in(program(), "crashy", dir.path(), &env).await;
        *current.lock() = Some(gw.url.clone());
        tokio::time::sleep(Duration::from_millis(dice.roll(300..1500))).await;
        *current.lock() = None;
        gw.kill().await;
        kills += 1;
    }
    let pushed = producer.await.unwrap();
    let gw = GatewayProcess::start_in(program(), "crashy", dir.path(), &env).await;
    *current.lock() = Some(gw.url.clone());
    wait_for(&received, ORDERS).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in followers {
        f.await.unwrap();
    }
    assert!(kills >= 5, "only {kills} kills");
    eprintln!("{kills} kills, {} notifications", received.total());
    check(&pushed, &received);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_lease_holder_at_random_moments_loses_and_repeats_nothing() {
    let p = prefix("crash");
    clean(&p).await;
    let trading = upstream::trading().await;
    let extra = [
        ("TRADING_SERVICE_URL", trading.url.clone()),
        ("GATEWAY_PLUGIN__ORDER_POLLER__INTERVAL_MS", "20".to_owned()),
    ];
    let names = ["node-a", "node-b"];
    let start = |i: usize| {
        let env = cluster::settings(&p, names[i], &extra);
        async move { GatewayProcess::start(program(), names[i], &env).await }
    };
    let nodes: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None, None]));
    let mut running = vec![Some(start(0).await), Some(start(1).await)];
    *nodes.lock() = running
        .iter()
        .flatten()
        .map(|n| Some(n.url.clone()))
        .collect();
    let received = Arc::new(Received::default());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let followers: Vec<_> = USERS
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let nodes = nodes.clone();
            let url: Arc<dyn Fn() -> Option<String> + Send + Sync> = Arc::new(move || {
                let nodes = nodes.lock();
                let alive: Vec<&String> = nodes.iter().flatten().collect();
                (!alive.is_empty()).then(|| alive[i % alive.len()].clone())
            });
            follow(u, url, received.clone(), done.clone())
        })
        .collect();
    let producer = produce(&trading);
    let mut dice = Dice::new();
    let mut kills = 0;
    while !producer.is_finished() {
        tokio::time::sleep(Duration::from_millis(dice.roll(500..2000))).await;
        let mut holder = None;
        for (i, node) in running.iter().enumerate() {
            let leases = &node.as_ref().unwrap().status().await["leases"];
            if leases
                .as_array()
                .is_some_and(|l| l.iter().any(|n| n == "order-poller"))
            {
                holder = Some(i);
            }
        }
        let Some(i) = holder else { continue };
        nodes.lock()[i] = None;
        running[i].take().unwrap().kill().await;
        kills += 1;
        let restarted = start(i).await;
        nodes.lock()[i] = Some(restarted.url.clone());
        running[i] = Some(restarted);
    }
    let pushed = producer.await.unwrap();
    wait_for(&received, ORDERS).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in followers {
        f.await.unwrap();
    }
    assert!(kills >= 3, "only {kills} kills");
    eprintln!(
        "{kills} lease holders killed, {} notifications",
        received.total()
    );
    if received.total() != ORDERS {
        diagnose(&p, &pushed, &received, &trading).await;
    }
    check(&pushed, &received);
    for node in running.into_iter().flatten() {
        node.stop().await;
    }
    clean(&p).await;
}
