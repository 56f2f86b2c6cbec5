//! `gateway serve`: logs, the listener, the gateway, and a graceful stop
//! on SIGINT or SIGTERM.

use std::time::Duration;

use anyhow::{Context, Result};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, JwtAlgorithm, LogFormat};
use crate::telemetry::Traces;

/// Crates that log whole messages at trace level (a Socket.IO CONNECT
/// carries its token): capped at debug whatever `LOG_LEVEL` says.
const PAYLOAD_LOGGERS: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// What must live as long as the process logs: the log file's writer and
/// the trace exporter (both flush when dropped).
struct Telemetry {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
    _traces: Option<Traces>,
}

/// Logs to stdout (and `LOG_FILE`) as `LOG_LEVEL` says; spans also go to
/// OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
fn init_logs(config: &Config) -> Result<Telemetry> {
    let mut filter = EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("LOG_LEVEL {:?}", config.log_level))?;
    for target in PAYLOAD_LOGGERS {
        filter = filter.add_directive(format!("{target}=debug").parse()?);
    }
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
    let stdout_layer = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    let traces = Traces::from_env()?;
    tracing_subscriber::registry()
        .with(stdout_layer.and_then(file_layer).with_filter(filter))
        .with(traces.as_ref().map(Traces::layer))
        .init();
    if traces.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(Telemetry {
        _file: guard,
        _traces: traces,
    })
}

/// Serves until a stop signal, then shuts down gracefully.
pub(super) async fn serve(config: Config) -> Result<()> {
    let _guard = init_logs(&config)?;
    let hs256 = config.jwt_algorithm == JwtAlgorithm::HS256;
    let secret = if hs256 {
        Some(super::secret(&config)?)
    } else {
        None
    };
    if config.gateway_dev && config.jwt_secret.is_none() {
        tracing::warn!(
            "dev mode: using the generated JWT secret in {}; mint a token with `cargo run -- --dev token --sub alice`",
            config.data_dir.join("dev-jwt-secret").display()
        );
        if let Some(s) = &secret {
            let token = crate::auth::mint(
                s,
                "dev",
                true,
                Some("Developer"),
                Duration::from_secs(24 * 3600),
            );
            // Printed, not logged: no token goes into the log stream.
            eprintln!("dev token for user `dev` (admin, 24 h): {token}");
        }
    }
    let addr = format!("{}:{}", config.host, config.port);
    let listener = listen(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let running = crate::app::start(config, secret, listener).await?;
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
