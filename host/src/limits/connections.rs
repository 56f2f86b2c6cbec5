//! Connection caps: a global cap and a per-user cap, taken atomically at
//! the handshake and given back on disconnect. In cluster mode the per-user
//! cap is also kept across nodes ([`SharedUserLimits`]); the global cap
//! stays per node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::cluster::user_limits::SharedUserLimits;
use crate::protocol::ErrorCode;

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ConnectionRefused {
    /// The user already has the most connections allowed.
    #[error("TOO_MANY_CONNECTIONS: at most {0} connections per user")]
    TooManyConnections(usize),
    /// The gateway has the most connections allowed.
    #[error("SERVER_FULL: the server has reached {0} connections")]
    ServerFull(usize),
}

impl ConnectionRefused {
    /// The contract's code.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            ConnectionRefused::TooManyConnections(_) => ErrorCode::TooManyConnections,
            ConnectionRefused::ServerFull(_) => ErrorCode::ServerFull,
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_user: HashMap<String, usize>,
}

/// Connection counting against both caps.
pub(crate) struct ConnectionCaps {
    max_total: usize,
    max_per_user: usize,
    counts: Mutex<Counts>,
}

impl ConnectionCaps {
    /// Caps of `max_total` connections and `max_per_user` per user.
    pub(crate) fn new(max_total: usize, max_per_user: usize) -> Self {
        Self {
            max_total,
            max_per_user,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Takes a connection slot for `user`, given back when the permit is
    /// released or dropped (whichever comes first), so a socket that never
    /// completes its connection cannot keep its slot.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        user: &str,
    ) -> Result<ConnectionPermit, ConnectionRefused> {
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
    pub(crate) fn total(&self) -> usize {
        self.counts.lock().total
    }

    /// Users with at least one connection.
    pub(crate) fn users(&self) -> usize {
        self.counts.lock().per_user.len()
    }
}

/// One connection's slot.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    caps: Arc<ConnectionCaps>,
    user: String,
    released: AtomicBool,
    shared: OnceLock<Arc<SharedUserLimits>>,
}

impl ConnectionPermit {
    /// Also takes one of the user's `max` slots across the cluster; `Err`
    /// (and this permit should be dropped) when the user has them all.
    pub(crate) async fn share(
        &self,
        cluster: &Arc<SharedUserLimits>,
        max: usize,
    ) -> Result<(), ConnectionRefused> {
        if !cluster.take_connection(&self.user, max).await {
            return Err(ConnectionRefused::TooManyConnections(max));
        }
        let _ = self.shared.set(cluster.clone());
        Ok(())
    }

    /// Gives the slot back (once; later calls do nothing).
    pub(crate) fn release(&self) {
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
}
