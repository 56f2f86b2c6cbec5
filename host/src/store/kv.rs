//! The plugins' key-value store on a gateway without a cluster:
//! (plugin, key) → value, with each plugin's total size beside it for its
//! quota. A write is one durable transaction.
//!
//! Gateways before the embedded store kept each plugin's namespace in
//! `DATA_DIR/kv/NAME.json`; [`PluginKv::import_files`] moves those in once
//! (a namespace the store already has is left as it is) and renames each
//! file to `NAME.json.imported`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{Store, StoreError};

/// (plugin, key) → value.
const KV: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_kv");
/// plugin → total bytes of its keys and values.
const SIZES: TableDefinition<&str, u64> = TableDefinition::new("plugin_kv_size");

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Stored.
    Stored,
    /// Refused: the namespace would grow to `needed` bytes, past its quota.
    OverQuota {
        /// The size the write would have reached.
        needed: u64,
    },
}

/// Every plugin's namespace.
pub(crate) struct PluginKv {
    store: Arc<Store>,
}

impl PluginKv {
    /// The namespaces kept in `store`.
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The value of `key` in `plugin`'s namespace.
    pub(crate) fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.store.db()?.begin_read()?;
        let table = match tx.open_table(KV) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get((plugin, key))?.map(|v| v.value().to_vec()))
    }

    /// Stores `value` under `key` unless `plugin`'s namespace would then
    /// hold more than `quota` bytes (keys and values).
    pub(crate) fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<Written, StoreError> {
        let tx = self.store.db()?.begin_write()?;
        let written = {
            let mut table = tx.open_table(KV)?;
            let mut sizes = tx.open_table(SIZES)?;
            let size = sizes.get(plugin)?.map_or(0, |v| v.value());
            let old = table
                .get((plugin, key))?
                .map_or(0, |v| (key.len() + v.value().len()) as u64);
            let needed = size - old + (key.len() + value.len()) as u64;
            if needed > quota {
                Written::OverQuota { needed }
            } else {
                table.insert((plugin, key), value)?;
                sizes.insert(plugin, needed)?;
                Written::Stored
            }
        };
        tx.commit()?;
        Ok(written)
    }

    /// Removes `key` from `plugin`'s namespace.
    pub(crate) fn delete(&self, plugin: &str, key: &str) -> Result<(), StoreError> {
        let tx = self.store.db()?.begin_write()?;
        {
            let mut table = tx.open_table(KV)?;
            let mut sizes = tx.open_table(SIZES)?;
            let removed = table
                .remove((plugin, key))?
                .map(|v| (key.len() + v.value().len()) as u64);
            if let Some(freed) = removed {
                let size = sizes.get(plugin)?.map_or(0, |v| v.value());
                sizes.insert(plugin, size.saturating_sub(freed))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn has_namespace(&self, plugin: &str) -> Result<bool, StoreError> {
        let tx = self.store.db()?.begin_read()?;
        match tx.open_table(SIZES) {
            Ok(sizes) => Ok(sizes.get(plugin)?.is_some()),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the `NAME.json` namespaces of `dir` (the file layout of earlier
    /// gateways) into the store; the names of the plugins imported.
    pub(crate) fn import_files(&self, dir: &Path) -> Vec<String> {
        let Ok(files) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut imported = Vec::new();
        for path in files.filter_map(Result::ok).map(|e| e.path()) {
            let Some(plugin) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_owned)
            else {
                continue;
            };
            match self.import_file(&plugin, &path) {
                Ok(true) => imported.push(plugin),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(plugin, path = %path.display(), "kv file not imported: {e}")
                }
            }
        }
        imported
    }

    fn import_file(&self, plugin: &str, path: &Path) -> Result<bool, StoreError> {
        if self.has_namespace(plugin)? {
            return Ok(false);
        }
        let bytes = std::fs::read(path).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let hexed: BTreeMap<String, String> =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tx = self.store.db()?.begin_write()?;
        {
            let mut table = tx.open_table(KV)?;
            let mut sizes = tx.open_table(SIZES)?;
            let mut size = 0;
            for (key, value) in &hexed {
                let value = hex::decode(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                table.insert((plugin, key.as_str()), value.as_slice())?;
                size += (key.len() + value.len()) as u64;
            }
            sizes.insert(plugin, size)?;
        }
        tx.commit()?;
        let done = path.with_extension("json.imported");
        if let Err(e) = std::fs::rename(path, &done) {
            tracing::warn!(path = %path.display(), "imported, but cannot rename: {e}");
        }
        tracing::info!(plugin, path = %path.display(), "kv namespace imported into the store");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_quota_and_deletes() {
        let kv = PluginKv::new(Store::in_memory());
        assert_eq!(kv.get("p", "k").unwrap(), None);
        assert_eq!(kv.set("p", "k", b"1234", 10).unwrap(), Written::Stored);
        assert_eq!(
            kv.set("p", "k", b"1234567890", 10).unwrap(),
            Written::OverQuota { needed: 11 }
        );
        assert_eq!(kv.get("p", "k").unwrap(), Some(b"1234".to_vec()));
        assert_eq!(kv.set("q", "k", b"x", 10).unwrap(), Written::Stored);
        assert_eq!(kv.get("q", "k").unwrap(), Some(b"x".to_vec()));
        kv.delete("p", "k").unwrap();
        assert_eq!(kv.get("p", "k").unwrap(), None);
        assert_eq!(kv.set("p", "k", b"123456789", 10).unwrap(), Written::Stored);
    }

    #[test]
    fn survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let kv = PluginKv::new(Store::open(dir.path()).unwrap());
        kv.set("poller", "cursor", b"42", 100).unwrap();
        drop(kv);
        let kv = PluginKv::new(Store::open(dir.path()).unwrap());
        assert_eq!(kv.get("poller", "cursor").unwrap(), Some(b"42".to_vec()));
    }

    #[test]
    fn imports_the_json_files_of_earlier_gateways_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("kv");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("poller.json"), r#"{"cursor":"3432"}"#).unwrap();
        std::fs::write(files.join("known.json"), r#"{"k":"31"}"#).unwrap();
        std::fs::write(files.join("broken.json"), "{").unwrap();
        let kv = PluginKv::new(Store::in_memory());
        kv.set("known", "k", b"2", 100).unwrap();
        assert_eq!(kv.import_files(&files), ["poller"]);
        assert_eq!(kv.get("poller", "cursor").unwrap(), Some(b"42".to_vec()));
        assert_eq!(kv.get("known", "k").unwrap(), Some(b"2".to_vec()), "kept");
        assert!(files.join("poller.json.imported").is_file());
        assert!(files.join("broken.json").is_file(), "left for a person");
        assert!(kv.import_files(&files).is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Set(usize, Vec<u8>),
        Delete(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, v)| Op::Set(k, v)),
            (0..4usize).prop_map(Op::Delete),
        ]
    }

    const KEYS: [&str; 4] = ["a", "bb", "ccc", "\u{e9}t\u{e9}"];

    proptest! {
        /// The store agrees with a map under any sequence of writes and
        /// deletes, and the quota holds throughout.
        #[test]
        fn proptest_kv_behaves_like_a_map_within_its_quota(
            ops in prop::collection::vec(op(), 1..40),
            quota in 0u64..120,
        ) {
            let kv = PluginKv::new(Store::in_memory());
            let mut model: HashMap<&str, Vec<u8>> = HashMap::new();
            let size = |m: &HashMap<&str, Vec<u8>>| -> u64 {
                m.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
            };
            for op in ops {
                match op {
                    Op::Set(k, v) => {
                        let key = KEYS[k];
                        let mut next = model.clone();
                        next.insert(key, v.clone());
                        let written = kv.set("p", key, &v, quota).unwrap();
                        if size(&next) <= quota {
                            prop_assert_eq!(written, Written::Stored);
                            model = next;
                        } else {
                            prop_assert_eq!(written, Written::OverQuota { needed: size(&next) });
                        }
                    }
                    Op::Delete(k) => {
                        kv.delete("p", KEYS[k]).unwrap();
                        model.remove(KEYS[k]);
                    }
                }
                for key in KEYS {
                    prop_assert_eq!(kv.get("p", key).unwrap(), model.get(key).cloned());
                }
                prop_assert!(size(&model) <= quota);
            }
        }
    }
}
