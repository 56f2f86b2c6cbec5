//! Connection caps and message rate limits.
//!
//! Connections: a global cap and a per-user cap, taken atomically at the
//! handshake and given back on disconnect. Messages: one token bucket per
//! user (governor's keyed limiter), shared by all of that user's sockets;
//! the bucket holds a minute's worth, so short bursts pass. In cluster mode
//! the per-user connection cap and the message budget are also kept in
//! Redis ([`ClusterCaps`]) across nodes; the global cap stays per node.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;

use crate::cluster::caps::ClusterCaps;

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectionRefused {
    /// The user already has the most connections allowed.
    #[error("TOO_MANY_CONNECTIONS: at most {0} connections per user")]
    TooManyConnections(usize),
    /// The gateway has the most connections allowed.
    #[error("SERVER_FULL: the server has reached {0} connections")]
    ServerFull(usize),
}

impl ConnectionRefused {
    /// The contract's code.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectionRefused::TooManyConnections(_) => "TOO_MANY_CONNECTIONS",
            ConnectionRefused::ServerFull(_) => "SERVER_FULL",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_user: HashMap<String, usize>,
}

/// Connection counting against both caps.
pub struct ConnectionCaps {
    max_total: usize,
    max_per_user: usize,
    counts: Mutex<Counts>,
}

impl ConnectionCaps {
    /// Caps of `max_total` connections and `max_per_user` per user.
    pub fn new(max_total: usize, max_per_user: usize) -> Self {
        Self {
            max_total,
            max_per_user,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Takes a connection slot for `user`, given back when the permit is
    /// released or dropped (whichever comes first), so a socket that never
    /// completes its connection cannot keep its slot.
    pub fn acquire(self: &Arc<Self>, user: &str) -> Result<ConnectionPermit, ConnectionRefused> {
        self.take(user)?;
        Ok(ConnectionPermit {
            caps: self.clone(),
            user: user.to_owned(),
            released: AtomicBool::new(false),
            shared: OnceLock::new(),
        })
    }

    fn take(&self, user: &str) -> Result<(), ConnectionRefused> {
        let mut c = self.counts.lock();
        let mine = c.per_user.get(user).copied().unwrap_or(0);
        if mine >= self.max_per_user {
            return Err(ConnectionRefused::TooManyConnections(self.max_per_user));
        }
        if c.total >= self.max_total {
            return Err(ConnectionRefused::ServerFull(self.max_total));
        }
        c.total += 1;
        *c.per_user.entry(user.to_owned()).or_default() += 1;
        Ok(())
    }

    fn release(&self, user: &str) {
        let mut c = self.counts.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(user);
            }
        }
    }

    /// Open connections.
    pub fn total(&self) -> usize {
        self.counts.lock().total
    }

    /// Users with at least one connection.
    pub fn users(&self) -> usize {
        self.counts.lock().per_user.len()
    }
}

/// One connection's slot.
#[derive(Debug)]
pub struct ConnectionPermit {
    caps: Arc<ConnectionCaps>,
    user: String,
    released: AtomicBool,
    shared: OnceLock<Arc<ClusterCaps>>,
}

impl ConnectionPermit {
    /// Also takes one of the user's `max` slots across the cluster; `Err`
    /// (and this permit should be dropped) when the user has them all.
    pub async fn share(
        &self,
        cluster: &Arc<ClusterCaps>,
        max: usize,
    ) -> Result<(), ConnectionRefused> {
        if !cluster.take_connection(&self.user, max).await {
            return Err(ConnectionRefused::TooManyConnections(max));
        }
        let _ = self.shared.set(cluster.clone());
        Ok(())
    }

    /// Gives the slot back (once; later calls do nothing).
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.caps.release(&self.user);
            if let (Some(cluster), Ok(rt)) =
                (self.shared.get(), tokio::runtime::Handle::try_current())
            {
                let (cluster, user) = (cluster.clone(), self.user.clone());
                rt.spawn(async move { cluster.give_connection(&user).await });
            }
        }
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.release();
    }
}

impl std::fmt::Debug for ConnectionCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCaps")
            .field("total", &self.total())
            .finish()
    }
}

/// Per-user message budget.
pub struct MessageLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    shared: Option<Arc<ClusterCaps>>,
}

/// How often idle users' buckets are forgotten.
pub const LIMITER_SWEEP: Duration = Duration::from_secs(60);

impl MessageLimiter {
    /// `per_minute` events per user per minute, bursts up to `per_minute`.
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            shared: None,
        }
    }

    /// The same budget kept across the cluster by `shared` (this node's own
    /// bucket is used only while Redis cannot answer).
    pub fn clustered(mut self, shared: Arc<ClusterCaps>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// `Ok` when `user` may send one more event; otherwise how long until it may.
    pub async fn check(&self, user: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared
            && let Some(verdict) = shared.check_message(user).await
        {
            return verdict;
        }
        self.check_here(user)
    }

    fn check_here(&self, user: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&user.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets of users that are back to full.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_user_cap_comes_before_the_global_one_and_release_frees() {
        let caps = Arc::new(ConnectionCaps::new(3, 2));
        let a1 = caps.acquire("a").unwrap();
        let _a2 = caps.acquire("a").unwrap();
        assert_eq!(
            caps.acquire("a").unwrap_err(),
            ConnectionRefused::TooManyConnections(2)
        );
        let _b = caps.acquire("b").unwrap();
        assert_eq!(
            caps.acquire("c").unwrap_err(),
            ConnectionRefused::ServerFull(3)
        );
        a1.release();
        a1.release();
        let c = caps.acquire("c").unwrap();
        assert_eq!((caps.total(), caps.users()), (3, 3));
        drop(c);
        drop(a1);
        assert_eq!(
            (caps.total(), caps.users()),
            (2, 2),
            "a drop after a release gives nothing back twice"
        );
    }

    #[tokio::test]
    async fn a_users_budget_is_shared_and_bursts_pass() {
        let l = MessageLimiter::new(NonZeroU32::new(5).unwrap());
        for _ in 0..5 {
            l.check("a").await.unwrap();
        }
        let wait = l.check("a").await.unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
        l.check("b").await.unwrap();
    }
}
