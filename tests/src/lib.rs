//! Support for the end-to-end tests: the paths of the test guest components
//! (built from `tests/guests/` by `build.rs`), the `foreach_guest!` macro
//! with which a test file proves every guest has a test, and a plugin
//! platform on a temporary directory whose source plugins report into a
//! collecting sink; plus a real gateway on a random port ([`server`]),
//! a real gateway process ([`process`]), fake upstream services
//! ([`upstream`]), cluster settings and key cleanup ([`cluster`]), a
//! small Socket.IO client ([`sio`]), a bare long-polling
//! client ([`polling`]), the example plugins in other languages
//! ([`polyglot`]), a test CA and HTTPS servers ([`tls`]), a fake
//! identity provider ([`idp`]), the Node.js tests' directory ([`node`]),
//! the README's blocks and commands ([`readme`]) and the metric names of
//! PromQL expressions ([`promql`]).

pub mod cluster;
pub mod idp;
pub mod node;
pub mod polling;
pub mod polyglot;
pub mod process;
pub mod promql;
pub mod readme;
pub mod server;
pub mod sio;
pub mod tls;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use gateway::plugin::deploy::{DefaultPlugin, Deployer, PluginSources};
use gateway::plugin::engine::PluginEngine;
use gateway::plugin::env::HostServices;
use gateway::plugin::kv_store::KvStore;
use gateway::plugin::loader::Loader;
use gateway::plugin::manifest::{Limits, Manifest};
use gateway::plugin::owners::Claim;
use gateway::plugin::registry::Registry;
use gateway::plugin::runner::{NotAccepted, SourceSink};
use gateway::price_cache::PriceCache;
use gateway::protocol::payloads::{Event, OrderBatch, Tick};
use gateway::store::Store;
use parking_lot::Mutex;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Records everything source plugins publish (and accepts it, unless told
/// to refuse), and what price sources claim.
#[derive(Default)]
pub struct Collect {
    ticks: Mutex<Vec<(String, Tick)>>,
    claims: Mutex<Vec<(String, Option<Claim>)>>,
    orders: Mutex<Vec<(String, OrderBatch)>>,
    events: Mutex<Vec<(String, Event)>>,
    refuse_orders: Mutex<usize>,
    refused_orders: Mutex<Vec<OrderBatch>>,
}

impl Collect {
    /// Claims so far, in order: the plugin and its claim (`None`: released).
    pub fn claims(&self) -> Vec<(String, Option<Claim>)> {
        self.claims.lock().clone()
    }

    /// Ticks so far, with the plugin that produced them.
    pub fn ticks(&self) -> Vec<(String, Tick)> {
        self.ticks.lock().clone()
    }

    /// Order batches accepted so far.
    pub fn orders(&self) -> Vec<OrderBatch> {
        self.orders.lock().iter().map(|(_, b)| b.clone()).collect()
    }

    /// Order batches refused so far.
    pub fn refused_orders(&self) -> Vec<OrderBatch> {
        self.refused_orders.lock().clone()
    }

    /// Refuses the next `n` order batches (as a store or Redis that fails).
    pub fn refuse_orders(&self, n: usize) {
        *self.refuse_orders.lock() = n;
    }

    /// Forgets what was collected.
    pub fn clear(&self) {
        self.ticks.lock().clear();
        self.orders.lock().clear();
        self.events.lock().clear();
    }
}

impl SourceSink for Collect {
    fn ticks(&self, plugin: &str, ticks: Vec<Tick>) {
        self.ticks
            .lock()
            .extend(ticks.into_iter().map(|t| (plugin.to_owned(), t)));
    }

    fn claimed(&self, plugin: &str, claim: Claim) {
        self.claims.lock().push((plugin.to_owned(), Some(claim)));
    }

    fn released(&self, plugin: &str) {
        self.claims.lock().push((plugin.to_owned(), None));
    }

    fn silenced(&self, _plugin: &str) {}

    fn orders(
        &self,
        plugin: &str,
        batch: OrderBatch,
    ) -> BoxFuture<'static, Result<(), NotAccepted>> {
        let mut refuse = self.refuse_orders.lock();
        if *refuse > 0 {
            *refuse -= 1;
            self.refused_orders.lock().push(batch);
            return Box::pin(std::future::ready(Err(NotAccepted("refused".into()))));
        }
        self.orders.lock().push((plugin.to_owned(), batch));
        Box::pin(std::future::ready(Ok(())))
    }

    fn events(
        &self,
        plugin: &str,
        events: Vec<Event>,
    ) -> BoxFuture<'static, Result<(), NotAccepted>> {
        self.events
            .lock()
            .extend(events.into_iter().map(|e| (plugin.to_owned(), e)));
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A plugin platform on a temporary plugins directory.
pub struct Platform {
    /// The host under test.
    pub host: Arc<Deployer>,
    /// What its sources published.
    pub sink: Arc<Collect>,
    /// Holds the plugins directory, data dir and compile cache.
    pub tmp: tempfile::TempDir,
}

impl Platform {
    /// A platform with no default plugins.
    pub fn new() -> Self {
        Self::with_defaults(Vec::new())
    }

    /// A platform with the given default plugins.
    pub fn with_defaults(defaults: Vec<DefaultPlugin>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("plugins.d");
        std::fs::create_dir_all(&dir).unwrap();
        let engine = Arc::new(PluginEngine::new(Some(tmp.path().join("cache")), 64 << 20).unwrap());
        let services = HostServices {
            kv: Arc::new(KvStore::embedded(
                Store::open(&tmp.path().join("data")).unwrap(),
            )),
            market: Arc::new(PriceCache::new(15)),
            http: gateway::outbound::plugin_client(),
            runtime: tokio::runtime::Handle::current(),
            default_limits: Limits::default(),
        };
        let sink = Arc::new(Collect::default());
        let sources = PluginSources {
            dir: Some(dir),
            defaults,
            overrides: Default::default(),
        };
        let host = Arc::new(Deployer::new(
            Loader::new(engine, services).unwrap(),
            sources,
            Arc::new(Registry::default()),
            sink.clone(),
        ));
        Self { host, sink, tmp }
    }

    /// The plugins directory.
    pub fn dir(&self) -> PathBuf {
        self.host.dir().unwrap().to_owned()
    }

    /// Publishes `wasm` as `NAME.wasm` (with `manifest` as `NAME.toml`)
    /// the safe way: write a dotfile, then rename.
    pub fn publish(&self, name: &str, wasm: &[u8], manifest: Option<&str>) {
        let dir = self.dir();
        if let Some(m) = manifest {
            atomic_write(&dir, &format!("{name}.toml"), m.as_bytes());
        }
        atomic_write(&dir, &format!("{name}.wasm"), wasm);
    }
}

impl Default for Platform {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes `dir/file` through a temporary dotfile and a rename.
pub fn atomic_write(dir: &Path, file: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(file)).unwrap();
}

/// The bytes of a test guest.
pub fn guest(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("test guest {path} missing: {e}"))
}

/// The embedded default plugin `name` with `manifest`.
pub fn default_plugin(name: &str, manifest: Manifest) -> DefaultPlugin {
    let (_, wasm) = gateway::embedded::EMBEDDED_PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no embedded plugin {name}"));
    DefaultPlugin {
        name: name.to_owned(),
        wasm: Arc::from(*wasm),
        manifest,
    }
}

/// Polls `check` every 10 ms until it returns `Some`, or panics after `limit`
/// with `what` (a bound on waiting, not a performance assertion).
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Like [`eventually`] for checks that await (requests, connections):
/// polls every 200 ms.
pub async fn eventually_async<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
