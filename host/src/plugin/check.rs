//! Checking a component without deploying it: what it is and whether the
//! gateway would load it, by the same validation a load runs (compile,
//! world, imports, `init`, `describe`, within its limits). The check has a
//! kv store of its own, in memory, so a component's `init` cannot touch
//! the state of the plugin it may replace. `gateway plugin check` and
//! `POST /api/plugins/check` both answer with a [`Verdict`].

use std::sync::Arc;

use serde::Serialize;

use super::engine::{EngineError, PluginEngine};
use super::env::HostServices;
use super::kind::PluginKind;
use super::kv_store::KvStore;
use super::loader::{Candidate, Loader};
use super::manifest::Limits;
use crate::price_cache::PriceCache;

/// The memory cap of a standalone checker's engine.
const STANDALONE_MAX_MEMORY: usize = 1 << 30;

/// Why a checker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CheckerError {
    /// The wasm engine could not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The plugin linker could not be built.
    #[error("cannot prepare plugin linking: {0:#}")]
    Link(wasmtime::Error),
}

/// Checks candidates. Must be built on a tokio runtime (plugin imports
/// drive their futures on it).
pub struct Checker {
    loader: Loader,
}

/// What a component said about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Described {
    /// Its own name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line about it.
    pub description: String,
    /// Symbols served (price sources).
    pub symbols: Vec<String>,
    /// How often it asks to be polled, in ms (sources).
    pub interval_ms: Option<u64>,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The name it would load under.
    pub name: String,
    /// SHA-256 of the wasm, hex.
    pub sha256: String,
    /// Whether the gateway would load it.
    pub loads: bool,
    /// Why not, when it would not.
    pub error: Option<String>,
    /// Its kind, once known.
    pub kind: Option<PluginKind>,
    /// What it said about itself, if it got that far.
    pub described: Option<Described>,
    /// The interfaces it imports, if it compiled.
    pub imports: Vec<String>,
}

impl Checker {
    /// A checker with an engine of its own (the command line), giving
    /// plugins `limits` unless their manifest sets others.
    pub fn standalone(limits: Limits) -> Result<Self, CheckerError> {
        let engine = PluginEngine::new(None, STANDALONE_MAX_MEMORY)?;
        Self::sharing(Arc::new(engine), limits)
    }

    /// A checker on a running gateway's `engine` (and its compile cache).
    pub fn sharing(engine: Arc<PluginEngine>, limits: Limits) -> Result<Self, CheckerError> {
        let services = HostServices {
            kv: Arc::new(KvStore::in_memory()),
            market: Arc::new(PriceCache::new(1)),
            http: crate::outbound::plugin_client(),
            runtime: tokio::runtime::Handle::current(),
            default_limits: limits,
        };
        let loader = Loader::new(engine, services).map_err(CheckerError::Link)?;
        Ok(Self { loader })
    }

    /// Checks `candidate`. Blocking: run it off the async runtime.
    pub fn check(&self, candidate: &Candidate) -> Verdict {
        let mut verdict = Verdict {
            name: candidate.name.clone(),
            sha256: candidate.sha256(),
            loads: false,
            error: None,
            kind: None,
            described: None,
            imports: Vec::new(),
        };
        match self.loader.validate(candidate) {
            Ok(v) => {
                verdict.loads = true;
                verdict.kind = Some(v.kind);
                verdict.imports = v.imports;
                verdict.described = Some(Described {
                    name: v.description.name,
                    version: v.description.version,
                    description: v.description.description,
                    symbols: v.description.symbols,
                    interval_ms: v
                        .description
                        .interval
                        .map(|i| u64::try_from(i.as_millis()).unwrap_or(u64::MAX)),
                });
            }
            Err(e) => verdict.error = Some(e.to_string()),
        }
        verdict
    }
}
