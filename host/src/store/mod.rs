//! What one gateway keeps across restarts when it is not part of a
//! cluster: order sequence numbers and history ([`orders`]), the ids of
//! accepted events ([`events`]) and the plugins' key-value store ([`kv`]),
//! in one embedded database (redb) at `DATA_DIR/gateway.redb`.
//!
//! Every write is one transaction, committed durably before the caller
//! goes on: a notification is sequenced, kept and marked seen together, or
//! not at all, so a process killed at any moment leaves either the old
//! state or the new one. redb keeps a bounded page cache in memory; the
//! data itself lives on disk. (In cluster mode Redis holds all of this.)

pub(crate) mod events;
pub(crate) mod kv;
pub(crate) mod orders;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};
use redb::Database;
use redb::backends::InMemoryBackend;

use crate::delivery::Journal;
use crate::delivery::orders::{Entry, Kept, Notification, Pruned};
use events::EventIds;
use orders::{Bounds, OrderLog};

/// The database file inside the data dir.
pub(crate) const FILE: &str = "gateway.redb";

/// Memory redb may use for its page cache.
const CACHE_BYTES: usize = 32 << 20;

/// How long opening waits for a store another gateway still holds (one
/// stopping in this process, or a second gateway on the same `DATA_DIR`).
const WAIT_FOR_LOCK: Duration = Duration::from_secs(10);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be created or opened.
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: redb::DatabaseError,
    },
    /// A read or write failed.
    #[error("store: {0}")]
    Db(#[from] redb::Error),
    /// The gateway shut down and closed the store.
    #[error("store closed")]
    Closed,
    /// A stored value could not be read back.
    #[error("store: unreadable value: {0}")]
    Corrupt(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {
        $(impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        })*
    };
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The embedded database.
pub struct Store {
    /// `None` once closed.
    db: RwLock<Option<Database>>,
}

impl Store {
    /// Opens (or creates) the store in `dir`. A store held by another
    /// gateway is waited for a while, then refused.
    pub fn open(dir: &Path) -> Result<Arc<Self>, StoreError> {
        let path = dir.join(FILE);
        let open = || {
            std::fs::create_dir_all(dir)?;
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(&path)
        };
        let started = Instant::now();
        loop {
            match open() {
                Ok(db) => return Ok(Self::over(db)),
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if started.elapsed() < WAIT_FOR_LOCK =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// A store that keeps nothing past the process (tools and tests).
    pub fn in_memory() -> Arc<Self> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("an in-memory database opens");
        Self::over(db)
    }

    fn over(db: Database) -> Arc<Self> {
        Arc::new(Self {
            db: RwLock::new(Some(db)),
        })
    }

    /// The database, while the store is open.
    pub(crate) fn db(&self) -> Result<MappedRwLockReadGuard<'_, Database>, StoreError> {
        RwLockReadGuard::try_map(self.db.read(), Option::as_ref).map_err(|_| StoreError::Closed)
    }

    /// Closes the store (the file and its lock are released once the
    /// transactions in progress end); later calls fail with
    /// [`StoreError::Closed`].
    pub fn close(&self) {
        self.db.write().take();
    }
}

/// The journal of a gateway without a cluster: its order log and accepted
/// event ids, in the store.
pub(crate) struct LocalJournal {
    orders: OrderLog,
    events: EventIds,
}

impl LocalJournal {
    /// The journal in `store`, keeping order notifications within `bounds`.
    pub(crate) fn new(store: &Arc<Store>, bounds: Bounds) -> Self {
        Self {
            orders: OrderLog::new(store.clone(), bounds),
            events: EventIds::new(store.clone()),
        }
    }
}

impl Journal for LocalJournal {
    fn append_orders(&self, items: &[Notification<'_>]) -> Result<(Vec<Entry>, Pruned), String> {
        self.orders
            .append(items, crate::time::now_ms())
            .map_err(|e| e.to_string())
    }

    fn read_orders(&self, user: &str) -> Result<Kept, String> {
        self.orders
            .read(user, crate::time::now_ms())
            .map_err(|e| e.to_string())
    }

    fn prune_orders(&self) -> Result<u64, String> {
        self.orders
            .prune(crate::time::now_ms())
            .map_err(|e| e.to_string())
    }

    fn kept_orders(&self) -> Result<u64, String> {
        self.orders.len().map_err(|e| e.to_string())
    }

    fn accept_events(&self, ids: &[&str]) -> Result<Vec<bool>, String> {
        self.events
            .accept(ids, crate::time::now_ms())
            .map_err(|e| e.to_string())
    }
}
