//! The soak: a long run (20 minutes by default) that checks that nothing
//! is lost or repeated while everything moves at once. A fake trading
//! service (a real HTTP server in this process) produces order
//! notifications for a few hundred users; each user's socket follows its
//! orders and disconnects at random, resuming with `auth.lastOrderSeq`;
//! 1000 sockets stream prices; the price source is swapped every minute
//! (its override file placed, then removed); in cluster mode the cluster's
//! Redis (a private one with an append-only file) is restarted once.
//!
//! Reported: per user, notifications produced, delivered, repeated and
//! missing (both must be 0) and whether `seq` went 1, 2, 3 … without a
//! gap; the server's RSS every minute (it must level off); tick latency
//! p50/p99 per minute.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Endpoint, Job};
use crate::procfs;
use crate::stats::{Shared, Summary};
use crate::target::{Kind, Setup};

/// What a soak does.
pub(crate) struct SoakParams {
    /// Gateway or cluster.
    pub(crate) kind: Kind,
    /// How long notifications are produced.
    pub(crate) duration: Duration,
    /// Sockets streaming prices.
    pub(crate) price_sockets: usize,
    /// Users receiving orders (one socket each).
    pub(crate) order_users: usize,
    /// Notifications produced per second, over all users.
    pub(crate) orders_per_sec: f64,
    /// How often the price source is swapped.
    pub(crate) swap_every: Duration,
    /// The price source build swapped in.
    pub(crate) swap_wasm: PathBuf,
    /// Symbols per price socket.
    pub(crate) symbols_per_socket: usize,
}

/// One minute of the soak.
#[derive(Debug, Serialize)]
pub(crate) struct Minute {
    /// Minutes since the start.
    pub(crate) minute: u64,
    /// Server RSS at the end of the minute (all nodes), KiB.
    pub(crate) rss_kib: u64,
    /// Tick-to-client latency of the minute.
    pub(crate) latency_ms: Summary,
    /// Notifications produced so far.
    pub(crate) produced: u64,
    /// Notifications delivered so far (repeats included).
    pub(crate) delivered: u64,
}

/// A user whose stream was not exactly what was produced.
#[derive(Debug, Serialize)]
pub(crate) struct UserProblem {
    /// The user.
    pub(crate) user: String,
    /// Produced for the user.
    pub(crate) produced: usize,
    /// Order ids received more than once.
    pub(crate) repeated: usize,
    /// Order ids never received.
    pub(crate) missing: usize,
    /// Whether `seq` was not 1..n in order.
    pub(crate) seq_broken: bool,
}

/// The soak's results.
#[derive(Debug, Serialize)]
pub(crate) struct SoakReport {
    /// Gateway or cluster.
    pub(crate) target: Kind,
    /// Minutes notifications were produced.
    pub(crate) minutes: f64,
    /// Price sockets.
    pub(crate) price_sockets: usize,
    /// Users receiving orders.
    pub(crate) order_users: usize,
    /// Notifications produced.
    pub(crate) produced: u64,
    /// Distinct notifications delivered to their users.
    pub(crate) delivered: u64,
    /// Deliveries of a notification a user already had.
    pub(crate) repeated: u64,
    /// Notifications their user never got.
    pub(crate) missing: u64,
    /// Users whose `seq` was not 1, 2, 3 … in order.
    pub(crate) users_with_seq_gaps: u64,
    /// The users with any problem (empty when all is well).
    pub(crate) problems: Vec<UserProblem>,
    /// Reconnects the clients made on purpose.
    pub(crate) planned_reconnects: u64,
    /// Disconnects the server made (cut-offs, restarts).
    pub(crate) server_disconnects: u64,
    /// Price source swaps.
    pub(crate) swaps: u64,
    /// Redis restarts (cluster).
    pub(crate) redis_restarts: u64,
    /// `price:update`s received.
    pub(crate) price_updates: u64,
    /// Why price sockets failed to connect or were dropped, and how often.
    pub(crate) price_socket_failures: std::collections::BTreeMap<String, u64>,
    /// One entry per minute.
    pub(crate) per_minute: Vec<Minute>,
    /// Highest RSS over minutes 2–5 and over the last 4 minutes, KiB.
    pub(crate) rss_early_late_kib: (u64, u64),
}

/// The fake trading service's notifications, in order.
#[derive(Default)]
struct Feed {
    items: Mutex<Vec<Value>>,
}

#[derive(Deserialize)]
struct Since {
    since: Option<String>,
}

async fn notifications(State(feed): State<Arc<Feed>>, Query(q): Query<Since>) -> Json<Value> {
    let items = feed.items.lock();
    let from = q
        .since
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    // At most 500 per answer, like a paging service.
    let to = (from + 500).min(items.len());
    Json(json!({
        "cursor": to.to_string(),
        "orders": &items[from..to],
        "positions": [],
    }))
}

/// Serves the feed on a free port; its base URL.
async fn serve(feed: Arc<Feed>) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/notifications", get(notifications))
        .with_state(feed);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// A Redis of the soak's own, with an append-only file (so a restart keeps
/// the cluster's sequences, histories and cursors).
struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl PrivateRedis {
    fn start(dir: &Path, port: u16) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        Ok(Self {
            port,
            dir: dir.to_owned(),
            child,
        })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&self) -> Result<()> {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the soak's Redis did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Kills it and starts it again on the same port and files.
    async fn restart(&mut self) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::start(&self.dir.clone(), self.port)?;
        self.wait_ready().await
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one user's socket received: `(seq, orderId)` in arrival order.
type Stream = Arc<Mutex<Vec<(u64, String)>>>;

/// Counters the order clients share.
#[derive(Default)]
struct OrderCounters {
    planned: AtomicU64,
    server_closed: AtomicU64,
}

/// A tiny xorshift for random delays (no crate needed).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + self.0 % (range.end - range.start).max(1)
    }
}

/// Follows one user's orders until `stop`: connects with the last `seq`
/// it has, reads, and leaves at a random moment (30 s to 3 min) to come
/// back; a disconnect by the server is followed by a reconnect too.
async fn follow_orders(
    addrs: Arc<Mutex<Vec<SocketAddr>>>,
    token: String,
    stream: Stream,
    counters: Arc<OrderCounters>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let mut dice = Dice(seed | 1);
    while !stop.load(Relaxed) {
        let addr = {
            let addrs = addrs.lock();
            addrs[dice.roll(0..addrs.len() as u64) as usize]
        };
        let last = stream.lock().last().map_or(0, |(seq, _)| *seq);
        let Ok(mut ws) = connect(addr, &token, last).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let leave_at = Instant::now() + Duration::from_secs(dice.roll(30..180));
        loop {
            if stop.load(Relaxed) {
                return;
            }
            if Instant::now() >= leave_at {
                let _ = ws.send(Message::text("41")).await;
                let _ = ws.close(None).await;
                counters.planned.fetch_add(1, Relaxed);
                break;
            }
            let frame = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
            let text = match frame {
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(t)))) => t,
                Ok(Some(Ok(_))) => continue,
                Ok(_) => {
                    counters.server_closed.fetch_add(1, Relaxed);
                    break;
                }
            };
            let t = text.as_str();
            if t == "2" {
                let _ = ws.send(Message::text("3")).await;
            } else if t == "41" || t == "1" {
                counters.server_closed.fetch_add(1, Relaxed);
                break;
            } else if let Some(body) = t.strip_prefix("42[\"order:notification\",") {
                let Ok(order) = serde_json::from_str::<Value>(body.trim_end_matches(']')) else {
                    continue;
                };
                if let (Some(seq), Some(id)) = (order["seq"].as_u64(), order["orderId"].as_str()) {
                    stream.lock().push((seq, id.to_owned()));
                }
            }
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Websocket, Engine.IO open, Socket.IO connect with `auth`.
async fn connect(addr: SocketAddr, token: &str, last_seq: u64) -> Result<Ws> {
    let tcp = TcpStream::connect(addr).await?;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.starts_with('0') => {}
        other => bail!("no Engine.IO open: {other:?}"),
    }
    let auth = json!({ "token": token, "lastOrderSeq": last_seq });
    ws.send(Message::text(format!("40{auth}"))).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with("40") => return Ok(ws),
            Some(Ok(Message::Text(t))) if t.starts_with("44") => bail!("refused: {t}"),
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                ws.send(Message::text("3")).await?;
            }
            Some(Ok(_)) => {}
            _ => bail!("closed during the handshake"),
        }
    }
}

/// Places the override of `sim-prices` in each directory (a swap), or
/// removes it (the embedded default comes back: a swap too).
fn swap(dirs: &[&Path], wasm: &Path, place: bool) -> Result<()> {
    for dir in dirs {
        let file = dir.join("sim-prices.wasm");
        if place {
            let tmp = dir.join(".sim-prices.wasm.tmp");
            std::fs::copy(wasm, &tmp)?;
            std::fs::rename(&tmp, &file)?;
        } else {
            std::fs::remove_file(&file)?;
        }
    }
    Ok(())
}

/// Runs the soak.
pub(crate) async fn soak(setup: &Setup, p: &SoakParams, run: usize) -> Result<SoakReport> {
    let feed = Arc::new(Feed::default());
    let trading = serve(feed.clone()).await?;
    let mut redis = match p.kind {
        Kind::Cluster => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let r = PrivateRedis::start(&setup.work.path().join("soak-redis"), port)?;
            r.wait_ready().await?;
            Some(r)
        }
        _ => None,
    };
    let mut extra = vec![
        ("TRADING_SERVICE_URL", trading),
        (
            "GATEWAY_PLUGIN__ORDER_POLLER__INTERVAL_MS",
            "200".to_owned(),
        ),
    ];
    if let Some(r) = &redis {
        extra.push(("REDIS_URL", r.url()));
    }
    let mut server = setup.start_with(p.kind, run, &extra).await?;
    let pids = server.pids();
    let addrs = Arc::new(Mutex::new(server.addrs()));

    eprintln!("soak: minting {} user tokens", p.order_users);
    let tokens: Vec<String> = (0..p.order_users)
        .map(|i| setup.mint(&format!("soak-{i}"), false))
        .collect::<Result<_>>()?;
    let streams: Vec<Stream> = (0..p.order_users).map(|_| Stream::default()).collect();
    let counters = Arc::new(OrderCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut followers = Vec::new();
    for (i, (token, stream)) in tokens.into_iter().zip(&streams).enumerate() {
        followers.push(tokio::spawn(follow_orders(
            addrs.clone(),
            token,
            stream.clone(),
            counters.clone(),
            stop.clone(),
            0x9e37_79b9 ^ (i as u64 + 1).wrapping_mul(0x2545_f491),
        )));
    }

    // Price sockets, measured from the start.
    let shared = Arc::new(Shared::new());
    shared.start_window();
    let price_tokens: Vec<Arc<str>> = setup.mint_tokens(10)?.into_iter().map(Arc::from).collect();
    let (go, go_rx) = watch::channel(false);
    let mut prices = Vec::new();
    for i in 0..p.price_sockets {
        let addr = server.addrs()[i % server.addrs().len()];
        let endpoint = Arc::new(Endpoint {
            addr,
            in_flight: Arc::new(Semaphore::new(64)),
        });
        let symbols: Vec<&str> = setup
            .symbols
            .iter()
            .cycle()
            .skip(i)
            .take(p.symbols_per_socket)
            .map(String::as_str)
            .collect();
        let job = Job {
            token: price_tokens[i % price_tokens.len()].clone(),
            subscribe: client::subscribe_packet(&symbols),
            follow_ms: None,
        };
        prices.push(tokio::spawn(client::run(
            endpoint,
            job,
            shared.clone(),
            go_rx.clone(),
        )));
    }

    let _ = go.send(true);

    // Produce, swap, restart Redis once, sample every minute.
    let produced: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let producing = {
        let (feed, produced) = (feed.clone(), produced.clone());
        let (users, rate, duration) = (p.order_users, p.orders_per_sec, p.duration);
        tokio::spawn(async move {
            let started = Instant::now();
            let mut dice = Dice(0x1234_5678_9abc);
            let mut n = 0u64;
            while started.elapsed() < duration {
                n += 1;
                let user = format!("soak-{}", dice.roll(0..users as u64));
                let id = format!("s{n}");
                feed.items.lock().push(json!({
                    "orderId": id, "type": "ORDER_CREATED", "symbol": "EURUSD",
                    "userId": user, "timestamp": now_ms(),
                }));
                produced.lock().entry(user).or_default().push(id);
                let due = started + Duration::from_secs_f64(n as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
        })
    };
    let started = Instant::now();
    let mut per_minute = Vec::new();
    let mut swaps = 0;
    let mut redis_restarts = 0;
    let mut next_swap = started + p.swap_every;
    let mut next_minute = started + Duration::from_secs(60);
    let mut minute = 0;
    let delivered = |streams: &[Stream]| streams.iter().map(|s| s.lock().len() as u64).sum();
    while !producing.is_finished() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if !server.alive() {
            bail!("the server died; log:\n{}", server.log_tail());
        }
        if Instant::now() >= next_swap {
            swap(&server.plugins_dirs(), &p.swap_wasm, swaps % 2 == 0)?;
            swaps += 1;
            next_swap += p.swap_every;
        }
        if let Some(r) = redis.as_mut()
            && redis_restarts == 0
            && started.elapsed() >= p.duration / 2
        {
            eprintln!("soak: restarting Redis");
            r.restart().await?;
            redis_restarts += 1;
        }
        if Instant::now() >= next_minute {
            minute += 1;
            next_minute += Duration::from_secs(60);
            let m = Minute {
                minute,
                rss_kib: procfs::rss_kib(&pids).unwrap_or(0),
                latency_ms: shared.latency.take_summary(),
                produced: produced.lock().values().map(|v| v.len() as u64).sum(),
                delivered: delivered(&streams),
            };
            eprintln!(
                "soak minute {minute}: rss {} MiB, p50 {:.1} ms, p99 {:.1} ms, orders {} produced {} delivered",
                m.rss_kib / 1024,
                m.latency_ms.p50,
                m.latency_ms.p99,
                m.produced,
                m.delivered
            );
            per_minute.push(m);
        }
    }

    // Let the clients catch up, then compare.
    let total: u64 = produced.lock().values().map(|v| v.len() as u64).sum();
    let catch_up = Instant::now();
    while delivered(&streams) < total && catch_up.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Relaxed);
    for t in followers.into_iter().chain(prices) {
        t.abort();
    }
    let produced = produced.lock().clone();
    let mut report = SoakReport {
        target: p.kind,
        minutes: started.elapsed().as_secs_f64() / 60.0,
        price_sockets: p.price_sockets,
        order_users: p.order_users,
        produced: total,
        delivered: 0,
        repeated: 0,
        missing: 0,
        users_with_seq_gaps: 0,
        problems: Vec::new(),
        planned_reconnects: counters.planned.load(Relaxed),
        server_disconnects: counters.server_closed.load(Relaxed),
        swaps,
        redis_restarts,
        price_updates: shared.updates.load(Relaxed),
        price_socket_failures: shared.failures(),
        rss_early_late_kib: rss_early_late(&per_minute),
        per_minute,
    };
    for (i, stream) in streams.iter().enumerate() {
        let user = format!("soak-{i}");
        let got = stream.lock().clone();
        let want = produced.get(&user).cloned().unwrap_or_default();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, id) in &got {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        let repeated: usize = counts.values().map(|c| c - 1).sum();
        let missing = want
            .iter()
            .filter(|id| !counts.contains_key(id.as_str()))
            .count();
        let seq_broken = got
            .iter()
            .enumerate()
            .any(|(k, (seq, _))| *seq != k as u64 + 1);
        report.delivered += counts.len() as u64;
        report.repeated += repeated as u64;
        report.missing += missing as u64;
        report.users_with_seq_gaps += u64::from(seq_broken);
        if repeated > 0 || missing > 0 || seq_broken {
            report.problems.push(UserProblem {
                user,
                produced: want.len(),
                repeated,
                missing,
                seq_broken,
            });
        }
    }
    server.stop();
    drop(redis);
    Ok(report)
}

/// The highest RSS over minutes 2–5 and over the last four minutes.
fn rss_early_late(minutes: &[Minute]) -> (u64, u64) {
    let max = |ms: &[Minute]| ms.iter().map(|m| m.rss_kib).max().unwrap_or(0);
    let early = &minutes[minutes.len().min(1)..minutes.len().min(5)];
    let late = &minutes[minutes.len().saturating_sub(4)..];
    (max(early), max(late))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
