//! Cluster mode: the connection to Redis that lets several gateway
//! processes serve one set of clients. This module holds the shared handle
//! (node id, key prefix, connections) and the node heartbeat; the parts
//! that use it are one module each: [`lease`] (source plugins run once per
//! cluster), [`relay`] (source output to every node over pub/sub),
//! [`order_log`] (order sequence numbers and replay history),
//! [`user_limits`] (per-user limits across nodes). The plugin kv store has
//! its own Redis backend in `plugin::kv_store`.

pub(crate) mod lease;
pub(crate) mod order_log;
pub(crate) mod relay;
pub(crate) mod user_limits;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `REDIS_URL` does not parse.
    #[error("REDIS_URL is not a usable Redis URL: {0}")]
    Url(redis::RedisError),
    /// Redis did not answer.
    #[error("cannot reach Redis: {0}")]
    Connect(redis::RedisError),
}

/// How long one Redis command may take before it fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// This node's handle on the cluster.
///
/// A node restarted after a crash usually keeps its `NODE_ID` (a host or
/// pod name), but what the dead process held (its users' connection slots,
/// its leases) must not pass to the new one. So what a process holds is
/// recorded under its *member id*, the node id plus a random part new at
/// every start, and a starting process retires its predecessor's member id
/// at once (see [`Cluster::spawn_heartbeat`]).
pub struct Cluster {
    node_id: String,
    member: String,
    prefix: String,
    lease_ttl: Duration,
    client: redis::Client,
    conn: ConnectionManager,
}

impl Cluster {
    /// Connects to `url`; every key starts with `prefix:`. `lease_ttl` is the
    /// lease time of source plugins and the unit of the node heartbeat.
    pub async fn connect(
        url: &str,
        prefix: &str,
        node_id: String,
        lease_ttl: Duration,
    ) -> Result<Arc<Self>, ClusterError> {
        let client = redis::Client::open(url).map_err(ClusterError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_secs(1));
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(ClusterError::Connect)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(ClusterError::Connect)?;
        let member = format!("{node_id}/{}", uuid::Uuid::new_v4().simple());
        Ok(Arc::new(Self {
            member,
            node_id,
            prefix: prefix.to_owned(),
            lease_ttl: lease_ttl.max(Duration::from_millis(300)),
            client,
            conn,
        }))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// This process's id in the cluster: the node id and a part new at
    /// every start. Connection slots and leases are held under it.
    pub(crate) fn member(&self) -> &str {
        &self.member
    }

    /// The key (or channel) `name` under this cluster's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// The lease time of source plugins.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// A multiplexed connection for commands (cheap to clone; reconnects).
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// A new connection for subscriptions.
    pub async fn pubsub(&self) -> redis::RedisResult<PubSub> {
        self.client.get_async_pubsub().await
    }

    /// The key whose presence says member `member` is alive.
    fn alive_key(&self, member: &str) -> String {
        self.key(&format!("node:{member}"))
    }

    /// Records this process as node `node_id`'s current member and retires
    /// the previous one (a process of the same node that crashed): its
    /// alive key goes, so its users' connection slots stop counting now
    /// rather than when its heartbeat would have expired.
    async fn succeed_predecessor(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn();
        let previous: Option<String> = redis::cmd("SET")
            .arg(self.key(&format!("member:{}", self.node_id)))
            .arg(&self.member)
            .arg("GET")
            .query_async(&mut conn)
            .await?;
        if let Some(previous) = previous.filter(|p| *p != self.member) {
            let retired: i64 = redis::cmd("DEL")
                .arg(self.alive_key(&previous))
                .query_async(&mut conn)
                .await?;
            if retired == 1 {
                tracing::info!(
                    previous,
                    "a previous process of this node did not leave; what it held no longer counts"
                );
            }
        }
        Ok(())
    }

    /// Retires this node's previous process (see [`Cluster`]), then starts
    /// the heartbeat: this process's alive key is refreshed every third of
    /// the lease time and expires three lease times after the last beat, so
    /// what a dead process counted (its users' connections) stops counting.
    pub async fn spawn_heartbeat(self: &Arc<Self>) {
        if let Err(e) = self.succeed_predecessor().await {
            tracing::warn!("cannot retire this node's previous process: {e}");
        }
        let me = Arc::downgrade(self);
        let every = self.lease_ttl / 3;
        tokio::spawn(async move {
            loop {
                let Some(cluster) = me.upgrade() else { return };
                let ttl_ms = cluster.lease_ttl.as_millis() as u64 * 3;
                let key = cluster.alive_key(&cluster.member);
                let mut conn = cluster.conn();
                drop(cluster);
                let beat: redis::RedisResult<()> = redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await;
                if let Err(e) = beat {
                    tracing::warn!("node heartbeat failed: {e}");
                }
                tokio::time::sleep(every).await;
            }
        });
    }

    /// Deletes every key under this cluster's prefix (tests use their own prefix).
    #[cfg(test)]
    pub(crate) async fn delete_all_keys(&self) {
        let mut conn = self.conn();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(self.key("*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }

    /// Removes this process's alive key (graceful shutdown).
    pub async fn leave(&self) {
        let mut conn = self.conn();
        let gone: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(self.alive_key(&self.member))
            .query_async(&mut conn)
            .await;
        if let Err(e) = gone {
            tracing::warn!("cannot remove the node's heartbeat: {e}");
        }
    }
}
