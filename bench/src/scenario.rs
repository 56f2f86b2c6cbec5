//! The scenarios, each against a freshly started server.
//!
//! Fan-out: measure the server's idle memory, connect N sockets, measure
//! it again (memory per idle socket), let every socket subscribe to K
//! symbols, warm up, then for the window count delivered `price:update`s,
//! their tick-to-client latency, ticks each socket got twice or missed in
//! its symbol streams, and the CPU of the server, of the load generator and
//! of the whole machine.
//!
//! Storm: connect N sockets as fast as the in-flight limit allows and time
//! the handshakes (TCP, websocket, Engine.IO open, Socket.IO connect with a
//! JWT check).
//!
//! Reload: N sockets follow their symbol streams through a steady window,
//! then a window in which a new build of the price source is renamed into
//! the plugins directory; the time until `/api/plugins` shows it serving,
//! the sockets dropped, and the ticks repeated or skipped in each window.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::client::{self, Endpoint, Job};
use crate::procfs::{self, CpuSample, CpuUse};
use crate::stats::{Shared, StreamCounts, Summary};
use crate::target::{Kind, Server, Setup};

/// How long the server sits idle before and after connecting, so that
/// memory readings are not taken mid-allocation.
const SETTLE: Duration = Duration::from_secs(1);

/// What every run shares.
pub(crate) struct Params<'a> {
    /// How to start servers.
    pub(crate) setup: &'a Setup,
    /// JWTs, used round-robin by the sockets.
    pub(crate) tokens: &'a [Arc<str>],
    /// Symbols per socket.
    pub(crate) symbols_per_socket: usize,
    /// Length of the measurement window.
    pub(crate) window: Duration,
    /// Time between the last subscription and the window.
    pub(crate) warmup: Duration,
    /// Handshakes in flight at most.
    pub(crate) in_flight: usize,
    /// `/proc` clock ticks per second.
    pub(crate) clk_tck: u64,
    /// Cores of the machine.
    pub(crate) cores: usize,
}

/// Results of one fan-out run.
#[derive(Debug, Serialize)]
pub(crate) struct FanOut {
    /// The server.
    pub(crate) target: Kind,
    /// Sockets asked for.
    pub(crate) sockets: usize,
    /// Symbols each socket subscribed to.
    pub(crate) symbols_per_socket: usize,
    /// Sockets admitted.
    pub(crate) connected: u64,
    /// Sockets that could not connect.
    pub(crate) connect_failures: u64,
    /// Subscriptions acknowledged with `ok: true`.
    pub(crate) subscribed: u64,
    /// Subscriptions refused.
    pub(crate) subscribe_failures: u64,
    /// Sockets closed by the server (or broken) before the end.
    pub(crate) dropped: u64,
    /// Failure reasons and counts.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Seconds until all N handshakes had finished.
    pub(crate) connect_secs: f64,
    /// SYNs the kernel dropped while connecting: the server's listen
    /// queue was full (machine-wide counter, read before and after).
    pub(crate) listen_overflows: u64,
    /// `price:update`s received in the window.
    pub(crate) updates: u64,
    /// Of which per second.
    pub(crate) updates_per_sec: f64,
    /// What full delivery would be: subscribed sockets × K × ticks per second.
    pub(crate) expected_per_sec: f64,
    /// `updates_per_sec / expected_per_sec`.
    pub(crate) delivery_ratio: f64,
    /// Ticks a socket got twice or out of order, in the window.
    pub(crate) repeated: u64,
    /// Ticks missing from sockets' symbol streams, in the window.
    pub(crate) skipped: u64,
    /// Receive time minus the tick's `timestamp`, in ms.
    pub(crate) latency_ms: Summary,
    /// CPU during the window.
    pub(crate) cpu: CpuUse,
    /// Server CPU microseconds per delivered update.
    pub(crate) server_cpu_us_per_update: f64,
    /// Load generator CPU microseconds per received update.
    pub(crate) loadgen_cpu_us_per_update: f64,
    /// Server RSS before any socket connected, KiB.
    pub(crate) rss_start_kib: u64,
    /// Server RSS with N sockets connected and idle, KiB.
    pub(crate) rss_idle_kib: u64,
    /// `(rss_idle - rss_start) / connected`.
    pub(crate) kib_per_idle_socket: f64,
    /// Server RSS at the end of the window, KiB.
    pub(crate) rss_loaded_kib: u64,
}

/// Results of one connection storm.
#[derive(Debug, Serialize)]
pub(crate) struct Storm {
    /// The server.
    pub(crate) target: Kind,
    /// Sockets asked for.
    pub(crate) sockets: usize,
    /// Handshakes in flight at most.
    pub(crate) in_flight: usize,
    /// Sockets admitted.
    pub(crate) connected: u64,
    /// Sockets that could not connect.
    pub(crate) connect_failures: u64,
    /// Failure reasons and counts.
    pub(crate) failures: BTreeMap<String, u64>,
    /// First attempt to last admission, seconds.
    pub(crate) elapsed_secs: f64,
    /// SYNs the kernel dropped because the server's listen queue was full
    /// (machine-wide counter, read before and after).
    pub(crate) listen_overflows: u64,
    /// Admitted sockets per second.
    pub(crate) handshakes_per_sec: f64,
    /// Duration of each successful handshake, ms.
    pub(crate) handshake_ms: Summary,
    /// CPU from the first attempt until all had finished.
    pub(crate) cpu: CpuUse,
    /// Server CPU microseconds per admitted socket.
    pub(crate) server_cpu_us_per_handshake: f64,
    /// Server RSS after the storm, KiB.
    pub(crate) rss_after_kib: u64,
}

/// Results of one hot reload under load.
#[derive(Debug, Serialize)]
pub(crate) struct Reload {
    /// Sockets asked for.
    pub(crate) sockets: usize,
    /// Symbols each socket subscribed to.
    pub(crate) symbols_per_socket: usize,
    /// Sockets admitted.
    pub(crate) connected: u64,
    /// Subscriptions acknowledged with `ok: true`.
    pub(crate) subscribed: u64,
    /// Bytes of the new build (the component with a custom section added,
    /// so its hash and compilation are new).
    pub(crate) wasm_bytes: usize,
    /// From the rename of the new file into the plugins directory until
    /// `/api/plugins` showed it serving, ms; includes the watcher's 100 ms
    /// quiet period and the compilation.
    pub(crate) swap_ms: f64,
    /// Sockets closed by the server (or broken) during the run.
    pub(crate) dropped: u64,
    /// The window before the swap.
    pub(crate) steady: StreamWindow,
    /// The window starting at the rename, as long as the steady one.
    pub(crate) swap: StreamWindow,
    /// Tick-to-client latency over both windows.
    pub(crate) latency_ms: Summary,
    /// Failure reasons and counts.
    pub(crate) failures: BTreeMap<String, u64>,
}

/// What the sockets' symbol streams did in one window.
#[derive(Debug, Serialize)]
pub(crate) struct StreamWindow {
    /// Its length.
    pub(crate) secs: f64,
    /// `price:update`s received.
    pub(crate) updates: u64,
    /// What full delivery would be.
    pub(crate) expected: f64,
    /// Ticks a socket got twice or out of order.
    pub(crate) repeated: u64,
    /// Ticks missing from sockets' streams (gaps of more than 1.5
    /// intervals, counted in intervals).
    pub(crate) skipped: u64,
    /// Longest gap between two ticks of a symbol on one socket, ms.
    pub(crate) max_gap_ms: f64,
}

impl StreamWindow {
    fn between(from: StreamCounts, to: StreamCounts, secs: f64, per_sec: f64) -> Self {
        Self {
            secs,
            updates: to.updates - from.updates,
            expected: per_sec * secs,
            repeated: to.repeats - from.repeats,
            skipped: to.skipped - from.skipped,
            max_gap_ms: to.max_gap_ms,
        }
    }
}

/// Sockets of one run and the switch that lets them subscribe.
struct Crowd {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    go: watch::Sender<bool>,
}

impl Crowd {
    /// Spawns `n` sockets against `server` (round-robin over its
    /// processes); socket `i` will subscribe to K consecutive symbols
    /// starting at `i × K` (so every symbol gets the same number of
    /// subscribers). With `follow`, sockets check their symbol streams.
    fn spawn(p: &Params<'_>, server: &Server, n: usize, follow: bool) -> Self {
        let shared = Arc::new(Shared::new());
        let (go, go_rx) = watch::channel(false);
        let in_flight = Arc::new(Semaphore::new(p.in_flight.max(1)));
        let endpoints: Vec<Arc<Endpoint>> = server
            .addrs()
            .into_iter()
            .map(|addr| {
                Arc::new(Endpoint {
                    addr,
                    in_flight: in_flight.clone(),
                })
            })
            .collect();
        let symbols = &p.setup.symbols;
        let mut tasks = JoinSet::new();
        for i in 0..n {
            let mine: Vec<&str> = (0..p.symbols_per_socket)
                .map(|j| symbols[(i * p.symbols_per_socket + j) % symbols.len()].as_str())
                .collect();
            let job = Job {
                token: p.tokens[i % p.tokens.len()].clone(),
                subscribe: client::subscribe_packet(&mine),
                follow_ms: follow.then_some(p.setup.interval_ms),
            };
            tasks.spawn(client::run(
                endpoints[i % endpoints.len()].clone(),
                job,
                shared.clone(),
                go_rx.clone(),
            ));
        }
        Self { shared, tasks, go }
    }

    /// Waits until `done()` reaches `n`, or fails after `limit` (or when
    /// the server died).
    async fn wait(
        &self,
        server: &mut Server,
        what: &str,
        n: u64,
        limit: Duration,
        done: impl Fn(&Shared) -> u64,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while done(&self.shared) < n {
            if !server.alive() {
                bail!(
                    "{} died while {what}; log:\n{}",
                    server.kind,
                    server.log_tail()
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{}: only {} of {n} finished {what} within {limit:?}",
                    server.kind,
                    done(&self.shared)
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Waits until all `n` handshakes have finished, either way.
    async fn connected(&self, server: &mut Server, n: usize) -> Result<()> {
        let limit = allowance(n);
        self.wait(
            server,
            "connecting",
            n as u64,
            limit,
            Shared::handshakes_done,
        )
        .await
    }

    /// Lets the admitted sockets subscribe and waits for every answer.
    async fn subscribed(&self, server: &mut Server) -> Result<()> {
        let _ = self.go.send(true);
        let connected = self.shared.connected.load(Relaxed);
        let limit = allowance(connected as usize);
        self.wait(
            server,
            "subscribing",
            connected,
            limit,
            Shared::subscriptions_done,
        )
        .await
    }

    /// Closes every socket.
    async fn close(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Time allowed for N handshakes or N subscriptions.
fn allowance(n: usize) -> Duration {
    Duration::from_secs(30) + Duration::from_millis(n as u64 * 10)
}

/// One fan-out run of `n` sockets against a fresh `kind`.
pub(crate) async fn fan_out(p: &Params<'_>, kind: Kind, n: usize, run: usize) -> Result<FanOut> {
    let mut server = p.setup.start(kind, run).await?;
    tokio::time::sleep(SETTLE).await;
    let rss_start_kib = procfs::rss_kib(&server.pids())?;

    let overflows = procfs::listen_overflows();
    let crowd = Crowd::spawn(p, &server, n, true);
    crowd.connected(&mut server, n).await?;
    let connect_secs = crowd.shared.last_connected_secs();
    let listen_overflows = procfs::listen_overflows().saturating_sub(overflows);
    tokio::time::sleep(SETTLE).await;
    let rss_idle_kib = procfs::rss_kib(&server.pids())?;
    let connected = crowd.shared.connected.load(Relaxed);

    crowd.subscribed(&mut server).await?;
    tokio::time::sleep(p.warmup).await;

    let before = CpuSample::take(&server.pids(), p.clk_tck)?;
    crowd.shared.start_window();
    tokio::time::sleep(p.window).await;
    crowd.shared.end_window();
    let after = CpuSample::take(&server.pids(), p.clk_tck)?;
    let rss_loaded_kib = procfs::rss_kib(&server.pids())?;
    let alive = server.alive();

    let s = &crowd.shared;
    let cpu = before.until(&after, p.cores);
    let updates = s.updates.load(Relaxed);
    let subscribed = s.subscribed.load(Relaxed);
    let ticks_per_sec = 1000.0 / p.setup.interval_ms as f64;
    let expected_per_sec = (subscribed * p.symbols_per_socket as u64) as f64 * ticks_per_sec;
    let updates_per_sec = updates as f64 / cpu.wall_secs;
    let per_update = |secs: f64| {
        if updates == 0 {
            0.0
        } else {
            secs * 1e6 / updates as f64
        }
    };
    let result = FanOut {
        target: kind,
        sockets: n,
        symbols_per_socket: p.symbols_per_socket,
        connected,
        connect_failures: s.connect_failed.load(Relaxed),
        subscribed,
        subscribe_failures: s.subscribe_failed.load(Relaxed),
        dropped: s.dropped.load(Relaxed),
        failures: s.failures(),
        connect_secs,
        listen_overflows,
        updates,
        updates_per_sec,
        expected_per_sec,
        delivery_ratio: if expected_per_sec > 0.0 {
            updates_per_sec / expected_per_sec
        } else {
            0.0
        },
        repeated: s.repeats.load(Relaxed),
        skipped: s.skipped.load(Relaxed),
        latency_ms: s.latency.summary(),
        server_cpu_us_per_update: per_update(cpu.server_secs),
        loadgen_cpu_us_per_update: per_update(cpu.loadgen_secs),
        cpu,
        rss_start_kib,
        rss_idle_kib,
        kib_per_idle_socket: if connected > 0 {
            rss_idle_kib.saturating_sub(rss_start_kib) as f64 / connected as f64
        } else {
            0.0
        },
        rss_loaded_kib,
    };
    crowd.close().await;
    if !alive {
        bail!("{kind} died during the window; log:\n{}", server.log_tail());
    }
    server.stop();
    Ok(result)
}

/// One connection storm of `n` sockets against a fresh `kind`.
pub(crate) async fn storm(p: &Params<'_>, kind: Kind, n: usize, run: usize) -> Result<Storm> {
    let mut server = p.setup.start(kind, run).await?;
    tokio::time::sleep(SETTLE).await;
    let overflows = procfs::listen_overflows();
    let before = CpuSample::take(&server.pids(), p.clk_tck)?;
    let crowd = Crowd::spawn(p, &server, n, false);
    crowd.connected(&mut server, n).await?;
    let after = CpuSample::take(&server.pids(), p.clk_tck)?;
    let listen_overflows = procfs::listen_overflows().saturating_sub(overflows);
    let s = &crowd.shared;
    let connected = s.connected.load(Relaxed);
    let elapsed_secs = s.last_connected_secs();
    let cpu = before.until(&after, p.cores);
    let result = Storm {
        target: kind,
        sockets: n,
        in_flight: p.in_flight,
        connected,
        connect_failures: s.connect_failed.load(Relaxed),
        failures: s.failures(),
        elapsed_secs,
        listen_overflows,
        handshakes_per_sec: if elapsed_secs > 0.0 {
            connected as f64 / elapsed_secs
        } else {
            0.0
        },
        handshake_ms: s.handshake.summary(),
        server_cpu_us_per_handshake: if connected > 0 {
            cpu.server_secs * 1e6 / connected as f64
        } else {
            0.0
        },
        cpu,
        rss_after_kib: procfs::rss_kib(&server.pids())?,
    };
    crowd.close().await;
    server.stop();
    Ok(result)
}

/// `wasm` with a custom section `name` holding `payload` appended: the
/// same code, new bytes.
fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// Whether `/api/plugins` (its JSON `body`) shows plugin `name` served
/// from a file.
fn served_from_file(body: &str, name: &str) -> Result<bool> {
    let v: serde_json::Value = serde_json::from_str(body)?;
    let Some(list) = v["plugins"].as_array() else {
        bail!("no plugin list in /api/plugins: {body}");
    };
    Ok(list
        .iter()
        .any(|p| p["name"] == name && p["source"]["type"] == "file"))
}

/// How long a swap may take before the run fails.
const SWAP_LIMIT: Duration = Duration::from_secs(30);

/// One hot reload of the price source (`wasm`, a new build of
/// `sim-prices`) while `n` sockets stream from a fresh gateway.
pub(crate) async fn reload(
    p: &Params<'_>,
    n: usize,
    run: usize,
    wasm: &Path,
    admin: &str,
) -> Result<Reload> {
    let original = std::fs::read(wasm)
        .with_context(|| format!("reading the price source build {}", wasm.display()))?;
    let mut server = p.setup.start(Kind::Gateway, run).await?;
    let crowd = Crowd::spawn(p, &server, n, true);
    crowd.connected(&mut server, n).await?;
    let connected = crowd.shared.connected.load(Relaxed);
    crowd.subscribed(&mut server).await?;
    if served_from_file(&server.get("/api/plugins", admin).await?, "sim-prices")? {
        bail!("sim-prices was served from a file before the swap");
    }
    tokio::time::sleep(p.warmup).await;

    let s = &crowd.shared;
    let subscribed = s.subscribed.load(Relaxed);
    let per_sec =
        (subscribed * p.symbols_per_socket as u64) as f64 * 1000.0 / p.setup.interval_ms as f64;
    s.start_window();
    let steady_from = s.stream_counts();
    let began = tokio::time::Instant::now();
    tokio::time::sleep(p.window).await;
    let steady_to = s.stream_counts();
    let steady_secs = began.elapsed().as_secs_f64();

    let nonce = format!("{}-{run}", std::process::id());
    let build = with_custom_section(&original, "gateway-bench-reload", nonce.as_bytes());
    let dir = server.plugins_dir().to_owned();
    let staging = dir.join(".sim-prices.wasm.part");
    std::fs::write(&staging, &build)?;
    let renamed = tokio::time::Instant::now();
    std::fs::rename(&staging, dir.join("sim-prices.wasm"))?;
    let swap_ms = loop {
        if served_from_file(&server.get("/api/plugins", admin).await?, "sim-prices")? {
            break renamed.elapsed().as_secs_f64() * 1000.0;
        }
        if renamed.elapsed() > SWAP_LIMIT || !server.alive() {
            bail!(
                "the new price source was not serving within {SWAP_LIMIT:?}; log:\n{}",
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    tokio::time::sleep_until(renamed + p.window).await;
    let swap_to = s.stream_counts();
    let swap_secs = renamed.elapsed().as_secs_f64();
    s.end_window();
    let alive = server.alive();
    let result = Reload {
        sockets: n,
        symbols_per_socket: p.symbols_per_socket,
        connected,
        subscribed,
        wasm_bytes: build.len(),
        swap_ms,
        dropped: s.dropped.load(Relaxed),
        steady: StreamWindow::between(steady_from, steady_to, steady_secs, per_sec),
        swap: StreamWindow::between(steady_to, swap_to, swap_secs, per_sec),
        latency_ms: s.latency.summary(),
        failures: s.failures(),
    };
    crowd.close().await;
    if !alive {
        bail!(
            "the gateway died during the reload; log:\n{}",
            server.log_tail()
        );
    }
    server.stop();
    Ok(result)
}
