//! Exponential backoff with jitter for reconnects and retries.
//!
//! Jitter spreads out clients that all lost the same broker at once, so they do
//! not reconnect in lock step. Each delay is drawn uniformly from
//! `[0.8 * d, 1.2 * d]` around the exponential step `d`, capped at `max`, like
//! Kafka's own clients.

use std::time::Duration;

/// Backoff state for one target (a broker, a request).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `base` and growing to at most `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            failures: 0,
        }
    }

    /// Consecutive failures recorded since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step(self.failures);
        self.failures = self.failures.saturating_add(1);
        jitter(step, random_unit()).min(self.max)
    }

    /// Forgets past failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn step(&self, failures: u32) -> Duration {
        // 2^failures, saturating well before overflow: 2^20 * base is beyond any sane max.
        let factor = 1u32 << failures.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Scales `d` by a factor in `[0.8, 1.2]` chosen by `unit` in `[0, 1)`.
fn jitter(d: Duration, unit: f64) -> Duration {
    d.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

/// A uniformly distributed number in `[0, 1)` from the OS generator.
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    // A failing OS generator only costs the jitter, never the backoff itself.
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let expected = [100u64, 200, 400, 800, 1000, 1000];
        for want in expected {
            let got = b.next_delay().as_millis() as u64;
            assert!(
                got >= want * 8 / 10 && got <= (want * 12 / 10).min(1000),
                "want ~{want}, got {got}"
            );
        }
        assert_eq!(b.failures(), 6);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }

    #[test]
    fn jitter_bounds() {
        let d = Duration::from_millis(1000);
        assert_eq!(jitter(d, 0.0), Duration::from_millis(800));
        assert_eq!(jitter(d, 1.0), Duration::from_millis(1200));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(10));
        }
    }
}
