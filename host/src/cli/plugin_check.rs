//! `gateway plugin check`: says what a component is and whether the
//! gateway would load it, with the same validation a load runs
//! ([`crate::plugin::check`]). `plugin build` and `plugin dev` end with the
//! same verdict.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::plugin::check::Checker;
use crate::plugin::loader::Candidate;
use crate::plugin::manifest::Manifest;
use crate::plugin::version::PluginSource;

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
    let checker = Checker::standalone(config.plugin_limits())?;
    let candidate = Candidate {
        name: name.clone(),
        wasm: Arc::from(wasm),
        source: PluginSource::File(file.clone()),
        manifest,
    };
    let v = tokio::task::spawn_blocking(move || checker.check(&candidate)).await?;
    println!("file:     {}", file.display());
    if let Some(e) = &v.error {
        println!("verdict:  the gateway would NOT load it: {e}");
        return Ok(false);
    }
    if let (Some(kind), Some(d)) = (v.kind, &v.described) {
        println!("kind:     {kind}");
        println!("name:     {} (loads as `{name}`)", d.name);
        println!("version:  {}", d.version);
        println!("about:    {}", d.description);
        if !d.symbols.is_empty() {
            println!("symbols:  {}", d.symbols.join(", "));
        }
        if let Some(i) = d.interval_ms {
            println!("interval: {i} ms");
        }
    }
    println!("imports:");
    for import in &v.imports {
        println!("  {import}");
    }
    println!("sha256:   {}", v.sha256);
    println!("verdict:  the gateway would load it");
    Ok(true)
}
