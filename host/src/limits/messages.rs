//! The per-user message budget: one token bucket per user (governor's
//! keyed limiter), shared by all of that user's sockets; the bucket holds a
//! minute's worth, so short bursts pass. In cluster mode the budget is kept
//! across nodes ([`SharedUserLimits`]); this node's own bucket serves only
//! while Redis cannot answer.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::cluster::user_limits::SharedUserLimits;

/// Per-user message budget.
pub(crate) struct MessageLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    shared: Option<Arc<SharedUserLimits>>,
}

/// How often idle users' buckets are forgotten.
pub(crate) const LIMITER_SWEEP: Duration = Duration::from_secs(60);

impl MessageLimiter {
    /// `per_minute` events per user per minute, bursts up to `per_minute`.
    pub(crate) fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            shared: None,
        }
    }

    /// The same budget kept across the cluster by `shared` (this node's own
    /// bucket is used only while Redis cannot answer).
    pub(crate) fn clustered(mut self, shared: Arc<SharedUserLimits>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// `Ok` when `user` may send one more event; otherwise how long until it may.
    pub(crate) async fn check(&self, user: &str) -> Result<(), Duration> {
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
    pub(crate) fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
