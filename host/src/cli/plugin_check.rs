//! `gateway plugin check`: says what a component is and whether the
//! gateway would load it, with the same validation a load runs. `plugin
//! build` and `plugin dev` end with the same verdict.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::plugin::engine::PluginEngine;
use crate::plugin::env::HostServices;
use crate::plugin::kv_store::KvStore;
use crate::plugin::loader::{Candidate, Loader};
use crate::plugin::manifest::Manifest;
use crate::plugin::version::PluginSource;
use crate::price_cache::PriceCache;

/// Validates `file` (with its manifest) and prints the verdict; fails
/// when the gateway would not load it.
pub(super) async fn check(
    config: &Config,
    file: PathBuf,
    manifest: Option<PathBuf>,
) -> Result<ExitCode> {
    Ok(if verdict(config, file, manifest).await? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Validates `file` (with its manifest, by default the `.toml` beside it),
/// prints what it is and the verdict, and says whether the gateway would
/// load it.
pub(super) async fn verdict(
    config: &Config,
    file: PathBuf,
    manifest: Option<PathBuf>,
) -> Result<bool> {
    let wasm = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let manifest_path =
        manifest.or_else(|| Some(file.with_extension("toml")).filter(|p| p.is_file()));
    let manifest = match &manifest_path {
        Some(p) => Manifest::parse(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("manifest {}", p.display()))?,
        None => Manifest::default(),
    };
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_owned();
    let engine = Arc::new(PluginEngine::new(None, 1 << 30)?);
    let services = HostServices {
        kv: Arc::new(KvStore::in_memory()),
        market: Arc::new(PriceCache::new(1)),
        http: crate::outbound::plugin_client(),
        runtime: tokio::runtime::Handle::current(),
        default_limits: config.plugin_limits(),
    };
    let loader = Loader::new(engine, services).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let candidate = Candidate {
        name: name.clone(),
        wasm: Arc::from(wasm),
        source: PluginSource::File(file.clone()),
        manifest,
    };
    let result = tokio::task::spawn_blocking(move || loader.validate(&candidate)).await?;
    println!("file:     {}", file.display());
    match result {
        Ok(v) => {
            println!("kind:     {}", v.kind);
            println!("name:     {} (loads as `{name}`)", v.description.name);
            println!("version:  {}", v.description.version);
            println!("about:    {}", v.description.description);
            if !v.description.symbols.is_empty() {
                println!("symbols:  {}", v.description.symbols.join(", "));
            }
            if let Some(i) = v.description.interval {
                println!("interval: {} ms", i.as_millis());
            }
            println!("imports:");
            for import in &v.imports {
                println!("  {import}");
            }
            println!("sha256:   {}", v.sha256);
            println!("verdict:  the gateway would load it");
            Ok(true)
        }
        Err(e) => {
            println!("verdict:  the gateway would NOT load it: {e}");
            Ok(false)
        }
    }
}
