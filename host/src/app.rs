//! Wiring: builds the gateway's parts from a [`Config`], serves HTTP and
//! Socket.IO on one listener, and shuts down gracefully.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socketioxide::SocketIo;
use tokio::net::TcpListener;

use crate::auth::{AuthSetupError, Authenticator};
use crate::bus::{Bus, Delivery};
use crate::cluster::caps::ClusterCaps;
use crate::cluster::history::SharedHistory;
use crate::cluster::lease::Leases;
use crate::cluster::relay::{self, Relay};
use crate::cluster::{Cluster, ClusterError};
use crate::config::Config;
use crate::defaults;
use crate::history::OrderHistory;
use crate::limits::{ConnectionCaps, LIMITER_SWEEP, MessageLimiter};
use crate::market::PriceCache;
use crate::metrics::Metrics;
use crate::plugin::engine::{EngineError, PluginEngine};
use crate::plugin::env::HostServices;
use crate::plugin::host::{PluginHost, PluginSources};
use crate::plugin::kv_store::KvStore;
use crate::plugin::loader::Loader;
use crate::plugin::registry::Registry;
use crate::plugin::watch::{self, DirWatch};

/// Everything the handlers share.
pub struct Gateway {
    /// The configuration it started with.
    pub config: Config,
    /// Token verification.
    pub auth: Authenticator,
    /// Connection caps.
    pub caps: Arc<ConnectionCaps>,
    /// Per-user message budget.
    pub limiter: MessageLimiter,
    /// The cluster, in cluster mode.
    pub cluster: Option<Arc<Cluster>>,
    /// Per-user connection counts across the cluster, in cluster mode.
    pub cluster_caps: Option<Arc<ClusterCaps>>,
    /// Source plugin leases, in cluster mode.
    pub leases: Option<Arc<Leases>>,
    /// Plugin output to sockets.
    pub bus: Arc<Bus>,
    /// The plugins.
    pub plugins: Arc<PluginHost>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// When it started.
    pub started: Instant,
    /// Set once shutdown began: `/health` answers 503 and connections are refused.
    pub shutting_down: AtomicBool,
}

impl Gateway {
    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Authentication settings are unusable.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// The wasm engine could not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The plugin linker could not be built.
    #[error("cannot prepare plugin linking: {0:#}")]
    Link(wasmtime::Error),
    /// The listener could not be used.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// Redis could not be used for cluster mode.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The plugins directory cannot be watched.
    #[error("cannot watch the plugins directory {0}: {1}")]
    Watch(PathBuf, notify::Error),
}

/// A gateway serving on a listener.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Shared state (for tests and the shutdown path).
    pub gateway: Arc<Gateway>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    _watch: Option<DirWatch>,
}

/// Builds the gateway and starts serving on `listener`. `secret` is the
/// resolved HS256 secret.
pub async fn start(
    config: Config,
    secret: Option<String>,
    listener: TcpListener,
) -> Result<Running, StartError> {
    let http = reqwest::Client::builder()
        .user_agent(concat!("gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a default reqwest client builds");
    let auth = Authenticator::new(&config, secret.as_deref(), http.clone())?;
    let market = Arc::new(PriceCache::new(config.price_history_minutes));
    let registry = Arc::new(Registry::default());
    let metrics = Arc::new(Metrics::new(registry.clone()));
    let cluster = match &config.redis_url {
        Some(url) => {
            let node_id = config.node_id.clone().unwrap_or_else(|| {
                format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
            });
            let cluster = Cluster::connect(
                url,
                &config.redis_prefix,
                node_id,
                Duration::from_millis(config.lease_ttl_ms),
            )
            .await?;
            cluster.spawn_heartbeat();
            tracing::info!(node = cluster.node_id(), prefix = %config.redis_prefix, "cluster mode");
            Some(cluster)
        }
        None => None,
    };
    let history_size = config.order_history_size;
    let history_age = Duration::from_secs(config.order_history_secs);
    let delivery = match &cluster {
        Some(c) => {
            let history = Arc::new(SharedHistory::new(c.clone(), history_size, history_age));
            Delivery::Cluster {
                relay: Relay::start(c.clone(), history.clone()),
                history,
            }
        }
        None => Delivery::Local(OrderHistory::new(history_size, history_age)),
    };
    let bus = Bus::new(
        market.clone(),
        registry.clone(),
        metrics.clone(),
        Duration::from_millis(config.slow_socket_timeout_ms),
        delivery,
    );
    if let Some(c) = &cluster {
        relay::listen(c.clone(), Arc::downgrade(&bus))
            .await
            .map_err(ClusterError::Connect)?;
    }
    let limits = config.plugin_limits();
    let max_memory = usize::try_from(limits.memory_mib.max(64) << 20).unwrap_or(usize::MAX);
    let engine = Arc::new(PluginEngine::new(
        Some(config.data_dir.join("compile-cache")),
        max_memory,
    )?);
    let services = HostServices {
        kv: Arc::new(match &cluster {
            Some(c) => KvStore::redis(c.clone(), tokio::runtime::Handle::current()),
            None => KvStore::new(Some(config.data_dir.clone())),
        }),
        market,
        http,
        runtime: tokio::runtime::Handle::current(),
        default_limits: limits,
    };
    let loader = Loader::new(engine, services).map_err(StartError::Link)?;
    let sources = PluginSources {
        dir: Some(config.plugins_dir.clone()),
        defaults: defaults::default_plugins(&config),
        overrides: config.plugins.clone(),
    };
    if let Err(e) = std::fs::create_dir_all(&config.plugins_dir) {
        tracing::warn!(dir = %config.plugins_dir.display(), "cannot create the plugins directory: {e}");
    }
    let leases = cluster.clone().map(Leases::new);
    let mut host = PluginHost::new(loader, sources, registry, bus.clone());
    if let Some(leases) = &leases {
        host = host.with_leases(leases.clone());
    }
    let plugins = Arc::new(host);
    plugins.load_all().await;
    let dir_watch = watch::watch(plugins.clone(), &config.plugins_dir)
        .map_err(|e| StartError::Watch(config.plugins_dir.clone(), e))?;
    bus.spawn_flusher();
    let mut limiter = MessageLimiter::new(
        NonZeroU32::new(config.max_messages_per_minute).unwrap_or(NonZeroU32::MIN),
    );
    let cluster_caps = cluster
        .clone()
        .map(|c| Arc::new(ClusterCaps::new(c, config.max_messages_per_minute)));
    if let Some(shared) = &cluster_caps {
        limiter = limiter.clustered(shared.clone());
    }
    let gateway = Arc::new(Gateway {
        caps: Arc::new(ConnectionCaps::new(
            config.max_websocket_connections,
            config.max_connections_per_user,
        )),
        limiter,
        cluster,
        cluster_caps,
        leases,
        auth,
        bus,
        plugins,
        metrics,
        started: Instant::now(),
        shutting_down: AtomicBool::new(false),
        config,
    });
    spawn_limiter_sweep(&gateway);
    let (layer, io) = SocketIo::builder()
        .max_payload(1 << 20)
        .max_buffer_size(gateway.config.socket_buffer_packets.max(4))
        .build_layer();
    crate::socket::attach(&io, gateway.clone());
    let router = crate::http::router(gateway.clone())
        .layer(layer)
        .layer(crate::http::cors(&gateway.config));
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
    });
    tracing::info!(%addr, "gateway listening");
    Ok(Running {
        addr,
        gateway,
        server,
        stop,
        _watch: Some(dir_watch),
    })
}

fn spawn_limiter_sweep(gateway: &Arc<Gateway>) {
    let weak = Arc::downgrade(gateway);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LIMITER_SWEEP).await;
            match weak.upgrade() {
                Some(g) => g.limiter.sweep(),
                None => return,
            }
        }
    });
}

impl Running {
    /// Graceful shutdown: `/health` turns 503, new connections are refused,
    /// sockets are disconnected, plugins stop, and the server drains, all
    /// within the configured timeout.
    pub async fn shutdown(self) {
        let g = &self.gateway;
        g.shutting_down.store(true, Ordering::Relaxed);
        tracing::info!("shutting down");
        let deadline = Duration::from_secs(g.config.shutdown_timeout_secs);
        let drain = async {
            for socket in g.bus.sockets() {
                let _ = socket.disconnect();
            }
            g.plugins.shutdown().await;
            if let Some(leases) = &g.leases {
                leases.release_all().await;
            }
            if let Some(cluster) = &g.cluster {
                cluster.leave().await;
            }
            let _ = self.stop.send(true);
            let _ = self.server.await;
        };
        if tokio::time::timeout(deadline, drain).await.is_err() {
            tracing::warn!("shutdown took longer than {deadline:?}; exiting anyway");
        }
    }
}
