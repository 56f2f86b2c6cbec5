//! The `gateway` command: serve (default), mint a token, or check a plugin.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use gateway::config::{Config, LogFormat};
use gateway::market::PriceCache;
use gateway::plugin::engine::PluginEngine;
use gateway::plugin::env::HostServices;
use gateway::plugin::kv_store::KvStore;
use gateway::plugin::loader::{Candidate, Loader};
use gateway::plugin::manifest::Manifest;
use gateway::plugin::version::PluginSource;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Real-time Socket.IO gateway whose features are WebAssembly plugins.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML); also `GATEWAY_CONFIG`.
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Dev mode: without JWT_SECRET, use a generated secret kept in the data dir.
    #[arg(long, global = true)]
    dev: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Socket.IO and HTTP (the default).
    Serve,
    /// Mint a JWT for the configured secret.
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        sub: String,
        /// Add the admin role.
        #[arg(long)]
        admin: bool,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. `1h`, `30m`, `7d`.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Says what a component is and whether the gateway would load it.
    Check {
        /// The `.wasm` component.
        file: PathBuf,
        /// Its manifest (default: the `.toml` beside it, if any).
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    config.gateway_dev |= cli.dev;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await.map(|()| ExitCode::SUCCESS),
        Command::Token {
            sub,
            admin,
            name,
            ttl,
        } => {
            let secret = secret(&config)?;
            println!(
                "{}",
                gateway::auth::mint(&secret, &sub, admin, name.as_deref(), ttl)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            command: PluginCommand::Check { file, manifest },
        } => check(&config, file, manifest).await,
    }
}

/// The HS256 secret: `JWT_SECRET`, or in dev mode one generated once and
/// kept in `DATA_DIR/dev-jwt-secret` so `gateway --dev token` matches.
fn secret(config: &Config) -> Result<String> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.clone());
    }
    if !config.gateway_dev {
        bail!(
            "JWT_SECRET is not set; set it, or run with --dev (GATEWAY_DEV=1) for a generated one"
        );
    }
    let path = config.data_dir.join("dev-jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_owned());
    }
    let s = gateway::auth::generate_secret();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    std::fs::write(&path, &s).with_context(|| format!("writing {}", path.display()))?;
    Ok(s)
}

fn init_logs(config: &Config) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    let filter = EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("LOG_LEVEL {:?}", config.log_level))?;
    let (file_layer, guard) = match &config.log_file {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path.file_name().context("LOG_FILE needs a file name")?;
            let appender = tracing_appender::rolling::daily(dir, name);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(tracing_subscriber::fmt::layer().json().with_writer(writer)),
                Some(guard),
            )
        }
        None => (None, None),
    };
    let registry = tracing_subscriber::registry().with(filter).with(file_layer);
    match config.log_format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json())
            .init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).init(),
    }
    Ok(guard)
}

async fn serve(config: Config) -> Result<()> {
    let _guard = init_logs(&config)?;
    let hs256 = config.jwt_algorithm == gateway::config::JwtAlgorithm::HS256;
    let secret = if hs256 { Some(secret(&config)?) } else { None };
    if config.gateway_dev && config.jwt_secret.is_none() {
        tracing::warn!(
            "dev mode: using the generated JWT secret in {}; mint a token with `cargo run -- --dev token --sub alice`",
            config.data_dir.join("dev-jwt-secret").display()
        );
        if let Some(s) = &secret {
            let token = gateway::auth::mint(
                s,
                "dev",
                true,
                Some("Developer"),
                Duration::from_secs(24 * 3600),
            );
            tracing::warn!("dev token for user `dev` (admin, 24 h): {token}");
        }
    }
    let addr = format!("{}:{}", config.host, config.port);
    let listener = listen(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let running = gateway::app::start(config, secret, listener).await?;
    shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

/// Pending connections the kernel may queue: a storm of handshakes must not
/// overflow the accept queue (tokio's `bind` uses 128).
const LISTEN_BACKLOG: u32 = 4096;

async fn listen(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address to bind")
    }))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn check(config: &Config, file: PathBuf, manifest: Option<PathBuf>) -> Result<ExitCode> {
    let wasm = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let manifest_path =
        manifest.or_else(|| Some(file.with_extension("toml")).filter(|p| p.is_file()));
    let manifest = match &manifest_path {
        Some(p) => Manifest::parse(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("manifest {}", p.display()))?,
        None => Manifest::default(),
    };
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_owned();
    let engine = Arc::new(PluginEngine::new(None, 1 << 30)?);
    let services = HostServices {
        kv: Arc::new(KvStore::new(None)),
        market: Arc::new(PriceCache::new(1)),
        http: reqwest::Client::new(),
        runtime: tokio::runtime::Handle::current(),
        default_limits: config.plugin_limits(),
    };
    let loader = Loader::new(engine, services).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let candidate = Candidate {
        name: name.clone(),
        wasm: Arc::from(wasm),
        source: PluginSource::File(file.clone()),
        manifest,
    };
    let result = tokio::task::spawn_blocking(move || loader.validate(&candidate)).await?;
    println!("file:     {}", file.display());
    match result {
        Ok(v) => {
            println!("kind:     {}", v.kind);
            println!("name:     {} (loads as `{name}`)", v.description.name);
            println!("version:  {}", v.description.version);
            println!("about:    {}", v.description.description);
            if !v.description.symbols.is_empty() {
                println!("symbols:  {}", v.description.symbols.join(", "));
            }
            if let Some(i) = v.description.interval {
                println!("interval: {} ms", i.as_millis());
            }
            println!("imports:");
            for import in &v.imports {
                println!("  {import}");
            }
            println!("sha256:   {}", v.sha256);
            println!("verdict:  the gateway would load it");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("verdict:  the gateway would NOT load it: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
