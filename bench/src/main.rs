//! `loadgen`: measures price fan-out and connection storms against the
//! gateway (`target/release/gateway`, built with
//! `cargo build --release -p gateway`) and a Node.js socket.io@4 peer doing
//! the same work (`bench/node-peer/server.mjs`), each started fresh as a
//! child process for every run, and reports a table on stdout and JSON
//! (`--out`, default `target/bench-loadgen.json`).
//!
//! ```sh
//! cargo build --release -p gateway
//! cargo run --release -p gateway-bench --bin loadgen              # ~2 min
//! cargo run --release -p gateway-bench --bin loadgen -- --full    # 100, 1000, 10000 sockets
//! ```
//!
//! The hot reload run swaps a new build of the price source into a
//! gateway streaming to `--reload-sockets` sockets.
//!
//! The `cluster` target is the same binary as two nodes sharing the Redis
//! at `--redis-url`, sockets spread over both: its fan-out is compared with
//! the single gateway's.
//!
//! `--soak` runs only the soak (see [`soak`]): 20 minutes by default of
//! price streaming, order notifications to users who reconnect at random,
//! a price source swap every minute and (cluster) a Redis restart, then
//! checks that no notification was lost or repeated:
//!
//! ```sh
//! cargo run --release -p gateway-bench --bin loadgen -- --soak
//! cargo run --release -p gateway-bench --bin loadgen -- --soak --soak-target cluster
//! ```
//!
//! Both servers tick the same 20 symbols every 100 ms to rooms per symbol;
//! the load generator is one tokio runtime with one task per socket and
//! reads only what it measures from each frame (see [`client`]).

mod client;
mod procfs;
mod report;
mod scenario;
mod soak;
mod stats;
mod target;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;

use report::{Conditions, Report, ServerInfo};
use scenario::Params;
use target::{Kind, Setup};

/// The symbols both servers tick: the simulated source's table and a few
/// more crosses (which get its neutral defaults).
const SYMBOLS: [&str; 20] = [
    "EURUSD", "GBPUSD", "USDJPY", "USDCHF", "AUDUSD", "USDCAD", "NZDUSD", "EURGBP", "EURJPY",
    "GBPJPY", "EURCHF", "AUDJPY", "EURAUD", "EURCAD", "GBPCHF", "GBPAUD", "AUDNZD", "CADJPY",
    "CHFJPY", "NZDJPY",
];

/// Price fan-out and connection storms against the gateway and a Node.js
/// socket.io@4 peer.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Servers to measure, in this order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Kind::Gateway, Kind::Node, Kind::Cluster])]
    targets: Vec<Kind>,
    /// Sockets streaming during the hot reload of the price source, 0 for
    /// no reload run (needs the `gateway` target).
    #[arg(long, default_value_t = 1000)]
    reload_sockets: usize,
    /// The price source build swapped in during the reload
    /// [default: target/guests/wasm32-wasip2/guest/sim_prices.wasm, built
    /// with the gateway].
    #[arg(long)]
    reload_wasm: Option<PathBuf>,
    /// The Redis of the `cluster` target.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Fan-out levels, sockets per run [default: 100,1000; with --full 100,1000,10000].
    #[arg(long, value_delimiter = ',')]
    sockets: Option<Vec<usize>>,
    /// Sockets of the connection storm, 0 for none [default: 2000; with --full 10000].
    #[arg(long)]
    storm: Option<usize>,
    /// The full levels: 100, 1000 and 10000 sockets and a 10000-socket
    /// storm (about 2 minutes).
    #[arg(long)]
    full: bool,
    /// Symbols each socket subscribes to.
    #[arg(long, default_value_t = 5)]
    symbols_per_socket: usize,
    /// Symbols the servers tick (the first N of a fixed list of 20).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=20))]
    symbols: u16,
    /// Tick interval in milliseconds (100 = 10 Hz).
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Measurement window of each fan-out run, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Time between the last subscription and the window, seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Handshakes in flight at most.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    /// Distinct users the sockets are spread over (one token each).
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Worker threads of the load generator [default: the number of cores].
    #[arg(long)]
    threads: Option<usize>,
    /// The gateway binary [default: target/release/gateway].
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// The Node.js executable.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// Where to write the JSON report [default: target/bench-loadgen.json,
    /// or target/bench-soak-TARGET.json with --soak].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run the soak instead of the measurements.
    #[arg(long)]
    soak: bool,
    /// Minutes the soak produces notifications.
    #[arg(long, default_value_t = 20.0)]
    soak_minutes: f64,
    /// The soak's server: `gateway` or `cluster` (with a Redis of its own,
    /// restarted once).
    #[arg(long, value_enum, default_value_t = Kind::Gateway)]
    soak_target: Kind,
    /// Sockets streaming prices during the soak.
    #[arg(long, default_value_t = 1000)]
    soak_price_sockets: usize,
    /// Users receiving order notifications during the soak.
    #[arg(long, default_value_t = 300)]
    soak_users: usize,
    /// Order notifications produced per second during the soak.
    #[arg(long, default_value_t = 20.0)]
    soak_orders_per_sec: f64,
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the bench crate lives in the workspace")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, threads)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the peer's packages when they are missing.
fn ensure_node_peer(dir: &Path) -> Result<()> {
    if dir.join("node_modules/socket.io/package.json").is_file() {
        return Ok(());
    }
    eprintln!(
        "installing the Node peer's packages (npm ci in {})",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .context("running npm")?;
    if !status.success() {
        bail!("npm ci failed in {}", dir.display());
    }
    Ok(())
}

fn socket_io_version(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules/socket.io/package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["version"].as_str().map(str::to_owned)
}

async fn run(cli: Cli, threads: usize) -> Result<()> {
    let open_files =
        rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")?;
    let levels = cli.sockets.clone().unwrap_or_else(|| {
        if cli.full {
            vec![100, 1000, 10_000]
        } else {
            vec![100, 1000]
        }
    });
    let levels: Vec<usize> = levels.into_iter().filter(|&n| n > 0).collect();
    let storm = cli.storm.unwrap_or(if cli.full { 10_000 } else { 2000 });
    let most = levels.iter().copied().chain([storm]).max().unwrap_or(0);
    if (most as u64) + 64 > open_files {
        bail!("{most} sockets need more open files than the limit of {open_files}");
    }

    let root = workspace();
    let peer_dir = root.join("bench/node-peer");
    let gateway_bin = cli
        .gateway_bin
        .clone()
        .unwrap_or_else(|| root.join("target/release/gateway"));
    if !gateway_bin.is_file() {
        bail!(
            "no gateway binary at {} (it also mints the tokens); build it with `cargo build --release -p gateway`",
            gateway_bin.display()
        );
    }
    if cli.targets.contains(&Kind::Node) {
        ensure_node_peer(&peer_dir)?;
    }
    let setup = Setup {
        gateway_bin: gateway_bin.clone(),
        node_bin: cli.node.clone(),
        node_script: peer_dir.join("server.mjs"),
        symbols: SYMBOLS[..usize::from(cli.symbols)]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        interval_ms: cli.interval_ms,
        redis_url: cli.redis_url.clone(),
        work: tempfile::Builder::new()
            .prefix("gateway-bench-")
            .tempdir()?,
    };
    let tokens: Vec<Arc<str>> = setup
        .mint_tokens(cli.users.max(1))?
        .into_iter()
        .map(Arc::from)
        .collect();
    let clk_tck = procfs::clock_ticks();
    let machine = procfs::Machine::describe(clk_tck, open_files);
    if cli.soak {
        return run_soak(&cli, &setup, machine).await;
    }
    let params = Params {
        setup: &setup,
        tokens: &tokens,
        symbols_per_socket: cli.symbols_per_socket.clamp(1, setup.symbols.len()),
        window: Duration::from_secs_f64(cli.duration),
        warmup: Duration::from_secs_f64(cli.warmup),
        in_flight: cli.in_flight,
        clk_tck,
        cores: machine.nproc,
    };

    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut fan_out = Vec::new();
    let mut storms = Vec::new();
    let mut run = 0;
    for &n in &levels {
        for &kind in &cli.targets {
            run += 1;
            eprint!(
                "fan-out {n} sockets x {} symbols, {kind}: ",
                params.symbols_per_socket
            );
            let r = scenario::fan_out(&params, kind, n, run)
                .await
                .with_context(|| format!("fan-out of {n} sockets against {kind}"))?;
            eprintln!(
                "{:.0} updates/s of {:.0}, latency p50 {:.2} ms p99 {:.2} ms, server {:.2} cores, loadgen {:.2} cores",
                r.updates_per_sec,
                r.expected_per_sec,
                r.latency_ms.p50,
                r.latency_ms.p99,
                r.cpu.server_cores,
                r.cpu.loadgen_cores
            );
            fan_out.push(r);
        }
    }
    if storm > 0 {
        // A storm measures one server's handshakes; the cluster adds nothing.
        for &kind in cli.targets.iter().filter(|&&k| k != Kind::Cluster) {
            run += 1;
            eprint!("storm of {storm} sockets, {kind}: ");
            let r = scenario::storm(&params, kind, storm, run)
                .await
                .with_context(|| format!("storm of {storm} sockets against {kind}"))?;
            eprintln!(
                "{} connected in {:.2} s, {:.0} handshakes/s",
                r.connected, r.elapsed_secs, r.handshakes_per_sec
            );
            storms.push(r);
        }
    }

    let mut reloads = Vec::new();
    if cli.reload_sockets > 0 && cli.targets.contains(&Kind::Gateway) {
        run += 1;
        let n = cli.reload_sockets;
        let wasm = cli
            .reload_wasm
            .clone()
            .unwrap_or_else(|| root.join("target/guests/wasm32-wasip2/guest/sim_prices.wasm"));
        let admin = setup.mint("bench-admin", true)?;
        eprint!("hot reload of the price source under {n} sockets: ");
        let r = scenario::reload(&params, n, run, &wasm, &admin)
            .await
            .with_context(|| format!("hot reload under {n} sockets"))?;
        eprintln!(
            "serving after {:.0} ms, {} sockets dropped, {} ticks skipped, {} repeated",
            r.swap_ms, r.dropped, r.swap.skipped, r.swap.repeated
        );
        reloads.push(r);
    }

    let has = |k: Kind| cli.targets.contains(&k);
    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_unix_ms,
        machine,
        conditions: Conditions {
            symbols: setup.symbols.clone(),
            interval_ms: setup.interval_ms,
            symbols_per_socket: params.symbols_per_socket,
            window_secs: cli.duration,
            warmup_secs: cli.warmup,
            in_flight: cli.in_flight,
            users: tokens.len(),
            loadgen_threads: threads,
            gateway: (has(Kind::Gateway) || has(Kind::Cluster)).then(|| ServerInfo {
                program: gateway_bin.display().to_string(),
                version: target::version_of(&gateway_bin),
                socket_io: None,
                env: setup.gateway_env().into_iter().collect(),
            }),
            node: has(Kind::Node).then(|| ServerInfo {
                program: setup.node_script.display().to_string(),
                version: target::version_of(&cli.node),
                socket_io: socket_io_version(&peer_dir),
                env: setup.node_env().into_iter().collect(),
            }),
        },
        ratios: report::ratios(&fan_out, &storms),
        fan_out,
        storm: storms,
        reload: reloads,
    };
    println!("{}", report.tables());
    let out = cli
        .out
        .unwrap_or_else(|| root.join("target/bench-loadgen.json"));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("\nJSON report: {}", out.display());
    Ok(())
}

/// The soak, its table on stdout and its JSON report.
async fn run_soak(cli: &Cli, setup: &Setup, machine: procfs::Machine) -> Result<()> {
    if cli.soak_target == Kind::Node {
        bail!("the soak runs against `gateway` or `cluster`");
    }
    let root = workspace();
    let params = soak::SoakParams {
        kind: cli.soak_target,
        duration: Duration::from_secs_f64(cli.soak_minutes * 60.0),
        price_sockets: cli.soak_price_sockets,
        order_users: cli.soak_users,
        orders_per_sec: cli.soak_orders_per_sec,
        swap_every: Duration::from_secs(60),
        swap_wasm: cli
            .reload_wasm
            .clone()
            .unwrap_or_else(|| root.join("target/guests/wasm32-wasip2/guest/sim_prices.wasm")),
        symbols_per_socket: cli.symbols_per_socket.clamp(1, setup.symbols.len()),
    };
    eprintln!(
        "soak of {} min against {}: {} price sockets, {} users, {} orders/s",
        cli.soak_minutes,
        params.kind,
        params.price_sockets,
        params.order_users,
        params.orders_per_sec
    );
    let report = soak::soak(setup, &params, 1).await?;
    println!("{}", report::soak_table(&report, &machine));
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| root.join(format!("target/bench-soak-{}.json", params.kind)));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&serde_json::json!({ "machine": machine, "soak": report }))?,
    )
    .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("\nJSON report: {}", out.display());
    if report.price_updates == 0 || !report.price_socket_failures.is_empty() {
        bail!(
            "the price sockets did not stream: {} updates, failures {:?}",
            report.price_updates,
            report.price_socket_failures
        );
    }
    if report.missing > 0 || report.repeated > 0 || report.users_with_seq_gaps > 0 {
        bail!(
            "notifications lost or repeated: {} missing, {} repeated, {} users with seq gaps",
            report.missing,
            report.repeated,
            report.users_with_seq_gaps
        );
    }
    Ok(())
}
