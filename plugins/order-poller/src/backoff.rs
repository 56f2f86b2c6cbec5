//! Exponential backoff after upstream failures: 1 s, 2 s, 4 s … at most 30 s,
//! reset by the first success.
//!
//! The host counts errors and spaces its own calls; this keeps the plugin
//! from hitting an upstream that is down on every poll while it recovers.

/// Delay after the first failure, in milliseconds.
const BASE_MS: u64 = 1_000;
/// Longest delay, in milliseconds.
const MAX_MS: u64 = 30_000;

/// Consecutive failures and the time before which polls are skipped.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    until_ms: u64,
}

impl Backoff {
    /// Whether a poll at `now_ms` may reach the upstream.
    pub(crate) fn ready(&self, now_ms: u64) -> bool {
        now_ms >= self.until_ms
    }

    /// Records a failure at `now_ms` and returns `error` with the retry delay appended.
    pub(crate) fn failed(&mut self, now_ms: u64, error: String) -> String {
        let delay = BASE_MS
            .saturating_mul(1 << self.failures.min(16))
            .min(MAX_MS);
        self.failures = self.failures.saturating_add(1);
        self.until_ms = now_ms.saturating_add(delay);
        format!("{error} (next try in {} s)", delay / 1000)
    }

    /// Records a success: the next failure starts over at 1 s.
    pub(crate) fn succeeded(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delays of `n` consecutive failures, each tried as soon as allowed.
    fn delays(backoff: &mut Backoff, n: usize) -> Vec<u64> {
        let mut now = backoff.until_ms;
        (0..n)
            .map(|_| {
                assert!(backoff.ready(now));
                backoff.failed(now, String::new());
                let delay = backoff.until_ms - now;
                assert!(!backoff.ready(now + delay - 1));
                now += delay;
                delay
            })
            .collect()
    }

    #[test]
    fn doubles_up_to_thirty_seconds_and_resets_on_success() {
        let mut b = Backoff::default();
        let expected = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
        assert_eq!(delays(&mut b, 7), expected);
        assert_eq!(delays(&mut b, 40).last(), Some(&30_000));
        b.succeeded();
        assert!(b.ready(0));
        assert_eq!(delays(&mut b, 2), [1_000, 2_000]);
    }

    #[test]
    fn failure_message_names_the_delay() {
        let mut b = Backoff::default();
        assert_eq!(b.failed(5, "down".into()), "down (next try in 1 s)");
        assert_eq!(b.failed(1_005, "down".into()), "down (next try in 2 s)");
    }
}
