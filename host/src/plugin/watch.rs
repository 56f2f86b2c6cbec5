//! Watches the plugins directory and syncs a plugin once its files have
//! been quiet for [`SETTLE`]: a burst of writes becomes one reload, and a
//! file still being written is not read half-way. Writing to a temporary
//! name and renaming onto `NAME.wasm` is the safe way to publish; dotfiles
//! and other extensions are ignored. So are opens and reads: the gateway
//! reading a plugin file must not schedule another sync of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::deploy::Deployer;

/// How long a plugin's files must be unchanged before they are loaded.
pub const SETTLE: Duration = Duration::from_millis(100);

/// Keeps the watch alive; dropping it stops watching.
pub struct DirWatch {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The plugin a changed path belongs to, if it is one of ours.
fn plugin_of(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    if file.starts_with('.') {
        return None;
    }
    let (stem, ext) = file.rsplit_once('.')?;
    matches!(ext, "wasm" | "toml").then(|| stem.to_owned())
}

/// Whether `kind` only says a file was opened or read, not changed.
fn is_read(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Access(a) if *a != AccessKind::Close(AccessMode::Write))
}

/// Starts watching `dir` (creating it if needed).
pub fn watch(host: Arc<Deployer>, dir: &Path) -> notify::Result<DirWatch> {
    std::fs::create_dir_all(dir).map_err(notify::Error::io)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(event) if is_read(&event.kind) => {}
            Ok(event) => {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
            Err(e) => tracing::warn!("plugin directory watch error: {e}"),
        })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        let mut pending: HashMap<String, Instant> = HashMap::new();
        loop {
            let wake = pending.values().min().map(|t| *t + SETTLE);
            tokio::select! {
                path = rx.recv() => match path {
                    Some(path) => {
                        if let Some(name) = plugin_of(&path) {
                            pending.insert(name, Instant::now());
                        }
                    }
                    None => return,
                },
                () = sleep_until(wake) => {
                    let now = Instant::now();
                    let ready: Vec<String> = pending
                        .iter()
                        .filter(|(_, t)| **t + SETTLE <= now)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for name in ready {
                        pending.remove(&name);
                        host.sync(&name).await;
                    }
                }
            }
        }
    });
    Ok(DirWatch {
        _watcher: watcher,
        task,
    })
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use notify::event::ModifyKind;

    use super::*;

    #[test]
    fn only_wasm_and_toml_of_visible_files_count() {
        assert_eq!(
            plugin_of(Path::new("/p/feed.wasm")).as_deref(),
            Some("feed")
        );
        assert_eq!(
            plugin_of(Path::new("/p/feed.toml")).as_deref(),
            Some("feed")
        );
        assert_eq!(plugin_of(Path::new("/p/.feed.wasm.tmp")), None);
        assert_eq!(plugin_of(Path::new("/p/feed.wasm.part")), None);
        assert_eq!(plugin_of(Path::new("/p/README")), None);
    }

    #[test]
    fn opening_and_reading_are_not_changes() {
        assert!(is_read(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(is_read(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_read(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(!is_read(&EventKind::Modify(ModifyKind::Any)));
    }
}
