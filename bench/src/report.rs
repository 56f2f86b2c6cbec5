//! The results: a JSON document (machine, conditions, every run, ratios
//! gateway/node) and the same numbers as readable tables; cluster runs get
//! a table of their own against the single gateway.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::procfs::{CpuUse, Machine};
use crate::scenario::{FanOut, Reload, Storm, StreamWindow};
use crate::target::Kind;

/// How the servers were run.
#[derive(Debug, Serialize)]
pub(crate) struct ServerInfo {
    /// Binary or script.
    pub(crate) program: String,
    /// `--version` of the binary (`node --version` for the peer).
    pub(crate) version: String,
    /// The socket.io package version (peer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) socket_io: Option<String>,
    /// Environment it was started with (besides `PORT` and its directories).
    pub(crate) env: BTreeMap<String, String>,
}

/// The conditions of every run.
#[derive(Debug, Serialize)]
pub(crate) struct Conditions {
    /// Symbols both servers tick.
    pub(crate) symbols: Vec<String>,
    /// Tick interval.
    pub(crate) interval_ms: u64,
    /// Symbols each socket subscribes to.
    pub(crate) symbols_per_socket: usize,
    /// Measurement window of each fan-out run.
    pub(crate) window_secs: f64,
    /// Time between the last subscription and the window.
    pub(crate) warmup_secs: f64,
    /// Handshakes in flight at most.
    pub(crate) in_flight: usize,
    /// Distinct users (tokens), used round-robin.
    pub(crate) users: usize,
    /// Worker threads of the load generator's runtime.
    pub(crate) loadgen_threads: usize,
    /// The gateway.
    pub(crate) gateway: Option<ServerInfo>,
    /// The Node peer.
    pub(crate) node: Option<ServerInfo>,
}

/// One metric of one scenario for both servers.
#[derive(Debug, Serialize)]
pub(crate) struct Ratio {
    /// e.g. `fan-out 1000x5`.
    pub(crate) scenario: String,
    /// The metric's name as in the table.
    pub(crate) metric: &'static str,
    /// The gateway's value.
    pub(crate) gateway: f64,
    /// The peer's value.
    pub(crate) node: f64,
    /// `gateway / node`.
    pub(crate) gateway_over_node: f64,
}

/// Everything a run of the load generator produced.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// The command line.
    pub(crate) command: String,
    /// When it started, ms since the Unix epoch.
    pub(crate) started_unix_ms: u64,
    /// The machine.
    pub(crate) machine: Machine,
    /// The conditions.
    pub(crate) conditions: Conditions,
    /// Fan-out runs.
    pub(crate) fan_out: Vec<FanOut>,
    /// Connection storms.
    pub(crate) storm: Vec<Storm>,
    /// Hot reloads under load.
    pub(crate) reload: Vec<Reload>,
    /// Gateway/node for every metric of every scenario both ran.
    pub(crate) ratios: Vec<Ratio>,
}

/// A row of a table: name, value, decimals.
type Metric<T> = (&'static str, fn(&T) -> f64, usize);

const MIB: f64 = 1024.0;

const FAN_OUT: &[Metric<FanOut>] = &[
    ("sockets connected", |r| r.connected as f64, 0),
    ("connect failures", |r| r.connect_failures as f64, 0),
    ("subscribe failures", |r| r.subscribe_failures as f64, 0),
    ("sockets dropped", |r| r.dropped as f64, 0),
    ("connect all (s)", |r| r.connect_secs, 2),
    (
        "SYNs dropped, listen queue full",
        |r| r.listen_overflows as f64,
        0,
    ),
    ("expected updates/s", |r| r.expected_per_sec, 0),
    ("delivered updates/s", |r| r.updates_per_sec, 0),
    ("delivery ratio", |r| r.delivery_ratio, 3),
    ("ticks repeated or reordered", |r| r.repeated as f64, 0),
    ("ticks skipped", |r| r.skipped as f64, 0),
    ("latency p50 (ms)", |r| r.latency_ms.p50, 2),
    ("latency p90 (ms)", |r| r.latency_ms.p90, 2),
    ("latency p99 (ms)", |r| r.latency_ms.p99, 2),
    ("latency p99.9 (ms)", |r| r.latency_ms.p999, 2),
    ("latency max (ms)", |r| r.latency_ms.max, 2),
    ("server CPU (cores)", |r| r.cpu.server_cores, 3),
    (
        "server CPU per update (us)",
        |r| r.server_cpu_us_per_update,
        2,
    ),
    (
        "server RSS at start (MiB)",
        |r| r.rss_start_kib as f64 / MIB,
        1,
    ),
    (
        "server RSS, sockets idle (MiB)",
        |r| r.rss_idle_kib as f64 / MIB,
        1,
    ),
    ("server KiB per idle socket", |r| r.kib_per_idle_socket, 1),
    (
        "server RSS under load (MiB)",
        |r| r.rss_loaded_kib as f64 / MIB,
        1,
    ),
    ("loadgen CPU (cores)", |r| r.cpu.loadgen_cores, 3),
    (
        "loadgen CPU per update (us)",
        |r| r.loadgen_cpu_us_per_update,
        2,
    ),
    ("machine busy (%)", |r| r.cpu.machine_busy * 100.0, 1),
    ("other processes (cores)", |r| r.cpu.other_cores, 3),
];

const STORM: &[Metric<Storm>] = &[
    ("sockets connected", |r| r.connected as f64, 0),
    ("connect failures", |r| r.connect_failures as f64, 0),
    ("elapsed (s)", |r| r.elapsed_secs, 3),
    (
        "SYNs dropped, listen queue full",
        |r| r.listen_overflows as f64,
        0,
    ),
    ("handshakes/s", |r| r.handshakes_per_sec, 0),
    ("handshake p50 (ms)", |r| r.handshake_ms.p50, 2),
    ("handshake p99 (ms)", |r| r.handshake_ms.p99, 2),
    ("handshake max (ms)", |r| r.handshake_ms.max, 2),
    ("server CPU (s)", |r| r.cpu.server_secs, 2),
    (
        "server CPU per handshake (us)",
        |r| r.server_cpu_us_per_handshake,
        1,
    ),
    (
        "server RSS after (MiB)",
        |r| r.rss_after_kib as f64 / MIB,
        1,
    ),
    ("loadgen CPU (s)", |r| r.cpu.loadgen_secs, 2),
    ("machine busy (%)", |r| r.cpu.machine_busy * 100.0, 1),
];

/// The scenarios of `runs`, in first-seen order, with the gateway's and
/// the peer's run (cluster runs have tables of their own).
fn pairs<T>(
    runs: &[T],
    key: impl Fn(&T) -> String,
    kind: impl Fn(&T) -> Kind,
) -> Vec<(String, Option<&T>, Option<&T>)> {
    let mut out: Vec<(String, Option<&T>, Option<&T>)> = Vec::new();
    for r in runs.iter().filter(|r| kind(r) != Kind::Cluster) {
        let k = key(r);
        let i = match out.iter().position(|(s, ..)| *s == k) {
            Some(i) => i,
            None => {
                out.push((k, None, None));
                out.len() - 1
            }
        };
        match kind(r) {
            Kind::Gateway => out[i].1 = Some(r),
            Kind::Node => out[i].2 = Some(r),
            Kind::Cluster => unreachable!("cluster runs are filtered out above"),
        }
    }
    out
}

fn fan_out_key(r: &FanOut) -> String {
    format!("fan-out {}x{}", r.sockets, r.symbols_per_socket)
}

fn storm_key(r: &Storm) -> String {
    format!("storm {}", r.sockets)
}

fn ratios_of<T>(
    out: &mut Vec<Ratio>,
    scenarios: &[(String, Option<&T>, Option<&T>)],
    metrics: &[Metric<T>],
) {
    for (scenario, g, n) in scenarios {
        let (Some(g), Some(n)) = (g, n) else { continue };
        for &(metric, value, _) in metrics {
            let (gv, nv) = (value(g), value(n));
            out.push(Ratio {
                scenario: scenario.clone(),
                metric,
                gateway: gv,
                node: nv,
                gateway_over_node: if nv != 0.0 { gv / nv } else { f64::NAN },
            });
        }
    }
}

/// Gateway/node for every metric of every scenario that both servers ran.
pub(crate) fn ratios(fan_out: &[FanOut], storm: &[Storm]) -> Vec<Ratio> {
    let mut out = Vec::new();
    ratios_of(
        &mut out,
        &pairs(fan_out, fan_out_key, |r| r.target),
        FAN_OUT,
    );
    ratios_of(&mut out, &pairs(storm, storm_key, |r| r.target), STORM);
    // NaN is not JSON; a ratio against zero is left out.
    out.retain(|r| r.gateway_over_node.is_finite());
    out
}

/// A table of two runs side by side, `columns` naming them and their ratio.
fn table<T>(
    text: &mut String,
    title: &str,
    columns: [&str; 3],
    gateway: Option<&T>,
    node: Option<&T>,
    metrics: &[Metric<T>],
) {
    let cell = |r: Option<&T>, value: fn(&T) -> f64, decimals: usize| {
        r.map_or_else(|| "-".into(), |r| format!("{:.*}", decimals, value(r)))
    };
    let _ = writeln!(text, "\n{title}");
    let _ = writeln!(
        text,
        "| {:<31} | {:>12} | {:>12} | {:>12} |",
        "metric", columns[0], columns[1], columns[2]
    );
    let _ = writeln!(text, "|{:-<33}|{:->14}|{:->14}|{:->14}|", "", ":", ":", ":");
    for &(name, value, decimals) in metrics {
        let ratio = match (gateway, node) {
            (Some(g), Some(n)) if value(n) != 0.0 => format!("{:.2}", value(g) / value(n)),
            _ => "-".into(),
        };
        let _ = writeln!(
            text,
            "| {:<31} | {:>12} | {:>12} | {:>12} |",
            name,
            cell(gateway, value, decimals),
            cell(node, value, decimals),
            ratio
        );
    }
}

const WINDOW: &[Metric<StreamWindow>] = &[
    ("window (s)", |w| w.secs, 2),
    ("expected updates", |w| w.expected, 0),
    ("delivered updates", |w| w.updates as f64, 0),
    ("ticks skipped", |w| w.skipped as f64, 0),
    ("ticks repeated or reordered", |w| w.repeated as f64, 0),
    ("longest gap in a stream (ms)", |w| w.max_gap_ms, 0),
];

/// The table of a hot reload run.
fn reload_table(text: &mut String, r: &Reload) {
    let _ = writeln!(
        text,
        "\nhot reload of the price source, {} sockets x {} symbols",
        r.sockets, r.symbols_per_socket
    );
    let _ = writeln!(
        text,
        "new build serving after {:.0} ms ({} bytes; includes the watcher's 100 ms quiet period); \
         {} of {} sockets dropped; latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        r.swap_ms,
        r.wasm_bytes,
        r.dropped,
        r.connected,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.max
    );
    table(
        text,
        "",
        ["with swap", "steady", "swap/steady"],
        Some(&r.swap),
        Some(&r.steady),
        WINDOW,
    );
    for (reason, count) in &r.failures {
        let _ = writeln!(text, "  {count} x {reason}");
    }
}

const PEER_COLUMNS: [&str; 3] = ["gateway", "node", "gateway/node"];
const CLUSTER_COLUMNS: [&str; 3] = ["cluster", "gateway", "cluster/gw"];

/// Cores of other processes above which a run is flagged as disturbed.
const DISTURBED_CORES: f64 = 0.1;

/// Failure reasons, and a warning for runs that shared the machine.
fn notes(text: &mut String, runs: &[(Kind, &BTreeMap<String, u64>, &CpuUse)]) {
    for (kind, failures, cpu) in runs {
        for (reason, count) in *failures {
            let _ = writeln!(text, "  {kind}: {count} x {reason}");
        }
        if cpu.other_cores > DISTURBED_CORES {
            let _ = writeln!(
                text,
                "  {kind}: other processes used {:.2} cores meanwhile; these numbers are disturbed",
                cpu.other_cores
            );
        }
    }
}

impl Report {
    /// The report as Markdown tables, one per scenario.
    pub(crate) fn tables(&self) -> String {
        let c = &self.conditions;
        let mut text = format!(
            "machine: {} cores, {}, {} MiB, Linux {}\n\
             conditions: {} symbols every {} ms, {} symbols per socket, {} s window after {} s warm-up, \
             {} handshakes in flight, {} users, load generator on {} threads",
            self.machine.nproc,
            self.machine.cpu_model,
            self.machine.memory_mib,
            self.machine.kernel,
            c.symbols.len(),
            c.interval_ms,
            c.symbols_per_socket,
            c.window_secs,
            c.warmup_secs,
            c.in_flight,
            c.users,
            c.loadgen_threads,
        );
        for (scenario, g, n) in pairs(&self.fan_out, fan_out_key, |r| r.target) {
            table(&mut text, &scenario, PEER_COLUMNS, g, n, FAN_OUT);
            let runs: Vec<_> = [g, n]
                .into_iter()
                .flatten()
                .map(|r| (r.target, &r.failures, &r.cpu))
                .collect();
            notes(&mut text, &runs);
        }
        for (scenario, g, n) in pairs(&self.storm, storm_key, |r| r.target) {
            table(&mut text, &scenario, PEER_COLUMNS, g, n, STORM);
            let runs: Vec<_> = [g, n]
                .into_iter()
                .flatten()
                .map(|r| (r.target, &r.failures, &r.cpu))
                .collect();
            notes(&mut text, &runs);
        }
        for c in self.fan_out.iter().filter(|r| r.target == Kind::Cluster) {
            let key = fan_out_key(c);
            let single = self
                .fan_out
                .iter()
                .find(|r| r.target == Kind::Gateway && fan_out_key(r) == key);
            let title = format!("{key}, cluster: 2 nodes + Redis, sockets on both");
            table(&mut text, &title, CLUSTER_COLUMNS, Some(c), single, FAN_OUT);
            notes(&mut text, &[(c.target, &c.failures, &c.cpu)]);
        }
        for r in &self.reload {
            reload_table(&mut text, r);
        }
        text
    }
}

/// The soak's summary and its per-minute table.
pub(crate) fn soak_table(r: &crate::soak::SoakReport, machine: &Machine) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "soak against {} on {} cores ({}): {:.1} min, {} price sockets, {} order users",
        r.target, machine.nproc, machine.cpu_model, r.minutes, r.price_sockets, r.order_users
    );
    let _ = writeln!(
        text,
        "notifications: {} produced, {} delivered, {} repeated, {} missing, {} users with seq gaps",
        r.produced, r.delivered, r.repeated, r.missing, r.users_with_seq_gaps
    );
    let _ = writeln!(
        text,
        "{} planned reconnects, {} server disconnects, {} price source swaps, {} Redis restarts, {} price updates",
        r.planned_reconnects, r.server_disconnects, r.swaps, r.redis_restarts, r.price_updates
    );
    let _ = writeln!(
        text,
        "RSS: highest over minutes 2-5 {} MiB, over the last 4 minutes {} MiB",
        r.rss_early_late_kib.0 / 1024,
        r.rss_early_late_kib.1 / 1024
    );
    let _ = writeln!(
        text,
        "\n| minute | RSS (MiB) | p50 (ms) | p99 (ms) | max (ms) | produced | delivered |"
    );
    let _ = writeln!(text, "|---:|---:|---:|---:|---:|---:|---:|");
    for m in &r.per_minute {
        let _ = writeln!(
            text,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |",
            m.minute,
            m.rss_kib / 1024,
            m.latency_ms.p50,
            m.latency_ms.p99,
            m.latency_ms.max,
            m.produced,
            m.delivered
        );
    }
    for p in &r.problems {
        let _ = writeln!(
            text,
            "problem: {} produced {}, repeated {}, missing {}, seq broken {}",
            p.user, p.produced, p.repeated, p.missing, p.seq_broken
        );
    }
    text
}
