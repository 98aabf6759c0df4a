//! Counters and gauges, updated with relaxed atomics (no locks) and read as
//! one [`ProducerMetrics`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of the producer's counters (totals since it started) and
/// gauges (values now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// Records acknowledged by the broker.
    pub records_sent: u64,
    /// Batch bytes acknowledged (as sent: compressed).
    pub bytes_sent: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Produce requests sent.
    pub requests: u64,
    /// Batch retries.
    pub retries: u64,
    /// Records that failed (every one also reached the error hook).
    pub records_failed: u64,
    /// Records waiting, in batches not yet acknowledged (gauge).
    pub queued_bytes: u64,
    /// Produce requests awaiting a response (gauge).
    pub in_flight_requests: u64,
    /// Responses that asked us to slow down (`throttle_time_ms` > 0).
    pub throttled_responses: u64,
    /// Sum of request round-trip times.
    pub request_latency_total: Duration,
    /// Longest request round trip.
    pub request_latency_max: Duration,
    /// Passes of the sender tasks (one per wake-up: new records, a
    /// response, a timer). While idle it stays still; flat out it grows
    /// about once per request.
    pub sender_wakeups: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) records_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) batches_sent: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) records_failed: AtomicU64,
    pub(crate) in_flight_requests: AtomicU64,
    pub(crate) throttled_responses: AtomicU64,
    pub(crate) sender_wakeups: AtomicU64,
    latency_total_us: AtomicU64,
    latency_max_us: AtomicU64,
}

impl Metrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_total_us.fetch_add(us, Ordering::Relaxed);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, queued_bytes: usize) -> ProducerMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProducerMetrics {
            records_sent: get(&self.records_sent),
            bytes_sent: get(&self.bytes_sent),
            batches_sent: get(&self.batches_sent),
            requests: get(&self.requests),
            retries: get(&self.retries),
            records_failed: get(&self.records_failed),
            queued_bytes: queued_bytes as u64,
            in_flight_requests: get(&self.in_flight_requests),
            throttled_responses: get(&self.throttled_responses),
            request_latency_total: Duration::from_micros(get(&self.latency_total_us)),
            request_latency_max: Duration::from_micros(get(&self.latency_max_us)),
            sender_wakeups: get(&self.sender_wakeups),
        }
    }
}
