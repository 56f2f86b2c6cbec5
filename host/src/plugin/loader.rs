//! Compiling and validating a candidate plugin: it must be a component
//! (compiled through the cache), export exactly one plugin world, import
//! only what its kind may use, instantiate, pass `init` and answer
//! `describe`, all within its limits. Only then does it get workers.
//! Blocking throughout: run it off the async runtime.

use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::engine::PluginEngine;
use super::env::{HostServices, PluginEnv};
use super::error::{CallError, LoadError};
use super::instance::Live;
use super::kind::PluginKind;
use super::manifest::Manifest;
use super::version::{Description, PluginSource, PluginVersion, describe};
use super::worker::WorkerPool;
use super::world::{Linkers, Pre};

/// A plugin to be loaded.
pub struct Candidate {
    /// Registry name.
    pub name: String,
    /// The component's bytes.
    pub wasm: Arc<[u8]>,
    /// Where they came from.
    pub source: PluginSource,
    /// The layered manifest.
    pub manifest: Manifest,
}

impl Candidate {
    /// SHA-256 of the wasm, hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.wasm))
    }
}

/// What validation learned about a component.
pub struct Validated {
    /// Its kind.
    pub kind: PluginKind,
    /// What it said about itself.
    pub description: Description,
    /// The interfaces it imports.
    pub imports: Vec<String>,
    /// SHA-256 of the wasm, hex.
    pub sha256: String,
    pre: Pre,
    env: Arc<PluginEnv>,
}

/// Compiles and validates candidates.
pub struct Loader {
    engine: Arc<PluginEngine>,
    linkers: Linkers,
    services: HostServices,
}

impl Loader {
    /// A loader for `engine`, giving plugins `services`.
    pub fn new(engine: Arc<PluginEngine>, services: HostServices) -> wasmtime::Result<Self> {
        let linkers = Linkers::new(engine.engine())?;
        Ok(Self {
            engine,
            linkers,
            services,
        })
    }

    /// Runs every check on `c` without starting workers.
    pub fn validate(&self, c: &Candidate) -> Result<Validated, LoadError> {
        let sha256 = c.sha256();
        let engine = self.engine.engine();
        let component = self
            .engine
            .compile(&c.wasm)
            .map_err(|e| LoadError::Compile(e.to_string()))?;
        let imports = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let kind = PluginKind::detect(&component, engine).map_err(LoadError::WrongWorld)?;
        let pre = Pre::new(kind, &component, &self.linkers).map_err(|e| LoadError::Link {
            kind: kind.to_string(),
            reason: format!("{e:#}"),
        })?;
        let env = Arc::new(PluginEnv::new(&c.name, &c.manifest, &self.services));
        let description =
            start_and_describe(engine, &pre, &env, kind).map_err(LoadError::Startup)?;
        Ok(Validated {
            kind,
            description,
            imports,
            sha256,
            pre,
            env,
        })
    }

    /// Validates `c` and starts its workers.
    pub fn load(&self, c: Candidate) -> Result<PluginVersion, LoadError> {
        if c.manifest.enabled == Some(false) {
            return Err(LoadError::Disabled);
        }
        let v = self.validate(&c)?;
        let pool = WorkerPool::start(self.engine.engine(), &v.pre, &v.env);
        Ok(PluginVersion {
            name: c.name,
            kind: v.kind,
            description: v.description,
            source: c.source,
            sha256: v.sha256,
            manifest: c.manifest,
            loaded_at: SystemTime::now(),
            env: v.env,
            pool,
        })
    }
}

/// Instantiates the plugin, runs `init` and `describe`, within the kind's
/// wall-clock deadline: on a thread of its own, abandoned (with its
/// instance) if it blocks past the deadline.
fn start_and_describe(
    engine: &wasmtime::Engine,
    pre: &Pre,
    env: &Arc<PluginEnv>,
    kind: PluginKind,
) -> Result<Description, CallError> {
    let wall = env.limits.wall(kind);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (engine, pre, env_) = (engine.clone(), pre.clone(), env.clone());
    std::thread::Builder::new()
        .name(format!("plugin-check-{}", env.name))
        .spawn(move || {
            let described = Live::start(&engine, &pre, &env_).and_then(|mut l| describe(&mut l));
            // The loader may have given up waiting.
            let _ = tx.send(described);
        })
        .map_err(|e| CallError::Init(format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(wall) {
        Ok(described) => described,
        Err(RecvTimeoutError::Timeout) => {
            tracing::warn!(plugin = %env.name, "start-up check stuck past its wall-clock deadline; abandoned");
            Err(CallError::WallClock {
                wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
            })
        }
        Err(RecvTimeoutError::Disconnected) => Err(CallError::Trap(
            "the start-up check ended without an answer".into(),
        )),
    }
}
