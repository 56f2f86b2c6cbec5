//! The circuit breaker of one plugin: after a run of consecutive failures,
//! calls are refused for a pause that doubles with each further opening (up
//! to a maximum); the first call after the pause decides whether it closes.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use super::error::CallError;
use super::manifest::FailurePolicy;

#[derive(Debug, Default)]
struct State {
    consecutive: u32,
    openings: u32,
    open_until: Option<Instant>,
}

/// Whether a breaker lets calls through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Calls go ahead.
    Closed,
    /// Calls are refused until the pause ends.
    Open,
    /// The pause has ended; the next call decides whether it closes.
    HalfOpen,
}

/// Failure counting and the pause it imposes.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    state: Mutex<State>,
}

impl Breaker {
    /// `Ok` when a call may go ahead now.
    pub(crate) fn admit(&self, now: Instant) -> Result<(), CallError> {
        let state = self.state.lock();
        match state.open_until {
            Some(until) if until > now => Err(CallError::CircuitOpen {
                retry_in: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// Records a success: the circuit closes.
    pub(crate) fn succeeded(&self) {
        *self.state.lock() = State::default();
    }

    /// Records a failure; returns the pause when this one opened the circuit.
    pub(crate) fn failed(&self, policy: &FailurePolicy, now: Instant) -> Option<Duration> {
        let mut state = self.state.lock();
        state.consecutive += 1;
        if state.consecutive < policy.max_consecutive_failures.max(1) {
            return None;
        }
        let factor = 2u64.saturating_pow(state.openings.min(30));
        let pause = Duration::from_millis(
            policy
                .backoff_initial_ms
                .saturating_mul(factor)
                .min(policy.backoff_max_ms),
        );
        state.openings += 1;
        state.consecutive = 0;
        state.open_until = Some(now + pause);
        Some(pause)
    }

    /// Whether calls are refused at `now`.
    pub(crate) fn is_open(&self, now: Instant) -> bool {
        self.admit(now).is_err()
    }

    /// The state at `now`.
    pub(crate) fn state(&self, now: Instant) -> BreakerState {
        match self.state.lock().open_until {
            None => BreakerState::Closed,
            Some(until) if until > now => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FailurePolicy {
        FailurePolicy {
            max_consecutive_failures: 3,
            backoff_initial_ms: 100,
            backoff_max_ms: 250,
            ..FailurePolicy::default()
        }
    }

    #[test]
    fn opens_after_the_run_and_doubles_up_to_the_max() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert_eq!(b.failed(&policy(), t0), None);
        assert_eq!(b.failed(&policy(), t0), None);
        assert_eq!(b.failed(&policy(), t0), Some(Duration::from_millis(100)));
        assert!(matches!(b.admit(t0), Err(CallError::CircuitOpen { .. })));
        let t1 = t0 + Duration::from_millis(101);
        assert!(b.admit(t1).is_ok());
        for _ in 0..2 {
            b.failed(&policy(), t1);
        }
        assert_eq!(b.failed(&policy(), t1), Some(Duration::from_millis(200)));
        for _ in 0..2 {
            b.failed(&policy(), t1);
        }
        assert_eq!(b.failed(&policy(), t1), Some(Duration::from_millis(250)));
    }

    #[test]
    fn the_state_goes_closed_open_half_open_closed() {
        let b = Breaker::default();
        let t0 = Instant::now();
        assert_eq!(b.state(t0), BreakerState::Closed);
        for _ in 0..3 {
            b.failed(&policy(), t0);
        }
        assert_eq!(b.state(t0), BreakerState::Open);
        let t1 = t0 + Duration::from_millis(101);
        assert_eq!(b.state(t1), BreakerState::HalfOpen);
        b.succeeded();
        assert_eq!(b.state(t1), BreakerState::Closed);
    }

    #[test]
    fn a_success_closes_and_resets() {
        let b = Breaker::default();
        let t0 = Instant::now();
        b.failed(&policy(), t0);
        b.failed(&policy(), t0);
        b.succeeded();
        assert_eq!(b.failed(&policy(), t0), None);
        assert!(b.admit(t0).is_ok());
    }
}
