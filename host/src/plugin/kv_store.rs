//! The per-plugin key-value store behind the `kv` import.
//!
//! Keyed by plugin name, so a reloaded version sees what the previous one
//! stored. Two backends:
//!
//! - Embedded: the gateway's store (`DATA_DIR/gateway.redb`, see
//!   `crate::store::kv`); every write is a durable transaction, which is
//!   what lets pollers keep their cursors across restarts and crashes.
//! - Redis (cluster mode): each namespace is the hash `PREFIX:kv:NAME`,
//!   shared by every node, so a poller that moves to another node continues
//!   from its checkpoint. A write checks the quota and stores in one script.
//!   A read that Redis cannot answer is logged and reads as absent.
//!
//! Calls come from plugin worker threads (never the async runtime); Redis
//! calls block on the runtime while the worker waits.

use std::sync::Arc;

use redis::Script;
use tokio::runtime::Handle;

use crate::cluster::Cluster;
use crate::store::Store;
use crate::store::kv::{PluginKv, Written};

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

/// Every plugin's namespace.
pub struct KvStore {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Embedded(Arc<PluginKv>),
    Redis(RedisStore),
}

/// The Redis backend.
#[derive(Clone)]
struct RedisStore {
    cluster: Arc<Cluster>,
    runtime: Handle,
    set: Arc<Script>,
}

impl KvStore {
    /// Namespaces in the gateway's embedded `store`.
    pub fn embedded(store: Arc<Store>) -> Self {
        Self {
            backend: Backend::Embedded(Arc::new(PluginKv::new(store))),
        }
    }

    /// Namespaces that live as long as the process (tools and tests).
    pub fn in_memory() -> Self {
        Self::embedded(Store::in_memory())
    }

    /// Namespaces in `cluster`'s Redis; calls block on `runtime`.
    pub(crate) fn redis(cluster: Arc<Cluster>, runtime: Handle) -> Self {
        Self {
            backend: Backend::Redis(RedisStore {
                cluster,
                runtime,
                set: Arc::new(Script::new(SET_WITHIN_QUOTA)),
            }),
        }
    }

    /// Moves the JSON namespaces earlier gateways kept in `dir` into the
    /// embedded store (nothing in cluster mode).
    pub(crate) fn import_files(&self, dir: &std::path::Path) {
        if let Backend::Embedded(kv) = &self.backend {
            kv.import_files(dir);
        }
    }

    /// The namespace of plugin `name`, at most `quota` bytes.
    pub fn namespace(&self, name: &str, quota: u64) -> KvNamespace {
        let key = match &self.backend {
            Backend::Embedded(_) => name.to_owned(),
            Backend::Redis(redis) => redis.cluster.key(&format!("kv:{name}")),
        };
        KvNamespace {
            backend: self.backend.clone(),
            key,
            quota,
        }
    }
}

/// One plugin's view of the store.
#[derive(Clone)]
pub struct KvNamespace {
    backend: Backend,
    /// The plugin's name (embedded) or its hash's key (Redis).
    key: String,
    quota: u64,
}

impl KvNamespace {
    /// The value under `key`; absent when the store cannot answer (logged).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let got = match &self.backend {
            Backend::Embedded(kv) => kv.get(&self.key, key).map_err(|e| e.to_string()),
            Backend::Redis(store) => {
                let mut conn = store.cluster.conn();
                store
                    .runtime
                    .block_on(
                        redis::cmd("HGET")
                            .arg(&self.key)
                            .arg(key)
                            .query_async(&mut conn),
                    )
                    .map_err(|e| e.to_string())
            }
        };
        got.unwrap_or_else(|e| {
            tracing::error!(namespace = %self.key, key, "kv read failed, reads as absent: {e}");
            None
        })
    }

    /// Stores `value` under `key`, within the quota.
    pub fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let needed = match &self.backend {
            Backend::Embedded(kv) => match kv.set(&self.key, key, &value, self.quota) {
                Ok(Written::Stored) => return Ok(()),
                Ok(Written::OverQuota { needed }) => needed,
                Err(e) => return Err(KvError::Unavailable(e.to_string())),
            },
            Backend::Redis(store) => {
                let mut conn = store.cluster.conn();
                let stored: i64 = store
                    .runtime
                    .block_on(
                        store
                            .set
                            .key(&self.key)
                            .arg(key)
                            .arg(value)
                            .arg(self.quota)
                            .invoke_async(&mut conn),
                    )
                    .map_err(|e| KvError::Unavailable(e.to_string()))?;
                match u64::try_from(stored) {
                    Ok(needed) => needed,
                    Err(_) => return Ok(()),
                }
            }
        };
        Err(KvError::QuotaExceeded {
            quota: self.quota,
            needed,
        })
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        match &self.backend {
            Backend::Embedded(kv) => kv
                .delete(&self.key, key)
                .map_err(|e| KvError::Unavailable(e.to_string())),
            Backend::Redis(store) => {
                let mut conn = store.cluster.conn();
                store
                    .runtime
                    .block_on(
                        redis::cmd("HDEL")
                            .arg(&self.key)
                            .arg(key)
                            .query_async::<()>(&mut conn),
                    )
                    .map_err(|e| KvError::Unavailable(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_new_store_on_the_same_dir() {
        let dir = tempfile::tempdir().unwrap();
        let ns = KvStore::embedded(Store::open(dir.path()).unwrap()).namespace("poller", 1024);
        ns.set("cursor", b"42".to_vec()).unwrap();
        ns.set("gone", b"x".to_vec()).unwrap();
        ns.delete("gone").unwrap();
        drop(ns);
        let reopened =
            KvStore::embedded(Store::open(dir.path()).unwrap()).namespace("poller", 1024);
        assert_eq!(reopened.get("cursor"), Some(b"42".to_vec()));
        assert_eq!(reopened.get("gone"), None);
    }

    #[test]
    fn namespaces_are_shared_by_name_and_separate_between_names() {
        let store = KvStore::in_memory();
        store.namespace("a", 100).set("k", b"1".to_vec()).unwrap();
        assert_eq!(store.namespace("a", 100).get("k"), Some(b"1".to_vec()));
        assert_eq!(store.namespace("b", 100).get("k"), None);
    }

    #[test]
    fn quota_refuses_and_keeps_the_old_value() {
        let ns = KvStore::in_memory().namespace("a", 10);
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
