//! A lock-free latency histogram: delivery callbacks run on the client's
//! threads and record into it with one atomic add, no allocation, no lock.
//!
//! Buckets are log-linear like HdrHistogram's: values below 128 µs are
//! exact, above that each power of two is split into 64 buckets, so a
//! reported value is at most 1/64 (1.6 %) above the true one. Values are
//! microseconds; the whole `u64` range fits in 3,776 buckets (30 KiB).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Values below this are their own bucket.
const EXACT: u64 = 128;
/// Buckets per power of two above `EXACT`.
const SUB: u64 = 64;
/// log2(EXACT).
const EXACT_BITS: u32 = 7;
/// Bucket count: the exact ones plus 64 per power of two from 2^7 to 2^63.
const BUCKETS: usize = (EXACT + (64 - EXACT_BITS as u64) * SUB) as usize;

/// Percentiles of what was recorded, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Recorded values.
    pub(crate) count: u64,
    /// 50th percentile.
    pub(crate) p50: u64,
    /// 95th percentile.
    pub(crate) p95: u64,
    /// 99th percentile.
    pub(crate) p99: u64,
    /// The largest value (exact).
    pub(crate) max: u64,
    /// The mean (exact).
    pub(crate) mean: f64,
}

/// Counts of latencies in log-linear buckets.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one latency (saturating at `u64::MAX` µs).
    pub(crate) fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.record_micros(micros);
    }

    /// Records one value in microseconds.
    pub(crate) fn record_micros(&self, micros: u64) {
        if let Some(bucket) = self.buckets.get(index(micros)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(micros, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    /// Percentiles so far; `None` when nothing was recorded.
    pub(crate) fn summary(&self) -> Option<Summary> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return None;
        }
        let max = self.max.load(Ordering::Relaxed);
        let at = |p: f64| percentile(&counts, count, p).min(max);
        Some(Summary {
            count,
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
            max,
            mean: self.sum.load(Ordering::Relaxed) as f64
                / self.count.load(Ordering::Relaxed) as f64,
        })
    }
}

/// The bucket of `v`.
fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= EXACT_BITS
    let shift = exp - (EXACT_BITS - 1);
    let mantissa = v >> shift; // in [SUB, 2 * SUB)
    (EXACT + u64::from(exp - EXACT_BITS) * SUB + (mantissa - SUB)) as usize
}

/// The largest value that lands in bucket `i` (what a percentile reports,
/// as HdrHistogram does: never below the true value).
fn highest_in(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let exp = EXACT_BITS as u64 + (i - EXACT) / SUB;
    let mantissa = SUB + (i - EXACT) % SUB;
    let shift = exp - u64::from(EXACT_BITS - 1);
    // The top bucket's upper end is u64::MAX itself.
    ((mantissa + 1) << shift)
        .wrapping_sub(1)
        .max(mantissa << shift)
}

/// The value at percentile `p` (0-100) of `total` values in `counts`.
fn percentile(counts: &[u64], total: u64, p: f64) -> u64 {
    // The rank of the value at p: at least the first, at most the last.
    let rank = ((p / 100.0 * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return highest_in(i);
        }
    }
    highest_in(counts.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut probes: Vec<u64> = (0..5000).collect();
        for shift in 7..64 {
            let p = 1u64 << shift;
            probes.extend([p - 1, p, p + 1, p + p / 3]);
        }
        probes.push(u64::MAX);
        for v in probes {
            let i = index(v);
            assert!(i < BUCKETS, "{v} -> {i}");
            assert!(
                highest_in(i) >= v,
                "{v} -> bucket {i} ends at {}",
                highest_in(i)
            );
            if i > 0 {
                assert!(highest_in(i - 1) < v, "{v} would fit bucket {}", i - 1);
            }
            // At most 1/64 above the true value.
            assert!(highest_in(i) - v <= v / 64, "{v}: {}", highest_in(i));
        }
    }

    #[test]
    fn small_values_are_exact() {
        let h = Histogram::new();
        for v in [1, 2, 3, 4, 100] {
            h.record_micros(v);
        }
        let s = h.summary().unwrap();
        assert_eq!((s.count, s.p50, s.p95, s.max), (5, 3, 100, 100));
        assert!((s.mean - 22.0).abs() < 1e-9);
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record_micros(v);
        }
        let s = h.summary().unwrap();
        let near = |got: u64, want: u64| got >= want && got - want <= want / 64;
        assert!(near(s.p50, 50_000), "p50 {}", s.p50);
        assert!(near(s.p95, 95_000), "p95 {}", s.p95);
        assert!(near(s.p99, 99_000), "p99 {}", s.p99);
        assert_eq!(s.max, 100_000);
        assert_eq!(s.count, 100_000);
    }

    #[test]
    fn percentiles_never_exceed_the_max_and_empty_has_none() {
        let h = Histogram::new();
        assert_eq!(h.summary(), None);
        h.record(Duration::from_micros(1_000_001));
        let s = h.summary().unwrap();
        assert_eq!((s.p50, s.p99, s.max), (1_000_001, 1_000_001, 1_000_001));
        h.record(Duration::MAX);
        assert_eq!(h.summary().unwrap().max, u64::MAX);
    }

    #[test]
    fn an_outlier_shows_in_p99_only_when_it_is_one_percent() {
        let h = Histogram::new();
        for _ in 0..990 {
            h.record_micros(1_000);
        }
        for _ in 0..10 {
            h.record_micros(50_000);
        }
        let s = h.summary().unwrap();
        assert!(s.p95 >= 1_000 && s.p95 <= 1_016, "{}", s.p95);
        assert!(s.p99 >= 1_000 && s.p99 <= 1_016, "{}", s.p99);
        h.record_micros(50_000);
        assert!(h.summary().unwrap().p99 >= 50_000);
    }
}
