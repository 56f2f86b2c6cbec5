//! A plugin's resolved environment: everything its host imports need, built
//! once per loaded version and shared by its instances.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::kv_store::{KvNamespace, KvStore};
use super::manifest::{FailurePolicy, Limits, Manifest};
use crate::price_cache::PriceCache;

/// The gateway services plugins reach through their imports.
#[derive(Clone)]
pub struct HostServices {
    /// Per-plugin key-value store.
    pub kv: Arc<KvStore>,
    /// Latest prices and history.
    pub market: Arc<PriceCache>,
    /// Client for outbound HTTP.
    pub http: reqwest::Client,
    /// Runtime the blocking imports drive their futures on.
    pub runtime: tokio::runtime::Handle,
    /// Limits of a plugin whose manifest sets none.
    pub default_limits: Limits,
}

/// One plugin's config, allowlist, limits and service handles.
pub struct PluginEnv {
    /// The plugin's name (its file stem).
    pub name: String,
    /// Config values after layering.
    pub config: BTreeMap<String, String>,
    /// Hosts it may call: `host` or `host:port`.
    pub allowed_hosts: Vec<String>,
    /// Resource limits.
    pub limits: Limits,
    /// Circuit-breaker policy.
    pub failure: FailurePolicy,
    /// Instances serving calls.
    pub instances: usize,
    /// Its kv namespace.
    pub kv: KvNamespace,
    /// Shared services.
    pub services: HostServices,
    generation: AtomicU64,
}

impl PluginEnv {
    /// Resolves a layered manifest into an environment.
    pub fn new(name: &str, manifest: &Manifest, services: &HostServices) -> Self {
        let mut limits = services.default_limits.clone();
        limits.apply(&manifest.limits);
        let mut failure = FailurePolicy::default();
        failure.apply(&manifest.failure);
        Self {
            name: name.to_owned(),
            config: manifest
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.to_config_string()))
                .collect(),
            allowed_hosts: manifest.allowed_hosts.clone().unwrap_or_default(),
            kv: services.kv.namespace(name, limits.kv_max_bytes),
            limits,
            failure,
            instances: manifest.instances.unwrap_or(1).clamp(1, 16),
            services: services.clone(),
            generation: AtomicU64::new(0),
        }
    }

    /// Makes every worker start a fresh instance (so `init` runs again and
    /// reads the kv store anew) before its next call: a node that takes over
    /// a source plugin continues from the checkpoint the last holder stored.
    pub fn renew_instances(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes each time [`Self::renew_instances`] is called.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}
