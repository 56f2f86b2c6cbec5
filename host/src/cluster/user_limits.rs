//! Per-user limits across the cluster: connections per user and messages
//! per minute.
//!
//! Connections: `PREFIX:conns:USER` is a hash of member id (one gateway
//! process, see [`Cluster`]) → that process's connections of the user.
//! Taking a slot sums the fields of live processes (alive while their
//! heartbeat key exists; a dead one's field is removed on the way) and
//! increments this process's field when under the cap. A process killed
//! without a goodbye therefore stops counting when its heartbeat expires,
//! or at once when its node restarts.
//! Messages: a GCRA bucket per user (`PREFIX:rate:USER`, the theoretical
//! arrival time in ms, on Redis's clock), `per_minute` per minute with
//! bursts up to `per_minute`. When Redis cannot answer, the connection
//! count admits and the node's own limits still apply.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use super::Cluster;

/// Takes a connection slot: KEYS[1] the user's hash; ARGV member, cap, alive-key prefix.
const TAKE: &str = r"
local all = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #all, 2 do
  if all[i] == ARGV[1] or redis.call('EXISTS', ARGV[3] .. all[i]) == 1 then
    total = total + tonumber(all[i + 1])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if total >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1";

/// Gives a slot back: KEYS[1] the user's hash; ARGV member.
const GIVE: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return n";

/// GCRA: KEYS[1] the user's bucket; ARGV emission interval ms, burst.
/// Returns 0 when admitted, else the wait in ms.
const RATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local new_tat = tat + interval
if new_tat - now > tolerance then
  return new_tat - now - tolerance
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now)
return 0";

/// Cluster-wide per-user limits.
pub(crate) struct SharedUserLimits {
    cluster: Arc<Cluster>,
    take: Script,
    give: Script,
    rate: Script,
    interval_ms: u64,
    burst: u32,
}

impl std::fmt::Debug for SharedUserLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedUserLimits")
            .field("member", &self.cluster.member())
            .finish()
    }
}

impl SharedUserLimits {
    /// Limits of `per_minute` messages per user per minute.
    pub(crate) fn new(cluster: Arc<Cluster>, per_minute: u32) -> Self {
        let burst = per_minute.max(1);
        Self {
            cluster,
            take: Script::new(TAKE),
            give: Script::new(GIVE),
            rate: Script::new(RATE),
            interval_ms: (60_000 / u64::from(burst)).max(1),
            burst,
        }
    }

    fn conns_key(&self, user: &str) -> String {
        self.cluster.key(&format!("conns:{user}"))
    }

    /// Takes one of `user`'s `max` connection slots; `false` when the user
    /// has them all, on any node.
    pub(crate) async fn take_connection(&self, user: &str, max: usize) -> bool {
        let mut conn = self.cluster.conn();
        let taken: redis::RedisResult<i64> = self
            .take
            .key(self.conns_key(user))
            .arg(self.cluster.member())
            .arg(max)
            .arg(self.cluster.key("node:"))
            .invoke_async(&mut conn)
            .await;
        match taken {
            Ok(n) => n == 1,
            Err(e) => {
                tracing::warn!(user, "cluster connection count unavailable, admitting: {e}");
                true
            }
        }
    }

    /// Gives one of `user`'s connection slots back.
    pub(crate) async fn give_connection(&self, user: &str) {
        let mut conn = self.cluster.conn();
        let given: redis::RedisResult<i64> = self
            .give
            .key(self.conns_key(user))
            .arg(self.cluster.member())
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = given {
            tracing::warn!(user, "cannot give a cluster connection slot back: {e}");
        }
    }

    /// `Ok` when `user` may send one more event, otherwise how long until it
    /// may; `None` when Redis cannot answer.
    pub(crate) async fn check_message(&self, user: &str) -> Option<Result<(), Duration>> {
        let mut conn = self.cluster.conn();
        let wait: redis::RedisResult<u64> = self
            .rate
            .key(self.cluster.key(&format!("rate:{user}")))
            .arg(self.interval_ms)
            .arg(self.burst)
            .invoke_async(&mut conn)
            .await;
        match wait {
            Ok(0) => Some(Ok(())),
            Ok(ms) => Some(Err(Duration::from_millis(ms))),
            Err(e) => {
                tracing::warn!(
                    user,
                    "cluster rate limit unavailable, using this node's: {e}"
                );
                None
            }
        }
    }
}
