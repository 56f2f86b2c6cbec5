//! Deploying plugins: what runs under each plugin name, from where, with
//! which manifest, and what happens when a file in the plugins directory
//! changes (load, swap, fall back to the default, unload).
//!
//! A plugin's manifest is layered: the default plugin's manifest (for the
//! embedded defaults), then `NAME.toml` in the plugins directory, then the
//! gateway config file's `[plugins.NAME]`, then `GATEWAY_PLUGIN__NAME__KEY`
//! environment variables. A file `NAME.wasm` in the directory overrides the
//! embedded default of the same name; deleting it brings the default back.
//!
//! A price source tells the sink what it claims when it is loaded or
//! replaced, and that it is gone when it is unloaded; its load order (the
//! tie-breaker between sources of equal priority) is the order of its
//! first load, plugins loaded together at start-up counting in name order.
//!
//! A sync whose wasm (by SHA-256), manifest and source equal the running
//! version's changes nothing: a reload would re-initialise the plugin for
//! a file that was only touched or renamed in again. A stalled version is
//! reloaded all the same, since replacing its file is how it recovers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::error::LoadError;
use super::files::{self, FileError};
use super::kind::PluginKind;
use super::loader::{Candidate, Loader};
use super::manifest::Manifest;
use super::owners::Claim;
use super::registry::Registry;
use super::runner::{self, SourceSink};
use super::version::PluginSource;
use crate::cluster::lease::Leases;

/// A default plugin built into the gateway.
#[derive(Clone)]
pub struct DefaultPlugin {
    /// Registry name.
    pub name: String,
    /// The component.
    pub wasm: Arc<[u8]>,
    /// Its base manifest (config derived from the gateway's settings).
    pub manifest: Manifest,
}

/// Where plugins come from.
#[derive(Clone, Default)]
pub struct PluginSources {
    /// The watched directory, if any.
    pub dir: Option<PathBuf>,
    /// Enabled default plugins.
    pub defaults: Vec<DefaultPlugin>,
    /// Per-plugin overrides from the config file and environment.
    pub overrides: BTreeMap<String, Manifest>,
}

/// Why [`Deployer::publish`] wrote nothing (or not all).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Not a plugin name.
    #[error("plugin names are [a-z0-9][a-z0-9_-]* (at most 64 characters)")]
    Name,
    /// The gateway has no plugins directory.
    #[error("the gateway has no plugins directory")]
    NoDirectory,
    /// Writing a file failed.
    #[error("cannot write to the plugins directory: {0}")]
    Write(std::io::Error),
}

/// Whether `name` may name a plugin: `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Loads, swaps and unloads plugins.
pub struct Deployer {
    loader: Arc<Loader>,
    registry: Arc<Registry>,
    sink: Arc<dyn SourceSink>,
    leases: Option<Arc<Leases>>,
    sources: Arc<PluginSources>,
    /// One lock per plugin name: syncs of one name run in order, different
    /// names in parallel.
    locks: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    closed: AtomicBool,
    /// The next load order.
    next_order: AtomicU64,
}

impl Deployer {
    /// A deployer with nothing loaded yet, installing into `registry`.
    pub fn new(
        loader: Loader,
        sources: PluginSources,
        registry: Arc<Registry>,
        sink: Arc<dyn SourceSink>,
    ) -> Self {
        Self {
            loader: Arc::new(loader),
            registry,
            sink,
            leases: None,
            sources: Arc::new(sources),
            locks: parking_lot::Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            next_order: AtomicU64::new(0),
        }
    }

    /// Runs source plugins only while this node holds their lease (cluster mode).
    pub fn with_leases(mut self, leases: Arc<Leases>) -> Self {
        self.leases = Some(leases);
        self
    }

    /// The registry of running plugins.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The plugins directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.sources.dir.as_deref()
    }

    /// Loads every default plugin and every plugin file in the directory.
    pub async fn load_all(&self) {
        let mut names: Vec<String> = self
            .sources
            .defaults
            .iter()
            .map(|d| d.name.clone())
            .collect();
        if let Some(dir) = &self.sources.dir {
            match std::fs::read_dir(dir) {
                Ok(entries) => names.extend(entries.filter_map(Result::ok).filter_map(|e| {
                    let path = e.path();
                    (path.extension()? == "wasm")
                        .then(|| path.file_stem()?.to_str().map(str::to_owned))?
                })),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot read plugins directory: {e}")
                }
            }
        }
        names.sort();
        names.dedup();
        let first = self
            .next_order
            .fetch_add(names.len() as u64, Ordering::Relaxed);
        futures_util::future::join_all(
            (first..)
                .zip(&names)
                .map(|(order, name)| self.sync_in_order(name, order)),
        )
        .await;
    }

    /// Brings plugin `name` in line with the directory: loads or swaps in
    /// `NAME.wasm`, falls back to the default of that name, or unloads.
    pub async fn sync(&self, name: &str) {
        let order = self.next_order.fetch_add(1, Ordering::Relaxed);
        self.sync_in_order(name, order).await;
    }

    /// [`Self::sync`], with the load order `name` gets if it is a price
    /// source loaded for the first time.
    async fn sync_in_order(&self, name: &str, order: u64) {
        if !valid_name(name) {
            tracing::warn!(
                name,
                "ignoring plugin file: names are [a-z0-9][a-z0-9_-]* (at most 64)"
            );
            return;
        }
        let lock = self
            .locks
            .lock()
            .entry(name.to_owned())
            .or_default()
            .clone();
        let _serial = lock.lock().await;
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let (sources, owned) = (self.sources.clone(), name.to_owned());
        // Hashed off the runtime too: a component may be large.
        let found = tokio::task::spawn_blocking(move || {
            candidate(&sources, &owned).map(|c| c.map(|c| (c.sha256(), c)))
        })
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Read {
                path: name.to_owned(),
                reason: format!("reading panicked: {e}"),
            })
        });
        let (sha256, candidate) = match found {
            Ok(Some(found)) => found,
            Ok(None) => {
                if self.unload(name) {
                    tracing::info!(plugin = name, "plugin unloaded");
                }
                return;
            }
            Err(e) => {
                tracing::error!(plugin = name, "plugin not loaded: {e}");
                self.registry.reject(name, &self.file_of(name), &e);
                return;
            }
        };
        if let Some(running) = self.registry.get(name).and_then(|s| s.current())
            && running.runs(&candidate, &sha256)
        {
            tracing::debug!(plugin = name, "plugin files unchanged; not reloaded");
            self.registry.settled(name);
            return;
        }
        let file = self.file_of(name);
        let loader = self.loader.clone();
        let started = std::time::Instant::now();
        let loaded = tokio::task::spawn_blocking(move || loader.load(candidate))
            .await
            .unwrap_or_else(|e| Err(LoadError::Compile(format!("loader panicked: {e}"))));
        match loaded {
            Ok(version) => {
                let (kind, version_text) = (version.kind, version.description.version.clone());
                let claim = (kind == PluginKind::PriceSource).then(|| Claim {
                    priority: version.manifest.priority.unwrap_or(0),
                    order,
                    symbols: version.description.symbols.clone(),
                    interval: version
                        .description
                        .interval
                        .unwrap_or(Duration::from_secs(1)),
                });
                let installed = self.registry.install(version);
                match claim {
                    Some(claim) => self.sink.claimed(name, claim),
                    None if installed
                        .previous
                        .as_ref()
                        .is_some_and(|p| p.kind == PluginKind::PriceSource) =>
                    {
                        self.sink.released(name)
                    }
                    None => {}
                }
                let swapped = installed.previous.is_some();
                if !swapped && runner::is_source(kind) {
                    runner::spawn(
                        installed.slot.clone(),
                        self.sink.clone(),
                        self.leases.clone(),
                    );
                }
                tracing::info!(
                    plugin = name,
                    %kind,
                    version = %version_text,
                    ms = started.elapsed().as_millis() as u64,
                    "{}",
                    if swapped { "plugin replaced" } else { "plugin loaded" }
                );
            }
            Err(LoadError::Disabled) => {
                if self.unload(name) {
                    tracing::info!(plugin = name, "plugin disabled and unloaded");
                }
            }
            Err(e) => {
                let kept = self.registry.get(name).is_some();
                tracing::error!(
                    plugin = name,
                    file,
                    "plugin not loaded{}: {e}",
                    if kept {
                        "; the running version stays"
                    } else {
                        ""
                    }
                );
                self.registry.reject(name, &file, &e);
            }
        }
    }

    /// Unloads every plugin; their runners and workers then stop.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let locks: Vec<_> = self.locks.lock().values().cloned().collect();
        for lock in locks {
            drop(lock.lock().await);
        }
        for slot in self.registry.slots() {
            self.unload(slot.name());
        }
    }

    /// Unloads `name`; whether it was loaded. A price source's symbols
    /// pass to the next source claiming them.
    fn unload(&self, name: &str) -> bool {
        let Some(version) = self.registry.remove(name) else {
            return false;
        };
        if version.kind == PluginKind::PriceSource {
            self.sink.released(name);
        }
        true
    }

    /// What the directory would run under `name` if its wasm were `wasm`
    /// and its manifest `manifest` (else the `NAME.toml` already there),
    /// layered as a load layers it: the input of a check before upload.
    pub async fn candidate_for(
        &self,
        name: &str,
        wasm: Arc<[u8]>,
        manifest: Option<Manifest>,
    ) -> Result<Candidate, LoadError> {
        let (sources, owned) = (self.sources.clone(), name.to_owned());
        let manifest = tokio::task::spawn_blocking(move || {
            layered_manifest(&sources, &owned, manifest.as_ref())
        })
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Read {
                path: name.to_owned(),
                reason: format!("reading panicked: {e}"),
            })
        })?;
        let source = PluginSource::File(
            self.dir()
                .map(|d| d.join(format!("{name}.wasm")))
                .unwrap_or_default(),
        );
        Ok(Candidate {
            name: name.to_owned(),
            wasm,
            source,
            manifest,
        })
    }

    /// Publishes `NAME.wasm` (and `NAME.toml` when given) into the plugins
    /// directory: both written whole under temporary names, then renamed
    /// into place one right after the other (the manifest first), so the
    /// watcher sees them change together; then syncs `name` as the watcher
    /// would (the watcher's own sync then finds nothing changed).
    pub async fn publish(
        &self,
        name: &str,
        wasm: Arc<[u8]>,
        manifest: Option<String>,
    ) -> Result<(), PublishError> {
        if !valid_name(name) {
            return Err(PublishError::Name);
        }
        let dir = self.dir().ok_or(PublishError::NoDirectory)?.to_owned();
        let owned = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            if let Some(toml) = &manifest {
                files.push((format!("{owned}.toml"), toml.as_bytes()));
            }
            files.push((format!("{owned}.wasm"), &wasm[..]));
            write_then_rename(&dir, &files)
        })
        .await
        .map_err(|e| PublishError::Write(std::io::Error::other(e.to_string())))?
        .map_err(PublishError::Write)?;
        self.sync(name).await;
        Ok(())
    }

    fn file_of(&self, name: &str) -> String {
        match &self.sources.dir {
            Some(dir) if dir.join(format!("{name}.wasm")).exists() => {
                dir.join(format!("{name}.wasm")).display().to_string()
            }
            _ => "(embedded)".into(),
        }
    }
}

/// What `name` should run now, if anything. Blocking: it reads files.
fn candidate(sources: &PluginSources, name: &str) -> Result<Option<Candidate>, LoadError> {
    let default = sources.defaults.iter().find(|d| d.name == name);
    let manifest = layered_manifest(sources, name, None)?;
    let mut file = None;
    if let Some(dir) = &sources.dir {
        let wasm = dir.join(format!("{name}.wasm"));
        if let Some(bytes) =
            files::read(&wasm, files::MAX_WASM_BYTES).map_err(|e| unreadable(&wasm, e))?
        {
            file = Some((wasm, bytes));
        }
    }
    let (wasm, source) = match (file, default) {
        (Some((path, bytes)), _) => (Arc::from(bytes), PluginSource::File(path)),
        (None, Some(d)) => (d.wasm.clone(), PluginSource::Embedded),
        (None, None) => return Ok(None),
    };
    Ok(Some(Candidate {
        name: name.to_owned(),
        wasm,
        source,
        manifest,
    }))
}

fn unreadable(path: &Path, e: FileError) -> LoadError {
    LoadError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The manifest `name` runs with: the default plugin's, then `uploaded`
/// (or else `NAME.toml` in the directory), then the config's overrides.
/// Blocking: it reads files.
fn layered_manifest(
    sources: &PluginSources,
    name: &str,
    uploaded: Option<&Manifest>,
) -> Result<Manifest, LoadError> {
    let default = sources.defaults.iter().find(|d| d.name == name);
    let mut manifest = default.map(|d| d.manifest.clone()).unwrap_or_default();
    let from_dir = match (uploaded, &sources.dir) {
        (Some(_), _) | (None, None) => None,
        (None, Some(dir)) => {
            let toml = dir.join(format!("{name}.toml"));
            files::read(&toml, files::MAX_MANIFEST_BYTES)
                .map_err(|e| unreadable(&toml, e))?
                .map(|bytes| {
                    let bad = |reason: String| LoadError::Manifest {
                        path: toml.display().to_string(),
                        reason,
                    };
                    let text = String::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
                    Manifest::parse(&text).map_err(|e| bad(e.to_string()))
                })
                .transpose()?
        }
    };
    if let Some(file) = uploaded.or(from_dir.as_ref()) {
        manifest = manifest.merged_with(file);
    }
    if let Some(over) = sources.overrides.get(name) {
        manifest = manifest.merged_with(over);
    }
    Ok(manifest)
}

/// Writes each `(file, bytes)` into `dir` under a temporary dotfile name
/// (which the watcher ignores), then renames them into place in order: no
/// reader sees half a file. If a write fails, the temporary files are
/// removed and nothing is renamed.
fn write_then_rename(dir: &Path, files: &[(String, &[u8])]) -> std::io::Result<()> {
    let tmp = |file: &str| dir.join(format!(".{file}.upload"));
    for (i, (file, bytes)) in files.iter().enumerate() {
        if let Err(e) = std::fs::write(tmp(file), bytes) {
            for (written, _) in &files[..=i] {
                let _ = std::fs::remove_file(tmp(written));
            }
            return Err(e);
        }
    }
    for (file, _) in files {
        std::fs::rename(tmp(file), dir.join(file))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{valid_name, write_then_rename};

    fn listing(dir: &Path) -> Vec<String> {
        let mut all: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn published_files_land_whole_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("feed.toml".to_owned(), &b"enabled = true\n"[..]),
            ("feed.wasm".to_owned(), &b"\0asm"[..]),
        ];
        write_then_rename(dir.path(), &files).unwrap();
        assert_eq!(listing(dir.path()), ["feed.toml", "feed.wasm"]);
        assert_eq!(
            std::fs::read(dir.path().join("feed.wasm")).unwrap(),
            b"\0asm"
        );
    }

    #[test]
    fn a_failed_write_renames_nothing_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".feed.wasm.upload")).unwrap();
        let files = [
            ("feed.toml".to_owned(), &b"enabled = true\n"[..]),
            ("feed.wasm".to_owned(), &b"\0asm"[..]),
        ];
        assert!(write_then_rename(dir.path(), &files).is_err());
        assert_eq!(listing(dir.path()), [".feed.wasm.upload"]);
    }

    #[test]
    fn plugin_names() {
        assert!(valid_name("sim-prices"));
        assert!(valid_name("feed_2"));
        assert!(!valid_name("Sim"));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
    }
}
