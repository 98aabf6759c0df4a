//! What a subscription does when a handler fails.

use std::time::Duration;

/// Failure policy of a subscription: retry a failing record a bounded
/// number of times with exponential backoff, then either stop the
/// subscription with the error or forward the record to a dead-letter
/// stream. A record is never skipped silently and never retried in a hot
/// loop. Decode failures (schema mismatch, not JSON) are not retried:
/// the final step applies at once.
///
/// ```
/// use std::time::Duration;
/// use klamm_app::FailurePolicy;
/// let p = FailurePolicy::retry(3, Duration::from_millis(100)).dead_letter("content.dead");
/// assert_eq!(p.delay(1), Duration::from_millis(100));
/// assert_eq!(p.delay(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePolicy {
    retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    then: Exhausted,
}

/// What happens once the retries are used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exhausted {
    /// Stop the subscription (and the worker) with the error; the record is
    /// not committed, so the next start handles it again.
    Stop,
    /// Forward the record (key, value, headers) to this stream with the
    /// error in `klamm.error*` headers, commit it and go on.
    DeadLetter(String),
}

impl Default for FailurePolicy {
    /// 3 retries, backoff 200 ms doubling up to 10 s, then stop.
    fn default() -> Self {
        Self::retry(3, Duration::from_millis(200))
    }
}

impl FailurePolicy {
    /// `retries` more attempts after the first, waiting `backoff`, then
    /// twice as long each time (at most 10 s, see [`Self::max_backoff`]),
    /// then stop.
    pub fn retry(retries: u32, backoff: Duration) -> Self {
        Self {
            retries,
            backoff,
            max_backoff: Duration::from_secs(10),
            then: Exhausted::Stop,
        }
    }

    /// No retries: stop at the first failure.
    pub fn stop() -> Self {
        Self::retry(0, Duration::ZERO)
    }

    /// Caps the backoff.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// After the retries, forward to the dead-letter `stream`.
    pub fn dead_letter(mut self, stream: impl Into<String>) -> Self {
        self.then = Exhausted::DeadLetter(stream.into());
        self
    }

    /// Retries after the first attempt.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// What happens after the retries.
    pub fn exhausted(&self) -> &Exhausted {
        &self.then
    }

    /// The wait before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Whether attempt `attempts` (1-based, just failed) may be retried.
    pub(crate) fn may_retry(&self, attempts: u32) -> bool {
        attempts <= self.retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p =
            FailurePolicy::retry(40, Duration::from_millis(10)).max_backoff(Duration::from_secs(1));
        assert_eq!(p.delay(1), Duration::from_millis(10));
        assert_eq!(p.delay(2), Duration::from_millis(20));
        assert_eq!(p.delay(5), Duration::from_millis(160));
        assert_eq!(p.delay(8), Duration::from_secs(1));
        assert_eq!(p.delay(40), Duration::from_secs(1));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn retries_are_bounded() {
        let p = FailurePolicy::retry(2, Duration::ZERO);
        assert!(p.may_retry(1));
        assert!(p.may_retry(2));
        assert!(!p.may_retry(3));
        assert!(!FailurePolicy::stop().may_retry(1));
        assert_eq!(
            FailurePolicy::default().dead_letter("dl").exhausted(),
            &Exhausted::DeadLetter("dl".into())
        );
    }
}
