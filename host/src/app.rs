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
use crate::cluster::lease::Leases;
use crate::cluster::order_log::SharedOrderLog;
use crate::cluster::relay::{self, Relay};
use crate::cluster::user_limits::SharedUserLimits;
use crate::cluster::{Cluster, ClusterError};
use crate::config::Config;
use crate::default_plugins;
use crate::delivery::{Delivery, Mode};
use crate::limits::chat::ChatSlots;
use crate::limits::connections::ConnectionCaps;
use crate::limits::messages::{LIMITER_SWEEP, MessageLimiter};
use crate::limits::tcp::CappedListener;
use crate::metrics::Metrics;
use crate::outbound;
use crate::plugin::check::{Checker, CheckerError};
use crate::plugin::deploy::{Deployer, PluginSources};
use crate::plugin::engine::{EngineError, PluginEngine};
use crate::plugin::env::HostServices;
use crate::plugin::kv_store::KvStore;
use crate::plugin::loader::Loader;
use crate::plugin::registry::Registry;
use crate::plugin::watch::{self, DirWatch};
use crate::price_cache::PriceCache;
use crate::protocol::MAX_TRANSPORT_MESSAGE_BYTES;
use crate::store::orders::Bounds;
use crate::store::{LocalJournal, Store, StoreError};

/// How long an Engine.IO session may stay open without a Socket.IO
/// CONNECT (the authenticated handshake) before it is closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket read buffer each socket allocates up front (engineioxide's
/// default is 4 KiB). Client frames are acks and small payloads; a larger
/// frame grows the buffer as it arrives. 3 KiB less per socket.
const WS_READ_BUFFER_BYTES: usize = 1024;

/// Everything the handlers share.
pub struct Gateway {
    /// The configuration it started with.
    pub config: Config,
    /// Token verification.
    pub(crate) auth: Authenticator,
    /// Connection caps.
    pub(crate) caps: Arc<ConnectionCaps>,
    /// Per-user message budget.
    pub(crate) limiter: MessageLimiter,
    /// Chat questions in flight per user.
    pub(crate) chat_slots: ChatSlots,
    /// The cluster, in cluster mode.
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// Per-user limits across the cluster, in cluster mode.
    pub(crate) user_limits: Option<Arc<SharedUserLimits>>,
    /// Source plugin leases, in cluster mode.
    pub(crate) leases: Option<Arc<Leases>>,
    /// The embedded store, without a cluster.
    pub(crate) store: Option<Arc<Store>>,
    /// Source output to sockets.
    pub delivery: Arc<Delivery>,
    /// The plugins.
    pub plugins: Arc<Deployer>,
    /// Checks uploaded plugins before they are written (`POST /api/plugins/check`).
    pub(crate) checker: Arc<Checker>,
    /// The HS256 secret in dev mode, where `POST /api/dev/token` mints with it.
    pub(crate) dev_secret: Option<String>,
    /// Prometheus metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// When it started.
    pub(crate) started: Instant,
    /// Set once shutdown began: `/health` answers 503 and connections are refused.
    pub(crate) shutting_down: AtomicBool,
}

impl Gateway {
    /// Open Socket.IO connections.
    pub fn open_connections(&self) -> usize {
        self.caps.total()
    }

    /// Starts draining: `/health` answers 503 and new connections are refused
    /// (what [`Running::shutdown`] does first).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
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
    /// The plugin checker could not be built.
    #[error(transparent)]
    Checker(#[from] CheckerError),
    /// The listener could not be used.
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    /// Redis could not be used for cluster mode.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The embedded store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let auth = Authenticator::new(&config, secret.as_deref(), outbound::gateway_client())?;
    let market = Arc::new(PriceCache::new(config.price_history_minutes));
    let registry = Arc::new(Registry::default());
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
            cluster.spawn_heartbeat().await;
            tracing::info!(node = cluster.node_id(), prefix = %config.redis_prefix, "cluster mode");
            Some(cluster)
        }
        None => None,
    };
    let leases = cluster.clone().map(Leases::new);
    let metrics = Arc::new(Metrics::new(registry.clone(), leases.clone()));
    let history_size = config.order_history_size;
    let history_age = Duration::from_secs(config.order_history_secs);
    let store = match &cluster {
        Some(_) => None,
        None => Some(Store::open(&config.data_dir)?),
    };
    let mode = match (&cluster, &store) {
        (Some(c), _) => {
            let orders = Arc::new(SharedOrderLog::new(c.clone(), history_size, history_age));
            Mode::Cluster {
                uplink: Arc::new(Relay::start(c.clone(), orders)),
            }
        }
        (None, Some(store)) => Mode::local(Arc::new(LocalJournal::new(
            store,
            Bounds {
                max_per_user: history_size.max(1) as u64,
                max_total: config.order_history_max_entries.max(1) as u64,
                max_age: history_age,
            },
        ))),
        (None, None) => unreachable!("a gateway without a cluster opens its store"),
    };
    let delivery = Delivery::new(
        market.clone(),
        registry.clone(),
        metrics.clone(),
        Duration::from_millis(config.slow_socket_timeout_ms),
        config.source_stale_intervals,
        mode,
    );
    if let Some(c) = &cluster {
        relay::listen(c.clone(), Arc::downgrade(&delivery))
            .await
            .map_err(ClusterError::Connect)?;
    }
    let limits = config.plugin_limits();
    let max_memory = usize::try_from(limits.memory_mib.max(64) << 20).unwrap_or(usize::MAX);
    let engine = Arc::new(PluginEngine::new(Some(config.compile_cache()), max_memory)?);
    let kv = match (&cluster, &store) {
        (Some(c), _) => KvStore::redis(c.clone(), tokio::runtime::Handle::current()),
        (None, store) => {
            let kv = KvStore::embedded(store.clone().unwrap_or_else(Store::in_memory));
            kv.import_files(&config.data_dir.join("kv"));
            kv
        }
    };
    let services = HostServices {
        kv: Arc::new(kv),
        market,
        http: outbound::plugin_client(),
        runtime: tokio::runtime::Handle::current(),
        default_limits: limits.clone(),
    };
    let checker = Arc::new(Checker::sharing(engine.clone(), limits.clone())?);
    let loader = Loader::new(engine, services).map_err(StartError::Link)?;
    let sources = PluginSources {
        dir: Some(config.plugins_dir.clone()),
        defaults: default_plugins::enabled(&config),
        overrides: config.plugins.clone(),
    };
    if let Err(e) = std::fs::create_dir_all(&config.plugins_dir) {
        tracing::warn!(dir = %config.plugins_dir.display(), "cannot create the plugins directory: {e}");
    }
    let mut deployer = Deployer::new(loader, sources, registry, delivery.clone());
    if let Some(leases) = &leases {
        deployer = deployer.with_leases(leases.clone());
    }
    let plugins = Arc::new(deployer);
    plugins.load_all().await;
    let dir_watch = watch::watch(plugins.clone(), &config.plugins_dir)
        .map_err(|e| StartError::Watch(config.plugins_dir.clone(), e))?;
    delivery.spawn_background();
    let mut limiter = MessageLimiter::new(
        NonZeroU32::new(config.max_messages_per_minute).unwrap_or(NonZeroU32::MIN),
    );
    let user_limits = cluster
        .clone()
        .map(|c| Arc::new(SharedUserLimits::new(c, config.max_messages_per_minute)));
    if let Some(shared) = &user_limits {
        limiter = limiter.clustered(shared.clone());
    }
    let gateway = Arc::new(Gateway {
        caps: Arc::new(ConnectionCaps::new(
            config.max_websocket_connections,
            config.max_connections_per_user,
        )),
        limiter,
        chat_slots: ChatSlots::new(config.chat_max_pending_per_user),
        cluster,
        user_limits,
        leases,
        store,
        auth,
        delivery,
        plugins,
        checker,
        dev_secret: secret.filter(|_| config.gateway_dev),
        metrics,
        started: Instant::now(),
        shutting_down: AtomicBool::new(false),
        config,
    });
    spawn_limiter_sweep(&gateway);
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_TRANSPORT_MESSAGE_BYTES as u64)
        .ws_max_frame_size(MAX_TRANSPORT_MESSAGE_BYTES)
        .ws_max_message_size(MAX_TRANSPORT_MESSAGE_BYTES)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
        .connect_timeout(CONNECT_TIMEOUT)
        .max_buffer_size(gateway.config.socket_buffer_packets.max(4))
        .build_layer();
    crate::socket::attach(&io, gateway.clone());
    let router = crate::http::router(gateway.clone())
        .layer(layer)
        .layer(axum::middleware::map_request(crate::http::detach::detach))
        .layer(crate::http::cors(&gateway.config));
    let addr = listener.local_addr()?;
    let listener = CappedListener::new(listener, gateway.config.tcp_connection_cap());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service())
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
        g.begin_shutdown();
        tracing::info!("shutting down");
        let deadline = Duration::from_secs(g.config.shutdown_timeout_secs);
        let drain = async {
            for socket in g.delivery.sockets() {
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
        // Last: whatever still runs (a connection outliving the server, a
        // plugin worker finishing a call) can no longer write.
        if let Some(store) = &g.store {
            store.close();
        }
    }
}
