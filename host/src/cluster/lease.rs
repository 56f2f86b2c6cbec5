//! Leases: each source plugin runs on one node of the cluster at a time.
//!
//! The lease of plugin `NAME` is the key `PREFIX:lease:NAME` holding the
//! holder's member id (its node id and a part new at every start, so a
//! node restarted after a crash does not take its dead predecessor's lease
//! for its own) with a time to live. A node takes it with `SET … NX PX`
//! and keeps it with a compare-and-extend script every third of the lease
//! time; it believes it holds the lease only until two thirds of the lease
//! time after its last successful renewal began, so it stops polling before
//! Redis can hand the lease to another node. A node that dies stops
//! renewing and another takes over once the key expires; a node that shuts
//! down releases its leases at once.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use redis::Script;
use tokio::time::Instant;

use super::Cluster;

/// Extends the lease when this node holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Deletes the lease when this node holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// One plugin's lease as seen by this node.
pub(crate) struct Lease {
    name: String,
    /// Until when this node may act as the holder.
    valid_until: Mutex<Option<Instant>>,
}

impl Lease {
    /// Whether this node holds the lease now.
    pub(crate) fn is_held(&self) -> bool {
        self.valid_until
            .lock()
            .is_some_and(|until| Instant::now() < until)
    }
}

/// Keeps a lease while alive; dropping it stops renewing and releases it.
pub struct LeaseGuard {
    lease: Arc<Lease>,
    leases: Weak<Leases>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseGuard {
    /// Whether this node holds the lease now.
    pub fn is_held(&self) -> bool {
        self.lease.is_held()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(leases) = self.leases.upgrade() {
            leases.forget(&self.lease);
            let name = self.lease.name.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { leases.release(&name).await });
            }
        }
    }
}

/// Every lease this node competes for.
pub struct Leases {
    me: Weak<Leases>,
    cluster: Arc<Cluster>,
    active: Mutex<HashMap<String, Arc<Lease>>>,
    renew: Script,
    release: Script,
}

impl Leases {
    /// Leases in `cluster`.
    pub fn new(cluster: Arc<Cluster>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            cluster,
            active: Mutex::new(HashMap::new()),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        })
    }

    /// How long a runner without the lease waits before it looks again.
    pub fn recheck(&self) -> Duration {
        self.cluster.lease_ttl() / 6
    }

    /// Starts competing for the lease of plugin `name`.
    pub fn compete(&self, name: &str) -> LeaseGuard {
        let lease = Arc::new(Lease {
            name: name.to_owned(),
            valid_until: Mutex::new(None),
        });
        self.active.lock().insert(name.to_owned(), lease.clone());
        let task = tokio::spawn(keep(self.me.clone(), lease.clone()));
        LeaseGuard {
            lease,
            leases: self.me.clone(),
            task,
        }
    }

    /// The plugins whose lease this node holds, sorted.
    pub fn held(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .active
            .lock()
            .values()
            .filter(|l| l.is_held())
            .map(|l| l.name.clone())
            .collect();
        names.sort();
        names
    }

    fn forget(&self, lease: &Arc<Lease>) {
        let mut active = self.active.lock();
        if active
            .get(&lease.name)
            .is_some_and(|l| Arc::ptr_eq(l, lease))
        {
            active.remove(&lease.name);
        }
    }

    fn key(&self, name: &str) -> String {
        self.cluster.key(&format!("lease:{name}"))
    }

    /// Takes or renews the lease of `name`; whether this node holds it.
    async fn attempt(&self, name: &str, held: bool) -> redis::RedisResult<bool> {
        let mut conn = self.cluster.conn();
        let ttl_ms = self.cluster.lease_ttl().as_millis() as u64;
        let key = self.key(name);
        if held {
            let extended: i64 = self
                .renew
                .key(&key)
                .arg(self.cluster.member())
                .arg(ttl_ms)
                .invoke_async(&mut conn)
                .await?;
            if extended == 1 {
                return Ok(true);
            }
        }
        let taken: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(self.cluster.member())
            .arg("PX")
            .arg(ttl_ms)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(taken.is_some())
    }

    /// Gives the lease of `name` back, if this node holds it.
    async fn release(&self, name: &str) {
        let mut conn = self.cluster.conn();
        let released: redis::RedisResult<i64> = self
            .release
            .key(self.key(name))
            .arg(self.cluster.member())
            .invoke_async(&mut conn)
            .await;
        match released {
            Ok(1) => tracing::info!(plugin = name, "lease released"),
            Ok(_) => {}
            Err(e) => tracing::warn!(plugin = name, "cannot release the lease: {e}"),
        }
    }

    /// Releases every lease this node holds (graceful shutdown).
    pub async fn release_all(&self) {
        let names: Vec<String> = self.active.lock().drain().map(|(n, _)| n).collect();
        for name in names {
            self.release(&name).await;
        }
    }
}

async fn keep(leases: Weak<Leases>, lease: Arc<Lease>) {
    loop {
        let Some(all) = leases.upgrade() else { return };
        let ttl = all.cluster.lease_ttl();
        let began = Instant::now();
        let was_held = lease.is_held();
        match all.attempt(&lease.name, was_held).await {
            Ok(true) => {
                *lease.valid_until.lock() = Some(began + ttl * 2 / 3);
                if !was_held {
                    tracing::info!(plugin = %lease.name, node = all.cluster.node_id(), "lease taken");
                }
            }
            Ok(false) => {
                if was_held {
                    tracing::warn!(plugin = %lease.name, "lease lost to another node");
                }
                *lease.valid_until.lock() = None;
            }
            Err(e) => tracing::warn!(plugin = %lease.name, "lease check failed: {e}"),
        }
        drop(all);
        tokio::time::sleep_until(began + ttl / 3).await;
    }
}
