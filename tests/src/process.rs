//! A real gateway process: the `gateway` command's own `main.rs`, built in
//! this package as the `gateway-node` binary so that tests get its path
//! (`CARGO_BIN_EXE_gateway-node`) and it is always rebuilt with them.
//! Configured through the environment like any deployment, on a port the
//! kernel picks (read back from its JSON log), with temporary data and
//! plugin directories. Its log is kept and printed when a test panics.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::server::SECRET;
use crate::sio;

/// How long a process may take to start listening.
const START: Duration = Duration::from_secs(60);

/// A running gateway process.
pub struct GatewayProcess {
    /// A name for its log lines.
    pub name: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl GatewayProcess {
    /// Starts `program` (the `gateway-node` binary) with simulated prices
    /// every 50 ms (fixed seed) and the test secret, plus `env`, on
    /// temporary data and plugin directories of its own.
    pub async fn start(program: &Path, name: &str, env: &[(&str, String)]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut me = Self::start_in(program, name, tmp.path(), env).await;
        me._tmp = Some(tmp);
        me
    }

    /// Like [`Self::start`], with data and plugin directories under `dir`,
    /// which outlives the process (a restart finds what it left).
    pub async fn start_in(program: &Path, name: &str, dir: &Path, env: &[(&str, String)]) -> Self {
        let tmp = dir;
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("JWT_SECRET", SECRET)
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "info,gateway=debug")
            .env("DATA_DIR", tmp.join("data"))
            .env("PLUGINS_DIR", tmp.join("plugins.d"))
            .env(
                "COMPILE_CACHE_DIR",
                std::env::temp_dir().join("gateway-tests-compile-cache"),
            )
            .env("SHUTDOWN_TIMEOUT_SECS", "5")
            .env("GATEWAY_PLUGIN__SIM_PRICES__INTERVAL_MS", "50")
            .env("GATEWAY_PLUGIN__SIM_PRICES__SEED", "42")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = oneshot::channel();
        keep_lines(child.stdout.take().unwrap(), log.clone(), Some(addr_tx));
        keep_lines(child.stderr.take().unwrap(), log.clone(), None);
        let addr = match tokio::time::timeout(START, addr_rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!("{name} did not start listening:\n{}", log.lock().join("\n")),
        };
        Self {
            name: name.to_owned(),
            url: format!("http://{addr}"),
            child,
            log,
            _tmp: None,
        }
    }

    /// A one-hour token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        gateway::auth::mint(SECRET, sub, false, None, Duration::from_secs(3600))
    }

    /// A connected socket for `sub`.
    pub async fn connect(&self, sub: &str) -> sio::Client {
        sio::connect(&self.url, sio::Options::token(&self.token(sub)))
            .await
            .unwrap_or_else(|e| panic!("{sub} cannot connect to {}: {e:?}", self.name))
    }

    /// Whether a line of its log so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().iter().any(|line| line.contains(text))
    }

    /// `GET /api/status`.
    pub async fn status(&self) -> serde_json::Value {
        reqwest::get(format!("{}/api/status", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /metrics`: the Prometheus exposition.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of `series` (a metric name with its labels, as exposed,
    /// e.g. `gateway_x_total{reason="a"}`) in `/metrics`, if it is there.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let prefix = format!("{series} ");
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
    }

    /// Kills the process outright (SIGKILL): no graceful anything.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Asks the process to stop (SIGTERM) and waits until it exits.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let exited = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the gateway exits after SIGTERM")
            .unwrap();
        assert!(exited.success(), "{} exited with {exited}", self.name);
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- log of {} ----", self.name);
            for line in self.log.lock().iter() {
                eprintln!("{line}");
            }
        }
    }
}

/// Keeps every line of `stream` in `log`; sends the listening address on
/// `addr` once the gateway logs it.
fn keep_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    mut addr: Option<oneshot::Sender<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(found) = listening_addr(&line)
                && let Some(tx) = addr.take()
            {
                let _ = tx.send(found);
            }
            log.lock().push(line);
        }
    });
}

/// The `addr` of a JSON `gateway listening` log line.
fn listening_addr(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    (fields.get("message")? == "gateway listening")
        .then(|| fields.get("addr")?.as_str().map(str::to_owned))
        .flatten()
}
