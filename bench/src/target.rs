//! The servers under test, child processes on free 127.0.0.1 ports: the
//! gateway binary (`target/release/gateway`) with the simulated price
//! source, the same binary as a two-node cluster sharing a Redis, and the
//! Node.js socket.io@4 peer (`bench/node-peer/server.mjs`).
//! Both get the same symbols, interval and JWT secret; tokens are minted by
//! the gateway binary itself (`gateway token`, i.e. `gateway::auth::mint`),
//! so the load generator does not link the gateway library and builds even
//! while the host crate is being changed.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The HS256 secret both servers verify tokens with.
pub(crate) const SECRET: &str = "bench";

/// The longest a server may take to answer `GET /health`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// The Rust gateway.
    Gateway,
    /// The Node.js socket.io@4 peer.
    Node,
    /// Two gateway processes in cluster mode over Redis; sockets are
    /// spread over both, and every tick crosses Redis.
    Cluster,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Gateway => "gateway",
            Kind::Node => "node",
            Kind::Cluster => "cluster",
        })
    }
}

/// How to start the servers, the same for every run.
pub(crate) struct Setup {
    /// The gateway binary.
    pub(crate) gateway_bin: PathBuf,
    /// The `node` executable.
    pub(crate) node_bin: PathBuf,
    /// The peer's script.
    pub(crate) node_script: PathBuf,
    /// Symbols both servers tick.
    pub(crate) symbols: Vec<String>,
    /// Tick interval in milliseconds.
    pub(crate) interval_ms: u64,
    /// The Redis of [`Kind::Cluster`].
    pub(crate) redis_url: String,
    /// Holds data directories, the shared compile cache and the logs.
    pub(crate) work: tempfile::TempDir,
}

/// A running server: one process, or the nodes of a cluster.
pub(crate) struct Server {
    /// Which server.
    pub(crate) kind: Kind,
    procs: Vec<Process>,
}

/// One server process.
struct Process {
    /// Its id (CPU and memory are read from `/proc/PID`).
    pid: u32,
    /// Where it listens.
    addr: SocketAddr,
    plugins_dir: PathBuf,
    child: Child,
    log: PathBuf,
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Setup {
    /// Environment of the gateway: the caps raised so nothing but the
    /// machine limits the run, the simulated source on our symbols.
    pub(crate) fn gateway_env(&self) -> Vec<(String, String)> {
        [
            ("JWT_SECRET", SECRET.to_owned()),
            ("HOST", "127.0.0.1".into()),
            ("MAX_WEBSOCKET_CONNECTIONS", "20000".into()),
            ("MAX_CONNECTIONS_PER_USER", "20000".into()),
            // One subscribe per socket; the default 60 per user would
            // refuse most of them when a user has many sockets.
            ("MAX_MESSAGES_PER_MINUTE", "1000000".into()),
            (
                "GATEWAY_PLUGIN__SIM_PRICES__SYMBOLS",
                self.symbols.join(","),
            ),
            (
                "GATEWAY_PLUGIN__SIM_PRICES__INTERVAL_MS",
                self.interval_ms.to_string(),
            ),
            ("LOG_LEVEL", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Environment of the Node peer.
    pub(crate) fn node_env(&self) -> Vec<(String, String)> {
        [
            ("JWT_SECRET", SECRET.to_owned()),
            ("HOST", "127.0.0.1".into()),
            ("SYMBOLS", self.symbols.join(",")),
            ("INTERVAL_MS", self.interval_ms.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts `kind` as run number `run` and waits until it answers
    /// `GET /health` (a cluster: node after node).
    pub(crate) async fn start(&self, kind: Kind, run: usize) -> Result<Server> {
        self.start_with(kind, run, &[]).await
    }

    /// [`Self::start`] with `extra` environment variables, set last (a
    /// gateway's `REDIS_URL` among them wins over the setup's).
    pub(crate) async fn start_with(
        &self,
        kind: Kind,
        run: usize,
        extra: &[(&str, String)],
    ) -> Result<Server> {
        let mut server = Server {
            kind,
            procs: Vec::new(),
        };
        let nodes = if kind == Kind::Cluster { 2 } else { 1 };
        for node in 0..nodes {
            let port = free_port()?;
            let dir = self.work.path().join(format!("{kind}-{run}-{node}"));
            std::fs::create_dir_all(&dir)?;
            let log = dir.join("server.log");
            let mut command = match kind {
                Kind::Gateway | Kind::Cluster => {
                    let mut c = Command::new(&self.gateway_bin);
                    c.envs(self.gateway_env())
                        .env("DATA_DIR", dir.join("data"))
                        .env("PLUGINS_DIR", dir.join("plugins.d"))
                        .env("COMPILE_CACHE_DIR", self.work.path().join("compile-cache"));
                    if kind == Kind::Cluster {
                        c.env("REDIS_URL", &self.redis_url)
                            .env(
                                "REDIS_PREFIX",
                                format!("gateway-bench-{}-{run}", std::process::id()),
                            )
                            .env("NODE_ID", format!("node-{node}"));
                    }
                    c
                }
                Kind::Node => {
                    let mut c = Command::new(&self.node_bin);
                    c.arg(&self.node_script).envs(self.node_env());
                    c
                }
            };
            let child = command
                .envs(extra.iter().map(|(k, v)| (*k, v)))
                .env("PORT", port.to_string())
                .env_remove("GATEWAY_CONFIG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .spawn()
                .with_context(|| format!("starting {kind}"))?;
            server.procs.push(Process {
                pid: child.id(),
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                plugins_dir: dir.join("plugins.d"),
                child,
                log,
            });
            server.wait_healthy().await?;
        }
        Ok(server)
    }

    /// `count` tokens for users `bench-0`…, minted by the gateway binary.
    pub(crate) fn mint_tokens(&self, count: usize) -> Result<Vec<String>> {
        (0..count)
            .map(|i| self.mint(&format!("bench-{i}"), false))
            .collect()
    }

    /// A token for `sub` (with the admin role when `admin`), minted by
    /// `gateway token`.
    pub(crate) fn mint(&self, sub: &str, admin: bool) -> Result<String> {
        let mut command = Command::new(&self.gateway_bin);
        command.args(["token", "--sub", sub, "--ttl", "6h"]);
        if admin {
            command.arg("--admin");
        }
        let out = command
            .env("JWT_SECRET", SECRET)
            .env_remove("GATEWAY_CONFIG")
            .output()
            .with_context(|| format!("running {}", self.gateway_bin.display()))?;
        if !out.status.success() {
            bail!(
                "`gateway token` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }
}

impl Server {
    /// Waits until the last started process answers `GET /health`.
    async fn wait_healthy(&mut self) -> Result<()> {
        let started = Instant::now();
        let kind = self.kind;
        let p = self.procs.last_mut().expect("a process was started");
        loop {
            if let Some(status) = p.child.try_wait()? {
                bail!(
                    "{kind} exited during startup ({status}); log {}:\n{}",
                    p.log.display(),
                    tail(&p.log)
                );
            }
            if health(p.addr).await {
                return Ok(());
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                bail!(
                    "{kind} did not answer /health within {STARTUP_TIMEOUT:?}; log:\n{}",
                    tail(&p.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its process ids.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|p| p.pid).collect()
    }

    /// The plugins directory of its first process.
    pub(crate) fn plugins_dir(&self) -> &Path {
        &self.procs[0].plugins_dir
    }

    /// The plugins directory of each process.
    pub(crate) fn plugins_dirs(&self) -> Vec<&Path> {
        self.procs.iter().map(|p| p.plugins_dir.as_path()).collect()
    }

    /// `GET path` with a bearer `token` on its first process: the body.
    pub(crate) async fn get(&self, path: &str, token: &str) -> Result<String> {
        let addr = self.procs[0].addr;
        let (status, body) = http_get(addr, path, Some(token)).await?;
        if !status.starts_with("HTTP/1.1 200") {
            bail!("GET {path}: {status}");
        }
        Ok(body)
    }

    /// Where its processes listen; sockets are spread over them.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.procs.iter().map(|p| p.addr).collect()
    }

    /// Whether every process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        self.procs
            .iter_mut()
            .all(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    /// The end of each process's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        self.procs
            .iter()
            .map(|p| tail(&p.log))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// Kills the processes and reaps them.
    pub(crate) fn stop(mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Whether `GET /health` answers 200.
async fn health(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), http_get(addr, "/health", None)).await,
        Ok(Ok((status, _))) if status.starts_with("HTTP/1.1 200")
    )
}

/// `GET path` (with a bearer `token`) over a fresh connection: the status
/// line and the body.
async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<(String, String)> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await?;
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("no HTTP response from {addr}{path}");
    };
    Ok((
        head.lines().next().unwrap_or(head).to_owned(),
        body.to_owned(),
    ))
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// First line of `program --version`, or `unknown`.
pub(crate) fn version_of(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
