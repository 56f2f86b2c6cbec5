//! The per-plugin key-value store behind the `kv` import.
//!
//! Keyed by plugin name, so a reloaded version sees what the previous one
//! stored. Two backends: files, or (in cluster mode) Redis.
//!
//! Files: with a data dir, each namespace is persisted to
//! `DATA_DIR/kv/NAME.json` on every change (written to a temporary file and
//! renamed, so a crash leaves the old or the new content, never half), which
//! is what lets pollers keep their cursors across gateway restarts.
//!
//! Redis: each namespace is the hash `PREFIX:kv:NAME`, shared by every node,
//! so a poller that moves to another node continues from its checkpoint.
//! Calls come from plugin worker threads and block on the runtime; a write
//! checks the quota and stores in one script. A read that Redis cannot
//! answer is logged and reads as absent.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use redis::Script;
use tokio::runtime::Handle;

use crate::cluster::Cluster;

/// Stores a field unless the hash would grow past the quota; returns -1
/// when stored, else the size the write would reach.
const SET_WITHIN_QUOTA: &str = r"
local all = redis.call('HGETALL', KEYS[1])
local size = 0
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    size = size + #all[i] + #all[i + 1]
  end
end
local needed = size + #ARGV[1] + #ARGV[2]
if needed > tonumber(ARGV[3]) then
  return needed
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return -1";

/// Why a write was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KvError {
    /// The namespace would grow past its quota.
    #[error("kv quota of {quota} bytes exceeded ({needed} needed)")]
    QuotaExceeded {
        /// The quota.
        quota: u64,
        /// The size the write would reach.
        needed: u64,
    },
    /// The namespace could not be persisted.
    #[error("kv not persisted: {0}")]
    Unavailable(String),
}

type Entries = BTreeMap<String, Vec<u8>>;

/// Every plugin's namespace.
pub enum KvStore {
    /// In memory, persisted to files when there is a data dir.
    Files(FileStore),
    /// In Redis, shared by the cluster.
    Redis(RedisStore),
}

impl KvStore {
    /// A store persisted under `dir/kv/` or, without a dir, in memory only.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self::Files(FileStore {
            dir: dir.map(|d| d.join("kv")),
            spaces: Mutex::new(HashMap::new()),
        })
    }

    /// A store in `cluster`'s Redis; calls block on `runtime`.
    pub fn redis(cluster: Arc<Cluster>, runtime: Handle) -> Self {
        Self::Redis(RedisStore {
            cluster,
            runtime,
            set: Arc::new(Script::new(SET_WITHIN_QUOTA)),
        })
    }

    /// The namespace of plugin `name` (with files: loaded from disk the first time).
    pub fn namespace(&self, name: &str, quota: u64) -> KvNamespace {
        let space = match self {
            KvStore::Files(files) => files.space(name),
            KvStore::Redis(redis) => Space::Redis {
                key: redis.cluster.key(&format!("kv:{name}")),
                store: redis.clone(),
            },
        };
        KvNamespace { space, quota }
    }
}

/// The file backend.
pub struct FileStore {
    dir: Option<PathBuf>,
    spaces: Mutex<HashMap<String, Arc<Mutex<Entries>>>>,
}

/// The Redis backend.
#[derive(Clone)]
pub struct RedisStore {
    cluster: Arc<Cluster>,
    runtime: Handle,
    set: Arc<Script>,
}

impl FileStore {
    fn space(&self, name: &str) -> Space {
        let entries = self
            .spaces
            .lock()
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(self.load(name))))
            .clone();
        Space::File {
            file: self.dir.as_ref().map(|d| d.join(format!("{name}.json"))),
            entries,
        }
    }

    fn load(&self, name: &str) -> Entries {
        let Some(dir) = &self.dir else {
            return Entries::new();
        };
        let path = dir.join(format!("{name}.json"));
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<BTreeMap<String, String>>(&bytes) {
                Ok(hexed) => hexed
                    .into_iter()
                    .filter_map(|(k, v)| hex::decode(v).ok().map(|v| (k, v)))
                    .collect(),
                Err(e) => {
                    tracing::error!(plugin = name, path = %path.display(), "kv file unreadable, starting empty: {e}");
                    Entries::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Entries::new(),
            Err(e) => {
                tracing::error!(plugin = name, path = %path.display(), "cannot read kv file: {e}");
                Entries::new()
            }
        }
    }
}

/// One plugin's view of the store.
#[derive(Clone)]
pub struct KvNamespace {
    space: Space,
    quota: u64,
}

#[derive(Clone)]
enum Space {
    File {
        file: Option<PathBuf>,
        entries: Arc<Mutex<Entries>>,
    },
    Redis {
        key: String,
        store: RedisStore,
    },
}

impl KvNamespace {
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        match &self.space {
            Space::File { entries, .. } => entries.lock().get(key).cloned(),
            Space::Redis { key: hash, store } => {
                let mut conn = store.cluster.conn();
                let got: redis::RedisResult<Option<Vec<u8>>> = store
                    .runtime
                    .block_on(redis::cmd("HGET").arg(hash).arg(key).query_async(&mut conn));
                got.unwrap_or_else(|e| {
                    tracing::error!(hash = %hash, key, "kv read failed, reads as absent: {e}");
                    None
                })
            }
        }
    }

    /// Stores `value` under `key`, within the quota.
    pub fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let (file, entries) = match &self.space {
            Space::File { file, entries } => (file, entries),
            Space::Redis { key: hash, store } => {
                let mut conn = store.cluster.conn();
                let stored: i64 = store
                    .runtime
                    .block_on(
                        store
                            .set
                            .key(hash)
                            .arg(key)
                            .arg(value)
                            .arg(self.quota)
                            .invoke_async(&mut conn),
                    )
                    .map_err(|e| KvError::Unavailable(e.to_string()))?;
                return match u64::try_from(stored) {
                    Ok(needed) => Err(KvError::QuotaExceeded {
                        quota: self.quota,
                        needed,
                    }),
                    Err(_) => Ok(()),
                };
            }
        };
        let mut entries = entries.lock();
        let current: u64 = size(&entries);
        let old = entries.get(key).map_or(0, |v| (key.len() + v.len()) as u64);
        let needed = current - old + (key.len() + value.len()) as u64;
        if needed > self.quota {
            return Err(KvError::QuotaExceeded {
                quota: self.quota,
                needed,
            });
        }
        let old = entries.insert(key.to_owned(), value);
        let persisted = persist(file.as_deref(), &entries);
        if persisted.is_err() {
            // The plugin is told the write failed: memory must agree.
            match old {
                Some(v) => entries.insert(key.to_owned(), v),
                None => entries.remove(key),
            };
        }
        persisted
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        let (file, entries) = match &self.space {
            Space::File { file, entries } => (file, entries),
            Space::Redis { key: hash, store } => {
                let mut conn = store.cluster.conn();
                return store
                    .runtime
                    .block_on(
                        redis::cmd("HDEL")
                            .arg(hash)
                            .arg(key)
                            .query_async::<()>(&mut conn),
                    )
                    .map_err(|e| KvError::Unavailable(e.to_string()));
            }
        };
        let mut entries = entries.lock();
        if let Some(old) = entries.remove(key)
            && let Err(e) = persist(file.as_deref(), &entries)
        {
            entries.insert(key.to_owned(), old);
            return Err(e);
        }
        Ok(())
    }
}

/// Writes the file backend's `entries` to `file`, through a temporary file.
fn persist(file: Option<&std::path::Path>, entries: &Entries) -> Result<(), KvError> {
    let Some(file) = file else {
        return Ok(());
    };
    let hexed: BTreeMap<&String, String> =
        entries.iter().map(|(k, v)| (k, hex::encode(v))).collect();
    let bytes =
        serde_json::to_vec_pretty(&hexed).map_err(|e| KvError::Unavailable(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension("json.tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, file)
    };
    write().map_err(|e| KvError::Unavailable(format!("{}: {e}", file.display())))
}

fn size(entries: &Entries) -> u64 {
    entries
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_new_store_on_the_same_dir() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::new(Some(dir.path().to_owned()));
        let ns = store.namespace("poller", 1024);
        ns.set("cursor", b"42".to_vec()).unwrap();
        ns.set("gone", b"x".to_vec()).unwrap();
        ns.delete("gone").unwrap();
        let reopened = KvStore::new(Some(dir.path().to_owned())).namespace("poller", 1024);
        assert_eq!(reopened.get("cursor"), Some(b"42".to_vec()));
        assert_eq!(reopened.get("gone"), None);
    }

    #[test]
    fn a_failed_persist_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::new(Some(dir.path().to_owned()));
        let ns = store.namespace("p", 1024);
        ns.set("cursor", b"1".to_vec()).unwrap();
        // Make the kv directory unwritable by putting a file where it must be.
        std::fs::remove_dir_all(dir.path().join("kv")).unwrap();
        std::fs::write(dir.path().join("kv"), b"not a dir").unwrap();
        assert!(matches!(
            ns.set("cursor", b"2".to_vec()),
            Err(KvError::Unavailable(_))
        ));
        assert!(ns.delete("cursor").is_err());
        assert_eq!(ns.get("cursor"), Some(b"1".to_vec()));
        assert!(ns.set("new", b"x".to_vec()).is_err());
        assert_eq!(ns.get("new"), None);
    }

    #[test]
    fn namespaces_are_shared_by_name_and_separate_between_names() {
        let store = KvStore::new(None);
        store.namespace("a", 100).set("k", b"1".to_vec()).unwrap();
        assert_eq!(store.namespace("a", 100).get("k"), Some(b"1".to_vec()));
        assert_eq!(store.namespace("b", 100).get("k"), None);
    }

    #[test]
    fn quota_refuses_and_keeps_the_old_value() {
        let ns = KvStore::new(None).namespace("a", 10);
        ns.set("k", b"1234".to_vec()).unwrap();
        let err = ns.set("k", b"1234567890".to_vec()).unwrap_err();
        assert!(matches!(
            err,
            KvError::QuotaExceeded {
                quota: 10,
                needed: 10..
            }
        ));
        assert_eq!(ns.get("k"), Some(b"1234".to_vec()));
    }
}
