//! Exponential backoff after upstream failures: 1 s, 2 s, 4 s … at most 30 s,
//! reset by the first success, timed by [`crate::clock::now_ms`].
//!
//! The host counts a plugin's errors and spaces its own calls; this keeps a
//! polling plugin from hitting an upstream that is down on every poll while
//! it recovers. A poll asks for an [`Attempt`], does its work, and hands the
//! result back:
//!
//! ```
//! use gateway_sdk::backoff::Backoff;
//! # let _host = gateway_sdk::testing::FakeHost::new().install();
//! # fn fetch() -> Result<Vec<u32>, String> { Err("down".into()) }
//!
//! let mut backoff = Backoff::default();
//! let polled = match backoff.attempt() {
//!     Some(attempt) => backoff.record(attempt, fetch()),
//!     None => Ok(Vec::new()), // backing off: skip this poll
//! };
//! assert_eq!(polled, Err("down (next try in 1 s)".to_owned()));
//! assert!(backoff.attempt().is_none());
//! ```

use crate::clock;

/// Delay after the first failure, in milliseconds.
const BASE_MS: u64 = 1_000;
/// Longest delay, in milliseconds.
const MAX_MS: u64 = 30_000;

/// Consecutive failures and the time before which attempts are refused.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
    until_ms: u64,
}

/// One attempt allowed by [`Backoff::attempt`]: when it started, which is
/// where the next delay counts from if it fails.
#[derive(Debug)]
#[must_use = "hand the attempt's result to `Backoff::record`"]
pub struct Attempt {
    started_ms: u64,
}

impl Backoff {
    /// An attempt starting now, or none while backing off.
    pub fn attempt(&self) -> Option<Attempt> {
        let now = clock::now_ms();
        (now >= self.until_ms).then_some(Attempt { started_ms: now })
    }

    /// Records how `attempt` went and passes `result` on. A success resets
    /// the backoff; a failure doubles the delay (counted from the attempt's
    /// start) and appends it to the error: `… (next try in 2 s)`.
    pub fn record<T>(&mut self, attempt: Attempt, result: Result<T, String>) -> Result<T, String> {
        match result {
            Ok(value) => {
                *self = Self::default();
                Ok(value)
            }
            Err(error) => {
                let delay = BASE_MS
                    .saturating_mul(1 << self.failures.min(16))
                    .min(MAX_MS);
                self.failures = self.failures.saturating_add(1);
                self.until_ms = attempt.started_ms.saturating_add(delay);
                Err(format!("{error} (next try in {} s)", delay / 1000))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeHost, HostHandle};

    /// The delays of `n` consecutive failures, each tried as soon as allowed.
    fn delays(host: &HostHandle, backoff: &mut Backoff, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let attempt = backoff.attempt().expect("due");
                let start = clock::now_ms();
                backoff
                    .record(attempt, Err::<(), _>(String::new()))
                    .unwrap_err();
                let delay = backoff.until_ms - start;
                host.advance_ms(delay - 1);
                assert!(backoff.attempt().is_none(), "refused before the delay");
                host.advance_ms(1);
                delay
            })
            .collect()
    }

    #[test]
    fn doubles_up_to_thirty_seconds_and_resets_on_success() {
        let host = FakeHost::new().time_ms(5).install();
        let mut b = Backoff::default();
        let expected = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
        assert_eq!(delays(&host, &mut b, 7), expected);
        assert_eq!(delays(&host, &mut b, 40).last(), Some(&30_000));
        let attempt = b.attempt().unwrap();
        assert_eq!(b.record(attempt, Ok(7)), Ok(7));
        assert_eq!(delays(&host, &mut b, 2), [1_000, 2_000]);
    }

    #[test]
    fn failure_message_names_the_delay() {
        let host = FakeHost::new().time_ms(5).install();
        let mut b = Backoff::default();
        let failed = |b: &mut Backoff| {
            let attempt = b.attempt().unwrap();
            b.record(attempt, Err::<(), _>("down".into())).unwrap_err()
        };
        assert_eq!(failed(&mut b), "down (next try in 1 s)");
        host.advance_ms(1_000);
        assert_eq!(failed(&mut b), "down (next try in 2 s)");
    }

    #[test]
    fn the_delay_counts_from_the_attempts_start() {
        let host = FakeHost::new().time_ms(1_000).install();
        let mut b = Backoff::default();
        let attempt = b.attempt().unwrap();
        host.advance_ms(700); // the failing call took 0.7 s
        b.record(attempt, Err::<(), _>("slow".into())).unwrap_err();
        host.advance_ms(299);
        assert!(b.attempt().is_none());
        host.advance_ms(1);
        assert!(b.attempt().is_some());
    }
}
