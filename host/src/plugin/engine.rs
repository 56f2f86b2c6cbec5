//! The one wasmtime engine of the process: component model, epoch
//! interruption driven by a ticker thread, the pooling allocator when the
//! machine grants its address space (on-demand otherwise), and a disk cache
//! of compiled components keyed by the wasm's hash and the engine's
//! compatibility hash, so restarts and reloads of a known file skip
//! compilation.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::state::{MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Instances the pooling allocator reserves room for.
const POOL_INSTANCES: u32 = 128;

/// Why the engine or a compilation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the engine configuration.
    #[error("cannot create the wasm engine: {0:#}")]
    Config(wasmtime::Error),
    /// The bytes are not a valid component.
    #[error("not a valid wasm component: {0:#}")]
    Compile(wasmtime::Error),
}

/// The engine, its allocator choice and the compile cache.
pub struct PluginEngine {
    engine: Engine,
    pooling: bool,
    cache_dir: Option<PathBuf>,
}

impl PluginEngine {
    /// Builds the engine; `max_memory_bytes` bounds any plugin's memory cap.
    /// Starts the epoch ticker, which stops when the engine is dropped.
    pub fn new(cache_dir: Option<PathBuf>, max_memory_bytes: usize) -> Result<Self, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 2)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 2)
            .max_memory_size(max_memory_bytes)
            // One plugin instance cannot take a large share of the slots
            // every plugin shares.
            .max_memories_per_component(MAX_MEMORIES as u32)
            .max_tables_per_component(MAX_TABLES as u32)
            .max_core_instances_per_component(MAX_CORE_INSTANCES as u32);
        let (engine, pooling) = match Engine::new(
            base_config().allocation_strategy(InstanceAllocationStrategy::Pooling(pool)),
        ) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!("pooling allocator unavailable ({e:#}); using on-demand allocation");
                (
                    Engine::new(&base_config()).map_err(EngineError::Config)?,
                    false,
                )
            }
        };
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| {
                EngineError::Config(wasmtime::format_err!("cannot start epoch ticker: {e}"))
            })?;
        if let Some(dir) = &cache_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            tracing::warn!(dir = %dir.display(), "compile cache disabled: {e}");
        }
        Ok(Self {
            engine,
            pooling,
            cache_dir,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Compiles `wasm`, or loads its compiled form from the cache. Blocking:
    /// call it off the async runtime.
    pub fn compile(&self, wasm: &[u8]) -> Result<Component, EngineError> {
        let Some(path) = self.cache_path(wasm) else {
            return Component::new(&self.engine, wasm).map_err(EngineError::Compile);
        };
        if path.is_file() {
            match self.load_cached(&path) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e:#}")
                }
            }
        }
        let component = Component::new(&self.engine, wasm).map_err(EngineError::Compile)?;
        if let Err(e) = store_cached(&component, &path) {
            tracing::warn!(path = %path.display(), "cannot write compile cache: {e:#}");
        }
        Ok(component)
    }

    fn cache_path(&self, wasm: &[u8]) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut compat = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut compat);
        let digest = hex::encode(Sha256::digest(wasm));
        Some(dir.join(format!("{digest}-{:016x}.cwasm", compat.finish())))
    }

    #[allow(unsafe_code)]
    fn load_cached(&self, path: &Path) -> wasmtime::Result<Component> {
        // SAFETY: the file was written by `store_cached` of an engine with the
        // same compatibility hash (it is part of the name) into the gateway's
        // own cache dir; wasmtime still checks its header and refuses a file
        // from another engine configuration.
        unsafe { Component::deserialize_file(&self.engine, path) }
    }
}

fn store_cached(component: &Component, path: &Path) -> wasmtime::Result<()> {
    let bytes = component.serialize()?;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    config
}
