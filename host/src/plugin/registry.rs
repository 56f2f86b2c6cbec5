//! The registry of plugins by name. Each name has a slot holding its
//! current version behind an atomic pointer: a swap makes new calls go to
//! the new version while calls already holding the old one finish on it.
//! Health (calls, errors, last error, breaker, recent call times and
//! reloads) lives in the slot, so it survives swaps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use tracing::Instrument;

use super::breaker::{Breaker, BreakerState};
use super::error::{CallError, LoadError};
use super::kind::PluginKind;
use super::recent::{CallTimes, Reload, ReloadHistory, ReloadOutcome};
use super::version::{PluginSource, PluginVersion};
use crate::metrics::PluginCallMetrics;

/// A failure remembered for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// What went wrong.
    pub message: String,
    /// Its stable code.
    pub code: String,
    /// When, in ms since the Unix epoch.
    pub at_ms: u64,
}

impl Failure {
    fn new(code: &str, message: String) -> Self {
        Self {
            message,
            code: code.to_owned(),
            at_ms: crate::time::now_ms(),
        }
    }
}

/// Counters of one plugin, kept across versions.
#[derive(Debug, Default)]
pub struct Health {
    loads: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
    busy_ns: AtomicU64,
    last_error: Mutex<Option<Failure>>,
    last_load_error: Mutex<Option<Failure>>,
    breaker: Breaker,
    call_times: CallTimes,
    reloads: ReloadHistory,
}

/// One plugin name and its current version.
pub struct Slot {
    name: String,
    current: ArcSwapOption<PluginVersion>,
    health: Health,
    metrics: PluginCallMetrics,
}

impl Slot {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version new calls go to, if loaded.
    pub fn current(&self) -> Option<Arc<PluginVersion>> {
        self.current.load_full()
    }

    /// Runs `f` on the current version, through the circuit breaker, and
    /// counts the outcome and its duration under `export` (the WIT
    /// function `f` calls), in a `plugin.call` span.
    pub async fn call<R, F, Fut>(&self, export: &'static str, f: F) -> Result<R, CallError>
    where
        F: FnOnce(Arc<PluginVersion>) -> Fut,
        Fut: Future<Output = Result<R, CallError>>,
    {
        let span = tracing::info_span!("plugin.call", plugin = %self.name, export);
        self.call_in(export, f).instrument(span).await
    }

    async fn call_in<R, F, Fut>(&self, export: &'static str, f: F) -> Result<R, CallError>
    where
        F: FnOnce(Arc<PluginVersion>) -> Fut,
        Fut: Future<Output = Result<R, CallError>>,
    {
        let version = self.current().ok_or(CallError::Unloaded)?;
        let started = Instant::now();
        self.health.breaker.admit(started)?;
        let policy = version.env.failure.clone();
        let result = f(version).await;
        let h = &self.health;
        let took = started.elapsed();
        h.calls.fetch_add(1, Ordering::Relaxed);
        h.busy_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.metrics.observe(&self.name, export, took.as_secs_f64());
        h.call_times.record(took);
        match &result {
            Ok(_) => h.breaker.succeeded(),
            Err(e) if e.counts_as_failure() => {
                self.metrics.failed(&self.name, e.code());
                h.errors.fetch_add(1, Ordering::Relaxed);
                *h.last_error.lock() = Some(Failure::new(e.code(), e.to_string()));
                if let Some(pause) = h.breaker.failed(&policy, Instant::now()) {
                    tracing::warn!(plugin = %self.name, "circuit open for {} ms after repeated failures: {e}", pause.as_millis());
                } else {
                    tracing::debug!(plugin = %self.name, "call failed: {e}");
                }
            }
            Err(_) => {}
        }
        result
    }

    /// Versions installed under this name so far (1: never replaced).
    pub fn loads(&self) -> u64 {
        self.health.loads.load(Ordering::Relaxed)
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.health.calls.load(Ordering::Relaxed)
    }

    /// Failed calls so far.
    pub fn errors(&self) -> u64 {
        self.health.errors.load(Ordering::Relaxed)
    }

    /// Total time calls took, including queueing.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.health.busy_ns.load(Ordering::Relaxed))
    }

    /// The last call failure.
    pub fn last_error(&self) -> Option<Failure> {
        self.health.last_error.lock().clone()
    }

    /// The last refused replacement.
    pub fn last_load_error(&self) -> Option<Failure> {
        self.health.last_load_error.lock().clone()
    }

    /// Whether the breaker refuses calls now.
    pub fn circuit_open(&self) -> bool {
        self.health.breaker.is_open(Instant::now())
    }

    /// The breaker's state now.
    pub fn breaker(&self) -> BreakerState {
        self.health.breaker.state(Instant::now())
    }

    /// The 99th percentile of the last calls' durations (queueing included).
    pub fn p99_call_time(&self) -> Option<Duration> {
        self.health.call_times.p99()
    }

    /// The last reloads under this name, oldest first.
    pub fn reloads(&self) -> Vec<Reload> {
        self.health.reloads.list()
    }
}

/// A reload that installed `version`.
fn installed(version: &PluginVersion, outcome: ReloadOutcome) -> Reload {
    Reload {
        at_ms: crate::time::now_ms(),
        version: Some(version.description.version.clone()),
        outcome,
        message: None,
    }
}

/// A file that failed to load and has no running version to fall back on.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The plugin name.
    pub name: String,
    /// The file.
    pub file: String,
    /// Why.
    pub error: Failure,
}

/// All plugins by name.
#[derive(Default)]
pub struct Registry {
    slots: RwLock<BTreeMap<String, Arc<Slot>>>,
    rejected: Mutex<BTreeMap<String, Rejected>>,
    call_metrics: PluginCallMetrics,
}

/// What [`Registry::install`] did.
pub struct Installed {
    /// The slot now serving the version.
    pub slot: Arc<Slot>,
    /// The version it replaced, if any.
    pub previous: Option<Arc<PluginVersion>>,
}

impl Registry {
    /// Makes `version` current under its name: a new slot, or an atomic swap.
    pub fn install(&self, version: PluginVersion) -> Installed {
        let name = version.name.clone();
        self.rejected.lock().remove(&name);
        let version = Arc::new(version);
        let mut slots = self.slots.write();
        if let Some(slot) = slots.get(&name) {
            slot.health
                .reloads
                .record(installed(&version, ReloadOutcome::Replaced));
            let previous = slot.current.swap(Some(version));
            slot.health.loads.fetch_add(1, Ordering::Relaxed);
            *slot.health.last_load_error.lock() = None;
            return Installed {
                slot: slot.clone(),
                previous,
            };
        }
        let health = Health::default();
        health
            .reloads
            .record(installed(&version, ReloadOutcome::Loaded));
        let slot = Arc::new(Slot {
            name: name.clone(),
            current: ArcSwapOption::from(Some(version)),
            health,
            metrics: self.call_metrics.clone(),
        });
        slot.health.loads.store(1, Ordering::Relaxed);
        slots.insert(name, slot.clone());
        Installed {
            slot,
            previous: None,
        }
    }

    /// Unloads `name`; returns the version that was serving.
    pub fn remove(&self, name: &str) -> Option<Arc<PluginVersion>> {
        self.rejected.lock().remove(name);
        let slot = self.slots.write().remove(name)?;
        slot.current.swap(None)
    }

    /// Records that a file for `name` failed to load. A running version
    /// stays and carries the error; otherwise the rejection is listed.
    pub fn reject(&self, name: &str, file: &str, error: &LoadError) {
        let failure = Failure::new("load", error.to_string());
        if let Some(slot) = self.slots.read().get(name) {
            slot.health.reloads.record(Reload {
                at_ms: failure.at_ms,
                version: None,
                outcome: ReloadOutcome::Refused,
                message: Some(failure.message.clone()),
            });
            *slot.health.last_load_error.lock() = Some(failure);
            return;
        }
        self.rejected.lock().insert(
            name.to_owned(),
            Rejected {
                name: name.to_owned(),
                file: file.to_owned(),
                error: failure,
            },
        );
    }

    /// Records that the files of `name` match its running version again:
    /// an earlier refused replacement no longer stands.
    pub fn settled(&self, name: &str) {
        if let Some(slot) = self.slots.read().get(name) {
            *slot.health.last_load_error.lock() = None;
        }
    }

    /// Call durations and failures of every plugin, for the metrics.
    pub(crate) fn call_metrics(&self) -> PluginCallMetrics {
        self.call_metrics.clone()
    }

    /// The slot of `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots.read().get(name).cloned()
    }

    /// Every slot, by name.
    pub fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots.read().values().cloned().collect()
    }

    /// The slots whose current version is of `kind`, by name.
    pub fn of_kind(&self, kind: PluginKind) -> Vec<Arc<Slot>> {
        self.slots
            .read()
            .values()
            .filter(|s| s.current().is_some_and(|v| v.kind == kind))
            .cloned()
            .collect()
    }

    /// Files that failed to load with nothing to fall back on.
    pub fn rejected(&self) -> Vec<Rejected> {
        self.rejected.lock().values().cloned().collect()
    }

    /// A snapshot of every plugin for the status and admin APIs.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        self.slots()
            .iter()
            .filter_map(|slot| {
                let v = slot.current()?;
                let state = if v.is_stalled() {
                    "stalled"
                } else if slot.circuit_open() {
                    "circuit-open"
                } else if slot
                    .last_error()
                    .is_some_and(|e| crate::time::now_ms().saturating_sub(e.at_ms) < 60_000)
                {
                    "degraded"
                } else {
                    "running"
                };
                Some(PluginStatus {
                    name: slot.name.clone(),
                    kind: v.kind,
                    version: v.description.version.clone(),
                    description: v.description.description.clone(),
                    source: v.source.clone(),
                    sha256: v.sha256.clone(),
                    state,
                    symbols: v.description.symbols.clone(),
                    loads: slot.loads(),
                    calls: slot.calls(),
                    errors: slot.errors(),
                    p99_call_ms: slot.p99_call_time().map(|d| d.as_secs_f64() * 1000.0),
                    breaker: slot.breaker(),
                    reloads: slot.reloads(),
                    last_error: slot.last_error(),
                    last_load_error: slot.last_load_error(),
                    loaded_at_ms: v
                        .loaded_at
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                })
            })
            .collect()
    }
}

/// One plugin as the status and admin APIs show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    /// Registry name.
    pub name: String,
    /// Kind.
    pub kind: PluginKind,
    /// Version it reported.
    pub version: String,
    /// What it said it does.
    pub description: String,
    /// Embedded or file.
    pub source: PluginSource,
    /// SHA-256 of its wasm.
    pub sha256: String,
    /// `running`, `degraded` (failed in the last minute), `circuit-open` or
    /// `stalled` (instances stuck; calls refused until it is replaced).
    pub state: &'static str,
    /// Symbols (price sources).
    pub symbols: Vec<String>,
    /// Versions loaded under this name since the gateway started (1: never
    /// replaced); files rewritten with the same content do not count.
    pub loads: u64,
    /// Calls so far.
    pub calls: u64,
    /// Failed calls so far.
    pub errors: u64,
    /// The 99th percentile of the last calls' durations, in ms (queueing
    /// included); `null` before the first call.
    pub p99_call_ms: Option<f64>,
    /// The circuit breaker's state.
    pub breaker: BreakerState,
    /// The last reloads under this name, oldest first.
    pub reloads: Vec<Reload>,
    /// Last call failure.
    pub last_error: Option<Failure>,
    /// Last refused replacement file.
    pub last_load_error: Option<Failure>,
    /// When this version was loaded.
    pub loaded_at_ms: u64,
}
