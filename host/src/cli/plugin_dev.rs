//! `gateway plugin dev`: the edit-and-see loop. Builds the crate (as
//! `plugin build`), drops the component and its manifest into the plugins
//! directory a running gateway watches, then rebuilds and redeploys each
//! time a file under `src/` or a `.toml` beside `Cargo.toml` changes. The
//! gateway's own watcher reloads the plugin; a build that fails, or a
//! component the gateway would not load, leaves the running version alone.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::plugin_build::{Built, build_and_check};
use crate::config::Config;

/// Changes closer together than this are one rebuild (an editor's save is
/// several events; so is `git checkout`).
const QUIET: Duration = Duration::from_millis(300);

/// Builds, deploys into `plugins_dir`, and again on every change, until
/// Ctrl-C.
pub(super) async fn dev(config: &Config, dir: &Path, plugins_dir: &Path) -> Result<ExitCode> {
    let dir =
        std::fs::canonicalize(dir).with_context(|| format!("no crate at {}", dir.display()))?;
    std::fs::create_dir_all(plugins_dir)
        .with_context(|| format!("creating {}", plugins_dir.display()))?;
    let (tx, mut changes) = mpsc::unbounded_channel();
    let crate_dir = dir.clone();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(event) if is_change(&event.kind) => {
                if event.paths.iter().any(|p| is_source(&crate_dir, p)) {
                    let _ = tx.send(());
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: watching {}: {e}", crate_dir.display()),
        })?;
    watcher.watch(&dir.join("src"), RecursiveMode::Recursive)?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    loop {
        match build_and_check(config, &dir).await {
            Ok(Some(built)) => match deploy(&built, plugins_dir) {
                Ok(()) => println!(
                    "deployed: {} to {} (a gateway watching it reloads it)",
                    built.name,
                    plugins_dir.display()
                ),
                Err(e) => eprintln!("error: {e:#}"),
            },
            Ok(None) => eprintln!("not deployed: the gateway would not load this build"),
            Err(e) => eprintln!("error: {e:#}"),
        }
        println!(
            "watching {} for changes (Ctrl-C stops)",
            dir.join("src").display()
        );
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
        while let Ok(Some(())) = tokio::time::timeout(QUIET, changes.recv()).await {}
    }
}

/// Whether `kind` changed a file (not merely opened or read it: cargo
/// reading the sources must not trigger another build).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(a) => *a == AccessKind::Close(AccessMode::Write),
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        _ => false,
    }
}

/// Whether `path` is a source of the crate in `dir`: under `src/`, or a
/// `.toml` (Cargo.toml, the manifest) directly in `dir`.
fn is_source(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir.join("src"))
        || (path.parent() == Some(dir) && path.extension().is_some_and(|e| e == "toml"))
}

/// Puts the manifest, then the component, into `plugins_dir`, each written
/// under a dotfile name the gateway ignores and renamed into place.
fn deploy(built: &Built, plugins_dir: &Path) -> Result<()> {
    if let Some(manifest) = &built.manifest {
        place(manifest, plugins_dir, &format!("{}.toml", built.name))?;
    }
    place(&built.wasm, plugins_dir, &format!("{}.wasm", built.name))
}

/// Copies `from` to `dir/file` through a dotfile and a rename, so the
/// gateway never reads it half-written.
fn place(from: &Path, dir: &Path, file: &str) -> Result<()> {
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::copy(from, &tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let to = dir.join(file);
    std::fs::rename(&tmp, &to).with_context(|| format!("renaming into {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    #[test]
    fn sources_are_src_and_the_manifests() {
        let dir = Path::new("/w/feed");
        assert!(is_source(dir, Path::new("/w/feed/src/lib.rs")));
        assert!(is_source(dir, Path::new("/w/feed/src/a/b.rs")));
        assert!(is_source(dir, Path::new("/w/feed/Cargo.toml")));
        assert!(is_source(dir, Path::new("/w/feed/feed.toml")));
        assert!(!is_source(dir, Path::new("/w/feed/dist/feed.toml")));
        assert!(!is_source(dir, Path::new("/w/feed/target/x.rs")));
        assert!(!is_source(dir, Path::new("/w/feed/Cargo.lock")));
    }

    #[test]
    fn reads_are_not_changes() {
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
    }

    #[test]
    fn deploys_manifest_and_component_under_the_plugin_name() {
        let dist = tempfile::tempdir().unwrap();
        let plugins = tempfile::tempdir().unwrap();
        std::fs::write(dist.path().join("feed.wasm"), b"wasm").unwrap();
        std::fs::write(dist.path().join("feed.toml"), b"[config]\n").unwrap();
        let built = Built {
            name: "feed".into(),
            wasm: dist.path().join("feed.wasm"),
            manifest: Some(dist.path().join("feed.toml")),
        };
        deploy(&built, plugins.path()).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(plugins.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["feed.toml", "feed.wasm"], "no temporary file left");
        assert_eq!(
            std::fs::read(plugins.path().join("feed.wasm")).unwrap(),
            b"wasm"
        );
    }
}
